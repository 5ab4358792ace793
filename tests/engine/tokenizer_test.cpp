// Tokenizers: parity with llama.cpp on the real models (goldens in tests/data/tokenizer, made by
// scripts/make_tokenizer_goldens.py), round trips, streaming decode, special tokens, and the
// files that must be refused. Small hand-built vocabularies cover the merge rules without
// the model files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/model_folder.h"
#include "support/expect_error.h"
#include "engine/tokenizer.h"
#include "engine/utf8.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace kiln::engine {
namespace {

using gguf::Array;
using gguf::GGUFFile;
using gguf::GGUFWriter;
using gguf::Value;
using gguf::ValueType;
using nlohmann::json;

const std::filesystem::path kData = std::filesystem::path(KILN_TEST_DATA) / "tokenizer";

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return json::parse(in);
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::istringstream in(text);
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

std::string from_hex(const std::string& hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return bytes;
}

// A text of the corpus or a golden: a JSON string, or {"hex": ...} for bytes that are not UTF-8.
std::string text_of(const json& entry) {
  return entry.is_string() ? entry.get<std::string>() : from_hex(entry.at("hex").get<std::string>());
}

std::string escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<uint8_t>(c);
    if (byte == '\n') out += "\\n";
    else if (byte == '\t') out += "\\t";
    else if (byte < 0x20 || byte == 0x7F) out += fmt::format("\\x{:02x}", byte);
    else out.push_back(c);
  }
  return out;
}

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> result;
    const json file = read_json(kData / "corpus.json");
    for (const json& entry : file.at("texts")) {
      result.push_back(text_of(entry));
    }
    return result;
  }();
  return texts;
}

// The real model files, opened once; null (and the test skipped) when absent.
struct RealModel {
  std::string file_name;
  std::optional<GGUFFile> file;
  std::optional<Tokenizer> tokenizer;
};

RealModel& real_model(const std::string& file_name) {
  static std::map<std::string, RealModel> models;
  auto [it, inserted] = models.try_emplace(file_name);
  if (inserted) {
    it->second.file_name = file_name;
    const std::filesystem::path path = model_folder() / file_name;
    if (std::filesystem::exists(path)) {
      it->second.file.emplace(GGUFFile::open(path.string()));
      it->second.tokenizer.emplace(Tokenizer::from_gguf(*it->second.file));
    }
  }
  return it->second;
}

#define REQUIRE_MODEL(model)                                                                   \
  if (!(model).tokenizer) {                                                                    \
    GTEST_SKIP() << (model_folder() / (model).file_name) << " is missing; run "               \
                 << "scripts/fetch-models.py (gemma3 for Gemma) or set KILN_MODELS to the "    \
                 << "folder that holds it";                                                    \
  }

constexpr const char* kSmolLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf";
constexpr const char* kGemma3 = "gemma-3-270m-q4_k_m.gguf";

// A copy of a model's tokenizer metadata with some keys replaced, parsed as a GGUF file.
struct EditedFile {
  std::vector<uint8_t> bytes;
  std::optional<GGUFFile> file;
};

std::unique_ptr<EditedFile> edit_tokenizer(const GGUFFile& source,
                                           const std::map<std::string, Value>& replaced,
                                           const std::string& name) {
  GGUFWriter writer;
  for (const gguf::KeyValue& kv : source.metadata()) {
    if (!kv.key.starts_with("tokenizer.") || kv.key == "tokenizer.chat_template") continue;
    if (replaced.count(kv.key) == 0) writer.set(kv.key, kv.value);
  }
  for (const auto& [key, value] : replaced) writer.set(key, value);
  auto edited = std::make_unique<EditedFile>();
  edited->bytes = writer.to_bytes();
  edited->file.emplace(GGUFFile::parse(edited->bytes, name));
  return edited;
}

Value string_value(std::string s) { return Value{std::move(s)}; }

// Compares the ids of every corpus text with a golden file; prints the first differences.
void expect_golden_ids(const Tokenizer& tokenizer, const json& golden, const std::string& label) {
  const std::vector<std::string>& texts = corpus();
  const json& ids = golden.at("ids");
  ASSERT_EQ(ids.size(), texts.size()) << "the golden and the corpus disagree; regenerate both";
  const json& without_special = golden.at("ids_without_special");
  size_t matched = 0, matched_without_special = 0, shown = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int32_t> expected = parse_ids(ids[i].get<std::string>());
    const std::vector<int32_t> got = tokenizer.encode(texts[i], true, false);
    if (got == expected) {
      ++matched;
    } else if (shown++ < 10) {
      ADD_FAILURE() << label << " text " << i << " '" << escaped(texts[i]) << "'\n  expected "
                    << fmt::format("{}", fmt::join(expected, " ")) << "\n  got      "
                    << fmt::format("{}", fmt::join(got, " "));
    }
    const std::string key = std::to_string(i);
    const std::vector<int32_t> expected_plain =
        without_special.contains(key) ? parse_ids(without_special[key].get<std::string>()) : expected;
    const std::vector<int32_t> got_plain = tokenizer.encode(texts[i], false, false);
    if (got_plain == expected_plain) {
      ++matched_without_special;
    } else if (shown++ < 10) {
      ADD_FAILURE() << label << " (special tokens not parsed) text " << i << " '"
                    << escaped(texts[i]) << "'\n  expected "
                    << fmt::format("{}", fmt::join(expected_plain, " ")) << "\n  got      "
                    << fmt::format("{}", fmt::join(got_plain, " "));
    }
  }
  EXPECT_EQ(matched, texts.size()) << label;
  EXPECT_EQ(matched_without_special, texts.size()) << label << " without special tokens";
  std::printf("[ parity   ] %s: %zu/%zu texts match %s (%zu/%zu without special tokens)\n",
              label.c_str(), matched, texts.size(), golden.at("reference").get<std::string>().c_str(),
              matched_without_special, texts.size());
}

void expect_golden_detokenized(const Tokenizer& tokenizer, const json& golden,
                               const std::string& label) {
  const std::vector<std::string>& texts = corpus();
  const json& detokenized = golden.at("detokenized");
  size_t matched = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string key = std::to_string(i);
    const std::string expected = detokenized.contains(key) ? text_of(detokenized[key]) : texts[i];
    const std::string got = tokenizer.decode(parse_ids(golden.at("ids")[i].get<std::string>()));
    if (got == expected) ++matched;
    else ADD_FAILURE() << label << " decode of text " << i << ": '" << escaped(got) << "' != '"
                       << escaped(expected) << "'";
  }
  EXPECT_EQ(matched, texts.size());
}

// --- Parity with the reference on the real models -------------------------------------------

TEST(TokenizerParity, SmolLM2) {
  RealModel& model = real_model(kSmolLM2);
  REQUIRE_MODEL(model);
  const json golden = read_json(kData / "smollm2.json");
  expect_golden_ids(*model.tokenizer, golden, "SmolLM2 (gpt2, pre smollm)");
  expect_golden_detokenized(*model.tokenizer, golden, "SmolLM2");
}

TEST(TokenizerParity, Gemma3) {
  RealModel& model = real_model(kGemma3);
  REQUIRE_MODEL(model);
  const json golden = read_json(kData / "gemma3.json");
  expect_golden_ids(*model.tokenizer, golden, "Gemma 3 (llama/SentencePiece)");
  expect_golden_detokenized(*model.tokenizer, golden, "Gemma 3");
}

// SmolLM2's vocabulary under every other pre-tokenizer pattern list kiln knows.
TEST(TokenizerParity, PreTokenizersOnSmolLM2Vocabulary) {
  RealModel& model = real_model(kSmolLM2);
  REQUIRE_MODEL(model);
  size_t variants = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kData)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("smollm2-pre-")) continue;
    const json golden = read_json(entry.path());
    const std::string pre = golden.at("pre_override").get<std::string>();
    auto edited = edit_tokenizer(*model.file, {{"tokenizer.ggml.pre", string_value(pre)}}, name);
    const Tokenizer tokenizer = Tokenizer::from_gguf(*edited->file);
    EXPECT_EQ(tokenizer.pre_tokenizer_name(), pre);
    expect_golden_ids(tokenizer, golden, "SmolLM2 vocabulary, pre " + pre);
    ++variants;
  }
  EXPECT_GE(variants, 9u) << "goldens missing from " << kData;
}

// --- Round trips and streaming ---------------------------------------------------------------

std::string byte_char(uint8_t byte);

// Whether the model can give `text` back exactly: a SentencePiece model reads a U+2581 in the
// text as a space, and a byte-level vocabulary may lack a byte (SmolLM2 has no token for 0x1D),
// which the reference then drops.
bool round_trips(const Tokenizer& tokenizer, const std::string& text) {
  if (tokenizer.kind() == TokenizerKind::sentencepiece) return text.find("\xE2\x96\x81") == std::string::npos;
  for (char byte : text) {
    if (tokenizer.find_token(byte_char(static_cast<uint8_t>(byte))) == kNoToken) return false;
  }
  return true;
}

void expect_round_trips(const Tokenizer& tokenizer) {
  size_t checked = 0;
  for (const std::string& text : corpus()) {
    if (!utf8::is_valid(text) || !round_trips(tokenizer, text)) continue;
    ++checked;
    for (bool parse_special : {true, false}) {
      EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, parse_special, false)), text)
          << "text '" << escaped(text) << "' parse_special=" << parse_special;
    }
  }
  EXPECT_GT(checked, 300u);
}

TEST(TokenizerRoundTrip, SmolLM2) {
  RealModel& model = real_model(kSmolLM2);
  REQUIRE_MODEL(model);
  expect_round_trips(*model.tokenizer);
}

TEST(TokenizerRoundTrip, Gemma3) {
  RealModel& model = real_model(kGemma3);
  REQUIRE_MODEL(model);
  expect_round_trips(*model.tokenizer);
}

// Every chunk is whole UTF-8, the chunks add up to the decoded text, and some tokens really do
// end inside a character (so holding bytes back is exercised).
void expect_streaming_whole_characters(const Tokenizer& tokenizer) {
  size_t split_characters = 0;
  for (const std::string& text : corpus()) {
    const std::vector<int32_t> ids = tokenizer.encode(text, true, false);
    StreamingDecoder decoder(tokenizer, /*render_special=*/true);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string chunk = decoder.push(id);
      EXPECT_TRUE(utf8::is_valid(chunk)) << "chunk '" << escaped(chunk) << "' of '" << escaped(text) << "'";
      streamed += chunk;
      if (!utf8::is_valid(tokenizer.token_piece(id))) ++split_characters;
    }
    const std::string last = decoder.finish();
    EXPECT_TRUE(utf8::is_valid(last));
    streamed += last;
    if (utf8::is_valid(text)) EXPECT_EQ(streamed, tokenizer.decode(ids)) << escaped(text);
    else EXPECT_TRUE(utf8::is_valid(streamed));
  }
  EXPECT_GT(split_characters, 0u) << "no token of the corpus ends inside a character";
}

TEST(StreamingDecoder, SmolLM2NeverEmitsPartialCharacters) {
  RealModel& model = real_model(kSmolLM2);
  REQUIRE_MODEL(model);
  expect_streaming_whole_characters(*model.tokenizer);
}

TEST(StreamingDecoder, Gemma3NeverEmitsPartialCharacters) {
  RealModel& model = real_model(kGemma3);
  REQUIRE_MODEL(model);
  expect_streaming_whole_characters(*model.tokenizer);
}

// --- Special tokens, BOS, end of generation on the real models --------------------------------

TEST(TokenizerSpecial, SmolLM2ChatMarkers) {
  RealModel& model = real_model(kSmolLM2);
  REQUIRE_MODEL(model);
  const Tokenizer& tokenizer = *model.tokenizer;
  const std::vector<int32_t> ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 1);  // <|im_start|>
  EXPECT_EQ(ids.back(), 2);   // <|im_end|>
  const std::vector<int32_t> spelled = tokenizer.encode("<|im_start|>user", false);
  EXPECT_EQ(std::count(spelled.begin(), spelled.end(), 1), 0) << "special text parsed without parse_special";
  EXPECT_FALSE(tokenizer.adds_bos());
  EXPECT_EQ(tokenizer.encode("Hi").front(), tokenizer.encode("Hi", true, false).front());
  EXPECT_EQ(tokenizer.eos(), 2);
  EXPECT_EQ(tokenizer.eot(), 2);
  EXPECT_TRUE(tokenizer.is_end_of_generation(0));  // <|endoftext|>
  EXPECT_TRUE(tokenizer.is_end_of_generation(2));
  EXPECT_FALSE(tokenizer.is_end_of_generation(1));
  EXPECT_EQ(tokenizer.token_piece(1), "<|im_start|>");
  EXPECT_EQ(tokenizer.token_piece(1, /*render_special=*/false), "");
  EXPECT_EQ(tokenizer.decode(ids, false), "user\nHi");
  EXPECT_EQ(tokenizer.vocab_size(), 49152u);
  EXPECT_EQ(tokenizer.kind(), TokenizerKind::byte_level_bpe);
}

TEST(TokenizerSpecial, Gemma3TurnsBosAndUserDefinedTokens) {
  RealModel& model = real_model(kGemma3);
  REQUIRE_MODEL(model);
  const Tokenizer& tokenizer = *model.tokenizer;
  EXPECT_TRUE(tokenizer.adds_bos());
  EXPECT_EQ(tokenizer.bos(), 2);
  const std::vector<int32_t> ids = tokenizer.encode("<start_of_turn>user\nHi<end_of_turn>");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[0], 2);    // BOS, as the model asks
  EXPECT_EQ(ids[1], 105);  // <start_of_turn>
  EXPECT_EQ(ids.back(), 106);
  EXPECT_EQ(tokenizer.eot(), 106);
  EXPECT_TRUE(tokenizer.is_end_of_generation(106));
  EXPECT_TRUE(tokenizer.is_end_of_generation(1));  // <eos>
  // User-defined tokens (<b>, whitespace runs) are whole tokens even without parse_special.
  const std::vector<int32_t> bold = tokenizer.encode("<b>", false, false);
  ASSERT_EQ(bold.size(), 1u);
  EXPECT_EQ(tokenizer.token_type(bold[0]), TokenType::user_defined);
  EXPECT_EQ(tokenizer.encode("<start_of_turn>", false, false).size() > 1, true);
  // A character the vocabulary lacks is spelled with byte-fallback tokens.
  const std::vector<int32_t> gothic = tokenizer.encode("\U00010330", true, false);
  ASSERT_EQ(gothic.size(), 4u);
  for (int32_t id : gothic) EXPECT_EQ(tokenizer.token_type(id), TokenType::byte);
  EXPECT_EQ(tokenizer.decode(gothic), "\U00010330");
}

// --- Files that must be refused ---------------------------------------------------------------


// A byte-level BPE vocabulary small enough to reason about: the 256 byte characters, a few
// merges, a control token and a user-defined one.
std::string byte_char(uint8_t byte) {
  uint32_t cpt = byte;
  if (!((byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE)) {
    uint32_t n = 0;
    for (uint32_t b = 0; b < byte; ++b) {
      if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) ++n;
    }
    cpt = 0x100 + n;
  }
  std::string text;
  utf8::append(text, cpt);
  return text;
}

Value string_array(const std::vector<std::string>& strings) {
  Array array{ValueType::string, {}};
  for (const std::string& s : strings) array.items.push_back(Value{s});
  return Value{std::move(array)};
}

Value int_array(const std::vector<int32_t>& values) {
  Array array{ValueType::i32, {}};
  for (int32_t v : values) array.items.push_back(Value{v});
  return Value{std::move(array)};
}

Value float_array(const std::vector<float>& values) {
  Array array{ValueType::f32, {}};
  for (float v : values) array.items.push_back(Value{v});
  return Value{std::move(array)};
}

struct TinyFile {
  std::vector<uint8_t> bytes;
  GGUFFile file;
};

std::unique_ptr<TinyFile> tiny_file(const std::map<std::string, Value>& metadata) {
  GGUFWriter writer;
  for (const auto& [key, value] : metadata) writer.set(key, value);
  std::vector<uint8_t> bytes = writer.to_bytes();
  GGUFFile file = GGUFFile::parse(bytes, "tiny.gguf");
  return std::make_unique<TinyFile>(TinyFile{std::move(bytes), std::move(file)});
}

std::map<std::string, Value> tiny_byte_level_bpe(const std::string& pre) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(byte_char(static_cast<uint8_t>(b)));
  const std::vector<std::string> merged = {"\xC4\xA0t", "he", "\xC4\xA0the", "ll", "hell", "hello"};
  tokens.insert(tokens.end(), merged.begin(), merged.end());
  tokens.push_back("<|end|>");
  tokens.push_back("<tag>");
  std::vector<int32_t> types(tokens.size(), 1);
  types[types.size() - 2] = 3;
  types[types.size() - 1] = 4;
  return {
      {"tokenizer.ggml.model", string_value("gpt2")},
      {"tokenizer.ggml.pre", string_value(pre)},
      {"tokenizer.ggml.tokens", string_array(tokens)},
      {"tokenizer.ggml.token_type", int_array(types)},
      {"tokenizer.ggml.merges",
       string_array({"\xC4\xA0 t", "h e", "\xC4\xA0t he", "l l", "he ll", "hell o"})},
      {"tokenizer.ggml.eos_token_id", Value{uint32_t{262}}},
  };
}

TEST(TokenizerTiny, ByteLevelMergesLowestRankFirst) {
  auto tiny = tiny_file(tiny_byte_level_bpe("gpt-2"));
  const Tokenizer tokenizer = Tokenizer::from_gguf(tiny->file);
  // "hello" -> he, ll, hell, hello; " the" -> Ġt, he, Ġthe.
  EXPECT_EQ(tokenizer.encode("hello the"), (std::vector<int32_t>{261, 258}));
  // A word the merges cannot finish stays in pieces: "help" -> he l p.
  EXPECT_EQ(tokenizer.encode("help"), (std::vector<int32_t>{257, 'l', 'p'}));
  EXPECT_EQ(tokenizer.encode("hello<|end|>"), (std::vector<int32_t>{261, 262}));
  EXPECT_EQ(tokenizer.encode("<tag>", false), (std::vector<int32_t>{263}));  // user-defined
  EXPECT_EQ(tokenizer.encode("\n").size(), 1u);
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("hello the <tag> \xE4\xB8\xAD")),
            "hello the <tag> \xE4\xB8\xAD");
  EXPECT_TRUE(tokenizer.is_end_of_generation(262));  // eos, and "<|end|>" by its text
  // Bytes that are not UTF-8 are read as U+FFFD, as the reference reads them.
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("a\xFF")), "a\xEF\xBF\xBD");
}

TEST(TokenizerTiny, SentencePieceScoresAndByteFallback) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  std::vector<float> scores = {0, 0, 0};
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(fmt::format("<0x{:02X}>", b));
    types.push_back(6);
    scores.push_back(0);
  }
  // ids 259.. : "▁", "a", "b", "▁a", "ab", "▁ab"; "▁ab" can come from ▁a+b or ▁+ab, and the
  // higher-scored first merge decides.
  for (const auto& [text, score] : std::vector<std::pair<std::string, float>>{
           {"\xE2\x96\x81", -1}, {"a", -2}, {"b", -3}, {"\xE2\x96\x81" "a", -4}, {"ab", -5},
           {"\xE2\x96\x81" "ab", -6}}) {
    tokens.push_back(text);
    types.push_back(1);
    scores.push_back(score);
  }
  auto tiny = tiny_file({{"tokenizer.ggml.model", string_value("llama")},
                         {"tokenizer.ggml.tokens", string_array(tokens)},
                         {"tokenizer.ggml.token_type", int_array(types)},
                         {"tokenizer.ggml.scores", float_array(scores)}});
  const Tokenizer tokenizer = Tokenizer::from_gguf(tiny->file);
  EXPECT_TRUE(tokenizer.adds_bos());  // SentencePiece models do unless the file says otherwise
  EXPECT_EQ(tokenizer.encode("ab"), (std::vector<int32_t>{1, 264}));  // <s> ▁ab
  EXPECT_EQ(tokenizer.encode("ab", true, false), (std::vector<int32_t>{264}));
  // é is not in the vocabulary: <0xC3> <0xA9>.
  EXPECT_EQ(tokenizer.encode("a\xC3\xA9", true, false),
            (std::vector<int32_t>{262, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("ab a\xC3\xA9")), "<s>ab a\xC3\xA9");
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("ab a\xC3\xA9"), false), "ab a\xC3\xA9");
  // After a special token the space prefix comes again.
  EXPECT_EQ(tokenizer.encode("</s>ab", true, false), (std::vector<int32_t>{2, 264}));
}

TEST(TokenizerRefuses, UnknownPreTokenizer) {
  auto tiny = tiny_file(tiny_byte_level_bpe("no-such-pre"));
  expect_user_error([&] { Tokenizer::from_gguf(tiny->file); },
                    {"tiny.gguf", "unknown pre-tokenizer 'no-such-pre'", "tokenizer.ggml.pre",
                     "llama-bpe"});
}

TEST(TokenizerRefuses, UnknownModelMissingTokenizerAndBadIds) {
  auto metadata = tiny_byte_level_bpe("gpt-2");
  metadata["tokenizer.ggml.model"] = string_value("t5");
  auto t5 = tiny_file(metadata);
  expect_user_error([&] { Tokenizer::from_gguf(t5->file); }, {"tiny.gguf", "'t5'", "'gpt2'"});

  auto none = tiny_file({{"general.architecture", string_value("llama")}});
  expect_user_error([&] { Tokenizer::from_gguf(none->file); },
                    {"tiny.gguf", "has no tokenizer", "tokenizer.ggml.model"});

  metadata = tiny_byte_level_bpe("gpt-2");
  metadata.erase("tokenizer.ggml.merges");
  auto no_merges = tiny_file(metadata);
  expect_user_error([&] { Tokenizer::from_gguf(no_merges->file); }, {"tokenizer.ggml.merges"});

  auto ok = tiny_file(tiny_byte_level_bpe("gpt-2"));
  const Tokenizer tokenizer = Tokenizer::from_gguf(ok->file);
  expect_user_error([&] { tokenizer.decode(std::vector<int32_t>{5, 264}); },
                    {"token id 264 is out of range", "264 tokens"});
  expect_user_error([&] { tokenizer.token_piece(-1); }, {"token id -1"});
}

// --- UTF-8 helpers ---------------------------------------------------------------------------

TEST(Utf8, CompletePrefixHoldsBackUnfinishedCharacters) {
  EXPECT_EQ(utf8::complete_prefix("ab\xE4\xB8").text, "ab");
  EXPECT_EQ(utf8::complete_prefix("ab\xE4\xB8").rest, "\xE4\xB8");
  EXPECT_EQ(utf8::complete_prefix("\xE4\xB8\xAD").text, "\xE4\xB8\xAD");
  // Bytes that can never finish a character are replaced, not held.
  EXPECT_EQ(utf8::complete_prefix("\xFF" "a").text, "\xEF\xBF\xBD" "a");
  EXPECT_EQ(utf8::complete_prefix("\xE4\xB8" "a").text, "\xEF\xBF\xBD" "a");
  EXPECT_EQ(utf8::complete_prefix("\xED\xA0\x80").text, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_FALSE(utf8::is_valid("\xC0\xAF"));
  EXPECT_TRUE(utf8::is_valid("\xF0\x9F\x98\x80"));
}

}  // namespace
}  // namespace kiln::engine
