// The CPU device's memory: alignment, and the cache of released blocks.
#include "runtime/cpu_device.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace kiln::runtime {
namespace {

TEST(CpuDeviceMemory, ReusesReleasedBlocksOfAFittingSize) {
  CpuDevice device(1);
  Buffer big = device.allocate(1 << 20);
  void* const address = big.handle;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(address) % 64, 0u);
  device.release(big);
  EXPECT_EQ(big.handle, nullptr);
  Buffer again = device.allocate(900 << 10);  // fits in the released MiB: the same block
  EXPECT_EQ(again.handle, address);
  EXPECT_EQ(again.bytes, size_t{900} << 10);
  device.release(again);
  Buffer small = device.allocate(100 << 10);  // under half of it: a block of its own
  EXPECT_NE(small.handle, address);
  Buffer tiny = device.allocate(0);  // never null
  EXPECT_NE(tiny.handle, nullptr);
  device.release(small);
  device.release(tiny);
}

TEST(CpuDeviceMemory, ViewsFreeNothing) {
  CpuDevice device(1);
  Buffer buffer = device.allocate(256 << 10);
  void* const address = buffer.handle;
  Buffer view = device.view(buffer, 64, 128);
  device.release(view);
  Buffer other = device.allocate(256 << 10);  // the first block is still in use
  EXPECT_NE(other.handle, address);
  device.release(other);
  device.release(buffer);
}

}  // namespace
}  // namespace kiln::runtime
