// A real model end to end through kiln's compiler: the Llama recipe, the graph executor and the
// KV cache, on the cpu and opencl devices; parity with llama.cpp (goldens made by
// scripts/make_generation_goldens.py), and clear errors for models kiln cannot run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/model_folder.h"
#include "engine/model_runner.h"
#include "gguf/gguf_writer.h"
#include "models/llama.h"
#include "runtime/device.h"
#include "support/expect_error.h"

namespace kiln::engine {
namespace {

std::string smollm2() { return default_model_path().string(); }

#define REQUIRE_MODEL()                                                                             \
  if (!std::filesystem::exists(smollm2())) GTEST_SKIP() << smollm2() << " is missing: run scripts/fetch-models.py"

std::string write_gguf(const gguf::GGUFWriter& writer, const std::string& name) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  writer.write(path);
  return path;
}

TEST(ModelErrors, UnknownArchitectureIsNamed) {
  gguf::GGUFWriter w;
  w.set("general.architecture", {std::string("mamba9")});
  const std::string path = write_gguf(w, "kiln-unknown-arch.gguf");
  auto device = runtime::open_device("cpu", 1);
  expect_user_error([&] { ModelRunner(path, *device, {}); }, {"architecture 'mamba9' is not supported", "llama"});
}

TEST(ModelErrors, MissingTensorIsNamed) {
  gguf::GGUFWriter w;
  w.set("general.architecture", {std::string("llama")});
  w.set("llama.block_count", {uint32_t{1}});
  w.set("llama.embedding_length", {uint32_t{64}});
  w.set("llama.attention.head_count", {uint32_t{2}});
  w.set("llama.feed_forward_length", {uint32_t{128}});
  const std::vector<uint8_t> embd(64 * 10 * sizeof(float), 0);
  w.add_tensor("token_embd.weight", DType::f32, {64, 10}, embd);
  const std::string path = write_gguf(w, "kiln-missing-tensor.gguf");
  auto device = runtime::open_device("cpu", 1);
  expect_user_error([&] { ModelRunner(path, *device, {}); }, {"has no tensor 'blk.0.attn_norm.weight'"});
}

TEST(ModelRunnerTest, RunningPastTheContextIsAnErrorThatKeepsTheCache) {
  REQUIRE_MODEL();
  auto device = runtime::open_device("cpu", 2);
  ModelOptions options;
  options.ctx_size = 8;
  ModelRunner model(smollm2(), *device, options);
  const std::vector<int32_t> tokens = {504, 3575, 282, 4649, 314, 7042, 30, 198};
  const std::vector<float> before = model.forward(std::span(tokens).first(7));
  EXPECT_EQ(model.n_past(), 7);
  expect_user_error([&] { model.forward(std::span(tokens).first(2)); }, {"raise --ctx-size"});
  EXPECT_EQ(model.n_past(), 7);
  // The cache still holds the prompt: rewinding and feeding the last token again reproduces it.
  model.rewind(6);
  const std::vector<float> again = model.forward(std::span(tokens).subspan(6, 1));
  ASSERT_EQ(before.size(), again.size());
  for (size_t i = 0; i < before.size(); i += 997) EXPECT_NEAR(before[i], again[i], 1e-4f * (1 + std::fabs(before[i])));
  const int32_t bad = 1 << 30;
  expect_user_error([&] { model.forward(std::span(&bad, 1)); }, {"outside the vocabulary"});
}

// The KV cache is paged: where a sequence's blocks sit must not matter. One model decodes a
// text a token at a time into blocks 0, 1, 2, ..., rewinds (freeing them) and prefills another
// text, which lands in the same blocks in reverse order; a fresh model prefills that text into
// blocks in order. Both give the same logits (a kernel that ignored the slots would read the
// keys of other positions).
TEST(ModelRunnerTest, PagedCacheGivesTheSameLogitsInAnyBlockOrder) {
  REQUIRE_MODEL();
  auto device = runtime::open_device("cpu", 2);
  ModelOptions options;
  options.ctx_size = 32;
  options.kv_block_size = 2;
  const std::vector<int32_t> first = {504, 3575, 282, 4649, 314, 7042, 30, 198, 198, 504, 2988, 314};
  const std::vector<int32_t> second = {1, 9690, 198, 19556, 905, 17, 2, 198, 1, 4093, 198, 504};
  ModelRunner reused(smollm2(), *device, options);
  for (size_t i = 0; i < first.size(); ++i) reused.forward(std::span(first).subspan(i, 1));
  EXPECT_EQ(reused.kv_block_table(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  reused.rewind(0);
  EXPECT_TRUE(reused.kv_block_table().empty());
  const std::vector<float> scattered = reused.forward(second);
  EXPECT_EQ(reused.kv_block_table(), (std::vector<int64_t>{5, 4, 3, 2, 1, 0}));

  ModelRunner fresh(smollm2(), *device, options);
  const std::vector<float> in_order = fresh.forward(second);
  EXPECT_EQ(fresh.kv_block_table(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  ASSERT_EQ(scattered.size(), in_order.size());
  double worst = 0;
  for (size_t i = 0; i < in_order.size(); ++i) worst = std::max(worst, std::fabs(double(scattered[i]) - in_order[i]));
  EXPECT_LT(worst, 1e-3) << "largest logit difference";
}

// Fusion (passes/fuse.h) changes which kernels run, not what they compute: with and without
// it, the same logits, and fewer kernels with it.
TEST(ModelRunnerTest, FusedAndUnfusedProgramsAgree) {
  REQUIRE_MODEL();
  auto device = runtime::open_device("cpu", 2);
  ModelOptions options;
  options.ctx_size = 16;
  options.all_logits = true;
  const std::vector<int32_t> tokens = {504, 3575, 282, 4649, 314, 7042, 30, 198};
  ModelRunner fused(smollm2(), *device, options);
  options.fuse = false;
  ModelRunner unfused(smollm2(), *device, options);
  EXPECT_LT(fused.kernel_count() + 6 * 30, unfused.kernel_count() + 1) << "6 fewer kernels per layer";
  const std::vector<float> a = fused.forward(tokens), b = unfused.forward(tokens);
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  EXPECT_LT(worst, 1e-3) << "largest logit difference";
}

// ---- Parity with llama.cpp -----------------------------------------------------------------

struct GoldenCase {
  std::string kind, prompt;
  std::vector<int32_t> prompt_ids, continuation;
  std::vector<std::vector<std::pair<int32_t, double>>> top;  // per continuation position
};

std::vector<GoldenCase> load_goldens(std::string& reference) {
  std::ifstream in(std::string(KILN_TEST_DATA) + "/generation/smollm2.json");
  if (!in) return {};
  const nlohmann::json doc = nlohmann::json::parse(in);
  reference = doc.at("reference");
  std::vector<GoldenCase> cases;
  for (const auto& c : doc.at("cases")) {
    GoldenCase g;
    g.kind = c.at("kind");
    g.prompt = c.at("prompt");
    g.prompt_ids = c.at("prompt_ids").get<std::vector<int32_t>>();
    g.continuation = c.at("continuation").get<std::vector<int32_t>>();
    for (const auto& row : c.at("top_logits")) {
      std::vector<std::pair<int32_t, double>> top;
      for (const auto& entry : row) top.emplace_back(entry.at(0).get<int32_t>(), entry.at(1).get<double>());
      g.top.push_back(top);
    }
    cases.push_back(std::move(g));
  }
  return cases;
}

int32_t argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// How far, relative to its best logit, the reference ranked `token` below its own choice: 0 for
// its own choice, the gap to the token's logit when the reference listed it, else at least the
// gap to its last listed logit.
double reference_margin(const std::vector<std::pair<int32_t, double>>& top, int32_t token) {
  for (const auto& [id, value] : top) {
    if (id == token) return (top[0].second - value) / std::fabs(top[0].second);
  }
  return (top[0].second - top.back().second) / std::fabs(top[0].second);
}

// A position where llama.cpp and kiln may fairly disagree: llama.cpp's arithmetic (activations
// quantized to 8 bits for quantized weights, its own summation orders) moves logits by up to
// ~2% of their size on this model, while kiln's stay within 0.01 of a float64 computation
// (Float64Reference below). The 0.1% near-tie bound is below llama.cpp's own error.
constexpr double kCloseCall = 0.03;

struct Agreement {
  int positions = 0, agreed = 0, close_calls = 0;
  double largest_difference = 0;
};

// Teacher-forced: the prompt and the reference's continuation in one pass; kiln's argmax at
// each continuation position is compared with the reference's token.
// `max_cases` and `max_positions` keep the OpenCL run short: PoCL runs the GPU-style kernels
// (one work-group per output of the vocabulary projection) on the CPU, far slower than a GPU.
void teacher_forced(const std::string& device_name, size_t max_cases = SIZE_MAX, size_t max_positions = SIZE_MAX) {
  REQUIRE_MODEL();
  std::string reference;
  std::vector<GoldenCase> cases = load_goldens(reference);
  if (cases.size() > max_cases) cases.resize(max_cases);
  for (GoldenCase& c : cases) {
    if (c.continuation.size() > max_positions) {
      c.continuation.resize(max_positions);
      c.top.resize(max_positions);
    }
  }
  if (cases.empty()) GTEST_SKIP() << "no goldens: run scripts/make_generation_goldens.py";
  auto device = runtime::open_device(device_name, 2);
  ModelOptions options;
  options.ctx_size = 512;
  options.all_logits = true;
  ModelRunner model(smollm2(), *device, options);
  Agreement a;
  for (const GoldenCase& c : cases) {
    model.reset();
    std::vector<int32_t> fed = c.prompt_ids;
    fed.insert(fed.end(), c.continuation.begin(), c.continuation.end() - 1);
    const std::vector<float> logits = model.forward(fed);
    const size_t vocab = static_cast<size_t>(model.vocab_size());
    for (size_t i = 0; i < c.continuation.size(); ++i) {
      const std::span<const float> row(logits.data() + (c.prompt_ids.size() - 1 + i) * vocab, vocab);
      for (const auto& [id, value] : c.top[i]) a.largest_difference = std::max(a.largest_difference, std::fabs(row[id] - value));
      ++a.positions;
      const int32_t mine = argmax(row);
      if (mine == c.continuation[i]) {
        ++a.agreed;
        continue;
      }
      const double margin = reference_margin(c.top[i], mine);
      std::printf("[ parity   ] %s '%s' position %zu: kiln %d, reference %d, %.2f%% apart in the reference\n",
                  device_name.c_str(), c.prompt.substr(0, 24).c_str(), i, mine, c.continuation[i], 100 * margin);
      if (margin <= kCloseCall) ++a.close_calls;
      else ADD_FAILURE() << "'" << c.prompt << "' position " << i << ": the reference ranked kiln's token " << mine
                         << " " << 100 * margin << "% below its own";
    }
  }
  std::printf("[ parity   ] %s teacher-forced vs %s: %d of %d positions agree, %d close calls, largest |logit "
              "difference| %.4f\n", device_name.c_str(), reference.c_str(), a.agreed, a.positions, a.close_calls,
              a.largest_difference);
  EXPECT_GE(a.agreed, a.positions * 95 / 100);
}

TEST(Parity, TeacherForcedCpu) { teacher_forced("cpu"); }
TEST(Parity, TeacherForcedOpenCL) { teacher_forced("opencl", 2, 16); }

// Free-running: kiln's own greedy tokens, one forward per token, against the reference's; a
// divergence must start at a close call.
TEST(Parity, FreeRunningGreedyCpu) {
  REQUIRE_MODEL();
  std::string reference;
  const std::vector<GoldenCase> cases = load_goldens(reference);
  if (cases.empty()) GTEST_SKIP() << "no goldens: run scripts/make_generation_goldens.py";
  auto device = runtime::open_device("cpu", 2);
  ModelOptions options;
  options.ctx_size = 512;
  ModelRunner model(smollm2(), *device, options);
  size_t identical = 0;
  for (const GoldenCase& c : cases) {
    model.reset();
    std::vector<float> logits = model.forward(c.prompt_ids);
    size_t i = 0;
    int32_t token = 0;
    for (; i < c.continuation.size(); ++i) {
      token = argmax(logits);
      if (token != c.continuation[i]) break;
      logits = model.forward(std::span(&token, 1));
    }
    if (i == c.continuation.size()) {
      ++identical;
      continue;
    }
    const double margin = reference_margin(c.top[i], token);
    std::printf("[ parity   ] '%s' diverges at token %zu (%.2f%% apart in the reference)\n", c.prompt.substr(0, 24).c_str(),
                i, 100 * margin);
    EXPECT_LE(margin, kCloseCall) << "'" << c.prompt << "' diverges at " << i << " where the reference was sure";
  }
  std::printf("[ parity   ] cpu free-running vs %s: %zu of %zu prompts identical for 64 tokens\n", reference.c_str(),
              identical, cases.size());
}

// Against the same model computed in float64 (scripts/make_f64_goldens.py): kiln's f32 logits
// agree within a small absolute bound at every position, on both devices.
constexpr double kFloat64LogitBound = 1e-4;

void float64_reference(const std::string& device_name, size_t max_cases = SIZE_MAX) {
  REQUIRE_MODEL();
  std::ifstream in(std::string(KILN_TEST_DATA) + "/generation/smollm2_f64.json");
  ASSERT_TRUE(in) << "tests/data/generation/smollm2_f64.json is missing: run scripts/make_f64_goldens.py";
  const nlohmann::json doc = nlohmann::json::parse(in);
  auto device = runtime::open_device(device_name, 2);
  ModelOptions options;
  options.ctx_size = 256;
  options.all_logits = true;
  // The f32 path, which the float64 reference computes exactly; the 8-bit activation path
  // rounds activations by design and is held to the teacher-forced bound instead.
  options.int8 = false;
  options.kv_dtype = DType::f32;  // keys and values unrounded, as the reference keeps them
  ModelRunner model(smollm2(), *device, options);
  double largest = 0;
  int positions = 0;
  size_t case_count = 0;
  for (const auto& c : doc.at("cases")) {
    if (case_count++ == max_cases) break;
    model.reset();
    const std::vector<int32_t> fed = c.at("fed").get<std::vector<int32_t>>();
    const std::vector<float> logits = model.forward(fed);
    const size_t first = c.at("first_position").get<size_t>();
    const size_t vocab = static_cast<size_t>(model.vocab_size());
    const auto& tops = c.at("top_logits");
    for (size_t p = 0; p < tops.size(); ++p, ++positions) {
      const std::span<const float> row(logits.data() + (first + p) * vocab, vocab);
      for (const auto& entry : tops[p]) {
        largest = std::max(largest, std::fabs(row[entry.at(0).get<size_t>()] - entry.at(1).get<double>()));
      }
      const double gap = tops[p][0].at(1).get<double>() - tops[p][1].at(1).get<double>();
      if (gap > 0.02) {
        EXPECT_EQ(argmax(row), tops[p][0].at(0).get<int32_t>()) << "position " << p;
      }
    }
  }
  std::printf("[ parity   ] %s vs %s: %d positions, largest |logit difference| %.2e\n", device_name.c_str(),
              doc.at("reference").get<std::string>().c_str(), positions, largest);
  // Measured: 1e-5 on the CPU, 5e-5 on OpenCL (its work-group trees sum in another order).
  // Logits reach 38 here, where an f32 ulp is 3.8e-6: the bound allows about 26 ulps of
  // rounding gathered over 30 layers, twice the worst measured, as docs/ARCHITECTURE.md states.
  EXPECT_LT(largest, kFloat64LogitBound);
}

TEST(Parity, Float64ReferenceCpu) { float64_reference("cpu"); }
TEST(Parity, Float64ReferenceOpenCL) { float64_reference("opencl", 1); }

}  // namespace
}  // namespace kiln::engine
