#include "kernel/ir/expr.h"

#include "base/error.h"

namespace kiln::ir {

std::string to_string(Type type) {
  std::string s;
  switch (type.kind) {
    case TypeKind::Int: s = "i" + std::to_string(type.bits); break;
    case TypeKind::UInt: s = "u" + std::to_string(type.bits); break;
    case TypeKind::Float: s = "f" + std::to_string(type.bits); break;
    case TypeKind::Bool: s = "bool"; break;
  }
  if (type.lanes > 1) s += "x" + std::to_string(type.lanes);
  return s;
}

Expr::Expr(int64_t value) : Expr(IntImm::make(Type::i64(), value)) {}
Expr::Expr(int value) : Expr(IntImm::make(Type::i64(), value)) {}
Expr::Expr(double value) : Expr(FloatImm::make(Type::f32(), value)) {}

Expr IntImm::make(Type t, int64_t value) {
  KILN_CHECK((t.is_integer() || t.is_bool()) && t.lanes == 1, "IntImm of type {}", to_string(t));
  return Expr(std::make_shared<const IntImm>(t, value));
}

Expr FloatImm::make(Type t, double value) {
  KILN_CHECK(t.is_float() && t.lanes == 1, "FloatImm of type {}", to_string(t));
  return Expr(std::make_shared<const FloatImm>(t, value));
}

Expr Var::make(Type t, std::string name) {
  KILN_CHECK(!name.empty(), "a Var needs a name");
  return Expr(std::make_shared<const Var>(t, std::move(name)));
}

Expr Cast::make(Type t, Expr value) {
  KILN_CHECK(value.defined() && t.lanes == value.type().lanes, "Cast to {} of a {}", to_string(t),
             value.defined() ? to_string(value.type()) : "null");
  if (value.type() == t) return value;
  return Expr(std::make_shared<const Cast>(t, std::move(value)));
}

Expr Reinterpret::make(Type t, Expr value) {
  KILN_CHECK(value.defined() && t.bits * t.lanes == value.type().bits * value.type().lanes,
             "Reinterpret of {} as {} changes the width", to_string(value.type()), to_string(t));
  if (value.type() == t) return value;
  return Expr(std::make_shared<const Reinterpret>(t, std::move(value)));
}

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "+";
    case BinaryOp::Sub: return "-";
    case BinaryOp::Mul: return "*";
    case BinaryOp::Div: return "/";
    case BinaryOp::Mod: return "%";
    case BinaryOp::Min: return "min";
    case BinaryOp::Max: return "max";
    case BinaryOp::EQ: return "==";
    case BinaryOp::NE: return "!=";
    case BinaryOp::LT: return "<";
    case BinaryOp::LE: return "<=";
    case BinaryOp::GT: return ">";
    case BinaryOp::GE: return ">=";
    case BinaryOp::And: return "&&";
    case BinaryOp::Or: return "||";
    case BinaryOp::BitAnd: return "&";
    case BinaryOp::BitOr: return "|";
    case BinaryOp::BitXor: return "^";
    case BinaryOp::Shl: return "<<";
    case BinaryOp::Shr: return ">>";
  }
  return "?";
}

bool is_comparison(BinaryOp op) {
  return op == BinaryOp::EQ || op == BinaryOp::NE || op == BinaryOp::LT || op == BinaryOp::LE ||
         op == BinaryOp::GT || op == BinaryOp::GE;
}

namespace {

// Makes a constant operand take the type of the other side, and a scalar meet a vector by
// broadcasting, so builders read naturally (`x * 2`, `v + 1.0`).
void match_types(Expr& a, Expr& b) {
  auto retype_constant = [](Expr& e, Type t) {
    if (const auto* i = e.as<IntImm>()) {
      if (t.element_of().is_float()) e = FloatImm::make(t.element_of(), static_cast<double>(i->value));
      else e = IntImm::make(t.element_of(), i->value);
    } else if (const auto* f = e.as<FloatImm>()) {
      if (t.element_of().is_float()) e = FloatImm::make(t.element_of(), f->value);
    }
  };
  if (a.type().element_of() != b.type().element_of()) {
    if (a.as<IntImm>() || a.as<FloatImm>()) retype_constant(a, b.type());
    else if (b.as<IntImm>() || b.as<FloatImm>()) retype_constant(b, a.type());
  }
  if (a.type().lanes == 1 && b.type().lanes > 1) a = Broadcast::make(a, b.type().lanes);
  if (b.type().lanes == 1 && a.type().lanes > 1) b = Broadcast::make(b, a.type().lanes);
}

}  // namespace

Expr Binary::make(BinaryOp op, Expr a, Expr b) {
  KILN_CHECK(a.defined() && b.defined(), "Binary {} with a null operand", binary_op_name(op));
  match_types(a, b);
  KILN_CHECK(a.type() == b.type(), "Binary {} of {} and {}", binary_op_name(op), to_string(a.type()),
             to_string(b.type()));
  Type result = a.type();
  if (is_comparison(op)) result = Type::boolean().with_lanes(a.type().lanes);
  if (op == BinaryOp::And || op == BinaryOp::Or) {
    KILN_CHECK(a.type().is_bool(), "{} needs bool operands, got {}", binary_op_name(op), to_string(a.type()));
  }
  return Expr(std::make_shared<const Binary>(result, op, std::move(a), std::move(b)));
}

Expr Not::make(Expr value) {
  KILN_CHECK(value.defined() && value.type().is_bool(), "Not of a non-bool");
  return Expr(std::make_shared<const Not>(value.type(), std::move(value)));
}

Expr Select::make(Expr condition, Expr true_value, Expr false_value) {
  match_types(true_value, false_value);
  KILN_CHECK(condition.type().is_bool(), "Select condition is {}", to_string(condition.type()));
  KILN_CHECK(true_value.type() == false_value.type(), "Select of {} and {}",
             to_string(true_value.type()), to_string(false_value.type()));
  if (condition.type().lanes == 1 && true_value.type().lanes > 1) {
    condition = Broadcast::make(condition, true_value.type().lanes);
  }
  if (condition.type().lanes > 1 && true_value.type().lanes == 1) {
    true_value = Broadcast::make(true_value, condition.type().lanes);
    false_value = Broadcast::make(false_value, condition.type().lanes);
  }
  const Type t = true_value.type();
  return Expr(std::make_shared<const Select>(t, std::move(condition), std::move(true_value), std::move(false_value)));
}

Expr Load::make(Type element_type, std::string buffer, Expr index) {
  KILN_CHECK(index.defined() && index.type().is_integer(), "Load of {} with a non-integer index", buffer);
  const Type t = element_type.with_lanes(index.type().lanes);
  return Expr(std::make_shared<const Load>(t, std::move(buffer), std::move(index)));
}

Expr Ramp::make(Expr base, Expr stride, int lanes) {
  KILN_CHECK(lanes > 1 && base.type().lanes == 1 && base.type() == stride.type(),
             "Ramp needs scalar base and stride of one type and lanes > 1");
  const Type t = base.type().with_lanes(lanes);
  return Expr(std::make_shared<const Ramp>(t, std::move(base), std::move(stride), lanes));
}

Expr Broadcast::make(Expr value, int lanes) {
  KILN_CHECK(value.type().lanes == 1 && lanes > 1, "Broadcast needs a scalar and lanes > 1");
  const Type t = value.type().with_lanes(lanes);
  return Expr(std::make_shared<const Broadcast>(t, std::move(value), lanes));
}

const char* intrinsic_name(Intrinsic op) {
  switch (op) {
    case Intrinsic::Exp: return "exp";
    case Intrinsic::Log: return "log";
    case Intrinsic::Sqrt: return "sqrt";
    case Intrinsic::Rsqrt: return "rsqrt";
    case Intrinsic::Tanh: return "tanh";
    case Intrinsic::Erf: return "erf";
    case Intrinsic::Sin: return "sin";
    case Intrinsic::Cos: return "cos";
    case Intrinsic::Pow: return "pow";
    case Intrinsic::Abs: return "abs";
    case Intrinsic::Floor: return "floor";
    case Intrinsic::F16BitsToF32: return "f16_bits_to_f32";
    case Intrinsic::ReduceAdd: return "reduce_add";
    case Intrinsic::ReduceMax: return "reduce_max";
    case Intrinsic::ReduceMin: return "reduce_min";
    case Intrinsic::DotU8S8: return "dot4_u8s8";
    case Intrinsic::DotS8S8: return "dot4_s8s8";
    case Intrinsic::GpuBlockId: return "gpu_block_id";
    case Intrinsic::GpuThreadId: return "gpu_thread_id";
  }
  return "?";
}

Expr Call::make(Intrinsic op, std::vector<Expr> args) {
  KILN_CHECK(!args.empty(), "intrinsic {} needs arguments", intrinsic_name(op));
  Type t = args[0].type();
  switch (op) {
    case Intrinsic::F16BitsToF32:
      KILN_CHECK(t.element_of() == Type::u16(), "f16_bits_to_f32 of {}", to_string(t));
      t = Type::f32().with_lanes(t.lanes);
      break;
    case Intrinsic::ReduceAdd: case Intrinsic::ReduceMax: case Intrinsic::ReduceMin:
      t = t.element_of();
      break;
    case Intrinsic::Pow:
      KILN_CHECK(args.size() == 2, "pow takes two arguments");
      match_types(args[0], args[1]);
      t = args[0].type();
      break;
    case Intrinsic::Abs:
      break;
    case Intrinsic::DotU8S8: case Intrinsic::DotS8S8:
      KILN_CHECK(args.size() == 3, "{} takes (acc, a, b)", intrinsic_name(op));
      for (const Expr& arg : args) {
        KILN_CHECK(arg.type() == Type::i32().with_lanes(t.lanes), "{} of {} (i32 lanes of packed bytes)",
                   intrinsic_name(op), to_string(arg.type()));
      }
      break;
    case Intrinsic::GpuBlockId: case Intrinsic::GpuThreadId: {
      const int64_t* dim = as_const_int(args[0]);
      KILN_CHECK(args.size() == 1 && dim && *dim >= 0 && *dim <= 2, "{} takes a dimension 0, 1 or 2",
                 intrinsic_name(op));
      t = Type::i64();
      break;
    }
    default:
      KILN_CHECK(t.is_float(), "{} of {}", intrinsic_name(op), to_string(t));
  }
  return Expr(std::make_shared<const Call>(t, op, std::move(args)));
}

Expr Access::make(Type value_type, std::string tensor, std::vector<Expr> indices) {
  for (const Expr& i : indices) KILN_CHECK(i.defined() && i.type().is_integer(), "Access {} with a bad index", tensor);
  return Expr(std::make_shared<const Access>(value_type, std::move(tensor), std::move(indices)));
}

Expr operator+(Expr a, Expr b) { return Binary::make(BinaryOp::Add, std::move(a), std::move(b)); }
Expr operator-(Expr a, Expr b) { return Binary::make(BinaryOp::Sub, std::move(a), std::move(b)); }
Expr operator*(Expr a, Expr b) { return Binary::make(BinaryOp::Mul, std::move(a), std::move(b)); }
Expr operator/(Expr a, Expr b) { return Binary::make(BinaryOp::Div, std::move(a), std::move(b)); }
Expr operator%(Expr a, Expr b) { return Binary::make(BinaryOp::Mod, std::move(a), std::move(b)); }
Expr operator-(Expr a) {
  const Type t = a.type();
  Expr zero = t.is_float() ? FloatImm::make(t.element_of(), 0.0) : IntImm::make(t.element_of(), 0);
  return Binary::make(BinaryOp::Sub, std::move(zero), std::move(a));
}
Expr operator<(Expr a, Expr b) { return Binary::make(BinaryOp::LT, std::move(a), std::move(b)); }
Expr operator<=(Expr a, Expr b) { return Binary::make(BinaryOp::LE, std::move(a), std::move(b)); }
Expr operator>(Expr a, Expr b) { return Binary::make(BinaryOp::GT, std::move(a), std::move(b)); }
Expr operator>=(Expr a, Expr b) { return Binary::make(BinaryOp::GE, std::move(a), std::move(b)); }
Expr operator==(Expr a, Expr b) { return Binary::make(BinaryOp::EQ, std::move(a), std::move(b)); }
Expr operator!=(Expr a, Expr b) { return Binary::make(BinaryOp::NE, std::move(a), std::move(b)); }
Expr operator&&(Expr a, Expr b) { return Binary::make(BinaryOp::And, std::move(a), std::move(b)); }
Expr operator||(Expr a, Expr b) { return Binary::make(BinaryOp::Or, std::move(a), std::move(b)); }
Expr operator!(Expr a) { return Not::make(std::move(a)); }
Expr operator&(Expr a, Expr b) { return Binary::make(BinaryOp::BitAnd, std::move(a), std::move(b)); }
Expr operator|(Expr a, Expr b) { return Binary::make(BinaryOp::BitOr, std::move(a), std::move(b)); }
Expr operator<<(Expr a, Expr b) { return Binary::make(BinaryOp::Shl, std::move(a), std::move(b)); }
Expr operator>>(Expr a, Expr b) { return Binary::make(BinaryOp::Shr, std::move(a), std::move(b)); }
Expr min(Expr a, Expr b) { return Binary::make(BinaryOp::Min, std::move(a), std::move(b)); }
Expr max(Expr a, Expr b) { return Binary::make(BinaryOp::Max, std::move(a), std::move(b)); }
Expr select(Expr c, Expr t, Expr f) { return Select::make(std::move(c), std::move(t), std::move(f)); }
Expr cast(Type type, Expr value) {
  const Type t = type.with_lanes(value.type().lanes);  // before `value` is moved from
  return Cast::make(t, std::move(value));
}
Expr reinterpret(Type type, Expr value) { return Reinterpret::make(type, std::move(value)); }
Expr call(Intrinsic op, std::vector<Expr> args) { return Call::make(op, std::move(args)); }
Expr var(std::string name, Type type) { return Var::make(type, std::move(name)); }
Expr f32(double value) { return FloatImm::make(Type::f32(), value); }
Expr i64(int64_t value) { return IntImm::make(Type::i64(), value); }

const int64_t* as_const_int(const Expr& e) {
  const IntImm* imm = e.as<IntImm>();
  return imm ? &imm->value : nullptr;
}

}  // namespace kiln::ir
