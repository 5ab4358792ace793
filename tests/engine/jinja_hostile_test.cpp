// Hostile chat templates: a model file carries its template, so a template is untrusted input.
// Each one here must be refused with a UserError that says what is wrong, never crash, loop
// without end or grow without bound. These tests also run under ASan/UBSan (make asan-test).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/chat_template.h"
#include "support/expect_error.h"

namespace kiln::engine {
namespace {

std::string render(const std::string& source) { return ChatTemplate(source).render(jinja::Dict{}); }

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// `open` n times, then `middle`, then `close` n times: an expression nested n deep.
std::string nested(const std::string& open, const std::string& middle, const std::string& close,
                   int n) {
  return repeat(open, n) + middle + repeat(close, n);
}

TEST(JinjaHostile, DeeplyNestedExpressionsAreRefusedWhenParsed) {
  const int n = 5000;
  for (const std::string& expression : std::vector<std::string>{
           nested("[", "1", "]", n),               // list literals
           nested("{'a': ", "1", "}", n),          // dict literals
           nested("(", "1", ",)", n),              // tuples
           repeat("not ", n) + "true",             // unary operators
           repeat("- ", n) + "1",
           "x" + repeat("[0]", n),                 // subscripts
           "x" + repeat(".a", n),                  // attributes
           "x" + repeat("()", n),                  // calls
           "x" + repeat(" | trim", n),             // filters
           repeat("1 if x else ", n) + "2",        // conditional expressions
           "x" + repeat(" and x", n),              // boolean chain
           "1" + repeat(" ** 1", n),               // right-associative power
           "range(" + nested("range(", "1", ")|length", n) + ")",  // call arguments
       }) {
    SCOPED_TRACE(expression.substr(0, 40));
    expect_user_error([&] { ChatTemplate("{{ " + expression + " }}"); }, {"nests more than"});
  }
  // A comparison chain is one node, not a nest: it is fine at any length, as in jinja2.
  EXPECT_EQ(render("{{ 1" + repeat(" < 1", n) + " }}"), "False");
}

TEST(JinjaHostile, DeeplyNestedStatementsAreRefusedWhenParsed) {
  const int n = 1000;
  for (const std::string& source : std::vector<std::string>{
           nested("{% for i in x %}", "", "{% endfor %}", n),
           nested("{% if x %}", "", "{% endif %}", n),
           nested("{% macro m() %}", "", "{% endmacro %}", n),
           nested("{% filter upper %}", "", "{% endfilter %}", n),
       }) {
    SCOPED_TRACE(source.substr(0, 40));
    expect_user_error([&] { ChatTemplate{source}; }, {"nests more than"});
  }
  // Just inside the bound is fine, and renders.
  EXPECT_EQ(render(nested("{% if true %}", "ok", "{% endif %}", 50)), "ok");
  EXPECT_EQ(render("{{ " + nested("[", "7", "][0]", 40) + " }}"), "7");
}

TEST(JinjaHostile, UnterminatedTagsStringsAndBlocks) {
  expect_user_error([] { ChatTemplate("text {{ x"); }, {"line 1", "missing '}}'"});
  expect_user_error([] { ChatTemplate("a\n{% if x"); }, {"line 2", "missing '%}'"});
  expect_user_error([] { ChatTemplate("{{ 'abc }}"); }, {"unterminated string"});
  expect_user_error([] { ChatTemplate("{{ \"abc\\\" }}"); }, {"unterminated string"});
  expect_user_error([] { ChatTemplate("{{ 'abc\\"); }, {"unterminated string"});
  expect_user_error([] { ChatTemplate("{% raw %}never closed"); }, {"endraw"});
  expect_user_error([] { ChatTemplate("{# never closed"); }, {"comment"});
  expect_user_error([] { ChatTemplate("{% if true %}never closed"); }, {"'endif'"});
  expect_user_error([] { ChatTemplate("{% macro f() %}never closed"); }, {"'endmacro'"});
  expect_user_error([] { ChatTemplate("{% for i in x %}{% else %}"); }, {"'endfor'"});
  expect_user_error([] { ChatTemplate("{{ [1, 2 }}"); }, {"line 1"});
  expect_user_error([] { ChatTemplate("{{ {'a': 1 }}"); }, {"line 1"});
  expect_user_error([] { ChatTemplate("{{ }}"); }, {"line 1"});
  expect_user_error([] { ChatTemplate("{% %}"); }, {"line 1"});
  expect_user_error([] { ChatTemplate("{{"); }, {"line 1"});
  expect_user_error([] { ChatTemplate("{%"); }, {"line 1"});
  expect_user_error([] { ChatTemplate("}} %} #}{{ 1 }"); }, {"line 1"});
  // A NUL byte or bytes that are not UTF-8 inside a tag are refused; outside tags they are text.
  expect_user_error([] { ChatTemplate(std::string("{{ 1 \0 }}", 9)); }, {"line 1"});
  expect_user_error([] { ChatTemplate("{{ \xFF }}"); }, {"line 1"});
  EXPECT_EQ(render(std::string("a\0\xFF", 3)), std::string("a\0\xFF", 3));
}

TEST(JinjaHostile, HugeAndDegenerateRanges) {
  for (const std::string& range : std::vector<std::string>{
           "range(10000000000000)",
           "range(-9223372036854775807 - 1, 9223372036854775807)",
           "range(9223372036854775807, -9223372036854775807 - 1, -1)",
           "range(0, 9223372036854775807, 2)",
       }) {
    SCOPED_TRACE(range);
    expect_user_error([&] { render("{% for i in " + range + " %}{% endfor %}"); },
                      {"Range too big"});
  }
  expect_user_error([] { render("{{ range(1, 10, 0) }}"); },
                    {"line 1", "range() arg 3 must not be zero"});
  expect_user_error([] { render("{{ range('a') }}"); }, {"line 1"});
  expect_user_error([] { render("{{ range(1.5) }}"); }, {"line 1"});
  // Empty ranges, even at the ends of the 64-bit integers, are fine.
  EXPECT_EQ(render("{% for i in range(9223372036854775807, 9223372036854775807) %}x{% endfor %}"
                   "{{ range(5, 0)|length }}{{ range(-9223372036854775807 - 1)|length }}"),
            "00");
  EXPECT_EQ(render("{{ range(9223372036854775806, 9223372036854775807)|list }}"),
            "[9223372036854775806]");
}

TEST(JinjaHostile, RecursionThroughMacrosIsBounded) {
  // Two macros calling each other, without end and exponentially.
  expect_user_error(
      [] {
        render("{% macro f(n) %}{{ g(n) }}{% endmacro %}{% macro g(n) %}{{ f(n) }}{% endmacro %}"
               "{{ f(0) }}");
      },
      {"macro calls nest more than"});
  // A macro calling itself through a filter argument and a default argument.
  expect_user_error(
      [] { render("{% macro f(x=f()) %}{{ x }}{% endmacro %}{{ f() }}"); },
      {"macro calls nest more than"});
  expect_user_error(
      [] { render("{% macro f(n) %}{{ [n] | map('string') | join(f(n)) }}{% endmacro %}{{ f(1) }}"); },
      {"macro calls nest more than"});
  // A macro passed to itself.
  expect_user_error([] { render("{% macro f(g) %}{{ g(g) }}{% endmacro %}{{ f(f) }}"); },
                    {"macro calls nest more than"});
}

TEST(JinjaHostile, OutputAndValuesAreBounded) {
  jinja::RenderLimits small;
  small.max_output_bytes = 1000;
  auto render_small = [&](const std::string& source) {
    ChatTemplate t(source);
    t.set_limits(small);
    return t.render(jinja::Dict{});
  };
  expect_user_error([&] { render_small("{{ 'x' * 1001 }}"); }, {"size limit"});
  expect_user_error([&] { render_small("{{ 'x' * 600 }}{{ 'y' * 600 }}"); },
                    {"output would exceed the limit of 1000 bytes"});
  expect_user_error([&] { render_small("{{ range(1000)|join(',') }}"); }, {"size limit"});
  expect_user_error([&] { render_small("{{ ('x\n' * 10) | indent(1000) }}"); }, {"size limit"});
  expect_user_error([&] { render_small("{{ '%s%s' % ('x' * 600, 'y' * 600) }}"); },
                    {"size limit"});
  expect_user_error([&] { render_small("{{ ('x' * 100) | replace('', 'y' * 100) }}"); },
                    {"size limit"});
  expect_user_error([&] { render_small("{{ range(300)|list|tojson }}"); }, {"size limit"});
  // Lists grow by steps, not by bytes: a big list costs its length in steps.
  expect_user_error([] { render("{{ ([1] * 100000000)|length }}"); }, {"steps"});
  expect_user_error([] { render("{{ 'x' * 9223372036854775807 }}"); }, {"size limit"});
  // Negative counts give the empty sequence, as in Python.
  EXPECT_EQ(render("{{ 'x' * -5 }}{{ ([1] * (-9223372036854775807 - 1))|length }}"), "0");
  // A width of a billion in a format is capped, not allocated.
  EXPECT_LE(render("{{ '%999999999d' % 1 }}").size(), 4096u);
}

TEST(JinjaHostile, UnknownNamesAreRefused) {
  expect_user_error([] { render("{{ 'a' | no_such_filter }}"); }, {"line 1", "no_such_filter"});
  expect_user_error([] { render("{{ 'a' is no_such_test }}"); }, {"line 1", "no_such_test"});
  expect_user_error([] { render("{{ 'a'.no_such_method() }}"); }, {"line 1", "no_such_method"});
  expect_user_error([] { render("{{ no_such_function() }}"); }, {"line 1", "no_such_function"});
  expect_user_error([] { ChatTemplate("{% no_such_statement %}"); },
                    {"line 1", "no_such_statement"});
  for (const char* statement : {"extends 'a'", "import 'a' as b", "from 'a' import b",
                                "block b", "with", "autoescape true"}) {
    expect_user_error([&] { ChatTemplate(std::string("{% ") + statement + " %}"); },
                      {"line 1", "not supported"});
  }
}

TEST(JinjaHostile, TypeErrorsAreRefused) {
  for (const std::string& expression : std::vector<std::string>{
           "[] + {}", "{} + {}", "'a' - 'b'", "1 - none", "[1] * 'a'", "'a' * 1.5",
           "none()", "1()", "'abc'.upper.lower()", "{}['a']['b']",
           "[1, 'a'] | sort", "none < 1", "[1] < 1", "{'a': 1} < {'b': 2}",
           "1 | length", "1 | first", "1 in 1",
           "{% set a, b = 1 %}", "'%d' % 'a'", "'%s %s' % (1,)", "'%' % 1", "'%(a)s' % 1",
           "'%q' % 1", "'%s' % (1, 2)",
       }) {
    SCOPED_TRACE(expression);
    const std::string source =
        expression.starts_with("{%") ? expression : "{{ " + expression + " }}";
    expect_user_error([&] { render(source); }, {"line 1"});
  }
  // What jinja2 forgives must come out as jinja2's answer, not as an error or a crash: a
  // subscript out of range (or of a number) is undefined, which prints as nothing.
  EXPECT_EQ(render("{{ [1][5] }}{{ (1, 2)[9] }}{{ 'abc'[9223372036854775807] }}"
                   "{{ 'abc'[-9223372036854775807 - 1] }}{{ 1[0] }}"),
            "");
  EXPECT_EQ(render("{{ 'abc' | int(base=99) }} {{ [1] | join(1) }} {{ none | upper }}"),
            "0 1 NONE");
}

TEST(JinjaHostile, ArithmeticEdgesAreErrorsNotUndefinedBehaviour) {
  const std::string min = "(-9223372036854775807 - 1)";
  // Python's messages.
  for (const auto& [expression, message] : std::vector<std::pair<std::string, std::string>>{
           {"1 / 0", "division by zero"}, {"1 // 0", "integer division or modulo by zero"},
           {"1 % 0", "modulo by zero"}, {"1.0 / 0", "division by zero"},
           {"1.5 // 0.0", "division by zero"}, {"1.5 % 0.0", "float modulo"},
           {"0 ** -1", "0.0 cannot be raised to a negative power"},
       }) {
    SCOPED_TRACE(expression);
    expect_user_error([&] { render("{{ " + expression + " }}"); }, {"line 1", message});
  }
  for (const std::string& expression : std::vector<std::string>{
           min + " // -1", "-" + min, min + " | abs", min + " * -1", min + " - 1",
           "9223372036854775807 + 1", "3 ** 40", "(-3) ** 41",
           "'%d' % 1e300", "'99999999999999999999' | int", "1e300 | int", "'-1e19' | int",
       }) {
    SCOPED_TRACE(expression);
    expect_user_error([&] { render("{{ " + expression + " }}"); }, {"overflow"});
  }
  // Python's int() of an infinity is an OverflowError too (jinja2's int filter lets it through);
  // of NaN a ValueError, which the filter turns into its default.
  expect_user_error([] { render("{{ (1e308 * 10) | int }}"); },
                    {"cannot convert float infinity to integer"});
  expect_user_error([] { render("{{ '-inf' | float | int(7) }}"); },
                    {"cannot convert float infinity to integer"});
  EXPECT_EQ(render("{{ 'nan' | float | int }} {{ 'nan' | float | int(7) }}"), "0 7");
  // These are defined in Python and must give its answers.
  EXPECT_EQ(render("{{ " + min + " % -1 }}"), "0");
  EXPECT_EQ(render("{{ " + min + " % 3 }}"), "1");
  EXPECT_EQ(render("{{ 7 // -2 }} {{ -7 % 3 }} {{ 2 ** -1 }}"), "-4 2 0.5");
  EXPECT_EQ(render("{{ [1, 2, 3][::" + min + "] }}"), "[3]");
  EXPECT_EQ(render("{{ 'abc'[" + min + ":9223372036854775807] }}"), "abc");
  EXPECT_EQ(render("{{ 'abc'[9223372036854775807:" + min + ":-1] }}"), "cba");
  EXPECT_EQ(render("{{ 'abc'[::-9223372036854775807] }}"), "c");
  expect_user_error([] { render("{{ 'abc'[::0] }}"); }, {"slice step cannot be zero"});
}

}  // namespace
}  // namespace kiln::engine
