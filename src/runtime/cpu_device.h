// The host CPU as a device: host memory, JIT-compiled kernels, a thread pool for parallel loops.
#pragma once

#include <memory>

#include "base/thread_pool.h"
#include "runtime/device.h"

namespace kiln::runtime {

class CpuDevice : public Device {
 public:
  // `threads` runs parallel loops (the launching thread counts as one); 0 uses every core.
  explicit CpuDevice(int threads = 0);

  std::string name() const override;
  int threads() const { return pool_.size(); }

  // 64-byte aligned (a cache line, an AVX-512 vector), never null, even for 0 bytes.
  Buffer allocate(size_t bytes) override;
  void release(Buffer& buffer) override;
  Buffer view(const Buffer& buffer, size_t offset, size_t bytes) override;
  void write(Buffer& dst, const void* src, size_t bytes, size_t offset = 0) override;
  void read(void* dst, const Buffer& src, size_t bytes, size_t offset = 0) override;

  std::unique_ptr<LoadedKernel> load(const codegen::CompiledKernel& kernel) override;
  void launch(const LoadedKernel& kernel, std::span<Buffer* const> buffers,
              std::span<const int64_t> sizes) override;

 private:
  ThreadPool pool_;
};

}  // namespace kiln::runtime
