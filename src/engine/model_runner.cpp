#include "engine/model_runner.h"

#include "base/error.h"
#include "base/row_interleave.h"

namespace kiln::engine {

namespace {

int64_t blocks_for(const ModelOptions& options) {
  if (options.ctx_size < 1) user_error("--ctx-size must be at least 1, got {}", options.ctx_size);
  if (options.kv_block_size < 1) user_error("the KV block size must be at least 1, got {}", options.kv_block_size);
  return (options.ctx_size + options.kv_block_size - 1) / options.kv_block_size;
}

}  // namespace

ModelRunner::ModelRunner(const std::string& path, runtime::Device& device, const ModelOptions& options)
    : file_(gguf::GGUFFile::open(path)),
      device_(device),
      ctx_size_(options.ctx_size),
      kv_blocks_(blocks_for(options), options.kv_block_size),
      all_logits_(options.all_logits) {
  sequence_ = kv_blocks_.add_sequence();
  model_ = models::build_model_graph(file_, kv_blocks_.rows(), options.all_logits, options.kv_dtype);
  const Target target = device.target();
  program_ = std::make_unique<compiler::GraphProgram>(model_.graph, target, [&](size_t done, size_t total) {
    if (options.on_progress) options.on_progress("compiling", done, total);
  }, compiler::ProgramOptions{.fuse = options.fuse, .int8_activations = options.int8});

  const bool host_memory = target.kind == TargetKind::Cpu;
  const graph::Graph& g = model_.graph;
  std::map<std::string, runtime::Buffer*> leaves;  // weights and caches by name, for binding
  weights_.reserve(g.weights.size());
  for (size_t i = 0; i < g.weights.size(); ++i) {
    const std::string& name = g.value(g.weights[i]).name;
    const gguf::TensorInfo* tensor = file_.find_tensor(name);
    KILN_CHECK(tensor != nullptr, "weight {} vanished from the file", name);
    std::span<const uint8_t> bytes = file_.tensor_data(*tensor);
    weight_bytes_ += bytes.size();
    if (auto layout = program_->weight_row_interleave().find(name); layout != program_->weight_row_interleave().end()) {
      // The compiler chose interleaved rows for this weight: the same bytes, moved once here.
      const graph::TensorType& type = g.type(g.weights[i]);
      repacked_.push_back(interleave_rows(type.dtype, bytes, *type.shape[0].as_constant(),
                                          *type.shape[1].as_constant(), layout->second));
      bytes = repacked_.back();
    }
    if (host_memory) {
      // Kernels only read weights: the mapping's bytes serve as they are.
      weights_.push_back({const_cast<uint8_t*>(bytes.data()), bytes.size(), true});
    } else {
      weights_.push_back(device.allocate(bytes.size()));
      device.write(weights_.back(), bytes.data(), bytes.size());
    }
    leaves[name] = &weights_.back();
    if (options.on_progress) options.on_progress("loading weights", i + 1, g.weights.size());
  }
  const auto& c = model_.config;
  const size_t cache_bytes =
      static_cast<size_t>(kv_blocks_.rows() * c.n_head_kv * c.head_dim) * dtype_info(options.kv_dtype).block_bytes;
  cache_.reserve(2 * static_cast<size_t>(c.n_layer));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    for (const char* kind : {"cache_k", "cache_v"}) {
      cache_.push_back(device.allocate(cache_bytes));
      leaves[fmt::format("{}.{}", kind, l)] = &cache_.back();
    }
  }
  // The launch list's bindings, made once: every weight and cache by its leaf index; the
  // per-step inputs and symbols are set by index in forward().
  runtime::Executable& ex = program_->executable();
  leaf_buffers_.assign(ex.leaf_names.size(), nullptr);
  for (size_t i = 0; i < ex.leaf_names.size(); ++i) {
    if (auto it = leaves.find(ex.leaf_names[i]); it != leaves.end()) leaf_buffers_[i] = it->second;
  }
  step_inputs_ = {ex.leaf_index("tokens"), ex.leaf_index("positions"), ex.leaf_index("kv_slots"),
                  ex.leaf_index("new_slots")};
  symbol_values_.assign(ex.symbols.size(), 0);
  n_tokens_symbol_ = ex.symbol_index("n_tokens");
  n_past_symbol_ = ex.symbol_index("n_past");
}

ModelRunner::~ModelRunner() {
  program_->executable().release_memory();
  for (runtime::Buffer& b : cache_) device_.release(b);
  for (runtime::Buffer& b : weights_) device_.release(b);
}

void ModelRunner::rewind(int64_t n) {
  if (n < 0 || n > n_past_) user_error("cannot rewind to position {} (the cache holds {})", n, n_past_);
  kv_blocks_.truncate(sequence_, n);
  n_past_ = n;
}

std::vector<float> ModelRunner::forward(std::span<const int32_t> tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) user_error("forward() needs at least one token");
  if (n_past_ + n > ctx_size()) {
    user_error("the context holds {} tokens; {} more after {} would run past it (raise --ctx-size)", ctx_size(), n,
               n_past_);
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= vocab_size()) user_error("token id {} is outside the vocabulary of {}", t, vocab_size());
  }
  std::vector<int32_t> positions(tokens.size());
  for (int64_t i = 0; i < n; ++i) positions[static_cast<size_t>(i)] = static_cast<int32_t>(n_past_ + i);
  kv_blocks_.reserve(sequence_, n_past_ + n);
  const std::vector<int32_t> slots = kv_blocks_.slots(sequence_, 0, n_past_ + n);
  runtime::Buffer ids = device_.allocate(tokens.size() * sizeof(int32_t));
  runtime::Buffer pos = device_.allocate(positions.size() * sizeof(int32_t));
  runtime::Buffer kv_slots = device_.allocate(slots.size() * sizeof(int32_t));
  runtime::Buffer new_slots = device_.allocate(tokens.size() * sizeof(int32_t));
  const int64_t rows = all_logits_ ? n : 1;
  runtime::Buffer logits = device_.allocate(static_cast<size_t>(rows * vocab_size()) * sizeof(float));
  std::vector<float> out(static_cast<size_t>(rows * vocab_size()));
  try {
    device_.write(ids, tokens.data(), tokens.size() * sizeof(int32_t));
    device_.write(pos, positions.data(), positions.size() * sizeof(int32_t));
    device_.write(kv_slots, slots.data(), slots.size() * sizeof(int32_t));
    device_.write(new_slots, slots.data() + n_past_, tokens.size() * sizeof(int32_t));
    runtime::Buffer* step_buffers[] = {&ids, &pos, &kv_slots, &new_slots};
    for (size_t k = 0; k < step_inputs_.size(); ++k) leaf_buffers_[step_inputs_[k]] = step_buffers[k];
    symbol_values_[n_tokens_symbol_] = n;
    symbol_values_[n_past_symbol_] = n_past_;
    runtime::Buffer* outputs[] = {&logits};
    program_->executable().run(device_, leaf_buffers_, symbol_values_, outputs);
    device_.read(out.data(), logits, out.size() * sizeof(float));
  } catch (...) {
    for (runtime::Buffer* b : {&ids, &pos, &kv_slots, &new_slots, &logits}) device_.release(*b);
    kv_blocks_.truncate(sequence_, n_past_);
    throw;
  }
  for (runtime::Buffer* b : {&ids, &pos, &kv_slots, &new_slots, &logits}) device_.release(*b);
  n_past_ += n;
  return out;
}

}  // namespace kiln::engine
