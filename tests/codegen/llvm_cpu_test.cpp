// LLVM CPU back end, numerics: hand-built loop IR, JIT-compiled for this host and run through
// CpuDevice against float64 (or exact integer) references on fresh random inputs. Each kernel is
// compiled once and launched at every size in kSizes through its size parameters; outputs are
// poisoned (NaN, or 0xAB bytes) before every launch so an element the kernel forgets to write shows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "base/half.h"
#include "codegen/cpu_test_util.h"
#include "codegen/llvm/cpu_codegen.h"

namespace kiln::test {
namespace {

// --- numerics -----------------------------------------------------------------------------

TEST(LlvmCpu, VectorAddParallelWithVectorBody) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  const Kernel kernel = make_kernel(
      "vector_add", {{"a", Type::f32()}, {"b", Type::f32()}, {"c", Type::f32(), true}}, {"n"},
      elementwise(var("n"), 16, [](Expr i) {
        return store("c", i, load(Type::f32(), "a", i) + load(Type::f32(), "b", i));
      }));
  auto loaded = compile_and_load(kernel);
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    auto a = random_floats(rng, n, -10, 10), b = random_floats(rng, n, -10, 10);
    auto c = poisoned<float>(n);
    launch(*loaded, {bytes_of(a), bytes_of(b), bytes_of(c)}, {n});
    std::vector<double> want(static_cast<size_t>(n));
    for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<float>(double{a[i]} + b[i]);  // one rounding
    EXPECT_TRUE(all_close(c, want, 0));
  }
}

// A 16-lane register accumulator, reduced with ReduceAdd, plus a scalar tail.
TEST(LlvmCpu, DotProductWithReduceAdd) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  const Expr n = var("n");
  const Expr lanes0 = ramp(i64(0), 1, 16);
  auto a_at = [](Expr i) { return load(Type::f32(), "a", std::move(i)); };
  auto b_at = [](Expr i) { return load(Type::f32(), "b", std::move(i)); };
  const Expr acc = load(Type::f32(), "acc", lanes0);
  const Expr total = load(Type::f32(), "total", i64(0));
  Stmt body = Allocate::make(
      "acc", Type::f32(), i64(16), MemoryScope::Register,
      Block::make({
          store("acc", lanes0, Broadcast::make(f32(0.0), 16)),
          For::make("g", i64(0), n / 16, ForKind::Serial,
                    store("acc", lanes0, acc + a_at(ramp(var("g") * 16, 1, 16)) * b_at(ramp(var("g") * 16, 1, 16)))),
          Allocate::make("total", Type::f32(), i64(1), MemoryScope::Register,
                         Block::make({
                             store("total", i64(0), call(Intrinsic::ReduceAdd, {acc})),
                             For::make("t", n / 16 * 16, n % 16, ForKind::Serial,
                                       store("total", i64(0), total + a_at(var("t")) * b_at(var("t")))),
                             store("out", i64(0), total),
                         })),
      }));
  const Kernel kernel = make_kernel("dot", {{"a", Type::f32()}, {"b", Type::f32()}, {"out", Type::f32(), true}},
                                    {"n"}, body);
  auto loaded = compile_and_load(kernel);
  for (int64_t size : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(size));
    auto a = random_floats(rng, size, -1, 1), b = random_floats(rng, size, -1, 1);
    auto out = poisoned<float>(1);
    launch(*loaded, {bytes_of(a), bytes_of(b), bytes_of(out)}, {size});
    double want = 0, magnitude = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      want += double{a[i]} * b[i];
      magnitude += std::fabs(double{a[i]} * b[i]);
    }
    // Float summation of n terms errs by at most about n * 2^-24 * sum |terms|.
    EXPECT_TRUE(all_close(out, {want}, 0, static_cast<double>(size) * 1.2e-7 * magnitude + 1e-30));
  }
}

// out[r] = sum_j x[r, j], rows in parallel, each summed in a one-element Register allocation.
TEST(LlvmCpu, RowSumWithRegisterAccumulator) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  const Expr rows = var("rows"), cols = var("cols"), r = var("r"), j = var("j");
  const Expr acc = load(Type::f32(), "acc", i64(0));
  Stmt body = For::make(
      "r", i64(0), rows, ForKind::Parallel,
      Allocate::make("acc", Type::f32(), i64(1), MemoryScope::Register,
                     Block::make({
                         store("acc", i64(0), f32(0.0)),
                         For::make("j", i64(0), cols, ForKind::Serial,
                                   store("acc", i64(0), acc + load(Type::f32(), "x", r * cols + j))),
                         store("out", r, acc),
                     })));
  const Kernel kernel =
      make_kernel("row_sum", {{"x", Type::f32()}, {"out", Type::f32(), true}}, {"rows", "cols"}, body);
  auto loaded = compile_and_load(kernel);
  for (size_t k = 0; k < kSizes.size(); ++k) {
    const int64_t n_rows = kSizes[k], n_cols = kSizes[(k + 2) % kSizes.size()];
    SCOPED_TRACE("rows = " + std::to_string(n_rows) + ", cols = " + std::to_string(n_cols));
    auto x = random_floats(rng, n_rows * n_cols, -1, 1);
    auto out = poisoned<float>(n_rows);
    launch(*loaded, {bytes_of(x), bytes_of(out)}, {n_rows, n_cols});
    for (int64_t row = 0; row < n_rows; ++row) {
      double want = 0, magnitude = 0;
      for (int64_t col = 0; col < n_cols; ++col) {
        want += x[static_cast<size_t>(row * n_cols + col)];
        magnitude += std::fabs(x[static_cast<size_t>(row * n_cols + col)]);
      }
      ASSERT_TRUE(all_close({out[static_cast<size_t>(row)]}, {want}, 0,
                            static_cast<double>(n_cols) * 1.2e-7 * magnitude + 1e-30))
          << "row " << row;
    }
  }
}

// A parallel loop inside a parallel loop: the inner one runs serially on whichever thread has it.
TEST(LlvmCpu, NestedParallelLoops) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  const Expr rows = var("rows"), cols = var("cols"), index = var("r") * cols + var("j");
  Stmt body = For::make("r", i64(0), rows, ForKind::Parallel,
                        For::make("j", i64(0), cols, ForKind::Parallel,
                                  store("y", index, load(Type::f32(), "x", index) * 3.0f + convert(Type::f32(), var("r")))));
  auto loaded = compile_and_load(
      make_kernel("nested", {{"x", Type::f32()}, {"y", Type::f32(), true}}, {"rows", "cols"}, body));
  for (int64_t n : kSizes) {
    const int64_t n_cols = 7;
    auto x = random_floats(rng, n * n_cols, -5, 5);
    auto y = poisoned<float>(n * n_cols);
    launch(*loaded, {bytes_of(x), bytes_of(y)}, {n, n_cols});
    // x * 3 + r rounded once (fused, as LLVM may contract it) or twice: exactly one of the two.
    for (size_t i = 0; i < y.size(); ++i) {
      const float r = static_cast<float>(i / 7);
      const float fused = std::fma(x[i], 3.0f, r), separate = x[i] * 3.0f + r;
      ASSERT_TRUE(y[i] == fused || y[i] == separate) << "n = " << n << ", element " << i << ": " << y[i];
    }
  }
}

// Int (C semantics: truncating division, arithmetic shift) and UInt (logical shift, wrapping).
TEST(LlvmCpu, IntegerOps) {
  struct Case {
    std::string name;
    bool is_unsigned;
    std::function<Expr(Expr, Expr)> build;
    std::function<int64_t(int64_t, int64_t)> reference;
  };
  const std::vector<Case> cases = {
      {"idiv", false, [](Expr a, Expr b) { return a / b; }, [](int64_t a, int64_t b) { return int32_t(a) / int32_t(b); }},
      {"imod", false, [](Expr a, Expr b) { return a % b; }, [](int64_t a, int64_t b) { return int32_t(a) % int32_t(b); }},
      {"ishr", false, [](Expr a, Expr b) { return a >> (b & 31); },
       [](int64_t a, int64_t b) { return int32_t(a) >> (b & 31); }},
      {"ishl", false, [](Expr a, Expr b) { return a << (b & 7); },
       [](int64_t a, int64_t b) { return int32_t(uint32_t(a) << (b & 7)); }},
      {"imin", false, [](Expr a, Expr b) { return min(a, b); }, [](int64_t a, int64_t b) { return std::min(a, b); }},
      {"imax", false, [](Expr a, Expr b) { return max(a, b); }, [](int64_t a, int64_t b) { return std::max(a, b); }},
      {"ibits", false,
       [](Expr a, Expr b) { return Binary::make(BinaryOp::BitXor, a & b, a | 3); },
       [](int64_t a, int64_t b) { return (int32_t(a) & int32_t(b)) ^ (int32_t(a) | 3); }},
      {"iarith", false, [](Expr a, Expr b) { return a * 3 - b + 7; }, [](int64_t a, int64_t b) { return a * 3 - b + 7; }},
      {"iabs", false, [](Expr a, Expr) { return call(Intrinsic::Abs, {a}); }, [](int64_t a, int64_t) { return std::abs(a); }},
      {"udiv", true, [](Expr a, Expr b) { return a / b; }, [](int64_t a, int64_t b) { return uint32_t(a) / uint32_t(b); }},
      {"umod", true, [](Expr a, Expr b) { return a % b; }, [](int64_t a, int64_t b) { return uint32_t(a) % uint32_t(b); }},
      {"ushr", true, [](Expr a, Expr b) { return a >> (b & 31); },
       [](int64_t a, int64_t b) { return uint32_t(a) >> (b & 31); }},
      {"umin", true, [](Expr a, Expr b) { return min(a, b); }, [](int64_t a, int64_t b) { return std::min(a, b); }},
      {"umax", true, [](Expr a, Expr b) { return max(a, b); }, [](int64_t a, int64_t b) { return std::max(a, b); }},
      {"uwrap", true, [](Expr a, Expr b) { return a * b + a; },
       [](int64_t a, int64_t b) { return uint32_t(uint32_t(a) * uint32_t(b) + uint32_t(a)); }},
  };
  std::vector<BufferParam> buffers = {{"a", Type::i32()}, {"b", Type::i32()}, {"c", Type::u32()}, {"d", Type::u32()}};
  for (const Case& c : cases) buffers.push_back({c.name, c.is_unsigned ? Type::u32() : Type::i32(), true});
  const Stmt body = elementwise(var("n"), 8, [&](Expr i) {
    std::vector<Stmt> stores;
    for (const Case& c : cases) {
      const Type t = c.is_unsigned ? Type::u32() : Type::i32();
      stores.push_back(store(c.name, i, c.build(load(t, c.is_unsigned ? "c" : "a", i), load(t, c.is_unsigned ? "d" : "b", i))));
    }
    return Block::make(stores);
  });
  auto loaded = compile_and_load(make_kernel("integer_ops", buffers, {"n"}, body));

  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    auto a = random_ints<int32_t>(rng, n, -(1 << 29), 1 << 29);  // a * 3 does not overflow
    auto b = random_ints<int32_t>(rng, n, -1000, 1000);
    auto c = random_ints<uint32_t>(rng, n, 0, UINT32_MAX);
    auto d = random_ints<uint32_t>(rng, n, 1, 100000);
    for (int32_t& v : b) v = v == 0 ? 1 : v;
    std::vector<std::vector<uint32_t>> outputs(cases.size(), poisoned<uint32_t>(n));
    std::vector<std::span<uint8_t>> bindings = {bytes_of(a), bytes_of(b), bytes_of(c), bytes_of(d)};
    for (auto& out : outputs) bindings.push_back(bytes_of(out));
    launch(*loaded, bindings, {n});
    for (size_t k = 0; k < cases.size(); ++k) {
      std::vector<uint32_t> want(static_cast<size_t>(n));
      for (size_t i = 0; i < want.size(); ++i) {
        want[i] = cases[k].is_unsigned ? static_cast<uint32_t>(cases[k].reference(c[i], d[i]))
                                       : static_cast<uint32_t>(cases[k].reference(a[i], b[i]));
      }
      EXPECT_TRUE(all_equal(outputs[k], want)) << cases[k].name;
    }
  }
}

// Chains of byte dot products, acc + dot(a1, b1) + ... + dot(a8, b8), whose a bytes the IR
// bounds by a mask: AVX2 adds the pair sums of 4-bit (and 5-bit) bytes in i16 before widening
// them, which must stay exact at the extremes (every a byte at its largest, every b byte -128).
Expr i32(int64_t value) { return IntImm::make(Type::i32(), value); }

// i32 lanes like `like`'s (the elementwise remainder is scalar).
Expr splat(int64_t value, const Expr& like) {
  const int lanes = like.type().lanes;
  return lanes == 1 ? i32(value) : Broadcast::make(i32(value), lanes);
}

Expr byte_dot_chain(const std::function<Expr(int)>& word_a, const std::function<Expr(int)>& word_b, int words) {
  Expr acc = splat(0, word_b(0));
  for (int g = 0; g < words; ++g) acc = call(Intrinsic::DotU8S8, {acc, word_a(g), word_b(g)});
  return acc;
}

int64_t byte_dot_reference(uint32_t a, uint32_t b) {
  int64_t sum = 0;
  for (int q = 0; q < 4; ++q) sum += int64_t((a >> (8 * q)) & 0xff) * int64_t(int8_t((b >> (8 * q)) & 0xff));
  return sum;
}

Kernel byte_dot_chains_kernel() {
  const Expr n = var("n");
  const Stmt body = elementwise(n, 8, [&](Expr i) {
    const auto a = [&](int g) { return load(Type::i32(), "a", i + n * int64_t{g}); };
    const std::function<Expr(int)> b = [&](int g) { return load(Type::i32(), "b", i + n * int64_t{g}); };
    const auto masked = [&](int g, int64_t mask) {
      return a(g) >> splat(4 * (g % 2), i) & splat(mask, i);
    };
    return Block::make(std::vector<Stmt>{
        store("nibbles", i, byte_dot_chain([&](int g) { return masked(g, 0x0f0f0f0f); }, b, 8)),
        store("fives", i, byte_dot_chain([&](int g) { return masked(g, 0x1f1f1f1f); }, b, 8)),
        store("sevens", i, byte_dot_chain([&](int g) { return masked(g, 0x7f7f7f7f); }, b, 8)),
        store("ones", i, byte_dot_chain([&](int) { return splat(0x01010101, i); }, b, 8)),
    });
  });
  return make_kernel("byte_dot_chains", {{"a", Type::i32()}, {"b", Type::i32()}, {"nibbles", Type::i32(), true},
                                         {"fives", Type::i32(), true}, {"sevens", Type::i32(), true},
                                         {"ones", Type::i32(), true}},
                     {"n"}, body);
}

TEST(LlvmCpu, ByteDotChainsExactAtTheirBounds) {
  auto loaded = compile_and_load(byte_dot_chains_kernel());
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    auto a = random_ints<uint32_t>(rng, 8 * n, 0, UINT32_MAX);
    auto b = random_ints<uint32_t>(rng, 8 * n, 0, UINT32_MAX);
    // Every third element at the extremes in all its words: the largest sums in magnitude.
    for (int64_t i = 0; i < n; i += 3) {
      for (int64_t g = 0; g < 8; ++g) {
        a[static_cast<size_t>(g * n + i)] = 0xffffffffu;
        b[static_cast<size_t>(g * n + i)] = 0x80808080u;
      }
    }
    std::vector<std::vector<int32_t>> got(4, poisoned<int32_t>(n));
    launch(*loaded, {bytes_of(a), bytes_of(b), bytes_of(got[0]), bytes_of(got[1]), bytes_of(got[2]), bytes_of(got[3])},
           {n});
    const uint32_t masks[] = {0x0f0f0f0f, 0x1f1f1f1f, 0x7f7f7f7f};
    std::vector<std::vector<int32_t>> want(4, std::vector<int32_t>(static_cast<size_t>(n)));
    for (int64_t i = 0; i < n; ++i) {
      int64_t sums[4] = {0, 0, 0, 0};
      for (int64_t g = 0; g < 8; ++g) {
        // The IR's >> on i32 is arithmetic.
        const auto word_a = static_cast<uint32_t>(static_cast<int32_t>(a[static_cast<size_t>(g * n + i)]) >> (4 * (g % 2)));
        const uint32_t word_b = b[static_cast<size_t>(g * n + i)];
        for (int k = 0; k < 3; ++k) sums[k] += byte_dot_reference(word_a & masks[k], word_b);
        sums[3] += byte_dot_reference(0x01010101, word_b);
      }
      for (int k = 0; k < 4; ++k) want[static_cast<size_t>(k)][static_cast<size_t>(i)] = static_cast<int32_t>(sums[k]);
    }
    const char* names[] = {"nibbles", "fives", "sevens", "ones"};
    for (int k = 0; k < 4; ++k) EXPECT_TRUE(all_equal(got[static_cast<size_t>(k)], want[static_cast<size_t>(k)])) << names[k];
  }
}

// Without a byte dot product into i32 (AVX2), 4-bit chains of 8 are added in i16 and widened
// once (one vpmaddwd for 8 vpmaddubsw); with one (AVX-512 VNNI) each term is a vpdpbusd.
TEST(LlvmCpu, ByteDotChainsWidenOncePerRunOnAvx2) {
  const auto count = [](const std::string& text, const std::string& what) {
    int64_t found = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++found;
    return found;
  };
  // Only whole vectors (no scalar remainder, which LLVM may turn into vpmaddwd of its own).
  const Expr n = var("n");
  const auto vectors = [&](const std::function<Stmt(Expr)>& body) {
    return For::make("v", i64(0), n / 8, ForKind::Parallel, body(ramp(var("v") * 8, 1, 8)));
  };
  const Stmt body = vectors([&](Expr i) {
    const std::function<Expr(int)> a = [&](int g) {
      return load(Type::i32(), "a", i + n * int64_t{g}) >> splat(4 * (g % 2), i) & splat(0x0f0f0f0f, i);
    };
    const std::function<Expr(int)> b = [&](int g) { return load(Type::i32(), "b", i + n * int64_t{g}); };
    return store("out", i, byte_dot_chain(a, b, 8));
  });
  const Kernel kernel = make_kernel("nibble_dot_chain", {{"a", Type::i32()}, {"b", Type::i32()}, {"out", Type::i32(), true}},
                                    {"n"}, body);
  const std::string avx2 = codegen::emit_host_assembly(kernel, {.cpu = "haswell"});
  EXPECT_EQ(count(avx2, "vpmaddubsw"), 8) << avx2;
  EXPECT_EQ(count(avx2, "vpmaddwd"), 1) << avx2;
  const std::string vnni = codegen::emit_host_assembly(kernel, {.cpu = "znver4"});
  EXPECT_EQ(count(vnni, "vpdpbusd"), 8) << vnni;
  EXPECT_EQ(count(vnni, "vpmaddubsw"), 0) << vnni;
}

TEST(LlvmCpu, Casts) {
  const Stmt body = elementwise(var("n"), 8, [](Expr i) {
    const Expr x = load(Type::f32(), "x", i), k = load(Type::i32(), "k", i), u = load(Type::u32(), "u", i);
    const Expr byte = load(Type::u8(), "byte", i);
    return Block::make({
        store("f2i", i, convert(Type::i32(), x)),
        store("i2f", i, convert(Type::f32(), k)),
        store("u2f", i, convert(Type::f32(), u)),
        store("b2f", i, convert(Type::f32(), byte)),
        store("f2u8", i, convert(Type::u8(), call(Intrinsic::Abs, {x}) * 0.8f)),
        store("via_f64", i, convert(Type::f32(), convert(Type::f64(), x) * 3.0)),
        store("f2h", i, convert(Type::f16(), x)),
        store("trunc16", i, convert(Type::i16(), convert(Type::i64(), k) * 3)),
        store("sext_u64", i, convert(Type{TypeKind::UInt, 64, 1}, k)),
        store("zext_i64", i, convert(Type::i64(), u)),
        store("nonzero", i, convert(Type::i32(), convert(Type::boolean(), k))),
        store("fnonzero", i, convert(Type::u8(), convert(Type::boolean(), x))),
        store("bits", i, reinterpret(Type::u32().with_lanes(x.type().lanes), x)),
    });
  });
  const std::vector<BufferParam> buffers = {
      {"x", Type::f32()},          {"k", Type::i32()},          {"u", Type::u32()},
      {"byte", Type::u8()},        {"f2i", Type::i32(), true},  {"i2f", Type::f32(), true},
      {"u2f", Type::f32(), true},  {"b2f", Type::f32(), true},  {"f2u8", Type::u8(), true},
      {"via_f64", Type::f32(), true}, {"f2h", Type::f16(), true}, {"trunc16", Type::i16(), true},
      {"sext_u64", Type{TypeKind::UInt, 64, 1}, true}, {"zext_i64", Type::i64(), true},
      {"nonzero", Type::i32(), true}, {"fnonzero", Type::u8(), true}, {"bits", Type::u32(), true},
  };
  auto loaded = compile_and_load(make_kernel("casts", buffers, {"n"}, body));

  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    auto x = random_floats(rng, n, -300, 300);
    auto k = random_ints<int32_t>(rng, n, INT32_MIN, INT32_MAX);
    auto u = random_ints<uint32_t>(rng, n, 0, UINT32_MAX);
    auto byte = random_ints<uint8_t>(rng, n, 0, 255);
    for (size_t i = 0; i < x.size(); i += 5) x[i] = 0, k[i] = 0;  // zeros for the bool casts
    auto f2i = poisoned<int32_t>(n);
    auto i2f = poisoned<float>(n), u2f = poisoned<float>(n), b2f = poisoned<float>(n), via_f64 = poisoned<float>(n);
    auto f2u8 = poisoned<uint8_t>(n), fnonzero = poisoned<uint8_t>(n);
    auto f2h = poisoned<uint16_t>(n);
    auto trunc16 = poisoned<int16_t>(n);
    auto sext_u64 = poisoned<uint64_t>(n);
    auto zext_i64 = poisoned<int64_t>(n);
    auto nonzero = poisoned<int32_t>(n);
    auto bits = poisoned<uint32_t>(n);
    launch(*loaded,
           {bytes_of(x), bytes_of(k), bytes_of(u), bytes_of(byte), bytes_of(f2i), bytes_of(i2f), bytes_of(u2f),
            bytes_of(b2f), bytes_of(f2u8), bytes_of(via_f64), bytes_of(f2h), bytes_of(trunc16), bytes_of(sext_u64),
            bytes_of(zext_i64), bytes_of(nonzero), bytes_of(fnonzero), bytes_of(bits)},
           {n});
    std::vector<int32_t> want_f2i, want_nonzero;
    std::vector<float> want_i2f, want_u2f, want_b2f, want_via_f64;
    std::vector<uint8_t> want_f2u8, want_fnonzero;
    std::vector<uint16_t> want_f2h;
    std::vector<int16_t> want_trunc16;
    std::vector<uint64_t> want_sext_u64;
    std::vector<int64_t> want_zext_i64;
    std::vector<uint32_t> want_bits;
    for (size_t i = 0; i < x.size(); ++i) {
      want_f2i.push_back(static_cast<int32_t>(x[i]));
      want_i2f.push_back(static_cast<float>(k[i]));
      want_u2f.push_back(static_cast<float>(u[i]));
      want_b2f.push_back(static_cast<float>(byte[i]));
      want_f2u8.push_back(static_cast<uint8_t>(std::fabs(x[i]) * 0.8f));
      want_via_f64.push_back(static_cast<float>(static_cast<double>(x[i]) * 3.0));
      want_f2h.push_back(f32_to_f16(x[i]));
      want_trunc16.push_back(static_cast<int16_t>(static_cast<int64_t>(k[i]) * 3));
      want_sext_u64.push_back(static_cast<uint64_t>(static_cast<int64_t>(k[i])));
      want_zext_i64.push_back(static_cast<int64_t>(u[i]));
      want_nonzero.push_back(k[i] != 0);
      want_fnonzero.push_back(x[i] != 0);
      want_bits.push_back(float_to_bits(x[i]));
    }
    EXPECT_TRUE(all_equal(f2i, want_f2i)) << "f32 -> i32";
    EXPECT_TRUE(all_equal(i2f, want_i2f)) << "i32 -> f32";
    EXPECT_TRUE(all_equal(u2f, want_u2f)) << "u32 -> f32";
    EXPECT_TRUE(all_equal(b2f, want_b2f)) << "u8 -> f32";
    EXPECT_TRUE(all_equal(f2u8, want_f2u8)) << "f32 -> u8";
    EXPECT_TRUE(all_equal(via_f64, want_via_f64)) << "f32 -> f64 -> f32";
    EXPECT_TRUE(all_equal(f2h, want_f2h)) << "f32 -> f16";
    EXPECT_TRUE(all_equal(trunc16, want_trunc16)) << "i64 -> i16";
    EXPECT_TRUE(all_equal(sext_u64, want_sext_u64)) << "i32 -> u64";
    EXPECT_TRUE(all_equal(zext_i64, want_zext_i64)) << "u32 -> i64";
    EXPECT_TRUE(all_equal(nonzero, want_nonzero)) << "i32 -> bool -> i32";
    EXPECT_TRUE(all_equal(fnonzero, want_fnonzero)) << "f32 -> bool -> u8";
    EXPECT_TRUE(all_equal(bits, want_bits)) << "reinterpret f32 as u32";
  }
}

TEST(LlvmCpu, SelectAndLogic) {
  const Stmt body = elementwise(var("n"), 16, [](Expr i) {
    const Expr a = load(Type::f32(), "a", i), b = load(Type::f32(), "b", i);
    return Block::make({
        store("picked", i, select(a > b && a != 0.0f, a * 2.0f, b - 1.0f)),
        store("flag", i, a < b || !(b > 1.0f)),  // a bool buffer: one byte per element
        store("lowest", i, min(a, b) + max(a, b) * 0.5f),
    });
  });
  auto loaded = compile_and_load(make_kernel(
      "select_logic",
      {{"a", Type::f32()}, {"b", Type::f32()}, {"picked", Type::f32(), true}, {"flag", Type::boolean(), true},
       {"lowest", Type::f32(), true}},
      {"n"}, body));
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    auto a = random_floats(rng, n, -3, 3), b = random_floats(rng, n, -3, 3);
    for (size_t i = 0; i < a.size(); i += 4) a[i] = 0;
    auto picked = poisoned<float>(n), lowest = poisoned<float>(n);
    auto flag = poisoned<uint8_t>(n);
    launch(*loaded, {bytes_of(a), bytes_of(b), bytes_of(picked), bytes_of(flag), bytes_of(lowest)}, {n});
    std::vector<double> want_picked, want_lowest;
    std::vector<uint8_t> want_flag;
    for (size_t i = 0; i < a.size(); ++i) {
      want_picked.push_back(a[i] > b[i] && a[i] != 0 ? a[i] * 2.0f : b[i] - 1.0f);
      want_flag.push_back(a[i] < b[i] || !(b[i] > 1.0f));
      want_lowest.push_back(std::fmin(a[i], b[i]) + std::fmax(a[i], b[i]) * 0.5f);
    }
    EXPECT_TRUE(all_close(picked, want_picked, 0));
    EXPECT_TRUE(all_equal(flag, want_flag));
    EXPECT_TRUE(all_close(lowest, want_lowest, 0));
  }
}

TEST(LlvmCpu, F16BitsToF32) {
  const Stmt body = elementwise(var("n"), 16, [](Expr i) {
    return store("y", i, call(Intrinsic::F16BitsToF32, {load(Type::u16(), "h", i)}));
  });
  auto loaded = compile_and_load(make_kernel("f16_to_f32", {{"h", Type::u16()}, {"y", Type::f32(), true}}, {"n"}, body));
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    auto h = random_ints<uint16_t>(rng, n, 0, 0xffff);
    for (uint16_t& bits : h) {
      if ((bits & 0x7c00) == 0x7c00) bits &= 0xfc00;  // NaN patterns -> infinity: comparable
    }
    auto y = poisoned<float>(n);
    launch(*loaded, {bytes_of(h), bytes_of(y)}, {n});
    std::vector<double> want;
    for (uint16_t bits : h) want.push_back(f16_to_f32(bits));
    EXPECT_TRUE(all_close(y, want, 0));
  }
}

TEST(LlvmCpu, MathIntrinsics) {
  struct Case {
    std::string name;
    std::function<Expr(Expr)> build;
    std::function<double(double)> reference;
  };
  auto positive = [](Expr x) { return call(Intrinsic::Abs, {x}) + 0.01f; };
  const std::vector<Case> cases = {
      {"exp", [](Expr x) { return call(Intrinsic::Exp, {x}); }, [](double x) { return std::exp(x); }},
      {"tanh", [](Expr x) { return call(Intrinsic::Tanh, {x}); }, [](double x) { return std::tanh(x); }},
      {"erf", [](Expr x) { return call(Intrinsic::Erf, {x}); }, [](double x) { return std::erf(x); }},
      {"log", [&](Expr x) { return call(Intrinsic::Log, {positive(x)}); },
       [](double x) { return std::log(double{std::fabs(float(x)) + 0.01f}); }},
      {"sqrt", [&](Expr x) { return call(Intrinsic::Sqrt, {positive(x)}); },
       [](double x) { return std::sqrt(double{std::fabs(float(x)) + 0.01f}); }},
      {"rsqrt", [&](Expr x) { return call(Intrinsic::Rsqrt, {positive(x)}); },
       [](double x) { return 1 / std::sqrt(double{std::fabs(float(x)) + 0.01f}); }},
      {"sin", [](Expr x) { return call(Intrinsic::Sin, {x}); }, [](double x) { return std::sin(x); }},
      {"cos", [](Expr x) { return call(Intrinsic::Cos, {x}); }, [](double x) { return std::cos(x); }},
      {"pow", [&](Expr x) { return call(Intrinsic::Pow, {positive(x), Expr(1.7)}); },
       [](double x) { return std::pow(double{std::fabs(float(x)) + 0.01f}, double{1.7f}); }},
      {"abs", [](Expr x) { return call(Intrinsic::Abs, {x}); }, [](double x) { return std::fabs(x); }},
      {"floor", [](Expr x) { return call(Intrinsic::Floor, {x}); }, [](double x) { return std::floor(x); }},
  };
  std::vector<BufferParam> buffers = {{"x", Type::f32()}};
  for (const Case& c : cases) buffers.push_back({c.name, Type::f32(), true});
  const Stmt body = elementwise(var("n"), 8, [&](Expr i) {
    std::vector<Stmt> stores;
    for (const Case& c : cases) stores.push_back(store(c.name, i, c.build(load(Type::f32(), "x", i))));
    return Block::make(stores);
  });
  auto loaded = compile_and_load(make_kernel("math", buffers, {"n"}, body));
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    auto x = random_floats(rng, n, -4, 4);
    std::vector<std::vector<float>> outputs(cases.size(), poisoned<float>(n));
    std::vector<std::span<uint8_t>> bindings = {bytes_of(x)};
    for (auto& out : outputs) bindings.push_back(bytes_of(out));
    launch(*loaded, bindings, {n});
    for (size_t k = 0; k < cases.size(); ++k) {
      std::vector<double> want;
      for (float v : x) want.push_back(cases[k].reference(v));
      EXPECT_TRUE(all_close(outputs[k], want, 1e-5, 1e-6)) << cases[k].name;
    }
  }
}

// exp is computed in vector instructions (not libm per lane), scalars as one lane: within 2 ulp
// of exp over the whole f32 range, through the subnormals, and exact at the edges (0, +inf, NaN).
TEST(LlvmCpu, VectorExpOverTheWholeRange) {
  const Stmt body = elementwise(var("n"), 16, [](Expr i) {
    return store("y", i, call(Intrinsic::Exp, {load(Type::f32(), "x", i)}));
  });
  const Kernel kernel = make_kernel("vexp", {{"x", Type::f32()}, {"y", Type::f32(), true}}, {"n"}, body);
  // The 16-lane body rounds x / ln 2 in one vector instruction (libm would be called per lane).
  EXPECT_NE(codegen::emit_llvm_ir(kernel).find("llvm.roundeven.v16f32"), std::string::npos);
  auto loaded = compile_and_load(kernel);
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {0.0f, -0.0f, 1.0f, -1.0f, 88.72f, 88.75f, 100.0f, -87.3f, -100.0f, -103.9f, -104.5f,
                          -200.0f, inf, -inf, nan, 1e-30f, -1e-30f, 0.3465736f, -0.3465736f};
  std::uniform_real_distribution<float> wide(-110.0f, 95.0f);
  while (x.size() < 4096 + 7) x.push_back(wide(rng));  // 7 for the scalar remainder loop
  auto y = poisoned<float>(static_cast<int64_t>(x.size()));
  launch(*loaded, {bytes_of(x), bytes_of(y)}, {static_cast<int64_t>(x.size())});
  for (size_t k = 0; k < x.size(); ++k) {
    const double want = std::exp(static_cast<double>(x[k]));
    if (std::isnan(x[k])) {
      EXPECT_TRUE(std::isnan(y[k])) << "exp(NaN) = " << y[k];
      continue;
    }
    if (want > std::numeric_limits<float>::max()) {
      EXPECT_EQ(y[k], inf) << "exp(" << x[k] << ")";
      continue;
    }
    // 2 ulp of the result, or of the smallest normal for subnormal results.
    const double ulp = std::ldexp(1.0, std::max(std::ilogb(std::max(want, 1.2e-38)), -126) - 23);
    EXPECT_LE(std::fabs(y[k] - want), 2 * ulp) << "exp(" << x[k] << ") = " << y[k] << ", want " << want;
  }
}

// Vector indices that are not one dense ramp: gathers, scatters, a reversed ramp, a broadcast.
TEST(LlvmCpu, GatherAndScatter) {
  const Expr n = var("n");
  const Stmt body = elementwise(n, 16, [&](Expr i) {
    const Expr x = load(Type::f32(), "x", i);
    const Expr two_i = i * 2;  // a stride-2 ramp for vectors
    return Block::make({
        store("shuffled", i, load(Type::f32(), "x", (i * 7) % n)),
        store("reversed", i, load(Type::f32(), "x", n - 1 - i)),
        store("centered", i, x - load(Type::f32(), "x", i.type().lanes > 1 ? Broadcast::make(i64(0), i.type().lanes) : i64(0))),
        store("pairs", two_i, -x),
        store("pairs", two_i + 1, x * 2.0f),
        // Consecutive after all: (i + 1) - 1, and a let-bound index.
        store("shifted", (i + 1) - 1, load(Type::f32(), "x", (i + 1) - 1) * 3.0f),
        LetStmt::make("r", i, store("copied", var("r", i.type()), load(Type::f32(), "x", var("r", i.type())))),
    });
  });
  auto loaded = compile_and_load(make_kernel("gather_scatter",
                                             {{"x", Type::f32()},
                                              {"shuffled", Type::f32(), true},
                                              {"reversed", Type::f32(), true},
                                              {"centered", Type::f32(), true},
                                              {"pairs", Type::f32(), true},
                                              {"shifted", Type::f32(), true},
                                              {"copied", Type::f32(), true}},
                                             {"n"}, body));
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  for (int64_t size : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(size));
    auto x = random_floats(rng, size, -8, 8);
    auto shuffled = poisoned<float>(size), reversed = poisoned<float>(size), centered = poisoned<float>(size);
    auto pairs = poisoned<float>(2 * size);
    auto shifted = poisoned<float>(size), copied = poisoned<float>(size);
    launch(*loaded,
           {bytes_of(x), bytes_of(shuffled), bytes_of(reversed), bytes_of(centered), bytes_of(pairs), bytes_of(shifted),
            bytes_of(copied)},
           {size});
    std::vector<double> want_shuffled, want_reversed, want_centered, want_pairs, want_shifted, want_copied;
    for (int64_t i = 0; i < size; ++i) {
      want_shifted.push_back(x[static_cast<size_t>(i)] * 3.0f);
      want_copied.push_back(x[static_cast<size_t>(i)]);
      want_shuffled.push_back(x[static_cast<size_t>(i * 7 % size)]);
      want_reversed.push_back(x[static_cast<size_t>(size - 1 - i)]);
      want_centered.push_back(x[static_cast<size_t>(i)] - x[0]);
      want_pairs.push_back(-x[static_cast<size_t>(i)]);
      want_pairs.push_back(x[static_cast<size_t>(i)] * 2.0f);
    }
    EXPECT_TRUE(all_close(shuffled, want_shuffled, 0));
    EXPECT_TRUE(all_close(reversed, want_reversed, 0));
    EXPECT_TRUE(all_close(centered, want_centered, 0));
    EXPECT_TRUE(all_close(pairs, want_pairs, 0));
    EXPECT_TRUE(all_close(shifted, want_shifted, 0));
    EXPECT_TRUE(all_close(copied, want_copied, 0));
  }
}

TEST(LlvmCpu, GlobalAllocationAndIfThenElse) {
  // scratch (heap, sized by n) holds x squared; then y = scratch where x > 0, else -1.
  const Expr n = var("n"), i = var("i");
  const Stmt body = Allocate::make(
      "scratch", Type::f32(), n, MemoryScope::Global,
      Block::make({
          For::make("i", i64(0), n, ForKind::Serial, store("scratch", i, load(Type::f32(), "x", i) * load(Type::f32(), "x", i))),
          For::make("i", i64(0), n, ForKind::Parallel,
                    IfThenElse::make(load(Type::f32(), "x", i) > 0.0f, store("y", i, load(Type::f32(), "scratch", i)),
                                     store("y", i, f32(-1.0)))),
      }));
  auto loaded = compile_and_load(make_kernel("scratch", {{"x", Type::f32()}, {"y", Type::f32(), true}}, {"n"}, body));
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  for (int64_t size : kSizes) {
    auto x = random_floats(rng, size, -2, 2);
    auto y = poisoned<float>(size);
    launch(*loaded, {bytes_of(x), bytes_of(y)}, {size});
    std::vector<double> want;
    for (float v : x) want.push_back(v > 0 ? v * v : -1.0f);
    EXPECT_TRUE(all_close(y, want, 0)) << "n = " << size;
  }
}

TEST(LlvmCpu, UnrolledLoopAndLet) {
  // y[i] = sum_{k<4} (x[i] + k) * scale, with the k loop unrolled and `scale` a let.
  const Expr i = var("i");
  const Stmt body = For::make(
      "i", i64(0), var("n"), ForKind::Serial,
      LetStmt::make("scale", load(Type::f32(), "x", i) * 0.5f,
                    Allocate::make("acc", Type::f32(), i64(1), MemoryScope::Register,
                                   Block::make({
                                       store("acc", i64(0), f32(0.0)),
                                       For::make("k", i64(0), i64(4), ForKind::Unrolled,
                                                 store("acc", i64(0),
                                                       load(Type::f32(), "acc", i64(0)) +
                                                           (load(Type::f32(), "x", i) + convert(Type::f32(), var("k"))) *
                                                               var("scale", Type::f32()))),
                                       store("y", i, load(Type::f32(), "acc", i64(0))),
                                   }))));
  auto loaded = compile_and_load(make_kernel("unrolled", {{"x", Type::f32()}, {"y", Type::f32(), true}}, {"n"}, body));
  std::mt19937_64 rng(fresh_seed());
  for (int64_t size : kSizes) {
    auto x = random_floats(rng, size, -2, 2);
    auto y = poisoned<float>(size);
    launch(*loaded, {bytes_of(x), bytes_of(y)}, {size});
    // Each update rounded once (fused, as LLVM may contract it) or twice: exactly one of the two.
    for (size_t e = 0; e < x.size(); ++e) {
      const float v = x[e];
      float fused = 0, separate = 0;
      for (int k = 0; k < 4; ++k) {
        fused = std::fma(v + static_cast<float>(k), v * 0.5f, fused);
        separate = separate + (v + static_cast<float>(k)) * (v * 0.5f);
      }
      ASSERT_TRUE(y[e] == fused || y[e] == separate) << "n = " << size << ", element " << e << ": " << y[e];
    }
  }
}

// Per group of 16: the max and min of its lanes, for f32 and i32 (ReduceMax/ReduceMin).
TEST(LlvmCpu, ReduceMaxAndMin) {
  const Expr g = var("g"), lanes = ramp(var("g") * 16, 1, 16);
  const Stmt body = For::make("g", i64(0), var("groups"), ForKind::Parallel,
                              Block::make({
                                  store("fmax", g, call(Intrinsic::ReduceMax, {load(Type::f32(), "x", lanes)})),
                                  store("fmin", g, call(Intrinsic::ReduceMin, {load(Type::f32(), "x", lanes)})),
                                  store("imax", g, call(Intrinsic::ReduceMax, {load(Type::i32(), "k", lanes)})),
                                  store("imin", g, call(Intrinsic::ReduceMin, {load(Type::i32(), "k", lanes)})),
                                  store("isum", g, call(Intrinsic::ReduceAdd, {load(Type::i32(), "k", lanes)})),
                              }));
  auto loaded = compile_and_load(make_kernel("reduce_max_min",
                                             {{"x", Type::f32()},
                                              {"k", Type::i32()},
                                              {"fmax", Type::f32(), true},
                                              {"fmin", Type::f32(), true},
                                              {"imax", Type::i32(), true},
                                              {"imin", Type::i32(), true},
                                              {"isum", Type::i32(), true}},
                                             {"groups"}, body));
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);
  for (int64_t groups : kSizes) {
    SCOPED_TRACE("groups = " + std::to_string(groups));
    auto x = random_floats(rng, groups * 16, -100, 100);
    auto k = random_ints<int32_t>(rng, groups * 16, -1000000, 1000000);
    auto fmax = poisoned<float>(groups), fmin = poisoned<float>(groups);
    auto imax = poisoned<int32_t>(groups), imin = poisoned<int32_t>(groups), isum = poisoned<int32_t>(groups);
    launch(*loaded, {bytes_of(x), bytes_of(k), bytes_of(fmax), bytes_of(fmin), bytes_of(imax), bytes_of(imin), bytes_of(isum)},
           {groups});
    std::vector<double> want_fmax, want_fmin;
    std::vector<int32_t> want_imax, want_imin, want_isum;
    for (size_t group = 0; group < static_cast<size_t>(groups); ++group) {
      const auto xs = x.begin() + static_cast<std::ptrdiff_t>(group * 16);
      const auto ks = k.begin() + static_cast<std::ptrdiff_t>(group * 16);
      want_fmax.push_back(*std::max_element(xs, xs + 16));
      want_fmin.push_back(*std::min_element(xs, xs + 16));
      want_imax.push_back(*std::max_element(ks, ks + 16));
      want_imin.push_back(*std::min_element(ks, ks + 16));
      want_isum.push_back(std::accumulate(ks, ks + 16, 0));
    }
    EXPECT_TRUE(all_close(fmax, want_fmax, 0));
    EXPECT_TRUE(all_close(fmin, want_fmin, 0));
    EXPECT_TRUE(all_equal(imax, want_imax));
    EXPECT_TRUE(all_equal(imin, want_imin));
    EXPECT_TRUE(all_equal(isum, want_isum));
  }
}

// A Vectorized loop the vectorize pass left alone still runs (as a loop LLVM may vectorize),
// and so does everything at -O0.
TEST(LlvmCpu, LeftoverVectorizedLoopAndOptLevelZero) {
  const Expr i = var("o") * 8 + var("v");
  const Stmt body = For::make("o", i64(0), var("n") / 8, ForKind::Parallel,
                              For::make("v", i64(0), i64(8), ForKind::Vectorized,
                                        store("y", i, load(Type::f32(), "x", i) * 2.0f + 1.0f)));
  const Kernel kernel = make_kernel("leftover_vectorized", {{"x", Type::f32()}, {"y", Type::f32(), true}}, {"n"}, body);
  codegen::CpuCodegenOptions o0;
  o0.opt_level = 0;
  for (const codegen::CpuCodegenOptions& options : {codegen::CpuCodegenOptions{}, o0}) {
    auto loaded = device().load(codegen::compile_cpu(kernel, options));
    std::mt19937_64 rng(fresh_seed());
    for (int64_t n : {8, 64, 1024}) {
      auto x = random_floats(rng, n, -4, 4);
      auto y = poisoned<float>(n);
      launch(*loaded, {bytes_of(x), bytes_of(y)}, {n});
      std::vector<double> want;
      for (float v : x) want.push_back(v * 2.0f + 1.0f);
      EXPECT_TRUE(all_close(y, want, 0)) << "O" << options.opt_level << " n = " << n;
    }
  }
}

// Kernels are named after ops; one called like a C library function must not replace it.
TEST(LlvmCpu, KernelNamedLikeTheLibmFunctionItCalls) {
  const Stmt body = elementwise(var("n"), 8, [](Expr i) {
    return store("y", i, call(Intrinsic::Tanh, {load(Type::f32(), "x", i)}) + call(Intrinsic::Exp, {load(Type::f32(), "x", i)}));
  });
  for (const char* name : {"tanhf", "expf", "malloc"}) {
    auto loaded = compile_and_load(make_kernel(name, {{"x", Type::f32()}, {"y", Type::f32(), true}}, {"n"}, body));
    std::vector<float> x = {-1, 0, 0.5f, 2, 3, -2, 1, 0.25f, 4};
    auto y = poisoned<float>(9);
    launch(*loaded, {bytes_of(x), bytes_of(y)}, {9});
    std::vector<double> want;
    for (float v : x) want.push_back(std::tanh(double{v}) + std::exp(double{v}));
    EXPECT_TRUE(all_close(y, want, 1e-5, 1e-6)) << name;
  }
}

}  // namespace
}  // namespace kiln::test
