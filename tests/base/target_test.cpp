// Target descriptions made from CPU features: the facts schedules read follow from the flags.
#include "base/target.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(CpuTarget, VectorWidthFollowsTheWidestRegisters) {
  const Target sse = cpu_target({});
  EXPECT_EQ(sse.vector_bits, 128);
  EXPECT_EQ(sse.vector_lanes(DType::f32), 4);

  const Target avx2 = cpu_target({.avx2 = true}, "haswell");
  EXPECT_EQ(avx2.vector_lanes(DType::f32), 8);
  EXPECT_EQ(avx2.vector_lanes(DType::f16), 16);
  EXPECT_EQ(avx2.vector_lanes(DType::i8), 32);
  EXPECT_EQ(avx2.name(), "cpu:haswell");

  const Target avx512 = cpu_target({.avx2 = true, .avx512f = true});
  EXPECT_EQ(avx512.vector_lanes(DType::f32), 16);
  EXPECT_EQ(avx512.name(), "cpu");
  EXPECT_FALSE(avx512.is_gpu());
}

TEST(CpuTarget, DotProductsNeedTheirRegisters) {
  // 512-bit VNNI without AVX-512 registers cannot be used; VEX VNNI works on 256-bit ones.
  EXPECT_FALSE(cpu_target({.avx2 = true, .avx512_vnni = true}).int8_dot);
  EXPECT_TRUE(cpu_target({.avx2 = true, .avx512f = true, .avx512_vnni = true}).int8_dot);
  EXPECT_TRUE(cpu_target({.avx2 = true, .avx_vnni = true}).int8_dot);
  EXPECT_FALSE(cpu_target({.avx2 = true, .avx512_bf16 = true}).bf16_dot);
  EXPECT_TRUE(cpu_target({.avx2 = true, .avx512f = true, .avx512_bf16 = true}).bf16_dot);
}

TEST(CpuTarget, HostIsDescribedByItsOwnFeatures) {
  const CpuFeatures f = host_cpu_features();
  const Target host = host_cpu_target();
  EXPECT_EQ(host.vector_bits, f.avx512f ? 512 : f.avx2 ? 256 : 128);
  EXPECT_EQ(host.cpu, "");
  EXPECT_NE(host.to_string().find("vector_bits " + std::to_string(host.vector_bits)), std::string::npos)
      << host.to_string();
}

TEST(OpenCLTarget, PromisesWhatEveryDeviceHas) {
  const Target t = generic_opencl_target();
  EXPECT_TRUE(t.is_gpu());
  EXPECT_EQ(t.name(), "opencl");
  EXPECT_EQ(t.shared_memory_bytes, 32 * 1024);  // CL_DEVICE_LOCAL_MEM_SIZE's minimum
  EXPECT_LE(t.workgroup_threads, t.max_workgroup_size);
  EXPECT_EQ(t.workgroup_threads & (t.workgroup_threads - 1), 0) << "a power of two";
  EXPECT_EQ(t.vector_lanes(DType::f32), 1);
}

}  // namespace
}  // namespace kiln
