// Sizes and counts as people read them, for the commands' tables: "96.6 MB", "134.52 M".
#pragma once

#include <cstdint>
#include <string>

namespace kiln::cli {

std::string human_bytes(uint64_t bytes);
std::string human_count(uint64_t n);

}  // namespace kiln::cli
