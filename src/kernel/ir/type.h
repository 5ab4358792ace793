// Scalar and vector types of the loop IR (Halide-style: a kind, a bit width, a lane count).
#pragma once

#include <cstdint>
#include <string>

namespace kiln::ir {

enum class TypeKind : uint8_t { Int, UInt, Float, Bool };

struct Type {
  TypeKind kind = TypeKind::Int;
  uint8_t bits = 64;
  uint16_t lanes = 1;

  static constexpr Type i8() { return {TypeKind::Int, 8, 1}; }
  static constexpr Type i16() { return {TypeKind::Int, 16, 1}; }
  static constexpr Type i32() { return {TypeKind::Int, 32, 1}; }
  static constexpr Type i64() { return {TypeKind::Int, 64, 1}; }
  static constexpr Type u8() { return {TypeKind::UInt, 8, 1}; }
  static constexpr Type u16() { return {TypeKind::UInt, 16, 1}; }
  static constexpr Type u32() { return {TypeKind::UInt, 32, 1}; }
  static constexpr Type f16() { return {TypeKind::Float, 16, 1}; }
  static constexpr Type f32() { return {TypeKind::Float, 32, 1}; }
  static constexpr Type f64() { return {TypeKind::Float, 64, 1}; }
  static constexpr Type boolean() { return {TypeKind::Bool, 1, 1}; }
  // The type of every index and symbolic size.
  static constexpr Type index() { return i64(); }

  constexpr Type with_lanes(int n) const { return {kind, bits, static_cast<uint16_t>(n)}; }
  constexpr Type element_of() const { return with_lanes(1); }
  constexpr bool is_int() const { return kind == TypeKind::Int; }
  constexpr bool is_uint() const { return kind == TypeKind::UInt; }
  constexpr bool is_integer() const { return kind == TypeKind::Int || kind == TypeKind::UInt; }
  constexpr bool is_float() const { return kind == TypeKind::Float; }
  constexpr bool is_bool() const { return kind == TypeKind::Bool; }
  constexpr bool is_vector() const { return lanes > 1; }
  constexpr int bytes() const { return (bits + 7) / 8; }
  constexpr bool operator==(const Type&) const = default;
};

// "f32", "i64", "u8x16", "bool".
std::string to_string(Type type);

}  // namespace kiln::ir
