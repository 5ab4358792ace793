// clip_loops: a causal predicate cuts a nest's loops to the points that can satisfy it (and no
// further): run by the interpreter over every size, each point the predicate admits is stored
// exactly as before, and the points cut are only ones it rejects. And the simplifier's
// division of a let-bound split index, which the interleaved weight rows rely on.
#include "kernel/lower/clip_loops.h"

#include <gtest/gtest.h>

#include "ir_interpreter.h"
#include "kernel/ir/printer.h"
#include "kernel/ir/simplify.h"

namespace kiln::kernel {
namespace {

using ir::Expr;
using ir::ForKind;
using ir::Stmt;

const Expr n = ir::var("n"), s = ir::var("s"), i = ir::var("i"), j = ir::var("j");
const Expr io = ir::var("io"), ii = ir::var("ii"), c = ir::var("c");

// out[a * s + c] = 1 over a < n (in tiles of 4: a = io * 4 + ii, remainder rows after) and
// keys c < s: the shape of attention's weighted sum, keys inside the row tile.
Stmt tiled_nest() {
  const Expr a = ir::var("a");
  const Stmt store = ir::Store::make("out", a * s + c, Expr(1.0));
  const Stmt tile = ir::For::make(
      "io", Expr(int64_t{0}), n / 4, ForKind::Parallel,
      ir::For::make("c", Expr(int64_t{0}), s, ForKind::Serial,
                    ir::For::make("ii", Expr(int64_t{0}), Expr(int64_t{4}), ForKind::Unrolled,
                                  ir::LetStmt::make("a", io * 4 + ii, store))));
  const Stmt rest = ir::LetStmt::make(
      "io", n / 4,
      ir::For::make("ii", Expr(int64_t{0}), n - n / 4 * 4, ForKind::Serial,
                    ir::For::make("c", Expr(int64_t{0}), s, ForKind::Serial, ir::LetStmt::make("a", io * 4 + ii, store))));
  return ir::Block::make({tile, rest});
}

TEST(ClipLoops, CausalRowsStoreExactlyTheirVisibleKeysAndOnlyTilesPassIt) {
  const Expr a = ir::var("a");
  const Expr visible = c <= s - n + a;  // query a sits at position s - n + a
  const Stmt clipped = clip_loops(tiled_nest(), visible);
  // The tile's keys end after its last row's; the remainder rows' after their own.
  const std::string text = ir::to_string(clipped);
  EXPECT_NE(text.find("for (c, 0, max(min(s, s - n + io * 4 + 4), 0))"), std::string::npos) << text;
  EXPECT_NE(text.find("for (c, 0, max(min(s, s - n + (n / 4 * 4 + ii) + 1), 0))"), std::string::npos) << text;
  for (int64_t rows = 1; rows <= 9; ++rows) {
    for (int64_t keys = rows; keys <= rows + 6; ++keys) {
      ir::testing::Interpreter full, cut;
      for (ir::testing::Interpreter* run : {&full, &cut}) {
        run->buffers["out"].assign(rows * keys, 0.0);
        run->vars["n"] = {static_cast<double>(rows)};
        run->vars["s"] = {static_cast<double>(keys)};
      }
      full.run(tiled_nest());
      cut.run(clipped);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t k = 0; k < keys; ++k) {
          const bool needed = k <= keys - rows + r;
          const double got = cut.buffers["out"][r * keys + k];
          if (needed) {
            EXPECT_EQ(got, 1.0) << "row " << r << " key " << k << " of " << rows << " x " << keys;
          }
          // Cut points are hidden ones; a tile computes its rows' keys up to its last row's.
          if (got == 0.0) {
            EXPECT_FALSE(needed);
          }
          if (!needed && k > keys - rows + (r / 4 * 4 + 3)) {
            EXPECT_EQ(got, 0.0) << "row " << r << " key " << k;
          }
        }
      }
    }
  }
}

TEST(ClipLoops, KeepsLoopsItCannotBound) {
  // a = io * io is not affine in io, which runs inside c: neither loop is cut.
  const Stmt nest = ir::For::make(
      "c", Expr(int64_t{0}), s, ForKind::Serial,
      ir::For::make("io", Expr(int64_t{0}), n, ForKind::Serial,
                    ir::LetStmt::make("a", io * io, ir::Store::make("out", c, Expr(1.0)))));
  EXPECT_EQ(ir::to_string(clip_loops(nest, c <= ir::var("a"))), ir::to_string(nest));
}

TEST(SimplifyLets, DividesASplitIndexThroughItsLet) {
  // let j = jg * 8 + jv with 0 <= jv < 8: j / 8 is jg and j % 8 is jv; j / 3 stays.
  const Expr jg = ir::var("jg"), jv = ir::var("jv");
  const auto nest = [&](const Expr& index) {
    return ir::For::make("jg", Expr(int64_t{0}), n, ForKind::Serial,
                         ir::For::make("jv", Expr(int64_t{0}), Expr(int64_t{8}), ForKind::Serial,
                                       ir::LetStmt::make("j", jg * 8 + jv, ir::Store::make("out", index, Expr(1.0)))));
  };
  EXPECT_NE(ir::to_string(ir::simplify(nest(j / 8 * 100 + j % 8))).find("out[jg * 100 + jv]"), std::string::npos)
      << ir::to_string(ir::simplify(nest(j / 8 * 100 + j % 8)));
  EXPECT_NE(ir::to_string(ir::simplify(nest(j / 3))).find("out[j / 3]"), std::string::npos)
      << ir::to_string(ir::simplify(nest(j / 3)));
}

}  // namespace
}  // namespace kiln::kernel
