// What the tests of the kernel cache share: an environment variable set for one scope, a
// kernel cache of a test's own, and damage done to an entry.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace kiln::test {

// Sets (or, with null, unsets) an environment variable for one scope, then puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) saved_ = old;
    value ? setenv(name, value, 1) : unsetenv(name);
  }
  ~ScopedEnv() { saved_ ? setenv(name_, saved_->c_str(), 1) : unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

// A fresh, empty KILN_CACHE directory for one scope, removed afterwards.
class ScopedCacheDir {
 public:
  ScopedCacheDir() : dir_(make_dir()), env_("KILN_CACHE", dir_.c_str()) {}
  ~ScopedCacheDir() {
    std::error_code error;
    std::filesystem::remove_all(dir_, error);
  }

  const std::string& path() const { return dir_; }

  // The cache's entries whose names end with `extension` (".o", ".clbin").
  std::vector<std::filesystem::path> entries(const std::string& extension) const {
    std::vector<std::filesystem::path> found;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      if (entry.path().extension() == extension) found.push_back(entry.path());
    }
    return found;
  }

 private:
  static std::string make_dir() {
    char pattern[] = "/tmp/kiln-cache-test-XXXXXX";
    if (!mkdtemp(pattern)) ADD_FAILURE() << "cannot make a temporary directory";
    return pattern;
  }

  std::string dir_;
  ScopedEnv env_;
};

// A whole file's bytes, and a file replaced by `bytes`.
inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), {});
}
inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Keeps a test binary's compiled kernels out of the user's cache: a fresh KILN_CACHE for the
// whole run. Register it once per binary with testing::AddGlobalTestEnvironment.
class CacheDirEnvironment : public testing::Environment {
 public:
  void SetUp() override { cache_.emplace(); }
  void TearDown() override { cache_.reset(); }

 private:
  std::optional<ScopedCacheDir> cache_;
};

// `bytes` with the byte at `at` xor-ed with `mask`.
inline std::string flip_byte(const std::string& bytes, size_t at, uint8_t mask = 0x40) {
  std::string flipped = bytes;
  if (at < flipped.size()) flipped[at] = static_cast<char>(static_cast<uint8_t>(flipped[at]) ^ mask);
  return flipped;
}

}  // namespace kiln::test
