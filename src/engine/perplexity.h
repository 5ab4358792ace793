// Perplexity, the measure of fidelity the field uses (llama.cpp's llama-perplexity): a text's
// tokens in non-overlapping windows of the context's length, each window run from an empty
// cache with every position's logits (teacher forcing), and the second half of each window
// scored: -log p(next token). A window's first token is BOS where the model adds one, so every
// window starts as a prompt does. The scores are accumulated in double.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "engine/model_runner.h"

namespace kiln::engine {

// One scored token: the log-probability the model gave it, and the model's own first choice.
struct TokenScore {
  int64_t position = 0;  // of the scored token, in the text's tokens
  int32_t token = 0;
  double logprob = 0;
  int32_t top1 = 0;
};

// log softmax of one row of logits, in double.
std::vector<double> log_softmax(std::span<const float> logits);

// `target`'s log-probability in a row of them, and the most likely token (the first of equals).
TokenScore score_token(std::span<const double> logprobs, int32_t target);

// A running mean and its standard error (samples assumed independent).
class RunningMean {
 public:
  void add(double x) {
    ++count_;
    sum_ += x;
    sum_squares_ += x * x;
  }
  int64_t count() const { return count_; }
  double mean() const { return count_ > 0 ? sum_ / static_cast<double>(count_) : 0.0; }
  double error() const;  // 0 below two samples

 private:
  int64_t count_ = 0;
  double sum_ = 0, sum_squares_ = 0;
};

// Running mean and spread of negative log-likelihoods.
class PerplexityStats {
 public:
  void add(double nll) { nll_.add(nll); }
  int64_t count() const { return nll_.count(); }
  double mean_nll() const { return nll_.mean(); }
  double perplexity() const;
  // The standard error of the perplexity: exp(mean) times the standard error of the mean nll
  // (llama-perplexity's estimate; 0 below two tokens).
  double perplexity_error() const { return perplexity() * nll_.error(); }

 private:
  RunningMean nll_;
};

struct PerplexityOptions {
  int64_t window = 512;  // tokens per window (at most the model's context)
  int64_t max_windows = -1;  // -1: every whole window of the text
  // After each window: its index, how many there are, and the statistics so far.
  std::function<void(int64_t done, int64_t total, const PerplexityStats& stats)> on_window;
  // Each scored token with the distribution that scored it (--save-logits, --kl-divergence).
  std::function<void(const TokenScore& score, std::span<const double> logprobs)> on_scored;
};

struct PerplexityResult {
  PerplexityStats stats;
  int64_t windows = 0;
  std::vector<TokenScore> scores;  // every scored token, in order
};

// The windows needed for a text of `tokens` tokens; UserError where not even one fits.
int64_t perplexity_windows(int64_t tokens, const PerplexityOptions& options);

// Scores `tokens` (the text's, BOS first where the model adds one). `model` must have been
// loaded with ModelOptions::all_logits and a context of at least options.window.
PerplexityResult perplexity(ModelRunner& model, std::span<const int32_t> tokens, std::optional<int32_t> bos,
                            const PerplexityOptions& options);

}  // namespace kiln::engine
