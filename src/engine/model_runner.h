// A model loaded for inference on one device: the GGUF file (mmap'd), its graph compiled for
// the device's target, the weights bound (on the CPU straight from the mapping, never copied),
// and the paged KV cache (runtime/kv_blocks.h: blocks of kv_block_size positions, enough for
// ctx_size). forward() feeds tokens at the next positions and returns their logits.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "compiler/graph_program.h"
#include "gguf/gguf_file.h"
#include "models/llama.h"
#include "runtime/device.h"
#include "runtime/kv_blocks.h"

namespace kiln::engine {

struct ModelOptions {
  int64_t ctx_size = 2048;
  int64_t kv_block_size = 16;  // positions per KV cache block
  bool fuse = true;            // element-wise nodes folded into their producers' kernels
  bool int8 = true;            // quantized matmuls on 8-bit activations where the target has dot products
  bool all_logits = false;  // logits for every fed token, not just the last (teacher forcing)
  // Elements of the K and V caches: f16 (llama.cpp's default) halves what a long context reads
  // per token; f32 keeps keys and values unrounded (the float64 parity test), bf16 also works.
  DType kv_dtype = DType::f16;
  std::function<void(const std::string& stage, size_t done, size_t total)> on_progress;
};

class ModelRunner {
 public:
  ModelRunner(const std::string& path, runtime::Device& device, const ModelOptions& options);
  ~ModelRunner();
  ModelRunner(const ModelRunner&) = delete;
  ModelRunner& operator=(const ModelRunner&) = delete;

  // Runs `tokens` at positions n_past().. and advances n_past. Returns rows x vocab logits
  // (rows = tokens.size() with all_logits, else 1). Running past the context is a UserError
  // that leaves the cache as it was.
  std::vector<float> forward(std::span<const int32_t> tokens);
  void reset() { rewind(0); }
  // Forgets everything after position n (to re-run a conversation's tail); frees the cache
  // blocks that held it.
  void rewind(int64_t n);

  int64_t n_past() const { return n_past_; }
  int64_t ctx_size() const { return ctx_size_; }
  // The KV cache blocks that hold this model's positions, in position order.
  const std::vector<int64_t>& kv_block_table() const { return kv_blocks_.block_table(sequence_); }
  int64_t vocab_size() const { return model_.config.n_vocab; }
  const gguf::GGUFFile& file() const { return file_; }
  size_t kernel_count() const { return program_->kernel_count(); }
  compiler::GraphProgram& program() { return *program_; }
  uint64_t weight_bytes() const { return weight_bytes_; }

 private:
  gguf::GGUFFile file_;
  runtime::Device& device_;
  models::ModelGraph model_;
  std::unique_ptr<compiler::GraphProgram> program_;
  std::vector<runtime::Buffer> weights_;
  // The weights the program reads with interleaved rows, moved into that layout at load (the
  // others are the file's mapped bytes).
  std::vector<std::vector<uint8_t>> repacked_;
  std::vector<runtime::Buffer> cache_;
  int64_t ctx_size_ = 0;
  runtime::KvBlocks kv_blocks_;
  runtime::KvBlocks::SequenceId sequence_ = 0;
  std::vector<runtime::Buffer*> leaf_buffers_;  // in the launch list's leaf order
  std::array<size_t, 4> step_inputs_{};         // leaf indices of tokens, positions, kv_slots, new_slots
  std::vector<int64_t> symbol_values_;
  size_t n_tokens_symbol_ = 0, n_past_symbol_ = 0;
  bool all_logits_ = false;
  int64_t n_past_ = 0;
  uint64_t weight_bytes_ = 0;
};

}  // namespace kiln::engine
