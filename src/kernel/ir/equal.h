// Structural equality of expressions: the same kinds, types, names and constants, all the way
// down. Two separately built `x * 4` are equal; the simplifier's rules such as x - x -> 0 use it.
#pragma once

#include "kernel/ir/expr.h"

namespace kiln::ir {

bool equal(const Expr& a, const Expr& b);

}  // namespace kiln::ir
