// The loop-IR verifier: a well-formed kernel passes; each broken invariant is refused with a
// message that names the kernel, the pass and the problem.
#include "kernel/ir/verify.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace kiln::ir {
namespace {

const Type kF32 = Type::f32();

Kernel kernel_of(Stmt body, bool gpu_block_set = false) {
  Kernel k;
  k.name = "k";
  k.buffers = {{"x", kF32, false}, {"out", kF32, true}};
  k.size_params = {"n"};
  k.body = std::move(body);
  if (gpu_block_set) {
    k.grid = {var("n"), i64(1), i64(1)};
    k.block = {i64(64), i64(1), i64(1)};
  }
  return k;
}

void expect_refused(const Kernel& k, const std::string& fragment) {
  try {
    verify(k, "test_pass");
    ADD_FAILURE() << "accepted; expected: " << fragment;
  } catch (const InternalError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
    EXPECT_NE(what.find("kernel 'k' after pass 'test_pass'"), std::string::npos) << what;
  }
}

Stmt copy_loop() {
  return For::make("i", i64(0), var("n"), ForKind::Parallel,
                   Store::make("out", var("i"), Load::make(kF32, "x", var("i")) * f32(2)));
}

// A work-group of 64 threads: each stores into shared memory, all meet at a barrier, thread 0
// reads its neighbour's value.
Stmt shared_exchange(Stmt barrier_placement(Stmt)) {
  const Expr t = var("t");
  Stmt body = Block::make({Store::make("tile", t, Load::make(kF32, "x", var("b") * i64(64) + t)), barrier_placement(Barrier::make()),
                           Store::make("out", var("b") * i64(64) + t, Load::make(kF32, "tile", (t + i64(1)) % i64(64)))});
  Stmt threads = For::make("t", i64(0), i64(64), ForKind::GpuThread, body);
  return For::make("b", i64(0), var("n"), ForKind::GpuBlock, Allocate::make("tile", kF32, i64(64), MemoryScope::Shared, threads));
}

TEST(Verify, AcceptsWellFormedKernels) {
  EXPECT_NO_THROW(verify(kernel_of(copy_loop()), "p"));
  EXPECT_NO_THROW(verify(kernel_of(shared_exchange([](Stmt b) { return b; }), true), "p"));
  const Stmt vector = Store::make("out", Ramp::make(i64(0), i64(1), 8), Load::make(kF32, "x", Ramp::make(i64(8), i64(1), 8)));
  EXPECT_NO_THROW(verify(kernel_of(vector), "p"));
  const Stmt let = LetStmt::make("m", var("n") / i64(2), For::make("i", i64(0), var("m"), ForKind::Serial,
                                                                     Store::make("out", var("i"), f32(0))));
  EXPECT_NO_THROW(verify(kernel_of(let), "p"));
}

TEST(Verify, VariablesMustBeDefined) {
  expect_refused(kernel_of(Store::make("out", var("j"), f32(1))), "variable 'j' is read where nothing defines it");
  // A let's name is not visible in its own value, and a loop's variable not after the loop.
  const Stmt self = LetStmt::make("a", var("a") + i64(1), Store::make("out", var("a"), f32(1)));
  expect_refused(kernel_of(self), "variable 'a'");
  const Stmt after = Block::make({copy_loop(), Store::make("out", var("i"), f32(1))});
  expect_refused(kernel_of(after), "variable 'i'");
}

TEST(Verify, BuffersMustBeDeclaredAndOutputsWritable) {
  expect_refused(kernel_of(Store::make("ghost", i64(0), f32(1))), "store to 'ghost'");
  expect_refused(kernel_of(Store::make("out", i64(0), Load::make(kF32, "ghost", i64(0)))), "load from 'ghost'");
  expect_refused(kernel_of(Store::make("x", i64(0), f32(1))), "store to input 'x'");
  // An allocation is visible inside its body only.
  const Stmt outside = Block::make({Allocate::make("tmp", kF32, i64(4), MemoryScope::Register, Store::make("tmp", i64(0), f32(1))),
                                    Store::make("tmp", i64(1), f32(1))});
  expect_refused(kernel_of(outside), "store to 'tmp'");
}

TEST(Verify, VectorWidthsAgree) {
  // Built around make(), which refuses these, as a pass that rebuilds nodes by hand might.
  const Stmt store = Stmt(std::make_shared<const Store>("out", Ramp::make(i64(0), i64(1), 8), f32(1)));
  expect_refused(kernel_of(store), "a value of 1 lanes at an index of 8");
  const Expr load = Expr(std::make_shared<const Load>(kF32.with_lanes(4), "x", i64(0)));
  expect_refused(kernel_of(Stmt(std::make_shared<const Store>("out", Ramp::make(i64(0), i64(1), 4), load))),
                 "has 4 lanes but an index of 1");
  const Stmt vectorized = For::make("i", i64(0), var("n"), ForKind::Serial, Store::make("out", var("i"), f32(0)));
  const Stmt bad = Stmt(std::make_shared<const For>("i", i64(0), var("n"), ForKind::Vectorized, 0,
                                                    vectorized.as<For>()->body));
  expect_refused(kernel_of(bad), "vectorized loop 'i' has extent n, not a constant");
}

TEST(Verify, NoTensorAccessIsLeft) {
  const Expr access = Access::make(kF32, "x", {var("n")});
  expect_refused(kernel_of(Store::make("out", i64(0), access)), "tensor access 'x' left after lowering");
}

TEST(Verify, GpuLoopsNestOnlyInGpuLoops) {
  const Stmt inner_block = For::make("b", i64(0), i64(4), ForKind::GpuBlock, Store::make("out", var("b") + var("s"), f32(0)));
  expect_refused(kernel_of(For::make("s", i64(0), var("n"), ForKind::Serial, inner_block)), "GPU loop 'b' inside a serial");
  const Stmt block_in_thread = For::make(
      "t", i64(0), i64(64), ForKind::GpuThread,
      For::make("b", i64(0), i64(4), ForKind::GpuBlock, Store::make("out", var("b") + var("t"), f32(0))));
  expect_refused(kernel_of(block_in_thread), "gpu_block loop 'b' inside a gpu_thread loop");
  expect_refused(kernel_of(Allocate::make("tile", kF32, i64(4), MemoryScope::Shared, Store::make("tile", i64(0), f32(0)))),
                 "shared allocation 'tile' in a CPU kernel");
  expect_refused(kernel_of(Barrier::make()), "barrier in a CPU kernel");
}

TEST(Verify, EveryThreadReachesEachBarrier) {
  // Under a condition on the thread id: threads past 32 would skip it and hang the others.
  expect_refused(kernel_of(shared_exchange([](Stmt b) { return IfThenElse::make(var("t") < i64(32), b); }), true),
                 "barrier under a condition or in a loop that differs between threads");
  // The same through a let that carries the thread id.
  expect_refused(kernel_of(shared_exchange([](Stmt b) {
                   return LetStmt::make("half", var("t") / i64(2), IfThenElse::make(var("half") < i64(8), b));
                 }), true),
                 "differs between threads");
  // In a loop whose trip count depends on the thread.
  expect_refused(kernel_of(shared_exchange([](Stmt b) { return For::make("r", i64(0), var("t"), ForKind::Serial, b); }), true),
                 "differs between threads");
  // A condition every thread agrees on is fine.
  EXPECT_NO_THROW(verify(kernel_of(shared_exchange([](Stmt b) { return IfThenElse::make(var("b") < i64(2), b); }), true), "p"));
  // A thread loop narrower than the work-group: the threads beyond it never reach the barrier.
  Kernel wide = kernel_of(shared_exchange([](Stmt b) { return b; }), true);
  wide.block[0] = i64(128);
  expect_refused(wide, "the work-group is 128 along dimension 0");
  // Outside every thread loop: only a work-group of one thread reaches it as one.
  const Stmt lone = For::make("b", i64(0), var("n"), ForKind::GpuBlock,
                              Block::make({Store::make("out", var("b"), f32(0)), Barrier::make()}));
  expect_refused(kernel_of(lone, true), "barrier outside the thread loops of a work-group of 64 threads");
  Kernel single = kernel_of(lone, true);
  single.block = {i64(1), i64(1), i64(1)};
  EXPECT_NO_THROW(verify(single, "p"));
}

// After the gpu_ids pass there are no thread loops: a barrier is fine where every thread gets
// to it, and refused under a condition on the thread id, through a let or directly.
TEST(Verify, BarriersInTheIdForm) {
  const auto kernel_with = [](Stmt barrier_placement(Stmt)) {
    const Expr t = var("t");
    Stmt body = Block::make({Store::make("tile", t, Load::make(kF32, "x", var("b") * i64(64) + t)),
                             barrier_placement(Barrier::make()),
                             Store::make("out", var("b") * i64(64) + t, Load::make(kF32, "tile", (t + i64(1)) % i64(64)))});
    body = LetStmt::make("t", call(Intrinsic::GpuThreadId, {i64(0)}),
                         Allocate::make("tile", kF32, i64(64), MemoryScope::Shared, body));
    return kernel_of(LetStmt::make("b", call(Intrinsic::GpuBlockId, {i64(0)}), body), true);
  };
  EXPECT_NO_THROW(verify(kernel_with([](Stmt b) { return b; }), "p"));
  EXPECT_NO_THROW(verify(kernel_with([](Stmt b) { return IfThenElse::make(var("b") < var("n"), b); }), "p"))
      << "a condition on the block id holds for the whole work-group";
  expect_refused(kernel_with([](Stmt b) { return IfThenElse::make(var("t") < i64(32), b); }), "differs between threads");
  expect_refused(kernel_with([](Stmt b) {
                   return LetStmt::make("u", call(Intrinsic::GpuThreadId, {i64(0)}) * i64(2),
                                        IfThenElse::make(var("u") < i64(8), b));
                 }),
                 "differs between threads");
}

}  // namespace
}  // namespace kiln::ir
