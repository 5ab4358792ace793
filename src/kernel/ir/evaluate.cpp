#include "kernel/ir/evaluate.h"

#include <limits>

#include "base/error.h"
#include "kernel/ir/printer.h"

namespace kiln::ir {

int64_t wrap_to_type(Type type, int64_t value) {
  const int bits = type.is_bool() ? 1 : type.bits;
  if (bits >= 64) return value;
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  uint64_t wrapped = static_cast<uint64_t>(value) & mask;
  if (type.is_int() && ((wrapped >> (bits - 1)) & 1) != 0) wrapped |= ~mask;  // sign-extend
  return static_cast<int64_t>(wrapped);
}

namespace {

// The signed result if it fits in `bits` bits.
std::optional<int64_t> signed_in_range(int64_t value, int bits) {
  if (bits < 64) {
    const int64_t limit = int64_t{1} << (bits - 1);
    if (value < -limit || value >= limit) return std::nullopt;
  }
  return value;
}

}  // namespace

std::optional<int64_t> fold_int(BinaryOp op, Type operand_type, int64_t a, int64_t b) {
  const Type t = operand_type.element_of();
  KILN_CHECK(t.is_integer() || t.is_bool(), "fold_int of {}", to_string(t));
  const bool is_signed = t.is_int();
  const int bits = t.is_bool() ? 1 : t.bits;
  const uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  int64_t result = 0;
  switch (op) {
    case BinaryOp::Add:
      if (!is_signed) return wrap_to_type(t, static_cast<int64_t>(ua + ub));
      if (__builtin_add_overflow(a, b, &result)) return std::nullopt;
      return signed_in_range(result, bits);
    case BinaryOp::Sub:
      if (!is_signed) return wrap_to_type(t, static_cast<int64_t>(ua - ub));
      if (__builtin_sub_overflow(a, b, &result)) return std::nullopt;
      return signed_in_range(result, bits);
    case BinaryOp::Mul:
      if (!is_signed) return wrap_to_type(t, static_cast<int64_t>(ua * ub));
      if (__builtin_mul_overflow(a, b, &result)) return std::nullopt;
      return signed_in_range(result, bits);
    case BinaryOp::Div:
      if (b == 0) return std::nullopt;
      if (!is_signed) return static_cast<int64_t>(ua / ub);
      if (a == std::numeric_limits<int64_t>::min() && b == -1) return std::nullopt;
      return signed_in_range(a / b, bits);  // C++ division truncates, as C does
    case BinaryOp::Mod:
      if (b == 0) return std::nullopt;
      if (!is_signed) return static_cast<int64_t>(ua % ub);
      if (b == -1) return 0;  // also avoids INT64_MIN % -1, which traps
      return a % b;
    case BinaryOp::Min: return (is_signed ? a < b : ua < ub) ? a : b;
    case BinaryOp::Max: return (is_signed ? a > b : ua > ub) ? a : b;
    case BinaryOp::EQ: return a == b;
    case BinaryOp::NE: return a != b;
    case BinaryOp::LT: return is_signed ? a < b : ua < ub;
    case BinaryOp::LE: return is_signed ? a <= b : ua <= ub;
    case BinaryOp::GT: return is_signed ? a > b : ua > ub;
    case BinaryOp::GE: return is_signed ? a >= b : ua >= ub;
    case BinaryOp::And: return a != 0 && b != 0;
    case BinaryOp::Or: return a != 0 || b != 0;
    case BinaryOp::BitAnd: return wrap_to_type(t, a & b);
    case BinaryOp::BitOr: return wrap_to_type(t, a | b);
    case BinaryOp::BitXor: return wrap_to_type(t, a ^ b);
    case BinaryOp::Shl:
      if (ub >= static_cast<uint64_t>(bits)) return std::nullopt;
      return wrap_to_type(t, static_cast<int64_t>(ua << ub));  // wraps, as LLVM's plain shl
    case BinaryOp::Shr:
      if (ub >= static_cast<uint64_t>(bits)) return std::nullopt;
      return is_signed ? a >> ub : static_cast<int64_t>(ua >> ub);
  }
  return std::nullopt;
}

namespace {

// Evaluates without throwing; on failure remembers which subexpression failed and why, so the
// throwing entry point can say so (and the simplifier, which only asks, builds no messages).
class Evaluator {
 public:
  explicit Evaluator(const std::map<std::string, int64_t>& vars) : vars_(vars) {}

  enum class Failure { None, Arithmetic, Unbound, Unsupported };
  Failure failure = Failure::None;
  Expr failed_at;

  std::optional<int64_t> eval(const Expr& e) {
    if (!e.defined() || e.type().lanes != 1 || !(e.type().is_integer() || e.type().is_bool())) {
      return fail(Failure::Unsupported, e);
    }
    switch (e.kind()) {
      case ExprKind::IntImm: return e.as<IntImm>()->value;
      case ExprKind::Var: {
        auto it = vars_.find(e.as<Var>()->name);
        if (it == vars_.end()) return fail(Failure::Unbound, e);
        return it->second;
      }
      case ExprKind::Cast: {
        const Expr& value = e.as<Cast>()->value;
        std::optional<int64_t> v = eval(value);
        if (!v) return v;
        if (e.type().is_bool()) return *v != 0;
        return wrap_to_type(e.type(), *v);
      }
      case ExprKind::Binary: return eval_binary(e.as<Binary>(), e);
      case ExprKind::Not: {
        std::optional<int64_t> v = eval(e.as<Not>()->value);
        if (!v) return v;
        return *v == 0;
      }
      case ExprKind::Select: {
        const Select* op = e.as<Select>();
        std::optional<int64_t> condition = eval(op->condition);
        if (!condition) return condition;
        return eval(*condition != 0 ? op->true_value : op->false_value);
      }
      case ExprKind::Call: {
        const Call* op = e.as<Call>();
        if (op->op != Intrinsic::Abs || op->args.size() != 1) return fail(Failure::Unsupported, e);
        std::optional<int64_t> v = eval(op->args[0]);
        if (!v || !e.type().is_int() || *v >= 0) return v;
        return with_result(fold_int(BinaryOp::Sub, e.type(), 0, *v), e);
      }
      default: return fail(Failure::Unsupported, e);
    }
  }

 private:
  std::optional<int64_t> eval_binary(const Binary* op, const Expr& e) {
    std::optional<int64_t> a = eval(op->a);
    if (!a) return a;
    // && and || evaluate their right side only when needed, so `d != 0 && n % d == 0` is safe.
    if (op->op == BinaryOp::And && *a == 0) return 0;
    if (op->op == BinaryOp::Or && *a != 0) return 1;
    std::optional<int64_t> b = eval(op->b);
    if (!b) return b;
    return with_result(fold_int(op->op, op->a.type(), *a, *b), e);
  }

  std::optional<int64_t> with_result(std::optional<int64_t> result, const Expr& e) {
    if (!result) return fail(Failure::Arithmetic, e);
    return result;
  }

  std::optional<int64_t> fail(Failure why, const Expr& e) {
    failure = why;
    failed_at = e;
    return std::nullopt;
  }

  const std::map<std::string, int64_t>& vars_;
};

}  // namespace

int64_t evaluate_int(const Expr& e, const std::map<std::string, int64_t>& vars) {
  Evaluator evaluator(vars);
  if (std::optional<int64_t> value = evaluator.eval(e)) return *value;
  const std::string where = evaluator.failed_at.defined() ? to_string(evaluator.failed_at) : "<null>";
  switch (evaluator.failure) {
    case Evaluator::Failure::Arithmetic:
      user_error("evaluating {}: {} divides by zero, overflows or shifts too far for these sizes",
                 to_string(e), where);
    case Evaluator::Failure::Unbound:
      throw InternalError(fmt::format("evaluating {}: no value for variable {}", to_string(e), where));
    default:
      throw InternalError(fmt::format("evaluating {}: {} is not a scalar integer expression",
                                      to_string(e), where));
  }
}

std::optional<int64_t> try_evaluate_int(const Expr& e, const std::map<std::string, int64_t>& vars) {
  return Evaluator(vars).eval(e);
}

}  // namespace kiln::ir
