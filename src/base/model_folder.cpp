#include "base/model_folder.h"

#include <cstdlib>

namespace kiln {

std::filesystem::path model_folder() {
  if (const char* dir = std::getenv("KILN_MODELS"); dir != nullptr && *dir != '\0') return dir;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr && *home != '\0' ? home : ".") / ".cache" / "kiln" / "models";
}

std::filesystem::path default_model_path() { return model_folder() / kDefaultModelFile; }

}  // namespace kiln
