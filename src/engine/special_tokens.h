// Finds special tokens written as text ("<|im_start|>") so they become one id each instead of
// being spelled out. Control and unknown tokens are found only when asked; user-defined tokens
// always are (as Hugging Face's added tokens are). Internal to src/engine.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/vocab.h"

namespace kiln::engine {

// A piece of the input: either plain text or one special token.
struct Fragment {
  int32_t token = kNoToken;  // kNoToken for plain text
  std::string_view text;     // the plain text, or the token's text as written in the input
};

class SpecialTokenSplitter {
 public:
  explicit SpecialTokenSplitter(const Vocab& vocab);

  // Cuts `text` into plain text and special tokens. The reference's rule: tokens are taken
  // longest first, each at every place, left to right, that lies wholly inside text no earlier
  // token took. (Among tokens of equal length the reference's order is unspecified; here the
  // leftmost place wins.) Memory and time are linear in the text, whatever it repeats.
  std::vector<Fragment> split(std::string_view text, bool parse_special) const;

 private:
  struct Node {
    int32_t candidate = -1;  // index into candidates_ of the token that ends here
    std::vector<std::pair<uint8_t, int32_t>> children;
  };
  struct Candidate {
    int32_t id;
    uint32_t length;
    bool control;  // control or unknown: only found when parse_special
  };

  // The candidate (index into candidates_) of exactly `length` bytes that starts text[start...].
  int32_t candidate_at(std::string_view text, size_t start, size_t length) const;

  std::vector<Candidate> candidates_;
  std::vector<Node> trie_;
};

}  // namespace kiln::engine
