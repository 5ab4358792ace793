// The simplifier: folds constants and applies a table of algebraic rewrite rules to index
// arithmetic (src/kernel/ir/simplify.cpp lists them, one comment each), and removes statements
// that do nothing (empty loops, branches on constants, empty blocks).
//
// Every rule is exact for all values under C semantics: integer division truncates, unsigned
// arithmetic wraps, and signed arithmetic is assumed not to overflow (as C does). Float
// arithmetic is only constant-folded (in the constant's own precision), never reassociated.
// Rules that need a sign or a range (such as (x * 8 + y) / 8 -> x when 0 <= y < 8) use constant
// bounds from enclosing loops, lets and the caller's `known` ranges.
#pragma once

#include "kernel/ir/bounds.h"
#include "kernel/ir/expr.h"
#include "kernel/ir/stmt.h"

namespace kiln::ir {

Expr simplify(const Expr& e, const VarBounds& known = {});
Stmt simplify(const Stmt& s, const VarBounds& known = {});

// Whether `s` does nothing: the empty Block that simplify leaves for removed statements.
bool is_no_op(const Stmt& s);

}  // namespace kiln::ir
