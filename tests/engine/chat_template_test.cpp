// Chat templates: byte-for-byte parity with Python jinja2 (rendering as HF transformers does) on
// the real models' templates and on language-feature cases, both in tests/data/chat_template and
// made by scripts/make_chat_template_goldens.py; then the templates that must be refused, and
// the bounds that keep a hostile template from running away.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/model_folder.h"
#include "support/expect_error.h"
#include "engine/chat_template.h"
#include "gguf/gguf_file.h"

namespace kiln::engine {
namespace {

using nlohmann::ordered_json;  // keeps the key order of dicts, as Python does

const std::filesystem::path kData = std::filesystem::path(KILN_TEST_DATA) / "chat_template";

ordered_json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return ordered_json::parse(in);
}

jinja::Value to_value(const ordered_json& j) {
  if (j.is_null()) return jinja::Value(jinja::None{});
  if (j.is_boolean()) return jinja::Value(j.get<bool>());
  if (j.is_number_integer()) return jinja::Value(j.get<int64_t>());
  if (j.is_number_float()) return jinja::Value(j.get<double>());
  if (j.is_string()) return jinja::Value(j.get<std::string>());
  if (j.is_array()) {
    std::vector<jinja::Value> items;
    for (const auto& item : j) items.push_back(to_value(item));
    return jinja::Value::list(std::move(items));
  }
  jinja::Dict dict;
  for (const auto& [key, item] : j.items()) dict.set(key, to_value(item));
  return jinja::Value::dict(std::move(dict));
}

jinja::Dict to_variables(const ordered_json& j) {
  jinja::Dict variables;
  for (const auto& [key, item] : j.items()) variables.set(key, to_value(item));
  return variables;
}


std::string render(const std::string& source,
                   const ordered_json& variables = ordered_json::object()) {
  return ChatTemplate(source).render(to_variables(variables));
}

// ---- the real models' templates ----

// Renders every conversation of `<name>.json` and compares with jinja2's bytes. The template
// text comes from the golden, so this runs without the model; when the model file is there,
// its `tokenizer.chat_template` must be that text (or, for "template_source": "file", absent).
void check_model_goldens(const std::string& name) {
  const ordered_json golden = read_json(kData / (name + ".json"));
  const std::string source = golden.at("template").get<std::string>();
  const std::filesystem::path model = model_folder() / golden.at("model_file").get<std::string>();
  if (std::filesystem::exists(model)) {
    const gguf::GGUFFile file = gguf::GGUFFile::open(model.string());
    if (golden.at("template_source") == "gguf") {
      EXPECT_EQ(ChatTemplate::from_gguf(file).source(), source);
    } else {
      expect_user_error([&] { ChatTemplate::from_gguf(file); },
                        {"no chat template", "tokenizer.chat_template"});
    }
  }
  const ChatTemplate chat_template(source);
  const std::string bos = golden.at("bos_token").get<std::string>();
  const std::string eos = golden.at("eos_token").get<std::string>();
  int outputs = 0;
  for (const ordered_json& c : golden.at("cases")) {
    std::vector<ChatMessage> messages;
    for (const ordered_json& m : c.at("messages")) {
      messages.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
    }
    const bool add_generation_prompt = c.at("add_generation_prompt").get<bool>();
    SCOPED_TRACE(c.at("conversation").get<std::string>() +
                 (add_generation_prompt ? " + generation prompt" : ""));
    if (c.contains("output")) {
      EXPECT_EQ(chat_template.render(messages, add_generation_prompt, bos, eos),
                c.at("output").get<std::string>());
      ++outputs;
    } else {
      expect_user_error([&] { chat_template.render(messages, add_generation_prompt, bos, eos); },
                        {c.at("error").get<std::string>()});
    }
  }
  EXPECT_GE(outputs, 8);
}

TEST(ChatTemplateModels, SmolLM2MatchesJinja2) { check_model_goldens("smollm2"); }

// gemma-3-270m's GGUF carries no template; the golden uses Gemma 3's from tests/data.
TEST(ChatTemplateModels, Gemma3MatchesJinja2) { check_model_goldens("gemma3"); }

TEST(ChatTemplateModels, SmolLM2FromTheModelFile) {
  const std::filesystem::path model = model_folder() / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(model))
    GTEST_SKIP() << model << " is missing; run scripts/fetch-models.py";
  const ChatTemplate chat_template = ChatTemplate::from_gguf(gguf::GGUFFile::open(model.string()));
  EXPECT_EQ(chat_template.render({{"user", "Hi"}}, true, "<|im_start|>", "<|im_end|>"),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

// ---- language features, against jinja2 ----

TEST(ChatTemplateFeatures, MatchJinja2) {
  const ordered_json golden = read_json(kData / "features.json");
  int checked = 0;
  for (const ordered_json& c : golden.at("cases")) {
    const std::string name = c.at("name").get<std::string>();
    SCOPED_TRACE(name);
    const std::string source = c.at("template").get<std::string>();
    const ordered_json& variables = c.at("variables");
    if (c.contains("output")) {
      try {
        EXPECT_EQ(render(source, variables), c.at("output").get<std::string>());
      } catch (const std::exception& e) {
        ADD_FAILURE() << "threw: " << e.what();
      }
    } else {
      // Every case jinja2 refuses, kiln refuses too (the wording differs).
      expect_user_error([&] { render(source, variables); }, {"chat template"});
    }
    ++checked;
  }
  EXPECT_GE(checked, 80);
}

TEST(ChatTemplateFeatures, ScopingOfSetInLoopsAndNamespaces) {
  EXPECT_EQ(
      render("{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}"),
      "231");
  EXPECT_EQ(
      render(
          "{% set ns = namespace(x=1) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}{% endfor %}"
          "{{ ns.x }}"),
      "4");
}

TEST(ChatTemplateFeatures, WhitespaceControlAsHuggingFace) {
  // trim_blocks eats the newline after a tag; lstrip_blocks the indentation before it.
  EXPECT_EQ(render("<a>\n  {% if true %}\n  x\n  {% endif %}\n</a>"), "<a>\n  x\n</a>");
  EXPECT_EQ(render("a  {{- ' b ' -}}  c"), "a b c");
  EXPECT_EQ(render("  {%+ if true %}x{% endif +%}\ny"), "  x\ny");
}

TEST(ChatTemplateFeatures, CopiesShareTheParsedTemplate) {
  const ChatTemplate original("{{ messages[0].content | upper }}");
  const ChatTemplate copy = original;
  EXPECT_EQ(copy.render({{"user", "hi"}}, false, "", ""), "HI");
  EXPECT_EQ(original.source(), copy.source());
}

// ---- must fail ----

TEST(ChatTemplateRefuses, SyntaxErrorsNameTheLineAndConstruct) {
  expect_user_error([] { ChatTemplate("line 1\nline 2\n{{ 1 + }}"); },
                    {"syntax error at line 3", "'}}'"});
  expect_user_error([] { ChatTemplate("a\n{% for m in messages %}\n{{ m }}\n"); },
                    {"line 3", "'for' opened at line 2", "'endfor'"});
  expect_user_error([] { ChatTemplate("{% if true %}\n{% endfor %}"); }, {"line 2", "'endfor'"});
  expect_user_error([] { ChatTemplate("\n\n{% include 'other.jinja' %}"); },
                    {"line 3", "'include'", "not supported"});
  expect_user_error([] { ChatTemplate("{% set x = %}"); }, {"line 1", "'set'"});
  expect_user_error([] { ChatTemplate("{{ 'unterminated }}"); }, {"unterminated string"});
  expect_user_error([] { ChatTemplate("{# no end"); }, {"comment"});
  expect_user_error([] { ChatTemplate("{% break %}"); }, {"'break' outside a loop"});
  expect_user_error([] { ChatTemplate("{{ (1 ] }}"); }, {"unexpected ']'"});
}

TEST(ChatTemplateRefuses, RenderErrorsNameTheLine) {
  expect_user_error([] { render("ok\n{{ missing.attribute }}"); },
                    {"line 2", "'missing' is undefined"});
  expect_user_error([] { render("\n\n{{ 'a' | no_such_filter }}"); }, {"line 3", "no_such_filter"});
  expect_user_error([] { render("{{ 'a' + 1 }}"); }, {"line 1", "concatenate"});
  expect_user_error([] { render("{% for a, b in [[1, 2, 3]] %}{% endfor %}"); },
                    {"too many values to unpack"});
}

TEST(ChatTemplateRefuses, RaiseExceptionCarriesTheMessage) {
  const ChatTemplate chat_template(
      "{% for m in messages %}\n"
      "{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}\n"
      "{% endfor %}");
  EXPECT_NO_THROW(chat_template.render({{"user", "hi"}}, false, "", ""));
  expect_user_error(
      [&] {
        chat_template.render({{"system", "x"}}, false, "", "");
      },
      {"System role not supported", "line 2"});
}

TEST(ChatTemplateRefuses, UnboundedLoops) {
  expect_user_error(
      [] {
        render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
      },
      {"steps"});
  // jinja2's sandbox refuses big ranges outright.
  expect_user_error([] { render("{% for i in range(10000000) %}{% endfor %}"); },
                    {"Range too big"});
  // Quadratic list building.
  expect_user_error(
      [] {
        render(
            "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}"
            "{% endfor %}");
      },
      {"steps"});
}

TEST(ChatTemplateRefuses, UnboundedRecursion) {
  expect_user_error([] { render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"); },
                    {"macro calls nest more than"});
  // Exponential but shallow: the step budget stops it.
  expect_user_error(
      [] {
        render(
            "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(40) }}");
      },
      {"steps"});
  expect_user_error(
      [] { ChatTemplate("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}"); },
      {"nests more than"});
  expect_user_error([] { ChatTemplate(std::string("{{ 1") + std::string(3000, '+') + " }}"); },
                    {"line 1"});
  std::string chain = "{{ x";
  for (int i = 0; i < 1000; ++i) chain += " ~ x";
  expect_user_error([&] { ChatTemplate(chain + " }}"); }, {"nests more than"});
  std::string nested_ifs;
  for (int i = 0; i < 1000; ++i) nested_ifs += "{% if true %}";
  expect_user_error([&] { ChatTemplate{nested_ifs}; }, {"nests more than"});
  // Values nested without bound, and a namespace holding itself.
  expect_user_error(
      [] {
        render(
            "{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}"
            "{% endfor %}");
      },
      {"nested more than"});
  expect_user_error([] { render("{% set ns = namespace() %}{% set ns.me = [ns] %}"); },
                    {"a namespace cannot hold a namespace"});
}

TEST(ChatTemplateRefuses, UnboundedOutput) {
  expect_user_error([] { render("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"); },
                    {"output would exceed"});
  expect_user_error([] { render("{{ 'x' * 10000000000 }}"); }, {"size limit"});
  expect_user_error(
      [] {
        render(
            "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
            "{% endfor %}");
      },
      {"size limit"});
  // Limits can be set per template.
  ChatTemplate small("{% for m in messages %}{{ m.content }}{% endfor %}");
  jinja::RenderLimits limits;
  limits.max_output_bytes = 10;
  small.set_limits(limits);
  EXPECT_EQ(small.render({{"user", "0123456789"}}, false, "", ""), "0123456789");
  expect_user_error(
      [&] {
        small.render({{"user", "0123456789"}, {"user", "x"}}, false, "", "");
      },
      {"output would exceed the limit of 10 bytes"});
}

TEST(ChatTemplateRefuses, IntegerOverflow) {
  expect_user_error([] { render("{{ 9223372036854775807 + 1 }}"); }, {"integer overflow"});
  expect_user_error([] { render("{{ 2 ** 64 }}"); }, {"integer overflow"});
}

}  // namespace
}  // namespace kiln::engine
