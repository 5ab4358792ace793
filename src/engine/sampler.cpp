#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/error.h"

namespace kiln::engine {

namespace {

// Higher logit first; among equal logits the lower id. NaN logits sort last.
struct ByLogit {
  template <typename C>
  bool operator()(const C& a, const C& b) const {
    const bool a_nan = std::isnan(a.logit);
    const bool b_nan = std::isnan(b.logit);
    if (a_nan != b_nan) return b_nan;
    if (!a_nan && a.logit != b.logit) return a.logit > b.logit;
    return a.id < b.id;
  }
};

// A uniform double in [0, 1) from the top 53 bits of one draw: the same on every standard
// library, unlike std::uniform_real_distribution.
double uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

Sampler::Sampler(SamplerOptions options) : options_(options), rng_(options.seed) {
  const auto check = [](bool ok, const char* name, float value, const char* expected) {
    if (!ok) user_error("sampler option {} = {} is out of range: {}", name, value, expected);
  };
  check(std::isfinite(options_.temperature) && options_.temperature >= 0, "temperature",
        options_.temperature, "it must be 0 (greedy) or more");
  check(options_.top_p >= 0 && options_.top_p <= 1, "top_p", options_.top_p,
        "it must lie in [0, 1]");
  check(options_.min_p >= 0 && options_.min_p <= 1, "min_p", options_.min_p,
        "it must lie in [0, 1]");
  check(std::isfinite(options_.repeat_penalty) && options_.repeat_penalty > 0, "repeat_penalty",
        options_.repeat_penalty, "it must be more than 0 (1 is off)");
  check(std::isfinite(options_.frequency_penalty), "frequency_penalty", options_.frequency_penalty,
        "it must be finite");
  check(std::isfinite(options_.presence_penalty), "presence_penalty", options_.presence_penalty,
        "it must be finite");
  if (options_.repeat_last_n < -1) {
    user_error(
        "sampler option repeat_last_n = {} is out of range: it must be -1 (all), 0 (off) "
        "or more",
        options_.repeat_last_n);
  }
}

void Sampler::apply_penalties(std::span<const int32_t> history) {
  const bool off = options_.repeat_penalty == 1.0f && options_.frequency_penalty == 0.0f &&
                   options_.presence_penalty == 0.0f;
  if (off || options_.repeat_last_n == 0 || history.empty()) return;
  const size_t window = options_.repeat_last_n < 0
                            ? history.size()
                            : std::min(history.size(), static_cast<size_t>(options_.repeat_last_n));
  const auto vocab = static_cast<int32_t>(candidates_.size());
  counts_.assign(candidates_.size(), 0);
  for (int32_t token : history.subspan(history.size() - window)) {
    if (token >= 0 && token < vocab) ++counts_[static_cast<size_t>(token)];
  }
  // Candidates are still in id order here.
  for (Candidate& candidate : candidates_) {
    const int32_t count = counts_[static_cast<size_t>(candidate.id)];
    if (count == 0) continue;
    if (candidate.logit <= 0) {
      candidate.logit *= options_.repeat_penalty;
    } else {
      candidate.logit /= options_.repeat_penalty;
    }
    candidate.logit -=
        static_cast<float>(count) * options_.frequency_penalty + options_.presence_penalty;
  }
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  KILN_CHECK(!logits.empty(), "the sampler got no logits");
  KILN_CHECK(logits.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()),
             "{} logits do not fit token ids", logits.size());
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    candidates_[i] = {static_cast<int32_t>(i), logits[i]};
  }
  apply_penalties(history);

  if (options_.temperature == 0.0f) {
    return std::min_element(candidates_.begin(), candidates_.end(), ByLogit())->id;
  }

  // Top-k, leaving the candidates sorted best first.
  size_t keep = candidates_.size();
  if (options_.top_k > 0) keep = std::min(keep, static_cast<size_t>(options_.top_k));
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep),
                    candidates_.end(), ByLogit());
  candidates_.resize(keep);
  // NaN logits never make it past here; -inf ones keep probability 0.
  while (candidates_.size() > 1 && std::isnan(candidates_.back().logit)) candidates_.pop_back();
  const float max_logit = candidates_.front().logit;
  if (!std::isfinite(max_logit)) return candidates_.front().id;

  // Probabilities of the candidates, from logits scaled by `scale`.
  const auto softmax = [&](double scale) {
    probabilities_.resize(candidates_.size());
    double total = 0;
    for (size_t i = 0; i < candidates_.size(); ++i) {
      probabilities_[i] = std::exp((static_cast<double>(candidates_[i].logit) - max_logit) * scale);
      total += probabilities_[i];
    }
    for (double& p : probabilities_) p /= total;
  };

  if (options_.top_p < 1.0f) {
    softmax(1.0);
    double cumulative = 0;
    size_t cut = candidates_.size();
    for (size_t i = 0; i < candidates_.size(); ++i) {
      cumulative += probabilities_[i];
      if (cumulative >= options_.top_p) {
        cut = i + 1;
        break;
      }
    }
    candidates_.resize(cut);
  }

  if (options_.min_p > 0.0f) {
    // p_i >= min_p * p_max, in logits (as llama.cpp compares them).
    const double min_logit =
        static_cast<double>(max_logit) + std::log(static_cast<double>(options_.min_p));
    size_t cut = 1;
    while (cut < candidates_.size() && candidates_[cut].logit >= min_logit) ++cut;
    candidates_.resize(cut);
  }

  softmax(1.0 / static_cast<double>(options_.temperature));
  const double target = uniform(rng_);
  double cumulative = 0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cumulative += probabilities_[i];
    if (target < cumulative) return candidates_[i].id;
  }
  return candidates_.back().id;  // rounding left the cumulative sum just under 1
}

}  // namespace kiln::engine
