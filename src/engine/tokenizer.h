// Tokenizers read from GGUF metadata: byte-level BPE (`tokenizer.ggml.model` = "gpt2", with the
// pre-tokenizer named by `tokenizer.ggml.pre`) and SentencePiece-style BPE with byte fallback
// ("llama"). Token ids match llama.cpp's tokenizer, the reference, for the same file: see
// tests/engine/tokenizer_test.cpp and the goldens made by scripts/make_tokenizer_goldens.py.
//
// A Tokenizer is immutable once built; copies share their tables, and encode/decode may run on
// many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::gguf {
class GGUFFile;
}

namespace kiln::engine {

inline constexpr int32_t kNoToken = -1;

// Token types as GGUF stores them in `tokenizer.ggml.token_type`.
enum class TokenType : uint8_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,       // <|im_start|>, <bos>: special text, hidden when decoding for people
  user_defined = 4,  // added tokens: always matched as a whole, always shown
  unused = 5,
  byte = 6,  // <0x0A>: one raw byte (SentencePiece byte fallback)
};

enum class TokenizerKind {
  byte_level_bpe,  // "gpt2"
  sentencepiece,   // "llama"
};

class Tokenizer {
 public:
  // Reads the tokenizer of a model file. Throws UserError naming the file and key when the
  // tokenizer is missing, malformed, or of a kind (or pre-tokenizer) kiln does not know.
  static Tokenizer from_gguf(const gguf::GGUFFile& file);

  // Token ids of `text`. With `parse_special`, special-token text such as "<|im_start|>"
  // becomes that token; user-defined tokens are matched either way. `add_bos` defaults to the
  // model's `tokenizer.ggml.add_bos_token`. Bytes that are not UTF-8 are accepted and tokenized
  // as the reference does (U+FFFD for byte-level BPE, byte fallback for SentencePiece).
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true,
                              std::optional<bool> add_bos = std::nullopt) const;

  // The text of `ids`. With `render_special`, control tokens appear as their text (so
  // decode(encode(s)) == s); without, they are left out. The space a SentencePiece model puts
  // before the text is removed from the first token. Throws UserError for an id out of range.
  std::string decode(std::span<const int32_t> ids, bool render_special = true) const;

  // The bytes one token stands for (not always whole UTF-8 characters).
  std::string token_piece(int32_t id, bool render_special = true) const;
  // The token's text as stored in the vocabulary ("Ġhello", "▁hello", "<0x0A>").
  const std::string& token_text(int32_t id) const;
  TokenType token_type(int32_t id) const;
  // The id of the token whose vocabulary text is exactly `text`, or kNoToken.
  int32_t find_token(std::string_view text) const;

  // Special token ids, kNoToken when the model has none.
  int32_t bos() const;
  int32_t eos() const;
  int32_t eot() const;  // end of turn (<|im_end|>, <end_of_turn>, <|eot_id|>)
  int32_t unk() const;
  int32_t pad() const;
  // Whether generation stops at `id`: EOS, EOT and the model's other end tokens.
  bool is_end_of_generation(int32_t id) const;
  bool adds_bos() const;

  size_t vocab_size() const;
  TokenizerKind kind() const;
  const std::string& model_name() const;          // tokenizer.ggml.model
  const std::string& pre_tokenizer_name() const;  // tokenizer.ggml.pre ("" for SentencePiece)

  struct Model;  // the shared, immutable tables; defined in tokenizer.cpp

 private:
  explicit Tokenizer(std::shared_ptr<const Model> model) : model_(std::move(model)) {}
  const Model& model() const { return *model_; }
  void check_id(int32_t id) const;

  std::shared_ptr<const Model> model_;
};

// Turns tokens arriving one at a time into text that is always whole UTF-8: a character whose
// bytes are split across tokens is held back until its last byte arrives. Bytes that can never
// form a character come out as U+FFFD.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(Tokenizer tokenizer, bool render_special = false)
      : tokenizer_(std::move(tokenizer)), render_special_(render_special) {}

  // Adds one token; returns the text completed by it (often empty, never half a character).
  std::string push(int32_t id);
  // Ends the stream: an unfinished character left over comes out as U+FFFD.
  std::string finish();

 private:
  Tokenizer tokenizer_;
  bool render_special_;
  std::string pending_;  // bytes of an unfinished character
};

}  // namespace kiln::engine
