// The sampler: picks the next token from a model's logits.
//
// The chain is llama.cpp's default one, in its order:
//   1. penalties over the last `repeat_last_n` tokens of the history: a repeated token's logit
//      is divided by `repeat_penalty` when positive and multiplied by it when not, then
//      `count * frequency_penalty + presence_penalty` is subtracted;
//   2. temperature 0: the first token with the largest logit (greedy), and nothing else;
//   3. top-k, then top-p (the smallest set of most likely tokens whose probability reaches
//      top_p), then min-p (tokens at least min_p times as likely as the best one);
//   4. temperature: logits divided by it;
//   5. softmax, and a draw from a std::mt19937_64 seeded with `seed`.
// Ties are broken towards the lower token id everywhere, so top_k = 1 is greedy. The same seed,
// options, logits and history give the same tokens.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace kiln::engine {

struct SamplerOptions {
  float temperature = 0.8f;     // 0: greedy
  int top_k = 40;               // <= 0: all tokens
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;       // tokens of history the penalties look at; 0: off, -1: all
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0;  // callers pick a random one when the user gave none
};

class Sampler {
 public:
  // Throws UserError naming the option when one is out of range (a negative temperature, a
  // top_p outside [0, 1], ...).
  explicit Sampler(SamplerOptions options);

  // The next token: an index into `logits`. `history` holds the tokens so far (prompt and
  // output), oldest first; ids outside the vocabulary are ignored. Each call draws from the
  // sampler's random stream.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

  const SamplerOptions& options() const { return options_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };

  void apply_penalties(std::span<const int32_t> history);

  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::vector<Candidate> candidates_;  // reused between calls
  std::vector<int32_t> counts_;        // occurrences per token in the penalty window
  std::vector<double> probabilities_;
};

}  // namespace kiln::engine
