// Compute definitions before any lowering: their printed form, dequant_expr.h's loads checked
// bit for bit against base/dequantize and the gguf package's goldens, and every op of the
// matrix (op_cases.h) evaluated by the test interpreter against the float64 references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "base/dequantize.h"
#include "base/half.h"
#include "kernel/compute/compute_def.h"
#include "kernel/compute/dequant_expr.h"
#include "kernel/compute/fuse.h"
#include "kernel/compute/ops.h"
#include "kernel/ir/printer.h"
#include "kernel/ir/visitor.h"
#include "ops/interpret.h"
#include "ops/op_cases.h"
#include "support/expect_error.h"

namespace kiln::test {
namespace {

using kernel::ComputeDef;
using kernel::TensorDecl;
namespace ops = kernel::ops;

// ---- Printed definitions -----------------------------------------------------------------

TEST(ComputeDefPrint, RmsNorm) {
  EXPECT_EQ(kernel::to_string(ops::rms_norm(1e-6)), R"(rms_norm(x: f32[rows, cols]) -> out: f32[rows, cols]
  ss(i < rows) = sum[k < cols] x(i, k) * x(i, k)
  out(i < rows, j < cols) = x(i, j) * rsqrt(ss(i) / f32(cols) + 1e-06f)
)");
}

TEST(ComputeDefPrint, MatmulOfQuantizedWeight) {
  EXPECT_EQ(kernel::to_string(ops::matmul(DType::q4_0)), R"(matmul_q4_0(x: f32[m, k], w: q4_0[n, k]) -> out: f32[m, n]
  k is a multiple of 32
  out(i < m, j < n) = sum[r < k] x(i, r) * w(j, r)
)");
}

// Element-wise consumers folded into a matmul's epilogue (kernel/compute/fuse.h): the sum is
// reduced once, then silu and the product with `up` apply to it.
TEST(ComputeDefPrint, FusedEpilogue) {
  auto silu = kernel::fuse_epilogue(ops::matmul(DType::q4_1), ops::unary(ops::Unary::Silu, 2), "x", "e1_");
  ASSERT_TRUE(silu.has_value());
  auto gated = kernel::fuse_epilogue(silu->def, ops::binary(ops::Binary::Mul, 2, {}), "a", "e2_");
  ASSERT_TRUE(gated.has_value());
  EXPECT_EQ(gated->tensor_names.at("b"), "e2_b");
  EXPECT_EQ(kernel::to_string(gated->def),
            R"(matmul_q4_1_silu_2d_mul_2d(x: f32[m, k], w: q4_1[n, k], e2_b: f32[m, n]) -> out: f32[m, n]
  k is a multiple of 32
  out(i < m, j < n) = sum[r < k] x(i, r) * w(j, r)
    then value -> value / (1.0f + exp(0.0f - value)) * e2_b(i, j)
)");
  // The consumer must read the producer at its own point: a transposed read does not fold.
  EXPECT_FALSE(kernel::fuse_epilogue(ops::matmul(DType::f32), ops::permute({1, 0}), "x", "e1_").has_value());
}

// Sizes the graph knows become constants of the definition (GraphProgram compiles them in).
TEST(ComputeDefPrint, SpecializedSizes) {
  const ComputeDef def = kernel::specialize_sizes(ops::matmul(DType::q4_1), {{"k", 576}, {"n", 192}});
  EXPECT_EQ(kernel::to_string(def), R"(matmul_q4_1(x: f32[m, 576], w: q4_1[192, 576]) -> out: f32[m, 192]
  out(i < m, j < 192) = sum[r < 576] x(i, r) * w(j, r)
)");
  EXPECT_EQ(def.size_params, std::vector<std::string>{"m"});
  expect_user_error([] { kernel::specialize_sizes(ops::matmul(DType::q4_1), {{"k", 100}}); },
                    {"size k = 100 is not a multiple of 32"});
}

TEST(ComputeDefPrint, Argmax) {
  EXPECT_EQ(kernel::to_string(ops::argmax()), R"(argmax(x: f32[rows, cols]) -> out: i32[rows, 1]
  mx(i < rows) = max[k < cols] x(i, k)
  out(i < rows, j < 1): i32 = min[k < cols] select(x(i, k) == mx(i), i32(k), i32(cols))
)");
}

TEST(ComputeDefPrint, SlidingWindowAttention) {
  EXPECT_EQ(kernel::to_string(ops::attention(0.125, 0, true, 4, DType::f16)),
            R"(attention_causal_window_f16(q: f32[t, h, d], k: f16[s, kh, d], v: f16[s, kh, d]) -> out: f32[t, h, d]
  score(a < t, b < h, c < s) = sum[r < d] q(a, b, r) * k(c, b / (h / kh), r)
    needed where c <= s - t + a && c > s - t + a - 4
  logit(a < t, b < h, c < s) = select(c <= s - t + a && c > s - t + a - 4, score(a, b, c) * 0.125f, f32(-inf))
  mx(a < t, b < h) = max[c < s] logit(a, b, c)
    needed where c <= s - t + a && c > s - t + a - 4
  l(a < t, b < h) = sum[c < s] exp(logit(a, b, c) - mx(a, b))
    needed where c <= s - t + a && c > s - t + a - 4
  p(a < t, b < h, c < s) = exp(logit(a, b, c) - mx(a, b)) / l(a, b)
    needed where c <= s - t + a && c > s - t + a - 4
  out(a < t, b < h, e < d) = sum[c < s] select(c <= s - t + a && c > s - t + a - 4, p(a, b, c), 0.0f) * v(c, b / (h / kh), e)
    needed where c <= s - t + a && c > s - t + a - 4
)");
}

TEST(ComputeDefPrint, ConcatClampsBothSides) {
  EXPECT_EQ(kernel::to_string(ops::concat(2, 1)), R"(concat_2d_axis1(a: f32[d0, a_len], b: f32[d0, b_len]) -> out: f32[d0, a_len + b_len]
  out(i0 < d0, i1 < a_len + b_len) = select(i1 < a_len, a(i0, min(i1, a_len - 1)), b(i0, max(i1 - a_len, 0)))
)");
}

// The dequantization lowering substitutes for `w(i, j)` of a q4_0 weight w[n, k].
TEST(LoadElementPrint, Q4_0) {
  const TensorDecl w{"w", DType::q4_0, {ir::var("n"), ir::var("k")}};
  EXPECT_EQ(ir::to_string(kernel::load_element(w, {ir::var("i"), ir::var("j")})),
            "f16_bits_to_f32(u16(w[(i * (k / 32) + j / 32) * 18]) | u16(w[(i * (k / 32) + j / 32) * 18 + 1]) << u16(8))"
            " * f32((i32(w[(i * (k / 32) + j / 32) * 18 + (2 + j % 32 % 16)]) >> i32(j % 32 / 16 * 4) & i32(15)) - i32(8))");
}

// ---- Structure ---------------------------------------------------------------------------

// Every variable of every shape and extent is a size parameter, every stage reads only inputs,
// earlier stages, its axes and the sizes, and every output has its stage.
void expect_closed(const ComputeDef& def) {
  struct Uses : ir::IRVisitor {
    std::set<std::string> vars, tensors;
    void visit(const ir::Var* op) override { vars.insert(op->name); }
    void visit(const ir::Access* op) override {
      tensors.insert(op->tensor);
      ir::IRVisitor::visit(op);
    }
  };
  const std::set<std::string> sizes(def.size_params.begin(), def.size_params.end());
  const auto expect_sizes_only = [&](const ir::Expr& e) {
    Uses uses;
    uses.walk(e);
    for (const std::string& v : uses.vars) EXPECT_TRUE(sizes.count(v)) << def.name << ": " << v << " in " << ir::to_string(e);
  };
  std::set<std::string> readable;
  for (const TensorDecl& t : def.inputs) {
    readable.insert(t.name);
    for (const ir::Expr& e : t.shape) expect_sizes_only(e);
  }
  for (const TensorDecl& t : def.outputs) {
    for (const ir::Expr& e : t.shape) expect_sizes_only(e);
    EXPECT_NE(kernel::find_stage(def, t.name), nullptr) << def.name << ": output " << t.name;
  }
  for (const kernel::Stage& s : def.stages) {
    for (const ir::Expr& e : s.extents) expect_sizes_only(e);
    for (const ir::Expr& e : s.reduce_extents) expect_sizes_only(e);
    Uses uses;
    uses.walk(s.body);
    for (const std::string& v : uses.vars) {
      const bool axis = std::count(s.axes.begin(), s.axes.end(), v) + std::count(s.reduce_axes.begin(), s.reduce_axes.end(), v);
      EXPECT_TRUE(axis || sizes.count(v)) << def.name << ": " << s.name << " uses " << v;
    }
    for (const std::string& t : uses.tensors) EXPECT_TRUE(readable.count(t)) << def.name << ": " << s.name << " reads " << t;
    EXPECT_EQ(s.reduce == kernel::ReduceKind::None, s.reduce_axes.empty()) << def.name << ": " << s.name;
    EXPECT_EQ(s.axes.size(), s.extents.size()) << def.name << ": " << s.name;
    EXPECT_EQ(s.reduce_axes.size(), s.reduce_extents.size()) << def.name << ": " << s.name;
    readable.insert(s.name);
  }
}

// ---- load_element and encode_element --------------------------------------------------------

// Each element of `bytes` (a [rows, cols] tensor of `dtype`), read through load_element by the
// interpreter, as f32.
std::vector<float> load_all(DType dtype, int64_t rows, int64_t cols, const std::vector<uint8_t>& bytes) {
  ComputeDef def;
  def.name = "load";
  def.inputs = {TensorDecl{"w", dtype, {ir::var("rows"), ir::var("cols")}}};
  def.outputs = {TensorDecl{"out", DType::f32, {ir::var("rows"), ir::var("cols")}}};
  kernel::Stage stage;
  stage.name = "out";
  stage.axes = {"i", "j"};
  stage.extents = {ir::var("rows"), ir::var("cols")};
  stage.body = ir::Access::make(ir::Type::f32(), "w", {ir::var("i"), ir::var("j")});
  def.stages = {stage};
  def.size_params = {"rows", "cols"};
  const auto out = interpret(def, {{"rows", rows}, {"cols", cols}}, {{"w", &bytes}});
  std::vector<float> values(rows * cols);
  std::memcpy(values.data(), out[0].data(), out[0].size());
  return values;
}

void expect_bitwise_equal(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i) {
    if (float_to_bits(got[i]) != float_to_bits(want[i])) {
      ADD_FAILURE() << what << " element " << i << ": " << got[i] << ", expected " << want[i];
      ++bad;
    }
  }
}

TEST(LoadElement, MatchesDequantizeBitForBit) {
  Rng rng(7);
  for (DType dtype : weight_dtypes()) {
    const int64_t block = dtype_info(dtype).block_size;
    const int64_t rows = 3, cols = block == 1 ? 40 : 4 * block;
    const HostTensor w = random_tensor("w", dtype, {rows, cols}, rng, -100, 100);
    std::vector<float> want(rows * cols);
    dequantize(dtype, w.bytes, want);
    expect_bitwise_equal(load_all(dtype, rows, cols, w.bytes), want, std::string(dtype_name(dtype)));
  }
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The gguf package's own dequantization of random blocks and of a real model's rows.
TEST(LoadElement, MatchesGgufGoldens) {
  const std::string dir = std::string(KILN_TEST_DATA) + "/dequant/";
  std::ifstream manifest(dir + "manifest.txt");
  ASSERT_TRUE(manifest.good());
  std::string line;
  int checked = 0;
  while (std::getline(manifest, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, dtype_text, reference;
    int64_t elements = 0;
    fields >> name >> dtype_text >> elements >> reference;
    const std::optional<DType> dtype = dtype_from_name(dtype_text);
    ASSERT_TRUE(dtype.has_value()) << line;
    if (!kernel::can_load_element(*dtype) || reference != "gguf") continue;
    const std::vector<uint8_t> bytes = read_file(dir + name + ".bin");
    const std::vector<uint8_t> golden = read_file(dir + name + ".f32");
    std::vector<float> want(golden.size() / 4);
    std::memcpy(want.data(), golden.data(), golden.size());
    ASSERT_EQ(static_cast<int64_t>(want.size()), elements) << name;
    expect_bitwise_equal(load_all(*dtype, 1, elements, bytes), want, name);
    ++checked;
  }
  EXPECT_GE(checked, 14);
}

// f32 -> f16/bf16 through encode_element (the convert op's store) against base/half.h, on
// random bit patterns (every class: normals, subnormals, infinities, NaNs) and edge cases.
TEST(EncodeElement, MatchesHalfConversionsBitForBit) {
  Rng rng(11);
  std::vector<uint32_t> bits = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u,
                                0x7f800001u, 0x38800000u, 0x387fffffu, 0x477ff000u, 0x477fefffu, 0x33000000u,
                                0x33000001u, 0x3f801000u, 0x3f803000u, 0x00000001u, 0x7f7fffffu, 0x3f808000u};
  for (int i = 0; i < 20000; ++i) bits.push_back(static_cast<uint32_t>(rng()));
  // And values near the f16 range, where the branches meet.
  for (int i = 0; i < 20000; ++i) bits.push_back(0x33000000u + static_cast<uint32_t>(rng() % (0x47800000u - 0x33000000u)));
  std::vector<uint8_t> bytes(bits.size() * 4);
  std::memcpy(bytes.data(), bits.data(), bytes.size());
  const int64_t n = static_cast<int64_t>(bits.size());
  for (DType to : {DType::f16, DType::bf16}) {
    const auto out = interpret(ops::convert(DType::f32, to, 1), {{"d0", n}}, {{"x", &bytes}});
    std::vector<uint16_t> got(n);
    std::memcpy(got.data(), out[0].data(), out[0].size());
    int bad = 0;
    for (int64_t i = 0; i < n && bad < 5; ++i) {
      const float f = bits_to_float(bits[i]);
      const uint16_t want = to == DType::f16 ? f32_to_f16(f) : f32_to_bf16(f);
      if (got[i] != want) {
        ADD_FAILURE() << dtype_name(to) << " of bits " << std::hex << bits[i] << ": " << got[i] << ", expected " << want;
        ++bad;
      }
    }
  }
}

// ---- The interpreter's own checks (must-fail) -------------------------------------------------

// A concat that does not clamp the unselected side's index reads out of bounds; the
// interpreter, which evaluates both sides of a select as vector code does, must say so.
TEST(Interpreter, CatchesAnUnclampedSelect) {
  ComputeDef def = ops::concat(1, 0);
  const ir::Expr i = ir::var("i0"), a_len = ir::var("a_len");
  def.stages[0].body = ir::select(i < a_len, ir::Access::make(ir::Type::f32(), "a", {i}),
                                  ir::Access::make(ir::Type::f32(), "b", {i - a_len}));
  const std::vector<uint8_t> a(4 * 4), b(4 * 2);
  try {
    interpret(def, {{"a_len", 4}, {"b_len", 2}}, {{"a", &a}, {"b", &b}});
    ADD_FAILURE() << "an out-of-bounds read went unnoticed";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("out of bounds"), std::string::npos) << e.what();
  }
}

// ---- The op matrix, interpreted ------------------------------------------------------------------

class OpMatrix : public testing::TestWithParam<std::string> {};

TEST_P(OpMatrix, InterpreterMatchesReference) {
  const std::vector<OpCase> cases = op_cases(GetParam());
  ASSERT_FALSE(cases.empty());
  std::string last_def;
  for (const OpCase& c : cases) {
    if (c.def.name != last_def) expect_closed(c.def);
    last_def = c.def.name;
    std::vector<std::vector<uint8_t>> outputs;
    try {
      outputs = interpret(c.def, c.sizes, c.input_buffers());
    } catch (const std::exception& e) {
      ADD_FAILURE() << c.name << ": " << e.what();
      continue;
    }
    ASSERT_EQ(outputs.size(), c.expected.size()) << c.name;
    for (size_t o = 0; o < outputs.size(); ++o) {
      const std::string report = check(c.expected[o], decode(c.expected[o].dtype, outputs[o]), c.tolerance);
      EXPECT_TRUE(report.empty()) << c.name << ": " << report;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpMatrix, testing::ValuesIn(op_families()),
                         [](const testing::TestParamInfo<std::string>& family) { return family.param; });

}  // namespace
}  // namespace kiln::test
