// The printer against expected text.
#include "graph/printer.h"

#include <gtest/gtest.h>

#include "graph/builder.h"

namespace kiln::graph {
namespace {

TEST(Printer, MatmulSilu) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {sym("n_tokens"), 576});
  const ValueId w = b.weight("w", DType::q4_0, {1536, 576});
  const ValueId y = b.matmul(x, w);
  b.output(b.silu(y));
  EXPECT_EQ(print_graph(b.finish()),
            "graph(x: f32[n_tokens, 576], w: q4_0[1536, 576] weight) {\n"
            "  %0: f32[n_tokens, 1536] = matmul(x, w)\n"
            "  %1: f32[n_tokens, 1536] = silu(%0)\n"
            "} -> (%1)\n");
}

TEST(Printer, AttributesLabelsAndSymbols) {
  GraphBuilder b;
  const SymExpr n = sym("n_tokens");
  const SymExpr n_past = b.symbol("n_past");
  const ValueId q = b.input("q", DType::f32, {n, 576});
  const ValueId pos = b.input("pos", DType::i32, {n});
  const ValueId slots = b.input("slots", DType::i32, {n_past + n});
  const ValueId cache = b.weight("kc", DType::f16, {4096, 9, 64});
  const ValueId heads = b.reshape(q, {n, 9, 64});
  const ValueId rotated = b.named(b.rope(heads, pos, {RopeMode::neox, 64, 1e4, 1.0}), "q_rope");
  const ValueId written = b.kv_write(cache, rotated, b.slice(slots, 0, n_past, n));
  b.output(b.attention(rotated, written, written, 0.125, {0.0, true, 0}, slots));
  b.output(b.argmax(b.scale(q, 2)));
  EXPECT_EQ(print_graph(b.finish()),
            "graph(\n"
            "    q: f32[n_tokens, 576],\n"
            "    pos: i32[n_tokens],\n"
            "    slots: i32[n_past + n_tokens],\n"
            "    kc: f16[4096, 9, 64] weight\n"
            ") {\n"
            "  %0: f32[n_tokens, 9, 64] = reshape(q, shape=[n_tokens, 9, 64])\n"
            "  %1: f32[n_tokens, 9, 64] = rope(%0, pos, freq_scale=1, mode=\"neox\", n_dims=64, "
            "theta=10000)  # q_rope\n"
            "  %2: i32[n_tokens] = slice(slots, axis=0, length=n_tokens, start=n_past)\n"
            "  %3: f16[4096, 9, 64] = kv_write(kc, %1, %2)\n"
            "  %4: f32[n_tokens, 9, 64] = attention(%1, %3, %3, slots, causal=true, scale=0.125, "
            "softcap=0, window=0)\n"
            "  %5: f32[n_tokens, 576] = scale(q, scale=2)\n"
            "  %6: i32[n_tokens, 1] = argmax(%5)\n"
            "} -> (%4, %6)\n");
}

TEST(Printer, ManyParametersGetOneLineEach) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {sym("n_tokens"), 576});
  ValueId h = x;
  for (int layer = 0; layer < 3; ++layer) {
    h = b.matmul(h, b.weight(fmt::format("blk.{}.ffn_up.weight", layer), DType::q8_0, {576, 576}));
  }
  b.output(h);
  EXPECT_EQ(print_graph(b.finish()),
            "graph(\n"
            "    x: f32[n_tokens, 576],\n"
            "    blk.0.ffn_up.weight: q8_0[576, 576] weight,\n"
            "    blk.1.ffn_up.weight: q8_0[576, 576] weight,\n"
            "    blk.2.ffn_up.weight: q8_0[576, 576] weight\n"
            ") {\n"
            "  %0: f32[n_tokens, 576] = matmul(x, blk.0.ffn_up.weight)\n"
            "  %1: f32[n_tokens, 576] = matmul(%0, blk.1.ffn_up.weight)\n"
            "  %2: f32[n_tokens, 576] = matmul(%1, blk.2.ffn_up.weight)\n"
            "} -> (%2)\n");
}

}  // namespace
}  // namespace kiln::graph
