// The op test matrix: every op x dtype x target, compiled by kiln's own pipeline and run on the
// device, against the float64 references of reference.cpp on fresh random inputs (the seed is
// printed; KILN_TEST_SEED replays one), with outputs poisoned before each run, at every size of
// test_sizes(). Each distinct definition is compiled once per target and then serves every
// size binding, which is what symbolic shapes promise.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>

#include <fmt/format.h>

#include "compiler/op_runner.h"
#include "compiler/pipeline.h"
#include "kernel/compute/compute_def.h"
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

struct TargetState {
  std::unique_ptr<runtime::Device> device;
  std::map<std::string, std::unique_ptr<compiler::CompiledOp>> compiled;  // by printed definition
  int cases_run = 0;
  int compilations = 0;
};

TargetState& state_of(const std::string& target) {
  static std::map<std::string, TargetState> states;
  TargetState& s = states[target];
  if (!s.device) s.device = runtime::open_device(target, 2);
  return s;
}

// Runs one case on one target; an empty string means it matched the reference.
std::string run_case(TargetState& state, compiler::Target target, const OpCase& c) {
  const std::string key = kernel::to_string(c.def);
  auto& compiled = state.compiled[key];
  if (!compiled) {
    compiler::CompileOptions options;
    options.target = target;
    compiled = std::make_unique<compiler::CompiledOp>(compiler::compile(c.def, options));
    ++state.compilations;
  }
  runtime::Device& device = *state.device;
  std::map<std::string, runtime::Buffer> buffers;
  std::map<std::string, runtime::Buffer*> bound;
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
  std::string report;
  try {
    compiler::OpRunner(device, *compiled).run(bound, c.sizes);
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
  const compiler::Target target = compiler::target_from_name(target_name);
  const int compilations_before = state->compilations;
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
  // Sizes are symbolic: a definition is compiled once, whatever the sizes it then runs at.
  std::set<std::string> distinct;
  for (const OpCase& c : cases) distinct.insert(kernel::to_string(c.def));
  EXPECT_LE(state->compilations - compilations_before, static_cast<int>(distinct.size()));
  std::printf("[ matrix   ] %s %-14s %3zu cases, %zu definitions compiled (seed %llu)\n", target_name.c_str(),
              family.c_str(), cases.size(), distinct.size(), static_cast<unsigned long long>(matrix_seed()));
}

std::string param_name(const ::testing::TestParamInfo<OpMatrix::ParamType>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param);
}

INSTANTIATE_TEST_SUITE_P(Cpu, OpMatrix, ::testing::Combine(::testing::Values("cpu"), ::testing::ValuesIn(op_families())),
                         param_name);
INSTANTIATE_TEST_SUITE_P(OpenCL, OpMatrix,
                         ::testing::Combine(::testing::Values("opencl"), ::testing::ValuesIn(op_families())), param_name);

// The same compiled kernel serves every size: one compilation, many bindings, all correct.
TEST(SymbolicSizes, OneCompiledKernelServesEverySize) {
  TargetState& state = state_of("cpu");
  const std::vector<OpCase> cases = op_cases("matmul", matrix_seed());
  std::map<std::string, std::set<std::map<std::string, int64_t>>> sizes_per_def;
  for (const OpCase& c : cases) sizes_per_def[kernel::to_string(c.def)].insert(c.sizes);
  const int before = state.compilations;
  for (const OpCase& c : cases) EXPECT_EQ(run_case(state, compiler::Target::Cpu, c), "") << c.name;
  EXPECT_LE(state.compilations - before, static_cast<int>(sizes_per_def.size()));
  size_t most_sizes = 0;
  for (const auto& [def, sizes] : sizes_per_def) most_sizes = std::max(most_sizes, sizes.size());
  EXPECT_GE(most_sizes, 5u) << "each definition should run at several size bindings";
}

}  // namespace
}  // namespace kiln::test
