// GraphProgram runs each op that has a compute definition: cast, permute, concat, a slice
// along an inner axis, the reductions, softmax with a mask. Each graph runs on the CPU at two
// values of its symbol, against values computed here with plain loops.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "base/half.h"
#include "compiler/graph_program.h"
#include "graph/builder.h"
#include "graph/ops.h"
#include "runtime/device.h"

namespace kiln::compiler {
namespace {

using graph::GraphBuilder;
using graph::sym;
using graph::ValueId;

template <typename T>
std::vector<uint8_t> bytes_of(const std::vector<T>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

template <typename T>
std::vector<T> values_of(const std::vector<uint8_t>& bytes) {
  std::vector<T> values(bytes.size() / sizeof(T));
  std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

// Runs the graph's one output at symbol n = `n`, whose result has `out_bytes` bytes.
std::vector<uint8_t> run(const graph::Graph& g, const std::map<std::string, std::vector<uint8_t>>& inputs, int64_t n,
                         size_t out_bytes) {
  GraphProgram program(g, host_cpu_target());
  auto device = runtime::open_device("cpu", 2);
  std::map<std::string, runtime::Buffer> buffers;
  std::map<std::string, runtime::Buffer*> leaves;
  for (const auto& [name, bytes] : inputs) {
    buffers[name] = device->allocate(bytes.size());
    device->write(buffers[name], bytes.data(), bytes.size());
    leaves[name] = &buffers[name];
  }
  runtime::Buffer out = device->allocate(out_bytes);
  const std::vector<uint8_t> poison(out_bytes, 0xff);
  device->write(out, poison.data(), out_bytes);
  program.run(*device, leaves, {{"n", n}}, {&out});
  std::vector<uint8_t> result(out_bytes);
  device->read(result.data(), out, out_bytes);
  device->release(out);
  for (auto& [name, b] : buffers) device->release(b);
  return result;
}

// x[i, j] = i % 16 - j / 4: exact in f16, falling along each row.
std::vector<float> ramp(int64_t rows, int64_t cols) {
  std::vector<float> x(rows * cols);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) x[i * cols + j] = static_cast<float>(i % 16) - 0.25f * static_cast<float>(j);
  }
  return x;
}

TEST(GraphProgramOps, CastToF16AndBack) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {sym("n"), 3});
  b.output(b.cast(b.cast(x, DType::f16), DType::f32));
  const graph::Graph g = b.finish();
  for (const int64_t n : {1, 5}) {
    std::vector<float> v = ramp(n, 3);
    v[0] = 1.0f + 1.0f / 4096;  // rounds to 1 in f16
    std::vector<float> want = v;
    want[0] = 1.0f;
    EXPECT_EQ(values_of<float>(run(g, {{"x", bytes_of(v)}}, n, v.size() * 4)), want);
  }
}

TEST(GraphProgramOps, Permute) {
  GraphBuilder b;
  b.output(b.permute(b.input("x", DType::f32, {sym("n"), 3}), {1, 0}));
  const graph::Graph g = b.finish();
  for (const int64_t n : {1, 5}) {
    const std::vector<float> x = ramp(n, 3);
    std::vector<float> want(x.size());
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < 3; ++j) want[j * n + i] = x[i * 3 + j];
    }
    EXPECT_EQ(values_of<float>(run(g, {{"x", bytes_of(x)}}, n, x.size() * 4)), want);
  }
}

TEST(GraphProgramOps, ConcatAlongTheLastAxis) {
  GraphBuilder b;
  b.output(b.concat({b.input("a", DType::i32, {sym("n"), 2}), b.input("b", DType::i32, {sym("n"), 3})}, -1));
  const graph::Graph g = b.finish();
  for (const int64_t n : {1, 4}) {
    std::vector<int32_t> a(n * 2), bv(n * 3), want;
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<int32_t>(i) + 100;
    for (size_t i = 0; i < bv.size(); ++i) bv[i] = -static_cast<int32_t>(i);
    for (int64_t r = 0; r < n; ++r) {
      want.insert(want.end(), a.begin() + r * 2, a.begin() + r * 2 + 2);
      want.insert(want.end(), bv.begin() + r * 3, bv.begin() + r * 3 + 3);
    }
    EXPECT_EQ(values_of<int32_t>(run(g, {{"a", bytes_of(a)}, {"b", bytes_of(bv)}}, n, want.size() * 4)), want);
  }
}

TEST(GraphProgramOps, SliceAlongAnInnerAxis) {
  GraphBuilder b;
  b.output(b.slice(b.input("x", DType::f32, {sym("n"), 6}), 1, 2, 3));
  const graph::Graph g = b.finish();
  for (const int64_t n : {1, 5}) {
    const std::vector<float> x = ramp(n, 6);
    std::vector<float> want;
    for (int64_t i = 0; i < n; ++i) want.insert(want.end(), x.begin() + i * 6 + 2, x.begin() + i * 6 + 5);
    EXPECT_EQ(values_of<float>(run(g, {{"x", bytes_of(x)}}, n, want.size() * 4)), want);
  }
}

TEST(GraphProgramOps, Reductions) {
  for (const graph::OpKind op : {graph::OpKind::sum, graph::OpKind::max, graph::OpKind::mean, graph::OpKind::argmax}) {
    GraphBuilder b;
    b.output(b.op(op, {b.input("x", DType::f32, {sym("n"), 4})}));
    const graph::Graph g = b.finish();
    for (const int64_t n : {1, 3}) {
      const std::vector<float> x = ramp(n, 4);  // each row falls: its maximum is its first
      const std::vector<uint8_t> got = run(g, {{"x", bytes_of(x)}}, n, n * 4);
      for (int64_t i = 0; i < n; ++i) {
        const double first = x[i * 4], total = 4 * first - 0.25 * 6;
        if (op == graph::OpKind::argmax) {
          EXPECT_EQ(values_of<int32_t>(got)[i], 0);
        } else {
          const double want = op == graph::OpKind::sum ? total : op == graph::OpKind::max ? first : total / 4;
          EXPECT_EQ(values_of<float>(got)[i], want) << graph::op_name(op) << " row " << i;
        }
      }
    }
  }
}

TEST(GraphProgramOps, SoftmaxWithAnF16Mask) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {sym("n"), 4});
  b.output(b.softmax(x, 0.5, b.input("mask", DType::f16, {sym("n"), 4})));
  const graph::Graph g = b.finish();
  for (const int64_t n : {1, 3}) {
    const std::vector<float> v = ramp(n, 4);
    std::vector<uint16_t> mask(v.size());
    for (size_t i = 0; i < mask.size(); ++i) {
      mask[i] = f32_to_f16(i % 4 == 2 ? -std::numeric_limits<float>::infinity() : (i % 4 == 3 ? -1.0f : 0.0f));
    }
    const std::vector<float> got = values_of<float>(run(g, {{"x", bytes_of(v)}, {"mask", bytes_of(mask)}}, n, v.size() * 4));
    for (int64_t i = 0; i < n; ++i) {
      double logits[4], total = 0;
      for (int j = 0; j < 4; ++j) {
        logits[j] = 0.5 * v[i * 4 + j] + (j == 2 ? -INFINITY : j == 3 ? -1.0 : 0.0);
        total += std::exp(logits[j]);
      }
      for (int j = 0; j < 4; ++j) EXPECT_NEAR(got[i * 4 + j], std::exp(logits[j]) / total, 1e-6) << i << ", " << j;
    }
  }
}

// A matmul whose reduction the graph fixes (k = 64) walks it in unrolled vector tiles with
// accumulators of their own (rules.cpp); f32 and f16 weights, 1 to 9 rows.
TEST(GraphProgramOps, MatmulWithAKnownReduction) {
  for (const DType dtype : {DType::f32, DType::f16}) {
    GraphBuilder b;
    const ValueId x = b.input("x", DType::f32, {sym("n"), 64});
    b.output(b.matmul(x, b.weight("w", dtype, {24, 64})));
    const graph::Graph g = b.finish();
    // w[j, r] = (j - r / 8) / 4 and x = ramp(): both exact in f16, every product and sum exact in f32.
    std::vector<float> w(24 * 64);
    for (int j = 0; j < 24; ++j) {
      for (int r = 0; r < 64; ++r) w[j * 64 + r] = 0.25f * static_cast<float>(j - r / 8);
    }
    std::vector<uint8_t> w_bytes;
    if (dtype == DType::f32) {
      w_bytes = bytes_of(w);
    } else {
      std::vector<uint16_t> halves;
      for (float v : w) halves.push_back(f32_to_f16(v));
      w_bytes = bytes_of(halves);
    }
    for (const int64_t n : {1, 5, 9}) {
      const std::vector<float> xs = ramp(n, 64);
      const std::vector<float> got =
          values_of<float>(run(g, {{"x", bytes_of(xs)}, {"w", w_bytes}}, n, n * 24 * sizeof(float)));
      for (int64_t i = 0; i < n; ++i) {
        for (int j = 0; j < 24; ++j) {
          double want = 0;
          for (int r = 0; r < 64; ++r) want += static_cast<double>(xs[i * 64 + r]) * w[j * 64 + r];
          EXPECT_EQ(got[i * 24 + j], want) << dtype_name(dtype) << " n=" << n << " out(" << i << ", " << j << ")";
        }
      }
    }
  }
}

}  // namespace
}  // namespace kiln::compiler
