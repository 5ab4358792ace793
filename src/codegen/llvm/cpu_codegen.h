// Loop IR -> host machine code: LLVM IR for the host CPU's exact features, optimized at O3 and
// loaded into the process by ORC. No LLVM types in this header.
//
// Parallel loops become outlined functions `void body(void* closure, int64_t i)` handed to
// `kiln_parallel_for` (base/thread_pool.h), which runs them on the launching thread's pool.
#pragma once

#include <string>

#include "codegen/artifact.h"
#include "kernel/ir/kernel.h"

namespace kiln::codegen {

struct CpuCodegenOptions {
  int opt_level = 3;       // 0..3, as -O
  bool fast_math = false;  // all fast-math flags; off keeps IEEE results but for a*b+c fused (ReduceAdd may reassociate)
  // The target; empty means the host's. Code for another CPU is for dumps (`--dump asm`), and
  // compile_cpu refuses it since it would run here.
  std::string cpu;          // e.g. "znver5"
  std::string features;     // e.g. "+avx512f,-avx512bf16"; with `cpu` set and this empty: the CPU's own
};

// Compiles the kernel for the CPU and loads it into this process. Compiled objects are cached
// on disk by content hash (kernel_cache_dir()), so a second compile of the same kernel only loads.
// Throws InternalError for IR that breaks an invariant (an unbound name, a GPU loop).
CompiledKernel compile_cpu(const ir::Kernel& kernel, const CpuCodegenOptions& options = {});

// Text of each stage, for `kiln compile --dump llvm|asm`.
std::string emit_llvm_ir(const ir::Kernel& kernel, const CpuCodegenOptions& options = {});  // optimized
std::string emit_host_assembly(const ir::Kernel& kernel, const CpuCodegenOptions& options = {});

// The host CPU as LLVM names it and its features: "znver5 (+avx512f,+avx512bw,...)".
std::string host_cpu_description();

// Where compiled objects are kept: $KILN_CACHE, else $XDG_CACHE_HOME/kiln/kernels, else
// ~/.cache/kiln/kernels. Empty when caching is off (KILN_CACHE=off).
std::string kernel_cache_dir();

}  // namespace kiln::codegen
