// `kiln inspect FILE`: what a GGUF file holds — architecture, size, quantization mix,
// metadata and the tensor table — as text for people or JSON for scripts.
#include <map>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/dtype.h"
#include "commands.h"
#include "human_format.h"
#include "gguf/gguf_file.h"

namespace kiln::cli {
namespace {

using gguf::GGUFFile;
using gguf::TensorInfo;
using gguf::Value;

struct InspectOptions {
  std::string path;
  bool json = false;
  bool full = false;  // print every array item instead of a summary
};

struct DTypeUsage {
  uint64_t tensors = 0;
  uint64_t elements = 0;
  uint64_t bytes = 0;
};

constexpr size_t kSummarizeArraysOver = 8;
constexpr size_t kShortenStringsOver = 200;  // characters; --full shows strings whole

std::map<std::string, DTypeUsage> quantization_mix(const GGUFFile& file) {
  std::map<std::string, DTypeUsage> mix;
  for (const TensorInfo& t : file.tensors()) {
    DTypeUsage& usage = mix[std::string(dtype_name(t.dtype))];
    usage.tensors += 1;
    usage.elements += t.elements;
    usage.bytes += t.bytes;
  }
  return mix;
}

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? " x " : "") + std::to_string(shape[i]);
  return out;
}

void print_text(const GGUFFile& file, const InspectOptions& options) {
  const size_t max_items = options.full ? SIZE_MAX : kSummarizeArraysOver;
  const size_t max_string_chars = options.full ? SIZE_MAX : kShortenStringsOver;
  fmt::print("file:          {}\n", file.name());
  fmt::print("size:          {} ({} bytes), GGUF version {}, alignment {}\n",
             human_bytes(file.file_size()), file.file_size(), file.version(), file.alignment());
  fmt::print("architecture:  {}\n", file.get_string_or("general.architecture", "(not set)"));
  if (file.find("general.name")) fmt::print("name:          {}\n", file.get_string_or("general.name", ""));
  fmt::print("parameters:    {} ({})\n", human_count(file.parameter_count()), file.parameter_count());
  fmt::print("tensors:       {}\n", file.tensors().size());
  fmt::print("quantization:\n");
  for (const auto& [name, usage] : quantization_mix(file)) {
    fmt::print("  {:8} {:5} tensors {:>12} parameters {:>10}\n", name, usage.tensors,
               human_count(usage.elements), human_bytes(usage.bytes));
  }

  fmt::print("\nmetadata ({} keys):\n", file.metadata().size());
  for (const gguf::KeyValue& kv : file.metadata()) {
    fmt::print("  {} = {}\n", kv.key, gguf::format_value(kv.value, max_items, max_string_chars));
  }

  fmt::print("\ntensors ({}; shape in ggml order, innermost dimension first):\n",
             file.tensors().size());
  size_t name_width = 4;
  for (const TensorInfo& t : file.tensors()) name_width = std::max(name_width, t.name.size());
  fmt::print("  {:{}}  {:7}  {:20}  {:>12}  {:>12}\n", "name", name_width, "type", "shape", "bytes",
             "offset");
  for (const TensorInfo& t : file.tensors()) {
    fmt::print("  {:{}}  {:7}  {:20}  {:>12}  {:>12}\n", t.name, name_width, dtype_name(t.dtype),
               shape_text(t.shape), t.bytes, file.data_offset() + t.offset);
  }
}

nlohmann::json value_to_json(const Value& value, size_t max_items) {
  return std::visit(
      [&](const auto& v) -> nlohmann::json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, gguf::Array>) {
          if (v.items.size() > max_items) {
            return {{"array_of", gguf::value_type_name(v.element_type)}, {"length", v.items.size()}};
          }
          nlohmann::json items = nlohmann::json::array();
          for (const Value& item : v.items) items.push_back(value_to_json(item, max_items));
          return items;
        } else {
          return v;
        }
      },
      value.storage);
}

void print_json(const GGUFFile& file, const InspectOptions& options) {
  const size_t max_items = options.full ? SIZE_MAX : kSummarizeArraysOver;
  nlohmann::json out;
  out["file"] = file.name();
  out["size_bytes"] = file.file_size();
  out["gguf_version"] = file.version();
  out["alignment"] = file.alignment();
  out["architecture"] = file.get_string_or("general.architecture", "");
  out["parameters"] = file.parameter_count();
  for (const auto& [name, usage] : quantization_mix(file)) {
    out["quantization"][name] = {
        {"tensors", usage.tensors}, {"parameters", usage.elements}, {"bytes", usage.bytes}};
  }
  nlohmann::json metadata = nlohmann::json::object();
  for (const gguf::KeyValue& kv : file.metadata()) metadata[kv.key] = value_to_json(kv.value, max_items);
  out["metadata"] = std::move(metadata);
  nlohmann::json tensors = nlohmann::json::array();
  for (const TensorInfo& t : file.tensors()) {
    tensors.push_back({{"name", t.name},
                       {"type", dtype_name(t.dtype)},
                       {"shape", t.shape},
                       {"bytes", t.bytes},
                       {"offset", file.data_offset() + t.offset}});
  }
  out["tensors"] = std::move(tensors);
  // Model files may hold strings that are not valid UTF-8; replace rather than fail.
  fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* command = app.add_subcommand(
      "inspect", "Show what a GGUF model file holds: architecture, parameters, quantization mix, "
                 "metadata and tensors");
  command->add_option("file", options->path, "GGUF file to inspect")->required();
  command->add_flag("--json", options->json, "Print JSON instead of text");
  command->add_flag("--full", options->full,
                    "Print long values whole: every item of arrays (by default arrays over 8 "
                    "items are summarized, e.g. [49152 strings]) and strings over 200 characters "
                    "(the chat template)");
  command->callback([options] {
    const GGUFFile file = GGUFFile::open(options->path);
    if (options->json) {
      print_json(file, *options);
    } else {
      print_text(file, *options);
    }
  });
}

}  // namespace kiln::cli
