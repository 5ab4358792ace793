// The on-disk cache's entries: a whole entry reads back, anything else is damaged, never a hit.
#include "codegen/kernel_cache.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/cache_test_util.h"

namespace kiln::codegen {
namespace {

using test::flip_byte;
using test::ScopedEnv;

class KernelCacheTest : public testing::Test {
 protected:
  std::string path() const { return dir_ + "/entry.bin"; }
  std::string file_bytes() const { return test::read_bytes(path()); }
  void set_file_bytes(const std::string& bytes) const { test::write_bytes(path(), bytes); }

  const test::ScopedCacheDir cache_;
  const std::string dir_ = cache_.path();
};

const std::string kIdentity = "source of kernel k, options -O3, device d";
const std::string kPayload(4096, 'x');

TEST_F(KernelCacheTest, WholeEntryReadsBack) {
  EXPECT_EQ(read_cache_entry(dir_, "entry.bin", kIdentity).status, CacheLookup::Missing);
  write_cache_entry(dir_, "entry.bin", kIdentity, kPayload);
  const CacheEntry entry = read_cache_entry(dir_, "entry.bin", kIdentity);
  EXPECT_EQ(entry.status, CacheLookup::Hit);
  EXPECT_EQ(entry.payload, kPayload);
  // Nothing is left behind under a temporary name.
  int files = 0;
  for ([[maybe_unused]] const auto& entry_file : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1);
}

TEST_F(KernelCacheTest, CreatesTheDirectory) {
  const std::string nested = dir_ + "/a/b";
  write_cache_entry(nested, "entry.bin", kIdentity, kPayload);
  EXPECT_EQ(read_cache_entry(nested, "entry.bin", kIdentity).status, CacheLookup::Hit);
}

TEST_F(KernelCacheTest, AnotherIdentityIsNotAHit) {
  write_cache_entry(dir_, "entry.bin", kIdentity, kPayload);
  EXPECT_EQ(read_cache_entry(dir_, "entry.bin", kIdentity + " ").status, CacheLookup::Damaged);
  EXPECT_EQ(read_cache_entry(dir_, "entry.bin", "").status, CacheLookup::Damaged);
}

// Each way a file can be damaged; each must read as damaged, never as a hit.
TEST_F(KernelCacheTest, DamagedEntriesAreNeverHits) {
  const std::vector<std::pair<std::string, std::function<std::string(const std::string&)>>> damages = {
      {"empty", [](const std::string&) { return std::string(); }},
      {"not an entry", [](const std::string&) { return std::string("not an object file"); }},
      {"header only", [](const std::string& bytes) { return bytes.substr(0, 32); }},
      {"truncated", [](const std::string& bytes) { return bytes.substr(0, bytes.size() - 1); }},
      {"half", [](const std::string& bytes) { return bytes.substr(0, bytes.size() / 2); }},
      {"a byte appended", [](const std::string& bytes) { return bytes + "\n"; }},
      {"a payload byte flipped", [](const std::string& bytes) { return flip_byte(bytes, bytes.size() - 100); }},
      {"an identity byte flipped", [](const std::string& bytes) { return flip_byte(bytes, 40); }},
      {"the checksum flipped", [](const std::string& bytes) { return flip_byte(bytes, 24); }},
      {"a huge identity size", [](const std::string& bytes) { return flip_byte(bytes, 15, 0x7f); }},
  };
  for (const auto& [what, damage] : damages) {
    write_cache_entry(dir_, "entry.bin", kIdentity, kPayload);
    set_file_bytes(damage(file_bytes()));
    EXPECT_EQ(read_cache_entry(dir_, "entry.bin", kIdentity).status, CacheLookup::Damaged) << what;
  }
}

TEST(KernelCacheDir, EnvironmentChoosesOrTurnsOff) {
  {
    ScopedEnv cache("KILN_CACHE", "/some/where");
    EXPECT_EQ(kernel_cache_dir(), "/some/where");
  }
  for (const char* off : {"off", "0", ""}) {
    ScopedEnv cache("KILN_CACHE", off);
    EXPECT_EQ(kernel_cache_dir(), "") << off;
  }
  ScopedEnv no_cache("KILN_CACHE", nullptr);
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(kernel_cache_dir(), "/xdg/kiln/kernels");
  }
  ScopedEnv no_xdg("XDG_CACHE_HOME", nullptr);
  ScopedEnv home("HOME", "/home/someone");
  EXPECT_EQ(kernel_cache_dir(), "/home/someone/.cache/kiln/kernels");
}

}  // namespace
}  // namespace kiln::codegen
