#include "models/llama.h"

#include <cmath>

#include <fmt/format.h>

#include "base/error.h"
#include "graph/builder.h"

namespace kiln::models {
namespace {

using graph::GraphBuilder;
using graph::Shape;
using graph::SymExpr;
using graph::ValueId;

// A weight with the graph's (row-major) shape: GGUF lists dimensions innermost first.
ValueId weight(GraphBuilder& b, const gguf::GGUFFile& file, const std::string& name, const Shape& expected) {
  const gguf::TensorInfo* t = file.find_tensor(name);
  if (t == nullptr) user_error("'{}': the model has no tensor '{}', which the llama recipe needs", file.name(), name);
  Shape shape;
  for (auto it = t->shape.rbegin(); it != t->shape.rend(); ++it) shape.push_back(static_cast<int64_t>(*it));
  if (!graph::same_shape(shape, expected)) {
    user_error("'{}': tensor '{}' has shape {}, the llama recipe expects {}", file.name(), name,
               graph::to_string(shape), graph::to_string(expected));
  }
  return b.weight(name, t->dtype, shape);
}

}  // namespace

LlamaConfig read_llama_config(const gguf::GGUFFile& file) {
  LlamaConfig c;
  c.n_layer = file.get_int("llama.block_count");
  c.n_embd = file.get_int("llama.embedding_length");
  c.n_head = file.get_int("llama.attention.head_count");
  c.n_head_kv = file.find("llama.attention.head_count_kv") ? file.get_int("llama.attention.head_count_kv") : c.n_head;
  c.n_ff = file.get_int("llama.feed_forward_length");
  const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->shape.size() != 2) user_error("'{}': token_embd.weight is missing or not 2-D", file.name());
  c.n_vocab = static_cast<int64_t>(embd->shape[1]);
  if (c.n_head <= 0 || c.n_head_kv <= 0 || c.n_embd % c.n_head != 0 || c.n_head % c.n_head_kv != 0) {
    user_error("'{}': {} heads, {} KV heads and width {} do not fit together", file.name(), c.n_head, c.n_head_kv, c.n_embd);
  }
  c.head_dim = c.n_embd / c.n_head;
  c.rope_dims = file.find("llama.rope.dimension_count") ? file.get_int("llama.rope.dimension_count") : c.head_dim;
  if (file.find("llama.rope.freq_base")) c.rope_theta = file.get_float("llama.rope.freq_base");
  if (file.find("llama.rope.scaling.factor")) {
    const std::string type = file.get_string_or("llama.rope.scaling.type", "linear");
    if (type != "linear" && type != "none") user_error("'{}': rope scaling '{}' is not supported yet", file.name(), type);
    if (type == "linear") c.rope_freq_scale = 1.0 / file.get_float("llama.rope.scaling.factor");
  }
  if (file.find("llama.attention.layer_norm_rms_epsilon")) c.norm_eps = file.get_float("llama.attention.layer_norm_rms_epsilon");
  c.tied_output = file.find_tensor("output.weight") == nullptr;
  return c;
}

ModelGraph build_llama(const gguf::GGUFFile& file, int64_t kv_rows, bool all_logits, DType kv_dtype) {
  if (kv_dtype != DType::f32 && kv_dtype != DType::f16 && kv_dtype != DType::bf16) {
    user_error("a KV cache of {} is not supported (f32, f16 or bf16)", dtype_name(kv_dtype));
  }
  const LlamaConfig c = read_llama_config(file);
  GraphBuilder b;
  const SymExpr n_tokens = b.symbol("n_tokens");
  const SymExpr n_past = b.symbol("n_past");
  const SymExpr kv_len = n_past + n_tokens;
  const ValueId tokens = b.input("tokens", DType::i32, {n_tokens});
  const ValueId positions = b.input("positions", DType::i32, {n_tokens});
  // The KV cache is paged (runtime/kv_blocks.h): the cache rows of every position so far, and
  // of the new ones.
  const ValueId kv_slots = b.input("kv_slots", DType::i32, {kv_len});
  const ValueId new_slots = b.input("new_slots", DType::i32, {n_tokens});
  const ValueId token_embd = weight(b, file, "token_embd.weight", {c.n_vocab, c.n_embd});
  const int64_t kv_width = c.n_head_kv * c.head_dim;
  const graph::RopeOptions rope{.mode = graph::RopeMode::normal, .n_dims = c.rope_dims, .theta = c.rope_theta,
                                .freq_scale = c.rope_freq_scale};
  const double attention_scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));

  ValueId x = b.embedding(token_embd, tokens);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    // Attention block.
    ValueId h = b.mul(b.rms_norm(x, c.norm_eps), weight(b, file, p + "attn_norm.weight", {c.n_embd}));
    ValueId q = b.matmul(h, weight(b, file, p + "attn_q.weight", {c.n_embd, c.n_embd}));
    ValueId k = b.matmul(h, weight(b, file, p + "attn_k.weight", {kv_width, c.n_embd}));
    ValueId v = b.matmul(h, weight(b, file, p + "attn_v.weight", {kv_width, c.n_embd}));
    q = b.rope(b.reshape(q, {n_tokens, c.n_head, c.head_dim}), positions, rope);
    k = b.rope(b.reshape(k, {n_tokens, c.n_head_kv, c.head_dim}), positions, rope);
    v = b.reshape(v, {n_tokens, c.n_head_kv, c.head_dim});
    const ValueId cache_k = b.input(fmt::format("cache_k.{}", l), kv_dtype, {kv_rows, c.n_head_kv, c.head_dim});
    const ValueId cache_v = b.input(fmt::format("cache_v.{}", l), kv_dtype, {kv_rows, c.n_head_kv, c.head_dim});
    const ValueId keys = b.kv_write(cache_k, k, new_slots);
    const ValueId values = b.kv_write(cache_v, v, new_slots);
    ValueId a = b.attention(q, keys, values, attention_scale, {.softcap = 0.0, .causal = true, .window = 0}, kv_slots);
    a = b.matmul(b.reshape(a, {n_tokens, c.n_embd}), weight(b, file, p + "attn_output.weight", {c.n_embd, c.n_embd}));
    x = b.add(x, a);
    // Feed-forward block (SwiGLU).
    h = b.mul(b.rms_norm(x, c.norm_eps), weight(b, file, p + "ffn_norm.weight", {c.n_embd}));
    const ValueId gate = b.matmul(h, weight(b, file, p + "ffn_gate.weight", {c.n_ff, c.n_embd}));
    const ValueId up = b.matmul(h, weight(b, file, p + "ffn_up.weight", {c.n_ff, c.n_embd}));
    const ValueId down = b.matmul(b.mul(b.silu(gate), up), weight(b, file, p + "ffn_down.weight", {c.n_embd, c.n_ff}));
    x = b.add(x, down);
  }
  if (!all_logits) x = b.slice(x, 0, n_tokens - 1, 1);
  x = b.mul(b.rms_norm(x, c.norm_eps), weight(b, file, "output_norm.weight", {c.n_embd}));
  const ValueId output = c.tied_output ? token_embd : weight(b, file, "output.weight", {c.n_vocab, c.n_embd});
  b.output(b.named(b.matmul(x, output), "logits"));
  return {b.finish(), c, kv_rows};
}

std::string known_architectures() { return "llama"; }

ModelGraph build_model_graph(const gguf::GGUFFile& file, int64_t kv_rows, bool all_logits, DType kv_dtype) {
  const std::string arch = file.get_string_or("general.architecture", "");
  if (arch == "llama") return build_llama(file, kv_rows, all_logits, kv_dtype);
  user_error("'{}': architecture '{}' is not supported yet; kiln knows: {}", file.name(),
             arch.empty() ? "(general.architecture is missing)" : arch, known_architectures());
}

}  // namespace kiln::models
