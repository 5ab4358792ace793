// Where downloaded models live: $KILN_MODELS, else ~/.cache/kiln/models (scripts/fetch-models.py
// puts them there). One place for the rule, for the commands and the tests alike.
#pragma once

#include <filesystem>

namespace kiln {

// The model cache folder. Without $KILN_MODELS or $HOME it is ./.cache/kiln/models.
std::filesystem::path model_folder();

// The model the commands use when given none: SmolLM2-135M-Instruct, Q4_1.
inline constexpr const char* kDefaultModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf";
std::filesystem::path default_model_path();

}  // namespace kiln
