// Shape and dtype inference of every op, through the builder: the types it infers, and the
// calls it refuses with a message that names the op.
#include <gtest/gtest.h>

#include "support/expect_error.h"
#include "graph/builder.h"
#include "graph/ops.h"

namespace kiln::graph {
namespace {

const SymExpr n = sym("n_tokens");
const SymExpr kv = sym("kv_len");

std::string type_of(const GraphBuilder& b, ValueId v) { return to_string(b.type(v)); }

TEST(OpRegistry, EveryOpHasARowInOrder) {
  size_t i = 0;
  for (const OpInfo& info : all_ops()) {
    EXPECT_EQ(static_cast<size_t>(info.kind), i++) << info.name;
    EXPECT_EQ(op_from_name(info.name), info.kind);
    EXPECT_NE(info.infer, nullptr);
  }
  EXPECT_EQ(i, static_cast<size_t>(OpKind::argmax) + 1);
  EXPECT_FALSE(op_from_name("conv2d").has_value());
}

TEST(OpRegistry, PatternKinds) {
  EXPECT_EQ(op_info(OpKind::silu).pattern, PatternKind::Elementwise);
  EXPECT_EQ(op_info(OpKind::add).pattern, PatternKind::Broadcast);
  EXPECT_EQ(op_info(OpKind::reshape).pattern, PatternKind::Injective);
  EXPECT_EQ(op_info(OpKind::embedding).pattern, PatternKind::Injective);
  EXPECT_EQ(op_info(OpKind::rope).pattern, PatternKind::Injective);
  EXPECT_EQ(op_info(OpKind::rms_norm).pattern, PatternKind::Reduction);
  EXPECT_EQ(op_info(OpKind::softmax).pattern, PatternKind::Reduction);
  EXPECT_EQ(op_info(OpKind::matmul).pattern, PatternKind::Contraction);
  EXPECT_EQ(op_info(OpKind::attention).pattern, PatternKind::Opaque);
}

TEST(ShapeInference, Embedding) {
  GraphBuilder b;
  const ValueId ids = b.input("ids", DType::i32, {n});
  const ValueId table = b.weight("token_embd", DType::q6_K, {49152, 576 - 64});
  EXPECT_EQ(type_of(b, b.embedding(table, ids)), "f32[n_tokens, 512]");
  const ValueId float_ids = b.input("float_ids", DType::f32, {n});
  expect_user_error([&] { b.embedding(table, float_ids); },
                    {"node 1 (embedding)", "input 1 (ids) has dtype f32; embedding accepts i32"});
}

TEST(ShapeInference, Matmul) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {n, 576});
  for (DType w : {DType::f32, DType::f16, DType::bf16, DType::q8_0, DType::q4_0, DType::q4_1}) {
    const ValueId weight = b.weight(fmt::format("w_{}", dtype_name(w)), w, {1536, 576});
    EXPECT_EQ(type_of(b, b.matmul(x, weight)), "f32[n_tokens, 1536]");
  }
  const ValueId batched = b.input("batched", DType::f32, {sym("n_seqs"), n, 576});
  const ValueId w = b.weight("w", DType::f16, {1536, 576});
  EXPECT_EQ(type_of(b, b.matmul(batched, w)), "f32[n_seqs, n_tokens, 1536]");

  const ValueId wrong_k = b.weight("wrong_k", DType::f32, {1536, 512});
  expect_user_error([&] { b.matmul(x, wrong_k); },
                    {"(matmul)", "the contracted dimension k differs", "576", "512",
                     "x: f32[n_tokens, 576]", "wrong_k: f32[1536, 512]"});
  const ValueId ids = b.input("ids", DType::i32, {n, 576});
  expect_user_error([&] { b.matmul(ids, w); }, {"input 0 (x) has dtype i32; matmul accepts f32"});
  // iq4_nl has a scalar dequantization (base/dequantize.h) but no load_element expression.
  const ValueId iq4 = b.weight("iq4", DType::iq4_nl, {1536, 576});
  expect_user_error([&] { b.matmul(x, iq4); },
                    {"input 1 (weight) has dtype iq4_nl",
                     "matmul accepts f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_K, q3_K, q4_K, "
                     "q5_K, q6_K"});
}

TEST(ShapeInference, QuantizedRowsMustBeWholeBlocks) {
  GraphBuilder b;
  // 576 is 18 blocks of 32 but not a whole number of q4_K's 256-element super-blocks.
  expect_user_error([&] { b.weight("w", DType::q4_K, {1536, 576}); },
                    {"weight 'w'", "not a multiple of q4_K's block size 256"});
  const ValueId x = b.input("x", DType::f32, {n, 768});
  const ValueId w = b.weight("w", DType::q4_K, {1536, 768});
  EXPECT_EQ(type_of(b, b.matmul(x, w)), "f32[n_tokens, 1536]");
}

TEST(ShapeInference, BroadcastingBinaryOps) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {n, 576});
  const ValueId row = b.input("row", DType::f32, {576});
  const ValueId col = b.input("col", DType::f32, {n, 1});
  const ValueId one = b.input("one", DType::f32, {1, 1, 576});
  EXPECT_EQ(type_of(b, b.add(x, row)), "f32[n_tokens, 576]");
  EXPECT_EQ(type_of(b, b.mul(row, x)), "f32[n_tokens, 576]");
  EXPECT_EQ(type_of(b, b.sub(x, col)), "f32[n_tokens, 576]");
  EXPECT_EQ(type_of(b, b.div(col, row)), "f32[n_tokens, 576]");
  EXPECT_EQ(type_of(b, b.add(x, one)), "f32[1, n_tokens, 576]");

  const ValueId other = b.input("other", DType::f32, {kv, 576});
  expect_user_error([&] { b.add(x, other); },
                    {"node", "(add)", "do not broadcast", "n_tokens and kv_len", "equal or 1"});
  const ValueId wide = b.input("wide", DType::f32, {n, 1152});
  expect_user_error([&] { b.mul(x, wide); }, {"(mul)", "576 and 1152"});
}

TEST(ShapeInference, ElementwiseOps) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {n, 576});
  for (const ValueId y : {b.silu(x), b.gelu(x), b.gelu_tanh(x), b.exp(x), b.tanh(x), b.neg(x),
                          b.rsqrt(x), b.scale(x, 0.125), b.softcap(x, 30.0)}) {
    EXPECT_EQ(type_of(b, y), "f32[n_tokens, 576]");
  }
  EXPECT_EQ(type_of(b, b.cast(x, DType::f16)), "f16[n_tokens, 576]");
  const ValueId half = b.cast(x, DType::bf16);
  EXPECT_EQ(type_of(b, b.cast(half, DType::f32)), "f32[n_tokens, 576]");
  expect_user_error([&] { b.cast(x, DType::q8_0); }, {"(cast)", "cannot cast to q8_0"});
  expect_user_error([&] { b.silu(half); }, {"(silu)", "has dtype bf16; silu accepts f32"});
  expect_user_error([&] { b.softcap(x, 0.0); }, {"(softcap)", "cap must be positive"});
}

TEST(ShapeInference, NormsSoftmaxAndReductions) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {n, kv});
  EXPECT_EQ(type_of(b, b.rms_norm(x, 1e-5)), "f32[n_tokens, kv_len]");
  EXPECT_EQ(type_of(b, b.layer_norm(x, 1e-5)), "f32[n_tokens, kv_len]");
  EXPECT_EQ(type_of(b, b.sum(x)), "f32[n_tokens, 1]");
  EXPECT_EQ(type_of(b, b.max(x)), "f32[n_tokens, 1]");
  EXPECT_EQ(type_of(b, b.mean(x)), "f32[n_tokens, 1]");
  EXPECT_EQ(type_of(b, b.argmax(x)), "i32[n_tokens, 1]");

  const ValueId mask = b.input("mask", DType::f16, {n, kv});
  const ValueId row_mask = b.input("row_mask", DType::f32, {kv});
  EXPECT_EQ(type_of(b, b.softmax(x, 0.125, mask)), "f32[n_tokens, kv_len]");
  EXPECT_EQ(type_of(b, b.softmax(x, 1.0, row_mask)), "f32[n_tokens, kv_len]");
  const ValueId big_mask = b.input("big_mask", DType::f32, {4, n, kv});
  expect_user_error([&] { b.softmax(x, 1.0, big_mask); },
                    {"(softmax)", "must broadcast to x's shape [n_tokens, kv_len]"});
  const ValueId scalar = b.input("scalar", DType::f32, {});
  expect_user_error([&] { b.sum(scalar); }, {"(sum)", "rank 1 or more"});
}

TEST(ShapeInference, Rope) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {n, 9, 64});
  const ValueId pos = b.input("pos", DType::i32, {n});
  const ValueId factors = b.weight("rope_freqs", DType::f32, {32});
  EXPECT_EQ(type_of(b, b.rope(x, pos, {RopeMode::neox, 64, 1e4, 1.0}, factors)),
            "f32[n_tokens, 9, 64]");
  const ValueId partial = b.rope(x, pos, {RopeMode::normal, 32, 1e4, 0.5});
  EXPECT_EQ(b.graph().nodes.back().attrs.get_int("n_dims", ""), 32);
  EXPECT_EQ(type_of(b, partial), "f32[n_tokens, 9, 64]");
  const ValueId whole = b.rope(x, pos, {});  // n_dims 0: all of head_dim
  EXPECT_EQ(b.graph().nodes.back().attrs.get_int("n_dims", ""), 64);
  (void)whole;

  expect_user_error([&] { b.rope(x, pos, {RopeMode::neox, 128, 1e4, 1.0}); },
                    {"(rope)", "n_dims = 128 must be even, positive and at most head_dim = 64"});
  expect_user_error([&] { b.rope(x, pos, {RopeMode::neox, 32, 1e4, 1.0}, factors); },
                    {"(rope)", "freq_factors has 32 elements", "needs 16"});
  const ValueId other_pos = b.input("other_pos", DType::i32, {kv});
  expect_user_error([&] { b.rope(x, other_pos, {}); }, {"(rope)", "the number of tokens differs"});
  // A string literal attribute is a string (not a bool), and an int literal an int.
  const Attributes yarn = {{"mode", "yarn"}, {"n_dims", 64}, {"theta", 1e4}, {"freq_scale", 1.0}};
  expect_user_error([&] { b.op("rope", {x, pos}, yarn); }, {"(rope)", "mode is \"yarn\""});
}

TEST(ShapeInference, AttentionWithGroupedQueries) {
  GraphBuilder b;
  const ValueId q = b.input("q", DType::f32, {n, 9, 64});
  const ValueId k = b.input("k", DType::f16, {kv, 3, 64});
  const ValueId v = b.input("v", DType::f16, {kv, 3, 64});
  EXPECT_EQ(type_of(b, b.attention(q, k, v, 0.125)), "f32[n_tokens, 9, 64]");
  EXPECT_EQ(type_of(b, b.attention(q, k, v, 0.125, {50.0, true, 4096})), "f32[n_tokens, 9, 64]");

  const ValueId k4 = b.input("k4", DType::f16, {kv, 4, 64});
  const ValueId v4 = b.input("v4", DType::f16, {kv, 4, 64});
  expect_user_error([&] { b.attention(q, k4, v4, 0.125); },
                    {"(attention)", "n_head = 9 is not a multiple of n_kv_head = 4"});
  const ValueId v_short = b.input("v_short", DType::f16, {n, 3, 64});
  expect_user_error([&] { b.attention(q, k, v_short, 0.125); }, {"(attention)", "kv_len differs"});
  const ValueId k_wide = b.input("k_wide", DType::f16, {kv, 3, 128});
  expect_user_error([&] { b.attention(q, k_wide, v, 0.125); }, {"(attention)", "head_dim differs"});
}

TEST(ShapeInference, PagedAttention) {
  GraphBuilder b;
  const ValueId q = b.input("q", DType::f32, {n, 9, 64});
  const ValueId cache_k = b.weight("cache_k", DType::f16, {4096, 3, 64});
  const ValueId cache_v = b.weight("cache_v", DType::f16, {4096, 3, 64});
  const ValueId slots = b.input("slots", DType::i32, {kv});
  EXPECT_EQ(type_of(b, b.attention(q, cache_k, cache_v, 0.125, {}, slots)), "f32[n_tokens, 9, 64]");
  const ValueId short_v = b.weight("short_v", DType::f16, {2048, 3, 64});
  expect_user_error([&] { b.attention(q, cache_k, short_v, 0.125, {}, slots); },
                    {"(attention)", "the number of cache rows differs"});
  const ValueId grid = b.input("grid", DType::i32, {kv, 2});
  expect_user_error([&] { b.attention(q, cache_k, cache_v, 0.125, {}, grid); }, {"(attention)", "[kv_len] cache rows"});
}

TEST(ShapeInference, KvWrite) {
  GraphBuilder b;
  const ValueId cache = b.weight("cache_k", DType::f16, {4096, 3, 64});
  const ValueId k = b.input("k", DType::f32, {n, 3, 64});
  const ValueId slots = b.input("slots", DType::i32, {n});
  EXPECT_EQ(type_of(b, b.kv_write(cache, k, slots)), "f16[4096, 3, 64]");
  const ValueId chunk = b.input("chunk", DType::f32, {128, 3, 64});
  expect_user_error([&] { b.kv_write(cache, chunk, slots); }, {"(kv_write)", "the number of tokens differs"});
  const ValueId float_slots = b.input("float_slots", DType::f32, {n});
  expect_user_error([&] { b.kv_write(cache, k, float_slots); }, {"(kv_write)", "slots"});
}

TEST(ShapeInference, ViewOps) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {n, 576});
  const ValueId heads = b.reshape(x, {n, 9, 64});
  EXPECT_EQ(type_of(b, heads), "f32[n_tokens, 9, 64]");
  EXPECT_EQ(type_of(b, b.reshape(heads, {n * 576})), "f32[n_tokens * 576]");
  EXPECT_EQ(type_of(b, b.permute(heads, {1, 0, 2})), "f32[9, n_tokens, 64]");
  EXPECT_EQ(type_of(b, b.slice(heads, -1, 0, 32)), "f32[n_tokens, 9, 32]");
  EXPECT_EQ(type_of(b, b.concat({heads, heads, heads}, 1)), "f32[n_tokens, 27, 64]");
  EXPECT_EQ(type_of(b, b.concat({x, x}, 0)), "f32[n_tokens * 2, 576]");

  const ValueId cache = b.weight("cache", DType::f16, {4096, 3, 64});
  b.symbol("kv_len");
  EXPECT_EQ(type_of(b, b.slice(cache, 0, 0, kv)), "f16[kv_len, 3, 64]");

  expect_user_error([&] { b.reshape(x, {n, 9, 32}); },
                    {"(reshape)", "cannot reshape [n_tokens, 576] (n_tokens * 576 elements) to "
                                  "[n_tokens, 9, 32] (n_tokens * 288 elements)"});
  expect_user_error([&] { b.reshape(x, {n / 2, 1152}); }, {"(reshape)", "not provably equal"});
  expect_user_error([&] { b.permute(heads, {0, 0, 1}); }, {"(permute)", "permutation of 0..2"});
  expect_user_error([&] { b.slice(heads, 1, 4, 6); },
                    {"(slice)", "[4, 10) of axis 1 is outside its 9 elements"});
  expect_user_error([&] { b.slice(heads, 3, 0, 1); }, {"(slice)", "axis 3 is out of range"});
  expect_user_error([&] { b.concat({x, heads}, 0); }, {"(concat)", "input 1 must have rank 2"});
  const ValueId pos = b.input("pos", DType::i32, {n, 576});
  expect_user_error([&] { b.concat({x, pos}, 0); }, {"(concat)", "input 1 has dtype i32"});
  const ValueId quant = b.weight("quant", DType::q8_0, {64, 64});
  expect_user_error([&] { b.reshape(quant, {4096}); }, {"(reshape)", "has dtype q8_0"});
}

TEST(ShapeInference, GenericOpChecksTheRow) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {n, 576});
  EXPECT_EQ(type_of(b, b.op("rms_norm", {x}, {{"eps", 1e-6}})), "f32[n_tokens, 576]");
  expect_user_error([&] { b.op("rms_norm", {x}); }, {"(rms_norm)", "missing attribute 'eps'"});
  expect_user_error([&] { b.op("rms_norm", {x}, {{"eps", std::string("small")}}); },
                    {"(rms_norm)",
                     "attribute 'eps' is a string (\"small\"), rms_norm needs a double"});
  expect_user_error([&] { b.op("rms_norm", {x}, {{"eps", 1e-6}, {"epsilon", 1e-6}}); },
                    {"(rms_norm)", "unknown attribute 'epsilon'"});
  expect_user_error([&] { b.op("silu", {x, x}); }, {"(silu)", "silu takes 1 inputs, got 2"});
  expect_user_error([&] { b.op("conv2d", {x}); }, {"no op named 'conv2d'"});
  expect_user_error([&] { b.silu(ValueId{99}); }, {"(silu)", "value 99 is not a value"});
  // An int attribute reads as a double.
  EXPECT_EQ(type_of(b, b.op("scale", {x}, {{"scale", 2}})), "f32[n_tokens, 576]");
}

}  // namespace
}  // namespace kiln::graph
