#include "base/dtype.h"

#include <array>
#include <cctype>

#include "base/error.h"

namespace kiln {
namespace {

// Block layouts of ggml's formats: element count and byte size of one block.
constexpr std::array kDTypes = {
    DTypeInfo{DType::f32, "f32", 1, 4, true},
    DTypeInfo{DType::f16, "f16", 1, 2, true},
    DTypeInfo{DType::q4_0, "q4_0", 32, 18, false},
    DTypeInfo{DType::q4_1, "q4_1", 32, 20, false},
    DTypeInfo{DType::q5_0, "q5_0", 32, 22, false},
    DTypeInfo{DType::q5_1, "q5_1", 32, 24, false},
    DTypeInfo{DType::q8_0, "q8_0", 32, 34, false},
    DTypeInfo{DType::q8_1, "q8_1", 32, 36, false},
    DTypeInfo{DType::q2_K, "q2_K", 256, 84, false},
    DTypeInfo{DType::q3_K, "q3_K", 256, 110, false},
    DTypeInfo{DType::q4_K, "q4_K", 256, 144, false},
    DTypeInfo{DType::q5_K, "q5_K", 256, 176, false},
    DTypeInfo{DType::q6_K, "q6_K", 256, 210, false},
    DTypeInfo{DType::q8_K, "q8_K", 256, 292, false},
    DTypeInfo{DType::iq2_xxs, "iq2_xxs", 256, 66, false},
    DTypeInfo{DType::iq2_xs, "iq2_xs", 256, 74, false},
    DTypeInfo{DType::iq3_xxs, "iq3_xxs", 256, 98, false},
    DTypeInfo{DType::iq1_s, "iq1_s", 256, 50, false},
    DTypeInfo{DType::iq4_nl, "iq4_nl", 32, 18, false},
    DTypeInfo{DType::iq3_s, "iq3_s", 256, 110, false},
    DTypeInfo{DType::iq2_s, "iq2_s", 256, 82, false},
    DTypeInfo{DType::iq4_xs, "iq4_xs", 256, 136, false},
    DTypeInfo{DType::i8, "i8", 1, 1, false},
    DTypeInfo{DType::i16, "i16", 1, 2, false},
    DTypeInfo{DType::i32, "i32", 1, 4, false},
    DTypeInfo{DType::i64, "i64", 1, 8, false},
    DTypeInfo{DType::f64, "f64", 1, 8, true},
    DTypeInfo{DType::iq1_m, "iq1_m", 256, 56, false},
    DTypeInfo{DType::bf16, "bf16", 1, 2, true},
    DTypeInfo{DType::tq1_0, "tq1_0", 256, 54, false},
    DTypeInfo{DType::tq2_0, "tq2_0", 256, 66, false},
    DTypeInfo{DType::mxfp4, "mxfp4", 32, 17, false},
    DTypeInfo{DType::nvfp4, "nvfp4", 64, 36, false},  // 4 e4m3 scales, 32 bytes of e2m1 pairs
    DTypeInfo{DType::q1_0, "q1_0", 128, 18, false},    // f16 scale, 128 sign bits
};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

const DTypeInfo& dtype_info(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info;
  }
  KILN_UNREACHABLE("dtype id {} is not in the dtype table", static_cast<uint32_t>(dtype));
}

std::optional<DType> dtype_from_id(uint32_t ggml_type_id) {
  for (const DTypeInfo& info : kDTypes) {
    if (static_cast<uint32_t>(info.dtype) == ggml_type_id) return info.dtype;
  }
  return std::nullopt;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (equal_ignoring_case(info.name, name)) return info.dtype;
  }
  return std::nullopt;
}

std::optional<uint64_t> dtype_row_bytes(DType dtype, uint64_t elements) {
  const DTypeInfo& info = dtype_info(dtype);
  if (elements % info.block_size != 0) return std::nullopt;
  const uint64_t blocks = elements / info.block_size;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(info.block_bytes), &bytes)) {
    return std::nullopt;
  }
  return bytes;
}

std::span<const DTypeInfo> all_dtypes() { return kDTypes; }

}  // namespace kiln
