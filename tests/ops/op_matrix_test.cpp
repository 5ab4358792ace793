// The op test matrix: every op x dtype x target, compiled by kiln's own pipeline and run on the
// device, against the float64 references of reference.cpp on fresh random inputs (the seed is
// printed; KILN_TEST_SEED replays one), with outputs poisoned before each run, at every size of
// test_sizes(). Each distinct definition is compiled and loaded once per target and then
// serves every size binding, which is what symbolic shapes promise; the device counts the loads.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>

#include <fmt/format.h>

#include "codegen/llvm/cpu_codegen.h"
#include "compiler/op_runner.h"
#include "compiler/pipeline.h"
#include "kernel/compute/compute_def.h"
#include "kernel/compute/ops.h"
#include "ops/counting_device.h"
#include "ops/op_cases.h"
#include "runtime/device.h"

namespace kiln::test {
namespace {

uint64_t matrix_seed() {
  static const uint64_t seed = []() -> uint64_t {
    if (const char* s = std::getenv("KILN_TEST_SEED")) return std::strtoull(s, nullptr, 10);
    return static_cast<uint64_t>(std::random_device{}());
  }();
  return seed;
}

// One definition compiled for a target: the compiled operator, loaded once onto the device by
// its runner, and every size binding it has run at.
struct CompiledDefinition {
  std::unique_ptr<compiler::CompiledOp> op;
  std::unique_ptr<compiler::OpRunner> runner;
  std::set<std::map<std::string, int64_t>> bindings;
};

struct TargetState {
  std::unique_ptr<CountingDevice> device;
  std::map<std::string, CompiledDefinition> compiled;  // by printed definition
  int cases_run = 0;
};

std::map<std::string, TargetState>& target_states() {
  static std::map<std::string, TargetState> states;
  return states;
}

TargetState& state_of(const std::string& target) {
  TargetState& s = target_states()[target];
  if (!s.device) s.device = std::make_unique<CountingDevice>(runtime::open_device(target, 2));
  return s;
}

// The kernels a definition loads: one per lowered kernel, once, whatever sizes it runs at.
int kernels_of(const TargetState& state) {
  int kernels = 0;
  for (const auto& [key, compiled] : state.compiled) {
    if (compiled.runner) kernels += static_cast<int>(compiled.op->kernels.size());
  }
  return kernels;
}

// Runs one case on one target; an empty string means it matched the reference.
std::string run_case(TargetState& state, const Target& target, const OpCase& c) {
  CompiledDefinition& compiled = state.compiled[kernel::to_string(c.def)];
  runtime::Device& device = *state.device;
  std::map<std::string, runtime::Buffer> buffers;
  std::map<std::string, runtime::Buffer*> bound;
  std::string report;
  try {
    if (!compiled.runner) {
      compiler::CompileOptions options;
      options.target = target;
      auto op = std::make_unique<compiler::CompiledOp>(compiler::compile(c.def, options));
      compiled.runner = std::make_unique<compiler::OpRunner>(device, *op);
      compiled.op = std::move(op);
    }
    compiled.bindings.insert(c.sizes);
    for (const HostTensor& input : c.inputs) {
      runtime::Buffer& b = buffers[input.name] = device.allocate(std::max<size_t>(input.bytes.size(), 1));
      if (!input.bytes.empty()) device.write(b, input.bytes.data(), input.bytes.size());
      bound[input.name] = &b;
    }
    std::map<std::string, size_t> output_bytes;
    for (const HostTensor& expected : c.expected) {
      const size_t bytes = expected.values.size() * kernel::storage_type(expected.dtype).bytes();
      runtime::Buffer& b = buffers[expected.name] = device.allocate(std::max<size_t>(bytes, 1));
      const std::vector<uint8_t> poison(bytes, 0xff);  // NaN for floats, -1 for integers
      if (bytes) device.write(b, poison.data(), bytes);
      bound[expected.name] = &b;
      output_bytes[expected.name] = bytes;
    }
    compiled.runner->run(bound, c.sizes);
    for (const HostTensor& expected : c.expected) {
      std::vector<uint8_t> got(output_bytes[expected.name]);
      if (!got.empty()) device.read(got.data(), buffers[expected.name], got.size());
      const std::string mismatch = check(expected, decode(expected.dtype, got), c.tolerance);
      if (!mismatch.empty()) report += expected.name + ": " + mismatch + "\n";
    }
  } catch (const std::exception& e) {
    report = std::string("threw: ") + e.what();
  }
  for (auto& [name, b] : buffers) device.release(b);
  ++state.cases_run;
  return report;
}

class OpMatrix : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(OpMatrix, MatchesFloat64Reference) {
  const auto& [target_name, family] = GetParam();
  TargetState* state = nullptr;
  try {
    state = &state_of(target_name);
  } catch (const std::exception& e) {
    GTEST_SKIP() << "device '" << target_name << "' is not available: " << e.what();
  }
  const Target target = state->device->target();
  const std::vector<OpCase> cases = op_cases(family, matrix_seed());
  ASSERT_FALSE(cases.empty());
  int failures = 0;
  for (const OpCase& c : cases) {
    const std::string report = run_case(*state, target, c);
    if (!report.empty() && ++failures <= 5) {
      ADD_FAILURE() << target_name << " " << c.name << " (seed " << matrix_seed() << ", KILN_TEST_SEED replays it):\n"
                    << report;
    }
  }
  EXPECT_EQ(failures, 0) << failures << " of " << cases.size() << " cases failed";
  // Sizes are symbolic: each definition's kernels are loaded onto the device once, as the
  // device counts it, however many size bindings they then serve.
  EXPECT_EQ(state->device->loads(), kernels_of(*state));
  std::set<std::string> distinct;
  for (const OpCase& c : cases) distinct.insert(kernel::to_string(c.def));
  std::printf("[ matrix   ] %s %-14s %3zu cases, %zu definitions (seed %llu)\n", target_name.c_str(), family.c_str(),
              cases.size(), distinct.size(), static_cast<unsigned long long>(matrix_seed()));
}

// After every test: how many cases ran on each target, and how many definitions, size
// bindings and kernel loads served them.
class MatrixSummary : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const auto& [target, state] : target_states()) {
      if (!state.device) continue;  // not available here
      size_t bindings = 0;
      for (const auto& [key, compiled] : state.compiled) bindings += compiled.bindings.size();
      std::printf("[ matrix   ] %s: %d cases, %zu definitions compiled, %zu size bindings, %d kernel loads\n",
                  target.c_str(), state.cases_run, state.compiled.size(), bindings, state.device->loads());
    }
  }
};
[[maybe_unused]] const ::testing::Environment* const kMatrixSummary =
    ::testing::AddGlobalTestEnvironment(new MatrixSummary);

std::string param_name(const ::testing::TestParamInfo<OpMatrix::ParamType>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param);
}

INSTANTIATE_TEST_SUITE_P(Cpu, OpMatrix, ::testing::Combine(::testing::Values("cpu"), ::testing::ValuesIn(op_families())),
                         param_name);
INSTANTIATE_TEST_SUITE_P(OpenCL, OpMatrix,
                         ::testing::Combine(::testing::Values("opencl"), ::testing::ValuesIn(op_families())), param_name);

// The same compiled kernel serves every size: one compile() of a definition, its kernels
// loaded onto the device once (the device counts the loads), then run at many size bindings,
// each result right. A kernel that had a size compiled in would fail at the other bindings.
TEST(SymbolicSizes, OneCompiledKernelServesEverySize) {
  CountingDevice device(runtime::open_device("cpu", 2));
  const std::vector<OpCase> cases = op_cases("matmul", matrix_seed());
  const std::string q4_0 = kernel::to_string(kernel::ops::matmul(DType::q4_0));
  std::vector<const OpCase*> same_definition;
  for (const OpCase& c : cases) {
    if (kernel::to_string(c.def) == q4_0) same_definition.push_back(&c);
  }
  std::set<std::map<std::string, int64_t>> bindings;
  for (const OpCase* c : same_definition) bindings.insert(c->sizes);
  ASSERT_GE(bindings.size(), 10u) << "matmul_q4_0 should run at many size bindings";

  const codegen::CpuCompileStats before = codegen::cpu_compile_stats();
  const compiler::CompiledOp op = compiler::compile(same_definition.front()->def, {});
  // Each kernel went through code generation once (compiled by LLVM or read from the cache).
  EXPECT_EQ(codegen::cpu_compile_stats().kernels() - before.kernels(), static_cast<int64_t>(op.kernels.size()));
  const codegen::CpuCompileStats compiled = codegen::cpu_compile_stats();
  compiler::OpRunner runner(device, op);
  const int loads = device.loads();
  EXPECT_EQ(loads, static_cast<int>(op.kernels.size()));
  for (const OpCase* c : same_definition) {
    std::map<std::string, runtime::Buffer> buffers;
    std::map<std::string, runtime::Buffer*> bound;
    for (const HostTensor& input : c->inputs) {
      runtime::Buffer& b = buffers[input.name] = device.allocate(input.bytes.size());
      device.write(b, input.bytes.data(), input.bytes.size());
      bound[input.name] = &b;
    }
    const HostTensor& expected = c->expected.at(0);
    std::vector<uint8_t> got(expected.values.size() * sizeof(float), 0xff);
    runtime::Buffer& out = buffers[expected.name] = device.allocate(got.size());
    device.write(out, got.data(), got.size());
    bound[expected.name] = &out;
    runner.run(bound, c->sizes);
    device.read(got.data(), out, got.size());
    EXPECT_EQ(check(expected, decode(expected.dtype, got), c->tolerance), "") << c->name;
    for (auto& [name, b] : buffers) device.release(b);
  }
  EXPECT_EQ(device.loads(), loads) << "running at new sizes loaded kernels again";
  EXPECT_EQ(codegen::cpu_compile_stats().kernels(), compiled.kernels()) << "running at new sizes compiled again";
}

}  // namespace
}  // namespace kiln::test
