// The sampler: greedy, seeds, top-k / top-p / min-p (statistically, over many draws with fixed
// seeds), repetition penalties, and the options it must refuse.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "base/error.h"
#include "engine/sampler.h"

namespace kiln::engine {
namespace {

SamplerOptions plain(float temperature) {
  SamplerOptions options;
  options.temperature = temperature;
  options.top_k = 0;
  options.top_p = 1.0f;
  options.min_p = 0.0f;
  return options;
}

// Logits whose softmax (at temperature 1) is `probabilities`.
std::vector<float> logits_of(const std::vector<double>& probabilities) {
  std::vector<float> logits;
  for (double p : probabilities) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

std::map<int32_t, int> histogram(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::map<int32_t, int> counts;
  for (int i = 0; i < draws; ++i) ++counts[sampler.sample(logits, {})];
  return counts;
}

TEST(Sampler, GreedyPicksTheFirstMax) {
  Sampler sampler(plain(0.0f));
  EXPECT_EQ(sampler.sample(std::vector<float>{1.0f, 3.0f, 3.0f, 2.0f}, {}), 1);
  EXPECT_EQ(sampler.sample(std::vector<float>{-5.0f}, {}), 0);
  EXPECT_EQ(sampler.sample(std::vector<float>{-INFINITY, -1.0f, -1.0f}, {}), 1);
  EXPECT_EQ(sampler.sample(std::vector<float>{NAN, 0.5f, 0.25f}, {}), 1);
}

TEST(Sampler, SameSeedSameTokens) {
  const std::vector<float> logits = logits_of({0.1, 0.2, 0.3, 0.25, 0.15});
  SamplerOptions options = plain(1.0f);
  options.seed = 1234;
  Sampler a(options);
  Sampler b(options);
  options.seed = 1235;
  Sampler c(options);
  std::vector<int32_t> from_a, from_b, from_c;
  for (int i = 0; i < 200; ++i) {
    from_a.push_back(a.sample(logits, {}));
    from_b.push_back(b.sample(logits, {}));
    from_c.push_back(c.sample(logits, {}));
  }
  EXPECT_EQ(from_a, from_b);
  EXPECT_NE(from_a, from_c);
}

TEST(Sampler, TopKOneIsGreedy) {
  const std::vector<float> logits = {0.5f, 2.0f, 1.9f, 2.0f, -1.0f};
  SamplerOptions options = plain(1.5f);
  options.top_k = 1;
  Sampler sampler(options);
  for (int i = 0; i < 500; ++i) ASSERT_EQ(sampler.sample(logits, {}), 1);
}

TEST(Sampler, TopKKeepsTheKBest) {
  const std::vector<float> logits = logits_of({0.05, 0.4, 0.1, 0.3, 0.15});
  SamplerOptions options = plain(1.0f);
  options.top_k = 2;
  options.seed = 7;
  Sampler sampler(options);
  const auto counts = histogram(sampler, logits, 4000);
  ASSERT_EQ(counts.size(), 2u);
  // Renormalized: 0.4 / 0.7 and 0.3 / 0.7.
  EXPECT_NEAR(counts.at(1) / 4000.0, 0.4 / 0.7, 0.03);
  EXPECT_NEAR(counts.at(3) / 4000.0, 0.3 / 0.7, 0.03);
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  const std::vector<float> logits = logits_of({0.5, 0.3, 0.15, 0.05});
  SamplerOptions options = plain(1.0f);
  options.top_p = 0.7f;  // 0.5 < 0.7 <= 0.5 + 0.3: tokens 0 and 1
  options.seed = 11;
  Sampler sampler(options);
  const auto counts = histogram(sampler, logits, 4000);
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_NEAR(counts.at(0) / 4000.0, 0.5 / 0.8, 0.03);
  EXPECT_NEAR(counts.at(1) / 4000.0, 0.3 / 0.8, 0.03);

  options.top_p = 0.9f;  // 0.8 < 0.9 <= 0.95: tokens 0, 1, 2
  Sampler wider(options);
  const auto wider_counts = histogram(wider, logits, 4000);
  EXPECT_EQ(wider_counts.size(), 3u);
  EXPECT_EQ(wider_counts.count(3), 0u);
}

TEST(Sampler, MinPDropsTokensFarBelowTheBest) {
  const std::vector<float> logits = logits_of({0.5, 0.3, 0.15, 0.05});
  SamplerOptions options = plain(1.0f);
  options.min_p = 0.2f;  // keep p >= 0.1: tokens 0, 1, 2
  options.seed = 5;
  Sampler sampler(options);
  const auto counts = histogram(sampler, logits, 4000);
  EXPECT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts.count(3), 0u);
  EXPECT_NEAR(counts.at(2) / 4000.0, 0.15 / 0.95, 0.03);

  options.min_p = 0.7f;  // keep p >= 0.35: token 0 only
  Sampler strict(options);
  const auto strict_counts = histogram(strict, logits, 500);
  ASSERT_EQ(strict_counts.size(), 1u);
  EXPECT_EQ(strict_counts.begin()->first, 0);
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  const std::vector<float> logits = logits_of({0.6, 0.4});
  SamplerOptions options = plain(1.0f);
  options.seed = 3;
  Sampler neutral(options);
  EXPECT_NEAR(histogram(neutral, logits, 4000)[0] / 4000.0, 0.6, 0.03);
  options.temperature = 0.25f;  // p ~ 0.6^4 : 0.4^4
  Sampler sharp(options);
  EXPECT_NEAR(histogram(sharp, logits, 4000)[0] / 4000.0, 0.1296 / (0.1296 + 0.0256), 0.03);
  options.temperature = 100.0f;  // nearly uniform
  Sampler flat(options);
  EXPECT_NEAR(histogram(flat, logits, 4000)[0] / 4000.0, 0.5, 0.03);
}

TEST(Sampler, RepeatPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplerOptions options = plain(0.0f);
  options.repeat_penalty = 2.0f;
  Sampler sampler(options);
  const std::vector<float> logits = {2.0f, 1.5f, -1.0f, -1.2f};
  EXPECT_EQ(sampler.sample(logits, {}), 0);
  const std::vector<int32_t> used_zero = {0};
  EXPECT_EQ(sampler.sample(logits, used_zero), 1);  // 2.0 / 2 = 1.0 < 1.5
  // Among negative logits: -1.0 * 2 = -2.0 falls below -1.2.
  const std::vector<float> negative = {-1.0f, -1.2f};
  EXPECT_EQ(sampler.sample(negative, {}), 0);
  EXPECT_EQ(sampler.sample(negative, used_zero), 1);
  // Ids outside the vocabulary in the history are ignored.
  const std::vector<int32_t> strange = {-3, 99};
  EXPECT_EQ(sampler.sample(logits, strange), 0);
}

TEST(Sampler, RepeatPenaltyLooksOnlyAtTheLastN) {
  SamplerOptions options = plain(0.0f);
  options.repeat_penalty = 2.0f;
  options.repeat_last_n = 2;
  Sampler sampler(options);
  const std::vector<float> logits = {2.0f, 1.5f, 0.0f, 0.0f};
  const std::vector<int32_t> long_ago = {0, 2, 3};
  EXPECT_EQ(sampler.sample(logits, long_ago), 0);
  const std::vector<int32_t> recent = {2, 3, 0};
  EXPECT_EQ(sampler.sample(logits, recent), 1);
  options.repeat_last_n = 0;  // off
  Sampler off(options);
  EXPECT_EQ(off.sample(logits, recent), 0);
  options.repeat_last_n = -1;  // the whole history
  Sampler all(options);
  EXPECT_EQ(all.sample(logits, long_ago), 1);
}

TEST(Sampler, FrequencyAndPresencePenaltiesSubtract) {
  const std::vector<float> logits = {2.0f, 1.5f};
  const std::vector<int32_t> thrice = {0, 0, 0};
  SamplerOptions options = plain(0.0f);
  options.frequency_penalty = 0.1f;  // 2.0 - 3 * 0.1 = 1.7 > 1.5
  Sampler mild(options);
  EXPECT_EQ(mild.sample(logits, thrice), 0);
  options.frequency_penalty = 0.2f;  // 2.0 - 0.6 = 1.4 < 1.5
  Sampler frequency(options);
  EXPECT_EQ(frequency.sample(logits, thrice), 1);
  options.frequency_penalty = 0.0f;
  options.presence_penalty = 0.6f;  // 2.0 - 0.6 = 1.4, however often it appeared
  Sampler presence(options);
  EXPECT_EQ(presence.sample(logits, std::vector<int32_t>{0}), 1);
  options.presence_penalty = 0.4f;  // 1.6
  Sampler weak_presence(options);
  EXPECT_EQ(weak_presence.sample(logits, thrice), 0);
}

TEST(Sampler, DefaultChainKeepsExactlyTheSurvivorsOfTopKTopPAndMinP) {
  // Logits (i % 97) * 0.05 over 1000 ids: each residue 30..96 occurs 10 times.
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(i % 97) * 0.05f;
  SamplerOptions options;  // temperature 0.8, top_k 40, top_p 0.95, min_p 0.05
  options.seed = 42;
  Sampler sampler(options);
  // top_k 40 keeps the residues 96, 95, 94 and 93 (10 ids each). top_p, on the untempered
  // probabilities, weighs a residue-r id by exp(0.05 * (r - 96)): each group of ten holds
  // 0.269, 0.256, 0.243 and 0.232 of the mass, so 96..94 reach 0.768 and 8 more ids of
  // residue 93 (0.0232 each) are needed to reach 0.95 (7 give 0.930, 8 give 0.954). Equal
  // logits go lower id first: those are 93 + 97 k for k < 8. min_p keeps logits above
  // 4.8 + ln 0.05 = 1.80, which all 38 are.
  std::set<int32_t> survivors;
  for (int32_t id = 0; id < 1000; ++id) {
    const int32_t r = id % 97;
    if (r >= 94 || (r == 93 && id / 97 < 8)) survivors.insert(id);
  }
  ASSERT_EQ(survivors.size(), 38u);
  // Each survivor has probability above 0.02 after temperature, so 4000 draws (seed 42, fixed)
  // see every one of them.
  std::set<int32_t> drawn;
  for (int i = 0; i < 4000; ++i) drawn.insert(sampler.sample(logits, {}));
  EXPECT_EQ(drawn, survivors);
}

TEST(Sampler, RefusesOptionsOutOfRange) {
  const auto refused = [](auto change) {
    SamplerOptions options;
    change(options);
    EXPECT_THROW(Sampler{options}, UserError);
  };
  refused([](SamplerOptions& o) { o.temperature = -0.5f; });
  refused([](SamplerOptions& o) { o.temperature = NAN; });
  refused([](SamplerOptions& o) { o.top_p = 1.5f; });
  refused([](SamplerOptions& o) { o.min_p = -0.1f; });
  refused([](SamplerOptions& o) { o.repeat_penalty = 0.0f; });
  refused([](SamplerOptions& o) { o.repeat_last_n = -2; });
}

}  // namespace
}  // namespace kiln::engine
