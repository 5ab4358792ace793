#include "engine/jinja/parser.h"

#include <algorithm>
#include <initializer_list>
#include <utility>

#include "base/error.h"
#include "engine/jinja/lexer.h"

namespace kiln::engine::jinja {

namespace {

// Statements jinja2 has that kiln does not; named in the error instead of "unknown tag".
constexpr std::string_view kUnsupportedStatements[] = {
    "block", "extends", "include", "import", "from", "with", "autoescape", "call", "do", "trans",
};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Body parse_template() {
    Body body = parse_body({}, "", 0);
    if (current().kind != TokenKind::end) {
      fail(current(), fmt::format("unexpected '{}'", current().text));
    }
    return body;
  }

 private:
  // Counts nesting on the way down; deeper than kMaxNesting is refused.
  class NestingGuard {
   public:
    NestingGuard(Parser& parser, const Token& at) : parser_(parser) {
      if (++parser_.nesting_ > kMaxNesting) {
        parser_.fail(at, fmt::format("the template nests more than {} levels deep", kMaxNesting));
      }
    }
    ~NestingGuard() { --parser_.nesting_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;

   private:
    Parser& parser_;
  };

  const Token& current() const { return tokens_[pos_]; }
  const Token& peek(size_t ahead = 1) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& advance() {
    const Token& token = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return token;
  }
  bool at_op(std::string_view op) const {
    return current().kind == TokenKind::op && current().text == op;
  }
  bool at_name(std::string_view name) const {
    return current().kind == TokenKind::name && current().text == name;
  }
  bool skip_op(std::string_view op) {
    if (!at_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!at_name(name)) return false;
    advance();
    return true;
  }

  [[noreturn]] void fail(const Token& at, const std::string& message) const {
    if (construct_.empty()) {
      user_error("chat template syntax error at line {}: {}", at.line, message);
    }
    user_error("chat template syntax error at line {} (in '{}'): {}", at.line, construct_, message);
  }

  void expect_op(std::string_view op) {
    if (!skip_op(op)) {
      fail(current(), fmt::format("expected '{}', found {}", op, describe(current())));
    }
  }
  void expect_name(std::string_view name) {
    if (!skip_name(name)) {
      fail(current(), fmt::format("expected '{}', found {}", name, describe(current())));
    }
  }
  std::string expect_identifier() {
    if (current().kind != TokenKind::name) {
      fail(current(), fmt::format("expected a name, found {}", describe(current())));
    }
    return advance().text;
  }
  void expect_block_end() {
    if (current().kind != TokenKind::block_end) {
      fail(current(), fmt::format("expected '%}}', found {}", describe(current())));
    }
    advance();
  }

  ExprPtr make(ExprKind kind, int line) {
    auto expr = std::make_unique<Expr>();
    expr->kind = kind;
    expr->line = line;
    return expr;
  }

  // Records the depth of a finished node from its children and bounds it: left-associative
  // chains such as `a ~ b ~ c ~ ...` grow the tree without growing the parser's recursion.
  ExprPtr finish(ExprPtr expr) {
    int depth = 0;
    const auto visit = [&](const ExprPtr& child) {
      if (child) depth = std::max(depth, child->depth);
    };
    visit(expr->operand);
    for (const auto& item : expr->items) visit(item);
    for (const auto& key : expr->keys) visit(key);
    for (const auto& [name, value] : expr->kwargs) visit(value);
    expr->depth = depth + 1;
    if (expr->depth > kMaxNesting) {
      const Token at{TokenKind::end, "", 0, 0, expr->line};
      fail(at, fmt::format("an expression nests more than {} levels deep", kMaxNesting));
    }
    return expr;
  }

  // ---- statements ----

  // Parses statements until a `{% name %}` with a name in `end_names`; leaves the parser on that
  // name. `construct` and `open_line` name the enclosing block for the error at end of input.
  Body parse_body(std::initializer_list<std::string_view> end_names, std::string_view construct,
                  int open_line) {
    Body body;
    while (true) {
      const Token& token = current();
      switch (token.kind) {
        case TokenKind::end:
          if (end_names.size() > 0) {
            std::string expected;
            for (std::string_view name : end_names) {
              expected += expected.empty() ? "" : " or ";
              expected += fmt::format("'{}'", name);
            }
            user_error(
                "chat template syntax error at line {}: unexpected end of template; the '{}' "
                "opened at line {} needs {}",
                token.line, construct, open_line, expected);
          }
          return body;
        case TokenKind::text: {
          auto stmt = std::make_unique<Stmt>();
          stmt->kind = StmtKind::text;
          stmt->line = token.line;
          stmt->text = token.text;
          body.push_back(std::move(stmt));
          advance();
          break;
        }
        case TokenKind::variable_begin: {
          advance();
          auto stmt = std::make_unique<Stmt>();
          stmt->kind = StmtKind::print;
          stmt->line = token.line;
          stmt->expr = parse_tuple(true);
          if (current().kind != TokenKind::variable_end) {
            fail(current(), fmt::format("expected '}}}}', found {}", describe(current())));
          }
          advance();
          body.push_back(std::move(stmt));
          break;
        }
        case TokenKind::block_begin: {
          const Token& name = peek();
          if (name.kind == TokenKind::name &&
              std::find(end_names.begin(), end_names.end(), name.text) != end_names.end()) {
            advance();
            return body;
          }
          advance();
          body.push_back(parse_statement());
          break;
        }
        default: fail(token, fmt::format("unexpected {}", describe(token)));
      }
    }
  }

  StmtPtr parse_statement() {
    const Token& token = current();
    if (token.kind != TokenKind::name) {
      fail(token, fmt::format("expected a statement name after '{{%', found {}", describe(token)));
    }
    NestingGuard guard(*this, token);
    const std::string name = token.text;
    if (name == "elif" || name == "else" || name.rfind("end", 0) == 0) {
      fail(token, construct_.empty()
                      ? fmt::format("unexpected '{}': no block is open", name)
                      : fmt::format("unexpected '{}' before the end of '{}'", name, construct_));
    }
    const std::string outer_construct = construct_;
    construct_ = name;
    StmtPtr stmt;
    if (name == "if") {
      stmt = parse_if();
    } else if (name == "for") {
      stmt = parse_for();
    } else if (name == "set") {
      stmt = parse_set();
    } else if (name == "macro") {
      stmt = parse_macro();
    } else if (name == "filter") {
      stmt = parse_filter_block();
    } else if (name == "print") {
      advance();
      stmt = std::make_unique<Stmt>();
      stmt->kind = StmtKind::print;
      stmt->line = token.line;
      stmt->expr = parse_tuple(true);
      expect_block_end();
    } else if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) fail(token, fmt::format("'{}' outside a loop", name));
      advance();
      stmt = std::make_unique<Stmt>();
      stmt->kind = name == "break" ? StmtKind::break_ : StmtKind::continue_;
      stmt->line = token.line;
      expect_block_end();
    } else if (name == "generation") {
      const int line = token.line;
      advance();
      expect_block_end();
      stmt = std::make_unique<Stmt>();
      stmt->kind = StmtKind::generation;
      stmt->line = line;
      // HF renders the body as a macro (a caller block): its own scope, no `break` out of it.
      const int saved_loop_depth = std::exchange(loop_depth_, 0);
      stmt->body = parse_body({"endgeneration"}, "generation", line);
      loop_depth_ = saved_loop_depth;
      advance();
      expect_block_end();
    } else if (std::find(std::begin(kUnsupportedStatements), std::end(kUnsupportedStatements),
                         name) != std::end(kUnsupportedStatements)) {
      construct_ = outer_construct;
      fail(token,
           fmt::format("the '{}' statement is not supported by kiln's template engine", name));
    } else {
      construct_ = outer_construct;
      fail(token, fmt::format("unknown statement '{}'", name));
    }
    construct_ = outer_construct;
    return stmt;
  }

  StmtPtr parse_if() {
    auto stmt = std::make_unique<Stmt>();
    stmt->kind = StmtKind::if_;
    stmt->line = current().line;
    const int open_line = stmt->line;
    advance();  // if
    while (true) {
      ExprPtr condition = parse_tuple(false);
      expect_block_end();
      Body body = parse_body({"elif", "else", "endif"}, "if", open_line);
      stmt->branches.emplace_back(std::move(condition), std::move(body));
      const std::string keyword = advance().text;
      if (keyword == "elif") continue;
      if (keyword == "else") {
        expect_block_end();
        stmt->else_body = parse_body({"endif"}, "if", open_line);
        advance();
      }
      break;
    }
    expect_block_end();
    return stmt;
  }

  // An assignment target: `name`, `a, b`, `(a, b)`; with `allow_attribute`, also `ns.attr`.
  Target parse_target(bool allow_attribute) {
    Target target;
    if (allow_attribute && current().kind == TokenKind::name && peek().kind == TokenKind::op &&
        peek().text == ".") {
      target.names.push_back(advance().text);
      advance();  // .
      target.attribute = expect_identifier();
      return target;
    }
    const bool parenthesized = skip_op("(");
    target.names.push_back(expect_identifier());
    while (skip_op(",")) {
      target.is_tuple = true;
      if (current().kind != TokenKind::name) break;  // trailing comma
      target.names.push_back(expect_identifier());
    }
    if (parenthesized) {
      expect_op(")");
      target.is_tuple = target.is_tuple || target.names.size() > 1;
    }
    for (const std::string& name : target.names) {
      if (name == "true" || name == "false" || name == "none" || name == "True" ||
          name == "False" || name == "None") {
        fail(current(), fmt::format("cannot assign to '{}'", name));
      }
    }
    return target;
  }

  StmtPtr parse_for() {
    auto stmt = std::make_unique<Stmt>();
    stmt->kind = StmtKind::for_;
    stmt->line = current().line;
    const int open_line = stmt->line;
    advance();  // for
    stmt->target = parse_target(false);
    expect_name("in");
    stmt->expr = parse_tuple(false, "recursive");
    if (skip_name("if")) stmt->condition = parse_expression(true);
    if (at_name("recursive")) fail(current(), "recursive loops are not supported");
    expect_block_end();
    ++loop_depth_;
    // Whether the body names `loop` (a nested loop's or macro's use counts too: conservative).
    const bool outer_saw_loop = saw_loop_name_;
    saw_loop_name_ = false;
    stmt->body = parse_body({"endfor", "else"}, "for", open_line);
    stmt->uses_loop = saw_loop_name_;
    saw_loop_name_ = outer_saw_loop || saw_loop_name_;
    --loop_depth_;
    if (advance().text == "else") {
      expect_block_end();
      stmt->else_body = parse_body({"endfor"}, "for", open_line);
      advance();
    }
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_set() {
    auto stmt = std::make_unique<Stmt>();
    stmt->line = current().line;
    const int open_line = stmt->line;
    advance();  // set
    stmt->target = parse_target(true);
    if (skip_op("=")) {
      stmt->kind = StmtKind::set;
      stmt->expr = parse_tuple(true);
      expect_block_end();
      return stmt;
    }
    if (!stmt->target.attribute.empty() || stmt->target.is_tuple) {
      fail(current(), "a block 'set' takes a single name");
    }
    stmt->kind = StmtKind::set_block;
    if (at_op("|")) stmt->expr = parse_filters(nullptr);
    expect_block_end();
    // `break` cannot leave a block set (nor a filter block, nor a macro).
    const int saved_loop_depth = std::exchange(loop_depth_, 0);
    stmt->body = parse_body({"endset"}, "set", open_line);
    loop_depth_ = saved_loop_depth;
    advance();
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_macro() {
    auto stmt = std::make_unique<Stmt>();
    stmt->kind = StmtKind::macro;
    stmt->line = current().line;
    const int open_line = stmt->line;
    advance();  // macro
    stmt->text = expect_identifier();
    expect_op("(");
    while (!at_op(")")) {
      if (!stmt->params.empty()) expect_op(",");
      if (at_op(")")) break;
      MacroParam param;
      param.name = expect_identifier();
      if (skip_op("=")) {
        param.default_value = parse_expression(true);
      } else if (!stmt->params.empty() && stmt->params.back().default_value) {
        fail(current(), fmt::format("parameter '{}' without a default follows one with a default",
                                    param.name));
      }
      stmt->params.push_back(std::move(param));
    }
    advance();  // )
    expect_block_end();
    // A macro body is its own scope: loops outside it do not make `break` valid inside.
    const int saved_loop_depth = std::exchange(loop_depth_, 0);
    stmt->body = parse_body({"endmacro"}, "macro", open_line);
    loop_depth_ = saved_loop_depth;
    advance();
    if (current().kind == TokenKind::name) advance();  // {% endmacro name %}
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_filter_block() {
    auto stmt = std::make_unique<Stmt>();
    stmt->kind = StmtKind::filter_block;
    stmt->line = current().line;
    const int open_line = stmt->line;
    advance();  // filter
    stmt->expr = parse_filters(nullptr, true);
    expect_block_end();
    const int saved_loop_depth = std::exchange(loop_depth_, 0);
    stmt->body = parse_body({"endfilter"}, "filter", open_line);
    loop_depth_ = saved_loop_depth;
    advance();
    expect_block_end();
    return stmt;
  }

  // ---- expressions, loosest first ----

  // Comma-separated expressions make a tuple: `{{ a, b }}`, `{% set x = 1, 2 %}`.
  ExprPtr parse_tuple(bool with_conditional, std::string_view extra_end_name = {}) {
    const int line = current().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) {
        if (!skip_op(",")) break;
        is_tuple = true;
      }
      if (at_tuple_end(extra_end_name)) break;
      items.push_back(parse_expression(with_conditional));
    }
    if (!is_tuple) {
      if (items.empty())
        fail(current(), fmt::format("expected an expression, found {}", describe(current())));
      return std::move(items[0]);
    }
    ExprPtr tuple = make(ExprKind::tuple, line);
    tuple->items = std::move(items);
    return finish(std::move(tuple));
  }

  bool at_tuple_end(std::string_view extra_end_name) const {
    const Token& token = current();
    if (token.kind == TokenKind::variable_end || token.kind == TokenKind::block_end ||
        token.kind == TokenKind::end) {
      return true;
    }
    if (token.kind == TokenKind::op && token.text == ")") return true;
    return !extra_end_name.empty() && token.kind == TokenKind::name && token.text == extra_end_name;
  }

  ExprPtr parse_expression(bool with_conditional) {
    NestingGuard guard(*this, current());
    return with_conditional ? parse_conditional() : parse_or();
  }

  ExprPtr parse_conditional() {
    ExprPtr expr = parse_or();
    while (at_name("if")) {
      const int line = advance().line;
      ExprPtr node = make(ExprKind::conditional, line);
      ExprPtr condition = parse_or();
      ExprPtr otherwise = skip_name("else") ? parse_conditional() : nullptr;
      node->items.push_back(std::move(expr));
      node->items.push_back(std::move(condition));
      node->items.push_back(std::move(otherwise));
      expr = finish(std::move(node));
    }
    return expr;
  }

  ExprPtr binary(ExprKind kind, std::string op, ExprPtr left, ExprPtr right, int line) {
    ExprPtr node = make(kind, line);
    node->name = std::move(op);
    node->items.push_back(std::move(left));
    node->items.push_back(std::move(right));
    return finish(std::move(node));
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (at_name("or")) {
      const int line = advance().line;
      left = binary(ExprKind::logical_or, "or", std::move(left), parse_and(), line);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (at_name("and")) {
      const int line = advance().line;
      left = binary(ExprKind::logical_and, "and", std::move(left), parse_not(), line);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (at_name("not")) {
      NestingGuard guard(*this, current());
      const int line = advance().line;
      ExprPtr node = make(ExprKind::logical_not, line);
      node->operand = parse_not();
      return finish(std::move(node));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const int line = current().line;
    ExprPtr first = parse_math1();
    std::vector<ExprPtr> operands;
    std::vector<std::string> ops;
    while (true) {
      const Token& token = current();
      if (token.kind == TokenKind::op &&
          (token.text == "==" || token.text == "!=" || token.text == "<" || token.text == "<=" ||
           token.text == ">" || token.text == ">=")) {
        ops.push_back(advance().text);
      } else if (at_name("in")) {
        advance();
        ops.push_back("in");
      } else if (at_name("not") && peek().kind == TokenKind::name && peek().text == "in") {
        advance();
        advance();
        ops.push_back("notin");
      } else {
        break;
      }
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return first;
    ExprPtr node = make(ExprKind::compare, line);
    node->items.push_back(std::move(first));
    for (auto& operand : operands) node->items.push_back(std::move(operand));
    node->ops = std::move(ops);
    return finish(std::move(node));
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (at_op("+") || at_op("-")) {
      const Token& token = advance();
      left = binary(ExprKind::binary, token.text, std::move(left), parse_concat(), token.line);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (at_op("~")) {
      const Token& token = advance();
      left = binary(ExprKind::binary, "~", std::move(left), parse_math2(), token.line);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const Token& token = advance();
      left = binary(ExprKind::binary, token.text, std::move(left), parse_pow(), token.line);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (at_op("**")) {
      const Token& token = advance();
      left = binary(ExprKind::binary, "**", std::move(left), parse_unary(true), token.line);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    NestingGuard guard(*this, current());
    ExprPtr node;
    if (at_op("-") || at_op("+")) {
      const Token& token = advance();
      node = make(token.text == "-" ? ExprKind::negate : ExprKind::plus, token.line);
      node->operand = parse_unary(false);
      node = finish(std::move(node));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr literal(Value value, int line) {
    ExprPtr node = make(ExprKind::literal, line);
    node->value = std::move(value);
    return node;
  }

  ExprPtr parse_primary() {
    const Token& token = current();
    const int line = token.line;
    switch (token.kind) {
      case TokenKind::name: {
        const std::string& name = token.text;
        advance();
        if (name == "true" || name == "True") return literal(Value(true), line);
        if (name == "false" || name == "False") return literal(Value(false), line);
        if (name == "none" || name == "None") return literal(Value(None{}), line);
        ExprPtr node = make(ExprKind::name, line);
        node->name = name;
        if (name == "loop") saw_loop_name_ = true;
        return node;
      }
      case TokenKind::string: {
        // Adjacent strings concatenate, as in Python.
        std::string text;
        while (current().kind == TokenKind::string) text += advance().text;
        return literal(Value(std::move(text)), line);
      }
      case TokenKind::integer: advance(); return literal(Value(token.integer), line);
      case TokenKind::floating: advance(); return literal(Value(token.floating), line);
      case TokenKind::op:
        if (token.text == "(") {
          advance();
          if (skip_op(")")) {
            ExprPtr tuple = make(ExprKind::tuple, line);
            return tuple;
          }
          ExprPtr inner = parse_tuple(true);
          expect_op(")");
          return inner;
        }
        if (token.text == "[") return parse_list();
        if (token.text == "{") return parse_dict();
        break;
      default: break;
    }
    fail(token, fmt::format("unexpected {} in an expression", describe(token)));
  }

  ExprPtr parse_list() {
    ExprPtr node = make(ExprKind::list, current().line);
    advance();  // [
    while (!at_op("]")) {
      if (!node->items.empty()) expect_op(",");
      if (at_op("]")) break;
      node->items.push_back(parse_expression(true));
    }
    advance();
    return finish(std::move(node));
  }

  ExprPtr parse_dict() {
    ExprPtr node = make(ExprKind::dict, current().line);
    advance();  // {
    while (!at_op("}")) {
      if (!node->items.empty()) expect_op(",");
      if (at_op("}")) break;
      node->keys.push_back(parse_expression(true));
      expect_op(":");
      node->items.push_back(parse_expression(true));
    }
    advance();
    return finish(std::move(node));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (at_op(".")) {
        const int line = advance().line;
        if (current().kind == TokenKind::name) {
          ExprPtr attr = make(ExprKind::get_attr, line);
          attr->name = advance().text;
          attr->operand = std::move(node);
          node = finish(std::move(attr));
        } else if (current().kind == TokenKind::integer) {
          ExprPtr item = make(ExprKind::get_item, line);
          item->operand = std::move(node);
          item->items.push_back(literal(Value(advance().integer), line));
          node = finish(std::move(item));
        } else {
          fail(current(), fmt::format("expected a name after '.', found {}", describe(current())));
        }
      } else if (at_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (at_op("(")) {
        node = parse_call(std::move(node), ExprKind::call);
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    const int line = advance().line;  // [
    NestingGuard guard(*this, current());
    // A slice has at least one ':'; its parts may be missing.
    std::vector<ExprPtr> parts(1);
    bool is_slice = false;
    while (!at_op("]")) {
      if (skip_op(":")) {
        is_slice = true;
        if (parts.size() == 3) fail(current(), "a slice takes at most three parts");
        parts.emplace_back();
        continue;
      }
      if (parts.back())
        fail(current(), fmt::format("expected ':' or ']', found {}", describe(current())));
      parts.back() = parse_expression(true);
      if (!is_slice && at_op(",")) {
        fail(current(), "subscripts with several indices are not supported");
      }
    }
    advance();  // ]
    if (!is_slice) {
      if (!parts[0]) fail(current(), "an empty subscript '[]'");
      ExprPtr item = make(ExprKind::get_item, line);
      item->operand = std::move(node);
      item->items.push_back(std::move(parts[0]));
      return finish(std::move(item));
    }
    parts.resize(3);
    ExprPtr slice = make(ExprKind::slice, line);
    slice->operand = std::move(node);
    slice->items = std::move(parts);
    return finish(std::move(slice));
  }

  // `(args, name=value, ...)` into `node`'s items and kwargs.
  void parse_call_args(Expr& node) {
    expect_op("(");
    bool first = true;
    while (!at_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (at_op(")")) break;
      if (at_op("*") || at_op("**"))
        fail(current(), "'*args' and '**kwargs' in calls are not supported");
      if (current().kind == TokenKind::name && peek().kind == TokenKind::op && peek().text == "=") {
        std::string name = advance().text;
        advance();  // =
        node.kwargs.emplace_back(std::move(name), parse_expression(true));
      } else {
        if (!node.kwargs.empty())
          fail(current(), "a positional argument follows a keyword argument");
        node.items.push_back(parse_expression(true));
      }
    }
    advance();  // )
  }

  ExprPtr parse_call(ExprPtr callee, ExprKind kind) {
    ExprPtr call = make(kind, current().line);
    call->operand = std::move(callee);
    parse_call_args(*call);
    return finish(std::move(call));
  }

  std::string parse_dotted_name() {
    std::string name = expect_identifier();
    while (at_op(".")) {
      advance();
      name += "." + expect_identifier();
    }
    return name;
  }

  // `| f | g(args)`: each filter wraps the expression so far. With `inline_first` the first
  // filter name comes without a pipe (`{% filter upper %}`). A null `node` is the placeholder for
  // the body of a filter block or block set.
  ExprPtr parse_filters(ExprPtr node, bool inline_first = false) {
    while (inline_first || at_op("|")) {
      if (!inline_first) advance();
      inline_first = false;
      ExprPtr filter = make(ExprKind::filter, current().line);
      filter->name = parse_dotted_name();
      filter->operand = std::move(node);
      if (at_op("(")) parse_call_args(*filter);
      node = finish(std::move(filter));
    }
    return node;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (at_op("|")) {
        node = parse_filters(std::move(node));
      } else if (at_name("is")) {
        node = parse_test(std::move(node));
      } else if (at_op("(")) {
        node = parse_call(std::move(node), ExprKind::call);
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_test(ExprPtr node) {
    const int line = advance().line;  // is
    ExprPtr test = make(ExprKind::test, line);
    test->negated = skip_name("not");
    test->name = parse_dotted_name();
    test->operand = std::move(node);
    const Token& token = current();
    if (at_op("(")) {
      parse_call_args(*test);
    } else if ((token.kind == TokenKind::name || token.kind == TokenKind::string ||
                token.kind == TokenKind::integer || token.kind == TokenKind::floating ||
                at_op("[") || at_op("{")) &&
               !(at_name("else") || at_name("or") || at_name("and"))) {
      // One argument without parentheses: `x is divisibleby 3`, `x is equalto 'a'`.
      if (at_name("is")) fail(token, "tests cannot be chained with 'is'");
      NestingGuard guard(*this, token);
      test->items.push_back(parse_postfix(parse_primary()));
    }
    return finish(std::move(test));
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;
  int loop_depth_ = 0;
  bool saw_loop_name_ = false;
  std::string construct_;  // the statement being parsed, for error messages
};

}  // namespace

Body parse(std::string_view source) { return Parser(tokenize(source)).parse_template(); }

}  // namespace kiln::engine::jinja
