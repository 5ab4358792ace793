// The 8-bit activation path of a quantized matmul: activations quantized to 8-bit blocks, then
// a contraction whose inner products are integer dot products of packed bytes, scaled per
// 32-element group (llama.cpp's q8 activations, written as compute definitions).
#include "kernel/compute/dequant_expr.h"
#include "kernel/compute/op_builder.h"
#include "kernel/compute/ops.h"

namespace kiln::kernel::ops {

using namespace detail;
using ir::Expr;
using ir::Type;

namespace {
Expr i32(int64_t value) { return ir::IntImm::make(Type::i32(), value); }
}  // namespace

ComputeDef quantize_activations() {
  const Expr m = size("m"), k = size("k");
  const Expr i = ir::var("i"), b = ir::var("b"), g = ir::var("g"), t = ir::var("t");
  ComputeDef def;
  def.name = "quantize_q8";
  def.inputs = {tensor("x", DType::f32, {m, k})};
  def.outputs = {tensor("xq", DType::i32, {m, k / kQ8Group, kQ8Words})};
  const TensorDecl& x = def.inputs[0];
  const Stage amax = reduce_stage("amax", {"i", "b"}, {m, k / kQ8Group}, ReduceKind::Max, {"t"}, {Expr(kQ8Group)},
                                  ir::call(ir::Intrinsic::Abs, {read(x, {i, b * kQ8Group + t})}));
  const Expr max = read(amax, {i, b});
  const Expr inverse = ir::select(max > 0.0, Expr(127.0) / max, Expr(0.0));
  // Element e rounded to [-127, 127] (|x| * 127 / amax <= 127).
  const auto rounded = [&](const Expr& e) {
    return ir::cast(Type::i32(), ir::call(ir::Intrinsic::Floor, {read(x, {i, b * kQ8Group + e}) * inverse + 0.5}));
  };
  // The bytes' sums of the two halves (the group's is theirs together).
  const auto half_sum = [&](const std::string& name, int64_t half) {
    return reduce_stage(name, {"i", "b"}, {m, k / kQ8Group}, ReduceKind::Sum, {"t"}, {Expr(kQ8Group / 2)},
                        rounded(t + half * (kQ8Group / 2)), Type::i32());
  };
  const Stage low = half_sum("qlow", 0), high = half_sum("qhigh", 1);
  // Word g < 8: elements 4 g .. 4 g + 3, one byte each. (The word read past the eighth is
  // clamped: both sides of a select are computed.)
  Expr packed = i32(0);
  for (int q = 0; q < 4; ++q) packed = packed | ((rounded(ir::min(g, 7) * 4 + q) & 255) << (8 * q));
  const Expr scale = ir::reinterpret(Type::i32(), max / 127.0);
  const auto scaled = [&](const Expr& byte_sum) { return ir::reinterpret(Type::i32(), max / 127.0 * to_f32(byte_sum)); };
  const Expr low_sum = read(low, {i, b}), high_sum = read(high, {i, b});
  const Expr word = ir::select(
      g < kQ8ScaleWord, packed,
      ir::select(g == kQ8ScaleWord, scale,
                 ir::select(g == kQ8SumWord, scaled(low_sum + high_sum),
                            ir::select(g == kQ8HalfSumWord, scaled(low_sum), scaled(high_sum)))));
  def.stages = {amax, low, high,
                elementwise_stage("xq", {"i", "b", "g"}, {m, k / kQ8Group, Expr(kQ8Words)}, word, Type::i32())};
  def.size_params = {"m", "k"};
  def.size_multiples["k"] = kQ8Group;
  return def;
}

ComputeDef matmul_int8_activations(DType weight, int64_t row_interleave) {
  ComputeDef quantize = quantize_activations();
  ComputeDef product = matmul_int8(weight, row_interleave);
  ComputeDef def;
  def.name = product.name;
  def.inputs = {quantize.inputs[0], product.inputs[1]};
  def.outputs = product.outputs;
  // quantize_q8's stages, its output a temporary that the product reads instead of an input.
  def.stages = quantize.stages;
  def.stages.push_back(product.stages[0]);
  def.size_params = product.size_params;
  def.size_multiples = product.size_multiples;
  return def;
}

ComputeDef matmul_int8(DType weight, int64_t row_interleave) {
  KILN_CHECK(can_pack_quads(weight), "no 8-bit activation matmul for {} weights", dtype_name(weight));
  KILN_CHECK(row_interleave >= 1, "rows interleaved by {}", row_interleave);
  const Expr m = size("m"), n = size("n"), k = size("k");
  const Expr i = ir::var("i"), j = ir::var("j"), b = ir::var("b"), h = ir::var("h"), q = ir::var("q");
  ComputeDef def;
  def.name = row_interleave == 1 ? fmt::format("matmul_{}_q8", dtype_name(weight))
                                  : fmt::format("matmul_{}x{}_q8", dtype_name(weight), row_interleave);
  def.inputs = {tensor("xq", DType::i32, {m, k / kQ8Group, kQ8Words}), tensor("w", weight, {n, k})};
  def.inputs[1].row_interleave = row_interleave;
  def.outputs = {tensor("out", DType::f32, {m, n})};
  const Expr x_scale = ir::reinterpret(Type::f32(), read(def.inputs[0], {i, b, Expr(kQ8ScaleWord)}));
  const Expr x_sum = ir::reinterpret(Type::f32(), read(def.inputs[0], {i, b, Expr(kQ8SumWord)}));
  // Half `half`'s bytes' sum times the scale (quantize_q8 writes it for q6_K's offsets).
  const auto x_half_sum = [&](const Expr& half) {
    return ir::reinterpret(Type::f32(), read(def.inputs[0], {i, b, half + kQ8HalfSumWord}));
  };
  const auto dot_of = [](const PackedQuads& w) { return w.signed_quads ? ir::Intrinsic::DotS8S8 : ir::Intrinsic::DotU8S8; };
  if (row_interleave > 1) {
    // Interleaved rows are the vector lanes (schedule_interleaved_contraction), so a group's
    // words are a chain of dot products accumulating in i32 (exact: at most 32 products of
    // 127 * 127), converted and scaled once per group, or per half for q6_K, whose halves have
    // a scale and an offset each.
    // Words 4 h + q; packed_quads takes constant ones.
    const auto word = [&](const Expr& half, int64_t q_value) {
      return packed_quads(def.inputs[1], j, b, half, Expr(q_value));
    };
    if (word(h, 0).offset_per_half) {
      // q6_K: per half h, its 4 words; the half's offset takes the half's scaled byte sum,
      // which quantize_q8 wrote once (a dot with ones per word and weight row before).
      Expr acc = i32(0);
      for (int64_t q_value = 0; q_value < 4; ++q_value) {
        const Expr x = read(def.inputs[0], {i, b, h * 4 + q_value});
        acc = ir::call(dot_of(word(h, q_value)), {acc, word(h, q_value).quads, x});
      }
      const PackedQuads w = word(h, 0);
      const Expr body = to_f32(acc) * (w.scale * x_scale) + x_half_sum(h) * w.offset;
      def.stages = {reduce_stage("out", {"i", "j"}, {m, n}, ReduceKind::Sum, {"b", "h"},
                                 {k / kQ8Group, Expr(int64_t{2})}, body)};
    } else {
      Expr acc = i32(0);
      for (int64_t g = 0; g < 8; ++g) {
        const PackedQuads w = word(Expr(g / 4), g % 4);
        acc = ir::call(dot_of(w), {acc, w.quads, read(def.inputs[0], {i, b, Expr(g)})});
      }
      const PackedQuads w = word(Expr(int64_t{0}), 0);
      Expr body = to_f32(acc) * (w.scale * x_scale);
      if (w.offset.defined()) body = body + x_sum * w.offset;
      def.stages = {reduce_stage("out", {"i", "j"}, {m, n}, ReduceKind::Sum, {"b"}, {k / kQ8Group}, body)};
    }
  } else {
    const PackedQuads w = packed_quads(def.inputs[1], j, b, h, q);
    const Expr x = read(def.inputs[0], {i, b, h * 4 + q});
    // sum over the group of (scale * w_q + offset) * (x_scale * x_q)
    //   = scale * x_scale * dot(w_q, x_q) + offset * (x_scale * sum(x_q)).
    // A group's words are vector lanes here: the second term is spread evenly over them (an
    // exact eighth each).
    Expr body = to_f32(ir::call(dot_of(w), {i32(0), w.quads, x})) * (w.scale * x_scale);
    if (w.offset.defined() && !w.offset_per_half) body = body + x_sum * (w.offset * 0.125);
    // An offset per half group (q6_K) takes its half's scaled byte sum, an exact quarter a word.
    if (w.offset.defined() && w.offset_per_half) body = body + x_half_sum(h) * (w.offset * 0.25);
    // Over groups b, then the 8 words of a group as 2 halves h of 4 words q.
    def.stages = {reduce_stage("out", {"i", "j"}, {m, n}, ReduceKind::Sum, {"b", "h", "q"},
                               {k / kQ8Group, Expr(int64_t{2}), Expr(int64_t{4})}, body)};
  }
  def.size_params = {"m", "n", "k"};
  def.size_multiples["k"] = dtype_info(weight).block_size;
  if (row_interleave > 1) def.size_multiples["n"] = row_interleave;
  return def;
}

}  // namespace kiln::kernel::ops
