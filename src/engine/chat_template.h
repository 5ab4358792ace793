// Chat templates: the Jinja template a model file carries (`tokenizer.chat_template`), rendered
// over a conversation by kiln's own Jinja-subset interpreter (src/engine/jinja/), the way HF
// transformers renders it: jinja2's ImmutableSandboxedEnvironment with trim_blocks and
// lstrip_blocks, a raise_exception() global and HF's tojson.
//
// The template is untrusted: parsing and rendering are bounded (nesting, loop iterations, macro
// recursion, output size), and every failure is a UserError naming the template line.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/jinja/interpreter.h"

namespace kiln::gguf {
class GGUFFile;
}

namespace kiln::engine {

struct ChatMessage {
  std::string role;
  std::string content;
};

class ChatTemplate {
 public:
  // The template in `tokenizer.chat_template`; a UserError if the file has none.
  static ChatTemplate from_gguf(const gguf::GGUFFile& file);

  // Parses `source`; a syntax error is a UserError naming the line and the construct.
  explicit ChatTemplate(std::string source);

  // Renders the conversation with the variables HF passes: messages, add_generation_prompt,
  // bos_token, eos_token.
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                     const std::string& bos_token, const std::string& eos_token) const;

  // Renders with any variables (a dict of them); what the convenience overload above builds.
  std::string render(const jinja::Dict& variables) const;

  const std::string& source() const { return source_; }

  // Bounds for every render of this template.
  void set_limits(const jinja::RenderLimits& limits) { limits_ = limits; }

 private:
  std::string source_;
  std::shared_ptr<const jinja::Body> body_;  // shared: copies of a template share one tree
  jinja::RenderLimits limits_;
};

}  // namespace kiln::engine
