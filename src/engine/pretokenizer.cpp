#include "engine/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <memory>

#include "base/error.h"

namespace kiln::engine {

// A compiled pattern: UTF-8 with Unicode properties (\p{L}, \s as Unicode whitespace), JIT
// compiled when the platform allows it.
class Regex {
 public:
  explicit Regex(std::string_view pattern) {
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP, &error, &error_offset, nullptr);
    if (code_ == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      KILN_CHECK(false, "pre-tokenizer pattern '{}' does not compile at {}: {}", pattern,
                 error_offset, reinterpret_cast<const char*>(message));
    }
    // Without JIT (an unsupported CPU, or a hardened kernel) pcre2_match interprets the pattern.
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Splits each of `subjects` into matches and the text between them, appending every piece to
  // `out`. Each subject is matched on its own: a look-ahead at its end sees the end of the text.
  void split(const std::vector<std::string_view>& subjects,
             std::vector<std::string_view>& out) const {
    const std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
        pcre2_match_data_create_from_pattern(code_, nullptr), &pcre2_match_data_free);
    KILN_CHECK(match != nullptr, "out of memory for a regex match");
    for (std::string_view subject : subjects) split_one(subject, match.get(), out);
  }

 private:
  void split_one(std::string_view subject, pcre2_match_data* match,
                 std::vector<std::string_view>& out) const {
    size_t piece_begin = 0;
    size_t search_from = 0;
    while (search_from < subject.size()) {
      int rc = run(subject, search_from, match, 0);
      if (rc == PCRE2_ERROR_JIT_STACKLIMIT) rc = run(subject, search_from, match, PCRE2_NO_JIT);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(rc, message, sizeof(message));
        user_error("pre-tokenizer: cannot split a text of {} bytes: {}", subject.size(),
                   reinterpret_cast<const char*>(message));
      }
      const PCRE2_SIZE* bounds = pcre2_get_ovector_pointer(match);
      const size_t begin = bounds[0], end = bounds[1];
      if (end == begin) {  // an empty match cuts nothing; step over one character
        search_from = begin + 1;
        while (search_from < subject.size() &&
               (static_cast<uint8_t>(subject[search_from]) & 0xC0) == 0x80) {
          ++search_from;
        }
        continue;
      }
      if (begin > piece_begin) out.push_back(subject.substr(piece_begin, begin - piece_begin));
      out.push_back(subject.substr(begin, end - begin));
      piece_begin = search_from = end;
    }
    if (piece_begin < subject.size()) out.push_back(subject.substr(piece_begin));
  }

  int run(std::string_view subject, size_t from, pcre2_match_data* match, uint32_t options) const {
    return pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), from,
                       options | PCRE2_NO_UTF_CHECK, match, nullptr);
  }

  pcre2_code* code_ = nullptr;
};

namespace {

// The patterns, as llama.cpp's loader writes them. Case-insensitive contractions are spelled
// out ('[sS]) because a caseless match would also take U+017F and U+212A.
constexpr const char* kGpt2 = R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re";
constexpr const char* kLlama3 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kQwen2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// GPT-4o and Tekken tell upper from lower case. llama.cpp writes "a letter that is not a-z" as
// ((?=[\p{L}])([^a-z])); here it is the class [^\P{L}a-z], the same set, which PCRE2 repeats
// without a backtracking frame per character.
constexpr const char* kGpt4o =
    R"re([^\r\n\p{L}\p{N}]?[^\P{L}a-z]*[^\P{L}A-Z]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[^\P{L}a-z]+[^\P{L}A-Z]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kTekken =
    R"re([^\r\n\p{L}\p{N}]?[^\P{L}a-z]*[^\P{L}A-Z]+|[^\r\n\p{L}\p{N}]?[^\P{L}a-z]+[^\P{L}A-Z]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kDeepseekV3Words =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

struct Spec {
  std::vector<std::string_view> names;
  std::vector<const char*> patterns;
  bool ignore_merges = false;
  bool add_bos = false;
};

const std::vector<Spec>& specs() {
  static const std::vector<Spec> table = {
      // Models converted without a known pre-tokenizer.
      {{"default"}, {R"re([\p{P}\$\+<=>\^~\|]+)re", kGpt2, R"re(\p{N}+)re", "[0-9][0-9][0-9]"}},
      {{"gpt-2", "phi-2", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4",
        "roberta-bpe", "mellum", "gigachat", "a.x-4.0"},
       {kGpt2}},
      // Digits one by one, then GPT-2.
      {{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b",
        "mellum2"},
       {R"re(\p{N})re", kGpt2}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
       {kLlama3},
       /*ignore_merges=*/true,
       /*add_bos=*/true},
      {{"dbrx", "smaug-bpe"}, {kLlama3}},
      {{"glm4", "chatglm-bpe"}, {kLlama3}},
      {{"qwen2", "deepseek-r1-qwen", "kormo", "stablelm2", "hunyuan", "megrez", "solar-open"},
       {kQwen2}},
      {{"falcon"}, {R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2, "[0-9][0-9][0-9]"}},
      {{"gpt-4o", "llama4", "kanana2"}, {kGpt4o}},
      {{"tekken"}, {kTekken}, true, true},
      {{"deepseek-coder"},
       {"[\r\n]", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", "[一-龥ࠀ-一가-퟿]+", R"re(\p{N})re"}},
      {{"deepseek-v3", "hunyuan-dense", "joyai-llm"},
       {R"re(\p{N}{1,3})re", "[一-龥぀-ゟ゠-ヿ]+", kDeepseekV3Words}},
  };
  return table;
}

}  // namespace

std::optional<PreTokenizer> PreTokenizer::from_name(std::string_view name) {
  for (const Spec& spec : specs()) {
    if (std::find(spec.names.begin(), spec.names.end(), name) == spec.names.end()) continue;
    PreTokenizer result;
    for (const char* pattern : spec.patterns) {
      result.patterns_.push_back(std::make_shared<const Regex>(pattern));
    }
    result.ignore_merges_ = spec.ignore_merges;
    result.add_bos_ = spec.add_bos;
    return result;
  }
  return std::nullopt;
}

std::vector<std::string_view> PreTokenizer::known_names() {
  std::vector<std::string_view> names;
  for (const Spec& spec : specs()) names.insert(names.end(), spec.names.begin(), spec.names.end());
  return names;
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (!text.empty()) pieces.push_back(text);
  std::vector<std::string_view> next;
  for (const auto& pattern : patterns_) {
    next.clear();
    pattern->split(pieces, next);
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace kiln::engine
