// The render budget and the operators (attribute and item access, slices, binary operators,
// comparisons, iteration). The filters, tests and methods are in files of their own.
#include "engine/jinja/builtins.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "engine/jinja/library.h"

namespace kiln::engine::jinja {

using namespace lib;

// ---- budget ----

void Budget::steps(int64_t count) {
  steps_ += std::max<int64_t>(count, 0);
  if (steps_ > limits_.max_steps) {
    throw EvalError(fmt::format(
        "the template ran more than {} steps (statements and expressions evaluated, loop "
        "iterations, list items built, macro calls)",
        limits_.max_steps));
  }
}

void Budget::work(size_t bytes) {
  work_ = bytes > limits_.max_work_bytes - std::min(work_, limits_.max_work_bytes)
              ? limits_.max_work_bytes + 1
              : work_ + bytes;
  if (work_ > limits_.max_work_bytes) {
    throw EvalError(fmt::format("the template spent more than {} bytes of string work",
                                limits_.max_work_bytes));
  }
}

void Budget::string_bytes(size_t bytes) {
  if (bytes > limits_.max_output_bytes) {
    throw EvalError(
        fmt::format("a string would exceed the size limit of {} bytes", limits_.max_output_bytes));
  }
  work(bytes);
}

void undefined_error(const Value& undefined) {
  const std::string& hint = undefined.undefined_hint();
  fail(hint.empty() ? std::string("an undefined value was used") : hint);
}




Value get_attribute(const Value& object, std::string_view name) {
  switch (object.kind()) {
    case Value::Kind::undefined: undefined_error(object);
    case Value::Kind::dict: {
      // Python attributes first: `message.items` is the method even when there is an "items" key.
      Value method = bound_method(object, name);
      if (!method.is_undefined()) return method;
      if (const Value* found = object.as_dict().find(name)) return *found;
      return Value(Undefined{fmt::format("'dict object' has no attribute '{}'", name)});
    }
    case Value::Kind::ns: {
      if (const Value* found = object.as_namespace().attributes.find(name)) return *found;
      return Value(Undefined{fmt::format("'Namespace object' has no attribute '{}'", name)});
    }
    default: return bound_method(object, name);
  }
}

Value get_item(const Value& object, const Value& key) {
  switch (object.kind()) {
    case Value::Kind::undefined: undefined_error(object);
    case Value::Kind::dict:
      if (key.is_string()) {
        if (const Value* found = object.as_dict().find(key.as_string())) return *found;
        // jinja2 falls back to the attribute: message['items'] is the method if no such key.
        return get_attribute(object, key.as_string());
      }
      break;
    case Value::Kind::ns:
      if (key.is_string()) return get_attribute(object, key.as_string());
      break;
    case Value::Kind::list:
      if (key.is_int() || key.is_bool()) {
        const auto& items = object.as_list().items;
        int64_t index = key.as_int();
        const auto size = static_cast<int64_t>(items.size());
        if (index < 0) index += size;
        if (index >= 0 && index < size) return items[static_cast<size_t>(index)];
      }
      break;
    case Value::Kind::string:
      if (key.is_int() || key.is_bool()) {
        const auto units = split_code_points(object.as_string());
        int64_t index = key.as_int();
        const auto size = static_cast<int64_t>(units.size());
        if (index < 0) index += size;
        if (index >= 0 && index < size)
          return Value(std::string(units[static_cast<size_t>(index)]));
      } else if (key.is_string()) {
        return bound_method(object, key.as_string());
      }
      break;
    default: break;
  }
  std::string key_text;
  if (key.is_string()) {
    key_text = fmt::format("'{}'", key.as_string());
  } else {
    key_text = to_repr(key, 200);
  }
  return Value(Undefined{fmt::format("{} has no attribute {}", object_name(object), key_text)});
}

Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step,
                Budget& budget) {
  if (object.is_undefined()) undefined_error(object);
  if (object.is_string()) {
    const auto units = split_code_points(object.as_string());
    budget.work(object.as_string().size());
    std::string out;
    for (size_t i : slice_indices(static_cast<int64_t>(units.size()), start, stop, step))
      out += units[i];
    return Value(std::move(out));
  }
  if (object.is_list()) {
    const auto& items = object.as_list().items;
    std::vector<Value> out;
    for (size_t i : slice_indices(static_cast<int64_t>(items.size()), start, stop, step)) {
      out.push_back(items[i]);
    }
    budget.steps(static_cast<int64_t>(out.size()));
    return Value::list(std::move(out), object.as_list().is_tuple);
  }
  fail(fmt::format("{} is not subscriptable", object_name(object)));
}

Value binary_op(std::string_view op, const Value& left, const Value& right, Budget& budget) {
  if (op == "~") {
    std::string a = to_str(left, budget.max_value_bytes());
    const std::string b = to_str(right, budget.max_value_bytes());
    budget.string_bytes(a.size() + b.size());
    a += b;
    return Value(std::move(a));
  }
  const bool numbers = left.is_number() && right.is_number();
  const bool any_float = left.is_float() || right.is_float();
  if (op == "+") {
    if (numbers) {
      if (any_float) return Value(left.as_double() + right.as_double());
      int64_t r = 0;
      const bool overflow = __builtin_add_overflow(left.as_int(), right.as_int(), &r);
      return checked_int(overflow, r, op);
    }
    if (left.is_string() && right.is_string()) {
      budget.string_bytes(left.as_string().size() + right.as_string().size());
      return Value(left.as_string() + right.as_string());
    }
    if (left.is_list() && right.is_list() && left.as_list().is_tuple == right.as_list().is_tuple) {
      std::vector<Value> items = left.as_list().items;
      items.insert(items.end(), right.as_list().items.begin(), right.as_list().items.end());
      budget.steps(static_cast<int64_t>(items.size()));
      return Value::list(std::move(items), left.as_list().is_tuple);
    }
    if (left.is_string() && !right.is_undefined()) {
      fail(fmt::format("can only concatenate str (not \"{}\") to str", type_name(right)));
    }
    operand_error(op, left, right);
  }
  if (op == "-") {
    if (!numbers) operand_error(op, left, right);
    if (any_float) return Value(left.as_double() - right.as_double());
    int64_t r = 0;
    const bool overflow = __builtin_sub_overflow(left.as_int(), right.as_int(), &r);
    return checked_int(overflow, r, op);
  }
  if (op == "*") {
    if (numbers) {
      if (any_float) return Value(left.as_double() * right.as_double());
      int64_t r = 0;
      const bool overflow = __builtin_mul_overflow(left.as_int(), right.as_int(), &r);
      return checked_int(overflow, r, op);
    }
    if ((left.is_string() || left.is_list()) && (right.is_int() || right.is_bool())) {
      return repeat(left, right.as_int(), budget);
    }
    if ((right.is_string() || right.is_list()) && (left.is_int() || left.is_bool())) {
      return repeat(right, left.as_int(), budget);
    }
    operand_error(op, left, right);
  }
  if (op == "/") {
    if (!numbers) operand_error(op, left, right);
    if (right.as_double() == 0.0) fail("division by zero");
    return Value(left.as_double() / right.as_double());
  }
  if (op == "//" || op == "%") {
    if (!numbers) {
      if (op == "%" && left.is_string())
        return Value(percent_format(left.as_string(), right, budget));
      operand_error(op, left, right);
    }
    if (any_float) {
      if (right.as_double() == 0.0)
        fail(op == "//" ? "float floor division by zero" : "float modulo");
      const auto [div, mod] = float_divmod(left.as_double(), right.as_double());
      return Value(op == "//" ? div : mod);
    }
    if (right.as_int() == 0) fail("integer division or modulo by zero");
    if (left.as_int() == std::numeric_limits<int64_t>::min() && right.as_int() == -1) {
      return op == "%" ? Value(0) : checked_int(true, 0, op);
    }
    return Value(op == "//" ? floor_div(left.as_int(), right.as_int())
                            : floor_mod(left.as_int(), right.as_int()));
  }
  if (op == "**") {
    if (!numbers) operand_error(op, left, right);
    if (!any_float && right.as_int() >= 0) return int_power(left.as_int(), right.as_int());
    if (left.as_double() == 0.0 && right.as_double() < 0) {
      fail("0.0 cannot be raised to a negative power");
    }
    const double result = std::pow(left.as_double(), right.as_double());
    if (std::isnan(result) && !std::isnan(left.as_double()) && !std::isnan(right.as_double())) {
      fail("a negative number raised to a fractional power (complex results are not supported)");
    }
    return Value(result);
  }
  fail(fmt::format("unknown operator '{}'", op));
}

bool compare_op(std::string_view op, const Value& left, const Value& right, Budget& budget) {
  if (op == "in") return contains(right, left, budget);
  if (op == "notin") return !contains(right, left, budget);
  if (op == "==" || op == "!=") {
    if (left.is_string() && right.is_string()) {
      budget.work(std::min(left.as_string().size(), right.as_string().size()));
    }
    return equals(left, right) == (op == "==");
  }
  if (left.is_undefined()) undefined_error(left);
  if (right.is_undefined()) undefined_error(right);
  bool ok = true;
  const int c = compare(left, right, ok);
  if (!ok) {
    fail(fmt::format("'{}' not supported between instances of '{}' and '{}'", op, type_name(left),
                     type_name(right)));
  }
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  if (op == ">=") return c >= 0;
  fail(fmt::format("unknown comparison '{}'", op));
}

std::vector<Value> iterate(const Value& value, Budget& budget) {
  switch (value.kind()) {
    case Value::Kind::undefined: return {};
    case Value::Kind::list:
      budget.steps(static_cast<int64_t>(value.as_list().items.size()));
      return value.as_list().items;
    case Value::Kind::dict: {
      std::vector<Value> keys;
      budget.steps(static_cast<int64_t>(value.as_dict().entries.size()));
      for (const auto& [key, item] : value.as_dict().entries) keys.emplace_back(key);
      return keys;
    }
    case Value::Kind::string: {
      std::vector<Value> characters;
      const auto units = split_code_points(value.as_string());
      budget.steps(static_cast<int64_t>(units.size()));
      for (std::string_view unit : units) characters.emplace_back(std::string(unit));
      return characters;
    }
    default: fail(fmt::format("'{}' object is not iterable", type_name(value)));
  }
}
}  // namespace kiln::engine::jinja
