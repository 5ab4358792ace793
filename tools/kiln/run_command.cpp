// `kiln run` (one prompt, streamed) and `kiln chat` (a conversation): the model's generated text
// goes to stdout and nothing else does; progress and timings go to stderr.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "base/error.h"
#include "commands.h"
#include "engine/chat_template.h"
#include "engine/model_runner.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"
#include "runtime/device.h"

namespace kiln::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct RunFlags {
  std::string model;
  std::string prompt;
  int max_tokens = 128;
  engine::SamplerOptions sampling;
  int64_t ctx_size = 2048;
  int threads = 0;
  std::string device = "cpu";
  bool chat = false;
  bool ignore_eos = false;
  bool profile = false;
  bool no_fuse = false;
  std::string system;
};

std::string default_model_path() {
  const char* dir = std::getenv("KILN_MODELS");
  const std::string folder = dir && *dir ? dir : std::string(std::getenv("HOME") ? std::getenv("HOME") : ".") + "/.cache/kiln/models";
  return folder + "/SmolLM2-135M-Instruct.Q4_1.gguf";
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Everything one generation needs, loaded once.
struct Loaded {
  std::unique_ptr<runtime::Device> device;
  std::unique_ptr<engine::ModelRunner> model;
  std::optional<engine::Tokenizer> tokenizer;
  double load_seconds = 0;
};

Loaded load(const RunFlags& flags) {
  const std::string path = flags.model.empty() ? default_model_path() : flags.model;
  if (flags.model.empty() && !std::filesystem::exists(path)) {
    user_error("the default model is not at '{}'; fetch it with scripts/fetch-models.py, or pass -m FILE", path);
  }
  const auto start = Clock::now();
  Loaded l;
  l.device = runtime::open_device(flags.device, flags.threads);
  const bool show_progress = isatty(STDERR_FILENO);
  engine::ModelOptions options;
  options.ctx_size = flags.ctx_size;
  options.fuse = !flags.no_fuse;
  options.on_progress = [show_progress](const std::string& stage, size_t done, size_t total) {
    if (show_progress && (done == total || done % 16 == 0)) {
      fmt::print(stderr, "\r\033[K{} {}/{}", stage, done, total);
      if (done == total) fmt::print(stderr, "\r\033[K");
    }
  };
  l.model = std::make_unique<engine::ModelRunner>(path, *l.device, options);
  l.model->program().set_profiling(flags.profile);
  l.tokenizer = engine::Tokenizer::from_gguf(l.model->file());
  l.load_seconds = seconds_since(start);
  return l;
}

struct GenerationStats {
  size_t prompt_tokens = 0;
  double prompt_seconds = 0;
  size_t generated = 0;
  double generate_seconds = 0;
};

// Feeds `prompt` and samples until an end-of-generation token, `max_tokens`, or a full
// context; streams the text to `emit` as whole UTF-8 characters. Returns the generated text.
std::string generate(Loaded& l, const std::vector<int32_t>& prompt, const RunFlags& flags, engine::Sampler& sampler,
                     std::vector<int32_t>& history, GenerationStats& stats, const std::function<void(const std::string&)>& emit) {
  const auto prompt_start = Clock::now();
  std::vector<float> logits = l.model->forward(prompt);
  history.insert(history.end(), prompt.begin(), prompt.end());
  stats.prompt_tokens += prompt.size();
  stats.prompt_seconds += seconds_since(prompt_start);

  engine::StreamingDecoder decoder(*l.tokenizer);
  std::string text;
  const auto generate_start = Clock::now();
  for (int i = 0; i < flags.max_tokens; ++i) {
    const int32_t token = sampler.sample(logits, history);
    if (l.tokenizer->is_end_of_generation(token) && !flags.ignore_eos) break;
    history.push_back(token);
    ++stats.generated;
    const std::string piece = decoder.push(token);
    text += piece;
    emit(piece);
    if (l.model->n_past() >= l.model->ctx_size()) {
      fmt::print(stderr, "\nkiln: stopped: the context of {} tokens is full (raise --ctx-size)\n", l.model->ctx_size());
      break;
    }
    if (i + 1 < flags.max_tokens) logits = l.model->forward(std::span<const int32_t>(&token, 1));
  }
  const std::string rest = decoder.finish();
  text += rest;
  emit(rest);
  stats.generate_seconds += seconds_since(generate_start);
  return text;
}

void print_timings(const Loaded& l, const GenerationStats& s) {
  fmt::print(stderr, "\nkiln: load {:.2f} s | prompt {} tokens, {:.1f} tokens/s | generation {} tokens, {:.1f} tokens/s | {}\n",
             l.load_seconds, s.prompt_tokens, s.prompt_seconds > 0 ? s.prompt_tokens / s.prompt_seconds : 0.0,
             s.generated, s.generate_seconds > 0 ? s.generated / s.generate_seconds : 0.0, l.device->name());
}

// --profile: where the steps' time went, by kernel (prompt and generation together).
void print_profile(Loaded& l) {
  const auto times = l.model->program().profile();
  double total = 0;
  for (const auto& t : times) total += t.seconds;
  fmt::print(stderr, "kiln: profile, {:.3f} s in kernels\n  {:>8} {:>6} {:>9}  kernel\n", total, "ms", "%", "launches");
  for (const auto& t : times) {
    fmt::print(stderr, "  {:8.1f} {:6.1f} {:9}  {}\n", t.seconds * 1e3, total > 0 ? 100 * t.seconds / total : 0.0,
               t.launches, t.name);
  }
}

std::vector<int32_t> chat_tokens(const Loaded& l, const std::vector<engine::ChatMessage>& messages) {
  const engine::ChatTemplate chat_template = engine::ChatTemplate::from_gguf(l.model->file());
  const engine::Tokenizer& t = *l.tokenizer;
  const std::string text = chat_template.render(messages, true, t.token_text(t.bos()), t.token_text(t.eos()));
  // The template writes the special tokens it wants (BOS included) as text.
  return t.encode(text, /*parse_special=*/true, /*add_bos=*/false);
}

void run(const RunFlags& flags) {
  Loaded l = load(flags);
  std::vector<int32_t> prompt;
  if (flags.chat) {
    std::vector<engine::ChatMessage> messages;
    if (!flags.system.empty()) messages.push_back({"system", flags.system});
    messages.push_back({"user", flags.prompt});
    prompt = chat_tokens(l, messages);
  } else {
    prompt = l.tokenizer->encode(flags.prompt, true, l.tokenizer->adds_bos());
  }
  if (prompt.empty()) user_error("the prompt is empty; give one with -p");
  engine::Sampler sampler(flags.sampling);
  std::vector<int32_t> history;
  GenerationStats stats;
  generate(l, prompt, flags, sampler, history, stats, [](const std::string& piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  // On a terminal the answer ends its line; in a pipe stdout is exactly the generated text.
  if (isatty(STDOUT_FILENO)) std::fputc('\n', stdout);
  print_timings(l, stats);
  if (flags.profile) print_profile(l);
}

void chat(const RunFlags& flags) {
  Loaded l = load(flags);
  engine::Sampler sampler(flags.sampling);
  std::vector<engine::ChatMessage> messages;
  if (!flags.system.empty()) messages.push_back({"system", flags.system});
  std::vector<int32_t> history;  // the tokens in the KV cache
  GenerationStats stats;
  const bool interactive = isatty(STDIN_FILENO);
  fmt::print(stderr, "kiln chat: {} ({}). /reset starts over, /exit or Ctrl-D leaves.\n",
             l.model->file().get_string_or("general.name", "model"), l.device->name());
  std::string line;
  while (true) {
    if (interactive) fmt::print(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit") break;
    if (line == "/reset") {
      messages.resize(flags.system.empty() ? 0 : 1);
      history.clear();
      l.model->reset();
      fmt::print(stderr, "(conversation cleared)\n");
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({"user", line});
    const std::vector<int32_t> tokens = chat_tokens(l, messages);
    // Keep the cached prefix the new rendering shares with what was fed before.
    size_t common = 0;
    while (common < history.size() && common < tokens.size() && history[common] == tokens[common]) ++common;
    if (common == tokens.size()) --common;  // at least one token must be fed to get logits
    l.model->rewind(static_cast<int64_t>(common));
    history.resize(common);
    const std::vector<int32_t> fresh(tokens.begin() + static_cast<std::ptrdiff_t>(common), tokens.end());
    if (l.model->n_past() + static_cast<int64_t>(fresh.size()) >= l.model->ctx_size()) {
      fmt::print(stderr, "kiln: the conversation fills the context of {} tokens; /reset to start over\n", l.model->ctx_size());
      messages.pop_back();
      continue;
    }
    const std::string reply = generate(l, fresh, flags, sampler, history, stats, [](const std::string& piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    });
    std::fputc('\n', stdout);
    std::fflush(stdout);
    messages.push_back({"assistant", reply});
  }
  print_timings(l, stats);
  if (flags.profile) print_profile(l);
}

void add_common_options(CLI::App* command, RunFlags& f) {
  command->add_option("-m,--model", f.model, "GGUF model file (default: SmolLM2-135M-Instruct from the model cache)");
  command->add_option("-n,--n-predict", f.max_tokens, "Most tokens to generate per reply")->capture_default_str();
  command->add_option("--temp", f.sampling.temperature, "Temperature; 0 is greedy")->capture_default_str();
  command->add_option("--top-k", f.sampling.top_k, "Keep the k most likely tokens (0: all)")->capture_default_str();
  command->add_option("--top-p", f.sampling.top_p, "Keep the smallest set with this much probability")->capture_default_str();
  command->add_option("--min-p", f.sampling.min_p, "Drop tokens below this fraction of the best one's probability")
      ->capture_default_str();
  command->add_option("--repeat-penalty", f.sampling.repeat_penalty, "Penalty for repeating recent tokens (1: none)")
      ->capture_default_str();
  command->add_option("--frequency-penalty", f.sampling.frequency_penalty, "Penalty per earlier use of a token")
      ->capture_default_str();
  command->add_option("--presence-penalty", f.sampling.presence_penalty, "Penalty for any earlier use of a token")
      ->capture_default_str();
  command->add_option("--seed", f.sampling.seed, "Random seed, for reproducible sampling")->capture_default_str();
  command->add_option("-c,--ctx-size", f.ctx_size, "Context size in tokens (KV cache)")->capture_default_str();
  command->add_option("-t,--threads", f.threads, "CPU threads (0: all cores)")->capture_default_str();
  command->add_option("--device", f.device, "cpu, opencl or opencl:N")->capture_default_str();
  command->add_option("--system", f.system, "System message for the chat template");
  command->add_flag("--ignore-eos", f.ignore_eos, "Keep generating past end-of-generation tokens (for benchmarks)");
  command->add_flag("--profile", f.profile, "At the end, print the time spent in each kernel (stderr)");
  command->add_flag("--no-fuse", f.no_fuse, "One kernel per graph node: no element-wise nodes fused into their producers");
}

}  // namespace

void add_run_commands(CLI::App& app) {
  auto run_flags = std::make_shared<RunFlags>();
  CLI::App* run_command = app.add_subcommand("run", "Generate text from a prompt; the text streams to stdout, timings to stderr");
  add_common_options(run_command, *run_flags);
  run_command->add_option("-p,--prompt", run_flags->prompt, "The prompt")->required();
  run_command->add_flag("--chat", run_flags->chat, "Wrap the prompt in the model's chat template as a user message");
  run_command->callback([run_flags] { run(*run_flags); });

  auto chat_flags = std::make_shared<RunFlags>();
  CLI::App* chat_command = app.add_subcommand("chat", "Talk with a model; it keeps the conversation (/reset, /exit, Ctrl-D)");
  add_common_options(chat_command, *chat_flags);
  chat_command->callback([chat_flags] { chat(*chat_flags); });
}

}  // namespace kiln::cli
