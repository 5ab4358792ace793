#include "cache_type.h"

#include "base/error.h"

namespace kiln::cli {

void add_cache_type_option(CLI::App& command, std::string& name) {
  command
      .add_option("--cache-type", name,
                  "Element type of the K and V caches: f16 (as llama.cpp's default: half the bytes a long context "
                  "reads per token), f32 (keys and values unrounded) or bf16")
      ->check(CLI::IsMember({"f16", "f32", "bf16"}))
      ->capture_default_str();
}

DType cache_dtype(const std::string& name) {
  if (name == "f32") return DType::f32;
  if (name == "bf16") return DType::bf16;
  if (name == "f16") return DType::f16;
  user_error("--cache-type must be f16, f32 or bf16, got '{}'", name);
}

}  // namespace kiln::cli
