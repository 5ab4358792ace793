#include "engine/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace kiln::engine::jinja {

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Dict::set(std::string key, Value value) {
  for (auto& [k, v] : entries) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

namespace {

void check_depth(int depth) {
  if (depth > kMaxValueDepth) {
    throw EvalError(fmt::format("lists and dicts nested more than {} deep", kMaxValueDepth));
  }
}

}  // namespace

Value Value::list(std::vector<Value> items, bool is_tuple) {
  auto list = std::make_shared<List>();
  list->items = std::move(items);
  list->is_tuple = is_tuple;
  for (const Value& item : list->items) {
    list->depth = std::max(list->depth, item.depth() + 1);
    list->has_namespace = list->has_namespace || item.has_namespace();
  }
  check_depth(list->depth);
  return Value(std::shared_ptr<const List>(std::move(list)));
}

Value Value::dict(Dict dict) {
  dict.depth = 1;
  dict.has_namespace = false;
  for (const auto& [key, item] : dict.entries) {
    dict.depth = std::max(dict.depth, item.depth() + 1);
    dict.has_namespace = dict.has_namespace || item.has_namespace();
  }
  check_depth(dict.depth);
  return Value(std::shared_ptr<const Dict>(std::make_shared<Dict>(std::move(dict))));
}

int Value::depth() const {
  switch (kind()) {
    case Kind::list: return as_list().depth;
    case Kind::dict: return as_dict().depth;
    // Counted as one level: namespaces never hold namespaces (the interpreter refuses), so the
    // true nesting stays under twice the limit.
    case Kind::ns: return 1;
    default: return 0;
  }
}

bool Value::has_namespace() const {
  switch (kind()) {
    case Kind::list: return as_list().has_namespace;
    case Kind::dict: return as_dict().has_namespace;
    case Kind::ns: return true;
    case Kind::callable: return as_callable().holds_namespace();
    default: return false;
  }
}

int64_t Value::as_int() const {
  if (is_bool()) return as_bool() ? 1 : 0;
  return std::get<int64_t>(storage_);
}

double Value::as_double() const {
  if (is_float()) return std::get<double>(storage_);
  return static_cast<double>(as_int());
}

std::string_view type_name(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::undefined: return "Undefined";
    case Value::Kind::none: return "NoneType";
    case Value::Kind::boolean: return "bool";
    case Value::Kind::integer: return "int";
    case Value::Kind::floating: return "float";
    case Value::Kind::string: return "str";
    case Value::Kind::list: return value.as_list().is_tuple ? "tuple" : "list";
    case Value::Kind::dict: return "dict";
    case Value::Kind::ns: return "Namespace";
    case Value::Kind::callable: return "function";
  }
  return "object";
}

bool truthy(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::undefined:
    case Value::Kind::none: return false;
    case Value::Kind::boolean: return value.as_bool();
    case Value::Kind::integer: return value.as_int() != 0;
    case Value::Kind::floating: return value.as_double() != 0.0;
    case Value::Kind::string: return !value.as_string().empty();
    case Value::Kind::list: return !value.as_list().items.empty();
    case Value::Kind::dict: return !value.as_dict().entries.empty();
    case Value::Kind::ns:
    case Value::Kind::callable: return true;
  }
  return true;
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::undefined:
    case Value::Kind::none: return true;
    case Value::Kind::string: return a.as_string() == b.as_string();
    case Value::Kind::list: {
      const List& x = a.as_list();
      const List& y = b.as_list();
      // Python: a list never equals a tuple.
      if (x.is_tuple != y.is_tuple || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!equals(x.items[i], y.items[i])) return false;
      }
      return true;
    }
    case Value::Kind::dict: {
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [key, item] : x.entries) {
        const Value* other = y.find(key);
        if (other == nullptr || !equals(item, *other)) return false;
      }
      return true;
    }
    case Value::Kind::ns: return &a.as_namespace() == &b.as_namespace();
    case Value::Kind::callable: return &a.as_callable() == &b.as_callable();
    default: return false;
  }
}

int compare(const Value& a, const Value& b, bool& ok) {
  ok = true;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.as_double();
      const double y = b.as_double();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const int64_t x = a.as_int();
    const int64_t y = b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    // Byte order of UTF-8 is code point order, which is Python's string order.
    const int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.as_list().is_tuple == b.as_list().is_tuple) {
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equals(x[i], y[i])) continue;
      return compare(x[i], y[i], ok);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  ok = false;
  return 0;
}

// ---- UTF-8 ----

namespace {

// The length of the valid UTF-8 sequence starting at `text[pos]`, or 0 if none starts there.
size_t valid_sequence_length(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(pos);
  size_t length = 0;
  uint32_t min = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (pos + length > text.size()) return 0;
  uint32_t cpt = lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) return 0;
    cpt = (cpt << 6) | (byte(pos + i) & 0x3F);
  }
  if (cpt < min || cpt > 0x10FFFF || (cpt >= 0xD800 && cpt <= 0xDFFF)) return 0;
  return length;
}

}  // namespace

std::vector<std::string_view> split_code_points(std::string_view text) {
  std::vector<std::string_view> units;
  units.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t length = std::max<size_t>(1, valid_sequence_length(text, pos));
    units.push_back(text.substr(pos, length));
    pos += length;
  }
  return units;
}

size_t count_code_points(std::string_view text) {
  size_t count = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    pos += std::max<size_t>(1, valid_sequence_length(text, pos));
    ++count;
  }
  return count;
}

uint32_t decode_code_point(std::string_view unit) {
  const auto lead = static_cast<uint8_t>(unit[0]);
  if (unit.size() == 1) return lead;
  uint32_t cpt = lead & (0x7F >> unit.size());
  for (size_t i = 1; i < unit.size(); ++i)
    cpt = (cpt << 6) | (static_cast<uint8_t>(unit[i]) & 0x3F);
  return cpt;
}

void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt < 0x80) {
    out += static_cast<char>(cpt);
  } else if (cpt < 0x800) {
    out += static_cast<char>(0xC0 | (cpt >> 6));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else if (cpt < 0x10000) {
    out += static_cast<char>(0xE0 | (cpt >> 12));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cpt >> 18));
    out += static_cast<char>(0x80 | ((cpt >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  }
}

bool is_python_space(uint32_t cpt) {
  return (cpt >= 0x09 && cpt <= 0x0D) || (cpt >= 0x1C && cpt <= 0x20) || cpt == 0x85 ||
         cpt == 0xA0 || cpt == 0x1680 || (cpt >= 0x2000 && cpt <= 0x200A) || cpt == 0x2028 ||
         cpt == 0x2029 || cpt == 0x202F || cpt == 0x205F || cpt == 0x3000;
}

// ---- printing ----

namespace {

// Appends to a string that may not grow past a bound (the template's value size limit).
class BoundedWriter {
 public:
  explicit BoundedWriter(size_t max_bytes) : max_bytes_(max_bytes) {}

  void append(std::string_view text) {
    if (out_.size() + text.size() > max_bytes_) {
      throw EvalError(fmt::format("a value would exceed the size limit of {} bytes", max_bytes_));
    }
    out_ += text;
  }
  void append(char c) { append(std::string_view(&c, 1)); }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  size_t max_bytes_;
};

// Python's str.isprintable(), close enough for the code points templates meet: control
// characters, separators other than the space, format characters and private use are not.
bool is_python_printable(uint32_t cpt) {
  if (cpt < 0x20 || (cpt >= 0x7F && cpt <= 0xA0) || cpt == 0xAD) return false;
  if (cpt == 0x1680 || (cpt >= 0x2000 && cpt <= 0x200F) || (cpt >= 0x2028 && cpt <= 0x202F) ||
      (cpt >= 0x205F && cpt <= 0x2064) || cpt == 0x3000 || cpt == 0xFEFF) {
    return false;
  }
  if ((cpt >= 0xD800 && cpt <= 0xF8FF) || (cpt >= 0xFFF9 && cpt <= 0xFFFB)) return false;
  return true;
}

void append_hex_escape(BoundedWriter& out, uint32_t cpt) {
  char buffer[16];
  if (cpt <= 0xFF) {
    std::snprintf(buffer, sizeof buffer, "\\x%02x", cpt);
  } else if (cpt <= 0xFFFF) {
    std::snprintf(buffer, sizeof buffer, "\\u%04x", cpt);
  } else {
    std::snprintf(buffer, sizeof buffer, "\\U%08x", cpt);
  }
  out.append(buffer);
}

void write_string_repr(BoundedWriter& out, const std::string& text) {
  // Python picks single quotes unless the text has one and no double quote.
  const bool has_single = text.find('\'') != std::string::npos;
  const bool has_double = text.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out.append(quote);
  for (std::string_view unit : split_code_points(text)) {
    const uint32_t cpt = decode_code_point(unit);
    if (unit.size() == 1 && cpt >= 0x80) {
      // A byte that is not UTF-8; Python would have rejected it earlier. Show it escaped.
      append_hex_escape(out, cpt);
    } else if (cpt == static_cast<uint32_t>(quote) || cpt == '\\') {
      out.append('\\');
      out.append(static_cast<char>(cpt));
    } else if (cpt == '\n') {
      out.append("\\n");
    } else if (cpt == '\r') {
      out.append("\\r");
    } else if (cpt == '\t') {
      out.append("\\t");
    } else if (!is_python_printable(cpt)) {
      append_hex_escape(out, cpt);
    } else {
      out.append(unit);
    }
  }
  out.append(quote);
}

void write_value(BoundedWriter& out, const Value& value, bool repr);

void write_dict_body(BoundedWriter& out, const Dict& dict) {
  out.append('{');
  bool first = true;
  for (const auto& [key, item] : dict.entries) {
    if (!first) out.append(", ");
    first = false;
    write_string_repr(out, key);
    out.append(": ");
    write_value(out, item, true);
  }
  out.append('}');
}

void write_value(BoundedWriter& out, const Value& value, bool repr) {
  switch (value.kind()) {
    case Value::Kind::undefined: out.append(repr ? "Undefined" : ""); return;
    case Value::Kind::none: out.append("None"); return;
    case Value::Kind::boolean: out.append(value.as_bool() ? "True" : "False"); return;
    case Value::Kind::integer: out.append(std::to_string(value.as_int())); return;
    case Value::Kind::floating: out.append(float_repr(value.as_double())); return;
    case Value::Kind::string:
      if (repr) {
        write_string_repr(out, value.as_string());
      } else {
        out.append(value.as_string());
      }
      return;
    case Value::Kind::list: {
      const List& list = value.as_list();
      out.append(list.is_tuple ? '(' : '[');
      for (size_t i = 0; i < list.items.size(); ++i) {
        if (i > 0) out.append(", ");
        write_value(out, list.items[i], true);
      }
      if (list.is_tuple && list.items.size() == 1) out.append(',');
      out.append(list.is_tuple ? ')' : ']');
      return;
    }
    case Value::Kind::dict: write_dict_body(out, value.as_dict()); return;
    case Value::Kind::ns:
      out.append("<Namespace ");
      write_dict_body(out, value.as_namespace().attributes);
      out.append('>');
      return;
    case Value::Kind::callable:
      out.append("<function ");
      out.append(value.as_callable().name);
      out.append('>');
      return;
  }
}

void write_json_string(BoundedWriter& out, const std::string& text) {
  out.append('"');
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const char* escape = nullptr;
    char buffer[8];
    switch (c) {
      case '"': escape = "\\\""; break;
      case '\\': escape = "\\\\"; break;
      case '\n': escape = "\\n"; break;
      case '\r': escape = "\\r"; break;
      case '\t': escape = "\\t"; break;
      case '\b': escape = "\\b"; break;
      case '\f': escape = "\\f"; break;
      default:
        if (c < 0x20) {
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          escape = buffer;
        }
    }
    if (escape != nullptr) {
      out.append(std::string_view(text).substr(start, i - start));
      out.append(escape);
      start = i + 1;
    }
  }
  out.append(std::string_view(text).substr(start));
  out.append('"');
}

bool write_json(BoundedWriter& out, const Value& value, int indent, int depth,
                std::string& bad_type) {
  const auto newline = [&](int level) {
    out.append('\n');
    out.append(std::string(static_cast<size_t>(indent) * level, ' '));
  };
  const char* item_separator = indent >= 0 ? "," : ", ";
  switch (value.kind()) {
    case Value::Kind::none: out.append("null"); return true;
    case Value::Kind::boolean: out.append(value.as_bool() ? "true" : "false"); return true;
    case Value::Kind::integer: out.append(std::to_string(value.as_int())); return true;
    case Value::Kind::floating: {
      const double d = value.as_double();
      if (std::isnan(d)) {
        out.append("NaN");
      } else if (std::isinf(d)) {
        out.append(d > 0 ? "Infinity" : "-Infinity");
      } else {
        out.append(float_repr(d));
      }
      return true;
    }
    case Value::Kind::string: write_json_string(out, value.as_string()); return true;
    case Value::Kind::list: {
      const auto& items = value.as_list().items;
      if (items.empty()) {
        out.append("[]");
        return true;
      }
      out.append('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out.append(item_separator);
        if (indent >= 0) newline(depth + 1);
        if (!write_json(out, items[i], indent, depth + 1, bad_type)) return false;
      }
      if (indent >= 0) newline(depth);
      out.append(']');
      return true;
    }
    case Value::Kind::dict: {
      const auto& entries = value.as_dict().entries;
      if (entries.empty()) {
        out.append("{}");
        return true;
      }
      out.append('{');
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out.append(item_separator);
        if (indent >= 0) newline(depth + 1);
        write_json_string(out, entries[i].first);
        out.append(": ");
        if (!write_json(out, entries[i].second, indent, depth + 1, bad_type)) return false;
      }
      if (indent >= 0) newline(depth);
      out.append('}');
      return true;
    }
    default: bad_type = std::string(type_name(value)); return false;
  }
}

}  // namespace

std::string float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // The shortest digits that round-trip, then Python's layout of them ('r' format): positional
  // when the decimal point falls within -4 < exponent <= 16, scientific otherwise.
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  const std::string sci(buffer, result.ptr);
  const size_t e_pos = sci.find('e');
  std::string mantissa = sci.substr(0, e_pos);
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string sign;
  if (!mantissa.empty() && mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  const int decimal_point = exponent + 1;  // digits are 0.d1d2... times 10^decimal_point
  if (decimal_point > -4 && decimal_point <= 16) {
    std::string text;
    if (decimal_point <= 0) {
      text = "0." + std::string(static_cast<size_t>(-decimal_point), '0') + digits;
    } else if (static_cast<size_t>(decimal_point) >= digits.size()) {
      text = digits + std::string(static_cast<size_t>(decimal_point) - digits.size(), '0') + ".0";
    } else {
      text = digits.substr(0, static_cast<size_t>(decimal_point)) + "." +
             digits.substr(static_cast<size_t>(decimal_point));
    }
    return sign + text;
  }
  std::string text = digits.substr(0, 1);
  if (digits.size() > 1) text += "." + digits.substr(1);
  char exponent_text[16];
  std::snprintf(exponent_text, sizeof exponent_text, "e%c%02d", exponent < 0 ? '-' : '+',
                exponent < 0 ? -exponent : exponent);
  return sign + text + exponent_text;
}

std::string to_str(const Value& value, size_t max_bytes) {
  if (value.is_string()) {
    if (value.as_string().size() > max_bytes) {
      throw EvalError(fmt::format("a value would exceed the size limit of {} bytes", max_bytes));
    }
    return value.as_string();
  }
  BoundedWriter out(max_bytes);
  write_value(out, value, false);
  return out.take();
}

std::string to_repr(const Value& value, size_t max_bytes) {
  BoundedWriter out(max_bytes);
  write_value(out, value, true);
  return out.take();
}

std::string to_json(const Value& value, int indent, size_t max_bytes, bool& ok,
                    std::string& bad_type) {
  BoundedWriter out(max_bytes);
  ok = write_json(out, value, indent, 0, bad_type);
  return out.take();
}

}  // namespace kiln::engine::jinja
