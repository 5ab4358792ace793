// The simplifier: each rule on a small input (printed before/after), the rules that must NOT
// fire, statement cleanup, and random integer expressions evaluated before and after
// simplification over random (also negative) values.
#include "kernel/ir/simplify.h"

#include <gtest/gtest.h>

#include <random>

#include "kernel/ir/evaluate.h"
#include "kernel/ir/printer.h"

namespace kiln::ir {
namespace {

const Expr x = var("x"), y = var("y"), z = var("z"), i = var("i"), k = var("k"), n = var("n");
const Expr fx = var("fx", Type::f32());

std::string simplified(const Expr& e, const VarBounds& known = {}) { return to_string(simplify(e, known)); }

TEST(Simplify, FoldsConstants) {
  EXPECT_EQ(simplified(Expr(3) + 4 * 5), "23");
  EXPECT_EQ(simplified(Expr(-7) / 2), "-3");
  EXPECT_EQ(simplified(Expr(-7) % 2), "-1");
  EXPECT_EQ(simplified(min(Expr(3), 9) + max(Expr(-1), -5)), "2");
  EXPECT_EQ(simplified(Expr(3) < 4), "true");
  EXPECT_EQ(simplified(Expr(3) == 4 || Expr(1) != 1), "false");
  EXPECT_EQ(simplified(f32(0.1) + f32(0.2)), "0.3f");  // in f32: 0.1f + 0.2f == 0.3f
  EXPECT_EQ(simplified(f32(1.5) * f32(-2.0)), "-3.0f");
  EXPECT_EQ(simplified(cast(Type::f32(), Expr(3))), "3.0f");
  EXPECT_EQ(simplified(cast(Type::i32(), f32(-2.75))), "i32(-2)");
  EXPECT_EQ(simplified(cast(Type::u8(), Expr(300))), "u8(44)");
  EXPECT_EQ(simplified(select(Expr(1) < 2, x, y)), "x");
  EXPECT_EQ(simplified(Broadcast::make(Expr(2), 4) * Broadcast::make(Expr(3), 4)), "broadcast(6, 4)");
  // Undefined in C: left alone.
  EXPECT_EQ(simplified(Expr(1) / 0), "1 / 0");
  EXPECT_EQ(simplified(cast(Type::i32(), f32(3e9))), "i32(3e+09f)");
}

TEST(Simplify, AppliesIntegerIdentities) {
  EXPECT_EQ(simplified(x + 0), "x");
  EXPECT_EQ(simplified(0 + x), "x");
  EXPECT_EQ(simplified(x * 1 + x * 0), "x");
  EXPECT_EQ(simplified(x - x), "0");
  EXPECT_EQ(simplified(x / 1 + x % 1), "x");
  EXPECT_EQ(simplified(min(x, x) + max(y, y)), "x + y");
  EXPECT_EQ(simplified((x + 3) + 4), "x + 7");
  EXPECT_EQ(simplified((x + 3) - 4), "x - 1");
  EXPECT_EQ(simplified(3 + x), "x + 3");
  EXPECT_EQ(simplified((x + 1) + (y + 2)), "x + y + 3");
  EXPECT_EQ(simplified((x + 1) - (y + 1)), "x - y");
  EXPECT_EQ(simplified((x + y) - y), "x");
  EXPECT_EQ(simplified(x * 4 * 2), "x * 8");
  EXPECT_EQ(simplified((x + 1) * 4), "x * 4 + 4");
  EXPECT_EQ(simplified(min(min(x, 4), 2)), "min(x, 2)");
  EXPECT_EQ(simplified(x + 1 < 5), "x < 4");
  EXPECT_EQ(simplified(x > y), "y < x");
  EXPECT_EQ(simplified(x == x && y < y), "false");
  EXPECT_EQ(simplified(select(x < y, z, z)), "z");
}

TEST(Simplify, DividesMultiplesExactly) {
  EXPECT_EQ(simplified((x * 4) / 4), "x");
  EXPECT_EQ(simplified((x * 8) / 4), "x * 2");
  EXPECT_EQ(simplified((x * 4) / 8), "x / 2");
  EXPECT_EQ(simplified((x * 6) % 3), "0");
  EXPECT_EQ(simplified(x / 4 / 2), "x / 8");
}

TEST(Simplify, UsesBoundsToSplitQuotients) {
  const VarBounds lanes = {{"k", {0, 7}}, {"i", {0, std::nullopt}}};
  EXPECT_EQ(simplified((i * 8 + k) / 8, lanes), "i");
  EXPECT_EQ(simplified((i * 8 + k) % 8, lanes), "k");
  EXPECT_EQ(simplified((i * 16 + k) / 8, lanes), "i * 2");
  EXPECT_EQ(simplified((k + i * 8) % 4, lanes), "k % 4");
  EXPECT_EQ(simplified(min(k, 8), lanes), "k");
  EXPECT_EQ(simplified(k < 8, lanes), "true");
  EXPECT_EQ(simplified(k / 8 + (k - 7) / 8, lanes), "0");
}

TEST(Simplify, LeavesAloneWhatIsNotAlwaysTrue) {
  // Without bounds k may be negative: i = 1, k = -1 gives (8 - 1) / 8 = 0, but i + k / 8 = 1.
  EXPECT_EQ(simplified((i * 8 + k) / 8), "(i * 8 + k) / 8");
  EXPECT_EQ(simplified((i * 8 + k) % 8), "(i * 8 + k) % 8");
  // k in [-3, 7]: the sum can be negative with i = 0.
  EXPECT_EQ(simplified((i * 8 + k) / 8, {{"k", {-3, 7}}, {"i", {0, 9}}}), "(i * 8 + k) / 8");
  // Floats do not reassociate, and x + 0, x * 0, x - x are not identities for them.
  EXPECT_EQ(simplified((fx + f32(1.0)) + f32(2.0)), "fx + 1.0f + 2.0f");
  EXPECT_EQ(simplified(fx + f32(0.0)), "fx + 0.0f");
  EXPECT_EQ(simplified(fx * f32(0.0)), "fx * 0.0f");
  EXPECT_EQ(simplified(fx - fx), "fx - fx");
  EXPECT_EQ(simplified(fx * f32(1.0)), "fx");
  // Unsigned arithmetic wraps, so (u * 4) / 4 is not u.
  const Expr u = var("u", Type::u32());
  EXPECT_EQ(simplified((u * 4) / 4), "u * u32(4) / u32(4)");
  EXPECT_EQ(simplified((u + 1) + 2), "u + u32(3)");  // ring identities still hold
}

TEST(Simplify, SimplifiesRampsAndBroadcasts) {
  const Expr lane = Ramp::make(Expr(0), 1, 8);
  EXPECT_EQ(simplified(lane + Broadcast::make(i * 8, 8)), "ramp(i * 8, 1, 8)");
  EXPECT_EQ(simplified(Ramp::make(i, 2, 4) * Broadcast::make(Expr(3), 4)), "ramp(i * 3, 6, 4)");
  EXPECT_EQ(simplified(Ramp::make(i, 0, 4)), "broadcast(i, 4)");
  EXPECT_EQ(simplified(Ramp::make(i, 1, 4) - Ramp::make(i, 1, 4)), "broadcast(0, 4)");
}

TEST(Simplify, CleansUpStatements) {
  const Stmt store_k = Store::make("out", k, f32(1.0));
  EXPECT_TRUE(is_no_op(simplify(For::make("k", 0, 0, ForKind::Serial, store_k))));
  EXPECT_TRUE(is_no_op(simplify(For::make("k", 0, n, ForKind::Serial, IfThenElse::make(Expr(1) > 2, store_k)))));
  EXPECT_EQ(to_string(simplify(For::make("k", 5, 1, ForKind::Serial, store_k))), "out[5] = 1.0f\n");
  EXPECT_EQ(to_string(simplify(For::make("k", i * 4, 1, ForKind::Serial, store_k))),
            "let k = i * 4\n"
            "out[k] = 1.0f\n");
  // Only serial loops of one iteration are removed.
  EXPECT_EQ(to_string(simplify(For::make("k", 0, 1, ForKind::Parallel, store_k))),
            "parallel (k, 0, 1) {\n"
            "  out[k] = 1.0f\n"
            "}\n");
  EXPECT_EQ(to_string(simplify(IfThenElse::make(Expr(0) < 1, store_k, Store::make("out", 0, f32(0.0))))),
            "out[k] = 1.0f\n");
  EXPECT_EQ(to_string(simplify(Block::make({IfThenElse::make(x < 0, Block::make({})), store_k,
                                            LetStmt::make("unused", x * 2, Store::make("out", 1, f32(0.0)))}))),
            "out[k] = 1.0f\n"
            "out[1] = 0.0f\n");
  EXPECT_EQ(to_string(simplify(IfThenElse::make(x < y, Block::make({}), store_k))),
            "if (!(x < y)) {\n"
            "  out[k] = 1.0f\n"
            "}\n");
}

TEST(Simplify, UsesLoopBoundsInsideLoops) {
  const Stmt loop = For::make(
      "i", 0, n, ForKind::Parallel,
      For::make("k", 0, 8, ForKind::Serial,
                IfThenElse::make(k < 8, Store::make("out", (i * 8 + k) / 8, Load::make(Type::f32(), "x", (i * 8 + k) % 8)))));
  EXPECT_EQ(to_string(simplify(loop)),
            "parallel (i, 0, n) {\n"
            "  for (k, 0, 8) {\n"
            "    out[i] = x[k]\n"
            "  }\n"
            "}\n");
  // Outside the loop nothing is known about k.
  EXPECT_EQ(simplified(k < 8), "k < 8");
}

TEST(Simplify, ReturnsTheSameNodeWhenNothingChanges) {
  const Expr e = (x * y) / z;
  EXPECT_TRUE(simplify(e).same_as(e));
  const Stmt s = For::make("k", 0, n, ForKind::Serial, Store::make("out", k, Load::make(Type::f32(), "x", k * y)));
  EXPECT_TRUE(simplify(s).same_as(s));
}

// ---- Random expressions, evaluated before and after.

class RandomExprs {
 public:
  explicit RandomExprs(uint32_t seed) : rng_(seed) {}

  Expr make(int depth) {
    if (depth == 0 || pick(4) == 0) return leaf();
    switch (pick(14)) {
      case 0: case 1: return make(depth - 1) + make(depth - 1);
      case 2: return make(depth - 1) - make(depth - 1);
      case 3: return make(depth - 1) * small_constant();
      case 4: return make(depth - 1) * make(depth - 1);
      case 5: return make(depth - 1) / nonzero_constant();
      case 6: return make(depth - 1) % nonzero_constant();
      case 7: return min(make(depth - 1), make(depth - 1));
      case 8: return max(make(depth - 1), make(depth - 1));
      case 9: return select(condition(depth - 1), make(depth - 1), make(depth - 1));
      case 10: return (make(depth - 1) * nonzero_constant() + make(depth - 1)) / nonzero_constant();
      case 11: return (make(depth - 1) * nonzero_constant() + make(depth - 1)) % nonzero_constant();
      case 12: return (make(depth - 1) + small_constant()) + small_constant();
      default: return select(condition(depth - 1) && condition(depth - 1), make(depth - 1), leaf());
    }
  }

  int64_t value(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }

 private:
  int pick(int n_choices) { return static_cast<int>(value(0, n_choices - 1)); }
  Expr small_constant() { return Expr(value(-9, 9)); }
  Expr nonzero_constant() {
    const int64_t c = value(1, 9);
    return pick(4) == 0 ? Expr(-c) : Expr(c);
  }
  Expr leaf() {
    switch (pick(5)) {
      case 0: return x;
      case 1: return y;
      case 2: return z;
      default: return small_constant();
    }
  }
  Expr condition(int depth) {
    switch (pick(4)) {
      case 0: return make(depth) < make(depth);
      case 1: return make(depth) <= make(depth);
      case 2: return make(depth) == make(depth);
      default: return make(depth) > make(depth);
    }
  }

  std::mt19937 rng_;
};

// Every variable value for which `before` has a value must give `after` the same value.
void expect_same_values(const Expr& before, const Expr& after, RandomExprs& random, const VarBounds& bounds) {
  for (int trial = 0; trial < 40; ++trial) {
    std::map<std::string, int64_t> values;
    for (const char* name : {"x", "y", "z"}) {
      auto it = bounds.find(name);
      const int64_t lo = it != bounds.end() && it->second.min ? *it->second.min : -30;
      const int64_t hi = it != bounds.end() && it->second.max ? *it->second.max : 30;
      values[name] = random.value(lo, hi);
    }
    const std::optional<int64_t> expected = try_evaluate_int(before, values);
    if (!expected) continue;  // undefined in C (division by zero): anything goes
    const std::optional<int64_t> actual = try_evaluate_int(after, values);
    ASSERT_EQ(actual, expected) << "x=" << values["x"] << " y=" << values["y"] << " z=" << values["z"]
                                << "\nbefore: " << to_string(before) << "\nafter:  " << to_string(after);
  }
}

TEST(SimplifyRandom, KeepsTheValueOfRandomIntegerExpressions) {
  RandomExprs random(12345);
  for (int round = 0; round < 3000; ++round) {
    const Expr e = random.make(4);
    expect_same_values(e, simplify(e), random, {});
    if (HasFatalFailure()) return;
  }
}

TEST(SimplifyRandom, KeepsTheValueUnderKnownBounds) {
  RandomExprs random(777);
  const VarBounds bounds = {{"x", {0, 40}}, {"y", {0, 7}}, {"z", {-5, 5}}};
  for (int round = 0; round < 3000; ++round) {
    const Expr e = random.make(4);
    expect_same_values(e, simplify(e, bounds), random, bounds);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace kiln::ir
