// Loops shrunk to the points a stage needs (Stage::predicate): causal attention's scores and
// weighted sum skip the keys after each query's position instead of computing the masked half.
#pragma once

#include "kernel/ir/stmt.h"

namespace kiln::kernel {

// `body` (a stage's loop nest) with each serial or parallel loop's range cut to the values for
// which some point of the loops inside it can satisfy `predicate` (a conjunction of
// comparisons affine in the loop variables, written over the nest's names for the stage's
// axes, which lets in `body` define from the loop variables; names bound outside `body` are
// fixed while it runs). Where a bound cannot be derived (a coefficient that is not constant,
// a name defined twice inside) the loop keeps its range: the cut only ever drops points where
// the predicate is false.
ir::Stmt clip_loops(const ir::Stmt& body, const ir::Expr& predicate);

}  // namespace kiln::kernel
