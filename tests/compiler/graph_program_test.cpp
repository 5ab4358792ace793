// GraphProgram: a graph compiled and run on the CPU, with and without fusion, and how long
// each intermediate result lives.
#include "compiler/graph_program.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "graph/builder.h"
#include "runtime/cpu_device.h"

namespace kiln::compiler {
namespace {

using graph::GraphBuilder;
using graph::ValueId;

// Counts the bytes of live, non-view buffers.
class CountingDevice : public runtime::CpuDevice {
 public:
  CountingDevice() : CpuDevice(2) {}
  runtime::Buffer allocate(size_t bytes) override {
    live_ += bytes;
    peak_ = std::max(peak_, live_);
    return CpuDevice::allocate(bytes);
  }
  void release(runtime::Buffer& buffer) override {
    if (!buffer.is_view) live_ -= buffer.bytes;
    CpuDevice::release(buffer);
  }
  size_t live() const { return live_; }
  size_t peak() const { return peak_; }

 private:
  size_t live_ = 0, peak_ = 0;
};

// x -> neg -> scale(2) -> neg -> scale(2) ... (8 nodes): 16 * x, exactly.
graph::Graph chain(int64_t width) {
  GraphBuilder b;
  ValueId v = b.input("x", DType::f32, {graph::sym("n"), width});
  for (int i = 0; i < 4; ++i) v = b.scale(b.neg(v), 2.0);
  b.output(v);
  return b.finish();
}

void run_chain(bool fuse, size_t expected_kernels) {
  constexpr int64_t kRows = 5, kWidth = 4096;
  GraphProgram program(chain(kWidth), host_cpu_target(), {}, ProgramOptions{.fuse = fuse});
  EXPECT_EQ(program.kernel_count(), expected_kernels);
  CountingDevice device;
  std::vector<float> x(kRows * kWidth), y(x.size());
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (float& v : x) v = uniform(rng);
  const size_t bytes = x.size() * sizeof(float);
  runtime::Buffer in = device.allocate(bytes), out = device.allocate(bytes);
  device.write(in, x.data(), bytes);
  const size_t before = device.live();
  program.run(device, {{"x", &in}}, {{"n", kRows}}, {&out});
  EXPECT_EQ(device.live(), before) << "every intermediate is released";
  // Each intermediate is released after the step that reads it: at most two at a time.
  EXPECT_LE(device.peak() - before, 2 * bytes);
  device.read(y.data(), out, bytes);
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(y[i], 16 * x[i]) << "element " << i;
  device.release(in);
  device.release(out);
}

// Unfused, each of the chain's 8 nodes is a kernel; fused, the first neg anchors a group that
// the other 7 element-wise nodes (each reading the one before, and only it) all join.
TEST(GraphProgram, UnfusedChainReleasesEachIntermediateAfterItsReader) { run_chain(false, 8); }

TEST(GraphProgram, FusedChainIsOneKernel) { run_chain(true, 1); }

}  // namespace
}  // namespace kiln::compiler
