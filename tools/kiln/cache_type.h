// The KV cache element type flag that run, chat and bench share (llama.cpp's -ctk/-ctv).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "base/dtype.h"

namespace kiln::cli {

// Adds --cache-type NAME (f16, f32 or bf16; default f16) bound to `name`.
void add_cache_type_option(CLI::App& command, std::string& name);
// The dtype of a --cache-type value (checked by the option already).
DType cache_dtype(const std::string& name);

}  // namespace kiln::cli
