// Default schedule rules: for each stage, the primitives that suit its pattern on a target.
// Correct first; speed (tiling, packing, tuning) comes later, through the knobs here.
#pragma once

#include "kernel/schedule/schedule.h"

namespace kiln::kernel {

enum class TargetKind { Cpu, Gpu };

struct ScheduleKnobs {
  int cpu_vector_lanes = 16;  // f32 lanes of one AVX-512 register
  int gpu_threads = 64;       // work-group size; a power of two
};

// The stages' pattern decides: element-wise stages are vectorized and parallel (CPU) or spread
// over blocks and threads (GPU); reductions read by a later stage at that stage's own axes are
// computed inside it (per row, in registers or shared memory); other reductions become their
// own kernel, reduced with vector lanes (CPU) or across a work-group (GPU).
Schedule default_schedule(const ComputeDef& def, TargetKind target, const ScheduleKnobs& knobs = {});

}  // namespace kiln::kernel
