// Perplexity's arithmetic (engine/perplexity.h) against values worked out by hand, and, on the
// real model, that each scored token's log-probability is the one the model gives that token
// after exactly its window's earlier tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "base/error.h"
#include "base/model_folder.h"
#include "engine/logit_file.h"
#include "engine/perplexity.h"
#include "runtime/device.h"
#include "support/expect_error.h"

namespace kiln::engine {
namespace {

TEST(Perplexity, ScoreIsLogSoftmaxInDoubleAndTopOneIsTheFirstLargest) {
  // softmax of (0, ln 2, ln 2, -inf-ish): 1/5, 2/5, 2/5, ~0.
  const std::vector<float> logits = {0.0f, std::log(2.0f), std::log(2.0f), -80.0f};
  const TokenScore first = score_token(log_softmax(logits), 0);
  EXPECT_NEAR(first.logprob, std::log(0.2), 1e-6);
  EXPECT_EQ(first.top1, 1);  // the first of the two equal largest
  EXPECT_NEAR(score_token(log_softmax(logits), 2).logprob, std::log(0.4), 1e-6);
  // Large logits do not overflow: shifted by the largest.
  const std::vector<float> large = {1000.0f, 1000.0f};
  EXPECT_NEAR(score_token(log_softmax(large), 1).logprob, std::log(0.5), 1e-9);
  EXPECT_THROW(score_token(log_softmax(large), 2), InternalError);
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

TEST(LogitFile, RoundTripsAndKlDivergenceIsWorkedOutInDouble) {
  const std::string path = (std::filesystem::temp_directory_path() / "kiln-logits-roundtrip.lgt").string();
  const std::vector<float> a = {0.0f, std::log(3.0f)};  // p = (1/4, 3/4)
  const std::vector<float> b = {0.0f, 0.0f};            // q = (1/2, 1/2)
  {
    LogitWriter writer(path, 2, 16);
    writer.add(9, 1, log_softmax(a));
    writer.add(10, 0, log_softmax(b));
    writer.close();
  }
  LogitReader reader(path);
  EXPECT_EQ(reader.vocab(), 2);
  EXPECT_EQ(reader.window(), 16);
  ASSERT_EQ(reader.count(), 2);
  const LogitRecord first = reader.next();
  EXPECT_EQ(first.position, 9);
  EXPECT_EQ(first.token, 1);
  EXPECT_NEAR(first.logprobs[1], std::log(0.75), 1e-7);
  const LogitRecord second = reader.next();
  expect_user_error([&] { reader.next(); }, {"holds 2 scored tokens"});

  // KL(p || q) = 1/4 ln(1/2) + 3/4 ln(3/2); the same distribution: 0.
  KlStats kl;
  kl.add(first.logprobs, log_softmax(b), 1);
  EXPECT_NEAR(kl.mean_kl(), 0.25 * std::log(0.5) + 0.75 * std::log(1.5), 1e-7);
  EXPECT_EQ(kl.top1_agreement(), 0.0);  // argmax 1 against a tie (the first: 0)
  EXPECT_NEAR(kl.max_abs_dp(), 0.25, 1e-7);
  kl.add(second.logprobs, log_softmax(b), 0);
  EXPECT_EQ(kl.count(), 2);
  EXPECT_NEAR(kl.top1_agreement(), 0.5, 1e-12);
  EXPECT_NEAR(kl.base_perplexity(), std::exp(-(std::log(0.75) + std::log(0.5)) / 2), 1e-6);
}

TEST(LogitFile, TruncatedUnfinishedAndForeignFilesAreRefused) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string path = (dir / "kiln-logits-whole.lgt").string();
  {
    LogitWriter writer(path, 4, 8);
    const std::vector<float> row = {1.0f, 2.0f, 3.0f, 4.0f};
    writer.add(5, 2, log_softmax(row));
    writer.close();
  }
  const auto size = std::filesystem::file_size(path);
  const std::string truncated = (dir / "kiln-logits-truncated.lgt").string();
  std::filesystem::copy_file(path, truncated, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(truncated, size - 3);
  expect_user_error([&] { LogitReader{truncated}; }, {"records of a 4-token vocabulary need"});
  {
    LogitWriter unfinished((dir / "kiln-logits-unfinished.lgt").string(), 4, 8);  // never closed
  }
  expect_user_error([&] { LogitReader{(dir / "kiln-logits-unfinished.lgt").string()}; }, {"incomplete"});
  // A header claiming a huge vocabulary or count is refused before anything is allocated.
  std::string bytes(8, ' ');
  std::memcpy(bytes.data(), "KILNLGT1", 8);
  for (const int64_t v : {int64_t{1} << 40, int64_t{8}, int64_t{1} << 50}) bytes.append(reinterpret_cast<const char*>(&v), 8);
  const std::string hostile = (dir / "kiln-logits-hostile.lgt").string();
  std::ofstream(hostile, std::ios::binary) << bytes;
  expect_user_error([&] { LogitReader{hostile}; }, {"make no sense"});
  std::ofstream(hostile, std::ios::binary) << "GGUF and more";
  expect_user_error([&] { LogitReader{hostile}; }, {"is not a logits file"});
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
    const TokenScore again = score_token(log_softmax(logits), score.token);
    EXPECT_NEAR(score.logprob, again.logprob, 1e-3) << "position " << score.position;
    mean_nll -= score.logprob / static_cast<double>(result.scores.size());
  }
  EXPECT_NEAR(result.stats.mean_nll(), mean_nll, 1e-9);
  EXPECT_GT(result.stats.perplexity(), 1.0);
}

}  // namespace
}  // namespace kiln::engine
