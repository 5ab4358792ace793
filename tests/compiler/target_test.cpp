// Targets by name (`kiln compile --target`), and the schedule following the description: the
// same operator compiled for two CPUs gets the vector width of each.
#include <gtest/gtest.h>

#include "base/error.h"
#include "compiler/pipeline.h"
#include "kernel/compute/ops.h"
#include "kernel/ir/printer.h"

namespace kiln::compiler {
namespace {

std::string loops_for(const std::string& target_name) {
  CompileOptions options;
  options.target = parse_target(target_name);
  options.compile = false;
  options.dump = {"loops"};
  std::string loops;
  options.on_dump = [&](const std::string&, const std::string&, const std::string& text) { loops += text; };
  compile(kernel::ops::rms_norm(1e-5), options);
  return loops;
}

TEST(ParseTarget, NamedCpusCarryTheirFeatures) {
  const Target haswell = parse_target("cpu:haswell");
  EXPECT_EQ(haswell.vector_bits, 256);
  EXPECT_FALSE(haswell.int8_dot);
  EXPECT_EQ(haswell.name(), "cpu:haswell");
  const Target zen4 = parse_target("cpu:znver4");
  EXPECT_EQ(zen4.vector_bits, 512);
  EXPECT_TRUE(zen4.int8_dot);
  EXPECT_TRUE(zen4.bf16_dot);
  EXPECT_EQ(parse_target("cpu").vector_bits, host_cpu_target().vector_bits);
  EXPECT_TRUE(parse_target("opencl").is_gpu());
}

TEST(ParseTarget, UnknownNamesAreUserErrors) {
  for (const char* name : {"gpu", "", "cpu:", "CPU"}) {
    try {
      parse_target(name);
      ADD_FAILURE() << "'" << name << "' accepted";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("known targets: cpu"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(parse_target("cpu:nonsense"), UserError);
  try {
    parse_target("cuda:sm_90");
    ADD_FAILURE() << "cuda accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("not built yet"), std::string::npos) << e.what();
  }
}

TEST(TargetSchedules, TwoCpusGetTheirOwnVectorWidths) {
  const std::string avx2 = loops_for("cpu:haswell");
  const std::string avx512 = loops_for("cpu:skylake-avx512");
  EXPECT_NE(avx2.find("ramp(0, 1, 8)"), std::string::npos) << avx2;
  EXPECT_EQ(avx2.find("ramp(0, 1, 16)"), std::string::npos) << avx2;
  EXPECT_NE(avx512.find("ramp(0, 1, 16)"), std::string::npos) << avx512;
  EXPECT_NE(avx2.find("cols / 8"), std::string::npos) << avx2;
  EXPECT_NE(avx512.find("cols / 16"), std::string::npos) << avx512;
}

TEST(TargetSchedules, GpuWorkGroupComesFromTheTarget) {
  Target small = generic_opencl_target();
  small.workgroup_threads = 32;
  CompileOptions options;
  options.target = small;
  options.compile = false;
  options.dump = {"loops"};
  std::string loops;
  options.on_dump = [&](const std::string&, const std::string&, const std::string& text) { loops += text; };
  compile(kernel::ops::rms_norm(1e-5), options);
  EXPECT_NE(loops.find("block(32, 1, 1)"), std::string::npos) << loops;
  EXPECT_EQ(loops.find("64"), std::string::npos) << loops;
}

}  // namespace
}  // namespace kiln::compiler
