// Lowering: a compute definition plus its schedule becomes loop IR kernels, through a short
// list of named passes (lower.cpp reads as that list):
//   loop_nest         the schedule's loops, accumulators and staging (loop_nest.h)
//   simplify          index arithmetic folded (ir/simplify.h)
//   vectorize         vectorized loops become vector expressions (vectorize.h), CPU only
//   simplify_vectors  the vector code simplified
//   dot_chain_steps   packed-byte dot chains in a register tile computed a step at a time
//                     across the tile (dot_chain_steps.h), CPU only, where there are any
//   gpu_launch        grid and work-group sizes from the GPU loops, shared memory checked
//                     (gpu_launch.h), GPU only
//   gpu_ids           GPU loops become block and thread ids, guarded where shorter than the
//                     launch (gpu_ids.h), GPU only
// The loop-IR verifier (ir/verify.h) runs after every pass.
//
// Every root stage becomes one kernel (a GPU cannot wait for the whole grid inside a kernel, so
// a stage that reads another root stage's result runs after it, as the next kernel). Stages
// computed at a consumer's loop live in that consumer's kernel, in registers or shared memory;
// inline stages are substituted into their readers. Root stages that are not outputs of the
// definition are scratch buffers, passed from kernel to kernel by the caller.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/target.h"
#include "kernel/ir/kernel.h"
#include "kernel/schedule/schedule.h"

namespace kiln::kernel {

struct ScratchBuffer {
  std::string name;
  ir::Type element_type;
  ir::Expr elements;  // over the definition's size parameters
};

struct LoweredOp {
  std::string name;
  std::vector<ir::Kernel> kernels;  // run in this order
  std::vector<ScratchBuffer> scratch;
};

struct LowerOptions {
  bool gpu = false;  // fill Kernel::grid/block from the GPU loops, which must be there
  bool vectorize = true;
  bool map_gpu_ids = false;  // GPU: GPU loops become block and thread ids (the gpu_ids pass)
  int64_t shared_memory_bytes = 0;  // GPU: what a work-group's shared allocations may total
  // Called with each kernel after each pass that ran (`kiln compile --dump passes`).
  std::function<void(const std::string& pass, const ir::Kernel&)> after_pass;

  static LowerOptions for_target(const Target& target) {
    return {.gpu = target.is_gpu(),
            .vectorize = !target.is_gpu(),
            .map_gpu_ids = target.is_gpu(),
            .shared_memory_bytes = target.shared_memory_bytes};
  }
};

// The passes in the order they run; a pass that does not apply (vectorize on a GPU) is skipped.
const std::vector<std::string>& lowering_pass_names();

LoweredOp lower(const Schedule& schedule, const LowerOptions& options = {});

}  // namespace kiln::kernel
