// The BPE merge loop both tokenizers share (byte-level BPE by merge rank, SentencePiece BPE by
// vocabulary score): the text is cut into symbols, one per UTF-8 character (by the length the
// lead byte announces, as the references cut it), every adjacent pair that may merge is queued
// by its cost, and the cheapest pair merges first (the leftmost among equals); the merged
// symbol's new pairs are queued, pairs whose symbols changed since are skipped, until no pair
// is left. Returns the final pieces, in order.
#pragma once

#include <optional>
#include <queue>
#include <string_view>
#include <vector>

#include "engine/utf8.h"

namespace kiln::engine {

// `cost_of(left, right)`: the cost of merging two adjacent pieces, or nothing if they do not
// merge. Cost is any ordered type (a merge rank; a negated score).
template <typename Cost, typename CostOf>
std::vector<std::string_view> bpe_merge(std::string_view text, const CostOf& cost_of) {
  struct Symbol {
    size_t begin;
    size_t length;  // 0 once merged into the symbol on its left
    int prev;
    int next;
  };
  struct Pair {
    Cost cost;
    int left;
    int right;
    size_t left_length;  // lengths when queued: a pair is stale once either symbol changed
    size_t right_length;
  };
  struct Later {
    bool operator()(const Pair& a, const Pair& b) const {
      return b.cost < a.cost || (!(a.cost < b.cost) && a.left > b.left);
    }
  };
  std::vector<Symbol> symbols;
  for (size_t at = 0; at < text.size();) {
    const size_t length = std::min(text.size() - at, utf8::sequence_length(static_cast<uint8_t>(text[at])));
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({at, length, index - 1, at + length == text.size() ? -1 : index + 1});
    at += length;
  }
  const auto piece = [&](const Symbol& s) { return text.substr(s.begin, s.length); };
  std::priority_queue<Pair, std::vector<Pair>, Later> queue;
  const auto try_queue = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    if (const std::optional<Cost> cost = cost_of(piece(symbols[left]), piece(symbols[right]))) {
      queue.push({*cost, left, right, symbols[left].length, symbols[right].length});
    }
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_queue(i - 1, i);
  while (!queue.empty()) {
    const Pair pair = queue.top();
    queue.pop();
    Symbol& left = symbols[pair.left];
    Symbol& right = symbols[pair.right];
    if (left.length != pair.left_length || right.length != pair.right_length || left.length == 0 || right.length == 0) {
      continue;
    }
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = pair.left;
    try_queue(left.prev, pair.left);
    try_queue(pair.left, left.next);
  }
  std::vector<std::string_view> pieces;
  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) pieces.push_back(piece(symbols[i]));
  return pieces;
}

}  // namespace kiln::engine
