// What compiling costs, seen through the counters: a second compile of a kernel is a load from
// the disk cache, a damaged entry is compiled again, and launches at any sizes compile nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/cache_test_util.h"
#include "codegen/cpu_test_util.h"
#include "codegen/llvm/cpu_codegen.h"

namespace kiln::test {
namespace {

using codegen::cpu_compile_stats;
using codegen::CpuCompileStats;

// The change in the counters since `before`.
CpuCompileStats since(const CpuCompileStats& before) {
  const CpuCompileStats now = cpu_compile_stats();
  return {now.llvm_compiles - before.llvm_compiles, now.cache_loads - before.cache_loads,
          now.cache_rejects - before.cache_rejects};
}

TEST(LlvmCpuCache, SecondCompileIsACacheHitWithNoLlvmCompile) {
  ScopedCacheDir cache;
  const Kernel kernel = vadd_kernel("cache_hit_vadd");

  CpuCompileStats before = cpu_compile_stats();
  runtime::CpuDevice first_device(2);
  auto first = first_device.load(codegen::compile_cpu(kernel));
  CpuCompileStats done = since(before);
  EXPECT_EQ(done.llvm_compiles, 1);
  EXPECT_EQ(done.cache_loads, 0);
  ASSERT_EQ(cache.entries(".o").size(), 1u);

  // A fresh device and a fresh load into the JIT (which keeps nothing by kernel): the disk only.
  before = cpu_compile_stats();
  runtime::CpuDevice second_device(2);
  auto second = second_device.load(codegen::compile_cpu(kernel));
  done = since(before);
  EXPECT_EQ(done.llvm_compiles, 0);
  EXPECT_EQ(done.cache_loads, 1);
  EXPECT_EQ(done.cache_rejects, 0);
  EXPECT_EQ(cache.entries(".o").size(), 1u);

  expect_vadd(first_device, *first, 100);
  expect_vadd(second_device, *second, 100);
}

TEST(LlvmCpuCache, CacheOffCompilesEveryTime) {
  ScopedEnv off("KILN_CACHE", "off");
  const Kernel kernel = vadd_kernel("uncached_vadd");
  const CpuCompileStats before = cpu_compile_stats();
  codegen::compile_cpu(kernel);
  codegen::compile_cpu(kernel);
  EXPECT_EQ(since(before).llvm_compiles, 2);
  EXPECT_EQ(since(before).cache_loads, 0);
}

// Each kind of damage is caught before the object reaches the JIT linker: the kernel is
// compiled again, the entry rewritten whole, and the code runs correctly.
TEST(LlvmCpuCache, DamagedEntryIsCompiledAgain) {
  ScopedCacheDir cache;
  const Kernel kernel = vadd_kernel("damaged_vadd");
  codegen::compile_cpu(kernel);
  ASSERT_EQ(cache.entries(".o").size(), 1u);
  const std::filesystem::path entry = cache.entries(".o").front();

  const std::vector<std::pair<std::string, std::function<std::string(const std::string&)>>> damages = {
      {"not a cache entry", [](const std::string&) { return std::string("not an object file"); }},
      {"empty", [](const std::string&) { return std::string(); }},
      {"truncated to half", [](const std::string& bytes) { return bytes.substr(0, bytes.size() / 2); }},
      {"last byte missing", [](const std::string& bytes) { return bytes.substr(0, bytes.size() - 1); }},
      // The object itself could still link with these: only the entry's header tells.
      {"a byte appended", [](const std::string& bytes) { return bytes + '\0'; }},
      {"a byte in the middle flipped", [](const std::string& bytes) { return flip_byte(bytes, bytes.size() / 2); }},
  };
  runtime::CpuDevice cpu(2);
  for (const auto& [what, damage] : damages) {
    SCOPED_TRACE(what);
    test::write_bytes(entry, damage(test::read_bytes(entry)));
    CpuCompileStats before = cpu_compile_stats();
    auto recompiled = cpu.load(codegen::compile_cpu(kernel));
    const CpuCompileStats done = since(before);
    EXPECT_EQ(done.cache_rejects, 1);
    EXPECT_EQ(done.llvm_compiles, 1);
    EXPECT_EQ(done.cache_loads, 0);
    expect_vadd(cpu, *recompiled, 50);

    before = cpu_compile_stats();
    auto reloaded = cpu.load(codegen::compile_cpu(kernel));
    EXPECT_EQ(since(before).cache_loads, 1) << "the entry was rewritten whole";
    expect_vadd(cpu, *reloaded, 50);
  }
}

// One compiled kernel serves every value of its size parameter: launching compiles nothing.
TEST(LlvmCpuCache, OneCompiledKernelServesEverySize) {
  ScopedCacheDir cache;
  runtime::CpuDevice cpu(2);
  CpuCompileStats before = cpu_compile_stats();
  auto kernel = cpu.load(codegen::compile_cpu(vadd_kernel("every_size_vadd")));
  ASSERT_EQ(since(before).kernels(), 1);
  before = cpu_compile_stats();
  for (int64_t n : kSizes) expect_vadd(cpu, *kernel, n);
  for (int64_t n : kSizes) expect_vadd(cpu, *kernel, n);  // and back down again
  const CpuCompileStats done = since(before);
  EXPECT_EQ(done.llvm_compiles, 0);
  EXPECT_EQ(done.cache_loads, 0);
}

}  // namespace
}  // namespace kiln::test
