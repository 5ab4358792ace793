#include "engine/special_tokens.h"

#include <algorithm>

namespace kiln::engine {

SpecialTokenSplitter::SpecialTokenSplitter(const Vocab& vocab) {
  for (size_t id = 0; id < vocab.size(); ++id) {
    const TokenType type = vocab.types[id];
    if (type != TokenType::control && type != TokenType::unknown &&
        type != TokenType::user_defined) {
      continue;
    }
    if (vocab.texts[id].empty()) continue;
    candidates_.push_back({static_cast<int32_t>(id), static_cast<uint32_t>(vocab.texts[id].size()),
                           type != TokenType::user_defined});
  }
  std::stable_sort(candidates_.begin(), candidates_.end(),
                   [](const Candidate& a, const Candidate& b) { return a.length > b.length; });

  trie_.emplace_back();
  for (size_t c = 0; c < candidates_.size(); ++c) {
    int32_t node = 0;
    for (char ch : vocab.texts[candidates_[c].id]) {
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
    trie_[node].candidate = static_cast<int32_t>(c);
  }
}

std::vector<Fragment> SpecialTokenSplitter::split(std::string_view text, bool parse_special) const {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;

  // Every place where some candidate occurs, as (candidate, start).
  std::vector<std::pair<int32_t, size_t>> occurrences;
  for (size_t start = 0; start < text.size(); ++start) {
    int32_t node = 0;
    for (size_t at = start; at < text.size(); ++at) {
      const auto byte = static_cast<uint8_t>(text[at]);
      const auto& children = trie_[node].children;
      auto it = std::find_if(children.begin(), children.end(),
                             [&](const auto& child) { return child.first == byte; });
      if (it == children.end()) break;
      node = it->second;
      const int32_t c = trie_[node].candidate;
      if (c >= 0 && (parse_special || !candidates_[c].control)) occurrences.emplace_back(c, start);
    }
  }
  if (occurrences.empty()) {
    fragments.push_back({kNoToken, text});
    return fragments;
  }
  std::sort(occurrences.begin(), occurrences.end());

  std::vector<bool> taken(text.size(), false);
  std::vector<int32_t> starts_here(text.size(), -1);  // candidate taken at this byte
  size_t i = 0;
  while (i < occurrences.size()) {
    const int32_t c = occurrences[i].first;
    const size_t length = candidates_[c].length;
    size_t free_from = 0;  // the next search starts after the previous place taken
    for (; i < occurrences.size() && occurrences[i].first == c; ++i) {
      const size_t start = occurrences[i].second;
      if (start < free_from) continue;
      bool free = true;
      for (size_t k = start; k < start + length && free; ++k) free = !taken[k];
      if (!free) continue;
      std::fill(taken.begin() + static_cast<ptrdiff_t>(start),
                taken.begin() + static_cast<ptrdiff_t>(start + length), true);
      starts_here[start] = c;
      free_from = start + length;
    }
  }

  size_t plain_begin = 0;
  for (size_t at = 0; at < text.size();) {
    const int32_t c = starts_here[at];
    if (c < 0) {
      ++at;
      continue;
    }
    if (at > plain_begin) fragments.push_back({kNoToken, text.substr(plain_begin, at - plain_begin)});
    fragments.push_back({candidates_[c].id, text.substr(at, candidates_[c].length)});
    at += candidates_[c].length;
    plain_begin = at;
  }
  if (plain_begin < text.size()) fragments.push_back({kNoToken, text.substr(plain_begin)});
  return fragments;
}

}  // namespace kiln::engine
