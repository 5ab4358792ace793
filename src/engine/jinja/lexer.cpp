#include "engine/jinja/lexer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "base/error.h"
#include "engine/jinja/value.h"

namespace kiln::engine::jinja {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

// jinja2 normalizes "\r\n" and "\r" to "\n" and drops one trailing newline.
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// The length of the whitespace (Python's `\s`) at the start of `text`.
size_t leading_space(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const auto units = split_code_points(text.substr(pos, 4));
    if (!is_python_space(decode_code_point(units[0])) ||
        (units[0].size() == 1 && units[0][0] & 0x80)) {
      break;
    }
    pos += units[0].size();
  }
  return pos;
}

// `text` without its trailing whitespace (Python's str.rstrip()).
std::string_view rstrip(std::string_view text) {
  const auto units = split_code_points(text);
  size_t keep = text.size();
  for (auto it = units.rbegin(); it != units.rend(); ++it) {
    const bool stray_byte = it->size() == 1 && ((*it)[0] & 0x80);
    if (stray_byte || !is_python_space(decode_code_point(*it))) break;
    keep -= it->size();
  }
  return text.substr(0, keep);
}

// Python's "unicode-escape" decoding, which jinja2 applies to string literals.
bool unescape(std::string_view body, std::string& out, std::string& problem) {
  const auto hex_value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 == body.size()) {
      out += body[i];
      continue;
    }
    const char c = body[++i];
    switch (c) {
      case '\n': break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t digits = c == 'x' ? 2 : (c == 'u' ? 4 : 8);
        uint32_t cpt = 0;
        for (size_t k = 0; k < digits; ++k) {
          const int v = i + 1 + k < body.size() ? hex_value(body[i + 1 + k]) : -1;
          if (v < 0) {
            problem = fmt::format("truncated \\{} escape in a string", c);
            return false;
          }
          cpt = cpt * 16 + static_cast<uint32_t>(v);
        }
        if (cpt > 0x10FFFF) {
          problem = "an escape past U+10FFFF in a string";
          return false;
        }
        append_utf8(out, cpt);
        i += digits;
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          uint32_t cpt = static_cast<uint32_t>(c - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7';
               ++k) {
            cpt = cpt * 8 + static_cast<uint32_t>(body[++i] - '0');
          }
          append_utf8(out, cpt);
        } else {
          // Python keeps an unknown escape as it is.
          out += '\\';
          out += c;
        }
    }
  }
  return true;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : source_(normalize_newlines(source)) {}

  std::vector<Token> run() {
    while (pos_ < source_.size()) lex_text_and_tag();
    push(TokenKind::end, "", line_at(source_.size()));
    return std::move(tokens_);
  }

 private:
  enum class TagKind { variable, block, comment };

  int line_at(size_t pos) {
    // Lines are counted incrementally from the last position asked about (nearly always an
    // earlier one), so lexing stays linear.
    pos = std::min(pos, source_.size());
    for (; line_pos_ < pos; ++line_pos_) {
      if (source_[line_pos_] == '\n') ++line_;
    }
    for (; line_pos_ > pos; --line_pos_) {
      if (source_[line_pos_ - 1] == '\n') --line_;
    }
    return line_;
  }

  [[noreturn]] void fail(size_t pos, const std::string& what) {
    user_error("chat template syntax error at line {}: {}", line_at(pos), what);
  }

  void push(TokenKind kind, std::string text, int line) {
    Token token;
    token.kind = kind;
    token.text = std::move(text);
    token.line = line;
    tokens_.push_back(std::move(token));
  }

  // Applies `{%-` and lstrip_blocks to the text [start, tag) and pushes what is left.
  void push_text_before_tag(size_t start, size_t tag, char sign, bool is_variable) {
    std::string_view text = std::string_view(source_).substr(start, tag - start);
    if (sign == '-') {
      text = rstrip(text);
    } else if (sign != '+' && !is_variable) {
      // Only when the tag's line starts inside this text (or the text starts a line), and only
      // spaces and tabs stand between the line's start and the tag.
      const size_t newline = text.rfind('\n');
      const bool starts_line =
          newline != std::string_view::npos || start == 0 || source_[start - 1] == '\n';
      const size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
      if (starts_line && std::all_of(text.begin() + static_cast<long>(line_start), text.end(),
                                     [](char c) { return c == ' ' || c == '\t'; })) {
        text = text.substr(0, line_start);
      }
    }
    if (!text.empty()) push(TokenKind::text, std::string(text), line_at(start));
  }

  void lex_text_and_tag() {
    const size_t start = pos_;
    size_t tag = std::string::npos;
    TagKind kind = TagKind::variable;
    for (size_t i = source_.find('{', start); i != std::string::npos && i + 1 < source_.size();
         i = source_.find('{', i + 1)) {
      const char next = source_[i + 1];
      if (next == '{' || next == '%' || next == '#') {
        tag = i;
        kind = next == '{' ? TagKind::variable : (next == '%' ? TagKind::block : TagKind::comment);
        break;
      }
    }
    if (tag == std::string::npos) {
      push(TokenKind::text, source_.substr(start), line_at(start));
      pos_ = source_.size();
      return;
    }
    size_t after = tag + 2;
    char sign = 0;
    if (after < source_.size() && (source_[after] == '-' || source_[after] == '+')) {
      sign = source_[after++];
    }
    push_text_before_tag(start, tag, sign, kind == TagKind::variable);
    pos_ = after;
    switch (kind) {
      case TagKind::comment: lex_comment(tag); break;
      case TagKind::variable:
        push(TokenKind::variable_begin, "{{", line_at(tag));
        lex_tag_body(TagKind::variable, tag);
        break;
      case TagKind::block:
        if (!try_lex_raw(tag)) {
          push(TokenKind::block_begin, "{%", line_at(tag));
          lex_tag_body(TagKind::block, tag);
        }
        break;
    }
  }

  // Consumes what follows an end delimiter: all whitespace after `-`, or with trim_blocks the
  // first newline after a plain `%}`/`#}`.
  void consume_after_end(char sign, bool trim_blocks) {
    if (sign == '-') {
      pos_ += leading_space(std::string_view(source_).substr(pos_));
    } else if (sign != '+' && trim_blocks && pos_ < source_.size() && source_[pos_] == '\n') {
      ++pos_;
    }
  }

  void lex_comment(size_t tag) {
    const size_t end = source_.find("#}", pos_);
    if (end == std::string::npos) {
      // jinja2 lets a `{#` that ends the template pass silently.
      if (pos_ == source_.size()) return;
      fail(tag, "missing end of comment tag '#}'");
    }
    char sign = 0;
    if (end > pos_ && (source_[end - 1] == '-' || source_[end - 1] == '+')) sign = source_[end - 1];
    pos_ = end + 2;
    consume_after_end(sign, true);
  }

  // `{% raw %}` ... `{% endraw %}`: the text between comes out unlexed.
  bool try_lex_raw(size_t tag) {
    size_t p = pos_;
    p += leading_space(std::string_view(source_).substr(p));
    if (source_.compare(p, 3, "raw") != 0 ||
        (p + 3 < source_.size() && is_name_char(source_[p + 3]))) {
      return false;
    }
    p += 3;
    p += leading_space(std::string_view(source_).substr(p));
    // The opening tag takes `-%}` or `%}`, without trim_blocks (as jinja2's raw_begin rule).
    if (source_.compare(p, 3, "-%}") == 0) {
      pos_ = p + 3;
      consume_after_end('-', false);
    } else if (source_.compare(p, 2, "%}") == 0) {
      pos_ = p + 2;
    } else {
      fail(p, "expected '%}' after 'raw'");
    }
    // Find `{%[-+]? endraw [-+]?%}`.
    for (size_t search = pos_;;) {
      const size_t open = source_.find("{%", search);
      if (open == std::string::npos) fail(tag, "missing '{% endraw %}' for the 'raw' block");
      size_t q = open + 2;
      char sign = 0;
      if (q < source_.size() && (source_[q] == '-' || source_[q] == '+')) sign = source_[q++];
      q += leading_space(std::string_view(source_).substr(q));
      if (source_.compare(q, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      q += 6;
      q += leading_space(std::string_view(source_).substr(q));
      char end_sign = 0;
      if (q < source_.size() && (source_[q] == '-' || source_[q] == '+')) end_sign = source_[q++];
      if (source_.compare(q, 2, "%}") != 0) {
        search = open + 2;
        continue;
      }
      push_text_before_tag(pos_, open, sign, false);
      pos_ = q + 2;
      consume_after_end(end_sign, true);
      return true;
    }
  }

  void lex_tag_body(TagKind kind, size_t tag) {
    std::vector<char> brackets;
    while (true) {
      pos_ += leading_space(std::string_view(source_).substr(pos_));
      if (pos_ >= source_.size()) {
        fail(tag, kind == TagKind::block ? "unexpected end of template: missing '%}'"
                                         : "unexpected end of template: missing '}}'");
      }
      if (brackets.empty() && try_lex_end(kind)) return;
      lex_token(brackets);
    }
  }

  bool try_lex_end(TagKind kind) {
    const std::string_view end = kind == TagKind::block ? "%}" : "}}";
    char sign = 0;
    size_t p = pos_;
    if (source_[p] == '-' || (kind == TagKind::block && source_[p] == '+')) sign = source_[p++];
    if (source_.compare(p, 2, end) != 0) return false;
    const int line = line_at(pos_);
    pos_ = p + 2;
    consume_after_end(sign, kind == TagKind::block);
    push(kind == TagKind::block ? TokenKind::block_end : TokenKind::variable_end, std::string(end),
         line);
    return true;
  }

  // Digits with optional single underscores between them (Python's 1_000).
  size_t digits_at(size_t p, bool (*is_valid)(char)) const {
    const size_t begin = p;
    while (p < source_.size()) {
      if (is_valid(source_[p])) {
        ++p;
      } else if (source_[p] == '_' && p > begin && p + 1 < source_.size() &&
                 is_valid(source_[p + 1])) {
        ++p;
      } else {
        break;
      }
    }
    return p - begin;
  }

  void lex_number() {
    const int line = line_at(pos_);
    const size_t start = pos_;
    const auto decimal = [](char c) { return c >= '0' && c <= '9'; };
    // Radix prefixes.
    if (source_[pos_] == '0' && pos_ + 1 < source_.size()) {
      const char radix = static_cast<char>(source_[pos_ + 1] | 0x20);
      int base = radix == 'x' ? 16 : (radix == 'o' ? 8 : (radix == 'b' ? 2 : 0));
      if (base != 0) {
        size_t p = pos_ + 2;
        int64_t value = 0;
        size_t count = 0;
        while (p < source_.size()) {
          char c = source_[p];
          if (c == '_') {
            ++p;
            continue;
          }
          int v = -1;
          if (c >= '0' && c <= '9') v = c - '0';
          if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') v = (c | 0x20) - 'a' + 10;
          if (v < 0 || v >= base) break;
          if (value > (std::numeric_limits<int64_t>::max() - v) / base) {
            fail(start, "integer literal too large");
          }
          value = value * base + v;
          ++count;
          ++p;
        }
        if (count > 0) {
          pos_ = p;
          Token token;
          token.kind = TokenKind::integer;
          token.integer = value;
          token.text = source_.substr(start, p - start);
          token.line = line;
          tokens_.push_back(std::move(token));
          return;
        }
      }
    }
    size_t p = pos_ + digits_at(pos_, decimal);
    bool is_float = false;
    if (p + 1 < source_.size() && source_[p] == '.' && decimal(source_[p + 1])) {
      p += 1 + digits_at(p + 1, decimal);
      is_float = true;
    }
    if (p < source_.size() && (source_[p] == 'e' || source_[p] == 'E')) {
      size_t q = p + 1;
      if (q < source_.size() && (source_[q] == '+' || source_[q] == '-')) ++q;
      const size_t exponent_digits = digits_at(q, decimal);
      if (exponent_digits > 0) {
        p = q + exponent_digits;
        is_float = true;
      }
    }
    std::string text;
    for (size_t i = start; i < p; ++i) {
      if (source_[i] != '_') text += source_[i];
    }
    Token token;
    token.line = line;
    token.text = source_.substr(start, p - start);
    if (is_float) {
      token.kind = TokenKind::floating;
      token.floating = std::strtod(text.c_str(), nullptr);
    } else {
      token.kind = TokenKind::integer;
      int64_t value = 0;
      for (char c : text) {
        if (value > (std::numeric_limits<int64_t>::max() - (c - '0')) / 10) {
          fail(start, "integer literal too large");
        }
        value = value * 10 + (c - '0');
      }
      token.integer = value;
    }
    tokens_.push_back(std::move(token));
    pos_ = p;
  }

  void lex_string() {
    const int line = line_at(pos_);
    const char quote = source_[pos_];
    size_t p = pos_ + 1;
    while (p < source_.size() && source_[p] != quote) {
      p += source_[p] == '\\' ? 2 : 1;
    }
    if (p >= source_.size()) fail(pos_, "unterminated string literal");
    std::string value;
    std::string problem;
    if (!unescape(std::string_view(source_).substr(pos_ + 1, p - pos_ - 1), value, problem)) {
      fail(pos_, problem);
    }
    push(TokenKind::string, std::move(value), line);
    pos_ = p + 1;
  }

  // jinja2 takes Unicode identifiers. Without Unicode tables kiln takes any non-ASCII character
  // but whitespace in a name: the length of such a character at `pos`, or 0.
  size_t non_ascii_name_unit(size_t pos) const {
    if ((static_cast<uint8_t>(source_[pos]) & 0x80) == 0) return 0;
    const std::string_view unit = split_code_points(std::string_view(source_).substr(pos, 4))[0];
    if (unit.size() == 1 || is_python_space(decode_code_point(unit))) return 0;
    return unit.size();
  }

  void lex_token(std::vector<char>& brackets) {
    const char c = source_[pos_];
    // A number, unless it follows a dot (`items.0.1` is two attribute look-ups).
    if (is_digit(c) && !(pos_ > 0 && source_[pos_ - 1] == '.')) {
      lex_number();
      return;
    }
    if (is_digit(c)) {
      // After a dot: an integer only.
      const size_t start = pos_;
      int64_t value = 0;
      while (pos_ < source_.size() && is_digit(source_[pos_])) {
        if (value > (std::numeric_limits<int64_t>::max() - 9) / 10)
          fail(start, "integer literal too large");
        value = value * 10 + (source_[pos_++] - '0');
      }
      Token token;
      token.kind = TokenKind::integer;
      token.integer = value;
      token.text = source_.substr(start, pos_ - start);
      token.line = line_at(start);
      tokens_.push_back(std::move(token));
      return;
    }
    if (is_name_start(c) || non_ascii_name_unit(pos_) > 0) {
      const size_t start = pos_;
      while (pos_ < source_.size()) {
        if (is_name_char(source_[pos_])) {
          ++pos_;
        } else if (const size_t length = non_ascii_name_unit(pos_); length > 0) {
          pos_ += length;
        } else {
          break;
        }
      }
      push(TokenKind::name, source_.substr(start, pos_ - start), line_at(start));
      return;
    }
    if (c == '\'' || c == '"') {
      lex_string();
      return;
    }
    static constexpr std::array<std::string_view, 6> kTwoChar = {
        "//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwoChar) {
      if (source_.compare(pos_, 2, op) == 0) {
        push(TokenKind::op, std::string(op), line_at(pos_));
        pos_ += 2;
        return;
      }
    }
    static constexpr std::string_view kOneChar = "+-/*%~[](){}<>=.:|,;";
    if (kOneChar.find(c) == std::string_view::npos) {
      // Name the whole character, not one byte of it (messages stay valid UTF-8).
      const std::string_view unit = split_code_points(std::string_view(source_).substr(pos_, 4))[0];
      const uint32_t cpt = decode_code_point(unit);
      if (cpt >= 0x20 && cpt != 0x7F && !(unit.size() == 1 && cpt >= 0x80)) {
        fail(pos_, fmt::format("unexpected character '{}'", unit));
      }
      fail(pos_, fmt::format("unexpected character U+{:04X}", cpt));
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets.push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
    } else if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty()) fail(pos_, fmt::format("unexpected '{}'", c));
      if (brackets.back() != c) {
        fail(pos_, fmt::format("unexpected '{}', expected '{}'", c, brackets.back()));
      }
      brackets.pop_back();
    }
    push(TokenKind::op, std::string(1, c), line_at(pos_));
    ++pos_;
  }

  std::string source_;
  size_t pos_ = 0;
  size_t line_pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::text: return "template text";
    case TokenKind::end: return "end of template";
    case TokenKind::string: return "a string";
    case TokenKind::integer:
    case TokenKind::floating: return fmt::format("number {}", token.text);
    default: return fmt::format("'{}'", token.text);
  }
}

}  // namespace kiln::engine::jinja
