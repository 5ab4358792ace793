// Writes a seed corpus for fuzz_gguf_reader: small valid GGUF files made with kiln's writer,
// each well under libFuzzer's -max_len, covering every metadata value type, nested arrays,
// both versions, a custom alignment, and plain, block-quantized and empty tensors.
//
//   make_fuzz_seeds DIR
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "gguf/gguf_writer.h"

namespace {

using kiln::DType;
using kiln::gguf::Array;
using kiln::gguf::GGUFWriter;
using kiln::gguf::Value;
using kiln::gguf::ValueType;

GGUFWriter every_value_type() {
  GGUFWriter w;
  w.set("general.architecture", Value{std::string("llama")});
  w.set("u8", Value{uint8_t{1}});
  w.set("i8", Value{int8_t{-1}});
  w.set("u16", Value{uint16_t{2}});
  w.set("i16", Value{int16_t{-2}});
  w.set("u32", Value{uint32_t{3}});
  w.set("i32", Value{int32_t{-3}});
  w.set("f32", Value{1.5f});
  w.set("bool", Value{true});
  w.set("u64", Value{uint64_t{4}});
  w.set("i64", Value{int64_t{-4}});
  w.set("f64", Value{2.5});
  w.set("tokenizer.ggml.tokens",
        Value{Array{ValueType::string, {Value{std::string("<s>")}, Value{std::string("a")}}}});
  w.set("nested", Value{Array{ValueType::array, {Value{Array{ValueType::u8, {Value{uint8_t{7}}}}},
                                                 Value{Array{ValueType::i32, {}}}}}});
  return w;
}

GGUFWriter tensors() {
  GGUFWriter w;
  w.set("general.architecture", Value{std::string("llama")});
  w.add_tensor("q4_0", DType::q4_0, {32, 2}, std::vector<uint8_t>(36, 0x11));
  w.add_tensor("q4_K", DType::q4_K, {256}, std::vector<uint8_t>(144, 0x22));
  w.add_tensor("f32", DType::f32, {4, 2}, std::vector<uint8_t>(32, 0x33));
  w.add_tensor("empty", DType::f16, {0}, {});
  return w;
}

GGUFWriter aligned_64() {
  GGUFWriter w;
  w.set("general.alignment", Value{uint32_t{64}});
  w.add_tensor("a", DType::f16, {8}, std::vector<uint8_t>(16, 0x44));
  w.add_tensor("b", DType::q8_0, {32}, std::vector<uint8_t>(34, 0x55));
  return w;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw kiln::UserError("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argc > 0 ? argv[0] : "make_fuzz_seeds");
    return 2;
  }
  const std::string dir = argv[1];
  try {
    every_value_type().write(dir + "/every_value_type.gguf");
    std::vector<uint8_t> bytes = tensors().to_bytes();
    write_bytes(dir + "/tensors_v3.gguf", bytes);
    bytes[4] = 2;  // the version field: v2 has v3's layout
    write_bytes(dir + "/tensors_v2.gguf", bytes);
    aligned_64().write(dir + "/aligned_64.gguf");
  } catch (const kiln::UserError& e) {
    std::fprintf(stderr, "make_fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
