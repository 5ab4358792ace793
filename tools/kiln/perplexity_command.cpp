// `kiln perplexity`: a text's perplexity under a model, as llama.cpp's llama-perplexity computes
// it (engine/perplexity.h): windows of -c tokens, the second half of each scored. The estimate
// goes to stdout (or, with --json, every scored token too); progress goes to stderr.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/model_folder.h"
#include "cache_type.h"
#include "commands.h"
#include "engine/logit_file.h"
#include "engine/perplexity.h"
#include "engine/tokenizer.h"
#include "runtime/device.h"

namespace kiln::cli {
namespace {

struct PerplexityFlags {
  std::string model;
  std::string file;
  int64_t window = 512;
  int64_t chunks = -1;
  int threads = 0;
  std::string device = "cpu";
  bool no_int8 = false;
  std::string cache_type = "f16";
  bool json = false;
  std::string save_logits;
  std::string kl_base;
};

std::string read_text(const std::string& path) {
  if (path == "-") return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  std::ifstream in(path, std::ios::binary);
  if (!in) user_error("cannot read the text file '{}'", path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void run_perplexity(const PerplexityFlags& flags) {
  const std::string path = flags.model.empty() ? default_model_path().string() : flags.model;
  if (!std::filesystem::exists(path)) user_error("no model file at '{}'", path);
  const std::string text = read_text(flags.file);
  std::unique_ptr<runtime::Device> device = runtime::open_device(flags.device, flags.threads);
  engine::ModelOptions options;
  options.ctx_size = flags.window;
  options.all_logits = true;
  options.int8 = !flags.no_int8;
  options.kv_dtype = cache_dtype(flags.cache_type);
  engine::ModelRunner model(path, *device, options);
  const engine::Tokenizer tokenizer = engine::Tokenizer::from_gguf(model.file());
  // The text as written (special-token text stays text), BOS first where the model adds one.
  const std::vector<int32_t> tokens = tokenizer.encode(text, /*parse_special=*/false);
  engine::PerplexityOptions ppl;
  ppl.window = flags.window;
  ppl.max_windows = flags.chunks;
  const int64_t windows = engine::perplexity_windows(static_cast<int64_t>(tokens.size()), ppl);
  fmt::print(stderr, "perplexity: {} tokens, {} window{} of {} (the second half of each scored)\n", tokens.size(), windows,
             windows == 1 ? "" : "s", flags.window);
  ppl.on_window = [](int64_t done, int64_t total, const engine::PerplexityStats& stats) {
    // llama-perplexity's running estimate: [window]perplexity so far.
    fmt::print(stderr, "[{}]{:.4f}{}", done, stats.perplexity(), done == total ? "\n" : ",");
    std::fflush(stderr);
  };
  // The saved run to compare with: the same vocabulary, windows and tokens (checked as it goes).
  std::optional<engine::LogitReader> base;
  engine::KlStats kl;
  if (!flags.kl_base.empty()) {
    base.emplace(flags.kl_base);
    if (base->vocab() != model.vocab_size() || base->window() != flags.window) {
      user_error("'{}' was saved with a vocabulary of {} and windows of {}; this run has {} and {}", flags.kl_base,
                 base->vocab(), base->window(), model.vocab_size(), flags.window);
    }
    const int64_t scored = windows * (flags.window - 1 - flags.window / 2);
    if (base->count() != scored) {
      user_error("'{}' holds {} scored tokens; this run scores {} (the same text, -c and --chunks?)", flags.kl_base,
                 base->count(), scored);
    }
  }
  std::optional<engine::LogitWriter> save;
  if (!flags.save_logits.empty()) save.emplace(flags.save_logits, model.vocab_size(), flags.window);
  if (base || save) {
    ppl.on_scored = [&](const engine::TokenScore& score, std::span<const double> logprobs) {
      if (save) save->add(score.position, score.token, logprobs);
      if (base) {
        const engine::LogitRecord saved = base->next();
        if (saved.position != score.position || saved.token != score.token) {
          user_error("'{}' scored token {} at position {}; this run has token {} there (not the same text?)",
                     flags.kl_base, saved.token, saved.position, score.token);
        }
        kl.add(saved.logprobs, logprobs, score.token);
      }
    };
  }
  const std::optional<int32_t> bos = tokenizer.adds_bos() ? std::optional<int32_t>(tokenizer.bos()) : std::nullopt;
  const engine::PerplexityResult result = engine::perplexity(model, tokens, bos, ppl);
  if (save) save->close();
  const engine::PerplexityStats& s = result.stats;
  if (!flags.json) {
    fmt::print("PPL = {:.4f} +/- {:.4f} ({} tokens scored in {} windows of {})\n", s.perplexity(), s.perplexity_error(),
               s.count(), result.windows, flags.window);
    if (base) {
      fmt::print("against {}: PPL {:.4f} there (ratio {:.4f}); KL divergence {:.6f} +/- {:.6f}; top-1 agreement "
                 "{:.2f}%; max |delta p| {:.4f}\n",
                 flags.kl_base, kl.base_perplexity(), s.perplexity() / kl.base_perplexity(), kl.mean_kl(),
                 kl.kl_error(), 100.0 * kl.top1_agreement(), kl.max_abs_dp());
    }
    return;
  }
  nlohmann::json scored = nlohmann::json::array();
  for (const engine::TokenScore& t : result.scores) {
    scored.push_back({{"position", t.position}, {"token", t.token}, {"logprob", t.logprob}, {"top1", t.top1}});
  }
  const nlohmann::json out = {{"model", std::filesystem::path(path).filename().string()},
                              {"window", flags.window},
                              {"windows", result.windows},
                              {"tokens_scored", s.count()},
                              {"perplexity", s.perplexity()},
                              {"perplexity_error", s.perplexity_error()},
                              {"mean_nll", s.mean_nll()},
                              {"scores", scored}};
  nlohmann::json report = out;
  if (base) {
    report["kl_divergence"] = {{"base", flags.kl_base},
                               {"base_perplexity", kl.base_perplexity()},
                               {"mean", kl.mean_kl()},
                               {"error", kl.kl_error()},
                               {"top1_agreement", kl.top1_agreement()},
                               {"max_abs_delta_p", kl.max_abs_dp()}};
  }
  fmt::print("{}\n", report.dump());
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto flags = std::make_shared<PerplexityFlags>();
  CLI::App* command = app.add_subcommand(
      "perplexity", "A text's perplexity under a model, as llama-perplexity computes it: windows of -c tokens, each run "
                    "from an empty cache, the second half of each scored");
  command->add_option("-m,--model", flags->model, "GGUF model file (default: SmolLM2-135M-Instruct)");
  command->add_option("-f,--file", flags->file, "The text file to score (-: stdin)")->required();
  command->add_option("-c,--ctx-size", flags->window, "Tokens per window (the model's context while scoring)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{4}, int64_t{1} << 20));
  command->add_option("--chunks", flags->chunks, "Score at most this many windows (default: every whole window)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("-t,--threads", flags->threads, "CPU threads (0: every core)")->capture_default_str();
  command->add_option("--device", flags->device, "cpu, opencl or opencl:N")->capture_default_str();
  command->add_flag("--no-int8", flags->no_int8, "Quantized matmuls in f32 throughout (default: 8-bit activations with "
                    "integer dot products on CPUs with AVX2 or VNNI)");
  add_cache_type_option(*command, flags->cache_type);
  command->add_flag("--json", flags->json,
                    "Print JSON instead: the estimate, and every scored token's position, id, log-probability and "
                    "the model's top-1 id");
  command->add_option("--save-logits", flags->save_logits,
                      "Also save every scored token's next-token distribution to this file, for --kl-divergence");
  command->add_option("--kl-divergence", flags->kl_base,
                      "Compare with a run saved by --save-logits (the same text, -c and --chunks; e.g. an f16 file's): "
                      "mean KL divergence, top-1 agreement, largest change of the scored token's probability")
      ->check(CLI::ExistingFile);
  command->callback([flags] { run_perplexity(*flags); });
}

}  // namespace kiln::cli
