#include "codegen/cpu_test_util.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "codegen/cache_test_util.h"
#include "codegen/llvm/cpu_codegen.h"

namespace kiln::test {

namespace {

testing::Environment* const cache_environment = testing::AddGlobalTestEnvironment(new CacheDirEnvironment);  // a fresh KILN_CACHE

}  // namespace

Stmt elementwise(const Expr& n, int lanes, const std::function<Stmt(Expr)>& body) {
  Expr groups = n / lanes;
  Stmt vector_part = For::make("g", i64(0), groups, ForKind::Parallel, body(ramp(var("g") * lanes, 1, lanes)));
  Stmt tail = For::make("t", groups * lanes, n - groups * lanes, ForKind::Serial, body(var("t")));
  return Block::make({vector_part, tail});
}

Kernel make_kernel(std::string name, std::vector<BufferParam> buffers, std::vector<std::string> sizes, Stmt body) {
  Kernel kernel;
  kernel.name = std::move(name);
  kernel.buffers = std::move(buffers);
  kernel.size_params = std::move(sizes);
  kernel.body = std::move(body);
  return kernel;
}

runtime::CpuDevice& device() {
  static runtime::CpuDevice cpu(3);
  return cpu;
}

void launch(const runtime::LoadedKernel& kernel, std::vector<std::span<uint8_t>> buffers, std::vector<int64_t> sizes) {
  runtime::Device& cpu = device();
  std::vector<runtime::Buffer> on_device;
  for (std::span<uint8_t> host : buffers) {
    on_device.push_back(cpu.allocate(host.size()));
    cpu.write(on_device.back(), host.data(), host.size());
  }
  std::vector<runtime::Buffer*> bindings;
  for (runtime::Buffer& buffer : on_device) bindings.push_back(&buffer);
  cpu.launch(kernel, bindings, sizes);
  for (size_t i = 0; i < buffers.size(); ++i) {
    cpu.read(buffers[i].data(), on_device[i], buffers[i].size());
    cpu.release(on_device[i]);
  }
}

std::unique_ptr<runtime::LoadedKernel> compile_and_load(const Kernel& kernel) {
  return device().load(codegen::compile_cpu(kernel));
}

Kernel vadd_kernel(const std::string& name) {
  return make_kernel(name, {{"a", Type::f32()}, {"b", Type::f32()}, {"c", Type::f32(), true}}, {"n"},
                     elementwise(var("n"), 16, [](Expr i) {
                       return store("c", i, load(Type::f32(), "a", i) + load(Type::f32(), "b", i));
                     }));
}

void expect_vadd(runtime::CpuDevice& cpu, const runtime::LoadedKernel& kernel, int64_t n) {
  std::vector<float> a(static_cast<size_t>(n)), b(a.size());
  std::vector<double> want(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<float>(i);
    b[i] = 0.5f * static_cast<float>(i);
    want[i] = 1.5 * static_cast<double>(i);
  }
  std::vector<float> c = poisoned<float>(n);
  const size_t bytes = a.size() * sizeof(float);
  runtime::Buffer buffers[3] = {cpu.allocate(bytes), cpu.allocate(bytes), cpu.allocate(bytes)};
  cpu.write(buffers[0], a.data(), bytes);
  cpu.write(buffers[1], b.data(), bytes);
  cpu.write(buffers[2], c.data(), bytes);
  runtime::Buffer* bindings[3] = {&buffers[0], &buffers[1], &buffers[2]};
  const int64_t sizes[1] = {n};
  cpu.launch(kernel, bindings, sizes);
  cpu.read(c.data(), buffers[2], bytes);
  for (runtime::Buffer& buffer : buffers) cpu.release(buffer);
  EXPECT_TRUE(all_close(c, want, 0)) << "n = " << n;
}

uint64_t fresh_seed() {
  std::random_device entropy;
  return (static_cast<uint64_t>(entropy()) << 32) | entropy();
}

std::string seed_note(uint64_t seed) { return "random seed " + std::to_string(seed); }

std::vector<float> random_floats(std::mt19937_64& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(static_cast<size_t>(n));
  for (float& v : values) v = dist(rng);
  return values;
}

testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<double>& want, double rel_tol,
                                   double abs_tol) {
  if (got.size() != want.size()) return testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  for (size_t i = 0; i < got.size(); ++i) {
    if (static_cast<double>(got[i]) == want[i]) continue;  // exact, infinities included
    const double error = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(error <= abs_tol + rel_tol * std::fabs(want[i]))) {
      return testing::AssertionFailure() << "element " << i << " of " << got.size() << ": got " << got[i]
                                         << ", want " << want[i];
    }
  }
  return testing::AssertionSuccess();
}

}  // namespace kiln::test
