// The integer evaluator and constant folding: C semantics, and refusals where C has no value.
#include "kernel/ir/evaluate.h"

#include <gtest/gtest.h>

#include <limits>

#include "base/error.h"

namespace kiln::ir {
namespace {

const Expr n = var("n"), m = var("m");

TEST(EvaluateInt, ComputesLaunchSizes) {
  const std::map<std::string, int64_t> sizes = {{"n", 1000}, {"m", 7}};
  EXPECT_EQ(evaluate_int((n + 63) / 64, sizes), 16);
  EXPECT_EQ(evaluate_int(min(n, m * 2) + max(n % 3, 5), sizes), 14 + 5);
  EXPECT_EQ(evaluate_int(select(n > m, n - m, m - n), sizes), 993);
  EXPECT_EQ(evaluate_int((n >> 2) + (m << 3) + (n & 15) + (n | 1), sizes), 250 + 56 + 8 + 1001);
}

TEST(EvaluateInt, DividesAndTakesRemaindersTowardZero) {
  EXPECT_EQ(evaluate_int(Expr(-7) / 2, {}), -3);
  EXPECT_EQ(evaluate_int(Expr(-7) % 2, {}), -1);
  EXPECT_EQ(evaluate_int(Expr(7) / -2, {}), -3);
  EXPECT_EQ(evaluate_int(Expr(7) % -2, {}), 1);
}

TEST(EvaluateInt, WrapsToNarrowTypes) {
  EXPECT_EQ(evaluate_int(cast(Type::i32(), Expr(int64_t{1} << 32) + 5), {}), 5);
  EXPECT_EQ(evaluate_int(cast(Type::i8(), Expr(200)), {}), -56);
  EXPECT_EQ(evaluate_int(cast(Type::u8(), Expr(-1)), {}), 255);
  EXPECT_EQ(evaluate_int(cast(Type::boolean(), Expr(2)), {}), 1);
  const Expr u = IntImm::make(Type::u8(), 250);
  EXPECT_EQ(evaluate_int(u + IntImm::make(Type::u8(), 10), {}), 4);  // unsigned wraps
}

TEST(EvaluateInt, EvaluatesOnlyTheChosenSideOfSelectAndLogic) {
  EXPECT_EQ(evaluate_int(select(m == 0, Expr(0), n / m), {{"n", 5}, {"m", 0}}), 0);
  EXPECT_EQ(evaluate_int(m != 0 && n % m == 0, {{"n", 5}, {"m", 0}}), 0);
  EXPECT_EQ(evaluate_int(m == 0 || n % m == 0, {{"n", 5}, {"m", 0}}), 1);
}

TEST(EvaluateInt, RefusesWhatHasNoValue) {
  EXPECT_THROW(evaluate_int(n / m, {{"n", 5}, {"m", 0}}), UserError);
  EXPECT_THROW(evaluate_int(n * n, {{"n", int64_t{1} << 40}}), UserError);
  EXPECT_THROW(evaluate_int(n + 1, {}), InternalError);
  EXPECT_THROW(evaluate_int(Load::make(Type::i64(), "x", 0), {}), InternalError);
  EXPECT_THROW(evaluate_int(cast(Type::i64(), f32(1.0)), {}), InternalError);
  EXPECT_EQ(try_evaluate_int(n / m, {{"n", 5}, {"m", 0}}), std::nullopt);
  EXPECT_EQ(try_evaluate_int(n / m, {{"n", 6}, {"m", 3}}), 2);
}

TEST(FoldInt, FollowsC) {
  const int64_t lowest = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(fold_int(BinaryOp::Div, Type::i64(), lowest, -1), std::nullopt);
  EXPECT_EQ(fold_int(BinaryOp::Mod, Type::i64(), lowest, -1), 0);
  EXPECT_EQ(fold_int(BinaryOp::Add, Type::i64(), std::numeric_limits<int64_t>::max(), 1), std::nullopt);
  EXPECT_EQ(fold_int(BinaryOp::Add, Type::i32(), 0x7fffffff, 1), std::nullopt);
  EXPECT_EQ(fold_int(BinaryOp::Add, Type::u32(), 0xffffffff, 1), 0);
  EXPECT_EQ(fold_int(BinaryOp::Sub, Type::u8(), 0, 1), 255);
  EXPECT_EQ(fold_int(BinaryOp::LT, Type::u32(), 0xffffffff, 1), 0);
  EXPECT_EQ(fold_int(BinaryOp::LT, Type::i32(), -1, 1), 1);
  EXPECT_EQ(fold_int(BinaryOp::Shl, Type::i32(), 1, 32), std::nullopt);
  EXPECT_EQ(fold_int(BinaryOp::Shr, Type::i32(), -8, 1), -4);
  EXPECT_EQ(fold_int(BinaryOp::Shr, Type::u8(), 0x80, 7), 1);
  EXPECT_EQ(fold_int(BinaryOp::Shl, Type::i8(), 1, 7), -128);
  const int64_t u64_max = -1;  // u64 constants are held as bit patterns
  const Type u64{TypeKind::UInt, 64, 1};
  EXPECT_EQ(fold_int(BinaryOp::Div, u64, u64_max, 2), int64_t{0x7fffffffffffffff});
  EXPECT_EQ(fold_int(BinaryOp::Max, u64, u64_max, 2), u64_max);
}

}  // namespace
}  // namespace kiln::ir
