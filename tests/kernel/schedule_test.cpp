// Schedule primitives, one at a time: each is applied by hand to a small definition, the loop
// IR it lowers to is checked for the structure the primitive promises, and the test
// interpreter runs those loops (GPU threads in lock step between barriers) against a direct
// float64 computation on random data. Arguments a primitive must refuse are refused.
#include "kernel/schedule/schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "base/error.h"
#include "ir_interpreter.h"
#include "kernel/compute/ops.h"
#include "kernel/ir/evaluate.h"
#include "kernel/ir/printer.h"
#include "kernel/lower/lower.h"
#include "kernel/schedule/rules.h"

namespace kiln::kernel {
namespace {

using ir::Expr;
using namespace ops;
using Buffers = std::map<std::string, std::vector<double>>;
using Sizes = std::map<std::string, int64_t>;

// Lowering for a GPU that has what every OpenCL device promises, its GPU loops kept as loops:
// the test interpreter runs a work-group's threads in lock step through them.
LowerOptions gpu_lowering() {
  LowerOptions options = LowerOptions::for_target(generic_opencl_target());
  options.map_gpu_ids = false;
  return options;
}
const LowerOptions kGpu = gpu_lowering();

std::vector<double> random_values(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<double> v(count);
  for (double& x : v) x = dist(rng);
  return v;
}

int64_t elements(const std::vector<Expr>& shape, const Sizes& sizes) {
  int64_t n = 1;
  for (const Expr& e : shape) n *= ir::evaluate_int(e, sizes);
  return n;
}

// Random inputs for `def` at `sizes`, the same for every schedule of it.
Buffers random_inputs(const ComputeDef& def, const Sizes& sizes) {
  Buffers inputs;
  uint32_t seed = 7;
  for (const TensorDecl& t : def.inputs) inputs[t.name] = random_values(static_cast<size_t>(elements(t.shape, sizes)), seed++);
  return inputs;
}

// Runs every kernel of the lowered op, in order, on the test interpreter; outputs and scratch
// buffers start as NaN, so an element no loop writes shows.
Buffers run(const LoweredOp& op, const ComputeDef& def, const Sizes& sizes, const Buffers& inputs) {
  ir::testing::Interpreter interpreter;
  interpreter.buffers = inputs;
  for (const auto& [name, value] : sizes) interpreter.vars[name] = {static_cast<double>(value)};
  for (const TensorDecl& t : def.outputs) {
    interpreter.buffers[t.name].assign(static_cast<size_t>(elements(t.shape, sizes)), std::nan(""));
  }
  for (const ScratchBuffer& s : op.scratch) {
    interpreter.buffers[s.name].assign(static_cast<size_t>(ir::evaluate_int(s.elements, sizes)), std::nan(""));
  }
  for (const ir::Kernel& k : op.kernels) interpreter.run(k.body);
  return interpreter.buffers;
}

std::string loops_of(const LoweredOp& op) {
  std::string out;
  for (const ir::Kernel& k : op.kernels) out += ir::to_string(k.body);
  return out;
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, const std::string& loops) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-9 * (1 + std::fabs(want[i]))) << "element " << i << " of\n" << loops;
  }
}

// out(i, 0) = sum_k x(i, k), computed directly.
std::vector<double> row_sums(const std::vector<double>& x, int64_t rows, int64_t cols) {
  std::vector<double> out(static_cast<size_t>(rows), 0.0);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t k = 0; k < cols; ++k) out[static_cast<size_t>(i)] += x[static_cast<size_t>(i * cols + k)];
  }
  return out;
}

class RowSum : public ::testing::Test {
 protected:
  const ComputeDef def = reduce(ReduceKind::Sum);

  // Lowers, runs and checks the sums; returns the loops, for the structure checks. By default
  // 37 columns: no split factor below divides it.
  std::string check(const Schedule& schedule, const LowerOptions& options = {}, int64_t cols = 37) {
    const Sizes sizes = {{"rows", 5}, {"cols", cols}};
    const Buffers inputs = random_inputs(def, sizes);
    const LoweredOp op = lower(schedule, options);
    const std::string loops = loops_of(op);
    expect_near(run(op, def, sizes, inputs).at("out"), row_sums(inputs.at("x"), 5, cols), loops);
    return loops;
  }
};

TEST_F(RowSum, UnscheduledIsOneSerialLoopPerAxis) {
  Schedule s(def);
  EXPECT_EQ(to_string(s), "out: root  i  j  k(r)\n");
  const std::string loops = check(s);
  EXPECT_NE(loops.find("for (k, 0, cols)"), std::string::npos) << loops;
}

TEST_F(RowSum, SplitGuardsTheLastTileOrRunsItSeparately) {
  Schedule guarded(def);
  guarded.stage("out").split("k", "ko", "ki", Expr(int64_t{8}));
  std::string loops = check(guarded);
  EXPECT_NE(loops.find("for (ko, 0, (cols + 7) / 8)"), std::string::npos) << loops;
  EXPECT_NE(loops.find("if (k < cols)"), std::string::npos) << loops;

  Schedule separate(def);
  separate.stage("out").split("k", "ko", "ki", Expr(int64_t{8}), TailStrategy::SeparateLoop);
  loops = check(separate);
  EXPECT_NE(loops.find("for (ko, 0, cols / 8)"), std::string::npos) << loops;
  EXPECT_NE(loops.find("for (ki, 0, cols - cols / 8 * 8)"), std::string::npos) << loops;
  EXPECT_EQ(loops.find("if ("), std::string::npos) << loops;
}

TEST(SchedulePrimitives, ReorderSwapsLoopsInTheirSlots) {
  const ComputeDef def = binary(Binary::Add, 2);
  const Sizes sizes = {{"d0", 3}, {"d1", 5}};
  const Buffers inputs = random_inputs(def, sizes);
  Schedule s(def);
  s.stage("out").reorder({"i1", "i0"});
  EXPECT_EQ(to_string(s), "out: root  i1  i0\n");
  const LoweredOp op = lower(s);
  const std::string loops = loops_of(op);
  EXPECT_LT(loops.find("for (i1, 0, d1)"), loops.find("for (i0, 0, d0)")) << loops;
  std::vector<double> want(15);
  for (size_t i = 0; i < want.size(); ++i) want[i] = inputs.at("a")[i] + inputs.at("b")[i];
  expect_near(run(op, def, sizes, inputs).at("out"), want, loops);
  EXPECT_THROW(Schedule(def).stage("out").reorder({"i0", "nope"}), InternalError);
}

TEST_F(RowSum, UnrollAndVectorizeNeedConstantExtents) {
  Schedule s(def);
  s.stage("out").split("k", "ko", "ku", Expr(int64_t{4}), TailStrategy::SeparateLoop).unroll("ku");
  const std::string loops = check(s);
  EXPECT_NE(loops.find("unrolled (ku, 0, 4)"), std::string::npos) << loops;
  EXPECT_THROW(s.stage("out").split("ku", "a", "b", Expr(int64_t{2})), InternalError);  // already unrolled
  EXPECT_THROW(Schedule(def).stage("out").vectorize("k"), InternalError);
  EXPECT_THROW(Schedule(def).stage("out").unroll("k"), InternalError);
}

TEST_F(RowSum, RfactorGivesEachLaneItsOwnAccumulator) {
  Schedule plain(def);
  plain.stage("out").split("k", "ko", "kv", Expr(int64_t{16}), TailStrategy::SeparateLoop).vectorize("kv");
  std::string loops = check(plain);
  EXPECT_NE(loops.find("allocate out_acc: f32[1] register"), std::string::npos) << loops;
  EXPECT_EQ(loops.find("out_lanes"), std::string::npos) << loops;

  // A remainder whose inner loop was split again runs one loop over the rest where the parts were.
  Schedule nested(def);
  nested.stage("out")
      .split("k", "ko", "ki", Expr(int64_t{32}), TailStrategy::SeparateLoop)
      .split("ki", "ku", "kv", Expr(int64_t{16}), TailStrategy::SeparateLoop);
  const LoweredOp nested_op = lower(nested);
  loops = loops_of(nested_op);
  EXPECT_NE(loops.find("for (ki, 0, cols - cols / 32 * 32)"), std::string::npos) << loops;
  for (int64_t cols : {5, 16, 37, 64, 83}) {
    const Sizes sizes = {{"rows", 3}, {"cols", cols}};
    const Buffers inputs = random_inputs(def, sizes);
    expect_near(run(nested_op, def, sizes, inputs).at("out"), row_sums(inputs.at("x"), 3, cols), loops);
  }

  // A remainder goes after its split's outer loop: with that loop split again (or fused) it
  // has nowhere to go, and lowering refuses rather than lose the remainder's points.
  Schedule lost(def);
  lost.stage("out")
      .split("k", "ko", "kv", Expr(int64_t{16}), TailStrategy::SeparateLoop)
      .split("ko", "ka", "kb", Expr(int64_t{2}), TailStrategy::SeparateLoop);
  EXPECT_THROW(lower(lost), InternalError);

  // Two accumulators per lane: the unrolled loop around the vector loop is factored too.
  // With 64 columns compiled in, the tiles divide the row and need neither guard nor remainder.
  const auto factor = [](const ComputeDef& d) {
    Schedule s(d);
    s.stage("out")
        .split("k", "ko", "ki", Expr(int64_t{32}))
        .split("ki", "ku", "kv", Expr(int64_t{16}))
        .unroll("ku")
        .vectorize("kv")
        .rfactor("ku");
    return s;
  };
  const ComputeDef cols64 = specialize_sizes(def, {{"cols", 64}});
  const Schedule factored = factor(cols64);
  EXPECT_EQ(to_string(factored), "out: root  i  j  ko(r)  ku:unrolled(rfactor)  kv:vectorized(r)\n");
  const LoweredOp op = lower(factored);
  loops = loops_of(op);
  const Sizes sizes = {{"rows", 5}};
  const Buffers inputs = random_inputs(cols64, sizes);
  expect_near(run(op, cols64, sizes, inputs).at("out"), row_sums(inputs.at("x"), 5, 64), loops);
  EXPECT_NE(loops.find("allocate out_lanes: f32[32] register"), std::string::npos) << loops;
  EXPECT_NE(loops.find("reduce_add(out_lanes[ramp(0, 1, 32)])"), std::string::npos) << loops;
  // Over a symbolic row the split would need a guard `k < cols`, true for some lanes and not
  // others: refused, since a vector load under it would read past the row.
  EXPECT_THROW(lower(factor(def)), InternalError);

  EXPECT_THROW(Schedule(def).stage("out").rfactor("i"), InternalError);  // not a reduce loop
}

TEST_F(RowSum, ParallelMarksTheLoop) {
  Schedule s(def);
  s.stage("out").parallel("i");
  const std::string loops = check(s);
  EXPECT_NE(loops.find("parallel (i, 0, rows)"), std::string::npos) << loops;
}

TEST_F(RowSum, AcrossGpuThreadsPartialsMeetInSharedMemory) {
  const auto across_threads = [&](Schedule& s) -> StageRef {
    StageRef out = s.stage("out");
    out.gpu_block("i", 1).gpu_block("j", 0).split("k", "ko", "kt", Expr(int64_t{8})).reorder({"kt", "ko"}).gpu_thread("kt");
    return out;
  };
  Schedule s(def);
  across_threads(s).rfactor("kt").store_in(ir::MemoryScope::Shared);
  EXPECT_EQ(to_string(s), "out: root in shared  i:gpu_block1  j:gpu_block0  kt:gpu_thread0(rfactor)  ko(r)\n");
  const std::string loops = check(s, kGpu);
  EXPECT_NE(loops.find("allocate out_partial: f32[8] shared"), std::string::npos) << loops;
  EXPECT_NE(loops.find("barrier()"), std::string::npos) << loops;
  EXPECT_NE(loops.find("if (kt < 4)"), std::string::npos) << loops;

  Schedule no_rfactor(def);
  across_threads(no_rfactor);
  EXPECT_THROW(lower(no_rfactor, kGpu), InternalError);
  Schedule in_registers(def);
  across_threads(in_registers).rfactor("kt");
  EXPECT_THROW(lower(in_registers, kGpu), InternalError);
  EXPECT_THROW(Schedule(def).stage("out").store_in(ir::MemoryScope::Global), InternalError);
}

// out(i0, i1) = a + b over two axes: fuse makes them one loop.
TEST(SchedulePrimitives, FuseMakesOneLoopOfTwo) {
  const ComputeDef def = binary(Binary::Add, 2);
  const Sizes sizes = {{"d0", 3}, {"d1", 7}};
  const Buffers inputs = random_inputs(def, sizes);
  Schedule s(def);
  s.stage("out").fuse("i0", "i1", "f").split("f", "fo", "fv", Expr(int64_t{4}), TailStrategy::SeparateLoop);
  EXPECT_EQ(to_string(s), "out: root  fo  fv\n");
  const LoweredOp op = lower(s, {.vectorize = false});
  const std::string loops = loops_of(op);
  EXPECT_NE(loops.find("for (fo, 0, d0 * d1 / 4)"), std::string::npos) << loops;
  EXPECT_NE(loops.find("let i0 = f / d1"), std::string::npos) << loops;
  EXPECT_NE(loops.find("let i1 = f % d1"), std::string::npos) << loops;
  std::vector<double> want(21);
  for (size_t i = 0; i < want.size(); ++i) want[i] = inputs.at("a")[i] + inputs.at("b")[i];
  expect_near(run(op, def, sizes, inputs).at("out"), want, loops);

  EXPECT_THROW(Schedule(def).stage("out").fuse("i1", "i0", "g"), InternalError);  // not adjacent in this order
  const ComputeDef sum = reduce(ReduceKind::Sum);
  EXPECT_THROW(Schedule(sum).stage("out").fuse("j", "k", "g"), InternalError);  // spatial with reduce
}

// The GPU grid has three dimensions: the default rules fuse the leading axes of a rank-5
// element-wise op, and the fused loop still reaches every element.
TEST(SchedulePrimitives, GpuRulesFuseAxesBeyondThreeGridDimensions) {
  const ComputeDef def = unary(Unary::Neg, 5);
  const Sizes sizes = {{"d0", 2}, {"d1", 3}, {"d2", 2}, {"d3", 2}, {"d4", 5}};
  const Buffers inputs = random_inputs(def, sizes);
  const Schedule s = default_schedule(def, generic_opencl_target());
  EXPECT_NE(to_string(s).find("i0_i1:gpu_block2"), std::string::npos) << to_string(s);
  const LoweredOp op = lower(s, kGpu);
  ASSERT_EQ(op.kernels.size(), 1u);
  EXPECT_EQ(ir::to_string(op.kernels[0].grid[2]), "d0 * d1");
  std::vector<double> want = inputs.at("x");
  for (double& v : want) v = -v;
  expect_near(run(op, def, sizes, inputs).at("out"), want, loops_of(op));
}

// GPU matmul: one thread per output column; the row of x every thread reads is copied a tile
// of r at a time into shared memory by the work-group (cache_read), between barriers. The
// threads past the last column still load and wait: only their updates and store are guarded.
// 70 columns and 130 terms: neither a whole number of 64-thread tiles.
TEST(SchedulePrimitives, CacheReadCopiesARegionIntoSharedMemory) {
  const ComputeDef def = matmul(DType::f32);
  const Schedule s = default_schedule(def, generic_opencl_target());
  EXPECT_EQ(to_string(s),
            "x_shared: at out.ro in shared  c0  c1\n"
            "out: root  i:gpu_block1  jo:gpu_block0  jt:gpu_thread0  ro(r)  ri(r)\n");
  const LoweredOp op = lower(s, kGpu);
  // Lines without their indentation.
  std::string loops;
  for (const char c : loops_of(op)) {
    if (c != ' ' || (!loops.empty() && loops.back() != '\n')) loops += c;
  }
  for (const char* expected : {"allocate out_x_shared: f32[64] shared",
                               "out_x_shared[x_shared_e] = x[i * k + (ro * 64 + x_shared_c1)]",
                               "barrier()\nfor (ri, 0, 64)",
                               "if (j < n && r < k) {\nout_acc[0] = out_acc[0] + out_x_shared[r - ro * 64] * w[j * k + r]",
                               "barrier()\n}\n}\nif (j < n) {\nout[i * n + j] = out_acc[0]"}) {
    EXPECT_NE(loops.find(expected), std::string::npos) << expected << "\nnot in\n" << loops;
  }

  const int64_t m = 2, n = 70, k = 130;
  const Sizes sizes = {{"m", m}, {"n", n}, {"k", k}};
  const Buffers inputs = random_inputs(def, sizes);
  std::vector<double> want(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t r = 0; r < k; ++r) {
        want[static_cast<size_t>(i * n + j)] +=
            inputs.at("x")[static_cast<size_t>(i * k + r)] * inputs.at("w")[static_cast<size_t>(j * k + r)];
      }
    }
  }
  expect_near(run(op, def, sizes, inputs).at("out"), want, loops);

}

// A work-group per row and 64 columns, a thread per column, r in tiles of `r_tile` (what the
// GPU rules do for matmul), before any copy is made.
Schedule gpu_columns(const ComputeDef& def, int64_t r_tile) {
  Schedule s(def);
  s.stage("out")
      .gpu_block("i", 1)
      .split("j", "jo", "jt", Expr(int64_t{64}))
      .gpu_block("jo")
      .gpu_thread("jt")
      .split("r", "ro", "ri", Expr(r_tile));
  return s;
}

TEST(SchedulePrimitives, CacheReadRefusesWhatItCannotHold) {
  const ComputeDef def = matmul(DType::f32);
  Schedule not_an_input(def);
  EXPECT_THROW(not_an_input.cache_read("out", "out", "copy"), InternalError);

  // A reader that reads its copy at two patterns: the region fits only one.
  ComputeDef twice = def;
  twice.stages.back().body = twice.stages.back().body +
                             ir::Access::make(ir::Type::f32(), "x", {ir::var("i"), ir::var("k") - 1 - ir::var("r")});
  Schedule two_patterns = gpu_columns(twice, 64);
  two_patterns.cache_read("x", "out", "x_shared").compute_at("out", "ro").store_in(ir::MemoryScope::Shared);
  EXPECT_THROW(lower(two_patterns, kGpu), InternalError);

  // Copies of x (128 elements) and of w (64 columns x 128) each fit 32 KiB; together they do not.
  Schedule both = gpu_columns(def, 128);
  both.cache_read("x", "out", "x_shared").compute_at("out", "ro").store_in(ir::MemoryScope::Shared);
  both.cache_read("w", "out", "w_shared").compute_at("out", "ro").store_in(ir::MemoryScope::Shared);
  try {
    lower(both, kGpu);
    ADD_FAILURE() << "33280 bytes of shared memory accepted";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("needs 33280 bytes of shared memory"), std::string::npos) << e.what();
  }
  // The limit is the target's: a device with 64 KiB of local memory takes both copies.
  Target roomy = generic_opencl_target();
  roomy.shared_memory_bytes = 64 * 1024;
  EXPECT_NO_THROW(lower(both, LowerOptions::for_target(roomy)));

  // Computed at the column blocks, the copy would span every tile of r: k is not a constant.
  Schedule too_far_out = gpu_columns(def, 64);
  too_far_out.cache_read("x", "out", "x_shared").compute_at("out", "jo").store_in(ir::MemoryScope::Shared);
  EXPECT_THROW(lower(too_far_out, kGpu), InternalError);
}

// rms_norm: the sum of squares is a stage of its own, computed per row inside the output's
// loop (compute_at), inlined, or at root as a separate kernel with a scratch buffer.
class RmsNorm : public ::testing::Test {
 protected:
  const ComputeDef def = rms_norm(1e-5);
  const Sizes sizes = {{"rows", 3}, {"cols", 21}};
  const Buffers inputs = random_inputs(def, sizes);

  std::vector<double> expected() const {
    const std::vector<double>& x = inputs.at("x");
    std::vector<double> out(x.size());
    for (size_t i = 0; i < 3; ++i) {
      double ss = 0;
      for (size_t j = 0; j < 21; ++j) ss += x[i * 21 + j] * x[i * 21 + j];
      for (size_t j = 0; j < 21; ++j) out[i * 21 + j] = x[i * 21 + j] / std::sqrt(ss / 21 + 1e-5);
    }
    return out;
  }

  LoweredOp check(const Schedule& schedule, const LowerOptions& options = {}) {
    const LoweredOp op = lower(schedule, options);
    expect_near(run(op, def, sizes, inputs).at("out"), expected(), loops_of(op));
    return op;
  }
};

TEST_F(RmsNorm, ComputeAtProducesEachRowInsideTheConsumer) {
  Schedule s(def);
  s.stage("ss").compute_at("out", "i");
  EXPECT_EQ(to_string(s).substr(0, 12), "ss: at out.i");
  const LoweredOp op = check(s);
  ASSERT_EQ(op.kernels.size(), 1u);
  EXPECT_TRUE(op.scratch.empty());
  const std::string loops = loops_of(op);
  EXPECT_LT(loops.find("for (i, 0, rows)"), loops.find("allocate out_ss: f32[1] register")) << loops;
}

TEST_F(RmsNorm, StoreInPutsTheProducerInPrivateMemory) {
  Schedule s(def);
  s.stage("ss").compute_at("out", "i").store_in(ir::MemoryScope::Local);
  const std::string loops = loops_of(check(s));
  EXPECT_NE(loops.find("allocate out_ss: f32[1] local"), std::string::npos) << loops;
}

TEST_F(RmsNorm, AtRootTheProducerIsAKernelOfItsOwn) {
  const LoweredOp op = check(Schedule(def));
  ASSERT_EQ(op.kernels.size(), 2u);
  ASSERT_EQ(op.scratch.size(), 1u);
  EXPECT_EQ(op.scratch[0].name, "ss");
}

TEST_F(RmsNorm, ReductionsCannotBeInlined) {
  Schedule s(def);
  s.stage("ss").compute_inline();
  EXPECT_THROW(lower(s), InternalError);
}

TEST_F(RmsNorm, GpuRulesReduceEachRowAcrossAWorkGroup) {
  const Schedule s = default_schedule(def, generic_opencl_target());
  EXPECT_EQ(to_string(s).substr(0, 23), "ss: at out.i in shared ");
  const LoweredOp op = check(s, kGpu);
  EXPECT_EQ(ir::to_string(op.kernels[0].block[0]), "64");
}

// Inlining: an element-wise temporary becomes part of its reader's expression.
TEST(SchedulePrimitives, ComputeInlineSubstitutesTheProducer) {
  const Expr n = ir::var("n");
  const Expr i = ir::var("i");
  ComputeDef def;
  def.name = "twice_plus_one";
  def.inputs = {{"x", DType::f32, {n}}};
  def.outputs = {{"out", DType::f32, {n}}};
  def.size_params = {"n"};
  Stage twice{"t", {"i"}, {n}, {}, {}, ReduceKind::None, ir::Access::make(ir::Type::f32(), "x", {i}) * Expr(2.0f)};
  Stage out{"out", {"i"}, {n}, {}, {}, ReduceKind::None, ir::Access::make(ir::Type::f32(), "t", {i}) + Expr(1.0f)};
  def.stages = {twice, out};
  const Sizes sizes = {{"n", 9}};
  const Buffers inputs = random_inputs(def, sizes);
  std::vector<double> want = inputs.at("x");
  for (double& v : want) v = 2 * v + 1;

  Schedule inlined(def);
  inlined.stage("t").compute_inline();
  const LoweredOp one = lower(inlined);
  EXPECT_EQ(one.kernels.size(), 1u);
  EXPECT_NE(loops_of(one).find("out[i] = x[i] * 2.0f + 1.0f"), std::string::npos) << loops_of(one);
  expect_near(run(one, def, sizes, inputs).at("out"), want, loops_of(one));

  const LoweredOp two = lower(Schedule(def));
  EXPECT_EQ(two.kernels.size(), 2u);
  expect_near(run(two, def, sizes, inputs).at("out"), want, loops_of(two));
}

}  // namespace
}  // namespace kiln::kernel
