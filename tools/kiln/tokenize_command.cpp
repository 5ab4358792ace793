// `kiln tokenize` and `kiln detokenize`: a model's tokenizer from the command line, to see how
// text is cut into tokens and what token ids stand for.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/error.h"
#include "base/model_folder.h"
#include "commands.h"
#include "engine/tokenizer.h"
#include "engine/utf8.h"
#include "gguf/gguf_file.h"

namespace kiln::cli {
namespace {

using engine::Tokenizer;

Tokenizer load_tokenizer(const std::string& model_path) {
  const std::string path = model_path.empty() ? default_model_path().string() : model_path;
  return Tokenizer::from_gguf(gguf::GGUFFile::open(path));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) user_error("cannot open '{}'", path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// A piece for a terminal: whole UTF-8 characters as they are, control characters and bytes that
// are not whole characters as escapes.
std::string quote_piece(const std::string& piece) {
  std::string quoted = "'";
  size_t at = 0;
  while (at < piece.size()) {
    const auto byte = static_cast<uint8_t>(piece[at]);
    const size_t length = engine::utf8::sequence_length(byte);
    if (byte >= 0x80 && at + length <= piece.size() &&
        engine::utf8::is_valid(std::string_view(piece).substr(at, length))) {
      quoted.append(piece, at, length);
      at += length;
      continue;
    }
    switch (byte) {
      case '\n': quoted += "\\n"; break;
      case '\t': quoted += "\\t"; break;
      case '\r': quoted += "\\r"; break;
      case '\\': quoted += "\\\\"; break;
      case '\'': quoted += "\\'"; break;
      default:
        if (byte < 0x20 || byte >= 0x7F) quoted += fmt::format("\\x{:02x}", byte);
        else quoted.push_back(static_cast<char>(byte));
    }
    ++at;
  }
  return quoted + "'";
}

struct TokenizeOptions {
  std::string model;
  std::string text;
  bool has_text = false;
  std::string file;
  bool pieces = false;
  bool no_special = false;
  std::optional<bool> bos;
};

void run_tokenize(const TokenizeOptions& options) {
  if (!options.has_text && options.file.empty()) {
    user_error("kiln tokenize: no text; give it as an argument or in a file with -f FILE");
  }
  if (options.has_text && !options.file.empty()) {
    user_error("kiln tokenize: give the text as an argument or with -f FILE, not both");
  }
  const Tokenizer tokenizer = load_tokenizer(options.model);
  const std::string text = options.file.empty() ? options.text : read_file(options.file);
  const std::vector<int32_t> ids = tokenizer.encode(text, !options.no_special, options.bos);
  if (options.pieces) {
    for (int32_t id : ids) fmt::print("{} {}\n", id, quote_piece(tokenizer.token_piece(id)));
    return;
  }
  fmt::print("{}\n", fmt::join(ids, " "));
}

void run_detokenize(const std::string& model, const std::vector<int64_t>& ids) {
  const Tokenizer tokenizer = load_tokenizer(model);
  std::vector<int32_t> tokens;
  for (int64_t id : ids) {
    if (id < 0 || static_cast<uint64_t>(id) >= tokenizer.vocab_size()) {
      user_error("token id {} is out of range: the vocabulary has {} tokens (0..{})", id,
                 tokenizer.vocab_size(), tokenizer.vocab_size() - 1);
    }
    tokens.push_back(static_cast<int32_t>(id));
  }
  const std::string text = tokenizer.decode(tokens);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
}

}  // namespace

void add_tokenize_commands(CLI::App& app) {
  const std::string model_help =
      fmt::format("GGUF model whose tokenizer to use (default: $KILN_MODELS/{}, or "
                  "~/.cache/kiln/models/{})",
                  kDefaultModelFile, kDefaultModelFile);

  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* tokenize = app.add_subcommand(
      "tokenize", "Print the token ids of a text (special-token text such as <|im_start|> is "
                  "one token; BOS only where the model asks for it)");
  tokenize->add_option("-m,--model", options->model, model_help);
  CLI::Option* text = tokenize->add_option("text", options->text, "Text to tokenize");
  tokenize->add_option("-f,--file", options->file, "Read the text from this file instead");
  tokenize->add_flag("--pieces", options->pieces, "Print one token per line: id 'piece'");
  tokenize->add_flag("--no-special", options->no_special,
                     "Spell out special-token text instead of parsing it");
  tokenize->add_flag_function(
      "--bos,!--no-bos", [options](int64_t count) { options->bos = count > 0; },
      "Add (or leave out) BOS whatever the model says");
  tokenize->callback([options, text] {
    options->has_text = text->count() > 0;
    run_tokenize(*options);
  });

  auto model = std::make_shared<std::string>();
  auto ids = std::make_shared<std::vector<int64_t>>();
  CLI::App* detokenize = app.add_subcommand("detokenize", "Print the text that token ids stand for");
  detokenize->add_option("-m,--model", *model, model_help);
  detokenize->add_option("ids", *ids, "Token ids")->required();
  detokenize->callback([model, ids] { run_detokenize(*model, *ids); });
}

}  // namespace kiln::cli
