// The launch list: graph sizes as the runtime evaluates them (against SymExpr's own evaluation,
// on random expressions and bindings), and the list a graph program builds (one launch per
// kernel, every intermediate allocated once and freed once).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "base/error.h"
#include "compiler/graph_program.h"
#include "compiler/size_program.h"
#include "graph/builder.h"
#include "runtime/cpu_device.h"

namespace kiln::compiler {
namespace {

using graph::SymExpr;

uint64_t test_seed() {
  if (const char* s = std::getenv("KILN_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

// A random expression over a, b, c: sums, products, floor division and modulo by positive
// constants, min and max, to `depth`.
SymExpr random_size(std::mt19937_64& rng, int depth) {
  std::uniform_int_distribution<int> pick(0, depth > 0 ? 8 : 1);
  std::uniform_int_distribution<int64_t> constant(-20, 20), divisor(1, 9);
  const char* names[] = {"a", "b", "c"};
  switch (pick(rng)) {
    case 0: return SymExpr(constant(rng));
    case 1: return graph::sym(names[rng() % 3]);
    case 2: return random_size(rng, depth - 1) + random_size(rng, depth - 1);
    case 3: return random_size(rng, depth - 1) - random_size(rng, depth - 1);
    case 4: return random_size(rng, depth - 1) * random_size(rng, depth - 1);
    case 5: return random_size(rng, depth - 1) / SymExpr(divisor(rng));
    case 6: return random_size(rng, depth - 1) % SymExpr(divisor(rng));
    case 7: return graph::min(random_size(rng, depth - 1), random_size(rng, depth - 1));
    default: return graph::max(random_size(rng, depth - 1), random_size(rng, depth - 1));
  }
}

TEST(SizeProgram, EvaluatesAsTheGraphDoes) {
  const uint64_t seed = test_seed();
  std::printf("[ seed     ] %llu (KILN_TEST_SEED replays it)\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  const std::vector<std::string> symbols = {"a", "b", "c"};
  std::uniform_int_distribution<int64_t> value(-1000, 1000);
  for (int i = 0; i < 2000; ++i) {
    const SymExpr e = random_size(rng, 4);
    const runtime::SizeExpr program = size_program(e, symbols);
    const std::vector<int64_t> bound = {value(rng), value(rng), value(rng)};
    const int64_t want = e.evaluate({{"a", bound[0]}, {"b", bound[1]}, {"c", bound[2]}});
    ASSERT_EQ(program.evaluate(bound), want) << e.to_string() << " = " << program.to_string(symbols) << " (seed " << seed
                                             << ", KILN_TEST_SEED replays it)";
  }
}

TEST(SizeProgram, RefusesUnknownSymbolsAndOverflow) {
  EXPECT_THROW(size_program(graph::sym("n"), {"m"}), InternalError);
  const runtime::SizeExpr square = size_program(graph::sym("n") * graph::sym("n"), {"n"});
  EXPECT_EQ(square.evaluate(std::vector<int64_t>{3037000499}), int64_t{3037000499} * 3037000499);
  EXPECT_THROW(square.evaluate(std::vector<int64_t>{3037000500}), UserError);
  EXPECT_THROW(runtime::SizeExpr{}.evaluate({}), InternalError);  // an empty program
}

TEST(LaunchList, OneLaunchPerKernelAndEveryIntermediateFreedOnce) {
  graph::GraphBuilder b;
  const graph::ValueId x = b.input("x", DType::f32, {graph::sym("n"), 64});
  const graph::ValueId w = b.weight("w", DType::f32, {64, 64});
  const graph::ValueId h = b.rms_norm(b.matmul(x, w), 1e-5);
  b.output(b.add(b.matmul(h, w), h));  // h read twice: it lives until the add
  GraphProgram program(b.finish(), host_cpu_target());
  const runtime::Executable& ex = program.executable();
  EXPECT_EQ(ex.symbols, std::vector<std::string>{"n"});
  EXPECT_EQ(ex.leaf_names, (std::vector<std::string>{"x", "w"}));
  size_t launches = 0, allocations = 0, releases = 0;
  std::map<uint32_t, int> freed;
  for (const runtime::ExecStep& s : ex.steps) {
    switch (s.kind) {
      case runtime::ExecStep::Kind::Launch:
        ++launches;
        for (uint32_t slot : s.buffers) EXPECT_LT(slot, ex.slot_count);
        for (uint32_t size : s.sizes) EXPECT_LT(size, ex.sizes.size());
        break;
      case runtime::ExecStep::Kind::Allocate: ++allocations; break;
      case runtime::ExecStep::Kind::Release:
        ++releases;
        ++freed[s.slot];
        break;
      default: break;
    }
  }
  EXPECT_EQ(launches, program.kernel_count());
  // Three kernel groups (the matmul, the norm, the second matmul with the add folded in), so
  // three results: the two intermediates are freed once each; the output's allocation is
  // skipped at run time (the caller's buffer) and never freed.
  EXPECT_EQ(allocations, 3u);
  EXPECT_EQ(releases, 2u);
  for (const auto& [slot, times] : freed) EXPECT_EQ(times, 1) << "slot " << slot;
}

// The arena holds what is live at once, planned per run: here the first matmul's result and the
// norm's (n x 64 f32 each) overlap; the output is the caller's. It grows (by a quarter more)
// only when a run needs more, and is kept until released.
TEST(LaunchList, ArenaHoldsWhatIsLiveAtOnce) {
  graph::GraphBuilder b;
  const graph::ValueId x = b.input("x", DType::f32, {graph::sym("n"), 64});
  const graph::ValueId w = b.weight("w", DType::f32, {64, 64});
  const graph::ValueId h = b.rms_norm(b.matmul(x, w), 1e-5);
  b.output(b.add(b.matmul(h, w), h));
  GraphProgram program(b.finish(), host_cpu_target());
  runtime::Executable& ex = program.executable();
  runtime::CpuDevice device(1);
  std::vector<float> weights(64 * 64, 0.01f);
  runtime::Buffer wb = device.allocate(weights.size() * 4);
  device.write(wb, weights.data(), weights.size() * 4);
  const auto run_rows = [&](int64_t n) {
    runtime::Buffer xb = device.allocate(static_cast<size_t>(n) * 256), out = device.allocate(static_cast<size_t>(n) * 256);
    std::vector<float> xs(static_cast<size_t>(n) * 64, 1.0f);
    device.write(xb, xs.data(), xs.size() * 4);
    runtime::Buffer* leaves[] = {&xb, &wb};
    runtime::Buffer* outputs[] = {&out};
    const int64_t symbols[] = {n};
    ex.run(device, leaves, symbols, outputs);
    device.release(xb);
    device.release(out);
  };
  run_rows(5);
  EXPECT_EQ(ex.arena_bytes(), 2u * 5 * 256);
  run_rows(3);
  EXPECT_EQ(ex.arena_bytes(), 2u * 5 * 256) << "kept, not shrunk";
  run_rows(9);
  EXPECT_EQ(ex.arena_bytes(), 2u * 9 * 256 * 5 / 4) << "grown, with a quarter to spare";
  ex.release_memory();
  EXPECT_EQ(ex.arena_bytes(), 0u);
  device.release(wb);
}

}  // namespace
}  // namespace kiln::compiler
