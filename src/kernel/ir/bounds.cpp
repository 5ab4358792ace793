#include "kernel/ir/bounds.h"

#include <algorithm>
#include <cstdlib>

namespace kiln::ir {

namespace {

using Bound = std::optional<int64_t>;

Bound add(Bound a, Bound b) {
  int64_t r = 0;
  if (!a || !b || __builtin_add_overflow(*a, *b, &r)) return std::nullopt;
  return r;
}

Bound sub(Bound a, Bound b) {
  int64_t r = 0;
  if (!a || !b || __builtin_sub_overflow(*a, *b, &r)) return std::nullopt;
  return r;
}

Bound mul(Bound a, Bound b) {
  int64_t r = 0;
  if (!a || !b || __builtin_mul_overflow(*a, *b, &r)) return std::nullopt;
  return r;
}

// The smaller of two bounds where either alone already bounds the result (an upper end of min).
Bound min_of_either(Bound a, Bound b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}
Bound max_of_either(Bound a, Bound b) {
  if (!a) return b;
  if (!b) return a;
  return std::max(*a, *b);
}
// The smaller of two bounds where both are needed (the lower end of min, or of a union).
Bound min_of_both(Bound a, Bound b) { return a && b ? Bound(std::min(*a, *b)) : std::nullopt; }
Bound max_of_both(Bound a, Bound b) { return a && b ? Bound(std::max(*a, *b)) : std::nullopt; }

bool is_constant(const Interval& i) { return i.min && i.max && *i.min == *i.max; }

// The values an integer or bool type can hold, where that is narrower than int64.
Interval type_range(Type t) {
  if (t.is_bool()) return {0, 1};
  if (!t.is_integer() || t.bits >= 64) return Interval::everything();
  if (t.is_uint()) return {0, (int64_t{1} << t.bits) - 1};
  return {-(int64_t{1} << (t.bits - 1)), (int64_t{1} << (t.bits - 1)) - 1};
}

bool within(const Interval& inner, const Interval& outer) {
  const bool min_ok = !outer.min || (inner.min && *inner.min >= *outer.min);
  const bool max_ok = !outer.max || (inner.max && *inner.max <= *outer.max);
  return min_ok && max_ok;
}

Interval multiply(const Interval& a, const Interval& b) {
  if (is_constant(b) || is_constant(a)) {
    const Interval& range = is_constant(b) ? a : b;
    const int64_t c = is_constant(b) ? *b.min : *a.min;
    if (c == 0) return Interval::constant(0);
    if (c > 0) return {mul(range.min, c), mul(range.max, c)};
    return {mul(range.max, c), mul(range.min, c)};
  }
  if (a.min && a.max && b.min && b.max) {
    const Bound products[] = {mul(a.min, b.min), mul(a.min, b.max), mul(a.max, b.min), mul(a.max, b.max)};
    Interval result{products[0], products[0]};
    for (const Bound& p : products) {
      if (!p) return Interval::everything();
      result.min = std::min(*result.min, *p);
      result.max = std::max(*result.max, *p);
    }
    return result;
  }
  if (a.min && *a.min >= 0 && b.min && *b.min >= 0) return {mul(a.min, b.min), mul(a.max, b.max)};
  return Interval::everything();
}

Interval divide(const Interval& a, const Interval& b) {
  if (is_constant(b) && *b.min != 0) {
    const int64_t c = *b.min;
    auto div = [c](Bound v) -> Bound {
      if (!v || (c == -1 && *v == INT64_MIN)) return std::nullopt;
      return *v / c;  // truncation is monotonic in v
    };
    return c > 0 ? Interval{div(a.min), div(a.max)} : Interval{div(a.max), div(a.min)};
  }
  if (a.min && *a.min >= 0 && b.min && *b.min >= 1) return {0, a.max};
  return Interval::everything();
}

Interval modulo(const Interval& a, const Interval& b) {
  // |a % b| < |b|, and the result takes the sign of a.
  Bound largest_remainder;
  if (is_constant(b) && *b.min != 0 && *b.min != INT64_MIN) {
    largest_remainder = std::abs(*b.min) - 1;
  } else if (b.min && *b.min >= 1) {
    largest_remainder = sub(b.max, 1);
  } else {
    return Interval::everything();
  }
  if (a.min && *a.min >= 0) return {0, min_of_either(largest_remainder, a.max)};
  if (a.max && *a.max <= 0) {
    return {max_of_either(largest_remainder ? Bound(-*largest_remainder) : std::nullopt, a.min), 0};
  }
  if (!largest_remainder) return Interval::everything();
  return {-*largest_remainder, *largest_remainder};
}

Interval bounds_of_binary(const Binary* op, const VarBounds& vars) {
  if (is_comparison(op->op) || op->op == BinaryOp::And || op->op == BinaryOp::Or) return {0, 1};
  const Interval a = constant_bounds(op->a, vars);
  const Interval b = constant_bounds(op->b, vars);
  switch (op->op) {
    case BinaryOp::Add: return {add(a.min, b.min), add(a.max, b.max)};
    case BinaryOp::Sub: return {sub(a.min, b.max), sub(a.max, b.min)};
    case BinaryOp::Mul: return multiply(a, b);
    case BinaryOp::Div: return divide(a, b);
    case BinaryOp::Mod: return modulo(a, b);
    case BinaryOp::Min: return {min_of_both(a.min, b.min), min_of_either(a.max, b.max)};
    case BinaryOp::Max: return {max_of_either(a.min, b.min), max_of_both(a.max, b.max)};
    case BinaryOp::BitAnd: {
      // x & y with y >= 0 lies in [0, y]: the result has no bit that y lacks.
      const bool a_non_negative = a.min && *a.min >= 0, b_non_negative = b.min && *b.min >= 0;
      if (a_non_negative && b_non_negative) return {0, min_of_both(a.max, b.max)};
      if (a_non_negative) return {0, a.max};
      if (b_non_negative) return {0, b.max};
      return Interval::everything();
    }
    case BinaryOp::Shr:
      if (is_constant(b) && *b.min >= 0 && *b.min < 64) {
        const int64_t s = *b.min;
        return {a.min ? Bound(*a.min >> s) : std::nullopt, a.max ? Bound(*a.max >> s) : std::nullopt};
      }
      return Interval::everything();
    default: return Interval::everything();
  }
}

}  // namespace

Interval constant_bounds(const Expr& e, const VarBounds& vars) {
  if (!e.defined() || e.type().lanes != 1) return Interval::everything();
  const Type t = e.type();
  // Unsigned arithmetic wraps, so only its type's range is known.
  if (!t.is_int() && !t.is_bool()) return type_range(t);
  switch (e.kind()) {
    case ExprKind::IntImm: return Interval::constant(e.as<IntImm>()->value);
    case ExprKind::Var: {
      auto it = vars.find(e.as<Var>()->name);
      return it != vars.end() ? it->second : type_range(t);
    }
    case ExprKind::Cast: {
      const Expr& value = e.as<Cast>()->value;
      if (t.is_bool() || !(value.type().is_integer() || value.type().is_bool())) return type_range(t);
      const Interval source = constant_bounds(value, vars);
      return within(source, type_range(t)) ? source : type_range(t);
    }
    case ExprKind::Binary: return bounds_of_binary(e.as<Binary>(), vars);
    case ExprKind::Not: return {0, 1};
    case ExprKind::Select: {
      const Select* op = e.as<Select>();
      const Interval a = constant_bounds(op->true_value, vars);
      const Interval b = constant_bounds(op->false_value, vars);
      return {min_of_both(a.min, b.min), max_of_both(a.max, b.max)};
    }
    default: return type_range(t);
  }
}

}  // namespace kiln::ir
