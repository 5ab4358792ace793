#include "kernel/ir/simplify.h"

#include <numeric>

#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <span>

#include "kernel/ir/evaluate.h"
#include "kernel/ir/rewrite.h"
#include "kernel/ir/visitor.h"

namespace kiln::ir {

namespace {

using rewrite::Pattern;
using rewrite::Rule;

const Pattern x = Pattern::wild(0), y = Pattern::wild(1), z = Pattern::wild(2), w = Pattern::wild(3);
const Pattern c1 = Pattern::constant(0), c2 = Pattern::constant(1);
const Pattern kTrue = 1, kFalse = 0;

// ---- The rules. A table applies to expressions whose operands have its types; the first
// rule that matches wins, and its result is simplified again. Constants move right and
// outward, toward the root, where they meet and fold.

// Valid for operands of any type, floats included.
const Rule kAnyTypeRules[] = {
    // Comparisons face one way, so the tables below need only < and <=.
    {x > y, y < x},
    {x >= y, y <= x},
    // A select on a known condition is that side; one with equal sides is that value.
    {select(kTrue, x, y), x},
    {select(kFalse, x, y), y},
    {select(broadcast(kTrue), x, y), x},
    {select(broadcast(kFalse), x, y), y},
    {select(z, x, x), x},
};

const Rule kBoolRules[] = {
    // Identity and annihilator of && and ||; idempotence.
    {kTrue && x, x},
    {x && kTrue, x},
    {kFalse && x, kFalse},
    {x && kFalse, kFalse},
    {x && x, x},
    {kFalse || x, x},
    {x || kFalse, x},
    {kTrue || x, kTrue},
    {x || kTrue, kTrue},
    {x || x, x},
    // Double negation.
    {!!x, x},
};

// Identities of the integers modulo 2^bits: exact for any width and signedness, even where the
// arithmetic wraps.
const Rule kIntegerRules[] = {
    // Additive identity.
    {x + 0, x},
    {0 + x, x},
    // A constant moves to the right of +.
    {c1 + x, x + c1},
    // Constants reassociate and fold: (x + 3) + 4 -> x + 7.
    {(x + c1) + c2, x + (c1 + c2)},
    {(x - c1) + c2, x + (c2 - c1)},
    // Adding a negative constant prints as subtracting a positive one (unless it is INT_MIN).
    {x + c1, x - (0 - c1), c1 < 0 && 0 - c1 > 0},
    // A constant moves outward past another term.
    {(x + c1) + y, (x + y) + c1},
    {(x - c1) + y, (x + y) - c1},
    {x + (y + c1), (x + y) + c1},
    {x + (y - c1), (x + y) - c1},
    // Cancellation.
    {(x - y) + y, x},
    {y + (x - y), x},
    // Lane-wise sums of ramps and broadcasts are ramps.
    {ramp(x, y) + broadcast(z), ramp(x + z, y)},
    {broadcast(z) + ramp(x, y), ramp(z + x, y)},
    {ramp(x, y) + ramp(z, w), ramp(x + z, y + w)},

    // Subtracting zero; a value minus itself.
    {x - 0, x},
    {x - x, 0},
    // Subtracting a negative constant is adding a positive one.
    {x - c1, x + (0 - c1), c1 < 0 && 0 - c1 > 0},
    // Constants reassociate and fold.
    {(x + c1) - c2, x + (c1 - c2)},
    {(x - c1) - c2, x - (c1 + c2)},
    {c1 - (x + c2), (c1 - c2) - x},
    // Cancellation.
    {(x + y) - y, x},
    {(x + y) - x, y},
    {x - (x + y), 0 - y},
    {x - (x - y), y},
    // A constant moves outward past another term.
    {(x + c1) - y, (x - y) + c1},
    {(x - c1) - y, (x - y) - c1},
    {x - (y + c1), (x - y) - c1},
    {x - (y - c1), (x - y) + c1},
    // Lane-wise differences of ramps and broadcasts are ramps.
    {ramp(x, y) - broadcast(z), ramp(x - z, y)},
    {broadcast(z) - ramp(x, y), ramp(z - x, 0 - y)},
    {ramp(x, y) - ramp(z, w), ramp(x - z, y - w)},

    // Multiplicative zero and identity.
    {x * 0, 0},
    {0 * x, 0},
    {x * 1, x},
    {1 * x, x},
    // A constant moves to the right of *.
    {c1 * x, x * c1},
    // Constant factors fold; a constant term distributes out: (x + 1) * 4 -> x * 4 + 4.
    {(x * c1) * c2, x * (c1 * c2)},
    {(x + c1) * c2, x * c2 + c1 * c2},
    {(x - c1) * c2, x * c2 - c1 * c2},
    // A ramp times a broadcast is a ramp.
    {ramp(x, y) * broadcast(z), ramp(x * z, y * z)},
    {broadcast(z) * ramp(x, y), ramp(z * x, z * y)},

    // Division and remainder by one.
    {x / 1, x},
    {x % 1, 0},

    // min and max of a value with itself; constants move right and fold.
    {min(x, x), x},
    {max(x, x), x},
    {min(c1, x), min(x, c1)},
    {max(c1, x), max(x, c1)},
    {min(min(x, c1), c2), min(x, min(c1, c2))},
    {max(max(x, c1), c2), max(x, max(c1, c2))},

    // A value compared with itself.
    {x == x, kTrue},
    {x != x, kFalse},
    {x < x, kFalse},
    {x <= x, kTrue},
    // Equality survives moving a constant across (both sides wrap alike).
    {x + c1 == c2, x == c2 - c1},
    {x + c1 != c2, x != c2 - c1},
    {x - c1 == c2, x == c2 + c1},
    {x - c1 != c2, x != c2 + c1},

    // A ramp with stride zero is a broadcast.
    {ramp(x, 0), broadcast(x)},
};

// Exact for signed integers, whose overflow C leaves undefined (so these may assume none).
// Division truncates toward zero, so rules that split a quotient need the parts' signs.
const Rule kSignedRules[] = {
    // A multiple of the divisor divides exactly: (x * 8) / 4 -> x * 2.
    {(x * c1) / c2, x * (c1 / c2), c2 != 0 && c1 % c2 == 0},
    // Both sides equal the rational x * c1 / c2, truncated: (x * 4) / 8 -> x / 2.
    {(x * c1) / c2, x / (c2 / c1), c1 > 0 && c2 % c1 == 0},
    // Truncating divisions by positive constants compose (when the product fits).
    {(x / c1) / c2, x / (c1 * c2), c1 > 0 && c2 > 0 && c1 * c2 > 0},
    // With both parts non-negative, truncation is floor and a multiple splits off:
    // (i * 8 + k) / 4 -> i * 2 + k / 4.
    {(x * c1 + y) / c2, x * (c1 / c2) + y / c2,
     c2 > 0 && c1 % c2 == 0 && lower(y) >= 0 && lower(x * c1 + y) >= 0},
    {(y + x * c1) / c2, y / c2 + x * (c1 / c2),
     c2 > 0 && c1 % c2 == 0 && lower(y) >= 0 && lower(y + x * c1) >= 0},
    // |x| < c1: the quotient is 0.
    {x / c1, 0, c1 > 0 && lower(x) > 0 - c1 && upper(x) < c1},

    // A multiple of the divisor leaves no remainder.
    {(x * c1) % c2, 0, c2 != 0 && c1 % c2 == 0},
    // With both parts non-negative, a multiple of the divisor drops out: (i * 8 + k) % 4 -> k % 4.
    {(x * c1 + y) % c2, y % c2, c2 > 0 && c1 % c2 == 0 && lower(y) >= 0 && lower(x * c1 + y) >= 0},
    {(y + x * c1) % c2, y % c2, c2 > 0 && c1 % c2 == 0 && lower(y) >= 0 && lower(y + x * c1) >= 0},
    // |x| < c1: the remainder is x.
    {x % c1, x, c1 > 0 && lower(x) > 0 - c1 && upper(x) < c1},

    // min and max decided by bounds.
    {min(x, y), x, upper(x) <= lower(y)},
    {min(x, y), y, upper(y) <= lower(x)},
    {max(x, y), y, upper(x) <= lower(y)},
    {max(x, y), x, upper(y) <= lower(x)},

    // Comparisons decided by bounds.
    {x < y, kTrue, upper(x) < lower(y)},
    {x < y, kFalse, lower(x) >= upper(y)},
    {x <= y, kTrue, upper(x) <= lower(y)},
    {x <= y, kFalse, lower(x) > upper(y)},
    {x == y, kFalse, upper(x) < lower(y)},
    {x == y, kFalse, lower(x) > upper(y)},
    {x != y, kTrue, upper(x) < lower(y)},
    {x != y, kTrue, lower(x) > upper(y)},
    // A constant moves across an inequality (no overflow: k + 1 < n -> k < n - 1).
    {x + c1 < c2, x < c2 - c1},
    {x - c1 < c2, x < c2 + c1},
    {x + c1 <= c2, x <= c2 - c1},
    {x - c1 <= c2, x <= c2 + c1},
    {c1 < x + c2, c1 - c2 < x},
    {c1 < x - c2, c1 + c2 < x},
    {c1 <= x + c2, c1 - c2 <= x},
    {c1 <= x - c2, c1 + c2 <= x},
};

// Exact in IEEE arithmetic (including -0, infinities and NaN).
const Rule kFloatRules[] = {
    // Multiplying or dividing by one.
    {x * 1, x},
    {1 * x, x},
    {x / 1, x},
};

// ---- Constant folding (not a table: one evaluation per operator).

// A float constant's value in its own precision.
double float_value(const FloatImm* imm) {
  return imm->type == Type::f32() ? static_cast<double>(static_cast<float>(imm->value)) : imm->value;
}

std::optional<Expr> fold_float_binary(BinaryOp op, Type t, double a, double b) {
  if (t != Type::f32() && t != Type::f64()) return std::nullopt;  // f16 would need its rounding
  if (is_comparison(op)) {
    const Expr truth = IntImm::make(Type::boolean(), 1), falsity = IntImm::make(Type::boolean(), 0);
    switch (op) {
      case BinaryOp::EQ: return a == b ? truth : falsity;
      case BinaryOp::NE: return a != b ? truth : falsity;
      case BinaryOp::LT: return a < b ? truth : falsity;
      case BinaryOp::LE: return a <= b ? truth : falsity;
      case BinaryOp::GT: return a > b ? truth : falsity;
      default: return a >= b ? truth : falsity;
    }
  }
  auto in_precision = [t](auto f) -> std::optional<Expr> {
    if (t == Type::f32()) return FloatImm::make(t, static_cast<double>(f(0.0f)));
    return FloatImm::make(t, f(0.0));
  };
  // `zero` picks the precision: float + double would compute in double.
  switch (op) {
    case BinaryOp::Add: return in_precision([&](auto zero) { return decltype(zero)(a) + decltype(zero)(b); });
    case BinaryOp::Sub: return in_precision([&](auto zero) { return decltype(zero)(a) - decltype(zero)(b); });
    case BinaryOp::Mul: return in_precision([&](auto zero) { return decltype(zero)(a) * decltype(zero)(b); });
    case BinaryOp::Div: return in_precision([&](auto zero) { return decltype(zero)(a) / decltype(zero)(b); });
    default: return std::nullopt;  // min/max: targets differ on NaN
  }
}

std::optional<Expr> fold_cast(Type to, const Expr& value) {
  if (const IntImm* i = value.as<IntImm>()) {
    if (to.is_bool()) return IntImm::make(to, i->value != 0);
    if (to.is_integer()) return IntImm::make(to, wrap_to_type(to, i->value));
    const bool from_u64 = i->type.is_uint() && i->type.bits == 64;
    const uint64_t bits = static_cast<uint64_t>(i->value);
    if (to == Type::f32()) {
      return FloatImm::make(to, from_u64 ? static_cast<float>(bits) : static_cast<float>(i->value));
    }
    if (to == Type::f64()) {
      return FloatImm::make(to, from_u64 ? static_cast<double>(bits) : static_cast<double>(i->value));
    }
    return std::nullopt;
  }
  if (const FloatImm* f = value.as<FloatImm>()) {
    const double v = float_value(f);
    if (to == Type::f32()) return FloatImm::make(to, static_cast<float>(v));
    if (to == Type::f64()) return FloatImm::make(to, v);
    if (!to.is_integer() || !std::isfinite(v)) return std::nullopt;
    // In range after truncation, or C leaves the conversion undefined.
    const double truncated = std::trunc(v);
    const double lowest = to.is_uint() ? 0.0 : -std::ldexp(1.0, to.bits - 1);
    const double limit = std::ldexp(1.0, to.is_uint() ? to.bits : to.bits - 1);
    if (truncated < lowest || truncated >= limit) return std::nullopt;
    if (to.is_uint()) return IntImm::make(to, static_cast<int64_t>(static_cast<uint64_t>(truncated)));
    return IntImm::make(to, static_cast<int64_t>(truncated));
  }
  return std::nullopt;
}

// `e` with its operation done, if its operands are constants (or broadcasts of values).
std::optional<Expr> fold_constants(const Expr& e, const std::function<Expr(const Expr&)>& resimplify) {
  if (const Binary* op = e.as<Binary>()) {
    const IntImm *ia = op->a.as<IntImm>(), *ib = op->b.as<IntImm>();
    if (ia && ib) {
      std::optional<int64_t> v = fold_int(op->op, op->a.type(), ia->value, ib->value);
      if (v) return IntImm::make(e.type(), *v);
      return std::nullopt;
    }
    const FloatImm *fa = op->a.as<FloatImm>(), *fb = op->b.as<FloatImm>();
    if (fa && fb) return fold_float_binary(op->op, op->a.type(), float_value(fa), float_value(fb));
    // The op of two broadcasts is the broadcast of the op.
    const Broadcast *ba = op->a.as<Broadcast>(), *bb = op->b.as<Broadcast>();
    if (ba && bb) return Broadcast::make(resimplify(Binary::make(op->op, ba->value, bb->value)), ba->lanes);
    return std::nullopt;
  }
  if (const Not* op = e.as<Not>()) {
    if (const IntImm* i = op->value.as<IntImm>()) return IntImm::make(e.type(), i->value == 0);
    return std::nullopt;
  }
  if (const Cast* op = e.as<Cast>()) {
    if (const Broadcast* b = op->value.as<Broadcast>()) {
      return Broadcast::make(resimplify(Cast::make(e.type().element_of(), b->value)), b->lanes);
    }
    return fold_cast(e.type(), op->value);
  }
  return std::nullopt;
}

// ---- The mutator.

// The tables for an expression whose operands have type `operand_type`, in the order tried.
std::array<std::span<const Rule>, 3> tables_for(Type operand_type) {
  const Type t = operand_type.element_of();
  if (t.is_bool()) return {kAnyTypeRules, kBoolRules, {}};
  if (t.is_float()) return {kAnyTypeRules, kFloatRules, {}};
  if (t.is_int()) return {kAnyTypeRules, kIntegerRules, kSignedRules};
  return {kAnyTypeRules, kIntegerRules, {}};
}

// The type whose rules apply to `e`: that of its operands. Nothing for kinds no rule matches.
std::optional<Type> operand_type(const Expr& e) {
  if (const Binary* op = e.as<Binary>()) return op->a.type();
  if (const Select* op = e.as<Select>()) return op->true_value.type();
  if (e.as<Not>() || e.as<Ramp>()) return e.type();
  return std::nullopt;
}

// The largest n known to divide every value of `e` (0: e is 0).
int64_t known_multiple(const Expr& e) {
  if (const IntImm* i = e.as<IntImm>()) return i->value < 0 ? -i->value : i->value;
  if (const Binary* b = e.as<Binary>()) {
    const int64_t ma = known_multiple(b->a), mb = known_multiple(b->b);
    switch (b->op) {
      case BinaryOp::Mul: {
        int64_t product = 0;
        return __builtin_mul_overflow(ma, mb, &product) ? 1 : product;
      }
      case BinaryOp::Add: case BinaryOp::Sub: return std::gcd(ma, mb);
      case BinaryOp::Mod: return as_const_int(b->b) ? std::gcd(ma, mb) : 1;
      default: return 1;
    }
  }
  return 1;
}

// ramp(b, 1, L) / c and % c, where b >= 0 is a multiple of L and L divides c: all L lanes lie
// in one c-sized block, so the quotient is one scalar and the remainder a ramp. This is what
// makes a vectorized read of a block-quantized row contiguous.
std::optional<Expr> split_ramp_by_block(const Expr& e, const rewrite::BoundsOf& bounds_of) {
  const Binary* op = e.as<Binary>();
  if (op == nullptr || (op->op != BinaryOp::Div && op->op != BinaryOp::Mod) || !e.type().is_int()) return std::nullopt;
  const Ramp* ramp = op->a.as<Ramp>();
  const Broadcast* divisor = op->b.as<Broadcast>();
  if (ramp == nullptr || divisor == nullptr) return std::nullopt;
  const int64_t* stride = as_const_int(ramp->stride);
  const int64_t* c = as_const_int(divisor->value);
  const int64_t lanes = ramp->lanes;
  if (!stride || *stride != 1 || !c || *c <= 0 || *c % lanes != 0) return std::nullopt;
  const int64_t multiple = known_multiple(ramp->base);
  const std::optional<int64_t> lowest = bounds_of(ramp->base).min;
  if ((multiple != 0 && multiple % lanes != 0) || !lowest || *lowest < 0) return std::nullopt;
  if (op->op == BinaryOp::Div) return Broadcast::make(Binary::make(BinaryOp::Div, ramp->base, divisor->value), ramp->lanes);
  return Ramp::make(Binary::make(BinaryOp::Mod, ramp->base, divisor->value), ramp->stride, ramp->lanes);
}

class Simplifier : public IRMutator {
 public:
  explicit Simplifier(VarBounds known) : bounds_(std::move(known)) {}

  using IRMutator::mutate;

  Expr mutate(const Expr& e) override {
    Expr rebuilt = IRMutator::mutate(e);
    if (!rebuilt.defined()) return rebuilt;
    if (std::optional<Expr> folded = fold_constants(rebuilt, resimplify_)) return *folded;
    const std::optional<Type> t = operand_type(rebuilt);
    if (!t) return rebuilt;
    for (std::span<const Rule> rules : tables_for(*t)) {
      if (std::optional<Expr> rewritten = rewrite::apply_first(rules, rebuilt, bounds_of_)) {
        return mutate(*rewritten);
      }
    }
    if (std::optional<Expr> split = split_ramp_by_block(rebuilt, bounds_of_)) return mutate(*split);
    if (std::optional<Expr> through = divide_through_let(rebuilt)) return *through;
    return rebuilt;
  }

 protected:
  using IRMutator::visit;

  Stmt visit(const For* op, const Stmt& s) override {
    Expr min = mutate(op->min);
    Expr extent = mutate(op->extent);
    const int64_t* trips = as_const_int(extent);
    if (trips && *trips <= 0) return no_op();
    // A serial loop that runs once is its body with the variable bound to the start.
    if (trips && *trips == 1 && op->for_kind == ForKind::Serial) {
      return mutate(LetStmt::make(op->var, min, op->body));
    }
    const Interval min_range = constant_bounds(min, bounds_);
    const Interval extent_range = constant_bounds(extent, bounds_);
    Interval var_range{min_range.min, std::nullopt};
    int64_t last = 0;
    if (min_range.max && extent_range.max && !__builtin_add_overflow(*min_range.max, *extent_range.max, &last) &&
        !__builtin_sub_overflow(last, 1, &last)) {
      var_range.max = last;  // the last value it takes: min + extent - 1
    }
    Stmt body = mutate_in_scope(op->var, var_range, op->body);
    if (is_no_op(body)) return no_op();
    if (min.same_as(op->min) && extent.same_as(op->extent) && body.same_as(op->body)) return s;
    return For::make(op->var, min, extent, op->for_kind, body, op->gpu_dim);
  }

  Stmt visit(const LetStmt* op, const Stmt& s) override {
    Expr value = mutate(op->value);
    // A constant is substituted into the body (it cannot be captured by an inner binding); so
    // is a ramp or broadcast, so that the index arithmetic on its lanes can simplify (a block
    // index `ramp / 32` becomes one scalar) and loads through it become contiguous.
    if (value.as<IntImm>() || value.as<FloatImm>() || value.as<Ramp>() || value.as<Broadcast>()) {
      return mutate(substitute(op->body, {{op->name, value}}));
    }
    Stmt body;
    if (value.type().is_int() && !value.type().is_vector()) {
      auto outer = lets_.find(op->name);
      std::optional<Expr> saved;
      if (outer != lets_.end()) saved = outer->second;
      lets_[op->name] = value;
      body = mutate_in_scope(op->name, constant_bounds(value, bounds_), op->body);
      if (saved) lets_[op->name] = *saved;
      else lets_.erase(op->name);
    } else {
      body = mutate_in_scope(op->name, constant_bounds(value, bounds_), op->body);
    }
    if (!stmt_uses_var(body, op->name)) return body;
    if (value.same_as(op->value) && body.same_as(op->body)) return s;
    return LetStmt::make(op->name, value, body);
  }

  Stmt visit(const IfThenElse* op, const Stmt& s) override {
    Expr condition = mutate(op->condition);
    if (const int64_t* known = as_const_int(condition)) {
      if (*known != 0) return mutate(op->then_case);
      return op->else_case.defined() ? mutate(op->else_case) : no_op();
    }
    Stmt then_case = mutate(op->then_case);
    Stmt else_case = mutate(op->else_case);
    if (is_no_op(else_case)) else_case = Stmt();
    if (is_no_op(then_case)) {
      if (!else_case.defined()) return no_op();
      return IfThenElse::make(mutate(Not::make(condition)), else_case);
    }
    if (condition.same_as(op->condition) && then_case.same_as(op->then_case) &&
        else_case.same_as(op->else_case)) {
      return s;
    }
    return IfThenElse::make(condition, then_case, else_case);
  }

  Stmt visit(const Allocate* op, const Stmt& s) override {
    Stmt result = IRMutator::visit(op, s);
    const Allocate* allocate = result.as<Allocate>();
    return allocate && is_no_op(allocate->body) ? no_op() : result;
  }

 private:
  static Stmt no_op() { return Block::make({}); }

  // Simplifies `body` knowing that `name` lies in `range` (hiding any outer binding of it, and
  // the let values that read an outer `name`).
  Stmt mutate_in_scope(const std::string& name, const Interval& range, const Stmt& body) {
    auto outer = bounds_.find(name);
    std::optional<Interval> saved;
    if (outer != bounds_.end()) saved = outer->second;
    std::map<std::string, Expr> hidden;
    for (auto it = lets_.begin(); it != lets_.end();) {
      if (expr_uses_var(it->second, name)) {
        hidden.insert(*it);
        it = lets_.erase(it);
      } else {
        ++it;
      }
    }
    bounds_[name] = range;
    Stmt result = mutate(body);
    if (saved) bounds_[name] = *saved;
    else bounds_.erase(name);
    lets_.merge(hidden);
    return result;
  }

  // v / c or v % c of a let-bound integer v whose value divides through: with
  // `let j = jg * 8 + jv` (0 <= jv < 8), j / 8 is jg and j % 8 is jv. Taken only where the
  // quotient or remainder disappears, so index arithmetic on a split loop's parts stays
  // simple (a row's interleaved group and lane); otherwise the let's name stays.
  std::optional<Expr> divide_through_let(const Expr& e) {
    const Binary* op = e.as<Binary>();
    if (op == nullptr || (op->op != BinaryOp::Div && op->op != BinaryOp::Mod) || !as_const_int(op->b)) return std::nullopt;
    const Var* v = op->a.as<Var>();
    if (v == nullptr) return std::nullopt;
    auto let = lets_.find(v->name);
    if (let == lets_.end()) return std::nullopt;
    Expr through = mutate(Binary::make(op->op, let->second, op->b));
    if (contains_div_or_mod(through)) return std::nullopt;
    return through;
  }

  static bool contains_div_or_mod(const Expr& e) {
    struct Finder : IRVisitor {
      bool found = false;
      using IRVisitor::visit;
      void visit(const Binary* b) override {
        found = found || b->op == BinaryOp::Div || b->op == BinaryOp::Mod;
        IRVisitor::visit(b);
      }
    } finder;
    finder.walk(e);
    return finder.found;
  }

  std::map<std::string, Expr> lets_;  // integer lets in scope, by name

  VarBounds bounds_;
  const rewrite::BoundsOf bounds_of_ = [this](const Expr& e) { return constant_bounds(e, bounds_); };
  const std::function<Expr(const Expr&)> resimplify_ = [this](const Expr& e) { return mutate(e); };
};

}  // namespace

Expr simplify(const Expr& e, const VarBounds& known) { return Simplifier(known).mutate(e); }

Stmt simplify(const Stmt& s, const VarBounds& known) { return Simplifier(known).mutate(s); }

bool is_no_op(const Stmt& s) {
  const Block* block = s.as<Block>();
  return block != nullptr && block->stmts.empty();
}

}  // namespace kiln::ir
