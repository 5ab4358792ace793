// The Jinja interpreter: renders a parsed template over a dict of variables.
//
// The template is untrusted, so a render is bounded: total output, the work spent building
// strings, steps (statements and expressions evaluated, loop iterations, list items built,
// macro calls), and nesting (macro recursion). Past a bound, or on
// any error jinja2 would raise (an undefined value used, a bad operand type,
// raise_exception()), the render stops with a UserError naming the template line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/jinja/ast.h"
#include "engine/jinja/value.h"

namespace kiln::engine::jinja {

struct RenderLimits {
  size_t max_output_bytes = size_t{32} << 20;  // the result, and any one string on the way
  size_t max_work_bytes = size_t{1} << 30;     // bytes copied, compared and searched in strings
  int64_t max_steps = 10'000'000;              // see the file comment; about a second at most
  int max_call_depth = 64;                     // macro calls inside macro calls
};

// Renders `body` with the variables of `context` (which shadow the globals range, namespace,
// dict, raise_exception and HF's strftime_now).
std::string render(const Body& body, const Dict& context, const RenderLimits& limits = {});

}  // namespace kiln::engine::jinja
