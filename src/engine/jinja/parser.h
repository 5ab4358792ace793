// The Jinja parser: tokens to a syntax tree, following jinja2's grammar and operator precedence
// for the subset kiln supports.
#pragma once

#include <string_view>

#include "engine/jinja/ast.h"

namespace kiln::engine::jinja {

// How deeply expressions and statements may nest; evaluation recurses as deep.
inline constexpr int kMaxNesting = 100;

// Parses a whole template. A syntax error, an unsupported construct or nesting past kMaxNesting
// is a UserError naming the line and the construct.
Body parse(std::string_view source);

}  // namespace kiln::engine::jinja
