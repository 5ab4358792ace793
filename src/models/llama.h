// The Llama family recipe (llama.* GGUF keys; SmolLM2, Llama 2/3 and their fine-tunes): builds
// the graph of one forward step from the file's metadata and names the weights it binds.
//
// One graph serves prefill and decode: `n_tokens` new tokens at positions n_past.. attend to
// the n_past + n_tokens positions so far, kept in a paged KV cache. Graph inputs: `tokens`
// i32[n_tokens], `positions` i32[n_tokens], `kv_slots` i32[n_past + n_tokens] (the cache row of
// each position), `new_slots` i32[n_tokens] (the rows of the new ones, the tail of kv_slots),
// and per layer `cache_k.L`, `cache_v.L` f32[kv_rows, n_head_kv, head_dim], which the kv_write
// nodes update in place. Output: logits f32[rows, vocab], where rows is n_tokens, or 1 (the last
// token) unless all_logits.
#pragma once

#include <cstdint>
#include <string>

#include "graph/graph.h"
#include "gguf/gguf_file.h"

namespace kiln::models {

struct LlamaConfig {
  int64_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_vocab = 0, head_dim = 0;
  int64_t rope_dims = 0;
  double rope_theta = 10000.0, rope_freq_scale = 1.0, norm_eps = 1e-5;
  bool tied_output = false;  // no output.weight: the token embedding is reused
};

// Reads and checks the hyper-parameters; a missing or inconsistent key is a UserError.
LlamaConfig read_llama_config(const gguf::GGUFFile& file);

struct ModelGraph {
  graph::Graph graph;
  LlamaConfig config;
  int64_t kv_rows = 0;  // rows of each layer's K and V cache
};

// Every weight the graph binds must exist in the file with the expected shape: a missing or
// misshapen tensor is a UserError naming it.
// The K and V caches hold `kv_dtype` (f32, f16 or bf16; f16 as llama.cpp's default).
ModelGraph build_llama(const gguf::GGUFFile& file, int64_t kv_rows, bool all_logits, DType kv_dtype);

// The architectures kiln can build, and the one recipe entry point: an unknown
// general.architecture is a UserError naming it and listing these.
std::string known_architectures();
ModelGraph build_model_graph(const gguf::GGUFFile& file, int64_t kv_rows, bool all_logits,
                             DType kv_dtype = DType::f16);

}  // namespace kiln::models
