// A kernel's signature from its loop IR: what every back end hands the runtime beside the code
// (buffers in argument order, which are written, then the size parameters). One place, so a
// new back end (NVPTX, AMDGPU) does not write it again.
#pragma once

#include "codegen/artifact.h"
#include "kernel/ir/kernel.h"

namespace kiln::codegen {

inline KernelSignature signature_of(const ir::Kernel& kernel) {
  KernelSignature signature;
  signature.name = kernel.name;
  for (const ir::BufferParam& buffer : kernel.buffers) {
    signature.buffers.push_back(buffer.name);
    signature.buffer_is_output.push_back(buffer.is_output);
  }
  signature.size_params = kernel.size_params;
  return signature;
}

}  // namespace kiln::codegen
