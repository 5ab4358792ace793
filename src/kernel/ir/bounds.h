// Constant bounds of integer index expressions: what the simplifier needs to prove, say, that
// `k % 8` is `k` when 0 <= k < 8.
//
// Bounds hold for signed integer expressions under C's rule that signed arithmetic does not
// overflow; an end that is unknown (or would overflow int64) is left empty.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "kernel/ir/expr.h"

namespace kiln::ir {

// Every value of an expression lies in [min, max]; an empty end is unbounded.
struct Interval {
  std::optional<int64_t> min, max;

  static Interval everything() { return {}; }
  static Interval constant(int64_t value) { return {value, value}; }
};

// Known ranges of variables (loop variables, lets, size parameters known to be >= 0).
using VarBounds = std::map<std::string, Interval>;

// Bounds of a scalar signed-integer or bool expression; everything() for other types.
Interval constant_bounds(const Expr& e, const VarBounds& vars);

}  // namespace kiln::ir
