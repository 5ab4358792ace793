// The process-wide ORC JIT that host kernels are loaded into. Each object gets its own JITDylib,
// removed when the last copy of its CpuCode::owner goes.
#pragma once

#include <string>
#include <string_view>

#include "codegen/artifact.h"

namespace kiln::codegen {

// Registers LLVM's host target, asm printer and parser, once.
void initialize_native_target();

// Links a relocatable object compiled for this host into the process and returns `entry_symbol`.
// The object may call kiln_parallel_for, malloc, free and the C math library.
// Throws InternalError if it does not link.
CpuCode load_host_object(std::string_view object, const std::string& entry_symbol);

}  // namespace kiln::codegen
