// GGUF writer -> bytes -> reader gives back every metadata type and every tensor; files built by
// hand from the format's definition (versions 2 and 3) are read as the spec says; and a real
// model, when it is present, reads with the shapes llama.cpp reports.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "base/error.h"
#include "base/model_folder.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_value.h"
#include "gguf/gguf_writer.h"

namespace kiln::gguf {
namespace {

Value make_array(ValueType element_type, std::vector<Value> items) {
  return Value{Array{element_type, std::move(items)}};
}

Value make_string(std::string s) { return Value{std::move(s)}; }

// Equal type and equal value; floats compare by bits so NaN and -0.0 round-trip exactly.
::testing::AssertionResult same_value(const Value& want, const Value& got) {
  if (want.type() != got.type()) {
    return ::testing::AssertionFailure() << "type " << value_type_name(got.type()) << ", want "
                                         << value_type_name(want.type());
  }
  if (const auto* w = std::get_if<float>(&want.storage)) {
    uint32_t a, b;
    std::memcpy(&a, w, 4);
    std::memcpy(&b, &std::get<float>(got.storage), 4);
    if (a != b) return ::testing::AssertionFailure() << "f32 bits " << b << ", want " << a;
    return ::testing::AssertionSuccess();
  }
  if (const auto* w = std::get_if<double>(&want.storage)) {
    uint64_t a, b;
    std::memcpy(&a, w, 8);
    std::memcpy(&b, &std::get<double>(got.storage), 8);
    if (a != b) return ::testing::AssertionFailure() << "f64 bits " << b << ", want " << a;
    return ::testing::AssertionSuccess();
  }
  if (const Array* w = want.as_array()) {
    const Array& g = *got.as_array();
    if (w->element_type != g.element_type) {
      return ::testing::AssertionFailure() << "array of " << value_type_name(g.element_type)
                                           << ", want " << value_type_name(w->element_type);
    }
    if (w->items.size() != g.items.size()) {
      return ::testing::AssertionFailure() << "array of " << g.items.size() << " items, want "
                                           << w->items.size();
    }
    for (size_t i = 0; i < w->items.size(); ++i) {
      ::testing::AssertionResult item = same_value(w->items[i], g.items[i]);
      if (!item) return ::testing::AssertionFailure() << "item " << i << ": " << item.message();
    }
    return ::testing::AssertionSuccess();
  }
  const bool equal = std::visit(
      [&](const auto& w) {
        using T = std::decay_t<decltype(w)>;
        if constexpr (std::is_same_v<T, Array>) {
          return false;  // handled above
        } else {
          return w == std::get<T>(got.storage);
        }
      },
      want.storage);
  if (!equal) {
    return ::testing::AssertionFailure() << format_value(got) << ", want " << format_value(want);
  }
  return ::testing::AssertionSuccess();
}

GGUFFile round_trip(const GGUFWriter& writer, std::vector<uint8_t>& bytes) {
  bytes = writer.to_bytes();
  return GGUFFile::parse(bytes, "roundtrip.gguf");
}

// Sample values of all twelve scalar and string types, extremes included.
std::vector<KeyValue> scalar_samples() {
  return {
      {"u8", Value{uint8_t{255}}},
      {"i8", Value{int8_t{-128}}},
      {"u16", Value{uint16_t{65535}}},
      {"i16", Value{int16_t{-32768}}},
      {"u32", Value{uint32_t{0xfffffffe}}},
      {"i32", Value{std::numeric_limits<int32_t>::min()}},
      {"f32", Value{-1.5e-30f}},
      {"bool.true", Value{true}},
      {"bool.false", Value{false}},
      {"string", make_string("h\xc3\xa9llo \"w\"\n\t")},
      {"u64", Value{std::numeric_limits<uint64_t>::max()}},
      {"i64", Value{std::numeric_limits<int64_t>::min()}},
      {"f64", Value{3.141592653589793}},
      {"f32.nan", Value{std::numeric_limits<float>::quiet_NaN()}},
      {"f32.negative_zero", Value{-0.0f}},
      {"f64.infinity", Value{-std::numeric_limits<double>::infinity()}},
      {"string.nul", make_string(std::string("a\0b", 3))},
  };
}

TEST(GGUFRoundTrip, EveryScalarType) {
  GGUFWriter writer;
  const std::vector<KeyValue> samples = scalar_samples();
  for (const KeyValue& kv : samples) writer.set(kv.key, kv.value);
  std::vector<uint8_t> bytes;
  const GGUFFile file = round_trip(writer, bytes);
  EXPECT_EQ(file.version(), 3u);
  ASSERT_EQ(file.metadata().size(), samples.size());
  for (const KeyValue& kv : samples) {
    const Value* got = file.find(kv.key);
    ASSERT_NE(got, nullptr) << kv.key;
    EXPECT_TRUE(same_value(kv.value, *got)) << kv.key;
  }
  std::set<ValueType> types;
  for (const KeyValue& kv : samples) types.insert(kv.value.type());
  EXPECT_EQ(types.size(), 12u) << "every type but array";
}

TEST(GGUFRoundTrip, ArraysOfEveryType) {
  GGUFWriter writer;
  std::vector<KeyValue> arrays = {
      {"a.u8", make_array(ValueType::u8, {Value{uint8_t{0}}, Value{uint8_t{255}}})},
      {"a.i8", make_array(ValueType::i8, {Value{int8_t{-1}}, Value{int8_t{127}}})},
      {"a.u16", make_array(ValueType::u16, {Value{uint16_t{1}}, Value{uint16_t{65535}}})},
      {"a.i16", make_array(ValueType::i16, {Value{int16_t{-300}}})},
      {"a.u32", make_array(ValueType::u32, {Value{uint32_t{7}}, Value{uint32_t{1u << 31}}})},
      {"a.i32",
       make_array(ValueType::i32, {Value{int32_t{-7}}, Value{int32_t{3}}, Value{int32_t{0}}})},
      {"a.f32", make_array(ValueType::f32, {Value{0.25f}, Value{-1e38f}})},
      {"a.bool", make_array(ValueType::boolean, {Value{true}, Value{false}, Value{true}})},
      {"a.string", make_array(ValueType::string,
                              {make_string("a"), make_string(""), make_string("<|im_start|>")})},
      {"a.array",
       make_array(ValueType::array, {make_array(ValueType::u8, {Value{uint8_t{1}}}),
                                     make_array(ValueType::string, {make_string("x")})})},
      {"a.u64", make_array(ValueType::u64, {Value{uint64_t{1} << 63}})},
      {"a.i64", make_array(ValueType::i64, {Value{int64_t{-1}}, Value{int64_t{1} << 40}})},
      {"a.f64", make_array(ValueType::f64, {Value{1e300}, Value{-0.0}})},
  };
  for (const KeyValue& kv : arrays) writer.set(kv.key, kv.value);
  std::vector<uint8_t> bytes;
  const GGUFFile file = round_trip(writer, bytes);
  ASSERT_EQ(file.metadata().size(), arrays.size());
  for (const KeyValue& kv : arrays) {
    const Value* got = file.find(kv.key);
    ASSERT_NE(got, nullptr) << kv.key;
    EXPECT_TRUE(same_value(kv.value, *got)) << kv.key;
  }
}

TEST(GGUFRoundTrip, NestedArraysAndEmptyValues) {
  const Value deep = make_array(
      ValueType::array,
      {make_array(ValueType::array,
                  {make_array(ValueType::i32, {Value{int32_t{1}}, Value{int32_t{2}}}),
                   make_array(ValueType::f64, {})}),
       make_array(ValueType::array, {}),
       make_array(ValueType::array, {make_array(ValueType::string, {make_string("")})})});
  // Eight levels: the most the reader accepts.
  Value eight_levels = make_array(ValueType::u8, {Value{uint8_t{42}}});
  for (int level = 1; level < 8; ++level)
    eight_levels = make_array(ValueType::array, {eight_levels});

  GGUFWriter writer;
  const std::vector<KeyValue> values = {
      {"nested", deep},
      {"eight_levels", eight_levels},
      {"empty.string", make_string("")},
      {"empty.u8s", make_array(ValueType::u8, {})},
      {"empty.strings", make_array(ValueType::string, {})},
      {"empty.arrays", make_array(ValueType::array, {})},
      {"", make_string("the empty key")},
      {"long.string", make_string(std::string(100000, 'x'))},
  };
  for (const KeyValue& kv : values) writer.set(kv.key, kv.value);
  std::vector<uint8_t> bytes;
  const GGUFFile file = round_trip(writer, bytes);
  for (const KeyValue& kv : values) {
    const Value* got = file.find(kv.key);
    ASSERT_NE(got, nullptr) << "'" << kv.key << "'";
    EXPECT_TRUE(same_value(kv.value, *got)) << "'" << kv.key << "'";
  }
  EXPECT_EQ(format_value(*file.find("nested")), "[[[1, 2], []], [], [[\"\"]]]");
}

TEST(GGUFRoundTrip, MetadataOrderIsPreserved) {
  const std::vector<std::string> keys = {"zeta", "general.architecture", "alpha", "llama.x",
                                         "b", "a", "tokenizer.ggml.tokens", "m"};
  GGUFWriter writer;
  for (size_t i = 0; i < keys.size(); ++i) writer.set(keys[i], Value{static_cast<uint32_t>(i)});
  writer.set("alpha", Value{uint32_t{99}});  // setting again replaces in place
  std::vector<uint8_t> bytes;
  const GGUFFile file = round_trip(writer, bytes);
  ASSERT_EQ(file.metadata().size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(file.metadata()[i].key, keys[i]);
    EXPECT_EQ(file.get_int(keys[i]), keys[i] == "alpha" ? 99 : static_cast<int64_t>(i));
  }
}

struct TensorSpec {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;
};

std::vector<uint8_t> random_bytes(size_t n, std::mt19937& rng) {
  std::vector<uint8_t> out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

uint64_t round_up(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

void check_tensors_round_trip(uint32_t alignment) {
  SCOPED_TRACE(::testing::Message() << "alignment " << alignment);
  const std::vector<TensorSpec> specs = {
      {"f32.vector", DType::f32, {5}},
      {"f16.matrix", DType::f16, {3, 7}},
      {"q4_0.matrix", DType::q4_0, {64, 3}},
      {"q4_K.matrix", DType::q4_K, {512, 2}},
      {"q8_0.3d", DType::q8_0, {32, 2, 3}},
      {"bf16.4d", DType::bf16, {2, 3, 1, 2}},
      {"q6_K.vector", DType::q6_K, {256}},
      {"i32.vector", DType::i32, {1}},
      {"q4_1.row", DType::q4_1, {96, 1}},
  };
  std::mt19937 rng(alignment);
  std::vector<std::vector<uint8_t>> datas;
  GGUFWriter writer;
  writer.set("general.architecture", make_string("test"));
  if (alignment != kDefaultAlignment) writer.set("general.alignment", Value{alignment});
  for (const TensorSpec& spec : specs) {
    uint64_t elements = 1;
    for (uint64_t d : spec.shape) elements *= d;
    datas.push_back(random_bytes(*dtype_row_bytes(spec.dtype, elements), rng));
    writer.add_tensor(spec.name, spec.dtype, spec.shape, datas.back());
  }
  std::vector<uint8_t> bytes;
  const GGUFFile file = round_trip(writer, bytes);
  EXPECT_EQ(file.alignment(), alignment);
  EXPECT_EQ(file.data_offset() % alignment, 0u);
  EXPECT_EQ(file.file_size(), bytes.size());
  ASSERT_EQ(file.tensors().size(), specs.size());
  uint64_t expected_offset = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& spec = specs[i];
    const TensorInfo& t = file.tensors()[i];
    SCOPED_TRACE(spec.name);
    EXPECT_EQ(t.name, spec.name);
    EXPECT_EQ(t.dtype, spec.dtype);
    EXPECT_EQ(t.shape, spec.shape);
    uint64_t elements = 1;
    for (uint64_t d : spec.shape) elements *= d;
    EXPECT_EQ(t.elements, elements);
    EXPECT_EQ(t.bytes, datas[i].size());
    EXPECT_EQ(t.offset, expected_offset);
    EXPECT_EQ(t.offset % alignment, 0u);
    expected_offset += round_up(t.bytes, alignment);
    EXPECT_EQ(file.find_tensor(spec.name), &t);
    const std::span<const uint8_t> data = file.tensor_data(t);
    EXPECT_EQ(data.data(), bytes.data() + file.data_offset() + t.offset);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), datas[i].begin(), datas[i].end()));
  }
  EXPECT_EQ(file.find_tensor("missing"), nullptr);
  EXPECT_EQ(file.find_tensor(""), nullptr);
}

TEST(GGUFRoundTrip, TensorsOfSeveralDTypes) { check_tensors_round_trip(kDefaultAlignment); }

TEST(GGUFRoundTrip, CustomAlignmentIsRespected) {
  check_tensors_round_trip(64);
  check_tensors_round_trip(1);
  check_tensors_round_trip(4096);
}

TEST(GGUFRoundTrip, FileWithoutTensors) {
  GGUFWriter writer;
  writer.set("general.architecture", make_string("none"));
  std::vector<uint8_t> bytes;
  const GGUFFile file = round_trip(writer, bytes);
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_LE(file.data_offset(), bytes.size());
  EXPECT_EQ(file.get_string("general.architecture"), "none");

  GGUFWriter empty;
  const GGUFFile nothing = round_trip(empty, bytes);
  EXPECT_TRUE(nothing.metadata().empty());
  EXPECT_TRUE(nothing.tensors().empty());
  EXPECT_EQ(bytes.size(), 32u) << "a 24-byte header padded to 32";
}

// Runs `f`, which must throw UserError with every one of `phrases` in its message.
template <typename F>
::testing::AssertionResult throws_user_error(F&& f, const std::vector<std::string>& phrases) {
  try {
    f();
  } catch (const UserError& e) {
    const std::string message = e.what();
    for (const std::string& phrase : phrases) {
      if (message.find(phrase) == std::string::npos) {
        return ::testing::AssertionFailure() << "message \"" << message << "\" lacks \"" << phrase
                                             << "\"";
      }
    }
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw another exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

TEST(GGUFRoundTrip, FindAndTypedGetters) {
  GGUFWriter writer;
  for (const KeyValue& kv : scalar_samples()) writer.set(kv.key, kv.value);
  writer.set("u64.small", Value{uint64_t{12345}});
  writer.set("f32.one", Value{1.0f});
  writer.set("array", make_array(ValueType::u32, {Value{uint32_t{1}}}));
  std::vector<uint8_t> bytes;
  const GGUFFile file = round_trip(writer, bytes);

  EXPECT_EQ(file.find("missing"), nullptr);
  EXPECT_EQ(file.find("U8"), nullptr) << "keys are case-sensitive";
  EXPECT_EQ(file.find("u"), nullptr);
  ASSERT_NE(file.find("u8"), nullptr);
  EXPECT_EQ(file.find("u8")->type(), ValueType::u8);

  EXPECT_EQ(file.get_int("u8"), 255);
  EXPECT_EQ(file.get_int("i8"), -128);
  EXPECT_EQ(file.get_int("u16"), 65535);
  EXPECT_EQ(file.get_int("i16"), -32768);
  EXPECT_EQ(file.get_int("u32"), 0xfffffffe);
  EXPECT_EQ(file.get_int("i32"), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(file.get_int("u64.small"), 12345);
  EXPECT_EQ(file.get_int("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(file.get_string("string"), "h\xc3\xa9llo \"w\"\n\t");
  EXPECT_EQ(file.get_string("string.nul"), std::string("a\0b", 3));
  EXPECT_EQ(file.get_float("f64"), 3.141592653589793);
  EXPECT_EQ(file.get_float("f32.one"), 1.0);
  EXPECT_EQ(file.get_float("u32"), 4294967294.0) << "integers widen to float";
  EXPECT_EQ(file.get_string_or("string", "fallback"), "h\xc3\xa9llo \"w\"\n\t");
  EXPECT_EQ(file.get_string_or("missing", "fallback"), "fallback");

  const std::vector<std::string> missing = {"roundtrip.gguf", "'nope'", "missing"};
  EXPECT_TRUE(throws_user_error([&] { file.get_int("nope"); }, missing));
  EXPECT_TRUE(throws_user_error([&] { file.get_string("nope"); }, missing));
  EXPECT_TRUE(throws_user_error([&] { file.get_float("nope"); }, missing));

  const std::vector<std::string> not_int = {"roundtrip.gguf", "should be an integer"};
  EXPECT_TRUE(throws_user_error([&] { file.get_int("string"); }, not_int));
  EXPECT_TRUE(throws_user_error([&] { file.get_int("f32.one"); }, not_int));
  EXPECT_TRUE(throws_user_error([&] { file.get_int("bool.true"); }, not_int));
  EXPECT_TRUE(throws_user_error([&] { file.get_int("array"); }, not_int));
  // A u64 past INT64_MAX has no int64 value; refusing it beats wrapping it negative.
  EXPECT_TRUE(throws_user_error([&] { file.get_int("u64"); }, {"roundtrip.gguf", "'u64'"}));

  const std::vector<std::string> not_string = {"roundtrip.gguf", "'u32'",
                                               "should be a string but is u32"};
  EXPECT_TRUE(throws_user_error([&] { file.get_string("u32"); }, not_string));
  EXPECT_TRUE(throws_user_error([&] { file.get_string_or("u32", "x"); }, not_string));
  EXPECT_TRUE(throws_user_error([&] { file.get_string("array"); },
                                {"'array'", "should be a string but is array"}));

  const std::vector<std::string> not_number = {"roundtrip.gguf", "'string'", "should be a number"};
  EXPECT_TRUE(throws_user_error([&] { file.get_float("string"); }, not_number));
  EXPECT_TRUE(throws_user_error([&] { file.get_float("bool.false"); },
                                {"'bool.false'", "should be a number"}));
}

TEST(GGUFValue, FormatValue) {
  std::vector<Value> tokens;
  for (int i = 0; i < 49152; ++i) tokens.push_back(make_string("t"));
  EXPECT_EQ(format_value(make_array(ValueType::string, tokens)), "[49152 strings]");
  std::vector<Value> nine;
  for (uint32_t i = 0; i < 9; ++i) nine.push_back(Value{i});
  EXPECT_EQ(format_value(make_array(ValueType::u32, nine)), "[9 u32 values]");
  nine.pop_back();
  EXPECT_EQ(format_value(make_array(ValueType::u32, nine)), "[0, 1, 2, 3, 4, 5, 6, 7]");
  EXPECT_EQ(format_value(make_array(ValueType::u32, nine), 3), "[8 u32 values]");
  // Long strings are cut after 200 characters by default, and shown whole when asked.
  const Value template_text = make_string(std::string(300, 'x'));
  EXPECT_EQ(format_value(template_text), "\"" + std::string(200, 'x') + "...\"");
  EXPECT_EQ(format_value(template_text, 8, SIZE_MAX), "\"" + std::string(300, 'x') + "\"");
  EXPECT_EQ(format_value(make_array(ValueType::string, {template_text}), 8, 2), "[\"xx...\"]");
  EXPECT_EQ(format_value(make_array(ValueType::boolean, std::vector<Value>(20, Value{true}))),
            "[20 bools]");
  EXPECT_EQ(format_value(make_array(ValueType::array,
                                    std::vector<Value>(10, make_array(ValueType::u8, {})))),
            "[10 arrays]");
  EXPECT_EQ(format_value(make_array(ValueType::string, {make_string("a"), make_string("b\"c")})),
            "[\"a\", \"b\\\"c\"]");
  EXPECT_EQ(format_value(make_array(ValueType::i8, {})), "[]");
  EXPECT_EQ(format_value(make_array(ValueType::boolean, {Value{true}, Value{false}})),
            "[true, false]");
  EXPECT_EQ(format_value(Value{uint8_t{65}}), "65") << "u8 prints as a number, not 'A'";
  EXPECT_EQ(format_value(Value{int8_t{-5}}), "-5");
  EXPECT_EQ(format_value(Value{uint64_t{18446744073709551615ull}}), "18446744073709551615");
  EXPECT_EQ(format_value(Value{int64_t{-9}}), "-9");
  EXPECT_EQ(format_value(Value{0.5f}), "0.5");
  EXPECT_EQ(format_value(Value{false}), "false");
  EXPECT_EQ(format_value(make_string("line\nnext\ttab\\ \x01")), "\"line\\nnext\\ttab\\\\ \\x01\"");
  const std::string long_string = format_value(make_string(std::string(1000, 'y')));
  EXPECT_LT(long_string.size(), 300u);
  EXPECT_NE(long_string.find("..."), std::string::npos);
}

// A unique, empty folder that is removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "kiln-gguf-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(GGUFRoundTrip, WriteToAFileAndOpenIt) {
  TempDir dir;
  const std::string path = dir.file("model.gguf");
  std::mt19937 rng(1);
  const std::vector<uint8_t> weights = random_bytes(18 * 4, rng);
  GGUFWriter writer;
  writer.set("general.architecture", make_string("llama"));
  writer.set("llama.block_count", Value{uint32_t{2}});
  writer.add_tensor("w", DType::q4_0, {64, 2}, weights);
  writer.write(path);

  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
  EXPECT_EQ(std::filesystem::file_size(path), writer.to_bytes().size());
  const GGUFFile file = GGUFFile::open(path);
  EXPECT_EQ(file.name(), path);
  EXPECT_EQ(file.get_string("general.architecture"), "llama");
  EXPECT_EQ(file.get_int("llama.block_count"), 2);
  ASSERT_EQ(file.tensors().size(), 1u);
  const std::span<const uint8_t> data = file.tensor_data(file.tensors()[0]);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), weights.begin(), weights.end()));

  // Writing again replaces the file whole.
  GGUFWriter smaller;
  smaller.set("general.architecture", make_string("qwen2"));
  smaller.write(path);
  EXPECT_EQ(GGUFFile::open(path).get_string("general.architecture"), "qwen2");
  // The first file's mapping is still valid: it was the old inode, renamed over.
  EXPECT_EQ(file.get_string("general.architecture"), "llama");
  EXPECT_TRUE(std::equal(data.begin(), data.end(), weights.begin(), weights.end()));
}

// The mapping of `path` in this process (from /proc/self/maps) that holds `p`, as the address
// where file offset 0 would be; nullptr if `p` is in no mapping of that file.
const uint8_t* mapped_file_base(const void* p, const std::filesystem::path& path) {
  std::ifstream maps("/proc/self/maps");
  const auto address = reinterpret_cast<uintptr_t>(p);
  const std::string canonical = std::filesystem::canonical(path).string();
  std::string line;
  while (std::getline(maps, line)) {
    // start-end perms offset dev inode path
    uintptr_t start = 0, end = 0;
    unsigned long long offset = 0;
    char perms[8] = {};
    char mapped_path[4096] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %7s %llx %*s %*s %4095s", &start, &end, perms, &offset,
                    mapped_path) != 5) {
      continue;
    }
    if (address >= start && address < end && canonical == mapped_path) {
      return reinterpret_cast<const uint8_t*>(start - offset);
    }
  }
  return nullptr;
}

TEST(GGUFRoundTrip, TensorDataIsMappedNotCopied) {
  TempDir dir;
  const std::string path = dir.file("mapped.gguf");
  std::mt19937 rng(2);
  GGUFWriter writer;
  writer.add_tensor("a", DType::f32, {1024}, random_bytes(4096, rng));
  writer.add_tensor("b", DType::q8_0, {64, 3}, random_bytes(34 * 6, rng));
  writer.write(path);
  const GGUFFile file = GGUFFile::open(path);
  for (const TensorInfo& t : file.tensors()) {
    SCOPED_TRACE(t.name);
    const std::span<const uint8_t> data = file.tensor_data(t);
    // The span points into a mapping of the file itself, at the tensor's place in it.
    const uint8_t* base = mapped_file_base(data.data(), path);
    ASSERT_NE(base, nullptr) << "tensor data is not in a mapping of " << path;
    EXPECT_EQ(static_cast<uint64_t>(data.data() - base), file.data_offset() + t.offset);
    EXPECT_NE(mapped_file_base(data.data() + data.size() - 1, path), nullptr);
  }
}

TEST(GGUFWriter, RefusesWhatTheReaderWouldRefuse) {
  GGUFWriter writer;
  writer.add_tensor("w", DType::f32, {2}, std::vector<uint8_t>(8));
  EXPECT_THROW(writer.add_tensor("w", DType::f32, {2}, std::vector<uint8_t>(8)), InternalError);
  // 64 q4_0 elements are two blocks, but as rows of 16 they split blocks.
  EXPECT_THROW(writer.add_tensor("split", DType::q4_0, {16, 4}, std::vector<uint8_t>(36)),
               InternalError);
  EXPECT_THROW(writer.add_tensor("no_dims", DType::f32, {}, std::vector<uint8_t>(4)), InternalError);
  EXPECT_THROW(writer.add_tensor("five", DType::f32, {1, 1, 1, 1, 1}, std::vector<uint8_t>(4)),
               InternalError);
  EXPECT_THROW(writer.add_tensor("huge", DType::f32, {1ull << 32, 1ull << 32}, {}), InternalError);
  // What was refused was not added: the file holds the one tensor and reads back.
  const std::vector<uint8_t> bytes = writer.to_bytes();
  EXPECT_EQ(GGUFFile::parse(bytes, "w.gguf").tensors().size(), 1u);
}

TEST(GGUFRoundTrip, OpenRefusesWhatIsNotAGGUFFile) {
  TempDir dir;
  const std::string missing = dir.file("missing.gguf");
  EXPECT_TRUE(throws_user_error([&] { GGUFFile::open(missing); }, {missing}));
  EXPECT_TRUE(throws_user_error([&] { GGUFFile::open(dir.path().string()); },
                                {dir.path().string(), "not a regular file"}));
  const std::string empty = dir.file("empty.gguf");
  std::ofstream(empty).close();
  EXPECT_TRUE(throws_user_error([&] { GGUFFile::open(empty); }, {empty, "offset 0", "truncated"}));
  const std::string text = dir.file("text.gguf");
  std::ofstream(text) << "hello, this is not a model\n";
  EXPECT_TRUE(throws_user_error([&] { GGUFFile::open(text); }, {text, "not a GGUF file"}));
  EXPECT_TRUE(throws_user_error([&] { GGUFWriter().write(dir.file("no/such/folder.gguf")); },
                                {"no/such/folder.gguf"}));
}

// Little-endian bytes laid out by hand from the GGUF specification.
class Bytes {
 public:
  template <typename T>
  Bytes& put(T value) {
    for (size_t i = 0; i < sizeof(T); ++i) {
      uint64_t bits = 0;
      std::memcpy(&bits, &value, sizeof(T));
      out.push_back(static_cast<uint8_t>(bits >> (8 * i)));
    }
    return *this;
  }
  Bytes& str(std::string_view s) {
    put<uint64_t>(s.size());
    out.insert(out.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& pad_to(size_t alignment) {
    while (out.size() % alignment != 0) out.push_back(0);
    return *this;
  }
  std::vector<uint8_t> out;
};

// The same small file in the given version: 3 key-values, 2 tensors.
std::vector<uint8_t> hand_built_file(uint32_t version) {
  Bytes b;
  b.put<uint32_t>(0x46554747).put<uint32_t>(version).put<uint64_t>(2).put<uint64_t>(3);
  b.str("general.architecture").put<uint32_t>(8).str("llama");
  b.str("llama.block_count").put<uint32_t>(4).put<uint32_t>(30);
  b.str("tokenizer.ggml.scores").put<uint32_t>(9).put<uint32_t>(6).put<uint64_t>(2);
  b.put<float>(-1.0f).put<float>(0.5f);
  b.str("token_embd.weight").put<uint32_t>(2).put<uint64_t>(32).put<uint64_t>(2);
  b.put<uint32_t>(8).put<uint64_t>(0);  // q8_0, 2 blocks of 34 bytes = 68
  b.str("output_norm.weight").put<uint32_t>(1).put<uint64_t>(4);
  b.put<uint32_t>(0).put<uint64_t>(96);  // f32, 16 bytes at round_up(68, 32)
  b.pad_to(32);
  for (int i = 0; i < 68; ++i) b.put<uint8_t>(static_cast<uint8_t>(i));
  b.pad_to(32);
  for (float f : {1.0f, 2.0f, 3.0f, 4.0f}) b.put<float>(f);
  return b.out;
}

void check_hand_built_file(const GGUFFile& file, uint32_t version) {
  EXPECT_EQ(file.version(), version);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(file.get_string("general.architecture"), "llama");
  EXPECT_EQ(file.get_int("llama.block_count"), 30);
  const Array* scores = file.find("tokenizer.ggml.scores")->as_array();
  ASSERT_NE(scores, nullptr);
  ASSERT_EQ(scores->items.size(), 2u);
  EXPECT_EQ(scores->items[1].as_double(), 0.5);
  ASSERT_EQ(file.tensors().size(), 2u);
  const TensorInfo& embd = file.tensors()[0];
  EXPECT_EQ(embd.dtype, DType::q8_0);
  EXPECT_EQ(embd.shape, (std::vector<uint64_t>{32, 2}));
  EXPECT_EQ(embd.bytes, 68u);
  const TensorInfo& norm = *file.find_tensor("output_norm.weight");
  EXPECT_EQ(norm.offset, 96u);
  EXPECT_EQ(norm.bytes, 16u);
  const std::span<const uint8_t> data = file.tensor_data(norm);
  float values[4];
  std::memcpy(values, data.data(), 16);
  EXPECT_EQ(values[3], 4.0f);
  EXPECT_EQ(file.tensor_data(embd)[67], 67);
  EXPECT_EQ(file.data_offset() + 96 + 16, file.file_size());
}

TEST(GGUFRoundTrip, Version2FileIsRead) {
  const std::vector<uint8_t> bytes = hand_built_file(2);
  const GGUFFile file = GGUFFile::parse(bytes, "v2.gguf");
  check_hand_built_file(file, 2);
}

TEST(GGUFRoundTrip, HandBuiltVersion3FileIsRead) {
  const std::vector<uint8_t> bytes = hand_built_file(3);
  const GGUFFile file = GGUFFile::parse(bytes, "v3.gguf");
  check_hand_built_file(file, 3);
}

// The writer's bytes are exactly what the specification lays out.
TEST(GGUFRoundTrip, WriterMatchesTheHandBuiltFile) {
  GGUFWriter writer;
  writer.set("general.architecture", make_string("llama"));
  writer.set("llama.block_count", Value{uint32_t{30}});
  writer.set("tokenizer.ggml.scores", make_array(ValueType::f32, {Value{-1.0f}, Value{0.5f}}));
  std::vector<uint8_t> embd(68);
  for (int i = 0; i < 68; ++i) embd[i] = static_cast<uint8_t>(i);
  writer.add_tensor("token_embd.weight", DType::q8_0, {32, 2}, embd);
  const float norm[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  writer.add_tensor("output_norm.weight", DType::f32, {4},
                    {reinterpret_cast<const uint8_t*>(norm), sizeof norm});
  const std::vector<uint8_t> written = writer.to_bytes();
  std::vector<uint8_t> expected = hand_built_file(3);
  expected.resize(round_up(expected.size(), 32), 0);  // the writer pads the last tensor too
  ASSERT_EQ(written.size(), expected.size());
  const auto [differs, unused] = std::mismatch(written.begin(), written.end(), expected.begin());
  EXPECT_TRUE(differs == written.end())
      << "first difference at byte " << (differs - written.begin());
}

TEST(GGUFRealModel, SmolLM2) {
  const std::filesystem::path path = model_folder() / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << path << " is missing; run scripts/fetch-models to download it "
                 << "(or set KILN_MODELS to the folder that holds it)";
  }
  const GGUFFile file = GGUFFile::open(path.string());
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.get_string("general.architecture"), "llama");
  EXPECT_EQ(file.get_int("llama.block_count"), 30);
  EXPECT_EQ(file.get_int("llama.embedding_length"), 576);
  const Value* tokens = file.find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_NE(tokens->as_array(), nullptr);
  EXPECT_EQ(tokens->as_array()->element_type, ValueType::string);
  EXPECT_EQ(tokens->as_array()->items.size(), 49152u);
  EXPECT_EQ(format_value(*tokens), "[49152 strings]");
  EXPECT_EQ(file.tensors().size(), 272u);
  const TensorInfo* embd = file.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->dtype, DType::q8_0);
  EXPECT_EQ(embd->shape, (std::vector<uint64_t>{576, 49152}));
  EXPECT_EQ(embd->bytes, 30081024u);
  EXPECT_EQ(file.tensor_data(*embd).size(), embd->bytes);
  const TensorInfo* gate = file.find_tensor("blk.0.ffn_gate.weight");
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ(gate->dtype, DType::q4_1);
  EXPECT_EQ(gate->shape, (std::vector<uint64_t>{576, 1536}));
  EXPECT_EQ(file.data_offset(), 1785664u);
  for (const TensorInfo& t : file.tensors()) {
    EXPECT_LE(file.data_offset() + t.offset + t.bytes, file.file_size()) << t.name;
  }
}

}  // namespace
}  // namespace kiln::gguf
