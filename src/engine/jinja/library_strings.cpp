// Python's str semantics for the template library: strip, split, replace, case, title.
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

}  // namespace kiln::engine::jinja::lib
