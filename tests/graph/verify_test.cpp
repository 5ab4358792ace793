// The verifier: a well-formed graph passes; each kind of damage is refused with a message that
// names the node (or value) and the problem.
#include "graph/verify.h"

#include <gtest/gtest.h>

#include "support/expect_error.h"
#include "graph/builder.h"

namespace kiln::graph {
namespace {

// A Llama-style feed-forward block:
//   node 0 rms_norm, 1 mul, 2 matmul 'ffn_gate', 3 matmul 'ffn_up', 4 silu, 5 mul, 6 matmul
Graph ffn_block() {
  GraphBuilder b;
  const SymExpr n = sym("n_tokens");
  const ValueId x = b.input("x", DType::f32, {n, 576});
  const ValueId norm_w = b.weight("ffn_norm", DType::f32, {576});
  const ValueId gate_w = b.weight("ffn_gate.weight", DType::q4_0, {1536, 576});
  const ValueId up_w = b.weight("ffn_up.weight", DType::q4_0, {1536, 576});
  const ValueId down_w = b.weight("ffn_down.weight", DType::q8_0, {576, 1536});
  const ValueId h = b.mul(b.rms_norm(x, 1e-5), norm_w);
  const ValueId gate = b.named(b.matmul(h, gate_w), "ffn_gate");
  const ValueId up = b.named(b.matmul(h, up_w), "ffn_up");
  b.output(b.matmul(b.mul(b.silu(gate), up), down_w));
  return b.finish();
}

ValueId weight_named(const Graph& g, const std::string& name) {
  for (const ValueId id : g.weights) {
    if (g.value(id).name == name) return id;
  }
  ADD_FAILURE() << "no weight " << name;
  return {};
}

TEST(Verify, AcceptsABuiltGraph) { EXPECT_NO_THROW(verify(ffn_block())); }

TEST(Verify, RefusesADTypeTheOpDoesNotAccept) {
  Graph g = ffn_block();
  g.values[weight_named(g, "ffn_up.weight").index].type.dtype = DType::i32;
  expect_user_error([&] { verify(g); },
                    {"node 3 (matmul 'ffn_up'): input 1 (weight) has dtype i32; matmul accepts "
                     "f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_K, q3_K, q4_K, q5_K, q6_K"});
}

// The registry accepts only what the compute definitions build and the op matrix tests: a
// weight format load_element cannot express, a mask or view of a dtype no kernel handles.
TEST(Verify, RefusesDTypesNoComputeDefinitionHandles) {
  for (const DType weight : {DType::iq4_nl, DType::q8_K, DType::f64, DType::tq1_0, DType::mxfp4}) {
    GraphBuilder b;
    const ValueId ids = b.input("ids", DType::i32, {sym("n_tokens")});
    b.output(b.embedding(b.weight("token_embd", DType::f32, {256, 256}), ids));
    Graph g = b.finish();
    g.values[weight_named(g, "token_embd").index].type.dtype = weight;
    expect_user_error([&] { verify(g); },
                      {fmt::format("node 0 (embedding): input 0 (weight) has dtype {}; embedding accepts "
                                   "f32, f16, bf16, q4_0, q4_1, q5_0",
                                   dtype_name(weight))});
  }
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {sym("n_tokens"), 64});
  const ValueId mask = b.input("mask", DType::f32, {sym("n_tokens"), 64});
  const ValueId counts = b.input("counts", DType::i32, {sym("n_tokens"), 64});
  b.output(b.softmax(x, 1.0, mask));
  b.output(b.permute(counts, {1, 0}));
  Graph g = b.finish();
  g.values[mask.index].type.dtype = DType::bf16;
  expect_user_error([&] { verify(g); }, {"node 0 (softmax): input 1 (mask) has dtype bf16; softmax accepts f32, f16"});
  g.values[mask.index].type.dtype = DType::f16;
  g.values[counts.index].type.dtype = DType::i16;
  expect_user_error([&] { verify(g); }, {"node 1 (permute): input 0 (x) has dtype i16; permute accepts f32, f16, i32, bf16"});
}

TEST(Verify, RefusesAShapeMismatch) {
  Graph g = ffn_block();
  g.values[weight_named(g, "ffn_up.weight").index].type.shape = {1536, 512};
  expect_user_error([&] { verify(g); },
                    {"node 3 (matmul 'ffn_up'): the contracted dimension k differs",
                     "ffn_up.weight: q4_0[1536, 512]"});
}

TEST(Verify, RefusesAStoredTypeTheRuleDoesNotGive) {
  Graph g = ffn_block();
  g.values[g.nodes[4].outputs[0].index].type.shape = {sym("n_tokens"), 1535};
  expect_user_error([&] { verify(g); },
                    {"node 4 (silu): output 0 is stored as f32[n_tokens, 1535], but silu of these "
                     "inputs gives f32[n_tokens, 1536]"});
}

TEST(Verify, RefusesAnUndeclaredSymbol) {
  GraphBuilder b;
  const ValueId cache = b.weight("cache_k", DType::f16, {4096, 3, 64});
  b.output(b.named(b.slice(cache, 0, 0, b.symbol("kv_len")), "k_view"));
  Graph g = b.finish();
  g.symbols.erase("kv_len");
  expect_user_error([&] { verify(g); },
                    {"node 0 (slice 'k_view'): an attribute uses the symbol 'kv_len', which the "
                     "graph does not declare"});

  Graph g2 = ffn_block();
  g2.symbols.clear();
  expect_user_error([&] { verify(g2); },
                    {"input 'x': its shape uses the symbol 'n_tokens', which the graph does not "
                     "declare"});
}

TEST(Verify, RefusesAMissingOrMistypedAttribute) {
  Graph g = ffn_block();
  g.nodes[0].attrs = {};
  expect_user_error([&] { verify(g); }, {"node 0 (rms_norm): missing attribute 'eps' (double)"});
  g.nodes[0].attrs = {{"eps", true}};
  expect_user_error([&] { verify(g); },
                    {"node 0 (rms_norm): attribute 'eps' is a bool (true), rms_norm needs a "
                     "double"});
}

TEST(Verify, RefusesUseBeforeDefinition) {
  Graph g2 = ffn_block();
  g2.nodes[1].inputs[0] = g2.nodes[2].outputs[0];
  expect_user_error([&] { verify(g2); },
                    {"node 1 (mul): input 0 (%2) is used before it is defined"});
}

TEST(Verify, RefusesAWrongInputCount) {
  Graph g = ffn_block();
  g.nodes[4].inputs.push_back(g.nodes[3].outputs[0]);
  expect_user_error([&] { verify(g); }, {"node 4 (silu): silu takes 1 inputs, got 2"});
}

TEST(Verify, RefusesDanglingReferences) {
  Graph g = ffn_block();
  g.outputs.push_back(ValueId{1000});
  expect_user_error([&] { verify(g); }, {"graph output 1 refers to value 1000"});
  Graph g2 = ffn_block();
  g2.nodes[6].inputs[1] = ValueId{1000};
  expect_user_error([&] { verify(g2); }, {"node 6 (matmul): input 1 refers to value 1000"});
}

TEST(Verify, RefusesBadLeaves) {
  Graph g = ffn_block();
  g.values[weight_named(g, "ffn_norm").index].name = "ffn_up.weight";
  expect_user_error([&] { verify(g); }, {"weight 'ffn_up.weight'", "same name"});
  Graph g2 = ffn_block();
  g2.values[weight_named(g2, "ffn_norm").index].type.shape = {sym("n_tokens")};
  expect_user_error([&] { verify(g2); },
                    {"weight 'ffn_norm'", "symbolic dimension n_tokens", "must be constants"});
}

}  // namespace
}  // namespace kiln::graph
