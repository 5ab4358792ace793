// The `kiln` command: parses the command line, runs one subcommand, and turns errors into
// messages and exit codes (1 for the user's mistakes, 2 for kiln's own bugs).
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "base/error.h"
#include "base/version.h"
#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"kiln: a machine-learning compiler and LLM inference engine"};
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION);
  app.require_subcommand(1);
  app.footer("Run 'kiln COMMAND --help' for the options of one command.");
  kiln::cli::add_inspect_command(app);
  kiln::cli::add_compile_command(app);
  kiln::cli::add_tokenize_commands(app);
  kiln::cli::add_run_commands(app);
  kiln::cli::add_bench_command(app);
  kiln::cli::add_quantize_command(app);
  kiln::cli::add_perplexity_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const kiln::UserError& e) {
    fmt::print(stderr, "kiln: error: {}\n", e.what());
    return 1;
  } catch (const kiln::InternalError& e) {
    fmt::print(stderr, "kiln: {}\nThis is a bug in kiln; please report it.\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "kiln: unexpected error: {}\n", e.what());
    return 2;
  }
  return 0;
}
