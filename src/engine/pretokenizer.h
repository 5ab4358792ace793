// Pre-tokenizers of byte-level BPE models: the regular expressions that cut text into words
// before merges run, chosen by the `tokenizer.ggml.pre` name that converters write into GGUF
// files. The names, patterns and per-name settings follow llama.cpp's vocabulary loader, the
// reference for token ids. Internal to src/engine.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::engine {

class Regex;

class PreTokenizer {
 public:
  // The pre-tokenizer named `name`, or nullopt when kiln does not know it.
  static std::optional<PreTokenizer> from_name(std::string_view name);
  // Every accepted name, for error messages.
  static std::vector<std::string_view> known_names();

  // Cuts `text` into words. Each pattern in turn splits every piece left by the one before; text
  // between matches stays a piece of its own. `text` must be valid UTF-8.
  std::vector<std::string_view> split(std::string_view text) const;

  // Whether a word that is itself a token skips the merges (Llama 3 style).
  bool ignore_merges() const { return ignore_merges_; }
  // Whether the model adds BOS when tokenizer.ggml.add_bos_token is absent.
  bool adds_bos_by_default() const { return add_bos_; }

 private:
  std::vector<std::shared_ptr<const Regex>> patterns_;
  bool ignore_merges_ = false;
  bool add_bos_ = false;
};

}  // namespace kiln::engine
