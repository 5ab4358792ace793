// `kiln run` (one prompt, streamed) and `kiln chat` (a conversation): options and printing only;
// the generation itself is engine::Session's. The model's generated text goes to stdout and
// nothing else does; progress and timings go to stderr.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "base/error.h"
#include "base/model_folder.h"
#include "cache_type.h"
#include "profile_report.h"
#include "commands.h"
#include "engine/session.h"

namespace kiln::cli {
namespace {

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
  bool no_int8 = false;
  std::string cache_type = "f16";
  std::string system;
};

// Opens the session the flags describe, with load progress on a terminal.
std::unique_ptr<engine::Session> open_session(const RunFlags& flags) {
  engine::SessionOptions options;
  options.model_path = flags.model.empty() ? default_model_path().string() : flags.model;
  if (flags.model.empty() && !std::filesystem::exists(options.model_path)) {
    user_error("the default model is not at '{}'; fetch it with scripts/fetch-models.py, or pass -m FILE",
               options.model_path);
  }
  options.device = flags.device;
  options.threads = flags.threads;
  options.model.ctx_size = flags.ctx_size;
  options.model.fuse = !flags.no_fuse;
  options.model.int8 = !flags.no_int8;
  options.model.kv_dtype = cache_dtype(flags.cache_type);
  options.sampling = flags.sampling;
  options.profile = flags.profile;
  const bool show_progress = isatty(STDERR_FILENO);
  options.model.on_progress = [show_progress](const std::string& stage, size_t done, size_t total) {
    if (show_progress && (done == total || done % 16 == 0)) {
      fmt::print(stderr, "\r\033[K{} {}/{}", stage, done, total);
      if (done == total) fmt::print(stderr, "\r\033[K");
    }
  };
  return std::make_unique<engine::Session>(options);
}

void print_to_stdout(const std::string& piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
}

void report_stop(const engine::Session& session, const engine::Generation& g) {
  if (g.stop == engine::StopReason::ContextFull) {
    fmt::print(stderr, "\nkiln: stopped: the context of {} tokens is full (raise --ctx-size)\n", session.model().ctx_size());
  }
}

void print_timings(engine::Session& session) {
  const engine::SessionTimings& t = session.timings();
  fmt::print(stderr, "\nkiln: load {:.2f} s | prompt {} tokens, {:.1f} tokens/s | generation {} tokens, {:.1f} tokens/s | {}\n",
             t.load_seconds, t.prompt_tokens, t.prompt_seconds > 0 ? t.prompt_tokens / t.prompt_seconds : 0.0,
             t.generated_tokens, t.generate_seconds > 0 ? t.generated_tokens / t.generate_seconds : 0.0,
             session.device().name());
}

void run(const RunFlags& flags) {
  std::unique_ptr<engine::Session> session = open_session(flags);
  std::vector<int32_t> prompt;
  if (flags.chat) {
    std::vector<engine::ChatMessage> messages;
    if (!flags.system.empty()) messages.push_back({"system", flags.system});
    messages.push_back({"user", flags.prompt});
    prompt = session->chat_tokens(messages);
  } else {
    prompt = session->prompt_tokens(flags.prompt);
  }
  if (prompt.empty()) user_error("the prompt is empty; give one with -p");
  const engine::Generation g = session->generate(prompt, {flags.max_tokens, flags.ignore_eos}, print_to_stdout);
  report_stop(*session, g);
  // On a terminal the answer ends its line; in a pipe stdout is exactly the generated text.
  if (isatty(STDOUT_FILENO)) std::fputc('\n', stdout);
  print_timings(*session);
  if (flags.profile) print_profile(session->model().program());
}

void chat(const RunFlags& flags) {
  std::unique_ptr<engine::Session> session = open_session(flags);
  std::vector<engine::ChatMessage> messages;
  if (!flags.system.empty()) messages.push_back({"system", flags.system});
  const bool interactive = isatty(STDIN_FILENO);
  fmt::print(stderr, "kiln chat: {} ({}). /reset starts over, /exit or Ctrl-D leaves.\n", session->model_name(),
             session->device().name());
  std::string line;
  while (true) {
    if (interactive) fmt::print(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit") break;
    if (line == "/reset") {
      messages.resize(flags.system.empty() ? 0 : 1);
      session->reset();
      fmt::print(stderr, "(conversation cleared)\n");
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({"user", line});
    const std::vector<int32_t> conversation = session->chat_tokens(messages);
    if (!session->fits(conversation)) {
      fmt::print(stderr, "kiln: the conversation fills the context of {} tokens; /reset to start over\n",
                 session->model().ctx_size());
      messages.pop_back();
      continue;
    }
    const engine::Generation g = session->generate(conversation, {flags.max_tokens, flags.ignore_eos}, print_to_stdout);
    report_stop(*session, g);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    messages.push_back({"assistant", g.text});
  }
  print_timings(*session);
  if (flags.profile) print_profile(session->model().program());
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
  command->add_flag("--no-int8", f.no_int8,
                    "Quantized matmuls in f32 throughout, instead of on activations quantized to 8 bits with integer "
                    "dot products (the default on CPUs with AVX2 or VNNI)");
  add_cache_type_option(*command, f.cache_type);
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
