// `kiln bench`: prompt processing and generation speed, in the spirit of llama-bench. Each test
// runs on a fresh context, after `-d` positions of it are filled (not timed): `ppP` feeds a
// prompt of P tokens in one step, `tgN` generates N tokens one step each. Tokens are random ids
// of the model's vocabulary (seeded), so the figures do not depend on a text. Each test runs
// once untimed, then `-r` times; the table gives tokens/s as mean and standard deviation, and
// what that achieves: weight bytes read per second for generation (each step reads every
// weight once), and 2 x parameters FLOPs per token for prompt processing (attention aside).
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/model_folder.h"
#include "cache_type.h"
#include "commands.h"
#include "profile_report.h"
#include "human_format.h"
#include "engine/model_runner.h"
#include "runtime/device.h"

namespace kiln::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchFlags {
  std::vector<std::string> models;
  std::vector<int> prompt = {512};
  std::vector<int> generate = {128};
  std::vector<int> depth = {0};
  std::vector<int> threads = {0};
  int repetitions = 3;
  std::string device = "cpu";
  std::string output = "md";
  uint64_t seed = 1234;
  bool no_int8 = false;
  std::string cache_type = "f16";
  bool profile = false;
};

struct Result {
  std::string model;
  uint64_t bytes = 0;       // weight bytes
  uint64_t parameters = 0;
  std::string device;
  int threads = 0;
  std::string test;         // pp512, tg128, pp512@d2048
  int tokens = 0;
  bool prompt = false;
  std::vector<double> seconds;  // per repetition

  double mean_rate() const {
    double sum = 0;
    for (double s : seconds) sum += tokens / s;
    return sum / static_cast<double>(seconds.size());
  }
  double rate_sd() const {
    if (seconds.size() < 2) return 0;
    const double mean = mean_rate();
    double sum = 0;
    for (double s : seconds) sum += (tokens / s - mean) * (tokens / s - mean);
    return std::sqrt(sum / static_cast<double>(seconds.size() - 1));
  }
  // Generation: GB/s of weights read; prompt processing: GFLOP/s.
  double achieved() const {
    const double rate = mean_rate();
    return prompt ? rate * 2.0 * static_cast<double>(parameters) / 1e9 : rate * static_cast<double>(bytes) / 1e9;
  }
};

void check_flags(const BenchFlags& f) {
  const auto non_negative = [](const char* flag, const std::vector<int>& values) {
    for (int v : values) {
      if (v < 0) user_error("{} {}: token counts are 0 or more", flag, v);
    }
  };
  non_negative("-p", f.prompt);
  non_negative("-n", f.generate);
  non_negative("-d", f.depth);
  for (int t : f.threads) {
    if (t < 0) user_error("-t {}: a thread count is 0 (every core) or more", t);
  }
  if (f.repetitions < 1) user_error("-r {}: at least one repetition", f.repetitions);
  if (f.output != "md" && f.output != "json" && f.output != "csv") {
    user_error("-o {}: the formats are md, json and csv", f.output);
  }
}

// The tests of one model at one thread count.
void bench_model(const BenchFlags& flags, const std::string& path, int threads, std::vector<Result>& results) {
  std::unique_ptr<runtime::Device> device = runtime::open_device(flags.device, threads);
  int max_tokens = 1;
  for (int d : flags.depth) {
    for (int p : flags.prompt) max_tokens = std::max(max_tokens, d + p);
    for (int n : flags.generate) max_tokens = std::max(max_tokens, d + n);
  }
  engine::ModelOptions options;
  options.ctx_size = max_tokens + 1;
  options.int8 = !flags.no_int8;
  options.kv_dtype = cache_dtype(flags.cache_type);
  engine::ModelRunner model(path, *device, options);
  const uint64_t parameters = model.file().parameter_count();
  std::mt19937_64 rng(flags.seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(model.vocab_size() - 1));
  const auto random_tokens = [&](int count) {
    std::vector<int32_t> ids(static_cast<size_t>(count));
    for (int32_t& id : ids) id = token(rng);
    return ids;
  };
  const bool show_progress = isatty(STDERR_FILENO);
  const std::string device_name = device->name();
  const int thread_count = device->target().threads > 0 ? device->target().threads : threads;

  for (int depth : flags.depth) {
    const std::vector<int32_t> context = random_tokens(depth);
    const auto fill_context = [&] {
      model.reset();
      if (!context.empty()) model.forward(context);
    };
    std::vector<std::pair<bool, int>> tests;
    for (int p : flags.prompt) {
      if (p > 0) tests.push_back({true, p});
    }
    for (int n : flags.generate) {
      if (n > 0) tests.push_back({false, n});
    }
    for (const auto& [prompt, tokens] : tests) {
      Result r;
      r.model = std::filesystem::path(path).filename().string();
      r.bytes = model.weight_bytes();
      r.parameters = parameters;
      r.device = device_name;
      r.threads = thread_count;
      r.test = fmt::format("{}{}{}", prompt ? "pp" : "tg", tokens, depth > 0 ? fmt::format("@d{}", depth) : "");
      r.tokens = tokens;
      r.prompt = prompt;
      const std::vector<int32_t> input = random_tokens(tokens);
      compiler::GraphProgram& program = model.program();
      for (int rep = 0; rep <= flags.repetitions; ++rep) {  // the first run warms up, untimed
        if (show_progress) {
          fmt::print(stderr, "\r\033[Kbench: {} t={} {} {}/{}", r.model, thread_count, r.test, rep, flags.repetitions);
        }
        fill_context();
        if (flags.profile && rep > 0) {
          if (rep == 1) program.reset_profile();
          program.set_profiling(true);
        }
        const auto start = Clock::now();
        if (prompt) {
          model.forward(input);
        } else {
          for (int32_t id : input) model.forward(std::span<const int32_t>(&id, 1));
        }
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        if (rep > 0) r.seconds.push_back(seconds);
        if (flags.profile) program.set_profiling(false);  // the next context fill is not the test's
      }
      if (flags.profile) {
        if (show_progress) fmt::print(stderr, "\r\033[K");
        print_profile(program, fmt::format("{} t={} {} ({} timed runs)", r.model, thread_count, r.test, flags.repetitions));
      }
      results.push_back(std::move(r));
    }
  }
  if (show_progress) fmt::print(stderr, "\r\033[K");
}

void print_markdown(const std::vector<Result>& results) {
  fmt::print("| model | size | params | device | threads | test | t/s | achieved |\n");
  fmt::print("| --- | ---: | ---: | --- | ---: | --- | ---: | ---: |\n");
  for (const Result& r : results) {
    fmt::print("| {} | {} | {} | {} | {} | {} | {:.2f} ± {:.2f} | {} |\n", r.model, human_bytes(r.bytes),
               human_count(r.parameters), r.device, r.threads, r.test, r.mean_rate(), r.rate_sd(),
               r.prompt ? fmt::format("{:.1f} GFLOP/s", r.achieved()) : fmt::format("{:.2f} GB/s", r.achieved()));
  }
}

void print_csv(const std::vector<Result>& results) {
  fmt::print("model,size_bytes,params,device,threads,test,tokens,tokens_per_s,tokens_per_s_sd,gb_per_s,gflop_per_s\n");
  for (const Result& r : results) {
    fmt::print("\"{}\",{},{},\"{}\",{},{},{},{:.3f},{:.3f},{},{}\n", r.model, r.bytes, r.parameters, r.device, r.threads,
               r.test, r.tokens, r.mean_rate(), r.rate_sd(), r.prompt ? "" : fmt::format("{:.3f}", r.achieved()),
               r.prompt ? fmt::format("{:.3f}", r.achieved()) : "");
  }
}

void print_json(const std::vector<Result>& results) {
  nlohmann::json out = nlohmann::json::array();
  for (const Result& r : results) {
    nlohmann::json j = {{"model", r.model},     {"size_bytes", r.bytes},          {"params", r.parameters},
                        {"device", r.device},   {"threads", r.threads},           {"test", r.test},
                        {"tokens", r.tokens},   {"tokens_per_s", r.mean_rate()},  {"tokens_per_s_sd", r.rate_sd()},
                        {"seconds", r.seconds}};
    j[r.prompt ? "gflop_per_s" : "gb_per_s"] = r.achieved();
    out.push_back(j);
  }
  fmt::print("{}\n", out.dump(2));
}

void run_bench(BenchFlags flags) {
  check_flags(flags);
  if (flags.models.empty()) {
    flags.models.push_back(default_model_path().string());
    if (!std::filesystem::exists(flags.models[0])) {
      user_error("the default model is not at '{}'; fetch it with scripts/fetch-models.py, or pass -m FILE",
                 flags.models[0]);
    }
  }
  std::vector<Result> results;
  for (const std::string& model : flags.models) {
    for (int threads : flags.threads) bench_model(flags, model, threads, results);
  }
  if (flags.output == "json") print_json(results);
  else if (flags.output == "csv") print_csv(results);
  else print_markdown(results);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* command = app.add_subcommand(
      "bench", "Measure prompt processing (ppP) and generation (tgN) speed, as llama-bench does: tokens/s and the "
               "bandwidth or FLOP/s achieved");
  command->add_option("-m,--model", flags->models, "GGUF model files (several allowed; default: SmolLM2-135M-Instruct)");
  command->add_option("-p,--n-prompt", flags->prompt, "Prompt lengths to time, comma-separated (0: none)")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("-n,--n-gen", flags->generate, "Generated lengths to time, comma-separated (0: none)")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("-d,--n-depth", flags->depth, "Context filled before each test (untimed), comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("-t,--threads", flags->threads, "CPU thread counts, comma-separated (0: every core)")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("-r,--repetitions", flags->repetitions, "Timed runs of each test (after one untimed)")
      ->capture_default_str();
  command->add_option("--device", flags->device, "cpu, opencl or opencl:N")->capture_default_str();
  command->add_option("-o,--output", flags->output, "Table format: md, json or csv")->capture_default_str();
  command->add_option("--seed", flags->seed, "Seed of the random token ids")->capture_default_str();
  command->add_flag("--no-int8", flags->no_int8, "Quantized matmuls in f32 throughout (default: 8-bit activations with "
                    "integer dot products on CPUs with AVX2 or VNNI)");
  add_cache_type_option(*command, flags->cache_type);
  command->add_flag("--profile", flags->profile,
                    "After each test, the time its timed runs spent in each kernel (stderr; the context fill "
                    "excluded)");
  command->callback([flags] { run_bench(*flags); });
}

}  // namespace kiln::cli
