// The loop IR printer: precedence, constants that re-read exactly, and statement layout.
#include "kernel/ir/printer.h"

#include <gtest/gtest.h>

#include <limits>
#include <sstream>

namespace kiln::ir {
namespace {

const Expr a = var("a"), b = var("b"), c = var("c"), d = var("d");

TEST(IRPrinter, UsesFewestParenthesesByPrecedence) {
  EXPECT_EQ(to_string(a + b * c), "a + b * c");
  EXPECT_EQ(to_string((a + b) * c), "(a + b) * c");
  EXPECT_EQ(to_string(a - b - c), "a - b - c");
  EXPECT_EQ(to_string(a - (b - c)), "a - (b - c)");
  EXPECT_EQ(to_string(a + (b + c)), "a + (b + c)");  // kept: float addition does not reassociate
  EXPECT_EQ(to_string(a / b % c), "a / b % c");
  EXPECT_EQ(to_string(a < b && c <= d), "a < b && c <= d");
  EXPECT_EQ(to_string((a < b || c < d) && a == b), "(a < b || c < d) && a == b");
  EXPECT_EQ(to_string(!(a < b)), "!(a < b)");
  EXPECT_EQ(to_string((a & b) == c), "(a & b) == c");
  EXPECT_EQ(to_string(a << (b + 1)), "a << b + 1");
  EXPECT_EQ(to_string(min(a + 1, max(b, c)) * 2), "min(a + 1, max(b, c)) * 2");
}

TEST(IRPrinter, PrintsConstantsSoTheyReadBackExactly) {
  EXPECT_EQ(to_string(f32(1e-5)), "1e-05f");
  EXPECT_EQ(to_string(f32(0.0)), "0.0f");
  EXPECT_EQ(to_string(f32(0.1)), "0.1f");
  EXPECT_EQ(to_string(f32(-2.5)), "-2.5f");
  EXPECT_EQ(to_string(f32(16777216.0)), "16777216.0f");
  EXPECT_EQ(to_string(FloatImm::make(Type::f64(), 0.1)), "0.1");
  EXPECT_EQ(to_string(FloatImm::make(Type::f64(), 3.0)), "3.0");
  EXPECT_EQ(to_string(FloatImm::make(Type::f16(), 1.5)), "f16(1.5)");
  EXPECT_EQ(to_string(f32(std::numeric_limits<double>::infinity())), "f32(inf)");
  EXPECT_EQ(to_string(f32(-std::numeric_limits<double>::infinity())), "f32(-inf)");
  EXPECT_EQ(to_string(i64(-7)), "-7");
  EXPECT_EQ(to_string(IntImm::make(Type::i32(), 7)), "i32(7)");
  EXPECT_EQ(to_string(IntImm::make(Type{TypeKind::UInt, 64, 1}, -1)), "u64(18446744073709551615)");
  EXPECT_EQ(to_string(IntImm::make(Type::boolean(), 1)), "true");
  EXPECT_EQ(to_string(IntImm::make(Type::boolean(), 0)), "false");
}

TEST(IRPrinter, PrintsVectorsCastsLoadsAndCalls) {
  const Expr i = var("i");
  const Expr lanes = Ramp::make(i * 8, 1, 8);
  EXPECT_EQ(to_string(lanes), "ramp(i * 8, 1, 8)");
  EXPECT_EQ(to_string(Broadcast::make(f32(2.0), 4)), "broadcast(2.0f, 4)");
  EXPECT_EQ(to_string(Load::make(Type::f32(), "x", lanes)), "x[ramp(i * 8, 1, 8)]");
  EXPECT_EQ(to_string(cast(Type::f32(), i)), "f32(i)");
  EXPECT_EQ(to_string(cast(Type::f32(), lanes)), "f32x8(ramp(i * 8, 1, 8))");
  EXPECT_EQ(to_string(reinterpret(Type::f32(), var("bits", Type::u32()))), "reinterpret<f32>(bits)");
  EXPECT_EQ(to_string(call(Intrinsic::Exp, {f32(1.0) + var("v", Type::f32())})), "exp(1.0f + v)");
  EXPECT_EQ(to_string(Access::make(Type::f32(), "w", {i, var("j")})), "w(i, j)");
  EXPECT_EQ(to_string(select(i < 4, f32(1.0), f32(0.0))), "select(i < 4, 1.0f, 0.0f)");
}

TEST(IRPrinter, PrintsAKernel) {
  const Expr i = var("i"), k = var("k"), n_cols = var("n_cols");
  const Expr x_ik = Load::make(Type::f32(), "x", i * n_cols + k);
  const Expr acc = Load::make(Type::f32(), "acc", 0);
  const Stmt row = Allocate::make(
      "acc", Type::f32(), 1, MemoryScope::Register,
      Block::make({
          Store::make("acc", 0, f32(0.0)),
          For::make("k", 0, n_cols, ForKind::Serial, Store::make("acc", 0, acc + x_ik * x_ik)),
          LetStmt::make("scale", call(Intrinsic::Rsqrt, {acc / cast(Type::f32(), n_cols) + f32(1e-5)}),
                        For::make("k", 0, n_cols, ForKind::Serial,
                                  Store::make("out", i * n_cols + k, x_ik * var("scale", Type::f32())))),
      }));
  Kernel kernel{.name = "rms_norm",
                .buffers = {{"x", Type::f32(), false}, {"out", Type::f32(), true}},
                .size_params = {"n_rows", "n_cols"},
                .body = For::make("i", 0, var("n_rows"), ForKind::Parallel, row)};
  EXPECT_EQ(to_string(kernel),
            "kernel rms_norm(x: f32*, out: f32* [out]; sizes: n_rows, n_cols) {\n"
            "  parallel (i, 0, n_rows) {\n"
            "    allocate acc: f32[1] register {\n"
            "      acc[0] = 0.0f\n"
            "      for (k, 0, n_cols) {\n"
            "        acc[0] = acc[0] + x[i * n_cols + k] * x[i * n_cols + k]\n"
            "      }\n"
            "      let scale = rsqrt(acc[0] / f32(n_cols) + 1e-05f)\n"
            "      for (k, 0, n_cols) {\n"
            "        out[i * n_cols + k] = x[i * n_cols + k] * scale\n"
            "      }\n"
            "    }\n"
            "  }\n"
            "}\n");
  std::ostringstream os;
  os << kernel;
  EXPECT_EQ(os.str(), to_string(kernel));
}

TEST(IRPrinter, PrintsGpuLoopsBranchesBarriersAndLetScopes) {
  const Expr t = var("t");
  const Stmt body = For::make(
      "b", 0, var("n") / 64, ForKind::GpuBlock,
      For::make("t", 0, 64, ForKind::GpuThread,
                Block::make({
                    LetStmt::make("j", var("b") * 64 + t, Store::make("tile", t, Load::make(Type::f32(), "x", var("j")))),
                    Barrier::make(),
                    IfThenElse::make(t == 0, Store::make("out", var("b"), f32(1.0)),
                                     IfThenElse::make(t == 1, Store::make("out", var("b"), f32(2.0)),
                                                      Store::make("out", var("b"), f32(3.0)))),
                }),
                0));
  EXPECT_EQ(to_string(body),
            "gpu_block.x (b, 0, n / 64) {\n"
            "  gpu_thread.x (t, 0, 64) {\n"
            "    {\n"
            "      let j = b * 64 + t\n"
            "      tile[t] = x[j]\n"
            "    }\n"
            "    barrier()\n"
            "    if (t == 0) {\n"
            "      out[b] = 1.0f\n"
            "    } else if (t == 1) {\n"
            "      out[b] = 2.0f\n"
            "    } else {\n"
            "      out[b] = 3.0f\n"
            "    }\n"
            "  }\n"
            "}\n");
  Kernel kernel{.name = "copy", .buffers = {{"x", Type::f32(), false}}, .size_params = {}, .body = Barrier::make(),
                .grid = {var("n") / 64, 1, 1}, .block = {64, 1, 1}};
  EXPECT_EQ(to_string(kernel), "kernel copy(x: f32*) grid(n / 64, 1, 1) block(64, 1, 1) {\n  barrier()\n}\n");
}

}  // namespace
}  // namespace kiln::ir
