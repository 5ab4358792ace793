#include "engine/jinja/library.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>

#include <fmt/format.h>

namespace kiln::engine::jinja::lib {

[[noreturn]] void fail(const std::string& message) { throw EvalError(message); }

std::string object_name(const Value& value) { return fmt::format("'{}' object", type_name(value)); }

// a * b, saturating.
size_t product(size_t a, size_t b) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a)
    return std::numeric_limits<size_t>::max();
  return a * b;
}

// ---- argument binding ----

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

std::string_view resolve(std::string_view name,
                         const std::map<std::string, std::string, std::less<>>& aliases) {
  const auto it = aliases.find(name);
  return it == aliases.end() ? name : std::string_view(it->second);
}

}  // namespace kiln::engine::jinja::lib
