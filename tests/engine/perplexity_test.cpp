// Perplexity's arithmetic (engine/perplexity.h) against values worked out by hand, and, on the
// real model, that each scored token's log-probability is the one the model gives that token
// after exactly its window's earlier tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "base/error.h"
#include "base/model_folder.h"
#include "engine/perplexity.h"
#include "runtime/device.h"
#include "support/expect_error.h"

namespace kiln::engine {
namespace {

TEST(Perplexity, ScoreIsLogSoftmaxInDoubleAndTopOneIsTheFirstLargest) {
  // softmax of (0, ln 2, ln 2, -inf-ish): 1/5, 2/5, 2/5, ~0.
  const std::vector<float> logits = {0.0f, std::log(2.0f), std::log(2.0f), -80.0f};
  const TokenScore first = score_token(logits, 0);
  EXPECT_NEAR(first.logprob, std::log(0.2), 1e-6);
  EXPECT_EQ(first.top1, 1);  // the first of the two equal largest
  EXPECT_NEAR(score_token(logits, 2).logprob, std::log(0.4), 1e-6);
  // Large logits do not overflow: shifted by the largest.
  const std::vector<float> large = {1000.0f, 1000.0f};
  EXPECT_NEAR(score_token(large, 1).logprob, std::log(0.5), 1e-9);
  EXPECT_THROW(score_token(large, 2), InternalError);
}

TEST(Perplexity, StatsAreTheMeanNllAndItsStandardError) {
  PerplexityStats stats;
  EXPECT_EQ(stats.perplexity_error(), 0.0);
  for (const double nll : {1.0, 2.0, 3.0, 4.0}) stats.add(nll);
  EXPECT_EQ(stats.count(), 4);
  EXPECT_DOUBLE_EQ(stats.mean_nll(), 2.5);
  EXPECT_NEAR(stats.perplexity(), std::exp(2.5), 1e-9);
  // Population variance 1.25; the mean's standard error sqrt(1.25 / 3).
  EXPECT_NEAR(stats.perplexity_error(), std::exp(2.5) * std::sqrt(1.25 / 3.0), 1e-9);
}

TEST(Perplexity, WindowsAreWholeAndATooShortTextSaysWhatItNeeds) {
  PerplexityOptions options;
  options.window = 100;
  EXPECT_EQ(perplexity_windows(399, options), 3);
  options.max_windows = 2;
  EXPECT_EQ(perplexity_windows(399, options), 2);
  expect_user_error([&] { perplexity_windows(99, options); }, {"the text is 99 tokens long; one window needs 100"});
  options.window = 3;
  expect_user_error([&] { perplexity_windows(99, options); }, {"too short"});
}

TEST(Perplexity, EachScoreIsTheModelsAfterItsWindowsEarlierTokens) {
  const std::string path = default_model_path().string();
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing: run scripts/fetch-models.py";
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, 49151);
  std::vector<int32_t> tokens(40);
  for (int32_t& t : tokens) t = id(rng);

  auto device = runtime::open_device("cpu", 2);
  ModelOptions all;
  all.ctx_size = 16;
  all.all_logits = true;
  ModelRunner batch(path, *device, all);
  PerplexityOptions options;
  options.window = 16;
  int64_t reported = 0;
  options.on_window = [&](int64_t done, int64_t total, const PerplexityStats&) {
    reported = done;
    EXPECT_EQ(total, 2);
  };
  const PerplexityResult result = perplexity(batch, tokens, /*bos=*/1, options);
  EXPECT_EQ(reported, 2);
  EXPECT_EQ(result.windows, 2);
  // Positions 8..14 of each window predict 9..15: 7 a window.
  ASSERT_EQ(result.scores.size(), 14u);
  EXPECT_EQ(result.stats.count(), 14);

  // Each score again, from a prompt of exactly the window's tokens before it (BOS first), its
  // last logits only: the same model on a shorter batch, so equal up to float rounding.
  ModelOptions last;
  last.ctx_size = 16;
  ModelRunner prefix_model(path, *device, last);
  double mean_nll = 0;
  for (const TokenScore& score : result.scores) {
    const int64_t start = score.position / 16 * 16;
    std::vector<int32_t> prefix(tokens.begin() + start, tokens.begin() + score.position);
    prefix[0] = 1;
    EXPECT_EQ(score.token, tokens[static_cast<size_t>(score.position)]);
    prefix_model.reset();
    const std::vector<float> logits = prefix_model.forward(prefix);
    const TokenScore again = score_token(logits, score.token);
    EXPECT_NEAR(score.logprob, again.logprob, 1e-3) << "position " << score.position;
    mean_nll -= score.logprob / static_cast<double>(result.scores.size());
  }
  EXPECT_NEAR(result.stats.mean_nll(), mean_nll, 1e-9);
  EXPECT_GT(result.stats.perplexity(), 1.0);
}

}  // namespace
}  // namespace kiln::engine
