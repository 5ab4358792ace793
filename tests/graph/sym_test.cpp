// Symbolic dimensions: canonical simplification, equality, evaluation and printing.
#include "graph/sym.h"

#include <gtest/gtest.h>

#include <functional>

#include "base/error.h"
#include "support/expect_error.h"

namespace kiln::graph {
namespace {

TEST(SymExpr, PrintsReadably) {
  const SymExpr n = sym("n_tokens");
  EXPECT_EQ((n * 9).to_string(), "n_tokens * 9");
  EXPECT_EQ((sym("kv_len") + 1).to_string(), "kv_len + 1");
  EXPECT_EQ((n - 1).to_string(), "n_tokens - 1");
  EXPECT_EQ((-n).to_string(), "-n_tokens");
  EXPECT_EQ(((n + 31) / 32).to_string(), "(n_tokens + 31) / 32");
  EXPECT_EQ((n % 32).to_string(), "n_tokens % 32");
  EXPECT_EQ(min(sym("kv_len"), 4096).to_string(), "min(kv_len, 4096)");
  EXPECT_EQ(max(4096, sym("kv_len")).to_string(), "max(kv_len, 4096)");
  EXPECT_TRUE(min(sym("a"), sym("b")).same_as(min(sym("b"), sym("a"))));
  EXPECT_EQ(SymExpr(-7).to_string(), "-7");
  EXPECT_EQ(to_string(Shape{n, 576}), "[n_tokens, 576]");
  EXPECT_EQ(to_string(Shape{}), "[]");
}

TEST(SymExpr, FoldsConstants) {
  EXPECT_EQ((SymExpr(3) + 4).as_constant(), 7);
  EXPECT_EQ((SymExpr(3) * 4 - 2).as_constant(), 10);
  EXPECT_EQ((SymExpr(-1) / 32).as_constant(), -1);  // floor division
  EXPECT_EQ((SymExpr(-1) % 32).as_constant(), 31);  // floor modulo
  EXPECT_EQ(min(SymExpr(3), 5).as_constant(), 3);
  EXPECT_EQ(max(SymExpr(3), 5).as_constant(), 5);
}

TEST(SymExpr, AppliesIdentities) {
  const SymExpr n = sym("n");
  EXPECT_TRUE((n + 0).same_as(n));
  EXPECT_TRUE((n * 1).same_as(n));
  EXPECT_TRUE((n * 0).same_as(0));
  EXPECT_TRUE((n - n).same_as(0));
  EXPECT_TRUE((n / 1).same_as(n));
  EXPECT_TRUE((n % 1).same_as(0));
  EXPECT_TRUE(min(n, n).same_as(n));
  EXPECT_TRUE(min(n + 1, n).same_as(n));
  EXPECT_TRUE(max(n + 1, n).same_as(n + 1));
}

TEST(SymExpr, CombinesLikeTermsAndExpandsProducts) {
  const SymExpr n = sym("n");
  const SymExpr m = sym("m");
  EXPECT_TRUE((n + n).same_as(n * 2));
  EXPECT_TRUE(((n + 1) * 2).same_as(2 * n + 2));
  EXPECT_TRUE((n * 9 * 64).same_as(n * 576));
  EXPECT_TRUE((n * m).same_as(m * n));
  EXPECT_TRUE((n + m).same_as(m + n));
  EXPECT_TRUE(((n + m) * (n - m)).same_as(n * n - m * m));
  EXPECT_EQ((n * 3 + m * 2 - n * 3).to_string(), "m * 2");
  EXPECT_FALSE(n.same_as(m));
  EXPECT_FALSE((n * 2).same_as(n * 3));
}

TEST(SymExpr, SimplifiesDivisionAndModulo) {
  const SymExpr n = sym("n");
  EXPECT_TRUE(((n * 32) / 32).same_as(n));
  EXPECT_TRUE(((n * 32 + 64) / 32).same_as(n + 2));
  EXPECT_TRUE(((n * 32 + 31) / 32).same_as(n));    // floor((32n + 31) / 32) == n
  EXPECT_TRUE((n / 4 / 8).same_as(n / 32));        // nested divisions merge
  EXPECT_TRUE(((n * 64) % 32).same_as(0));
  EXPECT_TRUE(((n * 32 + 5) % 32).same_as(5));
  EXPECT_TRUE(((n + 33) % 32).same_as((n + 1) % 32));
  EXPECT_TRUE((n % 64 % 32).same_as(n % 32));
  EXPECT_TRUE(((n + 33) / 32).same_as((n + 1) / 32 + 1));
  // What is not provable without knowing n is even:
  EXPECT_FALSE((n / 2 * 2).same_as(n));
}

TEST(SymExpr, ParenthesizesDivisionsInProducts) {
  const SymExpr a = sym("a");
  const SymExpr b = sym("b");
  EXPECT_EQ(((a / 2) * (b / 2)).to_string(), "(a / 2) * (b / 2)");
  EXPECT_EQ((-(a / 2)).to_string(), "-(a / 2)");
  EXPECT_EQ((b - a / 2).to_string(), "b - a / 2");
  EXPECT_EQ((b - a / 2 * 3).to_string(), "b - (a / 2) * 3");
  EXPECT_EQ(((a + 1) * 3 / 2).to_string(), "a + (a + 1) / 2 + 1");
}

TEST(SymExpr, Evaluates) {
  const SymExpr n = sym("n_tokens");
  const SymExpr kv = sym("kv_len");
  const std::map<std::string, int64_t> bindings = {{"n_tokens", 7}, {"kv_len", 100}};
  EXPECT_EQ((n * 9).evaluate(bindings), 63);
  EXPECT_EQ((kv - n + 1).evaluate(bindings), 94);
  EXPECT_EQ(((n + 31) / 32).evaluate(bindings), 1);
  EXPECT_EQ(((n - 8) / 4).evaluate(bindings), -1);
  EXPECT_EQ(((n - 8) % 4).evaluate(bindings), 3);
  EXPECT_EQ(min(kv, n * 10).evaluate(bindings), 70);
  EXPECT_EQ(max(kv, n * 10).evaluate(bindings), 100);
}

int64_t floor_div(int64_t a, int64_t b) { return (a - ((a % b) + b) % b) / b; }

TEST(SymExpr, EvaluationAgreesWithSimplification) {
  const SymExpr n = sym("n");
  const SymExpr m = sym("m");
  const std::vector<std::pair<SymExpr, std::function<int64_t(int64_t, int64_t)>>> cases = {
      {(n * 3 + m + 7) / 4, [](int64_t x, int64_t y) { return floor_div(3 * x + y + 7, 4); }},
      {(n * 5 - 3) % 4, [](int64_t x, int64_t) { return 5 * x - 3 - 4 * floor_div(5 * x - 3, 4); }},
      {-(n / 2) + m * 3, [](int64_t x, int64_t y) { return -floor_div(x, 2) + 3 * y; }},
      {(n - 1) / 8 / 2, [](int64_t x, int64_t) { return floor_div(floor_div(x - 1, 8), 2); }},
      {(n + m) * (n - 2), [](int64_t x, int64_t y) { return (x + y) * (x - 2); }},
  };
  for (int64_t x = -9; x <= 9; ++x) {
    for (int64_t y = 0; y <= 3; ++y) {
      for (const auto& [expr, reference] : cases) {
        EXPECT_EQ(expr.evaluate({{"n", x}, {"m", y}}), reference(x, y))
            << expr.to_string() << " at n=" << x << " m=" << y;
      }
    }
  }
}

TEST(SymExpr, UnknownSymbolIsAUserError) {
  expect_user_error([] { (sym("kv_len") + 1).evaluate({{"n_tokens", 3}}); },
                    {"symbol 'kv_len' has no value", "kv_len + 1", "bound: n_tokens"});
}

TEST(SymExpr, ListsSymbols) {
  const SymExpr e = min(sym("kv_len"), sym("n_ctx")) + sym("n_tokens") * 2;
  EXPECT_EQ(e.symbols(), (std::set<std::string>{"kv_len", "n_ctx", "n_tokens"}));
  EXPECT_TRUE(SymExpr(5).symbols().empty());
}

TEST(SymExpr, RefusesBadInput) {
  EXPECT_THROW(sym("2n"), UserError);
  EXPECT_THROW(sym(""), UserError);
  EXPECT_THROW(sym("n") / sym("m"), UserError);  // divisor must be a constant
  EXPECT_THROW(sym("n") % 0, UserError);
  EXPECT_THROW(SymExpr(INT64_MAX) + 1, UserError);
  EXPECT_THROW(sym("n") * INT64_MAX * 2, UserError);
}

TEST(Shape, CountsElements) {
  const SymExpr n = sym("n");
  EXPECT_TRUE(num_elements({n, 9, 64}).same_as(num_elements({n, 576})));
  EXPECT_TRUE(num_elements({}).same_as(1));
  EXPECT_TRUE(same_shape({n, 4}, {n, 2 * 2}));
  EXPECT_FALSE(same_shape({n, 4}, {n, 4, 1}));
}

}  // namespace
}  // namespace kiln::graph
