// Devices report their target descriptions: what the compiler generates code for.
#include <gtest/gtest.h>

#include "base/error.h"
#include "runtime/cpu_device.h"

namespace kiln::runtime {
namespace {

TEST(DeviceTarget, CpuIsTheHostWithItsThreads) {
  CpuDevice device(2);
  const Target t = device.target();
  EXPECT_EQ(t.kind, TargetKind::Cpu);
  EXPECT_EQ(t.threads, 2);
  EXPECT_EQ(t.vector_bits, host_cpu_target().vector_bits);
}

TEST(DeviceTarget, OpenCLReportsItsOwnLimits) {
  std::unique_ptr<Device> device;
  try {
    device = open_device("opencl");
  } catch (const UserError& e) {
    GTEST_SKIP() << "no OpenCL device: " << e.what();
  }
  const Target t = device->target();
  EXPECT_EQ(t.kind, TargetKind::OpenCL);
  EXPECT_GE(t.shared_memory_bytes, 32 * 1024) << "OpenCL promises at least 32 KiB of local memory";
  EXPECT_GE(t.max_workgroup_size, 1);
  EXPECT_LE(t.workgroup_threads, t.max_workgroup_size);
  EXPECT_EQ(t.workgroup_threads & (t.workgroup_threads - 1), 0) << "a power of two";
}

}  // namespace
}  // namespace kiln::runtime
