// Which bits of an integer expression can be 1: what a back end needs to know that, say, every
// byte of `(w >> 4) & 0x0f0f0f0f` is at most 15, so sums of its byte products fit in 16 bits.
#pragma once

#include <cstdint>
#include <vector>

#include "kernel/ir/expr.h"

namespace kiln::ir {

// A mask of the bits (of the type's width, at most 64) that some lane of `e` may have set; all
// of the type's bits where nothing narrower is known. Exact for constants, and, or, xor,
// shifts by constants, selects, zero-extending casts and reinterpretations between integers.
uint64_t possible_bits(const Expr& e);

// The largest unsigned value any byte of any lane of `e` (an integer) can hold.
int max_byte(const Expr& e);

// A pair of byte products a * b (pmaddubsw's), a's bytes at most `a_max` (and at most 127,
// DotU8S8's licence), b's signed: its largest magnitude, 2 * min(a_max, 127) * 128.
int64_t byte_pair_bound(int a_max);

// A chain of DotU8S8 terms whose a's bytes are at most `a_max` (in order), cut into runs whose
// pairs' bounds add up to at most 32767: the sizes of the runs, which a back end without a
// byte dot product into i32 can add in i16 and widen once each.
std::vector<int> i16_runs(const std::vector<int>& a_max);

}  // namespace kiln::ir
