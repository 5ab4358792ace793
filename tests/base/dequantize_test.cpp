// Dequantization checked against golden files made by scripts/make_dequant_goldens.py with the
// `gguf` Python package (tests/data/dequant/manifest.txt names its version). The goldens hold
// their source bytes, so every case runs without the model files; none is skipped.
//
// q8_1 and q8_K are checked against the script's numpy formula instead: gguf 0.19.0 cannot
// dequantize them (NotImplementedError; q8_K is ggml's activation format, never in files).
//
// Every comparison is bitwise, for every format, with no ulp tolerance: each dequantized value is
// its exact formula rounded once to float32, so the order of operations (kiln's, numpy's) cannot
// change it (see the top of src/base/dequantize.cpp).
#include "base/dequantize.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/half.h"

namespace kiln {
namespace {

const std::string kDir = std::string(KILN_TEST_DATA) + "/dequant/";

struct GoldenCase {
  std::string name;
  std::string dtype;
  size_t elements = 0;
  std::string reference;  // "gguf" or "numpy"
  std::string source;     // "random" or MODEL:TENSOR[ROWS]
};

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// manifest.txt: `#` comments, then one case per line: name dtype elements reference source.
std::vector<GoldenCase> read_manifest() {
  std::ifstream in(kDir + "manifest.txt");
  EXPECT_TRUE(in.good()) << "cannot open " << kDir << "manifest.txt";
  std::vector<GoldenCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    GoldenCase c;
    fields >> c.name >> c.dtype >> c.elements >> c.reference >> c.source;
    EXPECT_FALSE(fields.fail()) << "bad manifest line: " << line;
    cases.push_back(c);
  }
  return cases;
}

std::vector<float> floats_from_bytes(const std::vector<uint8_t>& bytes) {
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

// Bitwise comparison; reports the first few differing elements.
void expect_bitwise_equal(const std::vector<float>& expected, const std::vector<float>& actual) {
  ASSERT_EQ(expected.size(), actual.size());
  int reported = 0;
  size_t mismatches = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (float_to_bits(expected[i]) == float_to_bits(actual[i])) continue;
    ++mismatches;
    if (reported++ < 5) {
      ADD_FAILURE() << "element " << i << ": expected " << expected[i] << " (0x" << std::hex
                    << float_to_bits(expected[i]) << "), got " << actual[i] << " (0x"
                    << float_to_bits(actual[i]) << ")" << std::dec;
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << expected.size() << " elements";
}

TEST(Dequantize, MatchesGoldenFilesBitwise) {
  const std::vector<GoldenCase> cases = read_manifest();
  ASSERT_EQ(cases.size(), 28u);
  std::set<DType> covered;
  for (const GoldenCase& c : cases) {
    SCOPED_TRACE(c.name + " (" + c.dtype + ", " + c.source + ")");
    const std::optional<DType> dtype = dtype_from_name(c.dtype);
    ASSERT_TRUE(dtype.has_value());
    ASSERT_TRUE(can_dequantize(*dtype));
    covered.insert(*dtype);

    const std::vector<uint8_t> src = read_file(kDir + c.name + ".bin");
    const std::vector<float> expected = floats_from_bytes(read_file(kDir + c.name + ".f32"));
    ASSERT_EQ(expected.size(), c.elements);
    ASSERT_EQ(dtype_row_bytes(*dtype, c.elements), src.size());

    std::vector<float> actual(c.elements, -12345.0f);  // poisoned
    dequantize(*dtype, src, actual);
    expect_bitwise_equal(expected, actual);
  }
  // Every supported dtype has a golden case.
  for (const DTypeInfo& info : all_dtypes()) {
    if (can_dequantize(info.dtype)) {
      EXPECT_TRUE(covered.count(info.dtype)) << "no golden case for " << info.name;
    }
  }
}

TEST(Dequantize, RealModelRowsArePresent) {
  // The goldens hold real rows of SmolLM2's Q8_0, Q4_1 and F32 tensors and of Gemma 3's Q4_K,
  // Q6_K and Q5_0 tensors, not only random blocks.
  std::set<std::string> real_dtypes;
  for (const GoldenCase& c : read_manifest()) {
    if (c.source != "random") real_dtypes.insert(c.dtype);
  }
  EXPECT_EQ(real_dtypes, (std::set<std::string>{"f32", "q4_1", "q8_0", "q4_K", "q6_K", "q5_0"}));
}

TEST(Dequantize, OnlyTheFormatsGgufCannotDoUseTheNumpyReference) {
  std::set<std::string> numpy_dtypes;
  for (const GoldenCase& c : read_manifest()) {
    if (c.reference != "gguf") numpy_dtypes.insert(c.dtype);
    EXPECT_TRUE(c.reference == "gguf" || c.reference == "numpy") << c.name;
  }
  EXPECT_EQ(numpy_dtypes, (std::set<std::string>{"q8_1", "q8_K"}));
}

TEST(Dequantize, ReadsUnalignedSource) {
  const std::vector<uint8_t> bytes = read_file(kDir + "q4_K.random.bin");
  const std::vector<float> expected = floats_from_bytes(read_file(kDir + "q4_K.random.f32"));
  std::vector<uint8_t> shifted(bytes.size() + 1);
  std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
  std::vector<float> actual(expected.size());
  dequantize(DType::q4_K, std::span(shifted).subspan(1), actual);
  expect_bitwise_equal(expected, actual);
}

// A hand-written block, as a readable example of the simplest layouts.
TEST(Dequantize, HandWrittenBlocks) {
  // q4_0: d = 0.5 (f16 0x3800), element j in the low nibble of byte j, j + 16 in the high one.
  std::vector<uint8_t> q4_0(18, 0);
  q4_0[0] = 0x00;
  q4_0[1] = 0x38;
  q4_0[2] = 0xF0;  // element 0: 0 - 8 = -8, element 16: 15 - 8 = 7
  q4_0[3] = 0x19;  // element 1: 9 - 8 = 1, element 17: 1 - 8 = -7
  std::vector<float> out(32);
  dequantize(DType::q4_0, q4_0, out);
  EXPECT_EQ(out[0], -4.0f);
  EXPECT_EQ(out[16], 3.5f);
  EXPECT_EQ(out[1], 0.5f);
  EXPECT_EQ(out[17], -3.5f);
  EXPECT_EQ(out[2], -4.0f);  // nibble 0

  // q8_0: d = -2 (f16 0xC000), int8 quants.
  std::vector<uint8_t> q8_0(34, 0);
  q8_0[1] = 0xC0;
  q8_0[2] = 3;
  q8_0[33] = 0x80;  // -128
  dequantize(DType::q8_0, q8_0, out);
  EXPECT_EQ(out[0], -6.0f);
  EXPECT_EQ(out[1], -0.0f);
  EXPECT_EQ(out[31], 256.0f);
}

TEST(Dequantize, UnsupportedDTypeThrows) {
  for (DType dtype : {DType::iq2_xxs, DType::iq1_s, DType::i32, DType::f64, DType::q1_0}) {
    EXPECT_FALSE(can_dequantize(dtype)) << dtype_name(dtype);
    const std::optional<uint64_t> bytes = dtype_row_bytes(dtype, 256);
    ASSERT_TRUE(bytes.has_value());
    std::vector<uint8_t> src(*bytes);
    std::vector<float> dst(256);
    EXPECT_THROW(dequantize(dtype, src, dst), UserError) << dtype_name(dtype);
  }
}

TEST(Dequantize, SizeMismatchThrows) {
  std::vector<uint8_t> src(2 * 18);
  std::vector<float> dst(64);
  EXPECT_NO_THROW(dequantize(DType::q4_0, src, dst));
  // One byte short, one byte over.
  EXPECT_THROW(dequantize(DType::q4_0, std::span(src).first(35), dst), UserError);
  std::vector<uint8_t> longer(37);
  EXPECT_THROW(dequantize(DType::q4_0, longer, dst), UserError);
  // Not a whole number of blocks.
  EXPECT_THROW(dequantize(DType::q4_0, src, std::span(dst).first(63)), UserError);
  EXPECT_THROW(dequantize(DType::q4_K, std::vector<uint8_t>(144), std::span(dst)), UserError);
  // Plain types: bytes per element.
  EXPECT_THROW(dequantize(DType::f16, std::vector<uint8_t>(127), dst), UserError);
  // Nothing to do is fine.
  EXPECT_NO_THROW(dequantize(DType::q6_K, {}, {}));
}

TEST(Dequantize, HalfTypesAgreeWithHalfH) {
  // Every 16-bit pattern, NaNs included.
  std::vector<uint8_t> src(2 * 65536);
  for (uint32_t i = 0; i < 65536; ++i) {
    src[2 * i] = static_cast<uint8_t>(i);
    src[2 * i + 1] = static_cast<uint8_t>(i >> 8);
  }
  std::vector<float> f16(65536), bf16(65536);
  dequantize(DType::f16, src, f16);
  dequantize(DType::bf16, src, bf16);
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto bits = static_cast<uint16_t>(i);
    ASSERT_EQ(float_to_bits(f16[i]), float_to_bits(f16_to_f32(bits))) << "f16 0x" << std::hex << i;
    ASSERT_EQ(float_to_bits(bf16[i]), float_to_bits(bf16_to_f32(bits))) << "bf16 0x" << std::hex
                                                                         << i;
  }
}

}  // namespace
}  // namespace kiln
