// A device: memory, loading compiled kernels, launching them. The runtime runs code that
// src/codegen produced and never compiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/target.h"
#include "codegen/artifact.h"

namespace kiln::runtime {

// Device memory. Owned by the device that allocated it; released with Device::release.
struct Buffer {
  void* handle = nullptr;  // host pointer on the CPU, cl_mem on OpenCL
  size_t bytes = 0;
  bool is_view = false;    // a window on another buffer (Device::view); release frees no memory
};

// A kernel loaded onto a device, ready to launch.
class LoadedKernel {
 public:
  virtual ~LoadedKernel() = default;
  virtual const codegen::KernelSignature& signature() const = 0;
};

class Device {
 public:
  virtual ~Device() = default;
  virtual std::string name() const = 0;  // "cpu", "opencl:0 (pthread-...)"
  // What the compiler needs to know to generate code for this device: its target description.
  virtual Target target() const = 0;

  virtual Buffer allocate(size_t bytes) = 0;
  virtual void release(Buffer& buffer) = 0;
  virtual void write(Buffer& dst, const void* src, size_t bytes, size_t offset = 0) = 0;
  virtual void read(void* dst, const Buffer& src, size_t bytes, size_t offset = 0) = 0;
  // `bytes` of `buffer` from `offset` as a buffer of its own (rows of a KV cache), released with
  // release() before `buffer` is. The offset must be a multiple of view_alignment().
  virtual Buffer view(const Buffer& buffer, size_t offset, size_t bytes) = 0;
  virtual size_t view_alignment() const = 0;

  // Throws UserError if the kernel's code is not for this device or fails to build.
  virtual std::unique_ptr<LoadedKernel> load(const codegen::CompiledKernel& kernel) = 0;
  // Buffers and sizes in the kernel's signature order. Returns when the kernel has finished.
  virtual void launch(const LoadedKernel& kernel, std::span<Buffer* const> buffers,
                      std::span<const int64_t> sizes) = 0;
};

// Opens a device by name: "cpu", "opencl" (the first OpenCL device) or "opencl:N".
// An unknown name or a missing OpenCL platform is a UserError that says what is available.
std::unique_ptr<Device> open_device(std::string_view name, int cpu_threads = 0);

}  // namespace kiln::runtime
