// Lowering's GPU pass: the launch shape of a kernel whose loops are bound to the grid and the
// work-group, and the checks a GPU places on it.
//
// The grid and work-group sizes along x, y, z come from the GpuBlock and GpuThread loops (every
// thread loop of one dimension must agree: they share the work-group). The kernel's shared
// allocations together must fit the target's shared memory. Back ends (OpenCL today, NVPTX and
// AMDGPU next) read Kernel::grid and Kernel::block and map each GPU loop to a block or thread
// id, guarding where the loop is shorter than the launch.
#pragma once

#include <cstdint>

#include "kernel/ir/kernel.h"

namespace kiln::kernel {

// Sets kernel.grid and kernel.block from its GPU loops. InternalError if thread loops of one
// dimension differ, or its shared memory exceeds `shared_memory_bytes`.
void map_gpu_launch(ir::Kernel& kernel, int64_t shared_memory_bytes);

}  // namespace kiln::kernel
