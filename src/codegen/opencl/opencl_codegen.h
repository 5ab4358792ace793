// OpenCL C back end: loop IR -> OpenCL C source text, built by the OpenCL driver when a device
// loads it (src/runtime/opencl_device.cpp). Needs no OpenCL headers: it only writes text.
//
// A GPU-style kernel arrives SPMD, its GPU loops mapped to ids by lowering (kernel/lower/
// gpu_ids.h): `gpu_block_id(d)` prints as `get_group_id(d)`, `gpu_thread_id(d)` as
// `get_local_id(d)` (a kernel made by hand with GPU loops is mapped here first); the launch
// (LaunchShape, from Kernel::grid/block) supplies the iterations. Shared allocations become
// `__local` arrays at kernel function scope.
//
// Limits of the target, refused with an InternalError naming the node: vector widths other than
// 2, 3, 4, 8, 16; Global allocations (the runtime passes global temporaries as buffers);
// Reinterpret of f16. f16 values are stored as halves (vload_half/vstore_half, no cl_khr_fp16
// needed) and computed in f32.
#pragma once

#include "codegen/artifact.h"
#include "kernel/ir/kernel.h"

namespace kiln::codegen {

// OpenCL C source of `kernel` as one __kernel function, with the helper functions it needs.
OpenCLCode emit_opencl(const ir::Kernel& kernel);

// The source plus the kernel's signature and a LaunchShape that evaluates kernel.grid/block for
// given sizes (a dimension without a GpuBlock/GpuThread loop has size 1).
CompiledKernel compile_opencl(const ir::Kernel& kernel);

}  // namespace kiln::codegen
