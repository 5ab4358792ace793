// `kiln quantize IN OUT TYPE`: a GGUF model written again with its weight matrices in another
// format, so one model can be compared in several (with `kiln bench`, `bench/compare_llama_cpp.py`).
// As llama.cpp's quantizer does, matrices (2 or more dimensions) take the new type and 1-D
// tensors (norms, biases) stay float32; below 8 bits the output projection (output.weight, or
// token_embd.weight where the model ties the two) takes q8_0, since every logit goes through
// it; rows that are not whole 256-element blocks fall back from q4_K to q5_0 and from q6_K to
// q8_0, and other rows that are not whole blocks keep their type. `q4_K_M` is llama.cpp's mix of
// that name: q6_K for the output projection and for attn_v and ffn_down in the layers that
// keep more bits, q4_K for the rest. Any type kiln can read is an input; the metadata is
// copied, with general.file_type set to llama.cpp's number for the new type.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/dequantize.h"
#include "base/error.h"
#include "base/quantize.h"
#include "commands.h"
#include "human_format.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace kiln::cli {
namespace {

struct QuantizeFlags {
  std::string input;
  std::string output;
  std::string type;
};

// What `kiln quantize` writes: one type for every matrix, or llama.cpp's q4_K_M mix.
struct Recipe {
  DType matrices;
  bool q4_K_M = false;
  uint32_t file_type;  // llama.cpp's general.file_type
};

constexpr DType kWritable[] = {DType::f32,  DType::f16,  DType::bf16, DType::q8_0, DType::q4_0,
                               DType::q4_1, DType::q5_0, DType::q4_K, DType::q6_K};

std::string supported_types() {
  std::string list;
  for (DType d : kWritable) list += (list.empty() ? "" : ", ") + std::string(dtype_name(d));
  return list + ", q4_K_M";
}

std::optional<Recipe> recipe_for(const std::string& name) {
  if (name == "q4_K_M" || name == "Q4_K_M" || name == "q4_k_m") return Recipe{DType::q4_K, true, 15};
  const std::optional<DType> dtype = dtype_from_name(name);
  if (!dtype) return std::nullopt;
  switch (*dtype) {
    case DType::f32: return Recipe{*dtype, false, 0};
    case DType::f16: return Recipe{*dtype, false, 1};
    case DType::q4_0: return Recipe{*dtype, false, 2};
    case DType::q4_1: return Recipe{*dtype, false, 3};
    case DType::q8_0: return Recipe{*dtype, false, 7};
    case DType::q5_0: return Recipe{*dtype, false, 8};
    case DType::q4_K: return Recipe{*dtype, false, 14};
    case DType::q6_K: return Recipe{*dtype, false, 18};
    case DType::bf16: return Recipe{*dtype, false, 32};
    default: return Recipe{*dtype, false, 0};
  }
}

// The layer of a "blk.N." tensor, or -1.
int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::atoi(name.c_str() + 4);
}

// llama.cpp's choice of layers that keep more bits in its _M mixes: the first and last
// eighth, and every third between.
bool more_bits(int layer, int layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

// The type of one matrix under `recipe`. Rows that are not whole 256-element blocks fall back
// as llama.cpp's do (q4_K to q5_0, q6_K to q8_0); other rows that are not whole blocks keep
// their type (`keep`).
DType matrix_type(const Recipe& recipe, const std::string& name, bool output_projection, int layers, int64_t row,
                  DType keep) {
  DType type = recipe.matrices;
  if (recipe.q4_K_M) {
    const bool value_or_down = name.find("attn_v.weight") != std::string::npos || name.find("ffn_down.weight") != std::string::npos;
    if (output_projection || (value_or_down && more_bits(layer_of(name), layers))) type = DType::q6_K;
  } else if (output_projection && dtype_info(type).block_size > 1 && type != DType::q8_0 && type != DType::q6_K) {
    type = DType::q8_0;  // every logit goes through it
  }
  if (row % dtype_info(type).block_size != 0) {
    if (type == DType::q4_K) type = DType::q5_0;
    if (type == DType::q6_K) type = DType::q8_0;
  }
  return row % dtype_info(type).block_size == 0 ? type : keep;
}

void run_quantize(const QuantizeFlags& flags) {
  const std::optional<Recipe> recipe = recipe_for(flags.type);
  if (!recipe) user_error("unknown type '{}'; kiln quantize writes {}", flags.type, supported_types());
  if (!can_quantize(recipe->matrices)) {
    user_error("kiln quantize cannot write {} yet; it writes {}", dtype_name(recipe->matrices), supported_types());
  }
  std::error_code error;
  if (std::filesystem::equivalent(flags.input, flags.output, error)) {
    user_error("'{}' is the input file: write the quantized model to another path", flags.output);
  }
  const gguf::GGUFFile file = gguf::GGUFFile::open(flags.input);
  gguf::GGUFWriter writer;
  for (const gguf::KeyValue& kv : file.metadata()) {
    if (kv.key == "general.file_type" || kv.key == "general.quantization_version") continue;
    writer.set(kv.key, kv.value);
  }
  writer.set("general.file_type", gguf::Value{recipe->file_type});
  if (dtype_info(recipe->matrices).block_size > 1) writer.set("general.quantization_version", gguf::Value{uint32_t{2}});
  const std::string arch = file.get_string_or("general.architecture", "llama");
  const int layers = file.find(arch + ".block_count") ? static_cast<int>(file.get_int(arch + ".block_count")) : 0;

  const bool show_progress = isatty(STDERR_FILENO);
  const bool separate_output = file.find_tensor("output.weight") != nullptr;  // else token_embd is the output too
  std::map<std::string, int> counts;  // "q8_0", "kept f32", ...
  uint64_t bytes_out = 0;
  const size_t total = file.tensors().size();
  for (size_t i = 0; i < total; ++i) {
    const gguf::TensorInfo& t = file.tensors()[i];
    if (show_progress) fmt::print(stderr, "\r\033[Kquantizing {}/{} {}", i + 1, total, t.name);
    const bool matrix = t.shape.size() >= 2;
    const bool output_projection = t.name == "output.weight" || (t.name == "token_embd.weight" && !separate_output);
    const DType out_type =
        matrix ? matrix_type(*recipe, t.name, output_projection, layers, static_cast<int64_t>(t.shape[0]), t.dtype)
               : DType::f32;
    const std::span<const uint8_t> data = file.tensor_data(t);
    if (out_type == t.dtype) {
      writer.add_tensor(t.name, t.dtype, t.shape, data);
      bytes_out += data.size();
      counts[fmt::format("{} (kept)", dtype_name(t.dtype))] += 1;
      continue;
    }
    if (!can_dequantize(t.dtype)) {
      user_error("tensor '{}' is {}, which kiln cannot read to convert", t.name, dtype_name(t.dtype));
    }
    std::vector<float> values(t.elements);
    dequantize(t.dtype, data, values);
    std::vector<uint8_t> converted(*dtype_row_bytes(out_type, t.elements));
    quantize(out_type, values, converted);
    writer.add_tensor(t.name, out_type, t.shape, converted);
    bytes_out += converted.size();
    counts[std::string(dtype_name(out_type))] += 1;
  }
  if (show_progress) fmt::print(stderr, "\r\033[Kwriting {}", flags.output);
  writer.write(flags.output);
  if (show_progress) fmt::print(stderr, "\r\033[K");
  std::string summary;
  for (const auto& [kind, n] : counts) summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", n, kind);
  fmt::print("kiln: wrote {}: {} tensors ({}); tensor data {}, file {} -> {}\n", flags.output, total, summary,
             human_bytes(bytes_out), human_bytes(file.file_size()), human_bytes(std::filesystem::file_size(flags.output)));
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto flags = std::make_shared<QuantizeFlags>();
  CLI::App* command = app.add_subcommand(
      "quantize", "Write a GGUF model again with its weight matrices in another type (norms stay f32)");
  command->add_option("input", flags->input, "The GGUF model to read (any type kiln reads)")->required();
  command->add_option("output", flags->output, "Where to write the new model")->required();
  command->add_option("type", flags->type, "The matrices' new type: " + supported_types())->required();
  command->callback([flags] { run_quantize(*flags); });
}

}  // namespace kiln::cli
