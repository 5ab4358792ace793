// Saved next-token distributions of a perplexity run (`kiln perplexity --save-logits`), to
// compare another run of the same text with (`--kl-divergence`): e.g. a Q4_0 file against its
// f16 source, as llama-perplexity's --kl-divergence-base does.
//
// The file: "KILNLGT1", then int64 vocab, window and count (little-endian), then `count`
// records of int64 position, int32 token, int32 0, and `vocab` float32 log-probabilities (the
// log-softmax, computed in double). A file whose sizes do not add up is refused with a message.
#pragma once

#include <cstdint>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "engine/perplexity.h"

namespace kiln::engine {

class LogitWriter {
 public:
  LogitWriter(const std::string& path, int64_t vocab, int64_t window);
  void add(int64_t position, int32_t token, std::span<const double> logprobs);
  // Writes the count into the header; until then the file is incomplete (and refused).
  void close();

 private:
  std::string path_;
  std::ofstream out_;
  int64_t vocab_ = 0, count_ = 0;
};

struct LogitRecord {
  int64_t position = 0;
  int32_t token = 0;
  std::vector<float> logprobs;
};

class LogitReader {
 public:
  explicit LogitReader(const std::string& path);
  int64_t vocab() const { return vocab_; }
  int64_t window() const { return window_; }
  int64_t count() const { return count_; }
  // The next record; UserError past the last.
  LogitRecord next();

 private:
  std::string path_;
  std::ifstream in_;
  int64_t vocab_ = 0, window_ = 0, count_ = 0, read_ = 0;
};

// How one run's distributions differ from a saved run's, token by token.
class KlStats {
 public:
  // `base`: the saved log-probabilities; `logprobs`: this run's, of the same token.
  void add(std::span<const float> base, std::span<const double> logprobs, int32_t token);
  int64_t count() const { return kl_.count(); }
  double mean_kl() const { return kl_.mean(); }
  double kl_error() const { return kl_.error(); }  // the mean's standard error
  double top1_agreement() const;  // fraction of tokens whose most likely next token is the same
  double max_abs_dp() const { return max_abs_dp_; }  // of the scored token's probability
  double base_perplexity() const;

 private:
  RunningMean kl_;
  int64_t same_top1_ = 0;
  double max_abs_dp_ = 0, base_nll_ = 0;
};

}  // namespace kiln::engine
