// Rewrite rules as data: a tiny pattern language for the simplifier's rule tables, after
// Halide's `rewrite(x + 0, x)` and tinygrad's (pattern, replacement) pairs.
//
//   {(x * c1) / c2, x * (c1 / c2), c2 != 0 && c1 % c2 == 0}
//
// reads "(x * c1) / c2 becomes x * (c1 / c2) when c2 != 0 and c1 % c2 == 0". In a pattern,
// wildcards x, y, z, w match any expression (a repeated one must match equal expressions),
// c1, c2, c3 match integer constants, and a literal number matches only that constant. The
// replacement is built from what matched; constants in it (`c1 / c2`) are folded later by the
// simplifier. The condition is evaluated on the matched constants with the IR's own integer
// semantics and must come out true; one that divides by zero or overflows is false.
// `lower(e)` and `upper(e)` are e's constant bounds; a rule that needs an unknown bound does not
// apply.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "kernel/ir/bounds.h"
#include "kernel/ir/expr.h"

namespace kiln::ir::rewrite {

class Pattern {
 public:
  enum class Kind : uint8_t { Wild, Constant, Literal, Binary, Not, Select, Ramp, Broadcast, Lower, Upper };

  Pattern(int value) : kind(Kind::Literal), literal(value) {}  // NOLINT: reads as `x + 0`
  static Pattern wild(int slot);
  static Pattern constant(int slot);
  static Pattern node(Kind kind, std::vector<Pattern> operands, BinaryOp op = BinaryOp::Add);

  Kind kind;
  int slot = 0;            // Wild, Constant
  int64_t literal = 0;     // Literal
  BinaryOp op = BinaryOp::Add;  // Binary
  std::vector<Pattern> operands;
};

Pattern operator+(Pattern a, Pattern b);
Pattern operator-(Pattern a, Pattern b);
Pattern operator*(Pattern a, Pattern b);
Pattern operator/(Pattern a, Pattern b);
Pattern operator%(Pattern a, Pattern b);
Pattern operator<(Pattern a, Pattern b);
Pattern operator<=(Pattern a, Pattern b);
Pattern operator>(Pattern a, Pattern b);
Pattern operator>=(Pattern a, Pattern b);
Pattern operator==(Pattern a, Pattern b);
Pattern operator!=(Pattern a, Pattern b);
Pattern operator&&(Pattern a, Pattern b);
Pattern operator||(Pattern a, Pattern b);
Pattern operator!(Pattern a);
Pattern min(Pattern a, Pattern b);
Pattern max(Pattern a, Pattern b);
Pattern select(Pattern condition, Pattern true_value, Pattern false_value);
Pattern ramp(Pattern base, Pattern stride);  // lanes: those of the matched expression
Pattern broadcast(Pattern value);
Pattern lower(Pattern e);
Pattern upper(Pattern e);

struct Rule {
  Pattern before;
  Pattern after;
  Pattern condition = 1;
};

// Constant bounds of an expression in the simplifier's current scope.
using BoundsOf = std::function<Interval(const Expr&)>;

// The replacement from the first rule that matches `e` and whose condition holds; nothing if
// none does. The replacement has e's type.
std::optional<Expr> apply_first(std::span<const Rule> rules, const Expr& e, const BoundsOf& bounds_of);

}  // namespace kiln::ir::rewrite
