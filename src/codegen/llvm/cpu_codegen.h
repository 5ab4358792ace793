// Loop IR -> host machine code: LLVM IR for the host CPU's exact features, optimized at O3 and
// loaded into the process by ORC. No LLVM types in this header.
//
// Parallel loops become outlined functions `void body(void* closure, int64_t i)` handed to
// `kiln_parallel_for` (base/thread_pool.h), which runs them on the launching thread's pool.
#pragma once

#include <cstdint>
#include <string>

#include "base/target.h"
#include "codegen/artifact.h"
#include "codegen/kernel_cache.h"
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
// on disk by content hash (kernel_cache_dir(), codegen/kernel_cache.h), so a second compile of
// the same kernel, in this process or a later one, only loads.
// Throws InternalError for IR that breaks an invariant (an unbound name, a GPU loop).
CompiledKernel compile_cpu(const ir::Kernel& kernel, const CpuCodegenOptions& options = {});

// Text of each stage, for `kiln compile --dump llvm|asm`.
std::string emit_llvm_ir(const ir::Kernel& kernel, const CpuCodegenOptions& options = {});  // optimized
std::string emit_host_assembly(const ir::Kernel& kernel, const CpuCodegenOptions& options = {});

// The host CPU as LLVM names it and its features: "znver5 (+avx512f,+avx512bw,...)".
std::string host_cpu_description();

// The features of a CPU LLVM knows by name ("znver4", "haswell"), for its target description.
// An unknown name is a UserError.
CpuFeatures named_cpu_features(const std::string& cpu);

// What compile_cpu has done in this process, counted over every thread. The JIT keeps no
// compiled code in memory by kernel, so each compile_cpu call is one LLVM compile or one load
// from the disk cache; launching a loaded kernel, at any sizes, counts nothing.
struct CpuCompileStats {
  int64_t llvm_compiles = 0;  // objects optimized and emitted by LLVM
  int64_t cache_loads = 0;    // objects read back from the disk cache instead
  int64_t cache_rejects = 0;  // cache entries found damaged (then compiled and overwritten)

  int64_t kernels() const { return llvm_compiles + cache_loads; }  // compile_cpu calls that succeeded
};
CpuCompileStats cpu_compile_stats();

}  // namespace kiln::codegen
