// The tests (`{% if x is defined %}`), with jinja2's semantics.
#include <cmath>
#include <functional>
#include <map>

#include "engine/jinja/library.h"

namespace kiln::engine::jinja {
namespace {

using namespace lib;

using TestFn = std::function<bool(const Value&, const Args&, Budget&)>;

bool compare_test(std::string_view op, const Value& input, const Args& args, Budget& budget) {
  const Bound bound(fmt::format("test '{}'", op), args, {"other"}, 1);
  return compare_op(op, input, bound[0], budget);
}

const std::map<std::string, TestFn, std::less<>>& tests() {
  const auto no_args = [](std::string_view name, const Args& args) {
    Bound(fmt::format("test '{}'", name), args, {});
  };
  static const auto* table = new std::map<std::string, TestFn, std::less<>>{
      {"defined",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("defined", a);
         return !v.is_undefined();
       }},
      {"undefined",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("undefined", a);
         return v.is_undefined();
       }},
      {"none",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("none", a);
         return v.is_none();
       }},
      {"string",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("string", a);
         return v.is_string();
       }},
      {"number",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("number", a);
         return v.is_number();
       }},
      {"integer",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("integer", a);
         return v.is_int();
       }},
      {"float",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("float", a);
         return v.is_float();
       }},
      {"boolean",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("boolean", a);
         return v.is_bool();
       }},
      {"true",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("true", a);
         return v.is_bool() && v.as_bool();
       }},
      {"false",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("false", a);
         return v.is_bool() && !v.as_bool();
       }},
      {"mapping",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("mapping", a);
         return v.is_dict();
       }},
      {"iterable",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("iterable", a);
         return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
       }},
      {"sequence",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("sequence", a);
         return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
       }},
      {"callable",
       [=](const Value& v, const Args& a, Budget&) {
         no_args("callable", a);
         return v.is_callable();
       }},
      {"lower",
       [=](const Value& v, const Args& a, Budget& b) {
         no_args("lower", a);
         const std::string s = str_of(v, b);
         return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; }) &&
                std::none_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
       }},
      {"upper",
       [=](const Value& v, const Args& a, Budget& b) {
         no_args("upper", a);
         const std::string s = str_of(v, b);
         return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; }) &&
                std::none_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
       }},
      // value % n as Python computes it, for ints and floats.
      {"odd",
       [=](const Value& v, const Args& a, Budget& b) {
         no_args("odd", a);
         return equals(binary_op("%", v, Value(2), b), Value(1));
       }},
      {"even",
       [=](const Value& v, const Args& a, Budget& b) {
         no_args("even", a);
         return equals(binary_op("%", v, Value(2), b), Value(0));
       }},
      {"divisibleby",
       [](const Value& v, const Args& a, Budget& b) {
         const Bound bound("test 'divisibleby'", a, {"num"}, 1);
         return equals(binary_op("%", v, bound[0], b), Value(0));
       }},
      {"sameas",
       [](const Value& v, const Args& a, Budget&) {
         const Bound bound("test 'sameas'", a, {"other"}, 1);
         const Value& other = bound[0];
         // Python's `is`: singletons by value, objects by identity.
         if (v.is_none() || other.is_none()) return v.is_none() && other.is_none();
         if (v.is_bool() && other.is_bool()) return v.as_bool() == other.as_bool();
         if (v.is_namespace() && other.is_namespace())
           return &v.as_namespace() == &other.as_namespace();
         if (v.is_list() && other.is_list()) return &v.as_list() == &other.as_list();
         if (v.is_dict() && other.is_dict()) return &v.as_dict() == &other.as_dict();
         return false;
       }},
      {"in",
       [](const Value& v, const Args& a, Budget& b) {
         const Bound bound("test 'in'", a, {"seq"}, 1);
         return contains(bound[0], v, b);
       }},
      {"==", [](const Value& v, const Args& a, Budget& b) { return compare_test("==", v, a, b); }},
      {"!=", [](const Value& v, const Args& a, Budget& b) { return compare_test("!=", v, a, b); }},
      {"<", [](const Value& v, const Args& a, Budget& b) { return compare_test("<", v, a, b); }},
      {"<=", [](const Value& v, const Args& a, Budget& b) { return compare_test("<=", v, a, b); }},
      {">", [](const Value& v, const Args& a, Budget& b) { return compare_test(">", v, a, b); }},
      {">=", [](const Value& v, const Args& a, Budget& b) { return compare_test(">=", v, a, b); }},
  };
  return *table;
}

const std::map<std::string, std::string, std::less<>>& test_aliases() {
  static const auto* table = new std::map<std::string, std::string, std::less<>>{
      {"equalto", "=="}, {"eq", "=="}, {"ne", "!="},         {"lt", "<"}, {"lessthan", "<"},
      {"le", "<="},      {"gt", ">"},  {"greaterthan", ">"}, {"ge", ">="}};
  return *table;
}

}  // namespace

bool has_test(std::string_view name) { return tests().count(resolve(name, test_aliases())) > 0; }

bool apply_test(std::string_view name, const Value& input, const Args& args, Budget& budget) {
  const auto it = tests().find(resolve(name, test_aliases()));
  if (it == tests().end())
    fail(fmt::format("test '{}': no such test in kiln's template engine", name));
  return it->second(input, args, budget);
}

}  // namespace kiln::engine::jinja
