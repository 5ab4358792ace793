#include "engine/sentencepiece_bpe.h"

#include <queue>
#include <string>

#include <fmt/format.h>

#include "base/error.h"
#include "engine/utf8.h"

namespace kiln::engine {
namespace {

struct Symbol {
  size_t begin;
  size_t length;  // 0 once merged into the symbol on its left
  int prev;
  int next;
};

struct Bigram {
  float score;
  int left;
  int right;
  size_t length;  // bytes of the joined text; a bigram is stale once its symbols changed
};

// Highest score first; among equal scores the leftmost.
struct LowerBigram {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

int32_t sentencepiece_byte_token(const Vocab& vocab, uint8_t byte) {
  const int32_t id = vocab.find(fmt::format("<0x{:02X}>", byte));
  if (id != kNoToken) return id;
  const char raw = static_cast<char>(byte);
  return vocab.find(std::string_view(&raw, 1));
}

void sentencepiece_encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  // Symbols are cut by the length the lead byte announces, even where the bytes that follow are
  // not continuation bytes: the reference does the same, and such a symbol falls back to bytes.
  std::vector<Symbol> symbols;
  for (size_t at = 0; at < text.size();) {
    const size_t length =
        std::min(text.size() - at, utf8::sequence_length(static_cast<uint8_t>(text[at])));
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({at, length, index - 1, at + length == text.size() ? -1 : index + 1});
    at += length;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, LowerBigram> queue;
  auto try_queue = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    const std::string_view joined = text.substr(l.begin, l.length + r.length);
    const int32_t id = vocab.find(joined);
    if (id == kNoToken) return;
    queue.push({vocab.scores[id], left, right, joined.size()});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_queue(i - 1, i);

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) {
      continue;
    }
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    try_queue(left.prev, bigram.left);
    try_queue(bigram.left, left.next);
  }

  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = text.substr(symbols[i].begin, symbols[i].length);
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
