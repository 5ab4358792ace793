// Vectorization: printed loops before/after, the same results from the scalar and vectorized
// loops when both are run by the test interpreter, and the loops it must refuse.
#include "kernel/lower/vectorize.h"

#include <gtest/gtest.h>

#include <random>

#include "base/error.h"
#include "ir_interpreter.h"
#include "kernel/ir/printer.h"
#include "kernel/ir/simplify.h"

namespace kiln::ir {
namespace {

const Expr i = var("i"), k = var("k"), n = var("n");

Expr load(const std::string& buffer, const Expr& index) { return Load::make(Type::f32(), buffer, index); }

Stmt vectorized(const std::string& v, Expr min, int lanes, Stmt body) {
  return For::make(v, std::move(min), lanes, ForKind::Vectorized, std::move(body));
}

// What the pipeline prints after vectorizing: vectorize, then simplify.
std::string after_vectorize(const Stmt& s) { return to_string(simplify(vectorize_loops(s))); }

// Runs `scalar` and its vectorized form on the same random integer-valued data (so float sums
// are exact in any order) and expects every buffer to end up equal.
void expect_same_results(const Stmt& scalar, const std::map<std::string, size_t>& buffer_sizes, int64_t n_value = 16) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> small(-9, 9);
  testing::Interpreter reference;
  for (const auto& [name, size] : buffer_sizes) {
    std::vector<double> data(size);
    for (double& v : data) v = small(rng);
    reference.buffers[name] = data;
  }
  reference.vars["n"] = {static_cast<double>(n_value)};
  testing::Interpreter vector_run = reference;
  reference.run(scalar);
  const Stmt vectorized_loops = vectorize_loops(scalar);
  vector_run.run(vectorized_loops);
  for (const auto& [name, data] : reference.buffers) {
    EXPECT_EQ(vector_run.buffers[name], data) << "buffer " << name << " after\n" << to_string(vectorized_loops);
  }
}

TEST(Vectorize, WidensElementwiseLoops) {
  const Stmt s = For::make("i", 0, n, ForKind::Serial,
                           vectorized("k", 0, 8, Store::make("out", i * 8 + k, load("x", i * 8 + k) * f32(2.0))));
  EXPECT_EQ(after_vectorize(s),
            "for (i, 0, n) {\n"
            "  out[ramp(i * 8, 1, 8)] = x[ramp(i * 8, 1, 8)] * broadcast(2.0f, 8)\n"
            "}\n");
  expect_same_results(s, {{"x", 128}, {"out", 128}});
}

TEST(Vectorize, WidensCastsSelectsCallsLetsAndInnerLoops) {
  const Expr t = var("t", Type::f32());
  const Stmt s = vectorized(
      "k", 4, 4,
      LetStmt::make("t", cast(Type::f32(), k) * f32(0.5),
                    For::make("r", 0, 3, ForKind::Serial,
                              Store::make("out", var("r") * 8 + k,
                                          select(k < 6, call(Intrinsic::Abs, {t - load("y", var("r"))}), t)))));
  EXPECT_EQ(after_vectorize(s),
            "let t = f32x4(ramp(4, 1, 4)) * broadcast(0.5f, 4)\n"
            "for (r, 0, 3) {\n"
            "  out[ramp(r * 8 + 4, 1, 4)] = select(ramp(4, 1, 4) < broadcast(6, 4), abs(t - broadcast(y[r], 4)), t)\n"
            "}\n");
  expect_same_results(s, {{"y", 3}, {"out", 24}});
}

TEST(Vectorize, TurnsUpdatesOfOneElementIntoHorizontalReductions) {
  const Expr acc = load("acc", 0);
  const Stmt s = Allocate::make(
      "acc", Type::f32(), 1, MemoryScope::Register,
      Block::make({
          Store::make("acc", 0, f32(0.0)),
          For::make("ko", 0, n / 8, ForKind::Serial,
                    vectorized("ki", 0, 8, Store::make("acc", 0, acc + load("x", var("ko") * 8 + var("ki"))))),
          Store::make("out", 0, acc),
          Store::make("acc", 0, f32(-100.0)),
          vectorized("k", 0, 8, Store::make("acc", 0, max(load("x", k), acc))),
          Store::make("out", 1, acc),
          // A lane-invariant term is added once per lane; min with one is idempotent.
          vectorized("k", 0, 8, Store::make("acc", 0, acc + load("x", 0))),
          vectorized("k", 0, 8, Store::make("acc", 0, min(acc, load("x", 1)))),
          Store::make("out", 2, acc),
      }));
  EXPECT_EQ(after_vectorize(s),
            "allocate acc: f32[1] register {\n"
            "  acc[0] = 0.0f\n"
            "  for (ko, 0, n / 8) {\n"
            "    acc[0] = acc[0] + reduce_add(x[ramp(ko * 8, 1, 8)])\n"
            "  }\n"
            "  out[0] = acc[0]\n"
            "  acc[0] = -100.0f\n"
            "  acc[0] = max(reduce_max(x[ramp(0, 1, 8)]), acc[0])\n"
            "  out[1] = acc[0]\n"
            "  acc[0] = acc[0] + reduce_add(broadcast(x[0], 8))\n"
            "  acc[0] = min(acc[0], x[1])\n"
            "  out[2] = acc[0]\n"
            "}\n");
  expect_same_results(s, {{"x", 64}, {"out", 3}}, /*n_value=*/64);
}

TEST(Vectorize, GivesEachLaneItsOwnCopyOfRegisterAllocations) {
  // Four rows of a matrix-vector product at once, one accumulator per lane.
  const Expr row = i * 4 + var("j");
  const Stmt s = For::make(
      "i", 0, 2, ForKind::Serial,
      vectorized("j", 0, 4,
                 Allocate::make("acc", Type::f32(), 1, MemoryScope::Register,
                                Block::make({
                                    Store::make("acc", 0, f32(0.0)),
                                    For::make("k", 0, n, ForKind::Serial,
                                              Store::make("acc", 0, load("acc", 0) + load("w", row * n + k) * load("x", k))),
                                    Store::make("out", row, load("acc", 0)),
                                }))));
  EXPECT_EQ(after_vectorize(s),
            "for (i, 0, 2) {\n"
            "  allocate acc: f32[4] register {\n"
            "    acc[ramp(0, 1, 4)] = broadcast(0.0f, 4)\n"
            "    for (k, 0, n) {\n"
            "      acc[ramp(0, 1, 4)] = acc[ramp(0, 1, 4)] + w[ramp(i * 4 * n + k, n, 4)] * broadcast(x[k], 4)\n"
            "    }\n"
            "    out[ramp(i * 4, 1, 4)] = acc[ramp(0, 1, 4)]\n"
            "  }\n"
            "}\n");
  expect_same_results(s, {{"w", 8 * 16}, {"x", 16}, {"out", 8}});
}

TEST(Vectorize, PredicatesStoresUnderLaneVaryingConditions) {
  const Stmt s = vectorized("k", 0, 8,
                            IfThenElse::make(load("x", k) > f32(0.0), Store::make("out", k, load("x", k)),
                                             IfThenElse::make(k < 2, Store::make("out", k, f32(0.0) - load("x", k)))));
  EXPECT_EQ(after_vectorize(s),
            "out[ramp(0, 1, 8)] = select(broadcast(0.0f, 8) < x[ramp(0, 1, 8)], x[ramp(0, 1, 8)], out[ramp(0, 1, 8)])\n"
            "out[ramp(0, 1, 8)] = select(!(broadcast(0.0f, 8) < x[ramp(0, 1, 8)]) && ramp(0, 1, 8) < broadcast(2, 8), "
            "broadcast(0.0f, 8) - x[ramp(0, 1, 8)], out[ramp(0, 1, 8)])\n");
  expect_same_results(s, {{"x", 8}, {"out", 8}});
}

TEST(Vectorize, PredicatesPerLaneAccumulators) {
  // Per row, the sum of the positive weights: the condition differs from lane to lane.
  const Expr weight = load("w", (i * 4 + var("j")) * n + k);
  const Stmt s = For::make(
      "i", 0, 2, ForKind::Serial,
      vectorized("j", 0, 4,
                 Allocate::make("acc", Type::f32(), 1, MemoryScope::Local,
                                Block::make({
                                    Store::make("acc", 0, f32(0.0)),
                                    For::make("k", 0, n, ForKind::Serial,
                                              IfThenElse::make(weight > f32(0.0), Store::make("acc", 0, load("acc", 0) + weight))),
                                    Store::make("out", i * 4 + var("j"), load("acc", 0)),
                                }))));
  expect_same_results(s, {{"w", 8 * 16}, {"out", 8}});
}

TEST(Vectorize, KeepsLoopsOfOneLaneAsLets) {
  const Stmt s = vectorized("k", i, 1, Store::make("out", k, f32(1.0)));
  EXPECT_EQ(to_string(vectorize_loops(s)), "let k = i\nout[k] = 1.0f\n");
  const Stmt untouched = For::make("k", 0, n, ForKind::Serial, Store::make("out", k, f32(1.0)));
  EXPECT_TRUE(vectorize_loops(untouched).same_as(untouched));
}

void expect_refused(const Stmt& s, const std::string& message) {
  try {
    vectorize_loops(s);
    ADD_FAILURE() << "vectorized:\n" << to_string(s);
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

TEST(Vectorize, RefusesWhatItCannotWiden) {
  expect_refused(vectorized("k", 0, 8, Store::make("out", 0, load("x", k))),
                 "cannot vectorize loop k: out[0] does not depend on k but the value stored there does");
  expect_refused(vectorized("k", 0, 8, Store::make("acc", 0, load("acc", 0) * load("x", k))),
                 "cannot vectorize loop k: acc[0] does not depend on k");
  expect_refused(vectorized("k", 0, 8, Store::make("acc", 0, load("acc", 0) * f32(2.0))),
                 "cannot vectorize loop k: acc[0] is updated once per lane from its own value");
  expect_refused(vectorized("k", 0, 8, vectorized("j", 0, 4, Store::make("out", k * 4 + var("j"), f32(0.0)))),
                 "cannot vectorize loop k: it contains the vectorized loop j");
  expect_refused(vectorized("k", 0, 8, For::make("r", 0, k, ForKind::Serial, Store::make("out", k, f32(0.0)))),
                 "cannot vectorize loop k: the bounds of the inner loop r depend on k");
  expect_refused(vectorized("k", 0, 8, IfThenElse::make(k < 4, Store::make("acc", 0, load("acc", 0) + load("x", k)))),
                 "cannot vectorize loop k: the reduction into acc[0] is under a condition that depends on k");
  expect_refused(vectorized("k", 0, 8, IfThenElse::make(k < 4, Barrier::make())),
                 "cannot vectorize loop k: a barrier is under a condition that depends on k");
  expect_refused(vectorized("k", 0, 8, Store::make("out", k, call(Intrinsic::ReduceAdd, {load("x", Ramp::make(k, 1, 4))}))),
                 "already computes on vectors");
}

}  // namespace
}  // namespace kiln::ir
