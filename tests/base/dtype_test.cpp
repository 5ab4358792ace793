// The dtype table against ggml's type ids and block layouts (ggml/src/ggml-common.h), written
// out here by hand so that a typo in src/base/dtype.cpp cannot agree with itself.
#include "base/dtype.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <iterator>
#include <set>
#include <string>

#include "base/error.h"

namespace kiln {
namespace {

struct ExpectedDType {
  uint32_t id;
  const char* name;
  uint32_t block_size;
  uint32_t block_bytes;
  bool is_float;
};

// ggml's ids; 4, 5 (q4_2, q4_3), 31..33 (q4_0_4_4 ...) and 36..38 (iq4_nl_4_4 ...) were removed.
// 40 and 41 checked against gguf-py 0.19.0 (GGMLQuantizationType, GGML_QUANT_SIZES).
constexpr ExpectedDType kGgmlTypes[] = {
    {0, "f32", 1, 4, true},         {1, "f16", 1, 2, true},
    {2, "q4_0", 32, 18, false},     {3, "q4_1", 32, 20, false},
    {6, "q5_0", 32, 22, false},     {7, "q5_1", 32, 24, false},
    {8, "q8_0", 32, 34, false},     {9, "q8_1", 32, 36, false},  // two halves + 32 quants
    {10, "q2_K", 256, 84, false},   {11, "q3_K", 256, 110, false},
    {12, "q4_K", 256, 144, false},  {13, "q5_K", 256, 176, false},
    {14, "q6_K", 256, 210, false},  {15, "q8_K", 256, 292, false},
    {16, "iq2_xxs", 256, 66, false}, {17, "iq2_xs", 256, 74, false},
    {18, "iq3_xxs", 256, 98, false}, {19, "iq1_s", 256, 50, false},
    {20, "iq4_nl", 32, 18, false},  {21, "iq3_s", 256, 110, false},
    {22, "iq2_s", 256, 82, false},  {23, "iq4_xs", 256, 136, false},
    {24, "i8", 1, 1, false},        {25, "i16", 1, 2, false},
    {26, "i32", 1, 4, false},       {27, "i64", 1, 8, false},
    {28, "f64", 1, 8, true},        {29, "iq1_m", 256, 56, false},
    {30, "bf16", 1, 2, true},       {34, "tq1_0", 256, 54, false},
    {35, "tq2_0", 256, 66, false},  {39, "mxfp4", 32, 17, false},
    {40, "nvfp4", 64, 36, false},   {41, "q1_0", 128, 18, false},
};

TEST(DType, TableMatchesGgml) {
  for (const ExpectedDType& expected : kGgmlTypes) {
    SCOPED_TRACE(expected.name);
    const std::optional<DType> dtype = dtype_from_id(expected.id);
    ASSERT_TRUE(dtype.has_value());
    EXPECT_EQ(static_cast<uint32_t>(*dtype), expected.id);
    const DTypeInfo& info = dtype_info(*dtype);
    EXPECT_EQ(info.dtype, *dtype);
    EXPECT_EQ(info.name, expected.name);
    EXPECT_EQ(dtype_name(*dtype), expected.name);
    EXPECT_EQ(info.block_size, expected.block_size);
    EXPECT_EQ(info.block_bytes, expected.block_bytes);
    EXPECT_EQ(info.is_float, expected.is_float);
    EXPECT_EQ(is_quantized(*dtype), expected.block_size > 1);
  }
}

TEST(DType, AllDTypesIsTheWholeTableInIdOrder) {
  const auto all = all_dtypes();
  ASSERT_EQ(all.size(), std::size(kGgmlTypes));
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(static_cast<uint32_t>(all[i].dtype), kGgmlTypes[i].id) << "entry " << i;
    if (i > 0) {
      EXPECT_LT(all[i - 1].dtype, all[i].dtype) << "entry " << i;
    }
  }
}

TEST(DType, EnumValuesAreGgmlIds) {
  EXPECT_EQ(static_cast<uint32_t>(DType::q4_K), 12u);
  EXPECT_EQ(static_cast<uint32_t>(DType::q8_0), 8u);
  EXPECT_EQ(static_cast<uint32_t>(DType::bf16), 30u);
  EXPECT_EQ(static_cast<uint32_t>(DType::mxfp4), 39u);
  EXPECT_EQ(static_cast<uint32_t>(DType::nvfp4), 40u);
  EXPECT_EQ(static_cast<uint32_t>(DType::q1_0), 41u);
}

TEST(DType, UnknownIdsAreRefused) {
  std::set<uint32_t> known;
  for (const ExpectedDType& expected : kGgmlTypes) known.insert(expected.id);
  for (uint32_t id = 0; id < 1100; ++id) {
    EXPECT_EQ(dtype_from_id(id).has_value(), known.count(id) == 1) << "id " << id;
  }
  for (uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 42u, 1000u, 0xffffffffu}) {
    EXPECT_FALSE(dtype_from_id(id).has_value()) << "id " << id;
  }
}

TEST(DType, DTypeInfoOfAValueOutsideTheEnumIsAnInternalError) {
  EXPECT_THROW(dtype_info(static_cast<DType>(4)), InternalError);
  EXPECT_THROW(dtype_info(static_cast<DType>(1000)), InternalError);
}

TEST(DType, NamesLookUpIgnoringCase) {
  for (const ExpectedDType& expected : kGgmlTypes) {
    std::string upper = expected.name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(dtype_from_name(expected.name), dtype_from_id(expected.id)) << expected.name;
    EXPECT_EQ(dtype_from_name(upper), dtype_from_id(expected.id)) << upper;
  }
  EXPECT_EQ(dtype_from_name("Q4_k"), DType::q4_K);
  EXPECT_EQ(dtype_from_name("BF16"), DType::bf16);
  EXPECT_EQ(dtype_from_name("IQ4_XS"), DType::iq4_xs);
}

TEST(DType, UnknownNamesAreRefused) {
  for (const char* name : {"", "q4", "q4_k_m", "f32 ", " f32", "float32", "q4_2", "f"}) {
    EXPECT_FALSE(dtype_from_name(name).has_value()) << "'" << name << "'";
  }
  EXPECT_FALSE(dtype_from_name(std::string_view("f32\0", 4)).has_value());
}

TEST(DType, RowBytes) {
  EXPECT_EQ(dtype_row_bytes(DType::f32, 0), 0u);
  EXPECT_EQ(dtype_row_bytes(DType::f32, 576), 2304u);
  EXPECT_EQ(dtype_row_bytes(DType::f16, 3), 6u);
  EXPECT_EQ(dtype_row_bytes(DType::bf16, 7), 14u);
  EXPECT_EQ(dtype_row_bytes(DType::q4_0, 64), 36u);
  EXPECT_EQ(dtype_row_bytes(DType::q4_1, 576), 360u);
  EXPECT_EQ(dtype_row_bytes(DType::q8_0, 576 * 49152ull), 30081024u);  // SmolLM2's token_embd
  EXPECT_EQ(dtype_row_bytes(DType::q4_K, 4096), 16u * 144u);
  EXPECT_EQ(dtype_row_bytes(DType::q6_K, 256), 210u);
  EXPECT_EQ(dtype_row_bytes(DType::mxfp4, 2880), 90u * 17u);
  EXPECT_EQ(dtype_row_bytes(DType::nvfp4, 2048), 32u * 36u);
  EXPECT_EQ(dtype_row_bytes(DType::q1_0, 4096), 32u * 18u);
  for (const ExpectedDType& expected : kGgmlTypes) {
    const DType dtype = *dtype_from_id(expected.id);
    EXPECT_EQ(dtype_row_bytes(dtype, 5ull * expected.block_size), 5ull * expected.block_bytes)
        << expected.name;
  }
}

TEST(DType, RowBytesOfAPartialBlockIsNothing) {
  EXPECT_FALSE(dtype_row_bytes(DType::q4_0, 31).has_value());
  EXPECT_FALSE(dtype_row_bytes(DType::q4_0, 33).has_value());
  EXPECT_FALSE(dtype_row_bytes(DType::q4_K, 128).has_value());
  EXPECT_FALSE(dtype_row_bytes(DType::q6_K, 257).has_value());
  EXPECT_FALSE(dtype_row_bytes(DType::mxfp4, 16).has_value());
  EXPECT_FALSE(dtype_row_bytes(DType::q4_0, UINT64_MAX).has_value());
  for (const ExpectedDType& expected : kGgmlTypes) {
    if (expected.block_size == 1) continue;
    EXPECT_FALSE(dtype_row_bytes(*dtype_from_id(expected.id), 1).has_value()) << expected.name;
  }
}

TEST(DType, RowBytesOverflowIsNothing) {
  EXPECT_FALSE(dtype_row_bytes(DType::f32, 1ull << 62).has_value());
  EXPECT_EQ(dtype_row_bytes(DType::f32, (1ull << 62) - 1), ((1ull << 62) - 1) * 4);
  EXPECT_FALSE(dtype_row_bytes(DType::f64, UINT64_MAX).has_value());
  EXPECT_EQ(dtype_row_bytes(DType::i8, UINT64_MAX), UINT64_MAX);
  EXPECT_FALSE(dtype_row_bytes(DType::f16, 1ull << 63).has_value());
  // q8_K: 292 bytes per 256 elements; UINT64_MAX / 292 blocks is the most that fits.
  const uint64_t max_blocks = UINT64_MAX / 292;
  EXPECT_EQ(dtype_row_bytes(DType::q8_K, max_blocks * 256), max_blocks * 292);
  EXPECT_FALSE(dtype_row_bytes(DType::q8_K, (max_blocks + 1) * 256).has_value());
  // 18 bytes per 32 elements: every whole number of blocks fits.
  EXPECT_EQ(dtype_row_bytes(DType::q4_0, UINT64_MAX / 32 * 32), UINT64_MAX / 32 * 18);
}

}  // namespace
}  // namespace kiln
