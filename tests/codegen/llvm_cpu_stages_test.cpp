// LLVM CPU back end: what the stages look like (LLVM IR, assembly), and what must be refused.
// The object cache is llvm_cpu_cache_test.cpp.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "codegen/cpu_test_util.h"
#include "codegen/llvm/cpu_codegen.h"

namespace kiln::test {
namespace {

// --- what the stages look like -------------------------------------------------------------

Kernel vector_add_kernel() {
  return make_kernel("vadd16", {{"a", Type::f32()}, {"b", Type::f32()}, {"c", Type::f32(), true}}, {"n"},
                     elementwise(var("n"), 16, [](Expr i) {
                       return store("c", i, load(Type::f32(), "a", i) + load(Type::f32(), "b", i));
                     }));
}

TEST(LlvmCpu, VectorKernelUsesZmmOnAvx512Hosts) {
  const std::string ir = codegen::emit_llvm_ir(vector_add_kernel());
  EXPECT_NE(ir.find("<16 x float>"), std::string::npos) << ir;
  EXPECT_NE(ir.find("kiln_parallel_for"), std::string::npos) << ir;
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "host lacks avx512f: " << codegen::host_cpu_description();
  const std::string assembly = codegen::emit_host_assembly(vector_add_kernel());
  EXPECT_NE(assembly.find("zmm"), std::string::npos) << assembly;
#else
  GTEST_SKIP() << "not an x86-64 host";
#endif
}

// broadcast(row * n) + ramp and a let-bound ramp are consecutive: one vector load each, no gather.
TEST(LlvmCpu, DenseIndicesAreVectorLoads) {
  const Expr n = var("n");
  const Stmt body = For::make(
      "row", i64(0), n, ForKind::Parallel,
      For::make("g", i64(0), n / 16, ForKind::Serial,
                LetStmt::make("r", ramp(var("g") * 16, 1, 16),
                              store("y", Broadcast::make(var("row") * n, 16) + var("r", Type::i64().with_lanes(16)),
                                    load(Type::f32(), "x", Broadcast::make(var("row") * n, 16) +
                                                               var("r", Type::i64().with_lanes(16))) *
                                        2.0f))));
  const std::string ir =
      codegen::emit_llvm_ir(make_kernel("dense", {{"x", Type::f32()}, {"y", Type::f32(), true}}, {"n"}, body));
  EXPECT_NE(ir.find("load <16 x float>"), std::string::npos) << ir;
  EXPECT_NE(ir.find("store <16 x float>"), std::string::npos) << ir;
  EXPECT_EQ(ir.find("masked.gather"), std::string::npos) << ir;
  EXPECT_EQ(ir.find("masked.scatter"), std::string::npos) << ir;
}

#if defined(__x86_64__)
// Whatever the host, code for named CPUs shows the vector width each one gets.
TEST(LlvmCpu, AssemblyForNamedCpus) {
  codegen::CpuCodegenOptions znver5;
  znver5.cpu = "znver5";
  EXPECT_NE(codegen::emit_host_assembly(vector_add_kernel(), znver5).find("zmm"), std::string::npos);
  codegen::CpuCodegenOptions znver3;
  znver3.cpu = "znver3";
  const std::string avx2 = codegen::emit_host_assembly(vector_add_kernel(), znver3);
  EXPECT_NE(avx2.find("ymm"), std::string::npos);
  EXPECT_EQ(avx2.find("zmm"), std::string::npos);
}
#endif

TEST(LlvmCpu, HostCpuDescription) {
  // "znver3 (+adx,+aes,...)": the CPU, then only the features it has.
  const std::string description = codegen::host_cpu_description();
  EXPECT_NE(description.find(" (+"), std::string::npos) << description;
  EXPECT_EQ(description.find(",-"), std::string::npos) << description;
}

// --- must fail -----------------------------------------------------------------------------

template <typename Error>
void expect_error(const std::function<void()>& action, const std::string& fragment) {
  try {
    action();
    ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
}

TEST(LlvmCpuMustFail, GpuLoopIsNotACpuKernel) {
  const Kernel kernel = make_kernel("gpu", {{"y", Type::f32(), true}}, {"n"},
                                    For::make("b", i64(0), var("n"), ForKind::GpuBlock, store("y", var("b"), f32(1.0))));
  expect_error<InternalError>([&] { codegen::compile_cpu(kernel); }, "not a CPU kernel");
}

TEST(LlvmCpuMustFail, BarrierIsNotACpuKernel) {
  const Kernel kernel = make_kernel("barrier", {{"y", Type::f32(), true}}, {}, Barrier::make());
  expect_error<InternalError>([&] { codegen::emit_llvm_ir(kernel); }, "not a CPU kernel");
}

TEST(LlvmCpuMustFail, UnboundVariable) {
  const Kernel kernel = make_kernel("unbound", {{"y", Type::f32(), true}}, {}, store("y", var("nowhere"), f32(1.0)));
  expect_error<InternalError>([&] { codegen::emit_llvm_ir(kernel); }, "nowhere");
}

TEST(LlvmCpuMustFail, UnknownBuffer) {
  const Kernel kernel = make_kernel("no_buffer", {}, {}, store("ghost", i64(0), f32(1.0)));
  expect_error<InternalError>([&] { codegen::emit_llvm_ir(kernel); }, "ghost");
}

TEST(LlvmCpuMustFail, CompilingForAnotherCpu) {
  codegen::CpuCodegenOptions options;
  options.cpu = "znver5";
  expect_error<UserError>([&] { codegen::compile_cpu(vector_add_kernel(), options); }, "cannot run on this host");
}

TEST(LlvmCpuMustFail, CpuDeviceRefusesOpenClCode) {
  codegen::CompiledKernel kernel;
  kernel.signature.name = "cl_kernel";
  kernel.code = codegen::OpenCLCode{"__kernel void cl_kernel() {}", "cl_kernel"};
  expect_error<UserError>([&] { device().load(kernel); }, "not compiled for the CPU");
}

TEST(LlvmCpuMustFail, UnknownDevice) {
  expect_error<UserError>([] { runtime::open_device("tpu"); }, "cpu, opencl[:N]");
}


}  // namespace
}  // namespace kiln::test
