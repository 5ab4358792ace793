// Element types, including ggml's block-quantized formats.
//
// The numeric value of each DType is ggml's type id, so a GGUF tensor's type field converts
// directly. A block-quantized type stores `block_size` elements in `block_bytes` bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace kiln {

enum class DType : uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_K = 10,
  q3_K = 11,
  q4_K = 12,
  q5_K = 13,
  q6_K = 14,
  q8_K = 15,
  iq2_xxs = 16,
  iq2_xs = 17,
  iq3_xxs = 18,
  iq1_s = 19,
  iq4_nl = 20,
  iq3_s = 21,
  iq2_s = 22,
  iq4_xs = 23,
  i8 = 24,
  i16 = 25,
  i32 = 26,
  i64 = 27,
  f64 = 28,
  iq1_m = 29,
  bf16 = 30,
  tq1_0 = 34,
  tq2_0 = 35,
  mxfp4 = 39,
  nvfp4 = 40,
  q1_0 = 41,
};

struct DTypeInfo {
  DType dtype;
  std::string_view name;  // as ggml and GGUF tools print it: "f32", "q4_K", ...
  uint32_t block_size;    // elements per block; 1 for plain scalar types
  uint32_t block_bytes;   // bytes per block
  bool is_float;          // a plain floating-point scalar type
};

// The table entry for a known dtype. Throws InternalError for a value outside the enum.
const DTypeInfo& dtype_info(DType dtype);

// The dtype with this ggml type id, or nothing if the id is unknown (or was removed from ggml).
std::optional<DType> dtype_from_id(uint32_t ggml_type_id);

// The dtype with this name (case-insensitive: "Q4_K" and "q4_k" both work), or nothing.
std::optional<DType> dtype_from_name(std::string_view name);

inline std::string_view dtype_name(DType dtype) { return dtype_info(dtype).name; }

inline bool is_quantized(DType dtype) { return dtype_info(dtype).block_size > 1; }

// Bytes that `elements` elements take, or nothing if `elements` is not a whole number of blocks
// or the size overflows 64 bits.
std::optional<uint64_t> dtype_row_bytes(DType dtype, uint64_t elements);

// Every known dtype, in id order.
std::span<const DTypeInfo> all_dtypes();

}  // namespace kiln
