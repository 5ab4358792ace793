#include "engine/session.h"

#include <chrono>

#include "base/error.h"

namespace kiln::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

Session::Session(const SessionOptions& options) : sampler_(options.sampling) {
  const auto start = Clock::now();
  device_ = runtime::open_device(options.device, options.threads);
  model_ = std::make_unique<ModelRunner>(options.model_path, *device_, options.model);
  model_->program().set_profiling(options.profile);
  tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(model_->file()));
  timings_.load_seconds = seconds_since(start);
}

std::vector<int32_t> Session::prompt_tokens(const std::string& text) const {
  return tokenizer_->encode(text, /*parse_special=*/true, tokenizer_->adds_bos());
}

std::vector<int32_t> Session::chat_tokens(const std::vector<ChatMessage>& messages) const {
  if (!chat_template_) chat_template_ = std::make_unique<ChatTemplate>(ChatTemplate::from_gguf(model_->file()));
  const Tokenizer& t = *tokenizer_;
  const std::string text = chat_template_->render(messages, true, t.token_text(t.bos()), t.token_text(t.eos()));
  // The template writes the special tokens it wants (BOS included) as text.
  return t.encode(text, /*parse_special=*/true, /*add_bos=*/false);
}

bool Session::fits(const std::vector<int32_t>& conversation) const {
  return static_cast<int64_t>(conversation.size()) < model_->ctx_size();
}

Generation Session::generate(const std::vector<int32_t>& conversation, const GenerationLimits& limits,
                             const std::function<void(const std::string&)>& on_text) {
  if (conversation.empty()) user_error("the prompt is empty");
  if (!fits(conversation)) {
    user_error("the prompt of {} tokens does not fit the context of {} tokens with room to answer (raise --ctx-size)",
               conversation.size(), model_->ctx_size());
  }
  // Keep the cached prefix the conversation shares with what was fed before; at least one
  // token is fed, since the logits come from feeding.
  size_t common = 0;
  while (common < history_.size() && common < conversation.size() && history_[common] == conversation[common]) ++common;
  if (common == conversation.size()) --common;
  model_->rewind(static_cast<int64_t>(common));
  history_.resize(common);
  const std::vector<int32_t> fresh(conversation.begin() + static_cast<std::ptrdiff_t>(common), conversation.end());

  const auto emit = [&](const std::string& piece) {
    if (on_text && !piece.empty()) on_text(piece);
  };
  const auto prompt_start = Clock::now();
  std::vector<float> logits = model_->forward(fresh);
  history_.insert(history_.end(), fresh.begin(), fresh.end());
  timings_.prompt_tokens += fresh.size();
  timings_.prompt_seconds += seconds_since(prompt_start);

  Generation result;
  StreamingDecoder decoder(*tokenizer_);
  const auto generate_start = Clock::now();
  for (int i = 0; i < limits.max_tokens; ++i) {
    const int32_t token = sampler_.sample(logits, history_);
    if (tokenizer_->is_end_of_generation(token) && !limits.ignore_eos) {
      result.stop = StopReason::EndOfGeneration;
      break;
    }
    history_.push_back(token);
    result.tokens.push_back(token);
    ++timings_.generated_tokens;
    const std::string piece = decoder.push(token);
    result.text += piece;
    emit(piece);
    if (model_->n_past() >= model_->ctx_size()) {
      result.stop = StopReason::ContextFull;
      break;
    }
    if (i + 1 < limits.max_tokens) logits = model_->forward(std::span<const int32_t>(&token, 1));
  }
  // The last token sampled is not fed when the generation stops at a limit: the cache (and so
  // the history a later turn is matched against) ends before it.
  if (result.stop != StopReason::EndOfGeneration && !result.tokens.empty()) history_.pop_back();
  const std::string rest = decoder.finish();
  result.text += rest;
  emit(rest);
  timings_.generate_seconds += seconds_since(generate_start);
  return result;
}

void Session::reset() {
  model_->reset();
  history_.clear();
}

std::string Session::model_name() const { return model_->file().get_string_or("general.name", "model"); }

}  // namespace kiln::engine
