#include "human_format.h"

#include <fmt/format.h>

namespace kiln::cli {

std::string human_bytes(uint64_t bytes) {
  if (bytes >= 1000000000) return fmt::format("{:.2f} GB", bytes / 1e9);
  if (bytes >= 1000000) return fmt::format("{:.1f} MB", bytes / 1e6);
  if (bytes >= 1000) return fmt::format("{:.1f} kB", bytes / 1e3);
  return fmt::format("{} B", bytes);
}

std::string human_count(uint64_t n) {
  if (n >= 1000000000) return fmt::format("{:.2f} B", n / 1e9);
  if (n >= 1000000) return fmt::format("{:.2f} M", n / 1e6);
  if (n >= 1000) return fmt::format("{:.1f} K", n / 1e3);
  return fmt::format("{}", n);
}

}  // namespace kiln::cli
