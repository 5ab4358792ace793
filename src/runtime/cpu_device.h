// The host CPU as a device: host memory, JIT-compiled kernels, a thread pool for parallel loops.
#pragma once

#include <map>
#include <mutex>
#include <unordered_map>

#include <memory>

#include "base/thread_pool.h"
#include "runtime/device.h"

namespace kiln::runtime {

class CpuDevice : public Device {
 public:
  // `threads` runs parallel loops (the launching thread counts as one); 0 uses every core.
  explicit CpuDevice(int threads = 0);

  std::string name() const override;
  Target target() const override;  // the host CPU, with this device's thread count
  int threads() const { return pool_.size(); }
  // The pool parallel loops run on; its chunks_run() shows which threads did the work.
  const ThreadPool& thread_pool() const { return pool_; }

  // 64-byte aligned (a cache line, an AVX-512 vector), never null, even for 0 bytes. Released
  // blocks of 64 KiB and more are kept (up to kCachedBytesLimit in all) and handed out again
  // for a request of up to their size and at least half of it: a model step allocates the same
  // sizes every time, and the C allocator would otherwise leave its peak memory mapped.
  Buffer allocate(size_t bytes) override;
  void release(Buffer& buffer) override;
  Buffer view(const Buffer& buffer, size_t offset, size_t bytes) override;
  size_t view_alignment() const override;  // 64: a cache line, an AVX-512 vector
  void write(Buffer& dst, const void* src, size_t bytes, size_t offset = 0) override;
  void read(void* dst, const Buffer& src, size_t bytes, size_t offset = 0) override;

  std::unique_ptr<LoadedKernel> load(const codegen::CompiledKernel& kernel) override;
  void launch(const LoadedKernel& kernel, std::span<Buffer* const> buffers,
              std::span<const int64_t> sizes) override;

  ~CpuDevice() override;
  static constexpr size_t kCachedBytesLimit = size_t{512} << 20;

 private:
  ThreadPool pool_;
  std::mutex cache_mutex_;
  std::multimap<size_t, void*> cached_;            // released blocks by size
  std::unordered_map<void*, size_t> block_bytes_;  // every cached-size block handed out, by address
  size_t cached_bytes_ = 0;
};

}  // namespace kiln::runtime
