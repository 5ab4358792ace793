// What code generation hands the runtime: compiled code plus the kernel's signature.
// No LLVM or OpenCL headers here: the runtime includes this file and never compiles anything
// itself (OpenCL source is built by the OpenCL driver when a device loads it).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace kiln::codegen {

// Host machine code, JIT-compiled in process. `owner` keeps the JIT session (and so the code)
// alive. Entry point ABI: buffers in signature order, then symbolic sizes in signature order.
struct CpuCode {
  using Entry = void (*)(void* const* buffers, const int64_t* sizes);
  std::shared_ptr<void> owner;
  Entry entry = nullptr;
};

// OpenCL C source of one kernel function named `function_name`. Arguments: each buffer as a
// __global pointer, then each size as a long, in signature order.
struct OpenCLCode {
  std::string source;
  std::string function_name;
};

struct KernelSignature {
  std::string name;
  std::vector<std::string> buffers;      // names, in argument order
  std::vector<bool> buffer_is_output;
  std::vector<std::string> size_params;  // names, in argument order
};

// Work-group count and size along x, y, z for given symbolic sizes (GPU-style kernels).
using LaunchShape = std::function<void(const int64_t* sizes, std::array<int64_t, 3>& grid,
                                       std::array<int64_t, 3>& block)>;

struct CompiledKernel {
  KernelSignature signature;
  std::variant<CpuCode, OpenCLCode> code;
  LaunchShape launch_shape;  // set for OpenCLCode
};

}  // namespace kiln::codegen
