// GGUF metadata values: the twelve scalar and string types, and arrays (which may nest).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kiln::gguf {

// The value type ids of the GGUF format.
enum class ValueType : uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12,
};

std::string_view value_type_name(ValueType type);
bool is_known_value_type(uint32_t id);

struct Value;

struct Array {
  ValueType element_type = ValueType::u8;
  std::vector<Value> items;
};

// A metadata value. The variant's index equals the GGUF type id, so `type()` needs no table.
struct Value {
  using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                               std::string, Array, uint64_t, int64_t, double>;
  Storage storage;

  ValueType type() const { return static_cast<ValueType>(storage.index()); }
  bool is_integer() const;
  bool is_float() const { return type() == ValueType::f32 || type() == ValueType::f64; }

  // The value as a wide integer or float, if it is a number of any width.
  std::optional<int64_t> as_int() const;
  std::optional<double> as_double() const;
  const std::string* as_string() const { return std::get_if<std::string>(&storage); }
  const Array* as_array() const { return std::get_if<Array>(&storage); }
};

struct KeyValue {
  std::string key;
  Value value;
};

// Prints a value for people: numbers as they are, strings quoted and cut after
// `max_string_chars` characters ("..."), arrays in full up to `max_items` items and summarized
// past that ("[49152 strings]").
std::string format_value(const Value& value, size_t max_items = 8, size_t max_string_chars = 200);

}  // namespace kiln::gguf
