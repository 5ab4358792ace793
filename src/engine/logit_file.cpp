#include "engine/logit_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "base/error.h"

namespace kiln::engine {
namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'L', 'G', 'T', '1'};
constexpr int64_t kHeaderBytes = 8 + 3 * 8;
constexpr int64_t kMaxVocab = int64_t{1} << 24;

int64_t record_bytes(int64_t vocab) { return 16 + vocab * 4; }

template <typename T> void put(std::ofstream& out, T value) { out.write(reinterpret_cast<const char*>(&value), sizeof value); }

template <typename T> T get(std::ifstream& in, const std::string& path) {
  T value{};
  if (!in.read(reinterpret_cast<char*>(&value), sizeof value)) user_error("'{}': the saved logits end early", path);
  return value;
}

}  // namespace

LogitWriter::LogitWriter(const std::string& path, int64_t vocab, int64_t window)
    : path_(path), out_(path, std::ios::binary | std::ios::trunc), vocab_(vocab) {
  if (!out_) user_error("cannot write the logits file '{}'", path);
  out_.write(kMagic, sizeof kMagic);
  put(out_, vocab);
  put(out_, window);
  put(out_, int64_t{-1});  // the count, written by close()
}

void LogitWriter::add(int64_t position, int32_t token, std::span<const double> logprobs) {
  KILN_CHECK(static_cast<int64_t>(logprobs.size()) == vocab_, "{} log-probabilities for a vocabulary of {}",
             logprobs.size(), vocab_);
  put(out_, position);
  put(out_, token);
  put(out_, int32_t{0});
  std::vector<float> row(logprobs.begin(), logprobs.end());
  out_.write(reinterpret_cast<const char*>(row.data()), static_cast<std::streamsize>(row.size() * sizeof(float)));
  ++count_;
}

void LogitWriter::close() {
  out_.seekp(8 + 2 * 8);
  put(out_, count_);
  out_.close();
  if (!out_) user_error("writing the logits file '{}' failed (disk full?)", path_);
}

LogitReader::LogitReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  if (!in_) user_error("cannot read the logits file '{}'", path);
  char magic[8];
  if (!in_.read(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof magic) != 0) {
    user_error("'{}' is not a logits file saved by kiln perplexity --save-logits", path);
  }
  vocab_ = get<int64_t>(in_, path);
  window_ = get<int64_t>(in_, path);
  count_ = get<int64_t>(in_, path);
  if (vocab_ <= 0 || vocab_ > kMaxVocab || window_ <= 0) {
    user_error("'{}': a vocabulary of {} and windows of {} make no sense", path, vocab_, window_);
  }
  if (count_ < 0) user_error("'{}' is incomplete: the run that saved it did not finish", path);
  const auto size = static_cast<int64_t>(std::filesystem::file_size(path));
  if (count_ > (size - kHeaderBytes) / record_bytes(vocab_) || size != kHeaderBytes + count_ * record_bytes(vocab_)) {
    user_error("'{}' is {} bytes; {} records of a {}-token vocabulary need {}", path, size, count_, vocab_,
               kHeaderBytes + count_ * record_bytes(vocab_));
  }
}

LogitRecord LogitReader::next() {
  if (read_ >= count_) user_error("'{}' holds {} scored tokens; this run scores more", path_, count_);
  LogitRecord r;
  r.position = get<int64_t>(in_, path_);
  r.token = get<int32_t>(in_, path_);
  get<int32_t>(in_, path_);
  r.logprobs.resize(static_cast<size_t>(vocab_));
  if (!in_.read(reinterpret_cast<char*>(r.logprobs.data()), static_cast<std::streamsize>(vocab_ * 4))) {
    user_error("'{}': the saved logits end early", path_);
  }
  ++read_;
  return r;
}

void KlStats::add(std::span<const float> base, std::span<const double> logprobs, int32_t token) {
  KILN_CHECK(base.size() == logprobs.size() && token >= 0 && static_cast<size_t>(token) < base.size(),
             "distributions of {} and {} tokens", base.size(), logprobs.size());
  double kl = 0;
  size_t base_top = 0, top = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    const double b = base[i];
    kl += std::exp(b) * (b - logprobs[i]);
    if (base[i] > base[base_top]) base_top = i;
    if (logprobs[i] > logprobs[top]) top = i;
  }
  kl = std::max(kl, 0.0);  // rounding may leave a hair below 0 for equal distributions
  kl_.add(kl);
  if (base_top == top) ++same_top1_;
  const auto t = static_cast<size_t>(token);
  max_abs_dp_ = std::max(max_abs_dp_, std::fabs(std::exp(logprobs[t]) - std::exp(static_cast<double>(base[t]))));
  base_nll_ -= base[t];
}

double KlStats::top1_agreement() const {
  return count() > 0 ? static_cast<double>(same_top1_) / static_cast<double>(count()) : 0.0;
}

double KlStats::base_perplexity() const { return count() > 0 ? std::exp(base_nll_ / static_cast<double>(count())) : 0.0; }

}  // namespace kiln::engine
