// Sequences for the template library: slices, membership, conversions, select/map, lines and indentation.
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
