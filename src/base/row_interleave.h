// Rows of a block-quantized matrix interleaved in groups (a weight layout the compiler may
// choose, docs/ARCHITECTURE.md "Interleaved weight rows"). In the plain (ggml) layout each row is
// its blocks one after another. Interleaved by L, the blocks b of rows r .. r + L - 1 (r a
// multiple of L) lie together, field by field: each field of the block format (a scale, the
// packed quants, ...) holds its units (2 bytes of an f16, 4 bytes of packed quants) for lane
// 0, 1, .., L - 1 in turn. A vector of L lanes then reads one unit of L rows with one load.
// The bytes are the same, only moved: a group of L blocks takes L times one block's bytes.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/dtype.h"

namespace kiln {

// One field of a block: bytes [offset, offset + bytes), read in units of `unit` bytes.
struct BlockField {
  int64_t offset;
  int64_t bytes;
  int64_t unit;
};

// The fields of a block format, in order, covering the whole block; empty for a dtype whose
// rows cannot be interleaved (plain types, and block formats not described yet).
std::span<const BlockField> block_fields(DType dtype);
bool can_interleave_rows(DType dtype);

// The field holding byte `offset` of a block.
const BlockField& field_at(DType dtype, int64_t offset);

// Where byte `offset` of lane `lane`'s block lies within its interleaved group of `lanes` blocks.
int64_t interleaved_offset(DType dtype, int64_t lanes, int64_t lane, int64_t offset);

// The bytes of a rows x cols matrix of `dtype` (plain layout) with its rows interleaved by
// `lanes`. Rows must be a multiple of lanes and cols of the block size (a UserError otherwise).
std::vector<uint8_t> interleave_rows(DType dtype, std::span<const uint8_t> plain, int64_t rows, int64_t cols,
                                     int64_t lanes);

}  // namespace kiln
