#include "runtime/cpu_device.h"

#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/error.h"

namespace kiln::runtime {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kCachedBlockMin = size_t{64} << 10;

class CpuKernel : public LoadedKernel {
 public:
  CpuKernel(codegen::KernelSignature signature, codegen::CpuCode code)
      : signature_(std::move(signature)), code_(std::move(code)) {}
  const codegen::KernelSignature& signature() const override { return signature_; }
  const codegen::CpuCode& code() const { return code_; }

 private:
  codegen::KernelSignature signature_;
  codegen::CpuCode code_;
};

void check_range(const char* what, size_t buffer_bytes, size_t bytes, size_t offset) {
  if (offset > buffer_bytes || bytes > buffer_bytes - offset) {
    user_error("cpu: {} of {} bytes at offset {} is outside a buffer of {} bytes", what, bytes, offset, buffer_bytes);
  }
}

}  // namespace

CpuDevice::CpuDevice(int threads) : pool_(threads) {}

std::string CpuDevice::name() const { return "cpu (" + std::to_string(pool_.size()) + " threads)"; }

Target CpuDevice::target() const {
  Target t = host_cpu_target();
  t.threads = pool_.size();
  return t;
}

CpuDevice::~CpuDevice() {
  for (const auto& [bytes, memory] : cached_) std::free(memory);
}

Buffer CpuDevice::allocate(size_t bytes) {
  const size_t rounded = (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded >= kCachedBlockMin) {
    std::lock_guard lock(cache_mutex_);
    auto it = cached_.lower_bound(rounded);
    if (it != cached_.end() && it->first <= 2 * rounded) {
      void* memory = it->second;
      cached_bytes_ -= it->first;
      cached_.erase(it);
      return Buffer{memory, bytes};
    }
  }
  void* memory = std::aligned_alloc(kAlignment, rounded);
  if (!memory) user_error("cpu: cannot allocate {} bytes", bytes);
  if (rounded >= kCachedBlockMin) {
    std::lock_guard lock(cache_mutex_);
    block_bytes_[memory] = rounded;
  }
  return Buffer{memory, bytes};
}

void CpuDevice::release(Buffer& buffer) {
  if (buffer.is_view || buffer.handle == nullptr) {
    buffer = Buffer{};
    return;
  }
  std::lock_guard lock(cache_mutex_);
  auto block = block_bytes_.find(buffer.handle);
  if (block == block_bytes_.end()) {
    std::free(buffer.handle);
  } else {
    cached_.emplace(block->second, buffer.handle);
    cached_bytes_ += block->second;
    // Over the limit: the largest blocks go back to the C allocator.
    while (cached_bytes_ > kCachedBytesLimit) {
      auto largest = std::prev(cached_.end());
      cached_bytes_ -= largest->first;
      block_bytes_.erase(largest->second);
      std::free(largest->second);
      cached_.erase(largest);
    }
  }
  buffer = Buffer{};
}

size_t CpuDevice::view_alignment() const { return kAlignment; }

Buffer CpuDevice::view(const Buffer& buffer, size_t offset, size_t bytes) {
  check_range("a view", buffer.bytes, bytes, offset);
  return Buffer{static_cast<uint8_t*>(buffer.handle) + offset, bytes, true};
}

void CpuDevice::write(Buffer& dst, const void* src, size_t bytes, size_t offset) {
  check_range("a write", dst.bytes, bytes, offset);
  if (bytes) std::memcpy(static_cast<char*>(dst.handle) + offset, src, bytes);
}

void CpuDevice::read(void* dst, const Buffer& src, size_t bytes, size_t offset) {
  check_range("a read", src.bytes, bytes, offset);
  if (bytes) std::memcpy(dst, static_cast<const char*>(src.handle) + offset, bytes);
}

std::unique_ptr<LoadedKernel> CpuDevice::load(const codegen::CompiledKernel& kernel) {
  const auto* code = std::get_if<codegen::CpuCode>(&kernel.code);
  if (!code || !code->entry) {
    user_error("cpu: kernel {} was not compiled for the CPU; compile it for the device it runs on",
               kernel.signature.name);
  }
  return std::make_unique<CpuKernel>(kernel.signature, *code);
}

void CpuDevice::launch(const LoadedKernel& kernel, std::span<Buffer* const> buffers,
                       std::span<const int64_t> sizes) {
  const auto* cpu_kernel = dynamic_cast<const CpuKernel*>(&kernel);
  KILN_CHECK(cpu_kernel != nullptr, "kernel {} was not loaded by a CPU device", kernel.signature().name);
  const codegen::KernelSignature& signature = cpu_kernel->signature();
  KILN_CHECK(buffers.size() == signature.buffers.size() && sizes.size() == signature.size_params.size(),
             "kernel {} takes {} buffers and {} sizes, launched with {} and {}", signature.name,
             signature.buffers.size(), signature.size_params.size(), buffers.size(), sizes.size());
  std::vector<void*> pointers(buffers.size());
  for (size_t i = 0; i < buffers.size(); ++i) {
    KILN_CHECK(buffers[i] && buffers[i]->handle, "kernel {}: buffer {} is not allocated", signature.name,
               signature.buffers[i]);
    pointers[i] = buffers[i]->handle;
  }
  ScopedCurrentThreadPool current(&pool_);
  cpu_kernel->code().entry(pointers.data(), sizes.data());
}

}  // namespace kiln::runtime
