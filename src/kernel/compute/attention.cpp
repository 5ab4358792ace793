// Scaled dot-product attention with a causal or sliding-window mask, grouped-query heads and
// an optional logit softcap, as separate stages a schedule can place (or fuse flash-style).
#include <limits>

#include "kernel/compute/op_builder.h"
#include "kernel/compute/ops.h"

namespace kiln::kernel::ops {

using namespace detail;
using ir::Expr;
using ir::Intrinsic;

ComputeDef attention(double scale, double softcap, bool causal, int64_t window, DType kv, bool paged) {
  const Expr t = size("t"), h = size("h"), kh = size("kh"), d = size("d"), s = size("s");
  const Expr a = ir::var("a"), b = ir::var("b"), c = ir::var("c"), e = ir::var("e"), r = ir::var("r");
  ComputeDef def;
  def.name = "attention";
  if (causal) def.name += "_causal";
  if (window > 0) def.name += "_window";
  if (softcap > 0) def.name += "_softcap";
  if (kv != DType::f32) def.name += fmt::format("_{}", dtype_name(kv));
  if (paged) def.name += "_paged";
  const Expr kv_rows = paged ? size("rows") : s;
  def.inputs = {tensor("q", DType::f32, {t, h, d}), tensor("k", kv, {kv_rows, kh, d}), tensor("v", kv, {kv_rows, kh, d})};
  if (paged) def.inputs.push_back(tensor("slots", DType::i32, {s}));
  def.outputs = {tensor("out", DType::f32, {t, h, d})};
  def.size_params = {"t", "h", "kh", "d", "s"};
  if (paged) def.size_params.push_back("rows");
  const TensorDecl &q = def.inputs[0], &k = def.inputs[1], &v = def.inputs[2];
  const Expr kv_head = b / (h / kh);
  // The cache row holding key position c. Slots come from the runtime's block tables; clamped
  // so that no slot value can read outside the cache.
  const Expr row = paged ? ir::min(ir::max(to_i64(read(def.inputs[3], {c})), 0), kv_rows - 1) : c;

  const Stage score = reduce_stage("score", {"a", "b", "c"}, {t, h, s}, ReduceKind::Sum, {"r"}, {d},
                                   read(q, {a, b, r}) * read(k, {row, kv_head, r}));

  Expr logit = read(score, {a, b, c});
  if (scale != 1.0) logit = logit * scale;
  if (softcap > 0) logit = softcap * ir::call(Intrinsic::Tanh, {logit / softcap});
  // Query a sits at position s - t + a among the s keys.
  const Expr query_pos = s - t + a;
  Expr visible;
  if (causal) visible = c <= query_pos;
  if (window > 0) {
    Expr in_window = c > query_pos - window;
    visible = visible.defined() ? (visible && in_window) : in_window;
  }
  if (visible.defined()) logit = ir::select(visible, logit, -std::numeric_limits<double>::infinity());
  const Stage logits = elementwise_stage("logit", {"a", "b", "c"}, {t, h, s}, logit);

  const Stage mx = reduce_stage("mx", {"a", "b"}, {t, h}, ReduceKind::Max, {"c"}, {s}, read(logits, {a, b, c}));
  const Expr weight = ir::call(Intrinsic::Exp, {read(logits, {a, b, c}) - read(mx, {a, b})});
  const Stage l = reduce_stage("l", {"a", "b"}, {t, h}, ReduceKind::Sum, {"c"}, {s}, weight);
  // The probabilities, a stage of their own: inlined into `out` they would be computed again
  // for every e.
  const Stage p = elementwise_stage("p", {"a", "b", "c"}, {t, h, s}, weight / read(l, {a, b}));
  // A hidden key's probability is 0. The weighted sum says so itself rather than reading a 0
  // that p wrote: then p skips the hidden keys too (half of a causal prefill's exponentials),
  // whatever tile of queries the weighted sum reads p in.
  Expr probability = read(p, {a, b, c});
  if (visible.defined()) probability = ir::select(visible, probability, Expr(0.0));
  const Stage out = reduce_stage("out", {"a", "b", "e"}, {t, h, d}, ReduceKind::Sum, {"c"}, {s},
                                 probability * read(v, {row, kv_head, e}));
  def.stages = {score, logits, mx, l, p, out};
  if (visible.defined()) {
    // Scores and probabilities of hidden keys are never read (the selects above), and those
    // keys are 0 in the weighted sum: all of these, and the softmax's max and sum, may skip them.
    def.stages[0].predicate = visible;
    def.stages[2].predicate = visible;  // max and sum: a hidden key's logit is -inf, its weight 0
    def.stages[3].predicate = visible;
    def.stages[4].predicate = visible;
    def.stages[5].predicate = visible;
  }
  return def;
}

}  // namespace kiln::kernel::ops
