// The generation session on the real default model: greedy text, the stop reasons, and a
// conversation that reuses its cached prefix turn after turn.
#include "engine/session.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/error.h"
#include "base/model_folder.h"

namespace kiln::engine {
namespace {

#define REQUIRE_MODEL()                                \
  if (!std::filesystem::exists(default_model_path())) \
  GTEST_SKIP() << default_model_path() << " is missing: run scripts/fetch-models.py"

SessionOptions greedy(int64_t ctx_size = 256) {
  SessionOptions options;
  options.model_path = default_model_path().string();
  options.threads = 2;
  options.model.ctx_size = ctx_size;
  options.sampling.temperature = 0;
  return options;
}

TEST(Session, GreedyCompletionStreamsWhatItReturns) {
  REQUIRE_MODEL();
  Session session(greedy());
  std::string streamed;
  const Generation g = session.generate(session.prompt_tokens("The capital of France is"), {.max_tokens = 8},
                                        [&](const std::string& piece) { streamed += piece; });
  EXPECT_EQ(g.text.rfind(" Paris", 0), 0u) << g.text;
  EXPECT_EQ(streamed, g.text);
  EXPECT_EQ(g.stop, StopReason::MaxTokens);
  EXPECT_EQ(g.tokens.size(), 8u);
  EXPECT_EQ(session.timings().generated_tokens, 8u);
}

TEST(Session, ChatTurnsReuseTheCachedPrefixAndStopAtTheEndOfTurn) {
  REQUIRE_MODEL();
  Session session(greedy());
  std::vector<ChatMessage> messages = {{"user", "What is 2+2? Answer with a number."}};
  const std::vector<int32_t> first = session.chat_tokens(messages);
  const Generation a = session.generate(first, {.max_tokens = 32});
  EXPECT_EQ(a.stop, StopReason::EndOfGeneration) << a.text;
  EXPECT_NE(a.text.find('4'), std::string::npos) << a.text;
  EXPECT_EQ(session.timings().prompt_tokens, first.size());
  // The cache holds the prompt and the reply (the end-of-turn token was sampled, not fed).
  EXPECT_EQ(session.history().size(), first.size() + a.tokens.size());
  EXPECT_EQ(session.model().n_past(), static_cast<int64_t>(session.history().size()));

  messages.push_back({"assistant", a.text});
  messages.push_back({"user", "And 3+3?"});
  const std::vector<int32_t> second = session.chat_tokens(messages);
  const std::vector<int32_t> cached = session.history();
  size_t common = 0;
  while (common < cached.size() && cached[common] == second[common]) ++common;
  ASSERT_GE(common, first.size()) << "the second rendering starts with the first";
  const size_t fed_before = session.timings().prompt_tokens;
  const Generation b = session.generate(second, {.max_tokens = 32});
  EXPECT_FALSE(b.tokens.empty());
  // Only what the cache did not hold was fed.
  EXPECT_EQ(session.timings().prompt_tokens - fed_before, second.size() - common);
}

TEST(Session, ALimitStopLeavesTheCacheConsistentForTheNextTurn) {
  REQUIRE_MODEL();
  Session session(greedy());
  const std::vector<int32_t> prompt = session.prompt_tokens("Once upon a time");
  const Generation g = session.generate(prompt, {.max_tokens = 5});
  ASSERT_EQ(g.stop, StopReason::MaxTokens);
  // The last sampled token was not fed: the cache ends before it.
  EXPECT_EQ(session.history().size(), prompt.size() + 4);
  EXPECT_EQ(session.model().n_past(), static_cast<int64_t>(prompt.size() + 4));
  // Continuing with everything shown so far (that token included) feeds it and goes on.
  std::vector<int32_t> continued = prompt;
  continued.insert(continued.end(), g.tokens.begin(), g.tokens.end());
  const Generation next = session.generate(continued, {.max_tokens = 3});
  EXPECT_EQ(next.tokens.size(), 3u);
  // Greedy: the same as generating 8 in one go.
  Session fresh(greedy());
  const Generation whole = fresh.generate(prompt, {.max_tokens = 8});
  EXPECT_EQ(g.text + next.text, whole.text);
}

TEST(Session, AFullContextStopsAndAnOversizedPromptIsRefused) {
  REQUIRE_MODEL();
  Session session(greedy(/*ctx_size=*/12));
  const std::vector<int32_t> prompt = session.prompt_tokens("Count: one two three");
  ASSERT_LT(prompt.size(), 12u);
  const Generation g = session.generate(prompt, {.max_tokens = 50, .ignore_eos = true});
  EXPECT_EQ(g.stop, StopReason::ContextFull);
  // Every position of the context is filled; the token sampled from the last one is shown but
  // has no room in the cache.
  EXPECT_EQ(g.tokens.size(), 12 - prompt.size() + 1);
  EXPECT_EQ(session.model().n_past(), 12);
  std::vector<int32_t> too_long(12, prompt.back());
  EXPECT_FALSE(session.fits(too_long));
  EXPECT_THROW(session.generate(too_long, {}), UserError);
  EXPECT_THROW(session.generate({}, {}), UserError);
}

}  // namespace
}  // namespace kiln::engine
