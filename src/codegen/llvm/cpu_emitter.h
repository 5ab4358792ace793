// The CPU side of loop IR -> LLVM IR: the kernel's entry point, parallel loops outlined for the
// thread pool, heap allocations.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <llvm/IR/Module.h>
#include <llvm/MC/MCSubtargetInfo.h>

#include "kernel/ir/kernel.h"

namespace kiln::codegen {

// The entry point's symbol: "kiln.<kernel name>", so that no kernel name (an op called "exp")
// can take the place of a C library function the code calls.
std::string cpu_entry_symbol(const std::string& kernel_name);

// Defines in `module` the kernel's entry point
//   void <cpu_entry_symbol>(void* const* buffers, const int64_t* sizes)
// and the functions it needs. `function_attributes` ("target-cpu", ...) go on every function;
// `subtarget` says which instructions the code may use directly (dot products).
void emit_cpu_kernel(llvm::Module& module, const ir::Kernel& kernel,
                     std::vector<std::pair<std::string, std::string>> function_attributes,
                     bool fast_math, const llvm::MCSubtargetInfo* subtarget);

}  // namespace kiln::codegen
