// A Device that forwards every call to another and counts the kernels loaded onto it. Loading
// is where a device takes compiled code (on OpenCL, where the driver builds the program), so
// the count shows whether running an operator at new sizes loaded or built anything again.
#pragma once

#include <memory>
#include <utility>

#include "runtime/device.h"

namespace kiln::test {

class CountingDevice : public runtime::Device {
 public:
  explicit CountingDevice(std::unique_ptr<runtime::Device> device) : device_(std::move(device)) {}

  int loads() const { return loads_; }

  std::string name() const override { return device_->name(); }
  Target target() const override { return device_->target(); }
  runtime::Buffer allocate(size_t bytes) override { return device_->allocate(bytes); }
  void release(runtime::Buffer& buffer) override { device_->release(buffer); }
  void write(runtime::Buffer& dst, const void* src, size_t bytes, size_t offset = 0) override {
    device_->write(dst, src, bytes, offset);
  }
  void read(void* dst, const runtime::Buffer& src, size_t bytes, size_t offset = 0) override {
    device_->read(dst, src, bytes, offset);
  }
  size_t view_alignment() const override { return device_->view_alignment(); }
  runtime::Buffer view(const runtime::Buffer& buffer, size_t offset, size_t bytes) override {
    return device_->view(buffer, offset, bytes);
  }
  std::unique_ptr<runtime::LoadedKernel> load(const codegen::CompiledKernel& kernel) override {
    ++loads_;
    return device_->load(kernel);
  }
  void launch(const runtime::LoadedKernel& kernel, std::span<runtime::Buffer* const> buffers,
              std::span<const int64_t> sizes) override {
    device_->launch(kernel, buffers, sizes);
  }

 private:
  std::unique_ptr<runtime::Device> device_;
  int loads_ = 0;
};

}  // namespace kiln::test
