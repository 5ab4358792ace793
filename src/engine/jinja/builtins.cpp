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

namespace kiln::engine::jinja {

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

namespace {

[[noreturn]] void fail(const std::string& message) { throw EvalError(message); }

std::string object_name(const Value& value) { return fmt::format("'{}' object", type_name(value)); }

// a * b, saturating.
size_t product(size_t a, size_t b) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a)
    return std::numeric_limits<size_t>::max();
  return a * b;
}

// ---- argument binding ----

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

const std::string& string_arg(std::string_view what, const Value& value) {
  if (!value.is_string()) fail(fmt::format("{} needs a string, not {}", what, type_name(value)));
  return value.as_string();
}

int64_t int_arg(std::string_view what, const Value& value) {
  if (!value.is_int() && !value.is_bool()) {
    fail(fmt::format("{} needs an integer, not {}", what, type_name(value)));
  }
  return value.as_int();
}

// ---- strings ----

bool is_stray_byte(std::string_view unit) {
  return unit.size() == 1 && (static_cast<uint8_t>(unit[0]) & 0x80) != 0;
}

bool unit_is_space(std::string_view unit) {
  return !is_stray_byte(unit) && is_python_space(decode_code_point(unit));
}

// str.strip / lstrip / rstrip, with whitespace or with the characters of `chars`.
std::string py_strip(const std::string& text, const std::optional<std::string>& chars, bool left,
                     bool right, Budget& budget) {
  budget.work(text.size());
  const auto units = split_code_points(text);
  std::vector<std::string_view> char_set;
  if (chars) char_set = split_code_points(*chars);
  const auto strip_it = [&](std::string_view unit) {
    if (!chars) return unit_is_space(unit);
    return std::find(char_set.begin(), char_set.end(), unit) != char_set.end();
  };
  size_t begin = 0;
  size_t end = units.size();
  if (left) {
    while (begin < end && strip_it(units[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip_it(units[end - 1])) --end;
  }
  if (begin == end) return {};
  const size_t from = static_cast<size_t>(units[begin].data() - text.data());
  const size_t to =
      static_cast<size_t>(units[end - 1].data() - text.data()) + units[end - 1].size();
  return text.substr(from, to - from);
}

// Case mapping is ASCII-only: other characters pass unchanged.
char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; }
char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
bool ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string to_upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), ascii_upper);
  return text;
}

std::string to_lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), ascii_lower);
  return text;
}

// str.capitalize(): the first character upper case, the rest lower case.
std::string py_capitalize(std::string text) {
  text = to_lower(std::move(text));
  if (!text.empty()) text[0] = ascii_upper(text[0]);
  return text;
}

// str.title(): a letter after a cased letter is lower case, any other letter upper case.
std::string py_title(std::string text) {
  bool previous_cased = false;
  for (char& c : text) {
    if (ascii_letter(c)) {
      c = previous_cased ? ascii_lower(c) : ascii_upper(c);
      previous_cased = true;
    } else {
      // A byte of a non-ASCII character counts as cased: it has no ASCII case to change.
      previous_cased = (static_cast<uint8_t>(c) & 0x80) != 0;
    }
  }
  return text;
}

// jinja2's `title` filter: words begin after '-', whitespace, '(', '{', '[' or '<'; each word
// gets its first character upper case and the rest lower case.
std::string jinja_title(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool word_start = true;
  for (std::string_view unit : split_code_points(text)) {
    const bool separator =
        (unit.size() == 1 && std::string_view("-({[<").find(unit[0]) != std::string_view::npos) ||
        unit_is_space(unit);
    if (separator) {
      out += unit;
      word_start = true;
    } else if (unit.size() == 1) {
      out += word_start ? ascii_upper(unit[0]) : ascii_lower(unit[0]);
      word_start = false;
    } else {
      out += unit;
      word_start = false;
    }
  }
  return out;
}

std::string py_replace(const std::string& text, const std::string& old_text,
                       const std::string& new_text, int64_t count, Budget& budget) {
  if (count < 0) count = std::numeric_limits<int64_t>::max();
  std::string out;
  if (old_text.empty()) {
    // Python inserts `new_text` before every character and at the end.
    const auto units = split_code_points(text);
    budget.string_bytes(
        text.size() +
        product(new_text.size(), std::min<size_t>(units.size() + 1, static_cast<size_t>(count))));
    int64_t done = 0;
    for (std::string_view unit : units) {
      if (done < count) {
        out += new_text;
        ++done;
      }
      out += unit;
    }
    if (done < count) out += new_text;
    return out;
  }
  budget.work(product(text.size(), old_text.size()));
  size_t pos = 0;
  int64_t done = 0;
  while (done < count) {
    const size_t found = text.find(old_text, pos);
    if (found == std::string::npos) break;
    budget.string_bytes(out.size() + (found - pos) + new_text.size());
    out.append(text, pos, found - pos);
    out += new_text;
    pos = found + old_text.size();
    ++done;
  }
  budget.string_bytes(out.size() + text.size() - pos);
  out.append(text, pos, std::string::npos);
  return out;
}

std::vector<Value> py_split(const std::string& text, const std::optional<std::string>& separator,
                            int64_t max_split, Budget& budget) {
  if (max_split < 0) max_split = std::numeric_limits<int64_t>::max();
  std::vector<Value> parts;
  if (!separator) {
    // Runs of whitespace separate; leading and trailing whitespace make no empty parts.
    budget.work(text.size());
    const auto units = split_code_points(text);
    size_t i = 0;
    while (i < units.size()) {
      while (i < units.size() && unit_is_space(units[i])) ++i;
      if (i == units.size()) break;
      const size_t begin = static_cast<size_t>(units[i].data() - text.data());
      if (static_cast<int64_t>(parts.size()) == max_split) {
        // The rest, with trailing whitespace removed.
        size_t end = units.size();
        while (end > i && unit_is_space(units[end - 1])) --end;
        const size_t to =
            static_cast<size_t>(units[end - 1].data() - text.data()) + units[end - 1].size();
        parts.emplace_back(text.substr(begin, to - begin));
        break;
      }
      while (i < units.size() && !unit_is_space(units[i])) ++i;
      const size_t end =
          i == units.size() ? text.size() : static_cast<size_t>(units[i].data() - text.data());
      parts.emplace_back(text.substr(begin, end - begin));
      budget.steps(1);
    }
    return parts;
  }
  if (separator->empty()) fail("split: empty separator");
  budget.work(product(text.size(), separator->size()));
  size_t pos = 0;
  while (static_cast<int64_t>(parts.size()) < max_split) {
    const size_t found = text.find(*separator, pos);
    if (found == std::string::npos) break;
    parts.emplace_back(text.substr(pos, found - pos));
    budget.steps(1);
    pos = found + separator->size();
  }
  parts.emplace_back(text.substr(pos));
  return parts;
}

bool starts_or_ends_with(std::string_view what, const std::string& text, const Value& affix,
                         bool at_start) {
  const auto test_one = [&](const Value& candidate) {
    const std::string& a = string_arg(what, candidate);
    if (a.size() > text.size()) return false;
    return at_start ? text.compare(0, a.size(), a) == 0
                    : text.compare(text.size() - a.size(), a.size(), a) == 0;
  };
  if (affix.is_list() && affix.as_list().is_tuple) {
    for (const Value& candidate : affix.as_list().items) {
      if (test_one(candidate)) return true;
    }
    return false;
  }
  return test_one(affix);
}

std::string str_of(const Value& value, Budget& budget) {
  std::string text = to_str(value, budget.max_value_bytes());
  budget.work(text.size());
  return text;
}

// ---- numbers ----

Value checked_int(bool overflow, int64_t result, std::string_view op) {
  if (overflow) fail(fmt::format("integer overflow in '{}' (kiln's integers are 64-bit)", op));
  return Value(result);
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t floor_mod(int64_t a, int64_t b) {
  int64_t m = a % b;
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

// Python's float divmod.
std::pair<double, double> float_divmod(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0) {
    if ((b < 0) != (mod < 0)) {
      mod += b;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, b);
  }
  double floor_div = 0.0;
  if (div != 0.0) {
    floor_div = std::floor(div);
    if (div - floor_div > 0.5) floor_div += 1.0;
  } else {
    floor_div = std::copysign(0.0, a / b);
  }
  return {floor_div, mod};
}

Value int_power(int64_t base, int64_t exponent) {
  int64_t result = 1;
  while (exponent > 0) {
    if (exponent & 1) {
      if (__builtin_mul_overflow(result, base, &result)) return checked_int(true, 0, "**");
    }
    exponent >>= 1;
    if (exponent > 0 && __builtin_mul_overflow(base, base, &base))
      return checked_int(true, 0, "**");
  }
  return Value(result);
}

Value repeat(const Value& sequence, int64_t times, Budget& budget) {
  const size_t count = times > 0 ? static_cast<size_t>(times) : 0;
  if (sequence.is_string()) {
    const std::string& text = sequence.as_string();
    budget.string_bytes(product(text.size(), count));
    std::string out;
    out.reserve(text.size() * count);
    for (size_t i = 0; i < count; ++i) out += text;
    return Value(std::move(out));
  }
  const List& list = sequence.as_list();
  const size_t total = product(list.items.size(), count);
  budget.steps(static_cast<int64_t>(std::min<size_t>(total, std::numeric_limits<int64_t>::max())));
  std::vector<Value> items;
  items.reserve(total);
  for (size_t i = 0; i < count; ++i)
    items.insert(items.end(), list.items.begin(), list.items.end());
  return Value::list(std::move(items), list.is_tuple);
}

// Python's printf-style `format % values`, for the conversions s r d i f and %%, with optional
// '-' and '0' flags, a width and a precision.
std::string percent_format(const std::string& format, const Value& values, Budget& budget) {
  std::vector<Value> args;
  bool mapping_like = false;  // Python does not complain about unused arguments then
  if (values.is_list() && values.as_list().is_tuple) {
    args = values.as_list().items;
  } else {
    args.push_back(values);
    mapping_like = values.is_list() || values.is_dict();
  }
  size_t next_arg = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i == format.size()) fail("incomplete format");
    if (format[i] == '(') fail("string formatting with '%(name)' is not supported");
    bool left_align = false;
    bool zero_pad = false;
    for (; i < format.size() && (format[i] == '-' || format[i] == '0'); ++i) {
      left_align = left_align || format[i] == '-';
      zero_pad = zero_pad || format[i] == '0';
    }
    size_t width = 0;
    for (; i < format.size() && format[i] >= '0' && format[i] <= '9'; ++i) {
      width = std::min<size_t>(width * 10 + static_cast<size_t>(format[i] - '0'), 4096);
    }
    int precision = -1;
    if (i < format.size() && format[i] == '.') {
      precision = 0;
      for (++i; i < format.size() && format[i] >= '0' && format[i] <= '9'; ++i) {
        precision = std::min(precision * 10 + (format[i] - '0'), 100);
      }
    }
    if (i == format.size()) fail("incomplete format");
    const char conversion = format[i];
    if (conversion == '%') {
      out += '%';
      continue;
    }
    if (next_arg == args.size()) fail("not enough arguments for format string");
    const Value& arg = args[next_arg++];
    std::string text;
    bool numeric = false;
    switch (conversion) {
      case 's': text = to_str(arg, budget.max_value_bytes()); break;
      case 'r': text = to_repr(arg, budget.max_value_bytes()); break;
      case 'd':
      case 'i':
        if (!arg.is_number()) {
          fail(fmt::format("%{} format: a real number is required, not {}", conversion,
                           type_name(arg)));
        }
        if (arg.is_float()) {
          const double d = std::trunc(arg.as_double());
          if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) fail("integer overflow in '%d'");
          text = std::to_string(static_cast<int64_t>(d));
        } else {
          text = std::to_string(arg.as_int());
        }
        numeric = true;
        break;
      case 'f':
      case 'F':
        if (!arg.is_number()) {
          fail(fmt::format("%{} format: a real number is required, not {}", conversion,
                           type_name(arg)));
        }
        text = fmt::format("{:.{}f}", arg.as_double(), precision < 0 ? 6 : precision);
        numeric = true;
        break;
      default: fail(fmt::format("unsupported format character '{}'", conversion));
    }
    if (conversion == 's' || conversion == 'r') {
      if (precision >= 0) {
        const auto units = split_code_points(text);
        if (units.size() > static_cast<size_t>(precision)) {
          text = text.substr(
              0, static_cast<size_t>(units[static_cast<size_t>(precision)].data() - text.data()));
        }
      }
    }
    const size_t length = count_code_points(text);
    if (length < width) {
      const size_t pad = width - length;
      if (left_align) {
        text += std::string(pad, ' ');
      } else if (zero_pad && numeric) {
        const size_t sign = !text.empty() && text[0] == '-' ? 1 : 0;
        text.insert(sign, std::string(pad, '0'));
      } else {
        text.insert(0, std::string(pad, ' '));
      }
    }
    budget.string_bytes(out.size() + text.size());
    out += text;
  }
  if (next_arg < args.size() && !mapping_like) {
    fail("not all arguments converted during string formatting");
  }
  return out;
}

[[noreturn]] void operand_error(std::string_view op, const Value& left, const Value& right) {
  if (left.is_undefined()) undefined_error(left);
  if (right.is_undefined()) undefined_error(right);
  fail(fmt::format("unsupported operand types for {}: '{}' and '{}'", op, type_name(left),
                   type_name(right)));
}

// ---- sequences ----

// Python's slice index adjustment.
void adjust_slice(int64_t length, const Value& start_value, const Value& stop_value, int64_t step,
                  int64_t& start, int64_t& stop) {
  const auto index = [&](const Value& v, int64_t fallback) -> int64_t {
    if (v.is_none() || v.is_undefined()) return fallback;
    return int_arg("a slice index", v);
  };
  if (step > 0) {
    start = index(start_value, 0);
    stop = index(stop_value, length);
    const auto clamp = [&](int64_t i) {
      if (i < 0) i = std::max<int64_t>(i + length, 0);
      return std::min(i, length);
    };
    start = clamp(start);
    stop = clamp(stop);
  } else {
    start = index(start_value, length - 1);
    stop = index(stop_value, -1 - length);
    const auto clamp = [&](int64_t i) {
      if (i < 0) i = std::max<int64_t>(i + length, -1);
      return std::min(i, length - 1);
    };
    start = clamp(start);
    stop = clamp(stop);
  }
}

std::vector<size_t> slice_indices(int64_t length, const Value& start_value, const Value& stop_value,
                                  const Value& step_value) {
  const int64_t step =
      step_value.is_none() || step_value.is_undefined() ? 1 : int_arg("a slice step", step_value);
  if (step == 0) fail("slice step cannot be zero");
  int64_t start = 0;
  int64_t stop = 0;
  adjust_slice(length, start_value, stop_value, step, start, stop);
  std::vector<size_t> indices;
  if (step > 0) {
    for (int64_t i = start; i < stop; i += step) indices.push_back(static_cast<size_t>(i));
  } else {
    for (int64_t i = start; i > stop; i += step) indices.push_back(static_cast<size_t>(i));
  }
  return indices;
}

bool contains(const Value& container, const Value& item, Budget& budget) {
  switch (container.kind()) {
    case Value::Kind::string: {
      if (!item.is_string()) {
        if (item.is_undefined()) undefined_error(item);
        fail(fmt::format("'in <string>' requires a string as left operand, not {}",
                         type_name(item)));
      }
      const std::string& text = container.as_string();
      budget.work(product(text.size(), std::max<size_t>(1, item.as_string().size())));
      return text.find(item.as_string()) != std::string::npos;
    }
    case Value::Kind::list: {
      const auto& items = container.as_list().items;
      budget.steps(static_cast<int64_t>(items.size()));
      return std::any_of(items.begin(), items.end(),
                         [&](const Value& candidate) { return equals(candidate, item); });
    }
    case Value::Kind::dict:
      if ((item.is_list() && !item.as_list().is_tuple) || item.is_dict() || item.is_namespace()) {
        fail(fmt::format("unhashable type: '{}'", type_name(item)));
      }
      return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
    case Value::Kind::undefined: return false;
    default: fail(fmt::format("argument of type '{}' is not iterable", type_name(container)));
  }
}

Value first_or_last(const Value& input, bool first, Budget& budget) {
  if (input.is_undefined()) return Value(Undefined{"the sequence is undefined"});
  const std::vector<Value> items = iterate(input, budget);
  if (items.empty())
    return Value(
        Undefined{fmt::format("No {} item, sequence was empty.", first ? "first" : "last")});
  return first ? items.front() : items.back();
}

// A float truncated as Python's int() does; nothing for NaN (a ValueError, which jinja2's int
// filter turns into its default). Python's result past 64 bits, or its OverflowError for an
// infinity, is an error here: a default in its place would be a wrong value, silently.
std::optional<int64_t> truncate_float(double d) {
  if (std::isnan(d)) return std::nullopt;
  if (std::isinf(d)) fail("cannot convert float infinity to integer");
  if (std::fabs(d) >= 9.2e18) fail("integer overflow in filter 'int' (kiln's integers are 64-bit)");
  return static_cast<int64_t>(d);
}

// Python's int(): from an int, a float (truncated), a bool, or a string in `base`.
std::optional<int64_t> parse_int(const Value& value, int64_t base) {
  if (value.is_int() || value.is_bool()) return value.as_int();
  if (value.is_float()) return truncate_float(value.as_double());
  if (!value.is_string()) return std::nullopt;
  std::string text = value.as_string();
  // Python allows surrounding whitespace, a sign and underscores between digits.
  size_t begin = text.find_first_not_of(" \t\n\r\f\v");
  size_t end = text.find_last_not_of(" \t\n\r\f\v");
  if (begin == std::string::npos) return std::nullopt;
  text = text.substr(begin, end - begin + 1);
  bool negative = false;
  size_t pos = 0;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    pos = 1;
  }
  if (base == 0 || base == 16 || base == 8 || base == 2) {
    if (pos + 1 < text.size() && text[pos] == '0') {
      const char p = static_cast<char>(text[pos + 1] | 0x20);
      const int64_t prefix_base = p == 'x' ? 16 : (p == 'o' ? 8 : (p == 'b' ? 2 : 0));
      if (prefix_base != 0 && (base == 0 || base == prefix_base)) {
        base = prefix_base;
        pos += 2;
      }
    }
    if (base == 0) base = 10;
  }
  if (base < 2 || base > 36 || pos >= text.size()) return std::nullopt;
  int64_t result = 0;
  bool any = false;
  for (; pos < text.size(); ++pos) {
    const char c = text[pos];
    if (c == '_' && any && pos + 1 < text.size()) continue;
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') digit = (c | 0x20) - 'a' + 10;
    if (digit < 0 || digit >= base) return std::nullopt;
    if (__builtin_mul_overflow(result, base, &result) ||
        __builtin_add_overflow(result, digit, &result)) {
      fail("integer overflow in filter 'int' (kiln's integers are 64-bit)");
    }
    any = true;
  }
  if (!any) return std::nullopt;
  return negative ? -result : result;
}

std::optional<double> parse_float(const Value& value) {
  if (value.is_number()) return value.as_double();
  if (!value.is_string()) return std::nullopt;
  const std::string& text = value.as_string();
  size_t begin = text.find_first_not_of(" \t\n\r\f\v");
  if (begin == std::string::npos) return std::nullopt;
  size_t end = text.find_last_not_of(" \t\n\r\f\v");
  std::string trimmed = text.substr(begin, end - begin + 1);
  trimmed.erase(std::remove(trimmed.begin(), trimmed.end(), '_'), trimmed.end());
  char* parse_end = nullptr;
  const double d = std::strtod(trimmed.c_str(), &parse_end);
  if (parse_end != trimmed.c_str() + trimmed.size()) return std::nullopt;
  return d;
}

// An attribute path of `map`, `selectattr`, `join(attribute=)`: "a.b" and "0" look into items.
Value attribute_path(const Value& item, const std::string& path) {
  Value current = item;
  size_t pos = 0;
  while (pos <= path.size()) {
    const size_t dot = path.find('.', pos);
    const std::string part =
        path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
    current = numeric && part.size() < 18
                  ? get_item(current, Value(static_cast<int64_t>(std::stoll(part))))
                  : get_item(current, Value(part));
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return current;
}

Args rest_args(const Args& args, size_t skip) {
  Args rest;
  rest.positional.assign(
      args.positional.begin() + static_cast<long>(std::min(skip, args.positional.size())),
      args.positional.end());
  rest.keywords = args.keywords;
  return rest;
}

// select / reject / selectattr / rejectattr.
Value select_items(std::string_view name, const Value& input, const Args& args, Budget& budget) {
  const bool by_attribute = name == "selectattr" || name == "rejectattr";
  const bool keep_matches = name == "select" || name == "selectattr";
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    if (args.positional.empty()) fail(fmt::format("filter '{}' needs an attribute name", name));
    attribute = string_arg(fmt::format("filter '{}'", name), args.positional[0]);
    next = 1;
  }
  std::string test;
  if (args.positional.size() > next) {
    test = string_arg(fmt::format("filter '{}'", name), args.positional[next]);
    ++next;
  }
  if (!test.empty() && !has_test(test)) fail(fmt::format("no test named '{}'", test));
  const Args test_args = rest_args(args, next);
  std::vector<Value> kept;
  if (!truthy(input)) return Value::list({});  // jinja2 checks `if value:` before iterating
  for (const Value& item : iterate(input, budget)) {
    const Value subject = by_attribute ? attribute_path(item, attribute) : item;
    const bool match =
        test.empty() ? truthy(subject) : apply_test(test, subject, test_args, budget);
    if (match == keep_matches) kept.push_back(item);
  }
  return Value::list(std::move(kept));
}

Value map_items(const Value& input, const Args& args, Budget& budget) {
  std::vector<Value> mapped;
  if (!truthy(input)) return Value::list({});  // jinja2 checks `if value:` before iterating
  const Value* attribute = nullptr;
  const Value* fallback = nullptr;
  for (const auto& [key, value] : args.keywords) {
    if (key == "attribute") {
      attribute = &value;
    } else if (key == "default") {
      fallback = &value;
    }
  }
  if (attribute != nullptr) {
    const std::string& path = string_arg("filter 'map'", *attribute);
    for (const Value& item : iterate(input, budget)) {
      Value value = attribute_path(item, path);
      if (value.is_undefined() && fallback != nullptr) value = *fallback;
      mapped.push_back(std::move(value));
    }
    return Value::list(std::move(mapped));
  }
  if (args.positional.empty()) fail("filter 'map' needs a filter name or attribute=");
  const std::string& filter = string_arg("filter 'map'", args.positional[0]);
  if (!has_filter(filter) || filter == "map") fail(fmt::format("no filter named '{}'", filter));
  const Args filter_args = rest_args(args, 1);
  for (const Value& item : iterate(input, budget)) {
    mapped.push_back(apply_filter(filter, item, filter_args, budget));
  }
  return Value::list(std::move(mapped));
}

// Python's str.splitlines().
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  const auto units = split_code_points(text);
  for (size_t i = 0; i < units.size(); ++i) {
    const uint32_t cpt = is_stray_byte(units[i]) ? 0xFFFFFFFF : decode_code_point(units[i]);
    const bool breaks = cpt == '\n' || cpt == '\r' || cpt == 0x0B || cpt == 0x0C || cpt == 0x1C ||
                        cpt == 0x1D || cpt == 0x1E || cpt == 0x85 || cpt == 0x2028 || cpt == 0x2029;
    if (!breaks) {
      line += units[i];
      continue;
    }
    if (cpt == '\r' && i + 1 < units.size() && units[i + 1] == "\n") ++i;
    lines.push_back(std::move(line));
    line.clear();
  }
  if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

// jinja2's `indent` filter.
std::string jinja_indent(std::string text, const std::string& indentation, bool first, bool blank,
                         Budget& budget) {
  text += '\n';  // jinja2 appends one, for splitlines
  const std::vector<std::string> lines = split_lines(text);
  budget.string_bytes(text.size() + product(indentation.size(), lines.size() + 1));
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out += '\n';
      if (blank || !lines[i].empty()) out += indentation;
    }
    out += lines[i];
  }
  if (first) out.insert(0, indentation);
  return out;
}

// ---- filters ----

using FilterFn = std::function<Value(const Value&, const Args&, Budget&)>;

const std::map<std::string, FilterFn, std::less<>>& filters() {
  static const auto* table = new std::map<std::string, FilterFn, std::less<>>{
      {"trim",
       [](const Value& input, const Args& args, Budget& budget) {
         const Bound bound("filter 'trim'", args, {"chars"});
         std::optional<std::string> chars;
         if (bound.has(0)) chars = string_arg("filter 'trim'", bound[0]);
         return Value(py_strip(str_of(input, budget), chars, true, true, budget));
       }},
      {"upper",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'upper'", args, {});
         return Value(to_upper(str_of(input, budget)));
       }},
      {"lower",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'lower'", args, {});
         return Value(to_lower(str_of(input, budget)));
       }},
      {"capitalize",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'capitalize'", args, {});
         return Value(py_capitalize(str_of(input, budget)));
       }},
      {"title",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'title'", args, {});
         return Value(jinja_title(str_of(input, budget)));
       }},
      {"length",
       [](const Value& input, const Args& args, Budget&) {
         Bound("filter 'length'", args, {});
         switch (input.kind()) {
           case Value::Kind::undefined: return Value(0);
           case Value::Kind::string:
             return Value(static_cast<int64_t>(count_code_points(input.as_string())));
           case Value::Kind::list: return Value(static_cast<int64_t>(input.as_list().items.size()));
           case Value::Kind::dict:
             return Value(static_cast<int64_t>(input.as_dict().entries.size()));
           default: fail(fmt::format("object of type '{}' has no len()", type_name(input)));
         }
       }},
      {"string",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'string'", args, {});
         return Value(str_of(input, budget));
       }},
      {"safe",
       [](const Value& input, const Args& args, Budget&) {
         Bound("filter 'safe'", args, {});
         return input;
       }},
      {"tojson",
       [](const Value& input, const Args& args, Budget& budget) {
         // HF's tojson: json.dumps(x, ensure_ascii=False, indent=indent, separators=None,
         // sort_keys=False).
         const Bound bound("filter 'tojson'", args,
                           {"ensure_ascii", "indent", "separators", "sort_keys"});
         if (bound.has(0) && truthy(bound[0]))
           fail("filter 'tojson': ensure_ascii=True is not supported");
         if (bound.has(2)) fail("filter 'tojson': separators= is not supported");
         if (bound.has(3) && truthy(bound[3]))
           fail("filter 'tojson': sort_keys=True is not supported");
         int indent = -1;
         if (bound.has(1)) {
           const int64_t requested = int_arg("filter 'tojson' indent", bound[1]);
           indent = static_cast<int>(std::clamp<int64_t>(requested, 0, 64));
         }
         bool ok = true;
         std::string bad_type;
         std::string json = to_json(input, indent, budget.max_value_bytes(), ok, bad_type);
         if (!ok) fail(fmt::format("Object of type {} is not JSON serializable", bad_type));
         budget.work(json.size());
         return Value(std::move(json));
       }},
      {"join",
       [](const Value& input, const Args& args, Budget& budget) {
         const Bound bound("filter 'join'", args, {"d", "attribute"});
         const std::string separator = bound.has(0) ? str_of(bound[0], budget) : std::string();
         std::optional<std::string> attribute;
         if (bound.has(1)) attribute = string_arg("filter 'join' attribute", bound[1]);
         std::string out;
         bool first = true;
         for (const Value& item : iterate(input, budget)) {
           const std::string text =
               str_of(attribute ? attribute_path(item, *attribute) : item, budget);
           budget.string_bytes(out.size() + separator.size() + text.size());
           if (!first) out += separator;
           first = false;
           out += text;
         }
         return Value(std::move(out));
       }},
      {"default",
       [](const Value& input, const Args& args, Budget&) {
         const Bound bound("filter 'default'", args, {"default_value", "boolean"});
         const bool use_default = input.is_undefined() || (truthy(bound[1]) && !truthy(input));
         if (!use_default) return input;
         return bound.present(0) ? bound[0] : Value(std::string());
       }},
      {"first",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'first'", args, {});
         return first_or_last(input, true, budget);
       }},
      {"last",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'last'", args, {});
         return first_or_last(input, false, budget);
       }},
      {"replace",
       [](const Value& input, const Args& args, Budget& budget) {
         const Bound bound("filter 'replace'", args, {"old", "new", "count"}, 2);
         const int64_t count = bound.has(2) ? int_arg("filter 'replace' count", bound[2]) : -1;
         return Value(py_replace(str_of(input, budget), str_of(bound[0], budget),
                                 str_of(bound[1], budget), count, budget));
       }},
      {"items",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'items'", args, {});
         if (input.is_undefined()) return Value::list({});
         if (!input.is_dict()) fail("filter 'items': can only get item pairs from a mapping");
         std::vector<Value> pairs;
         budget.steps(static_cast<int64_t>(input.as_dict().entries.size()));
         for (const auto& [key, value] : input.as_dict().entries) {
           pairs.push_back(Value::list({Value(key), value}, true));
         }
         return Value::list(std::move(pairs));
       }},
      {"list",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'list'", args, {});
         return Value::list(iterate(input, budget));
       }},
      {"indent",
       [](const Value& input, const Args& args, Budget& budget) {
         const Bound bound("filter 'indent'", args, {"width", "first", "blank"});
         const std::string indentation =
             !bound.present(0) ? std::string(4, ' ')
             : bound[0].is_string()
                 ? bound[0].as_string()
                 : std::string(static_cast<size_t>(std::clamp<int64_t>(
                                   int_arg("filter 'indent' width", bound[0]), 0, 256)),
                               ' ');
         return Value(jinja_indent(str_of(input, budget), indentation, truthy(bound[1]),
                                   truthy(bound[2]), budget));
       }},
      {"reverse",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'reverse'", args, {});
         if (input.is_string()) {
           auto units = split_code_points(input.as_string());
           budget.work(input.as_string().size());
           std::string out;
           for (auto it = units.rbegin(); it != units.rend(); ++it) out += *it;
           return Value(std::move(out));
         }
         std::vector<Value> items = iterate(input, budget);
         std::reverse(items.begin(), items.end());
         return Value::list(std::move(items));
       }},
      {"int",
       [](const Value& input, const Args& args, Budget&) {
         const Bound bound("filter 'int'", args, {"default", "base"});
         if (input.is_undefined()) undefined_error(input);
         const int64_t base = bound.has(1) ? int_arg("filter 'int' base", bound[1]) : 10;
         if (auto parsed = parse_int(input, input.is_string() ? base : 10)) return Value(*parsed);
         // jinja2 then tries int(float(value)).
         if (auto as_float = parse_float(input)) {
           if (auto truncated = truncate_float(*as_float)) return Value(*truncated);
         }
         return bound.present(0) ? bound[0] : Value(0);
       }},
      {"float",
       [](const Value& input, const Args& args, Budget&) {
         const Bound bound("filter 'float'", args, {"default"});
         if (input.is_undefined()) undefined_error(input);
         if (auto parsed = parse_float(input)) return Value(*parsed);
         return bound.present(0) ? bound[0] : Value(0.0);
       }},
      {"abs",
       [](const Value& input, const Args& args, Budget&) {
         Bound("filter 'abs'", args, {});
         if (input.is_float()) return Value(std::fabs(input.as_double()));
         if (input.is_int() || input.is_bool()) {
           const int64_t v = input.as_int();
           if (v == std::numeric_limits<int64_t>::min()) fail("integer overflow in 'abs'");
           return Value(v < 0 ? -v : v);
         }
         if (input.is_undefined()) undefined_error(input);
         fail(fmt::format("bad operand type for abs(): '{}'", type_name(input)));
       }},
      {"map", map_items},
      {"select",
       [](const Value& i, const Args& a, Budget& b) { return select_items("select", i, a, b); }},
      {"reject",
       [](const Value& i, const Args& a, Budget& b) { return select_items("reject", i, a, b); }},
      {"selectattr", [](const Value& i, const Args& a,
                        Budget& b) { return select_items("selectattr", i, a, b); }},
      {"rejectattr", [](const Value& i, const Args& a,
                        Budget& b) { return select_items("rejectattr", i, a, b); }},
  };
  return *table;
}

const std::map<std::string, std::string, std::less<>>& filter_aliases() {
  static const auto* table =
      new std::map<std::string, std::string, std::less<>>{{"count", "length"}, {"d", "default"}};
  return *table;
}

// ---- tests ----

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

std::string_view resolve(std::string_view name,
                         const std::map<std::string, std::string, std::less<>>& aliases) {
  const auto it = aliases.find(name);
  return it == aliases.end() ? name : std::string_view(it->second);
}

// ---- methods ----

constexpr std::string_view kStringMethods[] = {
    "strip", "lstrip",  "rstrip", "startswith", "endswith", "split", "upper",
    "lower", "replace", "title",  "capitalize", "find",     "count", "join",
};
constexpr std::string_view kDictMethods[] = {"items", "keys", "values", "get"};

Value call_string_method(const std::string& name, const std::string& text, const Args& args,
                         Budget& budget) {
  const std::string what = fmt::format("str.{}()", name);
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Bound bound(what, args, {"chars"});
    std::optional<std::string> chars;
    if (bound.has(0)) chars = string_arg(what, bound[0]);
    return Value(py_strip(text, chars, name != "rstrip", name != "lstrip", budget));
  }
  if (name == "startswith" || name == "endswith") {
    const Bound bound(what, args, {"prefix"}, 1);
    return Value(starts_or_ends_with(what, text, bound[0], name == "startswith"));
  }
  if (name == "split") {
    const Bound bound(what, args, {"sep", "maxsplit"});
    std::optional<std::string> separator;
    if (bound.has(0)) separator = string_arg(what, bound[0]);
    const int64_t max_split = bound.has(1) ? int_arg(what, bound[1]) : -1;
    return Value::list(py_split(text, separator, max_split, budget));
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    Bound(what, args, {});
    budget.work(text.size());
    if (name == "upper") return Value(to_upper(text));
    if (name == "lower") return Value(to_lower(text));
    if (name == "title") return Value(py_title(text));
    return Value(py_capitalize(text));
  }
  if (name == "replace") {
    const Bound bound(what, args, {"old", "new", "count"}, 2);
    const int64_t count = bound.has(2) ? int_arg(what, bound[2]) : -1;
    return Value(
        py_replace(text, string_arg(what, bound[0]), string_arg(what, bound[1]), count, budget));
  }
  if (name == "find" || name == "count") {
    const Bound bound(what, args, {"sub"}, 1);
    const std::string& needle = string_arg(what, bound[0]);
    budget.work(product(text.size(), std::max<size_t>(1, needle.size())));
    if (name == "find") {
      const size_t found = text.find(needle);
      if (found == std::string::npos) return Value(-1);
      return Value(
          static_cast<int64_t>(count_code_points(std::string_view(text).substr(0, found))));
    }
    if (needle.empty()) return Value(static_cast<int64_t>(count_code_points(text) + 1));
    int64_t count = 0;
    for (size_t pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + needle.size())) {
      ++count;
    }
    return Value(count);
  }
  if (name == "join") {
    const Bound bound(what, args, {"iterable"}, 1);
    std::string out;
    bool first = true;
    for (const Value& item : iterate(bound[0], budget)) {
      const std::string& part = string_arg(what, item);
      budget.string_bytes(out.size() + text.size() + part.size());
      if (!first) out += text;
      first = false;
      out += part;
    }
    return Value(std::move(out));
  }
  fail(fmt::format("'str' object has no attribute '{}'", name));
}

Value call_dict_method(const std::string& name, const Dict& dict, const Args& args,
                       Budget& budget) {
  const std::string what = fmt::format("dict.{}()", name);
  if (name == "get") {
    const Bound bound(what, args, {"key", "default"}, 1);
    const Value* found = bound[0].is_string() ? dict.find(bound[0].as_string()) : nullptr;
    if (found != nullptr) return *found;
    return bound.present(1) ? bound[1] : Value(None{});
  }
  Bound(what, args, {});
  budget.steps(static_cast<int64_t>(dict.entries.size()));
  std::vector<Value> out;
  for (const auto& [key, value] : dict.entries) {
    if (name == "items") {
      out.push_back(Value::list({Value(key), value}, true));
    } else if (name == "keys") {
      out.emplace_back(key);
    } else {
      out.push_back(value);
    }
  }
  return Value::list(std::move(out));
}

// ---- global functions ----

Value call_range(const Args& args, Budget& budget) {
  if (!args.keywords.empty()) fail("range() takes no keyword arguments");
  if (args.positional.empty() || args.positional.size() > 3) {
    fail(fmt::format("range expected 1 to 3 arguments, got {}", args.positional.size()));
  }
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  if (args.positional.size() == 1) {
    stop = int_arg("range()", args.positional[0]);
  } else {
    start = int_arg("range()", args.positional[0]);
    stop = int_arg("range()", args.positional[1]);
    if (args.positional.size() == 3) step = int_arg("range()", args.positional[2]);
  }
  if (step == 0) fail("range() arg 3 must not be zero");
  // jinja2's sandbox refuses ranges of more than MAX_RANGE items.
  constexpr int64_t kMaxRange = 100000;
  const long double length = step > 0 ? (static_cast<long double>(stop) - start + step - 1) / step
                                      : (static_cast<long double>(start) - stop - step - 1) / -step;
  if (length > kMaxRange) {
    fail(fmt::format("Range too big. The sandbox blocks ranges larger than MAX_RANGE ({}).",
                     kMaxRange));
  }
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) items.emplace_back(i);
  budget.steps(static_cast<int64_t>(items.size()));
  return Value::list(std::move(items));
}

Value make_dict_from_keywords(std::string_view what, const Args& args, bool forbid_namespaces) {
  Dict dict;
  for (const Value& positional : args.positional) {
    if (!positional.is_dict())
      fail(fmt::format("{} takes only a dict as positional argument", what));
    for (const auto& [key, value] : positional.as_dict().entries) dict.set(key, value);
  }
  if (args.positional.size() > 1) fail(fmt::format("{} takes at most 1 positional argument", what));
  for (const auto& [key, value] : args.keywords) dict.set(key, value);
  if (forbid_namespaces) {
    for (const auto& [key, value] : dict.entries) {
      if (value.has_namespace()) fail("a namespace cannot hold a namespace");
    }
  }
  return Value::dict(std::move(dict));
}

}  // namespace

// ---- public ----

void undefined_error(const Value& undefined) {
  const std::string& hint = undefined.undefined_hint();
  fail(hint.empty() ? std::string("an undefined value was used") : hint);
}

std::vector<std::pair<std::string, Value>> global_functions() {
  std::vector<std::pair<std::string, Value>> out;
  for (const char* name : {"range", "namespace", "dict", "raise_exception", "strftime_now"}) {
    auto function = std::make_shared<GlobalFunction>();
    function->name = name;
    out.emplace_back(name, Value(std::shared_ptr<const Callable>(std::move(function))));
  }
  return out;
}

Value call_builtin(const Callable& callable, const Args& args, Budget& budget) {
  if (const auto* method = dynamic_cast<const BoundMethod*>(&callable)) {
    if (method->receiver.is_string()) {
      return call_string_method(method->name, method->receiver.as_string(), args, budget);
    }
    return call_dict_method(method->name, method->receiver.as_dict(), args, budget);
  }
  const std::string& name = callable.name;
  if (name == "range") return call_range(args, budget);
  if (name == "dict") return make_dict_from_keywords("dict()", args, false);
  if (name == "namespace") {
    const Value attributes = make_dict_from_keywords("namespace()", args, true);
    auto ns = std::make_shared<Namespace>();
    ns->attributes = attributes.as_dict();
    return Value(std::move(ns));
  }
  if (name == "strftime_now") {
    // HF's global: the local date and time, formatted by strftime.
    const Bound bound("strftime_now()", args, {"format"}, 1);
    const std::string& format = string_arg("strftime_now()", bound[0]);
    if (format.size() > 256) fail("strftime_now(): the format is longer than 256 bytes");
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    std::string out(4096, '\0');
    const size_t length = std::strftime(out.data(), out.size(), format.c_str(), &local);
    out.resize(length);
    return Value(std::move(out));
  }
  if (name == "raise_exception") {
    const Bound bound("raise_exception()", args, {"message"});
    throw EvalError(fmt::format("raise_exception: {}", to_str(bound[0], budget.max_value_bytes())));
  }
  fail(fmt::format("'{}' is not callable", name));
}

Value bound_method(const Value& receiver, std::string_view name) {
  const auto bind = [&]() {
    auto method = std::make_shared<BoundMethod>();
    method->name = std::string(name);
    method->receiver = receiver;
    return Value(std::shared_ptr<const Callable>(std::move(method)));
  };
  if (receiver.is_string() && std::find(std::begin(kStringMethods), std::end(kStringMethods),
                                        name) != std::end(kStringMethods)) {
    return bind();
  }
  if (receiver.is_dict() &&
      std::find(std::begin(kDictMethods), std::end(kDictMethods), name) != std::end(kDictMethods)) {
    return bind();
  }
  return Value(Undefined{fmt::format("{} has no attribute '{}'", object_name(receiver), name)});
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

bool has_filter(std::string_view name) {
  return filters().count(resolve(name, filter_aliases())) > 0;
}

Value apply_filter(std::string_view name, const Value& input, const Args& args, Budget& budget) {
  const auto it = filters().find(resolve(name, filter_aliases()));
  if (it == filters().end())
    fail(fmt::format("filter '{}': no such filter in kiln's template engine", name));
  return it->second(input, args, budget);
}

bool has_test(std::string_view name) { return tests().count(resolve(name, test_aliases())) > 0; }

bool apply_test(std::string_view name, const Value& input, const Args& args, Budget& budget) {
  const auto it = tests().find(resolve(name, test_aliases()));
  if (it == tests().end())
    fail(fmt::format("test '{}': no such test in kiln's template engine", name));
  return it->second(input, args, budget);
}

}  // namespace kiln::engine::jinja
