// The Jinja lexer: template text to tokens, with jinja2's whitespace control as HF configures it
// (trim_blocks and lstrip_blocks on, keep_trailing_newline off).
//
// - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`, `-#}` all after it.
// - trim_blocks: the first newline after `%}` or `#}` is dropped (`+%}` keeps it).
// - lstrip_blocks: spaces and tabs from the start of a line up to `{%` or `{#` are dropped
//   (`{%+` keeps them); never before `{{`.
// - Newlines are normalized to "\n" and one trailing newline of the template is dropped.
// - `{% raw %}...{% endraw %}` comes out as plain text; comments do not come out at all.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::engine::jinja {

enum class TokenKind {
  text,            // template text outside tags
  variable_begin,  // {{
  variable_end,    // }}
  block_begin,     // {%
  block_end,       // %}
  name,
  string,    // `text` holds the unescaped value
  integer,   // `integer` holds the value
  floating,  // `floating` holds the value
  op,        // `text` holds the operator
  end,       // end of the template
};

struct Token {
  TokenKind kind = TokenKind::end;
  std::string text;
  int64_t integer = 0;
  double floating = 0;
  int line = 1;
};

// Throws UserError naming the line for an unterminated tag, comment or string, an unexpected
// character, or unbalanced brackets.
std::vector<Token> tokenize(std::string_view source);

// A token as the error messages show it ("'endfor'", "end of template").
std::string describe(const Token& token);

}  // namespace kiln::engine::jinja
