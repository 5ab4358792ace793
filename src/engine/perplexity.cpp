#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace kiln::engine {

std::vector<double> log_softmax(std::span<const float> logits) {
  // Shifted by the largest logit so that no term overflows.
  const double largest = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (const float logit : logits) sum += std::exp(static_cast<double>(logit) - largest);
  const double shift = largest + std::log(sum);
  std::vector<double> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - shift;
  return out;
}

TokenScore score_token(std::span<const double> logprobs, int32_t target) {
  KILN_CHECK(!logprobs.empty() && target >= 0 && static_cast<size_t>(target) < logprobs.size(),
             "token {} scored against {} log-probabilities", target, logprobs.size());
  TokenScore score;
  score.token = target;
  score.logprob = logprobs[static_cast<size_t>(target)];
  score.top1 = static_cast<int32_t>(std::max_element(logprobs.begin(), logprobs.end()) - logprobs.begin());
  return score;
}

double RunningMean::error() const {
  if (count_ < 2) return 0.0;
  const double n = static_cast<double>(count_);
  const double variance = std::max(0.0, sum_squares_ / n - mean() * mean());
  return std::sqrt(variance / (n - 1));
}

double PerplexityStats::perplexity() const { return std::exp(mean_nll()); }

int64_t perplexity_windows(int64_t tokens, const PerplexityOptions& options) {
  if (options.window < 4) user_error("a window of {} tokens is too short to score (at least 4)", options.window);
  const int64_t whole = tokens / options.window;
  if (whole == 0) {
    user_error("the text is {} tokens long; one window needs {} (shorten the window with -c, or give a longer text)",
               tokens, options.window);
  }
  return options.max_windows >= 0 ? std::min(whole, options.max_windows) : whole;
}

PerplexityResult perplexity(ModelRunner& model, std::span<const int32_t> tokens, std::optional<int32_t> bos,
                            const PerplexityOptions& options) {
  const int64_t n = options.window;
  const int64_t windows = perplexity_windows(static_cast<int64_t>(tokens.size()), options);
  if (n > model.ctx_size()) user_error("a window of {} tokens does not fit the context of {}", n, model.ctx_size());
  const size_t vocab = static_cast<size_t>(model.vocab_size());
  PerplexityResult result;
  result.windows = windows;
  std::vector<int32_t> window(static_cast<size_t>(n));
  for (int64_t w = 0; w < windows; ++w) {
    const int64_t start = w * n;
    std::copy_n(tokens.begin() + start, n, window.begin());
    if (bos) window[0] = *bos;
    model.reset();
    const std::vector<float> logits = model.forward(window);
    KILN_CHECK(logits.size() == static_cast<size_t>(n) * vocab, "{} logits for a window of {} tokens", logits.size(), n);
    // Positions first .. n - 2 predict tokens first + 1 .. n - 1: the second half, each with
    // at least half a window of context.
    for (int64_t i = n / 2; i + 1 < n; ++i) {
      const std::vector<double> logprobs =
          log_softmax(std::span<const float>(logits).subspan(static_cast<size_t>(i) * vocab, vocab));
      TokenScore score = score_token(logprobs, window[static_cast<size_t>(i + 1)]);
      score.position = start + i + 1;
      if (options.on_scored) options.on_scored(score, logprobs);
      result.stats.add(-score.logprob);
      result.scores.push_back(score);
    }
    if (options.on_window) options.on_window(w + 1, windows, result.stats);
  }
  model.reset();
  return result;
}

}  // namespace kiln::engine
