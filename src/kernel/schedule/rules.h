// Default schedule rules: for each stage, the primitives that suit its pattern on a target.
// Every number a rule uses (vector lanes, work-group threads, tile shapes) comes from the
// target description; a rule never asks which chip it is.
#pragma once

#include "base/target.h"
#include "kernel/schedule/schedule.h"

namespace kiln::kernel {

// The stages' pattern decides: element-wise stages are vectorized and parallel (CPU) or spread
// over blocks and threads (GPU); reductions read by a later stage at that stage's own axes are
// computed inside it (per row, in registers or shared memory); other reductions become their
// own kernel, reduced with vector lanes (CPU) or across a work-group (GPU).
Schedule default_schedule(const ComputeDef& def, const Target& target);

}  // namespace kiln::kernel
