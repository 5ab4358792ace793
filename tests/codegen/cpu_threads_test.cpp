// Parallel loops of JIT-compiled kernels run on the CPU device's thread pool, seen through the
// pool's count of chunks run by each thread.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "codegen/cpu_test_util.h"
#include "codegen/llvm/cpu_codegen.h"

namespace kiln::test {
namespace {

// A JIT-compiled parallel loop is split among the pool's threads, and the workers run chunks of
// it. Every launch of 1 << 20 elements (65536 groups of 16) is cut into 4 chunks per thread, so
// the chunk count shows that each launch went through the pool. A worker the OS does not
// schedule in time finds the launch over (the caller never waits for it), so this launches
// until a worker has run a chunk: without a pool it never would, however many launches.
TEST(CpuDeviceThreads, ParallelLoopsRunOnTheWorkers) {
  runtime::CpuDevice cpu(2);
  auto kernel = cpu.load(codegen::compile_cpu(vadd_kernel("pooled_vadd")));
  constexpr int64_t kN = int64_t{1} << 20;
  constexpr int64_t kChunksPerLaunch = 2 * 4;
  constexpr int kMaxLaunches = 500;
  int launches = 0;
  expect_vadd(cpu, *kernel, kN);
  ++launches;
  while (cpu.thread_pool().chunks_run()[1] == 0 && launches < kMaxLaunches) {
    expect_vadd(cpu, *kernel, kN);
    ++launches;
  }
  const std::vector<int64_t> chunks = cpu.thread_pool().chunks_run();
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_GT(chunks[1], 0) << "the worker ran no chunk in " << launches << " launches";
  EXPECT_EQ(chunks[0] + chunks[1], kChunksPerLaunch * launches);
}

// A pool of one thread has no workers: loops run serially on the caller and are not split.
TEST(CpuDeviceThreads, OneThreadRunsLoopsSerially) {
  runtime::CpuDevice cpu(1);
  auto kernel = cpu.load(codegen::compile_cpu(vadd_kernel("serial_vadd")));
  expect_vadd(cpu, *kernel, 4096);
  EXPECT_EQ(cpu.thread_pool().chunks_run(), std::vector<int64_t>{0});
}

}  // namespace
}  // namespace kiln::test
