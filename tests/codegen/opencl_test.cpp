// OpenCL back end: hand-built GPU-style loop IR, emitted as OpenCL C, built and run by the
// OpenCL driver (PoCL on the CPU here), against float64 references on fresh random inputs.
// Each kernel is compiled and loaded once and launched at several sizes; outputs are poisoned
// before every launch so an element the kernel forgets to write shows.
#include "codegen/opencl/opencl_codegen.h"
#include "runtime/opencl_device.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "base/error.h"
#include "base/half.h"
#include "codegen/kernel_cache.h"
#include "codegen/cache_test_util.h"

namespace kiln {
namespace {

using namespace ir;
using codegen::CompiledKernel;
using runtime::Buffer;
using runtime::Device;
using runtime::LoadedKernel;
using test::flip_byte;

const std::vector<int64_t> kSizes = {1, 3, 64, 257, 1031};

testing::Environment* const cache_environment = testing::AddGlobalTestEnvironment(new test::CacheDirEnvironment);

Expr f32_load(const std::string& buffer, Expr index) { return Load::make(Type::f32(), buffer, std::move(index)); }

// ir::cast, but safe whatever order the compiler evaluates arguments in.
Expr convert(Type type, const Expr& value) { return Cast::make(type.with_lanes(value.type().lanes), value); }

Expr bit_xor(Expr a, Expr b) { return Binary::make(BinaryOp::BitXor, std::move(a), std::move(b)); }

Expr ramp(Expr base, int64_t stride, int lanes) { return Ramp::make(std::move(base), i64(stride), lanes); }

// --- host side ---------------------------------------------------------------------------------

template <typename T>
std::vector<uint8_t> bytes_of(const std::vector<T>& values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

template <typename T>
std::vector<T> values_of(const std::vector<uint8_t>& bytes) {
  std::vector<T> out(bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}

// An output buffer of `count` elements, filled with a pattern no kernel here writes: NaN for
// floats, 0xa5 bytes for integers.
template <typename T>
std::vector<uint8_t> poisoned(size_t count) {
  std::vector<uint8_t> out(count * sizeof(T), std::is_floating_point_v<T> ? 0xff : 0xa5);
  return out;
}

// Copies `contents` to fresh device buffers, launches, and returns every buffer's bytes.
std::vector<std::vector<uint8_t>> run(Device& device, const LoadedKernel& kernel,
                                      const std::vector<std::vector<uint8_t>>& contents,
                                      const std::vector<int64_t>& sizes) {
  std::vector<Buffer> buffers;
  for (const auto& c : contents) {
    buffers.push_back(device.allocate(c.size()));
    device.write(buffers.back(), c.data(), c.size());
  }
  std::vector<Buffer*> pointers;
  for (Buffer& b : buffers) pointers.push_back(&b);
  device.launch(kernel, pointers, sizes);
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = 0; i < buffers.size(); ++i) {
    out.emplace_back(contents[i].size());
    device.read(out.back().data(), buffers[i], out.back().size());
    device.release(buffers[i]);
  }
  return out;
}

bool close(double got, double want, double rel, double abs_tol) {
  if (std::isnan(want)) return std::isnan(got);
  return std::fabs(got - want) <= abs_tol + rel * std::fabs(want);
}

class OpenCLTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      device_ = runtime::open_opencl_device(0);
    } catch (const UserError& e) {
      skip_reason_ = e.what();
    }
  }
  static void TearDownTestSuite() { device_.reset(); }

  void SetUp() override {
    if (!device_) GTEST_SKIP() << skip_reason_;
    seed_ = std::random_device{}();
    rng_.seed(seed_);
  }

  // Compiles and loads `kernel`, printing how long the driver took to build it.
  std::unique_ptr<LoadedKernel> load(const Kernel& kernel) {
    compiled_ = codegen::compile_opencl(kernel);
    const auto start = std::chrono::steady_clock::now();
    auto loaded = device_->load(compiled_);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("[ opencl ] %s: built by %s in %.0f ms\n", kernel.name.c_str(), device_->name().c_str(), ms);
    return loaded;
  }

  std::string source() const { return std::get<codegen::OpenCLCode>(compiled_.code).source; }

  std::vector<float> uniform(size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng_);
    return v;
  }

  template <typename T>
  std::vector<T> integers(size_t n, int64_t lo, int64_t hi) {
    std::uniform_int_distribution<int64_t> dist(lo, hi);
    std::vector<T> v(n);
    for (T& x : v) x = static_cast<T>(dist(rng_));
    return v;
  }

  std::string trace() const { return "random seed " + std::to_string(seed_) + "; source:\n" + source(); }

  static inline std::unique_ptr<Device> device_;
  static inline std::string skip_reason_;
  uint32_t seed_ = 0;
  std::mt19937 rng_;
  CompiledKernel compiled_;
};

// --- kernels -----------------------------------------------------------------------------------

// out[i] = select(x > 0, x * y, tanh(x)) + sqrt(|y|) + max(x, y) - floor(x) * 0.5,
// one element per work-item, 64 per work-group, guarded by i < n.
Kernel elementwise_kernel() {
  const Expr n = var("n"), b = var("b"), t = var("t"), i = var("i");
  const Expr x = f32_load("x", i), y = f32_load("y", i);
  const Expr value = select(x > 0.0, x * y, call(Intrinsic::Tanh, {x})) + call(Intrinsic::Sqrt, {call(Intrinsic::Abs, {y})}) +
                     max(x, y) - call(Intrinsic::Floor, {x}) * 0.5;
  const Expr groups = (n + 63) / 64;
  Kernel k;
  k.name = "elementwise";
  k.buffers = {{"x", Type::f32()}, {"y", Type::f32()}, {"out", Type::f32(), true}};
  k.size_params = {"n"};
  k.body = For::make("b", 0, groups, ForKind::GpuBlock,
                     For::make("t", 0, 64, ForKind::GpuThread,
                               LetStmt::make("i", b * 64 + t, IfThenElse::make(i < n, Store::make("out", i, value)))));
  k.grid = {groups};
  k.block = {Expr(64)};
  return k;
}

double elementwise_reference(double x, double y) {
  return (x > 0 ? x * y : std::tanh(x)) + std::sqrt(std::fabs(y)) + std::max(x, y) - std::floor(x) * 0.5;
}

// out[r] = sum of row r of x (rows x cols): one work-group of 64 per row; each thread sums a
// strided slice into a register, the work-group adds the 64 partial sums in shared memory with
// a tree of barriers, and thread 0 writes.
Kernel row_sum_kernel() {
  const Expr rows = var("rows"), cols = var("cols"), r = var("r"), t = var("t"), k = var("k"), j = var("j"),
             s = var("s"), step = var("step");
  const Expr acc = f32_load("acc", 0);
  const Stmt accumulate =
      For::make("k", 0, (cols + 63) / 64, ForKind::Serial,
                LetStmt::make("j", t + k * 64,
                              IfThenElse::make(j < cols, Store::make("acc", 0, acc + f32_load("x", r * cols + j)))));
  const Stmt partial = Allocate::make(
      "acc", Type::f32(), 1, MemoryScope::Register,
      Block::make({Store::make("acc", 0, f32(0)), accumulate, Store::make("partial", t, acc)}));
  const Stmt tree = For::make(
      "step", 0, 6, ForKind::Unrolled,
      LetStmt::make("s", Expr(32) >> step,
                    Block::make({IfThenElse::make(t < s, Store::make("partial", t, f32_load("partial", t) +
                                                                                       f32_load("partial", t + s))),
                                 Barrier::make()})));
  const Stmt thread = Block::make({partial, Barrier::make(), tree,
                                   IfThenElse::make(t == 0, Store::make("out", r, f32_load("partial", 0)))});
  Kernel kernel;
  kernel.name = "row_sum";
  kernel.buffers = {{"x", Type::f32()}, {"out", Type::f32(), true}};
  kernel.size_params = {"rows", "cols"};
  kernel.body = For::make("r", 0, rows, ForKind::GpuBlock,
                          Allocate::make("partial", Type::f32(), 64, MemoryScope::Shared,
                                         For::make("t", 0, 64, ForKind::GpuThread, thread)));
  kernel.grid = {rows};
  kernel.block = {Expr(64)};
  return kernel;
}

// Four lanes per work-item: dense loads and stores (vload4/vstore4), a reversed gather and
// scatter, vector select with a float mask, a bool-vector let, i32 and i64 vectors selected by
// it, a bool buffer, and horizontal reductions.
Kernel vector_kernel() {
  const Expr n = var("n"), b = var("b"), t = var("t"), g = var("g");
  const Type f4 = Type::f32().with_lanes(4);
  const Expr v = var("v", f4), w = var("w", f4), m = var("m", Type::boolean().with_lanes(4));
  const Expr dense = ramp(g * 4, 1, 4);
  const Expr reversed = ramp(g * 4 + 3, -1, 4);
  const Stmt stores = Block::make({
      Store::make("out", dense, select(v > 0.0, v * w, v + 1.5)),
      Store::make("rev", reversed, v * Broadcast::make(convert(Type::f32(), g), 4)),
      Store::make("sums", g, call(Intrinsic::ReduceAdd, {v}) + call(Intrinsic::ReduceMax, {w}) -
                                 call(Intrinsic::ReduceMin, {v})),
      Store::make("mixed", dense, select(m, v, w)),
      Store::make("idx", dense, select(m, convert(Type::i32(), dense) * 3, convert(Type::i32(), reversed) - 7)),
      Store::make("wide", dense, select(m, dense, Broadcast::make(i64(-1), 4))),
      Store::make("flags", dense, m && (v > -0.5)),
  });
  const Stmt body = LetStmt::make(
      "v", Load::make(Type::f32(), "x", dense),
      LetStmt::make("w", Load::make(Type::f32(), "x", reversed), LetStmt::make("m", v < w, stores)));
  const Expr groups = (n + 15) / 16;
  Kernel k;
  k.name = "vectors";
  k.buffers = {{"x", Type::f32()},          {"out", Type::f32(), true},   {"rev", Type::f32(), true},
               {"sums", Type::f32(), true}, {"mixed", Type::f32(), true}, {"idx", Type::i32(), true},
               {"wide", Type::i64(), true}, {"flags", Type::boolean(), true}};
  k.size_params = {"n"};
  k.body = For::make("b", 0, groups, ForKind::GpuBlock,
                     For::make("t", 0, 16, ForKind::GpuThread,
                               LetStmt::make("g", b * 16 + t, IfThenElse::make(g < n, body))));
  k.grid = {groups};
  k.block = {Expr(16)};
  return k;
}

// out[g*L .. g*L+L) = in[...] * 2 + g for a vector width L: vloadL / vstoreL.
Kernel lanes_kernel(int lanes) {
  const Expr n = var("n"), g = var("g");
  const Expr dense = ramp(g * lanes, 1, lanes);
  Kernel k;
  k.name = "lanes" + std::to_string(lanes);
  k.buffers = {{"in", Type::f32()}, {"out", Type::f32(), true}};
  k.size_params = {"n"};
  k.body = For::make("g", 0, n, ForKind::GpuBlock,
                     Store::make("out", dense, Load::make(Type::f32(), "in", dense) * 2.0 +
                                                   Broadcast::make(convert(Type::f32(), g), lanes)));
  k.grid = {n};
  k.block = {Expr(1)};
  return k;
}

// Scalar integer arithmetic with C semantics, narrow types that must wrap, shifts, casts,
// reinterprets, scalar select and bool logic. Names carry dots and C keywords to check
// sanitizing, and a let shadows an outer one of the same name.
Kernel integer_kernel() {
  const Expr n = var("n"), b = var("b"), t = var("t"), i = var("i");
  const Expr a = Load::make(Type::i32(), "a.in", i), d = Load::make(Type::i32(), "b.in", i);
  const Expr c = Load::make(Type::u32(), "c", i), bytes = Load::make(Type::u8(), "bytes", i);
  const Expr golden_ratio = IntImm::make(Type::u32(), 2654435761);
  const Expr i32_7 = IntImm::make(Type::i32(), 7);
  auto i32c = [](int64_t v) { return IntImm::make(Type::i32(), v); };
  auto u32k = [](int64_t v) { return IntImm::make(Type::u32(), v); };
  auto u8k = [](int64_t v) { return IntImm::make(Type::u8(), v); };
  const Expr float_var = var("float", Type::i32());
  const Expr shadow = var("i");  // the inner `i` below
  std::vector<Stmt> stores = {
      Store::make("o.i32", i * 5 + 0, a / d + (a % d) * i32c(3)),
      Store::make("o.i32", i * 5 + 1, min(a, d) - max(a, d)),
      Store::make("o.i32", i * 5 + 2, bit_xor(a >> i32c(3), (a & i32c(0xff)) << i32c(2)) | (d & i32_7)),
      Store::make("o.i32", i * 5 + 3, select(a < d, a, d) + convert(Type::i32(), c >> u32k(28)) + float_var),
      Store::make("o.i32", i * 5 + 4, convert(Type::i32(), convert(Type::i16(), a) * IntImm::make(Type::i16(), 3))),
      Store::make("o.u32", i * 3 + 0, (c >> u32k(5)) + c * golden_ratio),
      Store::make("o.u32", i * 3 + 1, reinterpret(Type::u32(), convert(Type::f32(), a))),
      Store::make("o.u32", i * 3 + 2, bit_xor(c, c << u32k(7))),
      Store::make("o.u8", i * 2 + 0, bytes + u8k(200)),
      Store::make("o.u8", i * 2 + 1, (bytes * u8k(3)) >> u8k(2)),
      Store::make("o.i64", i * 2 + 0, convert(Type::i64(), a) * convert(Type::i64(), d) + convert(Type::i64(), c)),
      Store::make("o.i64", i * 2 + 1, (convert(Type::i64(), c) << 20) / 3 - convert(Type::i64(), c) % 1000),
      Store::make("o.f32", i * 2 + 0, convert(Type::f32(), a) / 7.0 + convert(Type::f32(), c)),
      Store::make("o.f32", i * 2 + 1,
                  reinterpret(Type::f32(), u32k(0x3f800000) | (c & u32k(0x7fffff)))),
      Store::make("flags", i, ((a < d) && !(c > u32k(1000))) || (bytes == u8k(7))),
  };
  // let float = a & 15 in (let i = i + 0 in stores): `float` must be renamed, and the inner `i`
  // must not capture itself.
  const Stmt inner = LetStmt::make("float", a & i32c(15), LetStmt::make("i", shadow + 0, Block::make(stores)));
  const Expr groups = (n + 31) / 32;
  Kernel k;
  k.name = "blk.0.integers";
  k.buffers = {{"a.in", Type::i32()},  {"b.in", Type::i32()},         {"c", Type::u32()},
               {"bytes", Type::u8()},  {"o.i32", Type::i32(), true},  {"o.u32", Type::u32(), true},
               {"o.u8", Type::u8(), true}, {"o.i64", Type::i64(), true}, {"o.f32", Type::f32(), true},
               {"flags", Type::boolean(), true}};
  k.size_params = {"n"};
  k.body = For::make("b", 0, groups, ForKind::GpuBlock,
                     For::make("t", 0, 32, ForKind::GpuThread,
                               LetStmt::make("i", b * 32 + t, IfThenElse::make(i < n, inner))));
  k.grid = {groups};
  k.block = {Expr(32)};
  return k;
}

// F16BitsToF32 (scalar and 8 lanes), f16 buffers (vload_half / vstore_half), and the
// transcendental intrinsics.
Kernel math_kernel() {
  const Expr n = var("n"), g = var("g");
  const Expr x = f32_load("x", g);
  const Expr h = Load::make(Type::u16(), "h", g);
  const Type f16 = Type::f16();
  std::vector<Expr> math = {
      call(Intrinsic::Exp, {x}),          call(Intrinsic::Log, {x}),
      call(Intrinsic::Sqrt, {x}),         call(Intrinsic::Rsqrt, {x}),
      call(Intrinsic::Tanh, {x - 2.0}),   call(Intrinsic::Erf, {x - 2.0}),
      call(Intrinsic::Sin, {x * 3.0}),    call(Intrinsic::Cos, {x * 3.0}),
      call(Intrinsic::Pow, {x, f32(1.7)}), call(Intrinsic::Abs, {f32(2.0) - x}),
      call(Intrinsic::Floor, {x * 3.0}),
  };
  std::vector<Stmt> stores = {
      Store::make("half_bits", g, call(Intrinsic::F16BitsToF32, {h})),
      Store::make("out16", g, convert(f16, convert(Type::f32(), Load::make(f16, "in16", g)) * 2.0)),
  };
  for (size_t m = 0; m < math.size(); ++m) {
    stores.push_back(Store::make("math", g * static_cast<int64_t>(math.size()) + static_cast<int64_t>(m), math[m]));
  }
  // Eight lanes from the same inputs, for the groups that fit.
  const Expr dense = ramp(g * 8, 1, 8);
  stores.push_back(IfThenElse::make(
      g * 8 + 8 <= n,
      Block::make({Store::make("half_bits8", dense, call(Intrinsic::F16BitsToF32, {Load::make(Type::u16(), "h", dense)})),
                   Store::make("out16x8", dense,
                               convert(f16, convert(Type::f32(), Load::make(f16, "in16", dense)) + 1.0))})));
  Kernel k;
  k.name = "math";
  k.buffers = {{"x", Type::f32()},
               {"h", Type::u16()},
               {"in16", f16},
               {"half_bits", Type::f32(), true},
               {"half_bits8", Type::f32(), true},
               {"out16", f16, true},
               {"out16x8", f16, true},
               {"math", Type::f32(), true}};
  k.size_params = {"n"};
  k.body = For::make("g", 0, n, ForKind::GpuBlock, Block::make(stores));
  k.grid = {n};
  k.block = {Expr(1)};
  return k;
}

// Eight lanes per work-item on narrow and bool vectors: a bool-vector load, vector Not, casts
// between bools and numbers, u8 vectors that wrap without C's promotion, integer abs and
// reductions; a __local tile written densely and gathered reversed, a private array scattered
// and loaded densely; a serial loop with a non-zero start and an else-if chain, run in a
// Parallel loop (serial on a work-item).
Kernel masks_kernel() {
  const Expr n = var("n"), g = var("g"), j = var("j");
  const Type b8 = Type::boolean().with_lanes(8), i8x = Type::i32().with_lanes(8), u8x = Type::u8().with_lanes(8);
  const Expr fl = var("fl", b8), bx = var("bx", u8x), iv = var("iv", i8x);
  const Expr dense = ramp(g * 8, 1, 8), forward = ramp(Expr(0), 1, 8), backward = ramp(Expr(7), -1, 8);
  auto u8k = [](int64_t v) { return IntImm::make(Type::u8(), v); };
  const Stmt chain = For::make(
      "j", 2, 3, ForKind::Serial,
      IfThenElse::make(j == 2, Store::make("chain", g * 3 + j - 2, IntImm::make(Type::i32(), 10)),
                       IfThenElse::make(j == 3, Store::make("chain", g * 3 + j - 2, IntImm::make(Type::i32(), 20)),
                                        Store::make("chain", g * 3 + j - 2, IntImm::make(Type::i32(), 30)))));
  const Stmt body = Block::make({
      Store::make("out_i32", dense, select(!fl, call(Intrinsic::Abs, {iv}), -iv) + convert(Type::i32(), fl)),
      Store::make("out_u8", dense, max((bx * u8k(3) + u8k(7)) >> u8k(1), u8k(100))),
      Store::make("out_b", dense, convert(Type::boolean(), iv) != (fl || (convert(Type::f32(), iv) > 0.0))),
      Store::make("red", g, call(Intrinsic::ReduceAdd, {convert(Type::i32(), bx)}) + call(Intrinsic::ReduceMax, {iv}) +
                                 call(Intrinsic::ReduceMin, {iv})),
      Allocate::make("tile", Type::f32(), 8, MemoryScope::Shared,
                     Block::make({Store::make("tile", forward, convert(Type::f32(), iv)), Barrier::make(),
                                  Store::make("out_f", dense, Load::make(Type::f32(), "tile", backward))})),
      Allocate::make("priv", Type::i32(), 8, MemoryScope::Local,
                     Block::make({Store::make("priv", backward, iv),
                                  Store::make("out_priv", dense, Load::make(Type::i32(), "priv", forward))})),
      chain,
  });
  Kernel k;
  k.name = "masks";
  k.buffers = {{"flags_in", Type::boolean()}, {"bytes", Type::u8()},           {"ints", Type::i32()},
               {"out_i32", Type::i32(), true}, {"out_u8", Type::u8(), true},   {"out_b", Type::boolean(), true},
               {"red", Type::i32(), true},     {"out_f", Type::f32(), true},   {"out_priv", Type::i32(), true},
               {"chain", Type::i32(), true}};
  k.size_params = {"n"};
  k.body = For::make(
      "g", 0, n, ForKind::GpuBlock,
      LetStmt::make("fl", Load::make(Type::boolean(), "flags_in", dense),
                    LetStmt::make("bx", Load::make(Type::u8(), "bytes", dense),
                                  LetStmt::make("iv", Load::make(Type::i32(), "ints", dense), body))));
  k.grid = {n};
  k.block = {Expr(1)};
  return k;
}

// out[c * rows + r] = in[r * cols + c] on a 2-D launch: 8 x 2 work-items per group, groups
// over column tiles (x) and row pairs (y).
Kernel transpose_kernel() {
  const Expr rows = var("rows"), cols = var("cols"), bx = var("bx"), by = var("by"), tx = var("tx"), ty = var("ty"),
             r = var("r"), c = var("c");
  const Expr col_tiles = (cols + 7) / 8, row_pairs = (rows + 1) / 2;
  Kernel k;
  k.name = "transpose";
  k.buffers = {{"in", Type::f32()}, {"out", Type::f32(), true}};
  k.size_params = {"rows", "cols"};
  k.body = For::make(
      "by", 0, row_pairs, ForKind::GpuBlock,
      For::make("bx", 0, col_tiles, ForKind::GpuBlock,
                For::make("ty", 0, 2, ForKind::GpuThread,
                          For::make("tx", 0, 8, ForKind::GpuThread,
                                    LetStmt::make("r", by * 2 + ty,
                                                  LetStmt::make("c", bx * 8 + tx,
                                                                IfThenElse::make((r < rows) && (c < cols),
                                                                                 Store::make("out", c * rows + r,
                                                                                             f32_load("in", r * cols + c))))),
                                    0),
                          1),
                0),
      1);
  k.grid = {col_tiles, row_pairs};
  k.block = {Expr(8), Expr(2)};
  return k;
}

// --- runs on the device ------------------------------------------------------------------------

TEST_F(OpenCLTest, Elementwise) {
  const auto kernel = load(elementwise_kernel());
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n) + ", " + trace());
    const auto x = uniform(n, -3, 3), y = uniform(n, -3, 3);
    const auto out = run(*device_, *kernel, {bytes_of(x), bytes_of(y), poisoned<float>(n)}, {n});
    const auto got = values_of<float>(out[2]);
    for (int64_t i = 0; i < n; ++i) {
      const double want = elementwise_reference(x[i], y[i]);
      ASSERT_TRUE(close(got[i], want, 1e-5, 1e-5)) << "i = " << i << ": got " << got[i] << ", want " << want;
    }
  }
}

TEST_F(OpenCLTest, RowSumWithSharedMemoryAndBarriers) {
  const auto kernel = load(row_sum_kernel());
  EXPECT_NE(source().find("__local float partial[64];"), std::string::npos) << source();
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1}, {3, 3}, {2, 64}, {4, 257}, {3, 1031}, {1, 4096}};
  for (auto [rows, cols] : shapes) {
    SCOPED_TRACE("rows = " + std::to_string(rows) + ", cols = " + std::to_string(cols) + ", " + trace());
    const auto x = uniform(rows * cols, -1, 1);
    const auto out = run(*device_, *kernel, {bytes_of(x), poisoned<float>(rows)}, {rows, cols});
    const auto got = values_of<float>(out[1]);
    for (int64_t r = 0; r < rows; ++r) {
      double want = 0;
      for (int64_t j = 0; j < cols; ++j) want += x[r * cols + j];
      ASSERT_TRUE(close(got[r], want, 1e-5, 1e-4 * std::sqrt(static_cast<double>(cols))))
          << "row " << r << ": got " << got[r] << ", want " << want;
    }
  }
}

TEST_F(OpenCLTest, VectorsRampBroadcastSelectReduce) {
  const auto kernel = load(vector_kernel());
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n) + ", " + trace());
    const auto x = uniform(4 * n, -2, 2);
    const auto out = run(*device_, *kernel,
                         {bytes_of(x), poisoned<float>(4 * n), poisoned<float>(4 * n), poisoned<float>(n),
                          poisoned<float>(4 * n), poisoned<int32_t>(4 * n), poisoned<int64_t>(4 * n),
                          poisoned<uint8_t>(4 * n)},
                         {n});
    const auto o = values_of<float>(out[1]), rev = values_of<float>(out[2]), sums = values_of<float>(out[3]),
               mixed = values_of<float>(out[4]);
    const auto idx = values_of<int32_t>(out[5]);
    const auto wide = values_of<int64_t>(out[6]);
    const auto flags = out[7];
    for (int64_t g = 0; g < n; ++g) {
      double vsum = 0, vmin = INFINITY, wmax = -INFINITY;
      for (int l = 0; l < 4; ++l) {
        const int64_t e = g * 4 + l, er = g * 4 + 3 - l;
        const double v = x[e], w = x[er];
        vsum += v;
        vmin = std::min(vmin, v);
        wmax = std::max(wmax, w);
        const bool m = v < w;
        ASSERT_TRUE(close(o[e], v > 0 ? v * w : v + 1.5, 1e-6, 1e-6)) << "out[" << e << "] = " << o[e];
        ASSERT_TRUE(close(rev[er], v * static_cast<double>(g), 1e-6, 1e-6)) << "rev[" << er << "] = " << rev[er];
        ASSERT_EQ(mixed[e], m ? x[e] : x[er]) << "mixed[" << e << "]";
        ASSERT_EQ(idx[e], m ? e * 3 : er - 7) << "idx[" << e << "]";
        ASSERT_EQ(wide[e], m ? e : -1) << "wide[" << e << "]";
        ASSERT_EQ(flags[e], (m && v > -0.5) ? 1 : 0) << "flags[" << e << "]";
      }
      ASSERT_TRUE(close(sums[g], vsum + wmax - vmin, 1e-5, 1e-5)) << "sums[" << g << "] = " << sums[g];
    }
  }
}

TEST_F(OpenCLTest, EveryVectorWidth) {
  for (int lanes : {2, 3, 4, 8, 16}) {
    const auto kernel = load(lanes_kernel(lanes));
    EXPECT_NE(source().find("vload" + std::to_string(lanes) + "("), std::string::npos) << source();
    EXPECT_NE(source().find("vstore" + std::to_string(lanes) + "("), std::string::npos) << source();
    for (int64_t n : kSizes) {
      SCOPED_TRACE("lanes = " + std::to_string(lanes) + ", n = " + std::to_string(n) + ", " + trace());
      const auto in = uniform(lanes * n, -10, 10);
      const auto out = run(*device_, *kernel, {bytes_of(in), poisoned<float>(lanes * n)}, {n});
      const auto got = values_of<float>(out[1]);
      for (int64_t e = 0; e < lanes * n; ++e) {
        ASSERT_EQ(got[e], in[e] * 2.0f + static_cast<float>(e / lanes)) << "element " << e;
      }
    }
  }
}

TEST_F(OpenCLTest, IntegerOpsCastsSelect) {
  const auto kernel = load(integer_kernel());
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n) + ", " + trace());
    auto a = integers<int32_t>(n, -1000000, 1000000), d = integers<int32_t>(n, -5000, 5000);
    for (int32_t& v : d) v = v == 0 ? 1 : v;
    const auto c = integers<uint32_t>(n, 0, 0xffffffffLL);
    auto bytes = integers<uint8_t>(n, 0, 255);
    if (n > 2) bytes[1] = 7;
    const auto out = run(*device_, *kernel,
                         {bytes_of(a), bytes_of(d), bytes_of(c), bytes_of(bytes), poisoned<int32_t>(5 * n),
                          poisoned<uint32_t>(3 * n), poisoned<uint8_t>(2 * n), poisoned<int64_t>(2 * n),
                          poisoned<float>(2 * n), poisoned<uint8_t>(n)},
                         {n});
    const auto oi = values_of<int32_t>(out[4]);
    const auto ou = values_of<uint32_t>(out[5]);
    const auto ob = out[6];
    const auto ol = values_of<int64_t>(out[7]);
    const auto of = values_of<float>(out[8]);
    const auto flags = out[9];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t A = a[i], D = d[i], C = c[i], B = bytes[i];
      const int64_t float_var = A & 15;
      ASSERT_EQ(oi[i * 5 + 0], A / D + (A % D) * 3) << i;
      ASSERT_EQ(oi[i * 5 + 1], std::min(A, D) - std::max(A, D)) << i;
      ASSERT_EQ(oi[i * 5 + 2], ((A >> 3) ^ ((A & 0xff) << 2)) | (D & 7)) << i;
      ASSERT_EQ(oi[i * 5 + 3], (A < D ? A : D) + (C >> 28) + float_var) << i;
      ASSERT_EQ(oi[i * 5 + 4], static_cast<int16_t>(static_cast<int16_t>(A) * 3)) << i;
      ASSERT_EQ(ou[i * 3 + 0], static_cast<uint32_t>((C >> 5) + c[i] * 2654435761u)) << i;
      ASSERT_EQ(ou[i * 3 + 1], float_to_bits(static_cast<float>(A))) << i;
      ASSERT_EQ(ou[i * 3 + 2], static_cast<uint32_t>(C ^ (C << 7))) << i;
      ASSERT_EQ(ob[i * 2 + 0], static_cast<uint8_t>(B + 200)) << i;
      ASSERT_EQ(ob[i * 2 + 1], static_cast<uint8_t>(static_cast<uint8_t>(B * 3) >> 2)) << i;
      ASSERT_EQ(ol[i * 2 + 0], A * D + C) << i;
      ASSERT_EQ(ol[i * 2 + 1], (C << 20) / 3 - C % 1000) << i;
      const double want_f = static_cast<double>(static_cast<float>(A)) / 7.0 + static_cast<double>(static_cast<float>(C));
      ASSERT_TRUE(close(of[i * 2 + 0], want_f, 1e-6, 0)) << i << ": got " << of[i * 2 + 0] << ", want " << want_f;
      ASSERT_EQ(float_to_bits(of[i * 2 + 1]), 0x3f800000u | (C & 0x7fffff)) << i;
      ASSERT_EQ(flags[i], ((A < D && !(C > 1000)) || B == 7) ? 1 : 0) << i;
    }
  }
}

TEST_F(OpenCLTest, HalfBitsHalfBuffersAndIntrinsics) {
  const auto kernel = load(math_kernel());
  const std::vector<uint16_t> special = {0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00,
                                         0xbc00, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xffff};
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n) + ", " + trace());
    const auto x = uniform(n, 0.1f, 4.0f);
    auto h = integers<uint16_t>(n, 0, 0xffff);
    for (size_t i = 0; i < special.size() && i < h.size(); ++i) h[i] = special[i];
    std::vector<uint16_t> in16(n);
    for (int64_t i = 0; i < n; ++i) in16[i] = f32_to_f16(uniform(1, -100, 100)[0]);
    const int64_t math_count = 11;
    const auto out = run(*device_, *kernel,
                         {bytes_of(x), bytes_of(h), bytes_of(in16), poisoned<float>(n), poisoned<float>(n),
                          poisoned<uint16_t>(n), poisoned<uint16_t>(n), poisoned<float>(math_count * n)},
                         {n});
    const auto half_bits = values_of<float>(out[3]), half_bits8 = values_of<float>(out[4]);
    const auto out16 = values_of<uint16_t>(out[5]), out16x8 = values_of<uint16_t>(out[6]);
    const auto math = values_of<float>(out[7]);
    const int64_t vector_elements = n / 8 * 8;
    for (int64_t i = 0; i < n; ++i) {
      const float want_half = f16_to_f32(h[i]);
      if (std::isnan(want_half)) {
        ASSERT_TRUE(std::isnan(half_bits[i])) << "h = " << h[i];
      } else {
        ASSERT_EQ(float_to_bits(half_bits[i]), float_to_bits(want_half)) << "h = 0x" << std::hex << h[i];
      }
      if (i < vector_elements) {
        if (std::isnan(want_half)) ASSERT_TRUE(std::isnan(half_bits8[i])) << "lane of h = " << h[i];
        else ASSERT_EQ(float_to_bits(half_bits8[i]), float_to_bits(want_half)) << "h = 0x" << std::hex << h[i];
        ASSERT_EQ(out16x8[i], f32_to_f16(f16_to_f32(in16[i]) + 1.0f)) << i;
      }
      ASSERT_EQ(out16[i], f32_to_f16(f16_to_f32(in16[i]) * 2.0f)) << i;
      const double v = x[i];
      const double want[] = {std::exp(v),           std::log(v),           std::sqrt(v),     1 / std::sqrt(v),
                             std::tanh(v - 2),      std::erf(v - 2),       std::sin(v * 3),  std::cos(v * 3),
                             std::pow(v, double{1.7f}), std::fabs(2 - v),  std::floor(v * 3)};
      for (int64_t m = 0; m < math_count; ++m) {
        ASSERT_TRUE(close(math[i * math_count + m], want[m], 4e-6, 1e-6))
            << "intrinsic " << m << " of " << v << ": got " << math[i * math_count + m] << ", want " << want[m];
      }
    }
  }
}

TEST_F(OpenCLTest, MasksNarrowVectorsLocalAndPrivateArrays) {
  const auto kernel = load(masks_kernel());
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n) + ", " + trace());
    const auto flags = integers<uint8_t>(8 * n, 0, 1);
    const auto bytes = integers<uint8_t>(8 * n, 0, 255);
    auto ints = integers<int32_t>(8 * n, -1000000, 1000000);
    for (int64_t e = 0; e < 8 * n; e += 5) ints[e] = 0;
    const auto out = run(*device_, *kernel,
                         {bytes_of(flags), bytes_of(bytes), bytes_of(ints), poisoned<int32_t>(8 * n),
                          poisoned<uint8_t>(8 * n), poisoned<uint8_t>(8 * n), poisoned<int32_t>(n),
                          poisoned<float>(8 * n), poisoned<int32_t>(8 * n), poisoned<int32_t>(3 * n)},
                         {n});
    const auto oi = values_of<int32_t>(out[3]);
    const auto& ou = out[4];
    const auto& ob = out[5];
    const auto red = values_of<int32_t>(out[6]);
    const auto of = values_of<float>(out[7]);
    const auto op = values_of<int32_t>(out[8]);
    const auto chain = values_of<int32_t>(out[9]);
    for (int64_t g = 0; g < n; ++g) {
      int64_t sum = 0, hi = std::numeric_limits<int64_t>::min(), lo = std::numeric_limits<int64_t>::max();
      for (int l = 0; l < 8; ++l) {
        const int64_t e = g * 8 + l, mirror = g * 8 + 7 - l;
        const bool f = flags[e] != 0;
        const int64_t v = ints[e];
        sum += bytes[e];
        hi = std::max(hi, v);
        lo = std::min(lo, v);
        ASSERT_EQ(oi[e], (!f ? std::abs(v) : -v) + (f ? 1 : 0)) << e;
        ASSERT_EQ(ou[e], std::max<uint8_t>(static_cast<uint8_t>(static_cast<uint8_t>(bytes[e] * 3 + 7) >> 1), 100)) << e;
        ASSERT_EQ(ob[e], ((v != 0) != (f || v > 0)) ? 1 : 0) << e;
        ASSERT_EQ(of[e], static_cast<float>(ints[mirror])) << e;
        ASSERT_EQ(op[e], ints[mirror]) << e;
      }
      ASSERT_EQ(red[g], sum + hi + lo) << g;
      ASSERT_EQ(chain[g * 3 + 0], 10) << g;
      ASSERT_EQ(chain[g * 3 + 1], 20) << g;
      ASSERT_EQ(chain[g * 3 + 2], 30) << g;
    }
  }
}

TEST_F(OpenCLTest, TwoDimensionalLaunch) {
  const auto kernel = load(transpose_kernel());
  EXPECT_NE(source().find("get_group_id(1)"), std::string::npos) << source();
  EXPECT_NE(source().find("get_local_id(1)"), std::string::npos) << source();
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1}, {3, 1}, {1, 64}, {3, 257}, {257, 3}, {33, 1031}};
  for (auto [rows, cols] : shapes) {
    SCOPED_TRACE("rows = " + std::to_string(rows) + ", cols = " + std::to_string(cols) + ", " + trace());
    const auto in = uniform(rows * cols, -1, 1);
    const auto out = run(*device_, *kernel, {bytes_of(in), poisoned<float>(rows * cols)}, {rows, cols});
    const auto got = values_of<float>(out[1]);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(got[c * rows + r], in[r * cols + c]) << r << ", " << c;
    }
  }
}

// A grid larger than the block loop's extent: the extra work-groups must do nothing.
TEST_F(OpenCLTest, BlockLoopGuardedWhenGridIsLarger) {
  Kernel k = elementwise_kernel();
  k.grid = {var("n")};  // n groups of 64 where (n + 63) / 64 would do
  const auto kernel = load(k);
  EXPECT_NE(source().find("if (b < (n + 63) / 64) {"), std::string::npos) << source();
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n) + ", " + trace());
    const auto x = uniform(n, -3, 3), y = uniform(n, -3, 3);
    const auto out = run(*device_, *kernel, {bytes_of(x), bytes_of(y), poisoned<float>(n)}, {n});
    const auto got = values_of<float>(out[2]);
    for (int64_t i = 0; i < n; ++i) ASSERT_TRUE(close(got[i], elementwise_reference(x[i], y[i]), 1e-5, 1e-5)) << i;
  }
}

TEST_F(OpenCLTest, BuildErrorIsUserErrorWithLog) {
  CompiledKernel broken = codegen::compile_opencl(lanes_kernel(4));
  std::get<codegen::OpenCLCode>(broken.code).source = "__kernel void lanes4(__global float* x) { y[0] = 1; }";
  try {
    device_->load(broken);
    FAIL() << "a kernel that does not compile loaded";
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("clBuildProgram"), std::string::npos) << message;
    EXPECT_NE(message.find("build log"), std::string::npos) << message;
    EXPECT_NE(message.find("y"), std::string::npos) << message;
  }
}

TEST_F(OpenCLTest, CpuCodeIsRefused) {
  CompiledKernel cpu;
  cpu.signature.name = "cpu_kernel";
  cpu.code = codegen::CpuCode{};
  EXPECT_THROW(device_->load(cpu), UserError);
}

TEST_F(OpenCLTest, EmptyLaunchDoesNothing) {
  const auto kernel = load(elementwise_kernel());
  const auto out = run(*device_, *kernel, {poisoned<float>(1), poisoned<float>(1), poisoned<float>(1)}, {0});
  EXPECT_EQ(out[2], poisoned<float>(1));
}

// --- the disk cache of program binaries ------------------------------------------------------

// The change in the counters since `before`.
runtime::OpenCLProgramStats since(const runtime::OpenCLProgramStats& before) {
  const runtime::OpenCLProgramStats now = runtime::opencl_program_stats();
  return {now.source_builds - before.source_builds, now.binary_loads - before.binary_loads,
          now.binary_rejects - before.binary_rejects};
}

class OpenCLProgramCache : public OpenCLTest {
 protected:
  // A device of its own (no programs in memory), the kernel loaded on it, and the kernel
  // checked at a few sizes.
  void load_and_check() {
    auto fresh = runtime::open_opencl_device(0);
    compiled_ = codegen::compile_opencl(elementwise_kernel());
    const auto kernel = fresh->load(compiled_);
    for (int64_t n : {int64_t{1}, int64_t{257}}) {
      SCOPED_TRACE("n = " + std::to_string(n) + ", " + trace());
      const auto x = uniform(n, -3, 3), y = uniform(n, -3, 3);
      const auto got = values_of<float>(run(*fresh, *kernel, {bytes_of(x), bytes_of(y), poisoned<float>(n)}, {n})[2]);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_TRUE(close(got[i], elementwise_reference(x[i], y[i]), 1e-5, 1e-5)) << "i = " << i;
      }
    }
  }

  std::filesystem::path only_entry() const {
    const auto entries = cache_.entries(".clbin");
    EXPECT_EQ(entries.size(), 1u);
    return entries.empty() ? std::filesystem::path() : entries.front();
  }

  test::ScopedCacheDir cache_;
};

TEST_F(OpenCLProgramCache, SecondDeviceLoadsTheBinaryFromDisk) {
  auto before = runtime::opencl_program_stats();
  load_and_check();
  EXPECT_EQ(since(before).source_builds, 1);
  EXPECT_EQ(since(before).binary_loads, 0);
  only_entry();

  before = runtime::opencl_program_stats();
  load_and_check();
  EXPECT_EQ(since(before).source_builds, 0) << "built from source again";
  EXPECT_EQ(since(before).binary_loads, 1);
  EXPECT_EQ(since(before).binary_rejects, 0);
}

TEST_F(OpenCLProgramCache, OneDeviceBuildsEachSourceOnce) {
  auto fresh = runtime::open_opencl_device(0);
  const auto before = runtime::opencl_program_stats();
  const CompiledKernel kernel = codegen::compile_opencl(elementwise_kernel());
  const auto first = fresh->load(kernel);
  const auto second = fresh->load(kernel);
  EXPECT_EQ(since(before).source_builds + since(before).binary_loads, 1);
}

// A damaged entry is never handed to the driver: the program is built from source and the
// entry rewritten, so the next device loads it again.
TEST_F(OpenCLProgramCache, DamagedEntryIsBuiltFromSource) {
  load_and_check();
  const std::filesystem::path entry = only_entry();
  const std::vector<std::pair<std::string, std::function<std::string(const std::string&)>>> damages = {
      {"truncated to half", [](const std::string& bytes) { return bytes.substr(0, bytes.size() / 2); }},
      {"a byte in the middle flipped", [](const std::string& bytes) { return flip_byte(bytes, bytes.size() / 2); }},
      {"not a cache entry", [](const std::string&) { return std::string("not a program binary"); }},
  };
  for (const auto& [what, damage] : damages) {
    SCOPED_TRACE(what);
    test::write_bytes(entry, damage(test::read_bytes(entry)));
    auto before = runtime::opencl_program_stats();
    load_and_check();
    EXPECT_EQ(since(before).binary_rejects, 1);
    EXPECT_EQ(since(before).source_builds, 1);
    EXPECT_EQ(since(before).binary_loads, 0);

    before = runtime::opencl_program_stats();
    load_and_check();
    EXPECT_EQ(since(before).binary_loads, 1) << "the entry was rewritten whole";
  }
}

// A whole entry whose binary the driver refuses (another driver build wrote it, say): built
// from source, not an error.
TEST_F(OpenCLProgramCache, BinaryTheDriverRefusesIsBuiltFromSource) {
  load_and_check();
  const std::filesystem::path entry = only_entry();
  std::string bytes = test::read_bytes(entry);
  // The entry's layout (codegen/kernel_cache.cpp): 8 bytes of magic, the identity's size, the
  // payload's size and checksum (8 bytes each), the identity, the payload.
  ASSERT_GT(bytes.size(), 32u);
  uint64_t identity_bytes = 0;
  std::memcpy(&identity_bytes, bytes.data() + 8, sizeof identity_bytes);
  ASSERT_LE(identity_bytes, bytes.size() - 32);
  const std::string identity = bytes.substr(32, identity_bytes);
  codegen::write_cache_entry(cache_.path(), entry.filename().string(), identity, std::string(4096, '\x5a'));

  const auto before = runtime::opencl_program_stats();
  load_and_check();
  EXPECT_EQ(since(before).binary_rejects, 1);
  EXPECT_EQ(since(before).source_builds, 1);
}

// --- opening a device -------------------------------------------------------------------------

// A bad index names the devices there are. Without any OpenCL platform the suite is skipped;
// that error is checked by the CLI tests cli.device_opencl*_no_platform (tests/runtime).
TEST(OpenCLDevice, BadIndexIsUserError) {
  try {
    runtime::open_opencl_device(99);
    FAIL() << "device 99 opened";
  } catch (const UserError& e) {
    const std::string message = e.what();
    if (message.find("no OpenCL platform found") != std::string::npos) GTEST_SKIP() << message;
    EXPECT_NE(message.find("OpenCL device 99 does not exist; available: 0: "), std::string::npos) << message;
  }
}

// --- no device needed --------------------------------------------------------------------------

// IR before/after: the whole text for a small 2-D kernel.
TEST(OpenCLCodegen, TransposeSource) {
  const codegen::OpenCLCode code = codegen::emit_opencl(transpose_kernel());
  EXPECT_EQ(code.function_name, "transpose");
  EXPECT_EQ(code.source, R"(// Generated by kiln from kernel `transpose`.

__kernel __attribute__((reqd_work_group_size(8, 2, 1)))
void transpose(__global const float* restrict in,
               __global float* restrict out,
               const long rows,
               const long cols) {
  const long by = (long)get_group_id(1);
  const long bx = (long)get_group_id(0);
  const long ty = (long)get_local_id(1);
  const long tx = (long)get_local_id(0);
  const long r = by * 2 + ty;
  const long c = bx * 8 + tx;
  if (r < rows && c < cols) {
    out[c * rows + r] = in[r * cols + c];
  }
}
)");
}

TEST(OpenCLCodegen, GpuLoopsBecomeWorkItemIds) {
  const std::string src = codegen::emit_opencl(elementwise_kernel()).source;
  EXPECT_NE(src.find("const long b = (long)get_group_id(0);"), std::string::npos) << src;
  EXPECT_NE(src.find("const long t = (long)get_local_id(0);"), std::string::npos) << src;
  EXPECT_NE(src.find("if (i < n) {"), std::string::npos) << src;
  EXPECT_EQ(src.find("for ("), std::string::npos) << src;  // the launch iterates, not a loop
  EXPECT_NE(src.find("reqd_work_group_size(64, 1, 1)"), std::string::npos) << src;
  EXPECT_NE(src.find("__global const float* restrict x"), std::string::npos) << src;
  EXPECT_NE(src.find("__global float* restrict out"), std::string::npos) << src;
}

TEST(OpenCLCodegen, SharedMemoryIsHoistedAndBarriersKept) {
  const std::string src = codegen::emit_opencl(row_sum_kernel()).source;
  const size_t local = src.find("__local float partial[64];");
  ASSERT_NE(local, std::string::npos) << src;
  EXPECT_LT(local, src.find("get_group_id")) << src;
  EXPECT_NE(src.find("barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);"), std::string::npos) << src;
  EXPECT_NE(src.find("#pragma unroll"), std::string::npos) << src;
  EXPECT_NE(src.find("float acc[1];"), std::string::npos) << src;
}

TEST(OpenCLCodegen, NamesAreSanitizedAndShadowingRenamed) {
  const codegen::OpenCLCode code = codegen::emit_opencl(integer_kernel());
  EXPECT_EQ(code.function_name, "blk_0_integers");
  EXPECT_NE(code.source.find("a_in"), std::string::npos) << code.source;
  EXPECT_NE(code.source.find("const int v_float = "), std::string::npos) << code.source;
  EXPECT_NE(code.source.find("const long i_1 = i + 0"), std::string::npos) << code.source;
}

TEST(OpenCLCodegen, LaunchShapeFromGridAndBlock) {
  const CompiledKernel compiled = codegen::compile_opencl(elementwise_kernel());
  std::array<int64_t, 3> grid{}, block{};
  const int64_t n = 1000;
  compiled.launch_shape(&n, grid, block);
  EXPECT_EQ(grid, (std::array<int64_t, 3>{16, 1, 1}));
  EXPECT_EQ(block, (std::array<int64_t, 3>{64, 1, 1}));
  EXPECT_EQ(compiled.signature.buffers, (std::vector<std::string>{"x", "y", "out"}));
  EXPECT_EQ(compiled.signature.buffer_is_output, (std::vector<bool>{false, false, true}));
}

// Must-fail: what OpenCL cannot express is refused at code generation, naming the node.
TEST(OpenCLCodegen, RefusesGlobalAllocation) {
  Kernel k = lanes_kernel(4);
  k.body = Allocate::make("scratch", Type::f32(), var("n"), MemoryScope::Global, k.body);
  EXPECT_THROW(codegen::emit_opencl(k), InternalError);
}

TEST(OpenCLCodegen, RefusesFiveLaneVectors) {
  EXPECT_THROW(codegen::emit_opencl(lanes_kernel(5)), InternalError);
}

TEST(OpenCLCodegen, RefusesThreadLoopWithBarrierSmallerThanWorkGroup) {
  Kernel k = row_sum_kernel();
  k.block = {Expr(128)};  // the thread loop covers only 64 of 128 work-items
  EXPECT_THROW(codegen::emit_opencl(k), InternalError);
}

}  // namespace
}  // namespace kiln
