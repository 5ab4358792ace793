// Lowering's last GPU pass: the GPU loops become block and thread ids (SPMD), as every GPU back
// end runs them. `gpu_block.x (i, 0, rows) body` becomes `let i = gpu_block_id(0)` around the
// body, and a loop shorter than the launch along its dimension keeps only its own iterations
// under a guard (`if (i < rows)`). The launch shape (Kernel::grid, Kernel::block, from the
// gpu_launch pass) must already be set. Back ends print the ids (OpenCL: get_group_id and
// get_local_id; NVPTX and AMDGPU: their id registers) and never see a GPU loop.
#pragma once

#include "kernel/ir/kernel.h"

namespace kiln::kernel {

// InternalError if a loop is longer than the launch gives along its dimension.
void map_gpu_ids(ir::Kernel& kernel);

// Whether the kernel still has GPU loops (a kernel built by hand, not by lower()).
bool has_gpu_loops(const ir::Kernel& kernel);

}  // namespace kiln::kernel
