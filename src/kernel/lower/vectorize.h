// Vectorization: every `vectorized` loop becomes its body computed on vectors, Halide-style.
//
// The loop variable becomes ramp(min, 1, lanes) and every expression that depends on it is
// widened: scalars meeting vectors are broadcast, loads and stores at vector indices become
// vector loads and stores, lets of vector values become vector lets. Inside the loop:
//   - serial and unrolled loops stay loops, with widened bodies;
//   - a register or local allocation gets one copy per lane, lane-interleaved
//     (buf[i] -> buf[i * lanes + ramp(0, 1, lanes)]), so per-lane accumulators work;
//   - an `if` on a lane-varying condition predicates its stores as read-modify-write
//     (buf[i] = select(cond, new, buf[i])), so every lane's element is read and written: the
//     condition may choose values, but must not guard against out-of-bounds accesses;
//   - `buf[i] = buf[i] OP f(var)` with i independent of the loop variable and OP one of +, min,
//     max is a horizontal reduction: buf[i] = buf[i] OP reduce_OP(f(ramp)). Float sums are
//     reassociated, as any vectorized reduction is.
// Anything else that cannot be widened (another store to a lane-invariant element from a
// lane-varying value, nested vectorized or parallel loops, a barrier under a lane-varying
// condition) is an InternalError naming the loop: the schedule asked for something illegal.
#pragma once

#include "kernel/ir/stmt.h"

namespace kiln::ir {

Stmt vectorize_loops(const Stmt& s);

}  // namespace kiln::ir
