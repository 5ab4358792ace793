// Which bits of an integer expression can be 1: what a back end needs to know that, say, every
// byte of `(w >> 4) & 0x0f0f0f0f` is at most 15, so sums of its byte products fit in 16 bits.
#pragma once

#include <cstdint>

#include "kernel/ir/expr.h"

namespace kiln::ir {

// A mask of the bits (of the type's width, at most 64) that some lane of `e` may have set; all
// of the type's bits where nothing narrower is known. Exact for constants, and, or, xor,
// shifts by constants, selects, zero-extending casts and reinterpretations between integers.
uint64_t possible_bits(const Expr& e);

// The largest unsigned value any byte of any lane of `e` (an integer) can hold.
int max_byte(const Expr& e);

}  // namespace kiln::ir
