// The interpreter's library: filters, tests, methods of str and dict, the global functions, and
// the operators, with jinja2's and Python's semantics. Internal to the interpreter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/jinja/interpreter.h"
#include "engine/jinja/value.h"

namespace kiln::engine::jinja {

// What a render may still spend; every charge past a limit throws EvalError.
class Budget {
 public:
  explicit Budget(const RenderLimits& limits) : limits_(limits) {}

  // Statements and expressions evaluated, loop iterations, list items built, macro calls.
  void steps(int64_t count);
  // Bytes copied, compared or searched.
  void work(size_t bytes);
  // Checks the size of a string about to be built, and charges it as work.
  void string_bytes(size_t bytes);
  size_t max_value_bytes() const { return limits_.max_output_bytes; }
  const RenderLimits& limits() const { return limits_; }

 private:
  const RenderLimits& limits_;
  int64_t steps_ = 0;
  size_t work_ = 0;
};

// The arguments of a call, a filter or a test.
struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

// A str or dict method with its receiver: `text.strip`, `message.items`.
struct BoundMethod : Callable {
  Value receiver;
  bool holds_namespace() const override { return receiver.has_namespace(); }
};

// range, namespace, dict, raise_exception, strftime_now.
struct GlobalFunction : Callable {};

// The global functions, by name, for the interpreter's root scope.
std::vector<std::pair<std::string, Value>> global_functions();

// Calls a BoundMethod or a GlobalFunction.
Value call_builtin(const Callable& callable, const Args& args, Budget& budget);

// The method `name` of `receiver` bound to it, or Undefined if there is none.
Value bound_method(const Value& receiver, std::string_view name);

// Attribute access (`obj.name`) and subscription (`obj[key]`), as jinja2's sandbox does them:
// a missing key, attribute or index is Undefined; looking into Undefined is an error.
Value get_attribute(const Value& object, std::string_view name);
Value get_item(const Value& object, const Value& key);
Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step,
                Budget& budget);

// Binary operators + - * / // % ** ~ and the comparisons == != < <= > >= in notin.
Value binary_op(std::string_view op, const Value& left, const Value& right, Budget& budget);
bool compare_op(std::string_view op, const Value& left, const Value& right, Budget& budget);

// The items a `for` loop visits: a list's items, a dict's keys, a string's characters; nothing
// for Undefined.
std::vector<Value> iterate(const Value& value, Budget& budget);

bool has_filter(std::string_view name);
Value apply_filter(std::string_view name, const Value& input, const Args& args, Budget& budget);
bool has_test(std::string_view name);
bool apply_test(std::string_view name, const Value& input, const Args& args, Budget& budget);

// The error for using an Undefined value where a real one is needed.
[[noreturn]] void undefined_error(const Value& undefined);

}  // namespace kiln::engine::jinja
