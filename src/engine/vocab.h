// The token list that every tokenizer model reads: texts, scores, types and a text -> id map.
// Internal to src/engine.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer.h"

namespace kiln::engine {

// Hashes std::string and std::string_view alike, so look-ups by view allocate nothing.
struct TextHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
template <typename V>
using TextMap = std::unordered_map<std::string, V, TextHash, std::equal_to<>>;

struct Vocab {
  std::vector<std::string> texts;  // as stored in tokenizer.ggml.tokens
  std::vector<float> scores;       // tokenizer.ggml.scores; zeros when the file has none
  std::vector<TokenType> types;    // tokenizer.ggml.token_type; normal when the file has none
  TextMap<int32_t> ids;

  size_t size() const { return texts.size(); }
  // The id of the token whose text is exactly `text`, or kNoToken.
  int32_t find(std::string_view text) const {
    auto it = ids.find(text);
    return it == ids.end() ? kNoToken : it->second;
  }
};

}  // namespace kiln::engine
