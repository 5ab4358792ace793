#include "kernel/ir/rewrite.h"

#include <array>

#include "base/error.h"
#include "kernel/ir/equal.h"
#include "kernel/ir/evaluate.h"

namespace kiln::ir::rewrite {

namespace {

constexpr int kSlots = 4;

// What a rule's wildcards and constant wildcards matched.
struct Bindings {
  std::array<Expr, kSlots> wild;
  std::array<Expr, kSlots> constant;
};

Pattern binary(BinaryOp op, Pattern a, Pattern b) {
  return Pattern::node(Pattern::Kind::Binary, {std::move(a), std::move(b)}, op);
}

// Binds `slot` to `e`, or checks that it already holds an equal expression.
bool bind(Expr& slot, const Expr& e) {
  if (slot.defined()) return equal(slot, e);
  slot = e;
  return true;
}

bool match(const Pattern& p, const Expr& e, Bindings& bindings) {
  using Kind = Pattern::Kind;
  switch (p.kind) {
    case Kind::Wild: return bind(bindings.wild[p.slot], e);
    case Kind::Constant: return e.as<IntImm>() && bind(bindings.constant[p.slot], e);
    case Kind::Literal: {
      if (const IntImm* i = e.as<IntImm>()) return i->value == p.literal;
      if (const FloatImm* f = e.as<FloatImm>()) return f->value == static_cast<double>(p.literal);
      return false;
    }
    case Kind::Binary: {
      const Binary* op = e.as<Binary>();
      return op && op->op == p.op && match(p.operands[0], op->a, bindings) &&
             match(p.operands[1], op->b, bindings);
    }
    case Kind::Not: return e.as<Not>() && match(p.operands[0], e.as<Not>()->value, bindings);
    case Kind::Select: {
      const Select* op = e.as<Select>();
      return op && match(p.operands[0], op->condition, bindings) &&
             match(p.operands[1], op->true_value, bindings) && match(p.operands[2], op->false_value, bindings);
    }
    case Kind::Ramp: {
      const Ramp* op = e.as<Ramp>();
      return op && match(p.operands[0], op->base, bindings) && match(p.operands[1], op->stride, bindings);
    }
    case Kind::Broadcast:
      return e.as<Broadcast>() && match(p.operands[0], e.as<Broadcast>()->value, bindings);
    case Kind::Lower: case Kind::Upper: return false;  // only in replacements and conditions
  }
  return false;
}

// A literal of the given type: a float or integer constant, broadcast for a vector type.
Expr literal_of_type(int64_t value, Type t) {
  const Type element = t.element_of();
  Expr scalar = element.is_float() ? FloatImm::make(element, static_cast<double>(value))
                                   : IntImm::make(element, value);
  return t.is_vector() ? Broadcast::make(scalar, t.lanes) : scalar;
}

class Builder {
 public:
  Builder(const Bindings& bindings, const BoundsOf& bounds_of) : bindings_(bindings), bounds_of_(bounds_of) {}

  // Builds `p`; `type` is the type the result should have, which types its literals. Nothing if
  // a bound it needs is unknown.
  std::optional<Expr> build(const Pattern& p, Type type) {
    using Kind = Pattern::Kind;
    switch (p.kind) {
      case Kind::Wild: return bound(bindings_.wild[p.slot]);
      case Kind::Constant: return bound(bindings_.constant[p.slot]);
      case Kind::Literal: return literal_of_type(p.literal, type);
      case Kind::Binary: return build_binary(p, type);
      case Kind::Not: {
        std::optional<Expr> value = build(p.operands[0], type);
        if (!value) return std::nullopt;
        return Not::make(*value);
      }
      case Kind::Select: {
        std::optional<Expr> condition = build(p.operands[0], Type::boolean().with_lanes(type.lanes));
        std::optional<Expr> true_value = build(p.operands[1], type);
        std::optional<Expr> false_value = build(p.operands[2], type);
        if (!condition || !true_value || !false_value) return std::nullopt;
        return Select::make(*condition, *true_value, *false_value);
      }
      case Kind::Ramp: {
        std::optional<Expr> base = build(p.operands[0], type.element_of());
        std::optional<Expr> stride = build(p.operands[1], type.element_of());
        if (!base || !stride) return std::nullopt;
        return Ramp::make(*base, *stride, type.lanes);
      }
      case Kind::Broadcast: {
        std::optional<Expr> value = build(p.operands[0], type.element_of());
        if (!value) return std::nullopt;
        return Broadcast::make(*value, type.lanes);
      }
      case Kind::Lower: case Kind::Upper: {
        std::optional<Expr> e = build(p.operands[0], type);
        if (!e) return std::nullopt;
        const Interval bounds = bounds_of_(*e);
        const std::optional<int64_t> end = p.kind == Kind::Lower ? bounds.min : bounds.max;
        if (!end) return std::nullopt;
        return IntImm::make(e->type(), *end);
      }
    }
    return std::nullopt;
  }

 private:
  static std::optional<Expr> bound(const Expr& e) {
    KILN_CHECK(e.defined(), "a rewrite rule uses a wildcard its pattern does not bind");
    return e;
  }

  // A literal operand takes the type of the other operand, so `c2 - 1` stays in c2's type.
  std::optional<Expr> build_binary(const Pattern& p, Type type) {
    const bool a_is_literal = p.operands[0].kind == Pattern::Kind::Literal;
    const bool b_is_literal = p.operands[1].kind == Pattern::Kind::Literal;
    const bool gives_bool = is_comparison(p.op) || p.op == BinaryOp::And || p.op == BinaryOp::Or;
    // A comparison's operands have their own type; i64 types a comparison of two literals.
    const Type operand_type = gives_bool && !(p.op == BinaryOp::And || p.op == BinaryOp::Or)
                                  ? Type::index().with_lanes(type.lanes) : type;
    std::optional<Expr> a, b;
    if (a_is_literal && !b_is_literal) {
      b = build(p.operands[1], operand_type);
      if (b) a = literal_of_type(p.operands[0].literal, b->type());
    } else {
      a = build(p.operands[0], operand_type);
      if (a) b = b_is_literal ? literal_of_type(p.operands[1].literal, a->type()) : build(p.operands[1], operand_type);
    }
    if (!a || !b) return std::nullopt;
    return Binary::make(p.op, *a, *b);
  }

  const Bindings& bindings_;
  const BoundsOf& bounds_of_;
};

}  // namespace

Pattern Pattern::wild(int slot) {
  KILN_CHECK(slot >= 0 && slot < kSlots, "wildcard slot {}", slot);
  Pattern p(0);
  p.kind = Kind::Wild;
  p.slot = slot;
  return p;
}

Pattern Pattern::constant(int slot) {
  Pattern p = wild(slot);
  p.kind = Kind::Constant;
  return p;
}

Pattern Pattern::node(Kind kind, std::vector<Pattern> operands, BinaryOp op) {
  Pattern p(0);
  p.kind = kind;
  p.op = op;
  p.operands = std::move(operands);
  return p;
}

Pattern operator+(Pattern a, Pattern b) { return binary(BinaryOp::Add, std::move(a), std::move(b)); }
Pattern operator-(Pattern a, Pattern b) { return binary(BinaryOp::Sub, std::move(a), std::move(b)); }
Pattern operator*(Pattern a, Pattern b) { return binary(BinaryOp::Mul, std::move(a), std::move(b)); }
Pattern operator/(Pattern a, Pattern b) { return binary(BinaryOp::Div, std::move(a), std::move(b)); }
Pattern operator%(Pattern a, Pattern b) { return binary(BinaryOp::Mod, std::move(a), std::move(b)); }
Pattern operator<(Pattern a, Pattern b) { return binary(BinaryOp::LT, std::move(a), std::move(b)); }
Pattern operator<=(Pattern a, Pattern b) { return binary(BinaryOp::LE, std::move(a), std::move(b)); }
Pattern operator>(Pattern a, Pattern b) { return binary(BinaryOp::GT, std::move(a), std::move(b)); }
Pattern operator>=(Pattern a, Pattern b) { return binary(BinaryOp::GE, std::move(a), std::move(b)); }
Pattern operator==(Pattern a, Pattern b) { return binary(BinaryOp::EQ, std::move(a), std::move(b)); }
Pattern operator!=(Pattern a, Pattern b) { return binary(BinaryOp::NE, std::move(a), std::move(b)); }
Pattern operator&&(Pattern a, Pattern b) { return binary(BinaryOp::And, std::move(a), std::move(b)); }
Pattern operator||(Pattern a, Pattern b) { return binary(BinaryOp::Or, std::move(a), std::move(b)); }
Pattern operator!(Pattern a) { return Pattern::node(Pattern::Kind::Not, {std::move(a)}); }
Pattern min(Pattern a, Pattern b) { return binary(BinaryOp::Min, std::move(a), std::move(b)); }
Pattern max(Pattern a, Pattern b) { return binary(BinaryOp::Max, std::move(a), std::move(b)); }
Pattern select(Pattern c, Pattern t, Pattern f) {
  return Pattern::node(Pattern::Kind::Select, {std::move(c), std::move(t), std::move(f)});
}
Pattern ramp(Pattern base, Pattern stride) {
  return Pattern::node(Pattern::Kind::Ramp, {std::move(base), std::move(stride)});
}
Pattern broadcast(Pattern value) { return Pattern::node(Pattern::Kind::Broadcast, {std::move(value)}); }
Pattern lower(Pattern e) { return Pattern::node(Pattern::Kind::Lower, {std::move(e)}); }
Pattern upper(Pattern e) { return Pattern::node(Pattern::Kind::Upper, {std::move(e)}); }

std::optional<Expr> apply_first(std::span<const Rule> rules, const Expr& e, const BoundsOf& bounds_of) {
  for (const Rule& rule : rules) {
    Bindings bindings;
    if (!match(rule.before, e, bindings)) continue;
    Builder builder(bindings, bounds_of);
    const bool unconditional = rule.condition.kind == Pattern::Kind::Literal && rule.condition.literal != 0;
    if (!unconditional) {
      std::optional<Expr> condition = builder.build(rule.condition, Type::boolean());
      if (!condition) continue;
      std::optional<int64_t> holds = try_evaluate_int(*condition, {});
      if (!holds || *holds == 0) continue;
    }
    std::optional<Expr> result = builder.build(rule.after, e.type());
    if (!result) continue;
    KILN_CHECK(result->type() == e.type(), "a rewrite rule changed the type {} to {}",
               to_string(e.type()), to_string(result->type()));
    return result;
  }
  return std::nullopt;
}

}  // namespace kiln::ir::rewrite
