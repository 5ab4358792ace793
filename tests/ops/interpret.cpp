// The interpreter evaluates a batch of points at a time: each Expr node becomes a compiled node
// that computes its value for every point of the batch in one loop, so the cost of dispatching
// on the node's kind is paid once per batch rather than once per point.
#include "ops/interpret.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "base/half.h"
#include "kernel/compute/dequant_expr.h"
#include "kernel/ir/evaluate.h"
#include "kernel/ir/printer.h"

namespace kiln::test {
namespace {

using ir::BinaryOp;
using ir::Expr;
using ir::Intrinsic;
using ir::Type;
using kernel::ComputeDef;
using kernel::Stage;
using kernel::TensorDecl;

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error("interpret: " + message); }

// A scalar: floats in `f` (an f32 already rounded to float), integers and bools in `i`, held
// as the loop IR holds them (sign- or zero-extended to 64 bits).
union Value {
  double f;
  int64_t i;
};

Value float_value(double f) {
  Value v;
  v.f = f;
  return v;
}
Value int_value(int64_t i) {
  Value v;
  v.i = i;
  return v;
}

double round_float(Type t, double x) { return t.bits == 32 ? static_cast<double>(static_cast<float>(x)) : x; }

// ---- Scalar semantics ----------------------------------------------------------------------

// a OP b on floats of type `t` (f32 arithmetic in float).
template <typename F>
Value float_op(BinaryOp op, F a, F b) {
  switch (op) {
    case BinaryOp::Add: return float_value(static_cast<F>(a + b));
    case BinaryOp::Sub: return float_value(static_cast<F>(a - b));
    case BinaryOp::Mul: return float_value(static_cast<F>(a * b));
    case BinaryOp::Div: return float_value(static_cast<F>(a / b));
    case BinaryOp::Mod: return float_value(std::fmod(a, b));
    case BinaryOp::Min: return float_value(std::fmin(a, b));
    case BinaryOp::Max: return float_value(std::fmax(a, b));
    case BinaryOp::EQ: return int_value(a == b);
    case BinaryOp::NE: return int_value(a != b);
    case BinaryOp::LT: return int_value(a < b);
    case BinaryOp::LE: return int_value(a <= b);
    case BinaryOp::GT: return int_value(a > b);
    case BinaryOp::GE: return int_value(a >= b);
    default: fail(fmt::format("{} of floats", ir::binary_op_name(op)));
  }
}

Value float_binary(BinaryOp op, Type t, Value a, Value b) {
  if (t.bits == 32) return float_op(op, static_cast<float>(a.f), static_cast<float>(b.f));
  return float_op(op, a.f, b.f);
}

// a OP b on integers of type `t`, as ir::fold_int defines it; no value is a failure.
Value int_binary(BinaryOp op, Type t, Value a, Value b) {
  const std::optional<int64_t> r = ir::fold_int(op, t, a.i, b.i);
  if (!r) fail(fmt::format("{} {} {} ({}) has no value", a.i, ir::binary_op_name(op), b.i, ir::to_string(t)));
  return int_value(*r);
}

Value binary(BinaryOp op, Type operands, Value a, Value b) {
  return operands.is_float() ? float_binary(op, operands, a, b) : int_binary(op, operands, a, b);
}

Value cast(Type to, Type from, Value v) {
  if (to.is_float()) {
    if (from.is_float()) return float_value(round_float(to, v.f));
    if (from.is_uint() && from.bits == 64) {
      const uint64_t u = static_cast<uint64_t>(v.i);
      return float_value(to.bits == 32 ? static_cast<double>(static_cast<float>(u)) : static_cast<double>(u));
    }
    return float_value(to.bits == 32 ? static_cast<double>(static_cast<float>(v.i)) : static_cast<double>(v.i));
  }
  if (to.is_bool()) return int_value(from.is_float() ? v.f != 0 : v.i != 0);
  if (from.is_float()) {
    const double truncated = std::trunc(v.f);
    if (!std::isfinite(truncated) || std::fabs(truncated) > 9.2e18 ||
        ir::wrap_to_type(to, static_cast<int64_t>(truncated)) != static_cast<int64_t>(truncated)) {
      fail(fmt::format("cast of {} to {} has no value", v.f, ir::to_string(to)));
    }
    return int_value(static_cast<int64_t>(truncated));
  }
  return int_value(ir::wrap_to_type(to, v.i));
}

Value reinterpret(Type to, Type from, Value v) {
  uint64_t bits = 0;
  if (from.is_float()) {
    if (from.bits == 32) bits = float_to_bits(static_cast<float>(v.f));
    else std::memcpy(&bits, &v.f, sizeof bits);
  } else {
    bits = static_cast<uint64_t>(v.i);
  }
  if (to.is_float()) {
    if (to.bits == 32) return float_value(bits_to_float(static_cast<uint32_t>(bits)));
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return float_value(d);
  }
  return int_value(ir::wrap_to_type(to, static_cast<int64_t>(bits)));
}

template <typename F>
F float_call(Intrinsic op, F x, F y) {
  switch (op) {
    case Intrinsic::Exp: return std::exp(x);
    case Intrinsic::Log: return std::log(x);
    case Intrinsic::Sqrt: return std::sqrt(x);
    case Intrinsic::Rsqrt: return F(1) / std::sqrt(x);
    case Intrinsic::Tanh: return std::tanh(x);
    case Intrinsic::Erf: return std::erf(x);
    case Intrinsic::Sin: return std::sin(x);
    case Intrinsic::Cos: return std::cos(x);
    case Intrinsic::Pow: return std::pow(x, y);
    case Intrinsic::Abs: return std::fabs(x);
    case Intrinsic::Floor: return std::floor(x);
    default: fail(fmt::format("intrinsic {} on scalars", ir::intrinsic_name(op)));
  }
}

Value call(Intrinsic op, Type t, Value x, Value y) {
  if (op == Intrinsic::F16BitsToF32) return float_value(f16_to_f32(static_cast<uint16_t>(x.i)));
  if (op == Intrinsic::Abs && t.is_integer()) return int_value(ir::wrap_to_type(t, x.i < 0 ? -x.i : x.i));
  if (t.bits == 32) return float_value(float_call(op, static_cast<float>(x.f), static_cast<float>(y.f)));
  return float_value(float_call(op, x.f, y.f));
}

Value read_element(Type t, const uint8_t* p) {
  if (t.is_float()) {
    if (t.bits == 32) {
      float f;
      std::memcpy(&f, p, 4);
      return float_value(f);
    }
    double d;
    std::memcpy(&d, p, 8);
    return float_value(d);
  }
  uint64_t bits = 0;
  std::memcpy(&bits, p, t.bytes());  // little-endian host
  return int_value(ir::wrap_to_type(t, static_cast<int64_t>(bits)));
}

void write_element(Type t, Value v, uint8_t* p) {
  if (t.is_float() && t.bits == 32) {
    const float f = static_cast<float>(v.f);
    std::memcpy(p, &f, 4);
  } else if (t.is_float()) {
    std::memcpy(p, &v.f, 8);
  } else {
    std::memcpy(p, &v.i, t.bytes());  // the low bytes, little-endian host
  }
}

// ---- Compiled nodes ------------------------------------------------------------------------

constexpr int kBatch = 512;

// The points a batch evaluates: `size` of them, each variable's values in a column.
struct Batch {
  int size = 0;
  std::vector<std::vector<Value>> columns;  // by slot
  uint64_t epoch = 0;                       // new for every batch
};

// A node computes its value at every point of a batch into its own column, once per batch
// (a node the DAG shares is asked more than once).
class Node {
 public:
  explicit Node(Type t) : type(t), out_(kBatch) {}
  virtual ~Node() = default;
  const Value* values(const Batch& batch) const {
    if (epoch_ != batch.epoch) {
      eval(batch, out_.data());
      epoch_ = batch.epoch;
    }
    return out_.data();
  }
  const Type type;

 protected:
  virtual void eval(const Batch& batch, Value* out) const = 0;

 private:
  mutable uint64_t epoch_ = ~uint64_t{0};
  mutable std::vector<Value> out_;
};
using NodePtr = const Node*;

class Constant : public Node {
 public:
  Constant(Type t, Value v) : Node(t), value(v) {}
  const Value value;

 protected:
  void eval(const Batch& batch, Value* out) const override { std::fill(out, out + batch.size, value); }
};

class Slot : public Node {
 public:
  Slot(Type t, int slot) : Node(t), slot_(slot) {}

 protected:
  void eval(const Batch& batch, Value* out) const override {
    std::copy_n(batch.columns[slot_].data(), batch.size, out);
  }

 private:
  int slot_;
};

// Cast, Reinterpret, Not and one-argument calls.
class Unary : public Node {
 public:
  Unary(Type t, ir::ExprKind kind, Intrinsic op, NodePtr a) : Node(t), kind_(kind), op_(op), a_(a) {}

 protected:
  void eval(const Batch& batch, Value* out) const override {
    const Value* a = a_->values(batch);
    for (int p = 0; p < batch.size; ++p) {
      switch (kind_) {
        case ir::ExprKind::Cast: out[p] = cast(type, a_->type, a[p]); break;
        case ir::ExprKind::Reinterpret: out[p] = reinterpret(type, a_->type, a[p]); break;
        case ir::ExprKind::Not: out[p] = int_value(a[p].i == 0); break;
        default: out[p] = call(op_, type, a[p], float_value(0)); break;
      }
    }
  }

 private:
  ir::ExprKind kind_;
  Intrinsic op_;
  NodePtr a_;
};

class Binary : public Node {
 public:
  Binary(Type t, BinaryOp op, NodePtr a, NodePtr b) : Node(t), op_(op), a_(a), b_(b) {}

 protected:
  void eval(const Batch& batch, Value* out) const override {
    const Value *a = a_->values(batch), *b = b_->values(batch);
    const Type operands = a_->type;
    if (fast_loop(operands, a, b, out, batch.size)) return;
    if (operands.is_float()) {
      for (int p = 0; p < batch.size; ++p) out[p] = float_binary(op_, operands, a[p], b[p]);
    } else {
      for (int p = 0; p < batch.size; ++p) out[p] = int_binary(op_, operands, a[p], b[p]);
    }
  }

 private:
  // The operations index and byte arithmetic are made of, on i64 and i32, as tight loops; a
  // result the type cannot hold leaves the whole batch to the exact path, which reports it.
  bool fast_loop(Type t, const Value* a, const Value* b, Value* out, int n) const {
    if (t == Type::f32()) {
      const auto each = [&](auto f) {
        for (int p = 0; p < n; ++p) out[p].f = f(static_cast<float>(a[p].f), static_cast<float>(b[p].f));
        return true;
      };
      switch (op_) {
        case BinaryOp::Add: return each([](float x, float y) { return x + y; });
        case BinaryOp::Sub: return each([](float x, float y) { return x - y; });
        case BinaryOp::Mul: return each([](float x, float y) { return x * y; });
        case BinaryOp::Div: return each([](float x, float y) { return x / y; });
        default: return false;
      }
    }
    if (t != Type::i64() && t != Type::i32()) return false;
    const bool narrow = t == Type::i32();
    const auto each = [&](auto f) {
      for (int p = 0; p < n; ++p) out[p].i = f(a[p].i, b[p].i);
      return true;
    };
    const auto checked = [&](auto f) {
      bool ok = true;
      for (int p = 0; p < n; ++p) {
        int64_t r;
        ok &= !f(a[p].i, b[p].i, &r);
        ok &= !narrow || r == static_cast<int32_t>(r);
        out[p].i = r;
      }
      return ok;
    };
    switch (op_) {
      case BinaryOp::Add: return checked([](int64_t x, int64_t y, int64_t* r) { return __builtin_add_overflow(x, y, r); });
      case BinaryOp::Sub: return checked([](int64_t x, int64_t y, int64_t* r) { return __builtin_sub_overflow(x, y, r); });
      case BinaryOp::Mul: return checked([](int64_t x, int64_t y, int64_t* r) { return __builtin_mul_overflow(x, y, r); });
      case BinaryOp::Div:
      case BinaryOp::Mod:
        for (int p = 0; p < n; ++p) {
          if (a[p].i < 0 || b[p].i <= 0) return false;
        }
        return op_ == BinaryOp::Div ? each([](int64_t x, int64_t y) { return x / y; })
                                    : each([](int64_t x, int64_t y) { return x % y; });
      case BinaryOp::Min: return each([](int64_t x, int64_t y) { return x < y ? x : y; });
      case BinaryOp::Max: return each([](int64_t x, int64_t y) { return x > y ? x : y; });
      case BinaryOp::EQ: return each([](int64_t x, int64_t y) -> int64_t { return x == y; });
      case BinaryOp::NE: return each([](int64_t x, int64_t y) -> int64_t { return x != y; });
      case BinaryOp::LT: return each([](int64_t x, int64_t y) -> int64_t { return x < y; });
      case BinaryOp::LE: return each([](int64_t x, int64_t y) -> int64_t { return x <= y; });
      case BinaryOp::GT: return each([](int64_t x, int64_t y) -> int64_t { return x > y; });
      case BinaryOp::GE: return each([](int64_t x, int64_t y) -> int64_t { return x >= y; });
      case BinaryOp::BitAnd: return each([](int64_t x, int64_t y) { return x & y; });
      case BinaryOp::BitOr: return each([](int64_t x, int64_t y) { return x | y; });
      case BinaryOp::Shr:
      case BinaryOp::Shl: {
        for (int p = 0; p < n; ++p) {
          if (b[p].i < 0 || b[p].i >= t.bits) return false;
        }
        if (op_ == BinaryOp::Shr) return each([](int64_t x, int64_t y) { return x >> y; });
        // Shl wraps (as LLVM's shl): shift the bits, then sign-extend from the type's width.
        return narrow ? each([](int64_t x, int64_t y) -> int64_t { return static_cast<int32_t>(static_cast<uint32_t>(x) << y); })
                      : each([](int64_t x, int64_t y) { return static_cast<int64_t>(static_cast<uint64_t>(x) << y); });
      }
      default: return false;
    }
  }

  BinaryOp op_;
  NodePtr a_, b_;
};

class Pow : public Node {
 public:
  Pow(Type t, NodePtr a, NodePtr b) : Node(t), a_(a), b_(b) {}

 protected:
  void eval(const Batch& batch, Value* out) const override {
    const Value *a = a_->values(batch), *b = b_->values(batch);
    for (int p = 0; p < batch.size; ++p) out[p] = call(Intrinsic::Pow, type, a[p], b[p]);
  }

 private:
  NodePtr a_, b_;
};

// Evaluates both sides, as vectorized code does, so that an unselected side's out-of-bounds
// read is caught too.
class Select : public Node {
 public:
  Select(Type t, NodePtr c, NodePtr a, NodePtr b) : Node(t), c_(c), a_(a), b_(b) {}

 protected:
  void eval(const Batch& batch, Value* out) const override {
    const Value *c = c_->values(batch), *a = a_->values(batch), *b = b_->values(batch);
    for (int p = 0; p < batch.size; ++p) out[p] = c[p].i != 0 ? a[p] : b[p];
  }

 private:
  NodePtr c_, a_, b_;
};

class Load : public Node {
 public:
  Load(Type t, std::string buffer, const std::vector<uint8_t>* bytes, NodePtr index)
      : Node(t), buffer_(std::move(buffer)), bytes_(bytes), index_(index) {}

 protected:
  void eval(const Batch& batch, Value* out) const override {
    const Value* index = index_->values(batch);
    const int64_t size = type.bytes(), count = static_cast<int64_t>(bytes_->size()) / size;
    if (type == Type::u8()) {  // the bytes of block formats
      for (int p = 0; p < batch.size; ++p) {
        const int64_t i = index[p].i;
        if (i < 0 || i >= count) fail(fmt::format("{}[{}] is out of bounds ({} elements)", buffer_, i, count));
        out[p].i = (*bytes_)[i];
      }
      return;
    }
    for (int p = 0; p < batch.size; ++p) {
      const int64_t i = index[p].i;
      if (i < 0 || i >= count) fail(fmt::format("{}[{}] is out of bounds ({} elements)", buffer_, i, count));
      out[p] = read_element(type, bytes_->data() + i * size);
    }
  }

 private:
  std::string buffer_;
  const std::vector<uint8_t>* bytes_;
  NodePtr index_;
};

// A stage's computed values, read back by a later stage.
struct StageData {
  Type type;
  std::vector<int64_t> extents;
  std::vector<Value> values;
  std::vector<int64_t> stored_at;  // a scatter's flat output index for each value
  bool ready = false;
};

class StageAccess : public Node {
 public:
  StageAccess(Type t, std::string name, const StageData* data, std::vector<NodePtr> indices)
      : Node(t), name_(std::move(name)), data_(data), indices_(std::move(indices)) {}

 protected:
  void eval(const Batch& batch, Value* out) const override {
    std::vector<const Value*> indices;
    for (NodePtr i : indices_) indices.push_back(i->values(batch));
    for (int p = 0; p < batch.size; ++p) {
      int64_t flat = 0;
      for (size_t d = 0; d < indices.size(); ++d) {
        const int64_t i = indices[d][p].i;
        if (i < 0 || i >= data_->extents[d]) {
          fail(fmt::format("{}: index {} of dimension {} is out of bounds (extent {})", name_, i, d, data_->extents[d]));
        }
        flat = flat * data_->extents[d] + i;
      }
      out[p] = data_->values[flat];
    }
  }

 private:
  std::string name_;
  const StageData* data_;
  std::vector<NodePtr> indices_;
};

// ---- Compilation ---------------------------------------------------------------------------

struct Context {
  const ComputeDef* def = nullptr;  // for Accesses of inputs and stages
  std::map<std::string, int> slots;
  std::map<std::string, const std::vector<uint8_t>*> buffers;
  const std::map<std::string, StageData>* stages = nullptr;
  std::map<std::string, int64_t> constants;  // variables fixed for the whole run: the sizes
};

// Compiles Exprs into nodes it owns. An Expr node the DAG shares compiles once (and so is
// evaluated once per batch); arithmetic of constants, sizes included, is folded here.
class Compiler {
 public:
  explicit Compiler(Context ctx) : ctx_(std::move(ctx)) {}

  NodePtr compile(const Expr& e) {
    if (!e.defined()) fail("undefined expression");
    if (const auto it = memo_.find(e.get()); it != memo_.end()) return it->second;
    std::unique_ptr<Node> node = compile_node(e);
    if (foldable(e)) {
      Batch one;
      one.size = 1;
      one.epoch = 0;
      node = std::make_unique<Constant>(node->type, node->values(one)[0]);
    }
    nodes_.push_back(std::move(node));
    memo_[e.get()] = nodes_.back().get();
    return nodes_.back().get();
  }

 private:
  bool is_constant(const Expr& e) const {
    const auto it = memo_.find(e.get());
    return it != memo_.end() && dynamic_cast<const Constant*>(it->second) != nullptr;
  }

  // Whether `e` (its children compiled) computes from constants only, with no memory read.
  bool foldable(const Expr& e) const {
    switch (e.kind()) {
      case ir::ExprKind::Cast: return is_constant(e.as<ir::Cast>()->value);
      case ir::ExprKind::Reinterpret: return is_constant(e.as<ir::Reinterpret>()->value);
      case ir::ExprKind::Binary: return is_constant(e.as<ir::Binary>()->a) && is_constant(e.as<ir::Binary>()->b);
      case ir::ExprKind::Not: return is_constant(e.as<ir::Not>()->value);
      case ir::ExprKind::Select: {
        const auto* s = e.as<ir::Select>();
        return is_constant(s->condition) && is_constant(s->true_value) && is_constant(s->false_value);
      }
      case ir::ExprKind::Call:
        for (const Expr& a : e.as<ir::Call>()->args) {
          if (!is_constant(a)) return false;
        }
        return true;
      default: return false;
    }
  }

  std::unique_ptr<Node> compile_node(const Expr& e) {
    const Type t = e.type();
    if (t.lanes != 1) fail("vector expression " + ir::to_string(e));
    switch (e.kind()) {
      case ir::ExprKind::IntImm: return std::make_unique<Constant>(t, int_value(e.as<ir::IntImm>()->value));
      case ir::ExprKind::FloatImm:
        return std::make_unique<Constant>(t, float_value(round_float(t, e.as<ir::FloatImm>()->value)));
      case ir::ExprKind::Var: {
        const std::string& name = e.as<ir::Var>()->name;
        if (const auto c = ctx_.constants.find(name); c != ctx_.constants.end()) {
          return std::make_unique<Constant>(t, int_value(c->second));
        }
        const auto it = ctx_.slots.find(name);
        if (it == ctx_.slots.end()) fail("unbound variable " + name);
        return std::make_unique<Slot>(t, it->second);
      }
      case ir::ExprKind::Cast:
        return std::make_unique<Unary>(t, e.kind(), Intrinsic::Exp, compile(e.as<ir::Cast>()->value));
      case ir::ExprKind::Reinterpret:
        return std::make_unique<Unary>(t, e.kind(), Intrinsic::Exp, compile(e.as<ir::Reinterpret>()->value));
      case ir::ExprKind::Not: return std::make_unique<Unary>(t, e.kind(), Intrinsic::Exp, compile(e.as<ir::Not>()->value));
      case ir::ExprKind::Binary: {
        const auto* b = e.as<ir::Binary>();
        return std::make_unique<Binary>(t, b->op, compile(b->a), compile(b->b));
      }
      case ir::ExprKind::Select: {
        const auto* s = e.as<ir::Select>();
        return std::make_unique<Select>(t, compile(s->condition), compile(s->true_value), compile(s->false_value));
      }
      case ir::ExprKind::Load: {
        const auto* l = e.as<ir::Load>();
        const auto it = ctx_.buffers.find(l->buffer);
        if (it == ctx_.buffers.end()) fail("load of unknown buffer " + l->buffer);
        return std::make_unique<Load>(t, l->buffer, it->second, compile(l->index));
      }
      case ir::ExprKind::Call: {
        const auto* c = e.as<ir::Call>();
        if (c->op == Intrinsic::Pow) return std::make_unique<Pow>(t, compile(c->args[0]), compile(c->args[1]));
        if (c->args.size() != 1) fail(fmt::format("intrinsic {} with {} arguments", ir::intrinsic_name(c->op), c->args.size()));
        return std::make_unique<Unary>(t, e.kind(), c->op, compile(c->args[0]));
      }
      case ir::ExprKind::Access: return compile_access(e.as<ir::Access>(), t);
      case ir::ExprKind::Ramp:
      case ir::ExprKind::Broadcast: break;
    }
    fail("cannot interpret " + ir::to_string(e));
  }

  std::unique_ptr<Node> compile_access(const ir::Access* a, Type t) {
    if (ctx_.def == nullptr) fail("access of " + a->tensor + " outside a compute definition");
    for (const TensorDecl& input : ctx_.def->inputs) {
      if (input.name != a->tensor) continue;
      // An input reads through its dtype's load_element, as lowering does.
      const Expr loaded = kernel::load_element(input, a->indices);
      if (loaded.type() != t) {
        fail(fmt::format("{} accessed as {} but loads as {}", a->tensor, ir::to_string(t), ir::to_string(loaded.type())));
      }
      expansions_.push_back(loaded);  // keeps its nodes, and so the memo's keys, alive
      return std::make_unique<Forward>(t, compile(loaded));
    }
    const auto it = ctx_.stages->find(a->tensor);
    if (it == ctx_.stages->end() || !it->second.ready) fail(a->tensor + " is read before it is computed");
    if (it->second.type != t) fail(a->tensor + " is read with another type than its stage's");
    if (a->indices.size() != it->second.extents.size()) fail(a->tensor + " is read with the wrong number of indices");
    std::vector<NodePtr> indices;
    for (const Expr& i : a->indices) indices.push_back(compile(i));
    return std::make_unique<StageAccess>(t, a->tensor, &it->second, std::move(indices));
  }

  // An Access of an input, standing for its expansion.
  class Forward : public Node {
   public:
    Forward(Type t, NodePtr target) : Node(t), target_(target) {}

   protected:
    void eval(const Batch& batch, Value* out) const override { std::copy_n(target_->values(batch), batch.size, out); }

   private:
    NodePtr target_;
  };

  Context ctx_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<const ir::ExprNode*, NodePtr> memo_;
  std::vector<Expr> expansions_;
};

// Row-major coordinates that step through a domain point by point.
class Odometer {
 public:
  explicit Odometer(std::vector<int64_t> extents) : extents_(std::move(extents)), at_(extents_.size(), 0) {}
  const std::vector<int64_t>& at() const { return at_; }
  void next() {
    for (size_t d = extents_.size(); d-- > 0;) {
      if (++at_[d] < extents_[d]) return;
      at_[d] = 0;
    }
  }

 private:
  std::vector<int64_t> extents_, at_;
};

int64_t product(const std::vector<int64_t>& extents) {
  int64_t n = 1;
  for (int64_t e : extents) n *= e;
  return n;
}

// Replaces each value of an output stage by its epilogue at that point.
void apply_epilogue(const ComputeDef& def, const Stage& stage, const std::map<std::string, int64_t>& sizes,
                    const std::map<std::string, const std::vector<uint8_t>*>& inputs,
                    const std::map<std::string, StageData>& stages, StageData& data) {
  Context ctx;
  ctx.def = &def;
  ctx.buffers = inputs;
  ctx.stages = &stages;
  ctx.constants = sizes;
  for (size_t s = 0; s < stage.axes.size(); ++s) ctx.slots[stage.axes[s]] = static_cast<int>(s);
  const int value_slot = static_cast<int>(stage.axes.size());
  ctx.slots[kernel::kEpilogueValue] = value_slot;
  Compiler compiler(std::move(ctx));
  const NodePtr epilogue = compiler.compile(stage.epilogue);
  const int64_t points = product(data.extents);
  if (points == 0) return;
  Odometer odometer(data.extents);
  Batch batch;
  batch.columns.assign(stage.axes.size() + 1, std::vector<Value>(kBatch));
  for (int64_t first = 0; first < points; first += kBatch) {
    batch.size = static_cast<int>(std::min<int64_t>(kBatch, points - first));
    ++batch.epoch;
    for (int p = 0; p < batch.size; ++p, odometer.next()) {
      for (size_t s = 0; s < stage.axes.size(); ++s) batch.columns[s][p] = int_value(odometer.at()[s]);
      batch.columns[static_cast<size_t>(value_slot)][p] = data.values[static_cast<size_t>(first + p)];
    }
    const Value* values = epilogue->values(batch);
    std::copy_n(values, batch.size, data.values.begin() + first);
  }
  data.type = stage.epilogue.type();
}

// Evaluates one stage: every point of its axes, and for a reduction every point of its
// reduction axes (the last fastest), combined in order from the identity.
void run_stage(const ComputeDef& def, const Stage& stage, const std::map<std::string, int64_t>& sizes,
               const std::map<std::string, const std::vector<uint8_t>*>& inputs,
               const std::map<std::string, StageData>& stages, StageData& data) {
  if (stage.body.type() != stage.type) {
    fail(fmt::format("{}: stage {} has type {} but its body {}", def.name, stage.name, ir::to_string(stage.type),
                     ir::to_string(stage.body.type())));
  }
  Context ctx;
  ctx.def = &def;
  ctx.buffers = inputs;
  ctx.stages = &stages;
  ctx.constants = sizes;
  std::vector<std::string> axes = stage.axes;
  axes.insert(axes.end(), stage.reduce_axes.begin(), stage.reduce_axes.end());
  for (size_t s = 0; s < axes.size(); ++s) {
    if (sizes.count(axes[s])) fail(def.name + ": axis " + axes[s] + " of " + stage.name + " has a size's name");
    ctx.slots[axes[s]] = static_cast<int>(s);
  }
  std::vector<int64_t> extents, reduce_extents;
  for (const Expr& e : stage.extents) extents.push_back(ir::evaluate_int(e, sizes));
  for (const Expr& e : stage.reduce_extents) reduce_extents.push_back(ir::evaluate_int(e, sizes));
  data.type = stage.type;
  data.extents = extents;
  data.values.assign(product(extents), Value{});

  Compiler compiler(std::move(ctx));
  const NodePtr body = compiler.compile(stage.body);
  const bool reduction = stage.reduce != kernel::ReduceKind::None;
  NodePtr store_index = nullptr;
  if (!stage.store_at.empty()) {
    const TensorDecl* output = nullptr;
    for (const TensorDecl& o : def.outputs) {
      if (o.name == stage.name) output = &o;
    }
    if (output == nullptr || reduction || output->shape.size() != stage.store_at.size()) {
      fail(def.name + ": stage " + stage.name + " stores at other indices but is not an elementwise output of their rank");
    }
    Expr flat = stage.store_at[0];
    for (size_t d = 1; d < stage.store_at.size(); ++d) flat = flat * output->shape[d] + stage.store_at[d];
    store_index = compiler.compile(flat);
    data.stored_at.assign(product(extents), 0);
  }
  Value identity{};
  BinaryOp combine = BinaryOp::Add;
  if (reduction) {
    const auto* constant = dynamic_cast<const Constant*>(compiler.compile(kernel::reduce_identity(stage.reduce, stage.type)));
    if (constant == nullptr) fail("reduce_identity is not a constant");
    identity = constant->value;
    const Expr combined = kernel::reduce_combine(stage.reduce, ir::var("acc", stage.type), ir::var("value", stage.type));
    if (combined.as<ir::Binary>() == nullptr) fail("reduce_combine is not a binary operation");
    combine = combined.as<ir::Binary>()->op;
  }

  std::vector<int64_t> all_extents = extents;
  all_extents.insert(all_extents.end(), reduce_extents.begin(), reduce_extents.end());
  const int64_t points = product(all_extents), per_output = product(reduce_extents);
  if (points == 0) {
    if (reduction) std::fill(data.values.begin(), data.values.end(), identity);
    return;
  }
  Odometer odometer(all_extents);
  Batch batch;
  batch.columns.assign(axes.size(), std::vector<Value>(kBatch));
  Value acc = identity;
  for (int64_t first = 0; first < points; first += kBatch) {
    batch.size = static_cast<int>(std::min<int64_t>(kBatch, points - first));
    ++batch.epoch;
    for (int p = 0; p < batch.size; ++p, odometer.next()) {
      for (size_t s = 0; s < axes.size(); ++s) batch.columns[s][p] = int_value(odometer.at()[s]);
    }
    const Value* values = body->values(batch);
    if (store_index != nullptr) {
      const Value* at = store_index->values(batch);
      for (int p = 0; p < batch.size; ++p) data.stored_at[first + p] = at[p].i;
    }
    for (int p = 0; p < batch.size; ++p) {
      const int64_t point = first + p;
      if (!reduction) {
        data.values[point] = values[p];
        continue;
      }
      if (point % per_output == 0) acc = identity;
      if (combine == BinaryOp::Add && stage.type == Type::f32()) {
        acc.f = static_cast<float>(acc.f) + static_cast<float>(values[p].f);
      } else {
        acc = binary(combine, stage.type, acc, values[p]);
      }
      if (point % per_output == per_output - 1) data.values[point / per_output] = acc;
    }
  }
  if (stage.epilogue.defined()) apply_epilogue(def, stage, sizes, inputs, stages, data);
}

}  // namespace

std::vector<std::vector<uint8_t>> interpret(const ComputeDef& def, const std::map<std::string, int64_t>& sizes,
                                            const std::map<std::string, const std::vector<uint8_t>*>& inputs) {
  for (const std::string& p : def.size_params) {
    if (!sizes.count(p)) fail(def.name + ": size " + p + " is not bound");
  }
  std::map<std::string, StageData> stages;
  for (const Stage& stage : def.stages) {
    if (stages.count(stage.name)) fail(def.name + ": two stages define " + stage.name);
    StageData data;
    run_stage(def, stage, sizes, inputs, stages, data);
    data.ready = true;
    stages[stage.name] = std::move(data);
  }

  std::vector<std::vector<uint8_t>> outputs;
  for (const TensorDecl& output : def.outputs) {
    const auto it = stages.find(output.name);
    if (it == stages.end()) fail(def.name + ": no stage defines output " + output.name);
    const StageData& data = it->second;
    const bool scatter = !data.stored_at.empty();
    int64_t output_elements = 1;
    for (const Expr& e : output.shape) output_elements *= ir::evaluate_int(e, sizes);
    if (!scatter) {
      if (data.extents.size() != output.shape.size()) fail(def.name + ": stage and output " + output.name + " differ in rank");
      for (size_t d = 0; d < output.shape.size(); ++d) {
        if (ir::evaluate_int(output.shape[d], sizes) != data.extents[d]) {
          fail(def.name + ": stage and output " + output.name + " differ in shape");
        }
      }
    }
    for (int64_t at : data.stored_at) {
      if (at < 0 || at >= output_elements) {
        fail(fmt::format("{}: a scatter stores at {}, outside {}'s {} elements", def.name, at, output.name, output_elements));
      }
    }
    // Stored through encode_element, as lowering stores outputs.
    Context ctx;
    ctx.slots["value"] = 0;
    Compiler compiler(std::move(ctx));
    const NodePtr encode = compiler.compile(kernel::encode_element(output.dtype, ir::var("value", data.type)));
    const Type storage = kernel::storage_type(output.dtype);
    if (encode->type != storage) fail(output.name + ": encode_element does not give the storage type");
    // A scatter's elements that no point reaches stay zero.
    std::vector<uint8_t> bytes(static_cast<size_t>(output_elements) * storage.bytes());
    Batch batch;
    batch.columns.assign(1, std::vector<Value>(kBatch));
    for (size_t first = 0; first < data.values.size(); first += kBatch) {
      batch.size = static_cast<int>(std::min<size_t>(kBatch, data.values.size() - first));
      ++batch.epoch;
      std::copy_n(&data.values[first], batch.size, batch.columns[0].data());
      const Value* encoded = encode->values(batch);
      for (int p = 0; p < batch.size; ++p) {
        const size_t at = scatter ? static_cast<size_t>(data.stored_at[first + p]) : first + p;
        write_element(storage, encoded[p], &bytes[at * storage.bytes()]);
      }
    }
    outputs.push_back(std::move(bytes));
  }
  return outputs;
}

}  // namespace kiln::test
