#include "engine/sentencepiece_bpe.h"

#include <optional>
#include <string>

#include <fmt/format.h>

#include "base/error.h"
#include "engine/bpe_merge.h"
#include "engine/utf8.h"

namespace kiln::engine {

int32_t sentencepiece_byte_token(const Vocab& vocab, uint8_t byte) {
  const int32_t id = vocab.find(fmt::format("<0x{:02X}>", byte));
  if (id != kNoToken) return id;
  const char raw = static_cast<char>(byte);
  return vocab.find(std::string_view(&raw, 1));
}

void sentencepiece_encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  // Symbols are cut by the length the lead byte announces, even where the bytes that follow are
  // not continuation bytes: the reference does the same, and such a symbol falls back to bytes.
  // Pairs that join into a vocabulary token merge by its score, the highest first.
  const auto cost_of = [&](std::string_view left, std::string_view right) -> std::optional<float> {
    const int32_t id = vocab.find(std::string_view(left.data(), left.size() + right.size()));
    return id == kNoToken ? std::nullopt : std::optional<float>(-vocab.scores[id]);
  };
  for (const std::string_view piece : bpe_merge<float>(text, cost_of)) {
    if (int32_t id = vocab.find(piece); id != kNoToken) {
      out.push_back(id);
      continue;
    }
    for (char byte : piece) {
      const int32_t id = sentencepiece_byte_token(vocab, static_cast<uint8_t>(byte));
      if (id == kNoToken) {
        user_error("tokenizer: no byte-fallback token <0x{:02X}> in the vocabulary for the text "
                   "'{}'; the model cannot spell it",
                   static_cast<uint8_t>(byte), piece);
      }
      out.push_back(id);
    }
  }
}

}  // namespace kiln::engine
