#include "engine/byte_level_bpe.h"

#include <array>
#include <optional>

#include "engine/bpe_merge.h"
#include "engine/utf8.h"

namespace kiln::engine {
namespace {

// GPT-2's table: printable Latin-1 bytes stand for themselves; the other 68 bytes (controls,
// space, 0x7F-0xA0, 0xAD) take the code points from U+0100 upwards, in byte order.
struct ByteTable {
  std::array<std::string, 256> to_text;
  std::array<int16_t, 0x144> to_byte;  // code point -> byte, -1 outside the table

  ByteTable() {
    to_byte.fill(-1);
    uint32_t next_extra = 0x100;
    for (uint32_t byte = 0; byte < 256; ++byte) {
      const bool printable = (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) ||
                             (byte >= 0xAE && byte <= 0xFF);
      const uint32_t cpt = printable ? byte : next_extra++;
      utf8::append(to_text[byte], cpt);
      to_byte[cpt] = static_cast<int16_t>(byte);
    }
  }
};

const ByteTable& byte_table() {
  static const ByteTable table;
  return table;
}

// Whitespace past ASCII, by the Unicode White_Space property.
bool is_wide_whitespace(uint32_t cpt) {
  return cpt == 0x85 || cpt == 0xA0 || cpt == 0x1680 || (cpt >= 0x2000 && cpt <= 0x200A) ||
         cpt == 0x2028 || cpt == 0x2029 || cpt == 0x202F || cpt == 0x205F || cpt == 0x3000;
}

// Text prepared for the pre-tokenizer. `canonical` holds every code point re-encoded (so
// invalid bytes are U+FFFD). `matchable` is what the patterns see, made the way the reference
// makes its own: whitespace past ASCII becomes "\x0B" (so U+2028 is whitespace to \s and outside
// every literal range such as [ࠀ-一]). Surrogates, not UTF-8 to PCRE2, become U+E000, and
// U+180E, which PCRE2's \s still counts as a space, becomes U+200B: each stand-in is in the same
// classes and literal ranges as what it replaces. `canonical_at` maps a byte offset
// of `matchable` at a code point boundary to the same place in `canonical`.
struct PreparedText {
  std::string canonical;
  std::string matchable;
  std::vector<uint32_t> canonical_at;
};

PreparedText prepare(std::string_view text) {
  PreparedText prepared;
  prepared.canonical.reserve(text.size());
  prepared.matchable.reserve(text.size());
  for (uint32_t cpt : utf8::decode_lenient(text)) {
    if (cpt > 0x10FFFF) cpt = utf8::kReplacement;  // the reference aborts on these
    prepared.canonical_at.resize(prepared.matchable.size() + 1);
    prepared.canonical_at.back() = static_cast<uint32_t>(prepared.canonical.size());
    utf8::append(prepared.canonical, cpt);
    if (is_wide_whitespace(cpt)) {
      prepared.matchable.push_back('\x0B');
    } else {
      uint32_t stand_in = cpt;
      if (cpt >= 0xD800 && cpt <= 0xDFFF) stand_in = 0xE000;
      if (cpt == 0x180E) stand_in = 0x200B;
      utf8::append(prepared.matchable, stand_in);
    }
  }
  prepared.canonical_at.resize(prepared.matchable.size() + 1);
  prepared.canonical_at.back() = static_cast<uint32_t>(prepared.canonical.size());
  return prepared;
}

}  // namespace

ByteLevelBpe::ByteLevelBpe(const std::vector<std::string>& merges, PreTokenizer pre_tokenizer)
    : pre_tokenizer_(std::move(pre_tokenizer)) {
  ranks_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    // The halves are split at the first space after the first byte, so a merge whose left half
    // is itself a space still parses.
    if (merges[i].find(' ', 1) == std::string::npos) continue;
    ranks_.try_emplace(merges[i], static_cast<int>(i));
  }
}

int ByteLevelBpe::merge_rank(std::string_view left, std::string_view right,
                             std::string& key) const {
  key.assign(left);
  key.push_back(' ');
  key.append(right);
  auto it = ranks_.find(std::string_view(key));
  return it == ranks_.end() ? -1 : it->second;
}

void ByteLevelBpe::encode(const Vocab& vocab, std::string_view text,
                          std::vector<int32_t>& out) const {
  const PreparedText prepared = prepare(text);
  const ByteTable& table = byte_table();
  std::string word;
  for (std::string_view piece : pre_tokenizer_.split(prepared.matchable)) {
    const size_t begin = static_cast<size_t>(piece.data() - prepared.matchable.data());
    const size_t from = prepared.canonical_at[begin];
    const size_t to = prepared.canonical_at[begin + piece.size()];
    word.clear();
    for (char byte : std::string_view(prepared.canonical).substr(from, to - from)) {
      word += table.to_text[static_cast<uint8_t>(byte)];
    }
    encode_word(vocab, word, out);
  }
}

void ByteLevelBpe::encode_word(const Vocab& vocab, std::string_view word,
                               std::vector<int32_t>& out) const {
  if (pre_tokenizer_.ignore_merges()) {
    if (int32_t id = vocab.find(word); id != kNoToken) {
      out.push_back(id);
      return;
    }
  }
  // One symbol per character of the byte-encoded word, that is per byte of the original text;
  // pairs merge by rank, the lowest first.
  std::string key;
  const auto rank_of = [&](std::string_view left, std::string_view right) -> std::optional<int> {
    const int rank = merge_rank(left, right, key);
    return rank >= 0 ? std::optional<int>(rank) : std::nullopt;
  };
  for (const std::string_view text : bpe_merge<int>(word, rank_of)) {
    if (int32_t id = vocab.find(text); id != kNoToken) {
      out.push_back(id);
      continue;
    }
    // No token for the merged symbol: the reference looks each byte up on its own and drops
    // the bytes that are not tokens either.
    for (char byte : text) {
      if (int32_t id = vocab.find(std::string_view(&byte, 1)); id != kNoToken) out.push_back(id);
    }
  }
}

std::string ByteLevelBpe::token_bytes(std::string_view token_text) {
  const ByteTable& table = byte_table();
  std::string bytes;
  bytes.reserve(token_text.size());
  for (uint32_t cpt : utf8::decode_lenient(token_text)) {
    if (cpt < table.to_byte.size() && table.to_byte[cpt] >= 0) {
      bytes.push_back(static_cast<char>(table.to_byte[cpt]));
    } else {
      utf8::append(bytes, cpt);
    }
  }
  return bytes;
}

}  // namespace kiln::engine
