// Chains of packed-byte dot products, dot(dot(dot(acc, a1, b1), a2, b2) ..): how a chain
// unfolds into its terms, and which consecutive terms may add their byte pairs in 16 bits (on
// targets whose byte multiply-add stops at i16). The lowering pass that steps chains across a
// register tile and the LLVM back end that emits them read both from here.
#pragma once

#include <cstdint>
#include <vector>

#include "kernel/ir/expr.h"

namespace kiln::ir {

// A chain's terms, innermost first (each a DotU8S8 or DotS8S8 call of the same kind), and the
// accumulator the innermost adds to.
struct DotChain {
  Intrinsic op;
  Expr start;
  std::vector<const Call*> terms;
};

// `outer` and the calls of its kind nested in its accumulator.
DotChain unfold_dot_chain(const Call* outer);

// A pair of byte products a * b (pmaddubsw's), a's bytes at most `a_max` (and at most 127,
// DotU8S8's licence), b's signed: its largest magnitude, 2 * min(a_max, 127) * 128.
int64_t byte_pair_bound(int a_max);

// A chain of DotU8S8 terms whose a's bytes are at most `a_max` (in order), cut into runs whose
// pairs' bounds add up to at most 32767: the sizes of the runs, which a back end without a
// byte dot product into i32 can add in i16 and widen once each.
std::vector<int> i16_runs(const std::vector<int>& a_max);

}  // namespace kiln::ir
