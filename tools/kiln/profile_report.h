// --profile's report (run, chat, bench): where a program's kernel time went, by kernel, and
// the host time between kernels per step.
#pragma once

#include <string>

#include "compiler/graph_program.h"

namespace kiln::cli {

// To stderr: "kiln: profile[ of LABEL], ..." then a row per kernel, most time first.
void print_profile(const compiler::GraphProgram& program, const std::string& label = "");

}  // namespace kiln::cli
