// The template library's shared parts, internal to it: argument binding, Python's string,
// number and sequence semantics, and the pieces the filters, tests, methods and operators
// (filters.cpp, tests.cpp, methods.cpp, builtins.cpp) all use.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "engine/jinja/builtins.h"

namespace kiln::engine::jinja::lib {

// Every error of the library: an EvalError with this message.
[[noreturn]] void fail(const std::string& message);

// Binds positional and keyword arguments to named parameters, as Python does.
class Bound {
 public:
  Bound(std::string_view what, const Args& args, std::initializer_list<std::string_view> params,
        size_t required = 0)
      : values_(params.size()) {
    const std::vector<std::string_view> names(params);
    if (args.positional.size() > names.size()) {
      fail(fmt::format("{} takes at most {} argument{} ({} given)", what, names.size(),
                       names.size() == 1 ? "" : "s", args.positional.size()));
    }
    for (size_t i = 0; i < args.positional.size(); ++i) values_[i] = args.positional[i];
    for (const auto& [key, value] : args.keywords) {
      const auto it = std::find(names.begin(), names.end(), key);
      if (it == names.end())
        fail(fmt::format("{} got an unexpected keyword argument '{}'", what, key));
      auto& slot = values_[static_cast<size_t>(it - names.begin())];
      if (slot) fail(fmt::format("{} got multiple values for argument '{}'", what, key));
      slot = value;
    }
    for (size_t i = 0; i < required; ++i) {
      if (!values_[i]) fail(fmt::format("{} is missing the argument '{}'", what, names[i]));
    }
  }

  // Given, and not None.
  bool has(size_t i) const { return values_[i].has_value() && !values_[i]->is_none(); }
  // Given at all.
  bool present(size_t i) const { return values_[i].has_value(); }
  const Value& operator[](size_t i) const {
    static const Value kUndefined;
    return values_[i] ? *values_[i] : kUndefined;
  }

 private:
  std::vector<std::optional<Value>> values_;
};

std::string object_name(const Value& value);
// a * b, saturating.
size_t product(size_t a, size_t b);

const std::string& string_arg(std::string_view what, const Value& value);
int64_t int_arg(std::string_view what, const Value& value);
bool is_stray_byte(std::string_view unit);
bool unit_is_space(std::string_view unit);
// str.strip / lstrip / rstrip, with whitespace or with the characters of `chars`.
std::string py_strip(const std::string& text, const std::optional<std::string>& chars, bool left, bool right, Budget& budget);

// Case mapping is ASCII-only: other characters pass unchanged.
char ascii_upper(char c);
char ascii_lower(char c);
bool ascii_letter(char c);
std::string to_upper(std::string text);
std::string to_lower(std::string text);
// str.capitalize(): the first character upper case, the rest lower case.
std::string py_capitalize(std::string text);

// str.title(): a letter after a cased letter is lower case, any other letter upper case.
std::string py_title(std::string text);

// jinja2's `title` filter: words begin after '-', whitespace, '(', '{', '[' or '<'; each word
// gets its first character upper case and the rest lower case.
std::string jinja_title(const std::string& text);

std::string py_replace(const std::string& text, const std::string& old_text, const std::string& new_text, int64_t count, Budget& budget);
std::vector<Value> py_split(const std::string& text, const std::optional<std::string>& separator, int64_t max_split, Budget& budget);
bool starts_or_ends_with(std::string_view what, const std::string& text, const Value& affix, bool at_start);
std::string str_of(const Value& value, Budget& budget);
Value checked_int(bool overflow, int64_t result, std::string_view op);
int64_t floor_div(int64_t a, int64_t b);
int64_t floor_mod(int64_t a, int64_t b);
// Python's float divmod.
std::pair<double, double> float_divmod(double a, double b);

Value int_power(int64_t base, int64_t exponent);
Value repeat(const Value& sequence, int64_t times, Budget& budget);
// Python's printf-style `format % values`, for the conversions s r d i f and %%, with optional
// '-' and '0' flags, a width and a precision.
std::string percent_format(const std::string& format, const Value& values, Budget& budget);

[[noreturn]] void operand_error(std::string_view op, const Value& left, const Value& right);
// Python's slice index adjustment.
void adjust_slice(int64_t length, const Value& start_value, const Value& stop_value, int64_t step, int64_t& start, int64_t& stop);

std::vector<size_t> slice_indices(int64_t length, const Value& start_value, const Value& stop_value, const Value& step_value);
bool contains(const Value& container, const Value& item, Budget& budget);
Value first_or_last(const Value& input, bool first, Budget& budget);
// A float truncated as Python's int() does; nothing for NaN (a ValueError, which jinja2's int
// filter turns into its default). Python's result past 64 bits, or its OverflowError for an
// infinity, is an error here: a default in its place would be a wrong value, silently.
std::optional<int64_t> truncate_float(double d);

// Python's int(): from an int, a float (truncated), a bool, or a string in `base`.
std::optional<int64_t> parse_int(const Value& value, int64_t base);

std::optional<double> parse_float(const Value& value);
// An attribute path of `map`, `selectattr`, `join(attribute=)`: "a.b" and "0" look into items.
Value attribute_path(const Value& item, const std::string& path);

Args rest_args(const Args& args, size_t skip);
// select / reject / selectattr / rejectattr.
Value select_items(std::string_view name, const Value& input, const Args& args, Budget& budget);

Value map_items(const Value& input, const Args& args, Budget& budget);
// Python's str.splitlines().
std::vector<std::string> split_lines(const std::string& text);

// jinja2's `indent` filter.
std::string jinja_indent(std::string text, const std::string& indentation, bool first, bool blank, Budget& budget);

std::string_view resolve(std::string_view name, const std::map<std::string, std::string, std::less<>>& aliases);

}  // namespace kiln::engine::jinja::lib
