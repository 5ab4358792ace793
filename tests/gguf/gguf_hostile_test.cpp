// Must-fail tests for the GGUF reader: each hostile file must be refused with a UserError that
// names the file, the byte offset and the problem, and must never crash, over-read or allocate
// what a count claims before the bytes for it are known to exist.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "base/error.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace kiln::gguf {
namespace {

constexpr std::string_view kName = "hostile.gguf";
constexpr uint32_t kMagic = 0x46554747;  // "GGUF"

// GGUF value type ids and ggml tensor type ids, as the file spells them.
constexpr uint32_t kTypeU8 = 0, kTypeU32 = 4, kTypeI32 = 5, kTypeBool = 7, kTypeString = 8,
                   kTypeArray = 9, kTypeU64 = 10;
constexpr uint32_t kF32 = 0, kQ4_0 = 2, kQ4_K = 12, kMXFP4 = 39;

// Little-endian bytes laid out by hand, for files the writer would never produce.
class Bytes {
 public:
  template <typename T>
  Bytes& put(T value) {
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<uint8_t>(bits >> (8 * i)));
    return *this;
  }
  Bytes& u8(uint8_t v) { return put(v); }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& str(std::string_view s) {
    u64(s.size());
    out.insert(out.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& header(uint64_t tensor_count, uint64_t kv_count, uint32_t version = 3) {
    return u32(kMagic).u32(version).u64(tensor_count).u64(kv_count);
  }
  Bytes& kv_u32(std::string_view key, uint32_t value) { return str(key).u32(kTypeU32).u32(value); }
  Bytes& tensor_info(std::string_view name, const std::vector<uint64_t>& shape, uint32_t type,
                     uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(shape.size()));
    for (uint64_t d : shape) u64(d);
    return u32(type).u64(offset);
  }
  // Pads to the data section and appends `n` bytes of tensor data.
  Bytes& data(size_t n, size_t alignment = 32) {
    while (out.size() % alignment != 0) out.push_back(0);
    out.resize(out.size() + n, 0x5a);
    return *this;
  }
  uint64_t size() const { return out.size(); }

  std::vector<uint8_t> out;
};

template <typename T>
void patch(std::vector<uint8_t>& bytes, size_t offset, T value) {
  ASSERT_LE(offset + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

std::string describe(std::string_view phrase, std::optional<uint64_t> offset) {
  std::string s = "\"" + std::string(phrase) + "\"";
  if (offset) s += " at offset " + std::to_string(*offset);
  return s;
}

// Parses a copy of `bytes` in a buffer of exactly their size (so ASan sees any over-read) and
// checks that it is refused with a UserError naming the file, `offset` (when given) and `phrase`.
::testing::AssertionResult refused(const std::vector<uint8_t>& bytes, std::string_view phrase,
                                   std::optional<uint64_t> offset = std::nullopt) {
  const std::unique_ptr<uint8_t[]> exact(new uint8_t[bytes.size() + (bytes.empty() ? 1 : 0)]);
  std::copy(bytes.begin(), bytes.end(), exact.get());
  try {
    const GGUFFile file = GGUFFile::parse({exact.get(), bytes.size()}, std::string(kName));
    return ::testing::AssertionFailure()
           << "parsed (" << file.metadata().size() << " keys, " << file.tensors().size()
           << " tensors); expected a refusal with " << describe(phrase, offset);
  } catch (const UserError& e) {
    const std::string message = e.what();
    const std::string where =
        offset ? "at offset " + std::to_string(*offset) + ":" : std::string("offset");
    for (std::string_view needed : {std::string_view("'hostile.gguf'"), std::string_view(where),
                                    phrase}) {
      if (message.find(needed) == std::string::npos) {
        return ::testing::AssertionFailure()
               << "message \"" << message << "\" lacks \"" << needed << "\"";
      }
    }
    return ::testing::AssertionSuccess() << message;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure()
           << "threw " << typeid(e).name() << " (" << e.what() << "), not UserError";
  }
}

::testing::AssertionResult parses(const std::vector<uint8_t>& bytes) {
  try {
    GGUFFile::parse(bytes, std::string(kName));
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << e.what();
  }
}

// A small valid file with every kind of section; its last tensor ends exactly at the end of the
// file (no trailing padding), so every proper prefix of it is truncated somewhere that matters.
std::vector<uint8_t> small_valid_file() {
  GGUFWriter writer;
  writer.set("general.architecture", Value{std::string("llama")});
  writer.set("llama.block_count", Value{uint32_t{2}});
  writer.set("llama.rope.freq_base", Value{10000.0f});
  writer.set("tokenizer.ggml.add_bos_token", Value{true});
  writer.set("tokenizer.ggml.tokens",
             Value{Array{ValueType::string, {Value{std::string("<s>")}, Value{std::string("a")},
                                             Value{std::string("")}}}});
  writer.set(
      "tokenizer.ggml.token_type",
      Value{Array{ValueType::i32, {Value{int32_t{3}}, Value{int32_t{1}}, Value{int32_t{1}}}}});
  writer.set("nested", Value{Array{ValueType::array,
                                   {Value{Array{ValueType::u8, {Value{uint8_t{7}}}}},
                                    Value{Array{ValueType::u16, {}}}}}});
  writer.set("general.size", Value{int64_t{-1}});
  std::vector<uint8_t> q4(36, 0x11), f32(32, 0x22), f16(32, 0x33);
  writer.add_tensor("blk.0.attn_q.weight", DType::q4_0, {32, 2}, q4);
  writer.add_tensor("output_norm.weight", DType::f32, {8}, f32);
  writer.add_tensor("token_embd.weight", DType::f16, {4, 4}, f16);
  return writer.to_bytes();
}

TEST(GGUFHostile, SmallValidFileParses) {
  const std::vector<uint8_t> bytes = small_valid_file();
  const GGUFFile file = GGUFFile::parse(bytes, std::string(kName));
  ASSERT_EQ(file.tensors().size(), 3u);
  const TensorInfo& last = file.tensors().back();
  EXPECT_EQ(file.data_offset() + last.offset + last.bytes, bytes.size())
      << "the truncation test needs the last tensor to end the file";
}

TEST(GGUFHostile, EmptyFile) {
  EXPECT_TRUE(refused({}, "truncated", 0));
}

// A truncated read names the offset where the missing bytes start.
TEST(GGUFHostile, TruncatedReadNamesWhereTheBytesRunOut) {
  Bytes version;
  version.u32(kMagic).u8(3).u8(0);  // two of the version's four bytes
  EXPECT_TRUE(refused(version.out, "file is truncated: reading version needs 4 bytes, 2 remain", 4));

  Bytes value_type;
  value_type.header(0, 1).str("general.architecture");
  const uint64_t type_offset = value_type.size();
  value_type.u8(kTypeString).u8(0);  // half of the value type
  EXPECT_TRUE(refused(value_type.out, "truncated", type_offset));

  Bytes tensor_offset;
  tensor_offset.header(1, 0).str("w").u32(1).u64(8).u32(kF32);
  const uint64_t offset_offset = tensor_offset.size();
  tensor_offset.u32(0);  // half of the data offset
  EXPECT_TRUE(refused(tensor_offset.out,
                      "file is truncated: reading tensor data offset needs 8 bytes, 4 remain",
                      offset_offset));
}

TEST(GGUFHostile, EveryPrefixOfAValidFileIsRefused) {
  const std::vector<uint8_t> bytes = small_valid_file();
  ASSERT_TRUE(parses(bytes));
  for (size_t length = 0; length < bytes.size(); ++length) {
    const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + length);
    ::testing::AssertionResult truncated = refused(prefix, "truncated");
    ::testing::AssertionResult past_end = refused(prefix, "past the end");
    ::testing::AssertionResult cannot_fit = refused(prefix, "cannot fit");
    EXPECT_TRUE(truncated || past_end || cannot_fit)
        << "prefix of " << length << " of " << bytes.size() << " bytes: " << truncated.message();
  }
}

TEST(GGUFHostile, WrongMagic) {
  for (const char* magic : {"GGUG", "FUGG", "ggml", "GGJT", "\x7f" "ELF", "\0\0\0\0"}) {
    Bytes b;
    b.header(0, 0);
    std::memcpy(b.out.data(), magic, 4);
    EXPECT_TRUE(refused(b.out, "not a GGUF file", 0)) << magic;
  }
}

TEST(GGUFHostile, UnsupportedVersion) {
  for (uint32_t version : {0u, 1u, 4u, 0x03000000u /* 3, big-endian */, 0xffffffffu}) {
    Bytes b;
    b.header(0, 0, version);
    EXPECT_TRUE(refused(b.out, fmt::format("GGUF version {} is not supported", version), 4));
  }
  Bytes v2, v3;
  v2.header(0, 0, 2);
  v3.header(0, 0, 3);
  EXPECT_TRUE(parses(v2.out));
  EXPECT_TRUE(parses(v3.out));
}

TEST(GGUFHostile, KeyLengthPastEnd) {
  Bytes b;
  b.header(0, 1).u64(1000).u32(0x41414141);
  EXPECT_TRUE(refused(b.out, "metadata key has length 1000, past the end of the file", 24));
  // A length whose end wraps around the address space.
  Bytes wrap;
  wrap.header(0, 1).u64(UINT64_MAX).u32(0x41414141).u32(0).u32(0);
  EXPECT_TRUE(refused(wrap.out, "past the end of the file", 24));
}

TEST(GGUFHostile, StringValueLengthPastEnd) {
  Bytes b;
  b.header(0, 1).str("general.name").u32(kTypeString);
  const uint64_t length_offset = b.size();
  b.u64(17).str("short");  // 13 bytes remain after the length, 17 claimed
  EXPECT_TRUE(refused(b.out, "string value has length 17, past the end", length_offset));
  // One byte short, then exactly enough.
  Bytes exact;
  exact.header(0, 1).str("general.name").u32(kTypeString).u64(5).u32(0x41414141);
  EXPECT_TRUE(refused(exact.out, "past the end"));
  exact.u8('A');
  EXPECT_TRUE(parses(exact.out));
}

TEST(GGUFHostile, TensorNameLengthPastEnd) {
  Bytes b;
  b.header(1, 0);
  b.u64(1ull << 40).u32(1).u64(32).u32(kF32).u64(0);
  EXPECT_TRUE(refused(b.out, "tensor name has length 1099511627776, past the end", 24));
}

TEST(GGUFHostile, ArrayCountPastEnd) {
  struct Case {
    uint32_t element_type;
    uint64_t count;
  };
  for (const Case& c : {Case{kTypeU8, 1ull << 62}, Case{kTypeU8, UINT64_MAX},
                        Case{kTypeString, 1ull << 62}, Case{kTypeArray, 1ull << 62},
                        Case{kTypeU64, 1ull << 61}, Case{kTypeBool, 100}}) {
    Bytes b;
    b.header(0, 1).str("tokenizer.ggml.tokens").u32(kTypeArray).u32(c.element_type).u64(c.count);
    b.u64(0).u64(0);  // 16 bytes: fewer than any of these counts needs
    EXPECT_TRUE(refused(b.out, fmt::format("array count {} cannot fit", c.count)))
        << "type " << c.element_type << " count " << c.count;
  }
  // The boundary: u32 elements, one more than the bytes left hold, then exactly that many.
  Bytes over;
  over.header(0, 1).str("a").u32(kTypeArray).u32(kTypeU32).u64(3).u32(1).u32(2);
  EXPECT_TRUE(refused(over.out, "array count 3 cannot fit in the 8 bytes that remain"));
  Bytes fits;
  fits.header(0, 1).str("a").u32(kTypeArray).u32(kTypeU32).u64(2).u32(1).u32(2);
  EXPECT_TRUE(parses(fits.out));
}

// Arrays of arrays whose inner arrays each claim more than is left: every level must be checked.
TEST(GGUFHostile, InnerArrayCountPastEnd) {
  Bytes b;
  b.header(0, 1).str("a").u32(kTypeArray).u32(kTypeArray).u64(1);
  b.u32(kTypeString).u64(1ull << 60).u64(0);
  EXPECT_TRUE(refused(b.out, "array count 1152921504606846976 cannot fit"));
}

Bytes nested_arrays(int levels) {
  Bytes b;
  b.header(0, 1).str("deep").u32(kTypeArray);
  for (int level = 1; level < levels; ++level) b.u32(kTypeArray).u64(1);
  b.u32(kTypeU8).u64(1).u8(42);
  return b;
}

TEST(GGUFHostile, ArraysNestedTooDeep) {
  EXPECT_TRUE(parses(nested_arrays(8).out));
  EXPECT_TRUE(refused(nested_arrays(9).out, "arrays nest deeper than 8 levels"));
  // Deep enough to overflow the stack if the depth were not limited.
  EXPECT_TRUE(refused(nested_arrays(200000).out, "arrays nest deeper than 8 levels"));
}

TEST(GGUFHostile, UnknownMetadataValueType) {
  for (uint32_t type : {13u, 14u, 255u, 0x80000000u, 0xffffffffu}) {
    Bytes b;
    b.header(0, 1).str("general.name");
    const uint64_t type_offset = b.size();
    b.u32(type).u64(0);
    EXPECT_TRUE(refused(b.out, fmt::format("unknown metadata value type {}", type), type_offset));
  }
  Bytes element;
  element.header(0, 1).str("a").u32(kTypeArray);
  const uint64_t element_type_offset = element.size();
  element.u32(13).u64(0);
  EXPECT_TRUE(refused(element.out, "unknown metadata value type 13", element_type_offset));
}

TEST(GGUFHostile, BoolNotZeroOrOne) {
  for (int value : {2, 0x80, 0xff}) {
    Bytes b;
    b.header(0, 1).str("tokenizer.ggml.add_bos_token").u32(kTypeBool);
    const uint64_t value_offset = b.size();
    b.u8(static_cast<uint8_t>(value));
    EXPECT_TRUE(refused(b.out, fmt::format("bool value is {}, not 0 or 1", value), value_offset));
  }
  Bytes in_array;
  in_array.header(0, 1).str("a").u32(kTypeArray).u32(kTypeBool).u64(3).u8(1).u8(0);
  const uint64_t bad_offset = in_array.size();
  in_array.u8(7);
  EXPECT_TRUE(refused(in_array.out, "bool value is 7, not 0 or 1", bad_offset));
}

TEST(GGUFHostile, TensorRunsPastTheEnd) {
  Bytes b;
  b.header(1, 0).tensor_info("w", {16}, kF32, 0).data(32);  // 64 bytes claimed, 32 present
  const uint64_t data_start = b.size() - 32;
  EXPECT_TRUE(refused(b.out, "tensor 'w' (64 bytes at data offset 0) runs past the end", data_start));

  // The offset named is the tensor's, in the file: data section start + data offset.
  Bytes second;
  second.header(2, 0).tensor_info("a", {8}, kF32, 0).tensor_info("b", {8}, kF32, 64).data(64);
  EXPECT_TRUE(refused(second.out, "tensor 'b' (32 bytes at data offset 64) runs past the end",
                      second.size() - 64 + 64));

  // An offset whose sum with the size wraps past 2^64 to a small number.
  Bytes wrap;
  wrap.header(1, 0).tensor_info("w", {16}, kF32, UINT64_MAX - 31).data(64);
  EXPECT_TRUE(refused(wrap.out, "runs past the end"));

  // Exactly enough is fine.
  Bytes exact;
  exact.header(1, 0).tensor_info("w", {16}, kF32, 0).data(64);
  EXPECT_TRUE(parses(exact.out));
}

TEST(GGUFHostile, DataSectionStartsPastTheEnd) {
  Bytes b;
  b.header(1, 0).tensor_info("w", {0}, kF32, 0);  // a zero-sized tensor, but no data section
  ASSERT_NE(b.size() % 32, 0u);
  EXPECT_TRUE(refused(b.out, "data section starts past the end", b.size()));
}

TEST(GGUFHostile, TensorsOverlap) {
  Bytes b;
  b.header(2, 0).tensor_info("a", {16}, kF32, 0).tensor_info("b", {16}, kF32, 32).data(96);
  // Named at the start of the later tensor, where the overlap begins.
  EXPECT_TRUE(refused(b.out, "tensor 'b' overlaps tensor 'a'", b.size() - 96 + 32));

  Bytes same;
  same.header(2, 0).tensor_info("a", {8}, kF32, 32).tensor_info("b", {8}, kF32, 32).data(64);
  EXPECT_TRUE(refused(same.out, "overlaps"));

  // Listed out of order, and the overlap is not between neighbours in the listing.
  Bytes unordered;
  unordered.header(3, 0)
      .tensor_info("c", {8}, kF32, 64)
      .tensor_info("big", {32}, kF32, 0)
      .tensor_info("small", {8}, kF32, 96)
      .data(128);
  EXPECT_TRUE(refused(unordered.out, "overlaps tensor 'big'"));

  Bytes touching;
  touching.header(2, 0).tensor_info("b", {8}, kF32, 32).tensor_info("a", {8}, kF32, 0).data(64);
  EXPECT_TRUE(parses(touching.out));
}

TEST(GGUFHostile, TensorOffsetNotAligned) {
  Bytes b;
  b.header(1, 0).tensor_info("w", {8}, kF32, 4).data(64);
  EXPECT_TRUE(refused(b.out, "tensor 'w': data offset 4 is not a multiple of the alignment 32"));

  // 32 is aligned by default, but not under general.alignment = 64.
  Bytes custom;
  custom.header(1, 1).kv_u32("general.alignment", 64).tensor_info("w", {8}, kF32, 32).data(128, 64);
  EXPECT_TRUE(refused(custom.out, "data offset 32 is not a multiple of the alignment 64"));
  Bytes custom_ok;
  custom_ok.header(1, 1)
      .kv_u32("general.alignment", 64)
      .tensor_info("w", {8}, kF32, 64)
      .data(128, 64);
  EXPECT_TRUE(parses(custom_ok.out));
}

TEST(GGUFHostile, DimensionProductOverflows) {
  const std::vector<std::vector<uint64_t>> shapes = {
      {1ull << 32, 1ull << 32},
      {UINT64_MAX},
      {1ull << 63},
      {2, 1ull << 63},
      {1ull << 16, 1ull << 16, 1ull << 16, 1ull << 16},
      {3, 0x5555555555555556ull},
  };
  for (const std::vector<uint64_t>& shape : shapes) {
    Bytes b;
    b.header(1, 0);
    const uint64_t dims_offset = b.size() + 8 + 1;
    b.tensor_info("w", shape, kF32, 0).data(32);
    EXPECT_TRUE(refused(b.out, "tensor 'w': the product of its dimensions overflows 64 bits",
                        dims_offset))
        << shape[0];
  }
}

TEST(GGUFHostile, TensorByteSizeOverflows) {
  // 2^62 elements fit in 64 bits, but 2^62 f32s take 2^64 bytes.
  Bytes b;
  b.header(1, 0).str("w").u32(2).u64(1ull << 31).u64(1ull << 31);
  const uint64_t type_offset = b.size();
  b.u32(kF32).u64(0).data(32);
  EXPECT_TRUE(refused(b.out, "tensor 'w': its size in bytes overflows 64 bits", type_offset));
}

TEST(GGUFHostile, DimensionCount) {
  for (uint32_t n_dims : {0u, 5u, 8u, 0xffffffffu}) {
    Bytes b;
    b.header(1, 0).str("w");
    const uint64_t dims_offset = b.size();
    b.u32(n_dims);
    for (uint32_t d = 0; d < std::min(n_dims, 8u); ++d) b.u64(1);
    b.u32(kF32).u64(0).data(32);
    EXPECT_TRUE(refused(b.out,
                        fmt::format("tensor 'w' has {} dimensions; 1 to 4 are allowed", n_dims),
                        dims_offset));
  }
  Bytes four;
  four.header(1, 0).tensor_info("w", {1, 2, 1, 2}, kF32, 0).data(32);
  EXPECT_TRUE(parses(four.out));
}

TEST(GGUFHostile, UnknownTensorType) {
  for (uint32_t type : {4u, 5u, 31u, 32u, 33u, 36u, 42u, 200u, 0xffffffffu}) {
    Bytes b;
    b.header(1, 0).str("w").u32(1).u64(256);
    const uint64_t type_offset = b.size();
    b.u32(type).u64(0).data(1024);
    EXPECT_TRUE(refused(b.out, fmt::format("tensor 'w' has unknown tensor type {}", type),
                        type_offset));
  }
}

TEST(GGUFHostile, FirstDimensionNotAWholeNumberOfBlocks) {
  struct Case {
    uint32_t type;
    std::vector<uint64_t> shape;
    const char* phrase;
  };
  // The element counts are whole blocks; only the rows are not.
  const Case cases[] = {
      {kQ4_0, {16, 2}, "first dimension 16 is not a multiple of the q4_0 block size 32"},
      {kQ4_K, {128, 2}, "first dimension 128 is not a multiple of the q4_K block size 256"},
      {kMXFP4, {1, 32}, "first dimension 1 is not a multiple of the mxfp4 block size 32"},
      {kQ4_0, {33}, "first dimension 33 is not a multiple of the q4_0 block size 32"},
  };
  for (const Case& c : cases) {
    Bytes b;
    b.header(1, 0).tensor_info("w", c.shape, c.type, 0).data(256);
    EXPECT_TRUE(refused(b.out, c.phrase));
  }
}

TEST(GGUFHostile, DuplicateMetadataKey) {
  Bytes b;
  b.header(0, 3).kv_u32("llama.block_count", 30).kv_u32("llama.embedding_length", 576);
  const uint64_t second_offset = b.size();
  b.kv_u32("llama.block_count", 31);
  EXPECT_TRUE(refused(b.out, "duplicate metadata key 'llama.block_count'", second_offset));
}

TEST(GGUFHostile, DuplicateTensorName) {
  Bytes b;
  b.header(2, 0).tensor_info("w", {8}, kF32, 0);
  const uint64_t second_offset = b.size();
  b.tensor_info("w", {8}, kF32, 32).data(64);
  EXPECT_TRUE(refused(b.out, "duplicate tensor name 'w'", second_offset));
}

TEST(GGUFHostile, BadAlignment) {
  const std::string phrase = "general.alignment must be a power of two stored as u32";
  for (uint32_t alignment : {0u, 3u, 48u, 96u, 0x80000001u, 0xffffffffu}) {
    Bytes b;
    b.header(0, 1).kv_u32("general.alignment", alignment);
    EXPECT_TRUE(refused(b.out, phrase)) << alignment;
  }
  Bytes as_u64;
  as_u64.header(0, 1).str("general.alignment").u32(kTypeU64).u64(64);
  EXPECT_TRUE(refused(as_u64.out, phrase + ", got 64 (u64)"));
  Bytes as_i32;
  as_i32.header(0, 1).str("general.alignment").u32(kTypeI32).u32(64);
  EXPECT_TRUE(refused(as_i32.out, phrase));
  Bytes as_string;
  as_string.header(0, 1).str("general.alignment").u32(kTypeString).str("64");
  EXPECT_TRUE(refused(as_string.out, phrase));
  Bytes as_array;
  as_array.header(0, 1).str("general.alignment").u32(kTypeArray).u32(kTypeU32).u64(1).u32(64);
  EXPECT_TRUE(refused(as_array.out, phrase));

  for (uint32_t alignment : {1u, 2u, 64u, 1u << 20}) {
    Bytes b;
    b.header(0, 1).kv_u32("general.alignment", alignment);
    EXPECT_TRUE(parses(b.out)) << alignment;
  }
}

TEST(GGUFHostile, HugeCounts) {
  for (uint64_t count :
       std::initializer_list<uint64_t>{1ull << 40, 1ull << 62, 1ull << 63, UINT64_MAX}) {
    Bytes tensors;
    tensors.header(count, 0).u64(0);
    // The error points at the count field itself: tensor count at 8, metadata count at 16.
    EXPECT_TRUE(refused(tensors.out, fmt::format("tensor count {} cannot fit", count), 8));
    Bytes kvs;
    kvs.header(0, count).u64(0);
    EXPECT_TRUE(refused(kvs.out, fmt::format("metadata count {} cannot fit", count), 16));
  }
}

// Mutates a valid file at random: every result must parse or be refused with a UserError, and a
// file that parses must have every tensor's bytes inside the buffer.
TEST(GGUFHostile, RandomMutationsParseOrAreRefused) {
  uint32_t seed = 20250601;
  if (const char* env = std::getenv("KILN_GGUF_MUTATION_SEED")) {
    seed = static_cast<uint32_t>(std::strtoul(env, nullptr, 10));
  }
  std::cout << "[ seed     ] KILN_GGUF_MUTATION_SEED=" << seed << "\n";
  SCOPED_TRACE(::testing::Message() << "KILN_GGUF_MUTATION_SEED=" << seed);
  std::mt19937_64 rng(seed);

  const std::vector<uint8_t> valid = small_valid_file();
  const uint64_t data_offset = GGUFFile::parse(valid, std::string(kName)).data_offset();
  const uint64_t interesting64[] = {0,          1,          2,          31,
                                    32,         33,         255,        1ull << 31,
                                    1ull << 32, 1ull << 62, 1ull << 63, UINT64_MAX,
                                    UINT64_MAX - 31, valid.size(), valid.size() - 1, data_offset};
  const uint32_t interesting32[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 31, 39, 200,
                                    0x7fffffff, 0x80000000, 0xffffffff};
  constexpr int kIterations = 2000;
  int parsed = 0;
  int refusals = 0;
  for (int iteration = 0; iteration < kIterations; ++iteration) {
    std::vector<uint8_t> bytes = valid;
    // Three times in four, aim at the header, metadata and tensor infos, where a change matters.
    const uint64_t span = (rng() % 4 != 0) ? data_offset : bytes.size();
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const uint64_t at = rng() % span;
      switch (rng() % 4) {
        case 0:
          bytes[at] ^= static_cast<uint8_t>(1 + rng() % 255);
          break;
        case 1:
          bytes[at] = static_cast<uint8_t>(rng());
          break;
        case 2:
          if (at + 8 <= bytes.size()) {
            const uint64_t v = interesting64[rng() % std::size(interesting64)];
            std::memcpy(bytes.data() + at, &v, 8);
          }
          break;
        default:
          if (at + 4 <= bytes.size()) {
            const uint32_t v = interesting32[rng() % std::size(interesting32)];
            std::memcpy(bytes.data() + at, &v, 4);
          }
          break;
      }
    }
    if (rng() % 8 == 0) bytes.resize(rng() % (bytes.size() + 1));

    SCOPED_TRACE(::testing::Message() << "iteration " << iteration);
    const std::unique_ptr<uint8_t[]> exact(new uint8_t[bytes.size() + 1]);
    std::copy(bytes.begin(), bytes.end(), exact.get());
    const std::span<const uint8_t> buffer(exact.get(), bytes.size());
    try {
      const GGUFFile file = GGUFFile::parse(buffer, std::string(kName));
      ++parsed;
      for (const KeyValue& kv : file.metadata()) (void)format_value(kv.value);
      for (const TensorInfo& t : file.tensors()) {
        const std::span<const uint8_t> data = file.tensor_data(t);
        ASSERT_GE(data.data(), buffer.data()) << t.name;
        ASSERT_LE(data.data() + data.size(), buffer.data() + buffer.size()) << t.name;
        ASSERT_EQ(data.size(), t.bytes) << t.name;
        ASSERT_EQ((data.data() - buffer.data()) % file.alignment(), 0) << t.name;
        uint8_t sink = 0;
        for (uint8_t byte : data) sink ^= byte;
        (void)sink;
      }
    } catch (const UserError& e) {
      ++refusals;
      const std::string message = e.what();
      ASSERT_NE(message.find("'hostile.gguf'"), std::string::npos) << message;
      ASSERT_NE(message.find("offset"), std::string::npos) << message;
    } catch (const std::exception& e) {
      FAIL() << "threw " << typeid(e).name() << ", not UserError: " << e.what();
    }
  }
  std::cout << "[ seed     ] " << parsed << " parsed, " << refusals << " refused\n";
  EXPECT_GT(parsed, 0);
  EXPECT_GT(refusals, kIterations / 4);
}

}  // namespace
}  // namespace kiln::gguf

// An empty tensor sharing an offset with another overlaps nothing, whatever the listing order.
TEST(GGUFHostile, EmptyTensorAtSharedOffsetParsesInEitherOrder) {
  const std::vector<uint8_t> data(32, 0);
  for (bool empty_first : {true, false}) {
    kiln::gguf::GGUFWriter writer;
    const std::vector<uint8_t> none;
    if (empty_first) writer.add_tensor("empty", kiln::DType::f32, {0}, none);
    writer.add_tensor("w", kiln::DType::f32, {8}, data);
    if (!empty_first) writer.add_tensor("empty", kiln::DType::f32, {0}, none);
    const std::vector<uint8_t> bytes = writer.to_bytes();
    EXPECT_NO_THROW(kiln::gguf::GGUFFile::parse(bytes, "empty.gguf")) << "empty first: " << empty_first;
  }
}
