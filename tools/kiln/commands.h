// Each `kiln` subcommand lives in its own file and registers itself on the app here.
#pragma once

#include <CLI/CLI.hpp>

namespace kiln::cli {

void add_inspect_command(CLI::App& app);
void add_compile_command(CLI::App& app);
void add_tokenize_commands(CLI::App& app);
void add_run_commands(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);

}  // namespace kiln::cli
