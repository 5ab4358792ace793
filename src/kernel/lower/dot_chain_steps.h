// Packed-byte dot chains in a register tile, computed a step at a time across the tile.
//
// An unrolled tile loop whose statement sums a chain dot(dot(dot(acc, a1, b1), a2, b2) ..)
// computed each row's whole chain in turn. The a's (a weight group's words) are the same for
// every row, so the back end kept all of them, and what it derives from them (their absolute
// values for signed bytes), live across the rows: 16 vectors on AVX2's 16 registers, spilled
// to the stack in every group. Here the chain is cut into steps, each a loop over the tile
// adding one step's products to a per-row accumulator (a register buffer), so each a is live
// for one step only:
//
//   unrolled (ii) { out[ii] = out[ii] + f32(dot(dot(0, a1, x1[ii]), a2, x2[ii])) * s }
// becomes
//   allocate steps: i32[rows * lanes] register {
//     unrolled (ii) { steps[ii] = dot(0, a1, x1[ii]) }
//     unrolled (ii) { steps[ii] = dot(steps[ii], a2, x2[ii]) }
//     unrolled (ii) { out[ii] = out[ii] + f32(steps[ii]) * s }
//   }
//
// A step is a run of terms whose byte-pair sums fit in 16 bits together (ir::i16_runs), so a
// back end that adds them in i16 still does: a chain of 4-bit weights stays one step.
#pragma once

#include "kernel/ir/stmt.h"

namespace kiln::kernel {

ir::Stmt step_dot_chains(const ir::Stmt& body);

}  // namespace kiln::kernel
