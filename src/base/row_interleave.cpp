#include "base/row_interleave.h"

#include <array>
#include <cstring>

#include "base/error.h"

namespace kiln {

namespace {

// ggml's block layouts (base/dequantize.cpp): f16 scales in units of 2 bytes, packed quants
// and fifth/high bits in units of 4 (one i32 of packed bytes), the K formats' 6-bit and
// 8-bit sub-block scales byte by byte.
constexpr std::array kQ4_0{BlockField{0, 2, 2}, BlockField{2, 16, 4}};
constexpr std::array kQ4_1{BlockField{0, 2, 2}, BlockField{2, 2, 2}, BlockField{4, 16, 4}};
constexpr std::array kQ5_0{BlockField{0, 2, 2}, BlockField{2, 4, 4}, BlockField{6, 16, 4}};
constexpr std::array kQ5_1{BlockField{0, 2, 2}, BlockField{2, 2, 2}, BlockField{4, 4, 4}, BlockField{8, 16, 4}};
constexpr std::array kQ8_0{BlockField{0, 2, 2}, BlockField{2, 32, 4}};
constexpr std::array kQ4_K{BlockField{0, 2, 2}, BlockField{2, 2, 2}, BlockField{4, 12, 1}, BlockField{16, 128, 4}};
constexpr std::array kQ5_K{BlockField{0, 2, 2}, BlockField{2, 2, 2}, BlockField{4, 12, 1}, BlockField{16, 32, 4},
                           BlockField{48, 128, 4}};
constexpr std::array kQ6_K{BlockField{0, 128, 4}, BlockField{128, 64, 4}, BlockField{192, 16, 1},
                           BlockField{208, 2, 2}};

}  // namespace

std::span<const BlockField> block_fields(DType dtype) {
  switch (dtype) {
    case DType::q4_0: return kQ4_0;
    case DType::q4_1: return kQ4_1;
    case DType::q5_0: return kQ5_0;
    case DType::q5_1: return kQ5_1;
    case DType::q8_0: return kQ8_0;
    case DType::q4_K: return kQ4_K;
    case DType::q5_K: return kQ5_K;
    case DType::q6_K: return kQ6_K;
    default: return {};
  }
}

bool can_interleave_rows(DType dtype) { return !block_fields(dtype).empty(); }

const BlockField& field_at(DType dtype, int64_t offset) {
  for (const BlockField& f : block_fields(dtype)) {
    if (offset >= f.offset && offset < f.offset + f.bytes) return f;
  }
  KILN_UNREACHABLE("byte {} is outside every field of a {} block", offset, dtype_name(dtype));
}

int64_t interleaved_offset(DType dtype, int64_t lanes, int64_t lane, int64_t offset) {
  const BlockField& f = field_at(dtype, offset);
  const int64_t inner = offset - f.offset;
  return f.offset * lanes + (inner / f.unit * lanes + lane) * f.unit + inner % f.unit;
}

std::vector<uint8_t> interleave_rows(DType dtype, std::span<const uint8_t> plain, int64_t rows, int64_t cols,
                                     int64_t lanes) {
  const DTypeInfo& info = dtype_info(dtype);
  if (!can_interleave_rows(dtype)) user_error("rows of {} cannot be interleaved", dtype_name(dtype));
  if (lanes < 1 || rows % lanes != 0 || cols % info.block_size != 0) {
    user_error("cannot interleave a {} x {} {} matrix by {} rows", rows, cols, dtype_name(dtype), lanes);
  }
  const int64_t blocks = cols / info.block_size, block_bytes = info.block_bytes;
  if (static_cast<int64_t>(plain.size()) != rows * blocks * block_bytes) {
    user_error("a {} x {} {} matrix takes {} bytes, got {}", rows, cols, dtype_name(dtype), rows * blocks * block_bytes,
               plain.size());
  }
  std::vector<uint8_t> out(plain.size());
  for (int64_t group = 0; group < rows / lanes; ++group) {
    for (int64_t b = 0; b < blocks; ++b) {
      uint8_t* to = out.data() + (group * blocks + b) * lanes * block_bytes;
      for (int64_t lane = 0; lane < lanes; ++lane) {
        const uint8_t* from = plain.data() + ((group * lanes + lane) * blocks + b) * block_bytes;
        for (const BlockField& f : block_fields(dtype)) {
          for (int64_t u = 0; u < f.bytes; u += f.unit) {
            std::memcpy(to + interleaved_offset(dtype, lanes, lane, f.offset + u), from + f.offset + u, f.unit);
          }
        }
      }
    }
  }
  return out;
}

}  // namespace kiln
