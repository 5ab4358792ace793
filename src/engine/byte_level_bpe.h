// Byte-level BPE (GPT-2 style, `tokenizer.ggml.model` = "gpt2"): the pre-tokenizer cuts text
// into words, each byte of a word becomes one printable character (GPT-2's byte-to-unicode
// table, so a space is 'Ġ'), and ranked merges from `tokenizer.ggml.merges` join neighbouring
// symbols, lowest rank first. Internal to src/engine.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/pretokenizer.h"
#include "engine/vocab.h"

namespace kiln::engine {

class ByteLevelBpe {
 public:
  // `merges` are "left right" strings, highest priority first. A merge without a space is
  // kept with empty halves, as llama.cpp keeps it, so ranks stay positions in the list.
  ByteLevelBpe(const std::vector<std::string>& merges, PreTokenizer pre_tokenizer);

  // Appends the ids of `text`, a piece of user text with no special tokens in it. Bytes that are
  // not UTF-8 are read as U+FFFD, as the reference tokenizer reads them.
  void encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) const;

  const PreTokenizer& pre_tokenizer() const { return pre_tokenizer_; }

  // The bytes that the text of a normal token stands for ('Ġ' -> ' '). Characters outside the
  // byte table are kept as they are.
  static std::string token_bytes(std::string_view token_text);

 private:
  void encode_word(const Vocab& vocab, std::string_view word, std::vector<int32_t>& out) const;
  int merge_rank(std::string_view left, std::string_view right, std::string& key) const;

  TextMap<int> ranks_;  // "left right" -> position in the merge list
  PreTokenizer pre_tokenizer_;
};

}  // namespace kiln::engine
