// A generation session: one model on one device with its tokenizer, chat template and sampler,
// and the conversation's tokens in the model's KV cache. `kiln run` and `kiln chat` are thin
// shells around it (and `kiln serve` will be).
//
// generate() feeds the tokens of a prompt or a whole conversation, reusing the cached prefix it
// shares with what was fed before, then samples until an end-of-generation token, the token
// limit or a full context, streaming the text as whole UTF-8 characters.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/chat_template.h"
#include "engine/model_runner.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"
#include "runtime/device.h"

namespace kiln::engine {

struct SessionOptions {
  std::string model_path;   // a GGUF file
  std::string device = "cpu";
  int threads = 0;          // CPU threads; 0: every core
  ModelOptions model;       // context size, fusion, load progress
  SamplerOptions sampling;
  bool profile = false;     // time each kernel (ModelRunner::program().profile())
};

struct GenerationLimits {
  int max_tokens = 128;
  bool ignore_eos = false;  // keep going past end-of-generation tokens (benchmarks)
};

enum class StopReason { EndOfGeneration, MaxTokens, ContextFull };

struct Generation {
  std::string text;
  std::vector<int32_t> tokens;
  StopReason stop = StopReason::MaxTokens;
};

// What the session has done, summed over its generations.
struct SessionTimings {
  double load_seconds = 0;
  size_t prompt_tokens = 0;
  double prompt_seconds = 0;
  size_t generated_tokens = 0;
  double generate_seconds = 0;
};

class Session {
 public:
  // Opens the device and loads the model (UserError for a missing or unusable file or device).
  explicit Session(const SessionOptions& options);

  // A plain prompt as the model's tokenizer encodes it (BOS added where the model wants it).
  std::vector<int32_t> prompt_tokens(const std::string& text) const;
  // A conversation rendered by the model's chat template, ready for the assistant's turn.
  std::vector<int32_t> chat_tokens(const std::vector<ChatMessage>& messages) const;

  // Whether `conversation` (everything the model should have seen) fits the context with room
  // for at least one generated token.
  bool fits(const std::vector<int32_t>& conversation) const;
  // Feeds what of `conversation` is not cached yet and generates; `on_text` receives the text
  // as it is produced. UserError if the conversation does not fit (see fits()).
  Generation generate(const std::vector<int32_t>& conversation, const GenerationLimits& limits,
                      const std::function<void(const std::string&)>& on_text = {});
  // Forgets the conversation (the KV cache is emptied).
  void reset();

  const SessionTimings& timings() const { return timings_; }
  const std::vector<int32_t>& history() const { return history_; }  // the tokens in the KV cache
  ModelRunner& model() { return *model_; }
  const ModelRunner& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  runtime::Device& device() { return *device_; }
  std::string model_name() const;

 private:
  std::unique_ptr<runtime::Device> device_;
  std::unique_ptr<ModelRunner> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  mutable std::unique_ptr<ChatTemplate> chat_template_;  // parsed on first use: plain prompts need none
  Sampler sampler_;
  std::vector<int32_t> history_;
  SessionTimings timings_;
};

}  // namespace kiln::engine
