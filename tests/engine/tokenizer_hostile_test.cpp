// Hostile tokenizer metadata: the vocabulary, merges and special token ids come from the model
// file, so they are untrusted input. Each malformed table must be refused with a UserError that
// names the file and the key, never crash; metadata the reference (llama.cpp) tolerates must
// load and tokenize without reading out of bounds. These tests also run under ASan/UBSan.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "engine/tokenizer.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "support/expect_error.h"

namespace kiln::engine {
namespace {

using gguf::Array;
using gguf::GGUFFile;
using gguf::GGUFWriter;
using gguf::Value;
using gguf::ValueType;
using Metadata = std::map<std::string, Value>;

Value strings(const std::vector<std::string>& items) {
  Array array{ValueType::string, {}};
  for (const std::string& s : items) array.items.push_back(Value{s});
  return Value{std::move(array)};
}

template <typename T>
Value numbers(ValueType type, const std::vector<T>& items) {
  Array array{type, {}};
  for (T v : items) array.items.push_back(Value{v});
  return Value{std::move(array)};
}

// A byte-level BPE vocabulary: "a", "b", "c", "ab", "abc" and a control token "<|end|>", with
// the merges "a b" and "ab c".
Metadata byte_level() {
  return {
      {"tokenizer.ggml.model", Value{std::string("gpt2")}},
      {"tokenizer.ggml.pre", Value{std::string("gpt-2")}},
      {"tokenizer.ggml.tokens", strings({"a", "b", "c", "ab", "abc", "<|end|>"})},
      {"tokenizer.ggml.token_type", numbers<int32_t>(ValueType::i32, {1, 1, 1, 1, 1, 3})},
      {"tokenizer.ggml.merges", strings({"a b", "ab c"})},
      {"tokenizer.ggml.eos_token_id", Value{uint32_t{5}}},
  };
}

// A SentencePiece vocabulary: <unk> <s> </s>, byte tokens for 'a' and 0xFF, "▁" and "▁a".
Metadata sentencepiece() {
  return {
      {"tokenizer.ggml.model", Value{std::string("llama")}},
      {"tokenizer.ggml.tokens",
       strings({"<unk>", "<s>", "</s>", "<0x61>", "<0xFF>", "\xE2\x96\x81", "\xE2\x96\x81" "a"})},
      {"tokenizer.ggml.token_type", numbers<int32_t>(ValueType::i32, {2, 3, 3, 6, 6, 1, 1})},
      {"tokenizer.ggml.scores", numbers<float>(ValueType::f32, {0, 0, 0, 0, 0, -1, -2})},
  };
}

// The file holds its bytes: a GGUFFile's values are parsed copies, but keep them together.
struct Loaded {
  std::vector<uint8_t> bytes;
  std::unique_ptr<GGUFFile> file;
};

Loaded write(const Metadata& metadata) {
  GGUFWriter writer;
  for (const auto& [key, value] : metadata) writer.set(key, value);
  Loaded loaded{writer.to_bytes(), nullptr};
  loaded.file = std::make_unique<GGUFFile>(GGUFFile::parse(loaded.bytes, "hostile.gguf"));
  return loaded;
}

Tokenizer load(const Metadata& metadata) { return Tokenizer::from_gguf(*write(metadata).file); }

Metadata with(Metadata metadata, const std::string& key, Value value) {
  metadata[key] = std::move(value);
  return metadata;
}

Metadata without(Metadata metadata, const std::string& key) {
  metadata.erase(key);
  return metadata;
}

void expect_refused(const Metadata& metadata, std::initializer_list<std::string> fragments) {
  const Loaded loaded = write(metadata);
  expect_user_error([&] { Tokenizer::from_gguf(*loaded.file); }, fragments);
  // Every refusal names the file.
  expect_user_error([&] { Tokenizer::from_gguf(*loaded.file); }, {"hostile.gguf"});
}

TEST(TokenizerHostile, TheTinyVocabulariesLoad) {
  const Tokenizer bpe = load(byte_level());
  EXPECT_EQ(bpe.encode("abcab"), (std::vector<int32_t>{4, 3}));
  const Tokenizer sp = load(sentencepiece());
  EXPECT_EQ(sp.encode("a", true, false), (std::vector<int32_t>{6}));
}

TEST(TokenizerHostile, EmptyOrMistypedVocabulary) {
  for (const auto& kind : {byte_level(), sentencepiece()}) {
    expect_refused(with(kind, "tokenizer.ggml.tokens", strings({})),
                   {"'tokenizer.ggml.tokens' is missing or empty"});
    expect_refused(without(kind, "tokenizer.ggml.tokens"),
                   {"'tokenizer.ggml.tokens' is missing or empty"});
    expect_refused(with(kind, "tokenizer.ggml.tokens", Value{std::string("a")}),
                   {"'tokenizer.ggml.tokens' should be an array but is string"});
    expect_refused(with(kind, "tokenizer.ggml.tokens", numbers<int32_t>(ValueType::i32, {1, 2})),
                   {"'tokenizer.ggml.tokens' should hold strings but holds i32"});
    expect_refused(with(kind, "tokenizer.ggml.model", Value{uint32_t{2}}),
                   {"tokenizer.ggml.model"});
  }
  expect_refused(with(without(byte_level(), "tokenizer.ggml.token_type"), "tokenizer.ggml.tokens",
                      strings({"a", "b", "a"})),
                 {"token 'a' appears twice", "ids 0 and 2"});
}

TEST(TokenizerHostile, TokenTypesAndScoresOfTheWrongLength) {
  for (const std::vector<int32_t>& types : {std::vector<int32_t>{1, 1}, std::vector<int32_t>(7, 1),
                                            std::vector<int32_t>{}}) {
    expect_refused(
        with(byte_level(), "tokenizer.ggml.token_type", numbers(ValueType::i32, types)),
        {fmt::format("tokenizer.ggml.token_type has {} entries for 6 tokens", types.size())});
  }
  for (const std::vector<float>& scores : {std::vector<float>{0}, std::vector<float>(8, 0.0f)}) {
    expect_refused(
        with(sentencepiece(), "tokenizer.ggml.scores", numbers(ValueType::f32, scores)),
        {fmt::format("tokenizer.ggml.scores has {} entries for 7 tokens", scores.size())});
  }
  expect_refused(with(byte_level(), "tokenizer.ggml.token_type", strings({"1", "1", "1", "1", "1", "1"})),
                 {"tokenizer.ggml.token_type[0] is not an integer"});
  expect_refused(with(sentencepiece(), "tokenizer.ggml.scores", strings(std::vector<std::string>(7, "x"))),
                 {"tokenizer.ggml.scores[0] is not a number"});
  expect_refused(with(byte_level(), "tokenizer.ggml.token_type", Value{int32_t{1}}),
                 {"'tokenizer.ggml.token_type' should be an array"});
}

TEST(TokenizerHostile, ScoresThatAreNotNumbersToCompare) {
  // NaN has no order, and the merge queue orders bigrams by score.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  expect_refused(with(sentencepiece(), "tokenizer.ggml.scores",
                      numbers<float>(ValueType::f32, {0, 0, 0, 0, 0, nan, -2})),
                 {"tokenizer.ggml.scores[5] is NaN"});
  // Infinities are ordered: they load.
  const float inf = std::numeric_limits<float>::infinity();
  const Tokenizer t = load(with(sentencepiece(), "tokenizer.ggml.scores",
                                numbers<float>(ValueType::f32, {0, 0, 0, 0, 0, -inf, inf})));
  EXPECT_EQ(t.encode("a", true, false), (std::vector<int32_t>{6}));
}

TEST(TokenizerHostile, TokenTypeValuesOutOfRangeAreUndefinedTokens) {
  // As the reference: an unknown type is "undefined", which decodes to nothing.
  const Tokenizer t = load(with(byte_level(), "tokenizer.ggml.token_type",
                                numbers<int32_t>(ValueType::i32, {1, 1, 1, 1, 99, -7})));
  EXPECT_EQ(t.token_type(4), TokenType::undefined);
  EXPECT_EQ(t.decode(std::vector<int32_t>{0, 4, 1}), "ab");
}

TEST(TokenizerHostile, MalformedMerges) {
  expect_refused(with(byte_level(), "tokenizer.ggml.merges", strings({"a b", "abc"})),
                 {"tokenizer.ggml.merges[1] 'abc' is not two tokens separated by a space"});
  expect_refused(with(byte_level(), "tokenizer.ggml.merges", strings({"a b", " "})),
                 {"tokenizer.ggml.merges[1]", "not two tokens"});
  expect_refused(with(byte_level(), "tokenizer.ggml.merges", strings({"a x"})),
                 {"tokenizer.ggml.merges[0] 'a x'", "'x' is not a token"});
  expect_refused(with(byte_level(), "tokenizer.ggml.merges", strings({"b c"})),
                 {"tokenizer.ggml.merges[0] 'b c'", "'bc' is not a token"});
  expect_refused(with(byte_level(), "tokenizer.ggml.merges", numbers<int32_t>(ValueType::i32, {1})),
                 {"'tokenizer.ggml.merges' should hold strings but holds i32"});
  expect_refused(without(byte_level(), "tokenizer.ggml.merges"), {"tokenizer.ggml.merges"});
  // No merges at all is a valid, if useless, BPE model: every byte stays a token.
  const Tokenizer t = load(with(byte_level(), "tokenizer.ggml.merges", strings({})));
  EXPECT_EQ(t.encode("abc"), (std::vector<int32_t>{0, 1, 2}));
}

TEST(TokenizerHostile, SpecialTokenIdsOutOfRange) {
  // Ids outside the vocabulary are ignored, as the reference ignores them (it warns and keeps
  // its default): real files carry a padding id one past the end.
  for (const Value& bad : {Value{uint32_t{7}}, Value{int32_t{-1}}, Value{uint64_t{1} << 40},
                           Value{int64_t{std::numeric_limits<int64_t>::min()}}}) {
    const Tokenizer t = load(with(with(byte_level(), "tokenizer.ggml.eos_token_id", bad),
                                  "tokenizer.ggml.padding_token_id", bad));
    EXPECT_EQ(t.eos(), kNoToken);
    EXPECT_EQ(t.pad(), kNoToken);
    EXPECT_FALSE(t.is_end_of_generation(7));
    EXPECT_FALSE(t.is_end_of_generation(-1));
    const Tokenizer sp = load(with(sentencepiece(), "tokenizer.ggml.bos_token_id", bad));
    EXPECT_EQ(sp.bos(), 1);  // SentencePiece's default
    EXPECT_EQ(sp.encode("a"), (std::vector<int32_t>{1, 6}));
  }
  // When a BOS is needed and the file's id is no token, that is an error.
  expect_refused(with(with(byte_level(), "tokenizer.ggml.bos_token_id", Value{uint32_t{600}}),
                      "tokenizer.ggml.add_bos_token", Value{true}),
                 {"add_bos_token is true but the model has no BOS token"});
  // Ids that are not integers at all.
  expect_refused(with(byte_level(), "tokenizer.ggml.eos_token_id", Value{std::string("5")}),
                 {"'tokenizer.ggml.eos_token_id' should be a token id but is string"});
  expect_refused(with(byte_level(), "tokenizer.ggml.bos_token_id", Value{1.5}),
                 {"'tokenizer.ggml.bos_token_id' should be a token id but is f64"});
  expect_refused(with(byte_level(), "tokenizer.ggml.add_bos_token", Value{std::string("yes")}),
                 {"'tokenizer.ggml.add_bos_token' should be a bool but is string"});
  // And decoding an id out of range is an error, not a read past the table.
  const Tokenizer t = load(byte_level());
  expect_user_error([&] { t.decode(std::vector<int32_t>{6}); }, {"token id 6 is out of range"});
  expect_user_error([&] { t.token_text(std::numeric_limits<int32_t>::min()); },
                    {"out of range"});
}

TEST(TokenizerHostile, TokensThatAreNotUtf8) {
  // Byte-level BPE: invalid UTF-8 in normal, control and user-defined tokens.
  Metadata bpe = byte_level();
  bpe["tokenizer.ggml.tokens"] =
      strings({"a", "b", "c", "ab", "abc", "<|end|>", "\xFF\xFE", "<\xC0\x80>", "\xE2\x82", "x\xED\xA0\x80"});
  bpe["tokenizer.ggml.token_type"] = numbers<int32_t>(ValueType::i32, {1, 1, 1, 1, 1, 3, 1, 3, 4, 1});
  const Tokenizer t = load(bpe);
  EXPECT_EQ(t.encode("a<\xC0\x80>\xE2\x82"), (std::vector<int32_t>{0, 7, 8}));
  // Normal tokens map back through GPT-2's byte table: bytes that are not UTF-8 decode as
  // U+FFFD, an encoded surrogate as itself; control and user-defined tokens are their text.
  EXPECT_EQ(t.decode(std::vector<int32_t>{6, 7, 8, 9}),
            "\xEF\xBF\xBD\xEF\xBF\xBD<\xC0\x80>\xE2\x82x\xED\xA0\x80");
  // Text with invalid bytes, against a vocabulary that cannot spell them: they are dropped, as
  // the reference drops bytes that are no token.
  EXPECT_EQ(t.encode("\xFF" "a\xC3"), (std::vector<int32_t>{0}));

  // SentencePiece: an invalid token, and text with bytes the vocabulary has no token for.
  Metadata sp = sentencepiece();
  sp["tokenizer.ggml.tokens"] = strings({"<unk>", "<s>", "</s>", "<0x61>", "<0xFF>", "\xE2\x96\x81",
                                         "\xE2\x96\x81" "a", "\xC3"});
  sp["tokenizer.ggml.token_type"] = numbers<int32_t>(ValueType::i32, {2, 3, 3, 6, 6, 1, 1, 1});
  sp["tokenizer.ggml.scores"] = numbers<float>(ValueType::f32, {0, 0, 0, 0, 0, -1, -2, -3});
  const Tokenizer s = load(sp);
  EXPECT_EQ(s.encode("\xFF\xC3", true, false), (std::vector<int32_t>{5, 4, 7}));
  EXPECT_EQ(s.decode(std::vector<int32_t>{4, 7}), "\xFF\xC3");
  expect_user_error([&] { s.encode("b", true, false); },
                    {"no byte-fallback token <0x62>", "cannot spell it"});
}

TEST(TokenizerHostile, PreTokenizerNames) {
  expect_refused(with(byte_level(), "tokenizer.ggml.pre", Value{std::string("no-such-pre")}),
                 {"unknown pre-tokenizer 'no-such-pre'", "tokenizer.ggml.pre"});
  expect_refused(with(byte_level(), "tokenizer.ggml.pre", Value{std::string("gpt-2\0x", 7)}),
                 {"unknown pre-tokenizer"});
  expect_refused(with(byte_level(), "tokenizer.ggml.pre", Value{std::string(100000, 'x')}),
                 {"unknown pre-tokenizer"});
  expect_refused(with(byte_level(), "tokenizer.ggml.pre", Value{uint32_t{1}}),
                 {"tokenizer.ggml.pre"});
  // Missing or empty: the reference's default pre-tokenizer.
  EXPECT_EQ(load(without(byte_level(), "tokenizer.ggml.pre")).pre_tokenizer_name(), "default");
  EXPECT_EQ(load(with(byte_level(), "tokenizer.ggml.pre", Value{std::string()})).pre_tokenizer_name(),
            "default");
}

}  // namespace
}  // namespace kiln::engine
