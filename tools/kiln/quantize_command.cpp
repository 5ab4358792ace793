// `kiln quantize IN OUT TYPE`: a GGUF model written again with its weight matrices in another
// format, so one model can be compared in several (with `kiln bench`, `bench/compare_llama_cpp.py`).
// As llama.cpp's quantizer does, matrices (2 or more dimensions) take the new type and 1-D
// tensors (norms, biases) stay float32; a matrix whose rows are not whole blocks of the type
// keeps its own; and below 8 bits the output projection (output.weight, or token_embd.weight
// where the model ties the two) takes q8_0, since every logit goes through it. Any type kiln can read is an input; the metadata is copied, with
// general.file_type set to the new type's.
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
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

// llama.cpp's general.file_type for a file whose matrices are all of `dtype`.
uint32_t llama_file_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return 0;
    case DType::f16: return 1;
    case DType::q4_0: return 2;
    case DType::q4_1: return 3;
    case DType::q8_0: return 7;
    case DType::bf16: return 32;
    default: break;
  }
  internal_error_at(__FILE__, __LINE__, fmt::format("no file type for {}", dtype_name(dtype)));
}

std::string supported_types() {
  std::string list;
  for (DType d : {DType::f32, DType::f16, DType::bf16, DType::q8_0, DType::q4_0, DType::q4_1}) {
    list += (list.empty() ? "" : ", ") + std::string(dtype_name(d));
  }
  return list;
}

void run_quantize(const QuantizeFlags& flags) {
  const std::optional<DType> target = dtype_from_name(flags.type);
  if (!target) user_error("unknown type '{}'; kiln quantize writes {}", flags.type, supported_types());
  if (!can_quantize(*target)) {
    user_error("kiln quantize cannot write {} yet; it writes {}", dtype_name(*target), supported_types());
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
  writer.set("general.file_type", gguf::Value{llama_file_type(*target)});
  if (dtype_info(*target).block_size > 1) writer.set("general.quantization_version", gguf::Value{uint32_t{2}});

  const bool show_progress = isatty(STDERR_FILENO);
  const bool separate_output = file.find_tensor("output.weight") != nullptr;  // else token_embd is the output too
  std::map<std::string, int> counts;  // "q8_0", "kept f32", ...
  uint64_t bytes_out = 0;
  const size_t total = file.tensors().size();
  for (size_t i = 0; i < total; ++i) {
    const gguf::TensorInfo& t = file.tensors()[i];
    if (show_progress) fmt::print(stderr, "\r\033[Kquantizing {}/{} {}", i + 1, total, t.name);
    const bool matrix = t.shape.size() >= 2;
    DType out_type = matrix ? *target : DType::f32;
    const bool output_projection = t.name == "output.weight" || (t.name == "token_embd.weight" && !separate_output);
    if (matrix && output_projection && dtype_info(*target).block_size > 1 && *target != DType::q8_0) out_type = DType::q8_0;
    if (matrix && t.shape[0] % dtype_info(*target).block_size != 0) out_type = t.dtype;  // rows not whole blocks
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
