#include "graph/parser.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <map>
#include <optional>

#include "base/error.h"
#include "graph/builder.h"
#include "graph/ops.h"

namespace kiln::graph {
namespace {

// A recursive-descent reader over the text, one character at a time; whitespace and `#`
// comments between tokens are skipped, except that a node's trailing comment labels it.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Graph parse() {
    keyword("graph");
    expect('(');
    if (!accept(')')) {
      do parameter();
      while (accept(','));
      expect(')');
    }
    expect('{');
    while (!accept('}')) node();
    if (accept('-')) {
      expect('>');
      expect('(');
      do builder_.output(value_ref());
      while (accept(','));
      expect(')');
    }
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the graph");
    try {
      return builder_.finish();
    } catch (const UserError& e) {
      fail(e.what());
    }
  }

 private:
  [[noreturn]] void fail(std::string_view message) const { fail_at(pos_, message); }

  // An error about the token that starts at (or after the spaces from) `at`.
  [[noreturn]] void fail_at(size_t at, std::string_view message) const {
    while (at < text_.size() && std::isspace(static_cast<unsigned char>(text_[at]))) ++at;
    size_t line = 1, column = 1;
    for (size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    user_error("graph text, line {}, column {}: {}", line, column, message);
  }

  // Skips spaces and, unless `keep_comment`, comments to the end of their line.
  void skip_space(bool keep_comment = false) {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else if (c == '#' && !keep_comment) {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  void expect(char c) {
    if (!accept(c)) fail(fmt::format("expected '{}'", c));
  }

  static bool name_char(char c, bool first) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
           (!first && (std::isdigit(static_cast<unsigned char>(c)) || c == '.'));
  }

  std::optional<std::string> try_name() {
    skip_space();
    if (pos_ >= text_.size() || !name_char(text_[pos_], true)) return std::nullopt;
    const size_t start = pos_;
    while (pos_ < text_.size() && name_char(text_[pos_], false)) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  std::string name(std::string_view what) {
    std::optional<std::string> n = try_name();
    if (!n) fail(fmt::format("expected {}", what));
    return *n;
  }

  void keyword(std::string_view word) {
    const size_t at = pos_;
    if (try_name() != std::string(word)) {
      fail_at(at, fmt::format("expected '{}'", word));
    }
  }

  int64_t integer() {
    skip_space();
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), value);
    if (ec != std::errc()) fail(ec == std::errc::result_out_of_range ? "integer out of range" : "expected an integer");
    pos_ = static_cast<size_t>(end - text_.data());
    return value;
  }

  double number() {
    skip_space();
    const std::string rest(text_.substr(pos_, std::min<size_t>(64, text_.size() - pos_)));
    char* end = nullptr;
    const double value = std::strtod(rest.c_str(), &end);
    if (end == rest.c_str()) fail("expected a number");
    pos_ += static_cast<size_t>(end - rest.c_str());
    return value;
  }

  DType dtype() {
    const size_t at = pos_;
    const std::string n = name("a dtype");
    const std::optional<DType> t = dtype_from_name(n);
    if (!t) {
      fail_at(at, fmt::format("unknown dtype '{}'", n));
    }
    return *t;
  }

  // Symbolic sizes: integers, symbols, + - * / %, min(a, b), max(a, b), parentheses. Division
  // and remainder are by positive constants (floor), as sym.h defines them.
  SymExpr sym_expr() {
    SymExpr e = sym_term();
    while (true) {
      if (accept('+')) {
        const SymExpr rhs = sym_term();
        e = bounded(checked([&] { return e + rhs; }));
      } else if (peek('-') && !peek_arrow()) {
        ++pos_;
        const SymExpr rhs = sym_term();
        e = bounded(checked([&] { return e - rhs; }));
      } else {
        return e;
      }
    }
  }

  // Products of sums are multiplied out: a short text could ask for a huge polynomial.
  SymExpr bounded(SymExpr e) {
    if (e.kind() == SymKind::Sum && e.node().terms.size() > kMaxTerms) {
      fail(fmt::format("a size with more than {} terms", kMaxTerms));
    }
    return e;
  }

  bool peek(char c) {
    skip_space();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  bool peek_arrow() { return pos_ + 1 < text_.size() && text_[pos_] == '-' && text_[pos_ + 1] == '>'; }

  SymExpr sym_term() {
    SymExpr e = sym_factor();
    while (true) {
      if (accept('*')) {
        const SymExpr rhs = sym_factor();
        e = bounded(checked([&] { return e * rhs; }));
      } else if (accept('/')) {
        const SymExpr rhs = sym_factor();
        e = checked([&] { return e / rhs; });
      } else if (accept('%')) {
        const SymExpr rhs = sym_factor();
        e = checked([&] { return e % rhs; });
      } else {
        return e;
      }
    }
  }

  SymExpr sym_factor() {
    // Bounded, so that hostile text cannot exhaust the stack.
    if (++depth_ > kMaxDepth) fail(fmt::format("sizes nest deeper than {} levels", kMaxDepth));
    struct Leave {
      int& depth;
      ~Leave() { --depth; }
    } leave{depth_};
    if (accept('(')) {
      SymExpr e = sym_expr();
      expect(')');
      return e;
    }
    if (accept('-')) {
      const SymExpr operand = sym_factor();
      return checked([&] { return -operand; });
    }
    skip_space();
    if (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) return SymExpr(integer());
    const std::string n = name("a size: an integer or a symbol");
    if (n == "min" || n == "max") {
      expect('(');
      const SymExpr a = sym_expr();
      expect(',');
      const SymExpr b = sym_expr();
      expect(')');
      return n == "min" ? min(a, b) : max(a, b);
    }
    return checked([&] { return builder_.symbol(n); });
  }

  // Runs `f`, turning its UserError (a bad symbol name, a division by a non-constant) into one
  // that names the place in the text.
  template <typename F>
  auto checked(F f) -> decltype(f()) {
    try {
      return f();
    } catch (const UserError& e) {
      fail(e.what());
    }
  }

  Shape shape() {
    expect('[');
    Shape s;
    if (accept(']')) return s;
    do s.push_back(sym_expr());
    while (accept(','));
    expect(']');
    return s;
  }

  TensorType tensor_type() {
    TensorType t;
    t.dtype = dtype();
    t.shape = shape();
    return t;
  }

  // `name: symbol`, `name: TYPE` (an input) or `name: TYPE weight`.
  void parameter() {
    const std::string n = name("a parameter name");
    expect(':');
    const size_t at = pos_;
    if (try_name() == std::string("symbol")) {
      checked([&] { return builder_.symbol(n); });
      return;
    }
    pos_ = at;
    const TensorType t = tensor_type();
    const size_t after_type = pos_;
    const std::optional<std::string> kind = try_name();
    if (kind == std::string("weight")) {
      define(n, checked([&] { return builder_.weight(n, t.dtype, t.shape); }));
    } else if (kind == std::string("const")) {
      fail(fmt::format("'{}': constants carry bytes and cannot be given as text", n));
    } else {
      if (kind) fail(fmt::format("expected 'weight', ',' or ')' after the type of '{}'", n));
      pos_ = after_type;
      define(n, checked([&] { return builder_.input(n, t.dtype, t.shape); }));
    }
  }

  void define(const std::string& label, ValueId id) {
    if (!values_.emplace(label, id).second) fail(fmt::format("'{}' is defined twice", label));
  }

  // `%3` (also `%3.1`) or a parameter's name.
  std::string value_label() {
    if (accept('%')) {
      skip_space();
      const size_t start = pos_;
      while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                     text_[pos_] == '_' || text_[pos_] == '.')) {
        ++pos_;
      }
      if (pos_ == start) fail("expected a value label after '%'");
      return "%" + std::string(text_.substr(start, pos_ - start));
    }
    return name("a value: %N or a parameter name");
  }

  ValueId value_ref() {
    const size_t at = pos_;
    const std::string label = value_label();
    auto it = values_.find(label);
    if (it == values_.end()) {
      fail_at(at, fmt::format("'{}' is not defined before this use", label));
    }
    return it->second;
  }

  AttrValue attr_value(AttrType type) {
    switch (type) {
      case AttrType::Int: return integer();
      case AttrType::Double: return number();
      case AttrType::Bool: {
        const std::string word = name("true or false");
        if (word != "true" && word != "false") fail("expected true or false");
        return word == "true";
      }
      case AttrType::String: {
        expect('"');
        const size_t start = pos_;
        while (pos_ < text_.size() && text_[pos_] != '"' && text_[pos_] != '\n') ++pos_;
        if (pos_ >= text_.size() || text_[pos_] != '"') fail("unterminated string");
        return std::string(text_.substr(start, pos_++ - start));
      }
      case AttrType::IntList: {
        expect('[');
        std::vector<int64_t> list;
        if (accept(']')) return list;
        do list.push_back(integer());
        while (accept(','));
        expect(']');
        return list;
      }
      case AttrType::SymInt: return sym_expr();
      case AttrType::SymShape: return shape();
      case AttrType::ElemType: return dtype();
    }
    KILN_UNREACHABLE("unknown attribute type");
  }

  // `%N[: TYPE] = op(operands, name=value, ...)  # label`
  void node() {
    const size_t line_start = pos_;
    const std::string result = value_label();
    if (result[0] != '%') fail("a node's result is named %N");
    std::optional<TensorType> declared;
    if (accept(':')) declared = tensor_type();
    expect('=');
    const size_t op_at = pos_;
    const std::string op = name("an operator");
    const std::optional<OpKind> kind = op_from_name(op);
    if (!kind) {
      fail_at(op_at, fmt::format("unknown operator '{}'", op));
    }
    const OpInfo& info = op_info(*kind);
    std::vector<ValueId> operands;
    Attributes attrs;
    expect('(');
    if (!accept(')')) {
      do {
        skip_space();
        const size_t at = pos_;
        const std::optional<std::string> word = try_name();
        if (word && accept('=')) {
          const AttrSpec* spec = nullptr;
          for (const AttrSpec& s : info.attrs) {
            if (s.name == *word) spec = &s;
          }
          if (spec == nullptr) {
            fail_at(at, fmt::format("{} has no attribute '{}'", op, *word));
          }
          if (attrs.has(*word)) fail(fmt::format("attribute '{}' is given twice", *word));
          attrs.set(*word, attr_value(spec->type));
        } else {
          pos_ = at;
          operands.push_back(value_ref());
        }
      } while (accept(','));
      expect(')');
    }
    const size_t end = pos_;
    pos_ = line_start;  // the builder's errors are about the whole node
    const ValueId id = checked([&] { return builder_.op(*kind, operands, attrs); });
    pos_ = end;
    if (declared && !declared->same_as(builder_.type(id))) {
      fail_at(line_start, fmt::format("{} is declared {} but {} gives {}", result, to_string(*declared), op,
                       to_string(builder_.type(id))));
    }
    skip_space(true);
    if (pos_ < text_.size() && text_[pos_] == '#') {
      ++pos_;
      const size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      std::string label(text_.substr(start, pos_ - start));
      label.erase(0, label.find_first_not_of(' '));
      label.erase(label.find_last_not_of(" \r") + 1);
      if (!label.empty()) builder_.named(id, label);
    }
    define(result, id);
  }

  static constexpr int kMaxDepth = 64;
  static constexpr size_t kMaxTerms = 64;
  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
  GraphBuilder builder_;
  std::map<std::string, ValueId> values_;
};

}  // namespace

Graph parse_graph(std::string_view text) { return Parser(text).parse(); }

}  // namespace kiln::graph
