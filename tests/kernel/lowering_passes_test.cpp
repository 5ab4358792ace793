// Lowering as named passes: the passes run in the documented order (vectorize only on CPUs,
// gpu_launch only on GPUs), each one's loop IR is what the pass promises compared with the
// previous pass's, and the verifier has accepted every one of them.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "kernel/compute/ops.h"
#include "kernel/ir/printer.h"
#include "base/error.h"
#include "kernel/lower/gpu_ids.h"
#include "kernel/lower/lower.h"
#include "kernel/schedule/rules.h"

namespace kiln::kernel {
namespace {

struct PassLog {
  std::vector<std::string> order;
  std::map<std::string, ir::Kernel> after;
};

PassLog lower_logged(const ComputeDef& def, const Target& target) {
  PassLog log;
  LowerOptions options = LowerOptions::for_target(target);
  options.after_pass = [&](const std::string& pass, const ir::Kernel& k) {
    log.order.push_back(pass);
    log.after[pass] = k;
  };
  lower(default_schedule(def, target), options);
  return log;
}

std::string text(const PassLog& log, const std::string& pass) { return ir::to_string(log.after.at(pass)); }

TEST(LoweringPasses, CpuRunsNestSimplifyVectorize) {
  const PassLog log = lower_logged(ops::rms_norm(1e-5), cpu_target({.avx2 = true, .avx512f = true}));
  EXPECT_EQ(log.order, (std::vector<std::string>{"loop_nest", "simplify", "vectorize", "simplify_vectors"}));
  for (const std::string& pass : log.order) {
    const auto& names = lowering_pass_names();
    EXPECT_NE(std::find(names.begin(), names.end(), pass), names.end()) << pass;
  }
  // loop_nest: the schedule's loops, lane accumulators indexed as tile point * lanes + lane.
  const std::string nest = text(log, "loop_nest");
  EXPECT_NE(nest.find("vectorized (ss_kv, 0, 16)"), std::string::npos) << nest;
  EXPECT_NE(nest.find("ss_ss_lanes[0 * 16 + ss_kv]"), std::string::npos) << nest;
  EXPECT_NE(nest.find("let ss_k = ss_ko * 16 + ss_kv"), std::string::npos) << nest;
  // simplify: the single tile point folded away, nothing else changed in shape.
  const std::string simple = text(log, "simplify");
  EXPECT_EQ(simple.find("0 * 16"), std::string::npos) << simple;
  EXPECT_NE(simple.find("ss_ss_lanes[ss_kv]"), std::string::npos) << simple;
  EXPECT_NE(simple.find("vectorized (ss_kv, 0, 16)"), std::string::npos) << simple;
  // vectorize: no vectorized loop left; the lane loop became ramps and a horizontal reduction.
  const std::string vector = text(log, "vectorize");
  EXPECT_EQ(vector.find("vectorized ("), std::string::npos) << vector;
  EXPECT_NE(vector.find("ss_ss_lanes[ramp(0, 1, 16)]"), std::string::npos) << vector;
  EXPECT_NE(vector.find("reduce_add("), std::string::npos) << vector;
  // CPU kernels have no launch shape.
  EXPECT_TRUE(log.after.at("simplify_vectors").grid.empty());
}

TEST(LoweringPasses, GpuRunsNestSimplifyLaunch) {
  const PassLog log = lower_logged(ops::rms_norm(1e-5), generic_opencl_target());
  EXPECT_EQ(log.order, (std::vector<std::string>{"loop_nest", "simplify", "gpu_launch", "gpu_ids"}));
  const ir::Kernel& before = log.after.at("simplify");
  const ir::Kernel& after = log.after.at("gpu_launch");
  // gpu_launch: the loops unchanged, the grid (a work-group per row) and work-group size set.
  EXPECT_TRUE(before.grid.empty());
  EXPECT_EQ(ir::to_string(before.body), ir::to_string(after.body));
  ASSERT_EQ(after.grid.size(), 3u);
  EXPECT_EQ(ir::to_string(after.grid[0]), "rows");
  EXPECT_EQ(ir::to_string(after.block[0]), "64");
  EXPECT_NE(text(log, "gpu_launch").find("grid(rows, 1, 1) block(64, 1, 1)"), std::string::npos);
  // gpu_ids: the loops become ids; the launch covers every loop exactly, so nothing is guarded.
  const std::string loops = text(log, "gpu_launch");
  const std::string ids = text(log, "gpu_ids");
  EXPECT_NE(loops.find("gpu_block.x (i, 0, rows)"), std::string::npos) << loops;
  EXPECT_NE(loops.find("gpu_thread.x (ss_kt, 0, 64)"), std::string::npos) << loops;
  EXPECT_EQ(ids.find("gpu_block."), std::string::npos) << ids;
  EXPECT_EQ(ids.find("gpu_thread."), std::string::npos) << ids;
  EXPECT_NE(ids.find("let i = gpu_block_id(0)"), std::string::npos) << ids;
  EXPECT_NE(ids.find("let ss_kt = gpu_thread_id(0)"), std::string::npos) << ids;
}

// A thread loop shorter than the work-group keeps its iterations under a guard; one longer
// than the launch is refused.
TEST(LoweringPasses, GpuIdsGuardLoopsShorterThanTheLaunch) {
  ir::Kernel k;
  k.name = "k";
  k.buffers = {{"out", ir::Type::f32(), true}};
  k.size_params = {"n"};
  k.body = ir::For::make("b", ir::Expr(int64_t{0}), ir::var("n"), ir::ForKind::GpuBlock,
                         ir::For::make("t", ir::Expr(int64_t{0}), ir::Expr(int64_t{32}), ir::ForKind::GpuThread,
                                       ir::Store::make("out", ir::var("b") * int64_t{64} + ir::var("t"), ir::f32(1))));
  k.grid = {ir::var("n"), ir::Expr(int64_t{1}), ir::Expr(int64_t{1})};
  k.block = {ir::Expr(int64_t{64}), ir::Expr(int64_t{1}), ir::Expr(int64_t{1})};
  ir::Kernel mapped = k;
  map_gpu_ids(mapped);
  EXPECT_EQ(ir::to_string(mapped.body),
            "let b = gpu_block_id(0)\n"
            "let t = gpu_thread_id(0)\n"
            "if (t < 32) {\n"
            "  out[b * 64 + t] = 1.0f\n"
            "}\n");
  k.block[0] = ir::Expr(int64_t{16});
  EXPECT_THROW(map_gpu_ids(k), InternalError);
}

TEST(LoweringPasses, QuantizedMatmulKeepsItsBlockStructureThroughThePasses) {
  const PassLog log = lower_logged(ops::matmul(DType::q4_0), cpu_target({.avx2 = true}));
  // AVX2: 8 lanes, so a block of 32 is 4 vector tiles; 4 rows of x share a block, and the 16
  // registers hold 2 accumulators per row: the block is 2 sub-blocks of 2 unrolled tiles.
  const std::string nest = text(log, "loop_nest");
  EXPECT_NE(nest.find("for (rs, 0, 2)"), std::string::npos) << nest;
  EXPECT_NE(nest.find("unrolled (ru, 0, 2)"), std::string::npos) << nest;
  EXPECT_NE(nest.find("vectorized (rv, 0, 8)"), std::string::npos) << nest;
  EXPECT_NE(nest.find("allocate out_tile: f32[64] register"), std::string::npos) << nest;
  const std::string vector = text(log, "simplify_vectors");
  EXPECT_NE(vector.find("ramp("), std::string::npos);
  EXPECT_EQ(vector.find("vectorized ("), std::string::npos) << vector;
}

TEST(LoweringPasses, KFormatBlockIsWalkedInSubBlocksThatFitTheRegisters) {
  // AVX-512: 16 lanes and 32 registers. A q4_K block of 256 is 16 vector tiles; unrolled whole
  // for 4 rows it wanted 64 accumulators. Half the registers hold 16: 4 tiles per row, so
  // the block is 4 sub-blocks of 64 elements in a serial loop.
  const PassLog log = lower_logged(ops::matmul(DType::q4_K), cpu_target({.avx2 = true, .avx512f = true}));
  const std::string nest = text(log, "loop_nest");
  EXPECT_NE(nest.find("for (rs, 0, 4)"), std::string::npos) << nest;
  EXPECT_NE(nest.find("unrolled (ru, 0, 4)"), std::string::npos) << nest;
  EXPECT_NE(nest.find("vectorized (rv, 0, 16)"), std::string::npos) << nest;
  EXPECT_NE(nest.find("allocate out_tile: f32[256] register"), std::string::npos) << nest;
}

TEST(LoweringPasses, SignedByteDotChainsAreSteppedAcrossTheRowTile) {
  // q8_0 on AVX2: a group's 8 signed words, each its own step over the 4 rows of x, so that one
  // word of weights (and its absolute value) is live at a time, not all 8 (16 registers).
  const PassLog log = lower_logged(ops::matmul_int8(DType::q8_0, 8), cpu_target({.avx2 = true}));
  ASSERT_EQ(log.order.back(), "dot_chain_steps");
  const std::string stepped = text(log, "dot_chain_steps");
  EXPECT_NE(stepped.find("allocate dot_steps: i32[32] register"), std::string::npos) << stepped;
  size_t steps = 0;
  for (size_t at = stepped.find("dot_steps[ramp(ii * 8, 1, 8)] = dot4_s8s8("); at != std::string::npos;
       at = stepped.find("dot_steps[ramp(ii * 8, 1, 8)] = dot4_s8s8(", at + 1)) {
    ++steps;
  }
  EXPECT_EQ(steps, 8u) << stepped;
  // Each step adds one product to the row's partial sum, and the tile's sum takes the last.
  EXPECT_NE(stepped.find("= dot4_s8s8(dot_steps[ramp(ii * 8, 1, 8)], "), std::string::npos) << stepped;
  EXPECT_NE(stepped.find("f32x8(dot_steps[ramp(ii * 8, 1, 8)])"), std::string::npos) << stepped;
}

TEST(LoweringPasses, NibbleDotChainsStayOneStepForTheirSixteenBitSums) {
  // q4_0's 8 words of 4-bit bytes add up in i16 as one run: cut into steps, a back end without
  // byte dot products would widen each; the chain is left whole. q5_0's 5-bit bytes make runs
  // of 4 words: two steps.
  const PassLog q4 = lower_logged(ops::matmul_int8(DType::q4_0, 8), cpu_target({.avx2 = true}));
  EXPECT_EQ(std::count(q4.order.begin(), q4.order.end(), "dot_chain_steps"), 0);
  const PassLog q5 = lower_logged(ops::matmul_int8(DType::q5_0, 8), cpu_target({.avx2 = true}));
  ASSERT_EQ(q5.order.back(), "dot_chain_steps");
  const std::string stepped = text(q5, "dot_chain_steps");
  EXPECT_NE(stepped.find("dot_steps[ramp(ii * 8, 1, 8)] = dot4_u8s8(dot4_u8s8(dot4_u8s8(dot4_u8s8(broadcast(i32(0), 8)"),
            std::string::npos)
      << stepped;
  EXPECT_NE(stepped.find("dot_steps[ramp(ii * 8, 1, 8)] = dot4_u8s8(dot4_u8s8(dot4_u8s8(dot4_u8s8(dot_steps[ramp(ii * 8, 1, 8)]"),
            std::string::npos)
      << stepped;
}

}  // namespace
}  // namespace kiln::kernel
