#include "engine/special_tokens.h"

#include <algorithm>

namespace kiln::engine {
namespace {

// Token lengths up to this are kept as bits of one word per text byte; longer special tokens are
// rare and are listed one by one.
constexpr size_t kMaskedLengths = 64;

}  // namespace

SpecialTokenSplitter::SpecialTokenSplitter(const Vocab& vocab) {
  trie_.emplace_back();
  for (size_t id = 0; id < vocab.size(); ++id) {
    const TokenType type = vocab.types[id];
    if (type != TokenType::control && type != TokenType::unknown &&
        type != TokenType::user_defined) {
      continue;
    }
    const std::string& text = vocab.texts[id];
    if (text.empty()) continue;
    int32_t node = 0;
    for (char ch : text) {
      const auto byte = static_cast<uint8_t>(ch);
      auto& children = trie_[node].children;
      auto it = std::find_if(children.begin(), children.end(),
                             [&](const auto& child) { return child.first == byte; });
      if (it != children.end()) {
        node = it->second;
      } else {
        const auto next = static_cast<int32_t>(trie_.size());
        children.emplace_back(byte, next);
        trie_.emplace_back();  // may move `children`, which is not used again
        node = next;
      }
    }
    trie_[node].candidate = static_cast<int32_t>(candidates_.size());
    candidates_.push_back({static_cast<int32_t>(id), static_cast<uint32_t>(text.size()),
                           type != TokenType::user_defined});
  }
}

int32_t SpecialTokenSplitter::candidate_at(std::string_view text, size_t start,
                                           size_t length) const {
  int32_t node = 0;
  for (size_t at = start; at < start + length; ++at) {
    const auto& children = trie_[node].children;
    const auto byte = static_cast<uint8_t>(text[at]);
    auto it = std::find_if(children.begin(), children.end(),
                           [&](const auto& child) { return child.first == byte; });
    if (it == children.end()) return -1;
    node = it->second;
  }
  return trie_[node].candidate;
}

std::vector<Fragment> SpecialTokenSplitter::split(std::string_view text, bool parse_special) const {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  const size_t n = text.size();

  // Which candidate lengths start at each byte: bit L-1 for a candidate of L bytes.
  std::vector<uint64_t> lengths_at(n, 0);
  std::vector<std::pair<size_t, size_t>> long_matches;  // (length, start), past kMaskedLengths
  uint64_t lengths_seen = 0;
  for (size_t start = 0; start < n; ++start) {
    int32_t node = 0;
    for (size_t at = start; at < n; ++at) {
      const auto byte = static_cast<uint8_t>(text[at]);
      const auto& children = trie_[node].children;
      auto it = std::find_if(children.begin(), children.end(),
                             [&](const auto& child) { return child.first == byte; });
      if (it == children.end()) break;
      node = it->second;
      const int32_t c = trie_[node].candidate;
      if (c < 0 || (!parse_special && candidates_[c].control)) continue;
      const size_t length = at - start + 1;
      if (length <= kMaskedLengths) {
        lengths_at[start] |= uint64_t{1} << (length - 1);
        lengths_seen |= uint64_t{1} << (length - 1);
      } else {
        long_matches.emplace_back(length, start);
      }
    }
  }
  if (lengths_seen == 0 && long_matches.empty()) {
    fragments.push_back({kNoToken, text});
    return fragments;
  }

  // Longest first; each place is taken when all its bytes are still free.
  std::vector<bool> taken(n, false);
  std::vector<int32_t> taken_at(n, -1);  // the candidate whose place starts at this byte
  auto try_take = [&](size_t start, size_t length) {
    for (size_t k = start; k < start + length; ++k) {
      if (taken[k]) return;
    }
    std::fill(taken.begin() + static_cast<ptrdiff_t>(start),
              taken.begin() + static_cast<ptrdiff_t>(start + length), true);
    taken_at[start] = candidate_at(text, start, length);
  };
  std::sort(long_matches.begin(), long_matches.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (const auto& [length, start] : long_matches) try_take(start, length);
  for (size_t length = kMaskedLengths; length >= 1; --length) {
    const uint64_t bit = uint64_t{1} << (length - 1);
    if ((lengths_seen & bit) == 0) continue;
    for (size_t start = 0; start + length <= n; ++start) {
      if ((lengths_at[start] & bit) != 0) try_take(start, length);
    }
  }

  size_t plain_begin = 0;
  for (size_t at = 0; at < n;) {
    const int32_t c = taken_at[at];
    if (c < 0) {
      ++at;
      continue;
    }
    if (at > plain_begin) fragments.push_back({kNoToken, text.substr(plain_begin, at - plain_begin)});
    fragments.push_back({candidates_[c].id, text.substr(at, candidates_[c].length)});
    at += candidates_[c].length;
    plain_begin = at;
  }
  if (plain_begin < n) fragments.push_back({kNoToken, text.substr(plain_begin)});
  return fragments;
}

}  // namespace kiln::engine
