#include "engine/tokenizer.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/ranges.h>

#include "base/error.h"
#include "engine/byte_level_bpe.h"
#include "engine/sentencepiece_bpe.h"
#include "engine/special_tokens.h"
#include "engine/utf8.h"
#include "engine/vocab.h"
#include "gguf/gguf_file.h"

namespace kiln::engine {

struct Tokenizer::Model {
  std::string file_name;
  std::string model_name;
  std::string pre_name;
  TokenizerKind kind = TokenizerKind::byte_level_bpe;
  Vocab vocab;
  std::vector<std::string> pieces;  // the bytes of each token, control tokens as their text
  std::optional<ByteLevelBpe> bpe;
  std::optional<SpecialTokenSplitter> splitter;
  bool add_bos = false;
  bool add_space_prefix = false;
  int32_t bos = kNoToken;
  int32_t eos = kNoToken;
  int32_t eot = kNoToken;
  int32_t eom = kNoToken;
  int32_t unk = kNoToken;
  int32_t pad = kNoToken;
  std::vector<bool> end_of_generation;
};

namespace {

using gguf::GGUFFile;
using gguf::Value;

// Special tokens that converters leave unnamed in the metadata, found by their text as the
// reference finds them. Each found token is made a control token, so that it is matched as a
// whole and hidden when decoding for people.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
constexpr std::string_view kEndOfMessageTexts[] = {"<|eom_id|>"};
// Tokens that end generation. The reference counts "</s>" among them even where it is an HTML
// tag (Gemma 3), except in vocabularies that mark it normal (see kNormalEndOfSentenceMarkers).
constexpr std::string_view kEndOfGenerationTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~["};
// Vocabularies with one of these have "</s>" as a normal token (Gemma 4, PLaMo).
constexpr std::string_view kNormalEndOfSentenceMarkers[] = {"<|tool_response>", "<|plamo:eos|>"};
// Fill-in-the-middle markers: the first three are control tokens, the last three also end
// generation. Each row is one marker, spelled the ways different models spell it.
struct FimMarker {
  const char* key;
  std::vector<std::string_view> texts;
  bool ends_generation;
};
const std::vector<FimMarker>& fim_markers() {
  static const std::vector<FimMarker> markers = {
      {"tokenizer.ggml.fim_pre_token_id",
       {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
        "<|code_prefix|>", "<|prefix|>"},
       false},
      {"tokenizer.ggml.fim_suf_token_id",
       {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
        "<|code_suffix|>", "<|suffix|>"},
       false},
      {"tokenizer.ggml.fim_mid_token_id",
       {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
        "<|code_middle|>", "<|middle|>"},
       false},
      {"tokenizer.ggml.fim_pad_token_id", {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"},
       true},
      {"tokenizer.ggml.fim_rep_token_id",
       {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"},
       true},
      {"tokenizer.ggml.fim_sep_token_id", {"<|file_sep|>"}, true},
  };
  return markers;
}

const gguf::Array* find_array(const GGUFFile& file, std::string_view key) {
  const Value* value = file.find(key);
  if (value == nullptr) return nullptr;
  const gguf::Array* array = value->as_array();
  if (array == nullptr) {
    user_error("'{}': metadata key '{}' should be an array but is {}", file.name(), key,
               gguf::value_type_name(value->type()));
  }
  return array;
}

std::vector<std::string> read_strings(const GGUFFile& file, std::string_view key) {
  const gguf::Array* array = find_array(file, key);
  if (array == nullptr) return {};
  std::vector<std::string> strings;
  strings.reserve(array->items.size());
  for (const Value& item : array->items) {
    const std::string* s = item.as_string();
    if (s == nullptr) {
      user_error("'{}': metadata key '{}' should hold strings but holds {}", file.name(), key,
                 gguf::value_type_name(item.type()));
    }
    strings.push_back(*s);
  }
  return strings;
}

std::optional<bool> read_bool(const GGUFFile& file, std::string_view key) {
  const Value* value = file.find(key);
  if (value == nullptr) return std::nullopt;
  if (const bool* b = std::get_if<bool>(&value->storage)) return *b;
  if (auto i = value->as_int()) return *i != 0;
  user_error("'{}': metadata key '{}' should be a bool but is {}", file.name(), key,
             gguf::value_type_name(value->type()));
}

// A token id from the metadata; an id outside the vocabulary is ignored, as the reference
// ignores it (the model's default stays).
std::optional<int32_t> read_token_id(const GGUFFile& file, std::string_view key, size_t n_vocab) {
  const Value* value = file.find(key);
  if (value == nullptr) return std::nullopt;
  const std::optional<int64_t> id = value->as_int();
  if (!id) {
    user_error("'{}': metadata key '{}' should be a token id but is {}", file.name(), key,
               gguf::value_type_name(value->type()));
  }
  if (*id < 0 || static_cast<uint64_t>(*id) >= n_vocab) return std::nullopt;
  return static_cast<int32_t>(*id);
}

Vocab read_vocab(const GGUFFile& file) {
  Vocab vocab;
  vocab.texts = read_strings(file, "tokenizer.ggml.tokens");
  const size_t n = vocab.texts.size();
  if (n == 0) user_error("'{}': metadata key 'tokenizer.ggml.tokens' is missing or empty", file.name());
  if (n > static_cast<size_t>(INT32_MAX)) user_error("'{}': {} tokens are too many", file.name(), n);

  vocab.scores.assign(n, 0.0f);
  if (const gguf::Array* scores = find_array(file, "tokenizer.ggml.scores")) {
    if (scores->items.size() != n) {
      user_error("'{}': tokenizer.ggml.scores has {} entries for {} tokens", file.name(),
                 scores->items.size(), n);
    }
    for (size_t i = 0; i < n; ++i) {
      const std::optional<double> score = scores->items[i].as_double();
      if (!score) user_error("'{}': tokenizer.ggml.scores[{}] is not a number", file.name(), i);
      // The merge queue orders bigrams by score; NaN has no order.
      if (std::isnan(*score)) user_error("'{}': tokenizer.ggml.scores[{}] is NaN", file.name(), i);
      vocab.scores[i] = static_cast<float>(*score);
    }
  }

  vocab.types.assign(n, TokenType::normal);
  if (const gguf::Array* types = find_array(file, "tokenizer.ggml.token_type")) {
    if (types->items.size() != n) {
      user_error("'{}': tokenizer.ggml.token_type has {} entries for {} tokens", file.name(),
                 types->items.size(), n);
    }
    for (size_t i = 0; i < n; ++i) {
      const std::optional<int64_t> type = types->items[i].as_int();
      if (!type) user_error("'{}': tokenizer.ggml.token_type[{}] is not an integer", file.name(), i);
      vocab.types[i] = *type >= 1 && *type <= 6 ? static_cast<TokenType>(*type) : TokenType::undefined;
    }
  }

  vocab.ids.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (vocab.texts[i].empty()) vocab.texts[i] = fmt::format("[EMPTY_{}]", i);  // as the reference
    auto [it, inserted] = vocab.ids.try_emplace(vocab.texts[i], static_cast<int32_t>(i));
    if (!inserted) {
      user_error("'{}': token '{}' appears twice in tokenizer.ggml.tokens (ids {} and {})",
                 file.name(), vocab.texts[i], it->second, i);
    }
  }
  return vocab;
}

// The first token whose text is one of `texts` (in the order given), or kNoToken.
int32_t find_first(const Vocab& vocab, std::span<const std::string_view> texts) {
  for (std::string_view text : texts) {
    if (int32_t id = vocab.find(text); id != kNoToken) return id;
  }
  return kNoToken;
}

void make_control(Vocab& vocab, int32_t id) {
  if (id != kNoToken) vocab.types[id] = TokenType::control;
}

// <0x0A> -> 0x0A; nullopt for any other text.
std::optional<uint8_t> byte_token_value(std::string_view text) {
  if (text.size() != 6 || !text.starts_with("<0x") || text.back() != '>') return std::nullopt;
  uint8_t value = 0;
  for (char c : text.substr(3, 2)) {
    value <<= 4;
    if (c >= '0' && c <= '9') value |= c - '0';
    else if (c >= 'A' && c <= 'F') value |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') value |= c - 'a' + 10;
    else return std::nullopt;
  }
  return value;
}

// "▁hello" -> " hello".
std::string sentencepiece_spaces(std::string_view text) {
  std::string piece;
  piece.reserve(text.size());
  for (size_t at = 0; at < text.size();) {
    if (text.substr(at).starts_with(kSentencePieceSpace)) {
      piece.push_back(' ');
      at += kSentencePieceSpace.size();
    } else {
      piece.push_back(text[at++]);
    }
  }
  return piece;
}

// What a token decodes to, with control tokens as their text.
std::string piece_of(const Vocab& vocab, TokenizerKind kind, size_t id) {
  const std::string& text = vocab.texts[id];
  switch (vocab.types[id]) {
    case TokenType::control:
    case TokenType::unknown:
    case TokenType::user_defined:
      return text;
    case TokenType::normal:
      if (kind == TokenizerKind::byte_level_bpe) return ByteLevelBpe::token_bytes(text);
      return sentencepiece_spaces(text);
    case TokenType::byte:
      if (auto byte = byte_token_value(text)) return std::string(1, static_cast<char>(*byte));
      return text;
    case TokenType::unused:
    case TokenType::undefined:
      return "";  // the reference prints nothing for these
  }
  return "";
}

// The merges of a byte-level BPE model: each two tokens separated by the first space after the
// first byte (a left half may itself be a space), whose joined text is a token too. The
// reference takes any string; a merge it could never use is a sign of a broken file.
std::vector<std::string> read_merges(const GGUFFile& file, const Vocab& vocab) {
  std::vector<std::string> merges = read_strings(file, "tokenizer.ggml.merges");
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string_view merge = merges[i];
    const size_t space = merge.size() < 2 ? std::string_view::npos : merge.find(' ', 1);
    if (space == std::string_view::npos || space + 1 == merge.size()) {
      user_error("'{}': tokenizer.ggml.merges[{}] '{}' is not two tokens separated by a space",
                 file.name(), i, merge);
    }
    const std::string joined = std::string(merge.substr(0, space)).append(merge.substr(space + 1));
    for (const std::string_view part : {merge.substr(0, space), merge.substr(space + 1),
                                        std::string_view(joined)}) {
      if (vocab.find(part) == kNoToken) {
        user_error("'{}': tokenizer.ggml.merges[{}] '{}': '{}' is not a token", file.name(), i,
                   merge, part);
      }
    }
  }
  return merges;
}

// The pre-tokenizer and merges of a byte-level BPE model, the flags and the special token ids:
// the reference's defaults for the model's kind, then what the metadata says.
void read_settings(const GGUFFile& file, Tokenizer::Model& model) {
  const size_t n = model.vocab.size();
  if (model.kind == TokenizerKind::byte_level_bpe) {
    model.pre_name = file.get_string_or("tokenizer.ggml.pre", "default");
    if (model.pre_name.empty()) model.pre_name = "default";
    std::optional<PreTokenizer> pre = PreTokenizer::from_name(model.pre_name);
    if (!pre) {
      user_error("'{}': unknown pre-tokenizer '{}' (tokenizer.ggml.pre); kiln knows: {}",
                 file.name(), model.pre_name, fmt::join(PreTokenizer::known_names(), ", "));
    }
    if (!file.find("tokenizer.ggml.merges")) {
      user_error("'{}': byte-level BPE tokenizer without merges (tokenizer.ggml.merges)", file.name());
    }
    model.add_bos = pre->adds_bos_by_default();
    model.bpe.emplace(read_merges(file, model.vocab), std::move(*pre));
  } else {
    model.bos = n > 1 ? 1 : kNoToken;
    model.eos = n > 2 ? 2 : kNoToken;
    model.unk = 0;
    model.add_bos = true;
    model.add_space_prefix = true;
  }
  if (auto v = read_bool(file, "tokenizer.ggml.add_space_prefix")) model.add_space_prefix = *v;
  if (auto v = read_bool(file, "tokenizer.ggml.add_bos_token")) model.add_bos = *v;
  if (auto id = read_token_id(file, "tokenizer.ggml.bos_token_id", n)) model.bos = *id;
  if (auto id = read_token_id(file, "tokenizer.ggml.eos_token_id", n)) model.eos = *id;
  if (auto id = read_token_id(file, "tokenizer.ggml.eot_token_id", n)) model.eot = *id;
  if (auto id = read_token_id(file, "tokenizer.ggml.eom_token_id", n)) model.eom = *id;
  if (auto id = read_token_id(file, "tokenizer.ggml.unknown_token_id", n)) model.unk = *id;
  if (auto id = read_token_id(file, "tokenizer.ggml.padding_token_id", n)) model.pad = *id;
  if (model.add_bos && model.bos == kNoToken) {
    user_error("'{}': tokenizer.ggml.add_bos_token is true but the model has no BOS token "
               "(tokenizer.ggml.bos_token_id)",
               file.name());
  }
}

// Special tokens that the metadata leaves unnamed, found by their text: end of turn, end of
// message, fill-in-the-middle markers and the other tokens that end generation. Each one found
// this way becomes a control token.
void mark_special_tokens(const GGUFFile& file, Tokenizer::Model& model) {
  Vocab& vocab = model.vocab;
  const size_t n = vocab.size();
  if (model.eot == kNoToken) {
    model.eot = find_first(vocab, kEndOfTurnTexts);
    make_control(vocab, model.eot);
  }
  if (model.eom == kNoToken) {
    model.eom = find_first(vocab, kEndOfMessageTexts);
    make_control(vocab, model.eom);
  }
  model.end_of_generation.assign(n, false);
  for (const FimMarker& marker : fim_markers()) {
    std::optional<int32_t> id = read_token_id(file, marker.key, n);
    if (!id) {
      id = find_first(vocab, marker.texts);
      make_control(vocab, *id);
    }
    if (marker.ends_generation && *id != kNoToken) model.end_of_generation[*id] = true;
  }
  const bool normal_end_of_sentence = find_first(vocab, kNormalEndOfSentenceMarkers) != kNoToken;
  for (std::string_view text : kEndOfGenerationTexts) {
    const int32_t id = vocab.find(text);
    if (id == kNoToken) continue;
    if (text == "</s>" && normal_end_of_sentence) {
      vocab.types[id] = TokenType::normal;
      continue;
    }
    make_control(vocab, id);
    model.end_of_generation[id] = true;
  }
  for (int32_t id : {model.eos, model.eot, model.eom}) {
    if (id != kNoToken) model.end_of_generation[id] = true;
  }
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GGUFFile& file) {
  auto model = std::make_shared<Model>();
  model->file_name = file.name();
  model->model_name = file.get_string_or("tokenizer.ggml.model", "");
  if (model->model_name.empty()) {
    user_error("'{}' has no tokenizer (metadata key 'tokenizer.ggml.model' is missing)", file.name());
  }
  if (model->model_name == "gpt2") {
    model->kind = TokenizerKind::byte_level_bpe;
  } else if (model->model_name == "llama") {
    model->kind = TokenizerKind::sentencepiece;
  } else {
    user_error("'{}': tokenizer.ggml.model is '{}'; kiln reads 'gpt2' (byte-level BPE) and "
               "'llama' (SentencePiece)",
               file.name(), model->model_name);
  }
  model->vocab = read_vocab(file);
  read_settings(file, *model);
  mark_special_tokens(file, *model);

  const size_t n = model->vocab.size();
  model->pieces.reserve(n);
  for (size_t id = 0; id < n; ++id) model->pieces.push_back(piece_of(model->vocab, model->kind, id));
  model->splitter.emplace(model->vocab);
  return Tokenizer(std::move(model));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special,
                                       std::optional<bool> add_bos) const {
  const Model& m = model();
  std::vector<int32_t> ids;
  if (add_bos.value_or(m.add_bos)) {
    if (m.bos == kNoToken) user_error("'{}': cannot add BOS: the model has no BOS token", m.file_name);
    ids.push_back(m.bos);
  }
  // SentencePiece puts a space before the text and before text that follows a special token.
  bool after_special = true;
  std::string spaced;
  for (const Fragment& fragment : m.splitter->split(text, parse_special)) {
    if (fragment.token != kNoToken) {
      ids.push_back(fragment.token);
      after_special = true;
      continue;
    }
    if (m.kind == TokenizerKind::byte_level_bpe) {
      m.bpe->encode(m.vocab, fragment.text, ids);
      continue;
    }
    spaced.clear();
    if (m.add_space_prefix && after_special) spaced.append(kSentencePieceSpace);
    for (char c : fragment.text) {
      if (c == ' ') spaced.append(kSentencePieceSpace);
      else spaced.push_back(c);
    }
    sentencepiece_encode(m.vocab, spaced, ids);
    after_special = false;
  }
  return ids;
}

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= model().vocab.size()) {
    user_error("token id {} is out of range: the vocabulary of '{}' has {} tokens (0..{})", id,
               model().file_name, model().vocab.size(), model().vocab.size() - 1);
  }
}

std::string Tokenizer::token_piece(int32_t id, bool render_special) const {
  check_id(id);
  const TokenType type = model().vocab.types[id];
  if (!render_special && (type == TokenType::control || type == TokenType::unknown)) return "";
  return model().pieces[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  std::string text;
  bool strip_space = model().add_space_prefix;
  for (int32_t id : ids) {
    const std::string piece = token_piece(id, render_special);
    if (strip_space && id != model().bos) {
      strip_space = false;
      if (piece.starts_with(' ')) {
        text.append(piece, 1);
        continue;
      }
    }
    text += piece;
  }
  return text;
}

const std::string& Tokenizer::token_text(int32_t id) const {
  check_id(id);
  return model().vocab.texts[id];
}

TokenType Tokenizer::token_type(int32_t id) const {
  check_id(id);
  return model().vocab.types[id];
}

int32_t Tokenizer::find_token(std::string_view text) const { return model().vocab.find(text); }

int32_t Tokenizer::bos() const { return model().bos; }
int32_t Tokenizer::eos() const { return model().eos; }
int32_t Tokenizer::eot() const { return model().eot; }
int32_t Tokenizer::unk() const { return model().unk; }
int32_t Tokenizer::pad() const { return model().pad; }
bool Tokenizer::adds_bos() const { return model().add_bos; }
size_t Tokenizer::vocab_size() const { return model().vocab.size(); }
TokenizerKind Tokenizer::kind() const { return model().kind; }
const std::string& Tokenizer::model_name() const { return model().model_name; }
const std::string& Tokenizer::pre_tokenizer_name() const { return model().pre_name; }

bool Tokenizer::is_end_of_generation(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < model().vocab.size() && model().end_of_generation[id];
}

std::string StreamingDecoder::push(int32_t id) {
  pending_ += tokenizer_.token_piece(id, render_special_);
  utf8::ValidPrefix split = utf8::complete_prefix(pending_);
  pending_ = std::move(split.rest);
  return std::move(split.text);
}

std::string StreamingDecoder::finish() {
  utf8::ValidPrefix split = utf8::complete_prefix(pending_);
  pending_.clear();
  if (!split.rest.empty()) split.text.append(utf8::kReplacementUtf8);
  return std::move(split.text);
}

}  // namespace kiln::engine
