// The graph text reader: printed graphs read back to the same print, omitted types inferred,
// and every malformed text refused with the line and column.
#include "graph/parser.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "graph/builder.h"
#include "graph/printer.h"

namespace kiln::graph {
namespace {

// A graph with an attribute of every type the registry uses: string, int, double, bool,
// int list, symbolic int, shape and dtype; symbols not bound by inputs; a labelled node.
Graph every_attribute_type() {
  GraphBuilder b;
  const SymExpr n = sym("n_tokens");
  const SymExpr n_past = b.symbol("n_past");
  const ValueId q = b.input("q", DType::f32, {n, 576});
  const ValueId pos = b.input("pos", DType::i32, {n});
  const ValueId slots = b.input("slots", DType::i32, {n_past + n});
  const ValueId cache = b.weight("blk.0.kc", DType::f16, {4096, 9, 64});
  const ValueId heads = b.reshape(q, {n, 9, 64});
  const ValueId rotated = b.named(b.rope(heads, pos, {RopeMode::neox, 64, 1e4, 0.5}), "q_rope");
  const ValueId written = b.kv_write(cache, rotated, b.slice(slots, 0, n_past, n));
  const ValueId att = b.attention(rotated, written, written, 0.125, {30.0, true, 512}, slots);
  b.output(b.permute(att, {1, 0, 2}));
  b.output(b.cast(b.rms_norm(q, 1e-6), DType::bf16));
  return b.finish();
}

TEST(GraphParser, PrintedGraphsReadBackToTheSamePrint) {
  const std::string printed = print_graph(every_attribute_type());
  EXPECT_EQ(print_graph(parse_graph(printed)), printed);
}

TEST(GraphParser, TypesMayBeLeftOutAndAreInferred) {
  const Graph g = parse_graph(
      "graph(x: f32[n, 576], w: q4_0[1536, 576] weight) {\n"
      "  %a = rms_norm(x, eps=1e-05)\n"
      "  %b: f32[n, 1536] = matmul(%a, w)  # gate\n"
      "  %c = silu(%b)\n"
      "} -> (%c)\n");
  EXPECT_EQ(print_graph(g),
            "graph(x: f32[n, 576], w: q4_0[1536, 576] weight) {\n"
            "  %0: f32[n, 576] = rms_norm(x, eps=1e-05)\n"
            "  %1: f32[n, 1536] = matmul(%0, w)  # gate\n"
            "  %2: f32[n, 1536] = silu(%1)\n"
            "} -> (%2)\n");
}

TEST(GraphParser, SizesAreSymbolicExpressions) {
  const Graph g = parse_graph(
      "graph(x: f32[2 * (n + 1), 64], start: symbol) {\n"
      "  %0 = slice(x, axis=0, start=start, length=min(n, 8) + n / 2 - 1)\n"
      "} -> (%0)");
  EXPECT_EQ(to_string(g.type(g.outputs[0])), "f32[n / 2 + min(n, 8) - 1, 64]");
}

void expect_refused(const std::string& text, const std::string& message) {
  try {
    parse_graph(text);
    FAIL() << "accepted: " << text;
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

TEST(GraphParser, MalformedTextIsRefusedWithItsPlace) {
  const std::string head = "graph(x: f32[n, 8]) {\n";
  expect_refused(head + "  %0 = frobnicate(x)\n} -> (%0)", "line 2, column 8: unknown operator 'frobnicate'");
  expect_refused("graph(x: f99[n]) {\n}", "line 1, column 10: unknown dtype 'f99'");
  expect_refused(head + "  %0 = silu(y)\n} -> (%0)", "line 2, column 13: 'y' is not defined before this use");
  expect_refused(head + "  %0 = silu(x)\n  %0 = silu(x)\n} -> (%0)", "'%0' is defined twice");
  expect_refused(head + "  %0 = rms_norm(x, epsilon=1)\n} -> (%0)", "rms_norm has no attribute 'epsilon'");
  expect_refused(head + "  %0 = rms_norm(x)\n} -> (%0)", "line 2");  // the builder's error, placed
  expect_refused(head + "  %0: f32[n, 9] = silu(x)\n} -> (%0)", "%0 is declared f32[n, 9] but silu gives f32[n, 8]");
  expect_refused(head + "  %0 = rope(x, x, mode=\"neox)\n} -> (%0)", "unterminated string");
  expect_refused("graph(c: f32[4] const) {\n}", "constants carry bytes");
  expect_refused("graph(w: f32[n] weight) {\n}", "line 1");  // weights need constant sizes
  expect_refused(head + "} -> (x) trailing", "unexpected text after the graph");
  expect_refused(head + "  %0 = silu(x)\n", "expected a value: %N or a parameter name");
  expect_refused("graph(x: f32[" + std::string(100, '(') + "n" + std::string(100, ')') + "]) {\n}",
                 "sizes nest deeper than 64 levels");
  expect_refused(head + "  %0 = slice(x, axis=0, start=0, length=n / m)\n} -> (%0)", "line 2");
  std::string huge = "(a + b + c + d + e + f + g + h)";
  for (int i = 0; i < 4; ++i) huge += " * (a + b + c + d + e + f + g + h)";
  expect_refused("graph(x: f32[" + huge + "]) {\n}", "a size with more than 64 terms");
  expect_refused("graph(x: f32[9223372036854775807 + 1]) {\n}", "line 1");  // overflow, placed
  expect_refused(head + "  %0 = silu(x)\n} -> (%0", "expected ')'");
}

}  // namespace
}  // namespace kiln::graph
