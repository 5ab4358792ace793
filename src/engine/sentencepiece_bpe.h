// SentencePiece-style BPE (`tokenizer.ggml.model` = "llama"): spaces become U+2581, the text
// starts as one symbol per UTF-8 character, and neighbours are merged while their join is a
// token, highest `tokenizer.ggml.scores` first. A symbol left without a token is spelled with
// byte-fallback tokens <0xXX>. Internal to src/engine.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/vocab.h"

namespace kiln::engine {

inline constexpr std::string_view kSentencePieceSpace = "\xE2\x96\x81";  // U+2581

// Appends the ids of `text` (spaces already replaced by U+2581). Throws UserError when a byte
// needs a fallback token the vocabulary lacks.
void sentencepiece_encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

// The id of the byte-fallback token for `byte` (<0xXX>, else the byte as a token), or kNoToken.
int32_t sentencepiece_byte_token(const Vocab& vocab, uint8_t byte);

}  // namespace kiln::engine
