#include "engine/chat_template.h"

#include "base/error.h"
#include "engine/jinja/parser.h"
#include "gguf/gguf_file.h"

namespace kiln::engine {

namespace {
constexpr std::string_view kTemplateKey = "tokenizer.chat_template";
}  // namespace

ChatTemplate ChatTemplate::from_gguf(const gguf::GGUFFile& file) {
  const gguf::Value* value = file.find(kTemplateKey);
  if (value == nullptr) {
    user_error(
        "{}: the model has no chat template (no metadata key '{}'); use plain completion, "
        "or give a template explicitly",
        file.name(), kTemplateKey);
  }
  const std::string* text = value->as_string();
  if (text == nullptr) {
    user_error("{}: metadata key '{}' holds a {}, not a string", file.name(), kTemplateKey,
               gguf::value_type_name(value->type()));
  }
  return ChatTemplate(*text);
}

ChatTemplate::ChatTemplate(std::string source)
    : source_(std::move(source)),
      body_(std::make_shared<const jinja::Body>(jinja::parse(source_))) {}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt, const std::string& bos_token,
                                 const std::string& eos_token) const {
  std::vector<jinja::Value> items;
  items.reserve(messages.size());
  for (const ChatMessage& message : messages) {
    jinja::Dict dict;
    dict.set("role", jinja::Value(message.role));
    dict.set("content", jinja::Value(message.content));
    items.push_back(jinja::Value::dict(std::move(dict)));
  }
  jinja::Dict variables;
  variables.set("messages", jinja::Value::list(std::move(items)));
  variables.set("add_generation_prompt", jinja::Value(add_generation_prompt));
  variables.set("bos_token", jinja::Value(bos_token));
  variables.set("eos_token", jinja::Value(eos_token));
  return render(variables);
}

std::string ChatTemplate::render(const jinja::Dict& variables) const {
  return jinja::render(*body_, variables, limits_);
}

}  // namespace kiln::engine
