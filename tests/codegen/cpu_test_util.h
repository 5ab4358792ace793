// What the CPU back end's tests share: building loop IR by hand, running kernels on a CpuDevice,
// random inputs, poisoned outputs and comparisons.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "kernel/ir/kernel.h"
#include "runtime/cpu_device.h"

namespace kiln::test {

using namespace ir;

// Every kernel runs at each of these sizes (its size parameters), compiled once.
inline const std::vector<int64_t> kSizes = {1, 3, 64, 257, 1029};

// --- building loop IR ---------------------------------------------------------------------

inline Expr convert(Type type, const Expr& value) { return Cast::make(type.with_lanes(value.type().lanes), value); }
inline Expr ramp(Expr base, int64_t stride, int lanes) { return Ramp::make(std::move(base), i64(stride), lanes); }
inline Expr load(Type type, const std::string& buffer, Expr index) {
  return Load::make(type, buffer, std::move(index));
}
inline Stmt store(const std::string& buffer, Expr index, Expr value) {
  return Store::make(buffer, std::move(index), std::move(value));
}

// for i in [0, n): body(i), as groups of `lanes` in a parallel loop (i a Ramp), then the
// remainder one by one in a serial loop (i a scalar).
Stmt elementwise(const Expr& n, int lanes, const std::function<Stmt(Expr)>& body);

Kernel make_kernel(std::string name, std::vector<BufferParam> buffers, std::vector<std::string> sizes, Stmt body);

// --- running on the CPU device ------------------------------------------------------------

// One device for the whole test program, with 3 threads.
runtime::CpuDevice& device();

template <typename T>
std::span<uint8_t> bytes_of(std::vector<T>& values) {
  return {reinterpret_cast<uint8_t*>(values.data()), values.size() * sizeof(T)};
}

// Copies `buffers` (in the kernel's order) to the device, launches, and copies them all back.
void launch(const runtime::LoadedKernel& kernel, std::vector<std::span<uint8_t>> buffers, std::vector<int64_t> sizes);

std::unique_ptr<runtime::LoadedKernel> compile_and_load(const Kernel& kernel);

// c = a + b over n floats, as `elementwise` with 16 lanes (a parallel loop, then a serial
// remainder); named `name`, so that each test gets a cache entry of its own.
Kernel vadd_kernel(const std::string& name);

// Runs a vadd_kernel on `cpu` at size n (its own buffers, output poisoned) and checks every element.
void expect_vadd(runtime::CpuDevice& cpu, const runtime::LoadedKernel& kernel, int64_t n);

// --- inputs and checks --------------------------------------------------------------------

uint64_t fresh_seed();
std::string seed_note(uint64_t seed);

std::vector<float> random_floats(std::mt19937_64& rng, int64_t n, float lo, float hi);

template <typename T>
std::vector<T> random_ints(std::mt19937_64& rng, int64_t n, int64_t lo, int64_t hi) {
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  std::vector<T> values(static_cast<size_t>(n));
  for (T& v : values) v = static_cast<T>(dist(rng));
  return values;
}

// NaN for floating-point types, 0xAB bytes otherwise.
template <typename T>
std::vector<T> poisoned(int64_t n) {
  std::vector<T> values(static_cast<size_t>(n));
  if constexpr (std::is_floating_point_v<T>) {
    for (T& v : values) v = std::numeric_limits<T>::quiet_NaN();
  } else {
    std::memset(values.data(), 0xAB, values.size() * sizeof(T));
  }
  return values;
}

// got == want or |got - want| <= abs_tol + rel_tol * |want|, for every element (a NaN never passes).
testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<double>& want, double rel_tol,
                                   double abs_tol = 0);

template <typename T>
testing::AssertionResult all_equal(const std::vector<T>& got, const std::vector<T>& want) {
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) {
      return testing::AssertionFailure() << "element " << i << " of " << got.size() << ": got " << +got[i]
                                         << ", want " << +want[i];
    }
  }
  return testing::AssertionSuccess();
}

}  // namespace kiln::test
