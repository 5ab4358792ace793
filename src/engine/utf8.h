// UTF-8 helpers for the tokenizers.
//
// Two readings of bytes live here. `decode_lenient` reads text the way llama.cpp's tokenizer does
// (the reference for token ids): any lead byte with the right continuation bytes is a code point,
// overlong forms and surrogates included, and every byte that starts no sequence becomes U+FFFD.
// `complete_prefix` is strict (RFC 3629) and serves output: text handed to a user is always valid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::engine::utf8 {

inline constexpr uint32_t kReplacement = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// The length of the sequence that `lead` announces, read from its top four bits (1 for ASCII and
// for stray continuation bytes). The SentencePiece tokenizer splits text into symbols this way.
size_t sequence_length(uint8_t lead);

// Code points of `text`, decoded leniently (see the file comment).
std::vector<uint32_t> decode_lenient(std::string_view text);

// Appends the UTF-8 form of `cpt`; code points past U+10FFFF are appended as U+FFFD.
void append(std::string& out, uint32_t cpt);

// Splits `bytes` into the longest prefix that is whole, valid UTF-8 and what must wait for more
// bytes. Invalid bytes inside the prefix are replaced by U+FFFD (one per maximal invalid
// subpart); an unfinished sequence at the very end is left in `rest`.
struct ValidPrefix {
  std::string text;
  std::string rest;
};
ValidPrefix complete_prefix(std::string_view bytes);

// True when `bytes` is valid UTF-8 (strict).
bool is_valid(std::string_view bytes);

}  // namespace kiln::engine::utf8
