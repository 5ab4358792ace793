#include "gguf/gguf_value.h"

#include <fmt/format.h>

namespace kiln::gguf {

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::u8: return "u8";
    case ValueType::i8: return "i8";
    case ValueType::u16: return "u16";
    case ValueType::i16: return "i16";
    case ValueType::u32: return "u32";
    case ValueType::i32: return "i32";
    case ValueType::f32: return "f32";
    case ValueType::boolean: return "bool";
    case ValueType::string: return "string";
    case ValueType::array: return "array";
    case ValueType::u64: return "u64";
    case ValueType::i64: return "i64";
    case ValueType::f64: return "f64";
  }
  return "unknown";
}

bool is_known_value_type(uint32_t id) { return id <= static_cast<uint32_t>(ValueType::f64); }

bool Value::is_integer() const {
  switch (type()) {
    case ValueType::u8: case ValueType::i8: case ValueType::u16: case ValueType::i16:
    case ValueType::u32: case ValueType::i32: case ValueType::u64: case ValueType::i64:
      return true;
    default:
      return false;
  }
}

std::optional<int64_t> Value::as_int() const {
  return std::visit(
      [](const auto& v) -> std::optional<int64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, uint64_t>) {
          if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
          return static_cast<int64_t>(v);
        } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          return static_cast<int64_t>(v);
        } else {
          return std::nullopt;
        }
      },
      storage);
}

std::optional<double> Value::as_double() const {
  if (const float* f = std::get_if<float>(&storage)) return *f;
  if (const double* d = std::get_if<double>(&storage)) return *d;
  if (auto i = as_int()) return static_cast<double>(*i);
  return std::nullopt;
}

namespace {

std::string quote(const std::string& s, size_t max_chars) {
  std::string out = "\"";
  size_t shown = 0;
  for (char c : s) {
    if (shown++ == max_chars) {
      out += "...";
      break;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string plural_type_name(ValueType type) {
  if (type == ValueType::string) return "strings";
  if (type == ValueType::array) return "arrays";
  if (type == ValueType::boolean) return "bools";
  return std::string(value_type_name(type)) + " values";
}

}  // namespace

std::string format_value(const Value& value, size_t max_items, size_t max_string_chars) {
  return std::visit(
      [&](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return quote(v, max_string_chars);
        } else if constexpr (std::is_same_v<T, Array>) {
          if (v.items.size() > max_items) {
            return fmt::format("[{} {}]", v.items.size(), plural_type_name(v.element_type));
          }
          std::string out = "[";
          for (size_t i = 0; i < v.items.size(); ++i) {
            if (i > 0) out += ", ";
            out += format_value(v.items[i], max_items, max_string_chars);
          }
          return out + "]";
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) {
          return fmt::format("{}", static_cast<int>(v));
        } else {
          return fmt::format("{}", v);
        }
      },
      value.storage);
}

}  // namespace kiln::gguf
