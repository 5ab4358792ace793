#include "graph/shape_rules.h"

#include <algorithm>
#include <set>

// A dimension check passes only when it can be proven from the canonical forms of sym.h: two
// dimensions match when they are the same expression, and a bound is checked when the
// difference folds to a constant. A mismatch that cannot be decided is refused, not assumed.

namespace kiln::graph::rules {
namespace {

std::vector<TensorType> one(DType dtype, Shape shape) {
  return {TensorType{dtype, std::move(shape)}};
}

// The operand's rank must be `rank`.
void expect_rank(const OpCall& call, size_t input, size_t rank, std::string_view layout) {
  if (call.inputs[input].rank() != rank) {
    call.fail("input {} must have rank {} ({}), has rank {}", input, rank, layout,
              call.inputs[input].rank());
  }
}

void expect_rank_at_least(const OpCall& call, size_t input, size_t rank) {
  if (call.inputs[input].rank() < rank) {
    call.fail("input {} must have rank {} or more, has rank {}", input, rank,
              call.inputs[input].rank());
  }
}

// Dimension `dim_a` of input `a` and dimension `dim_b` of input `b` must be equal.
void expect_same_dim(const OpCall& call, size_t a, size_t dim_a, size_t b, size_t dim_b,
                     std::string_view what) {
  const SymExpr& x = call.inputs[a].shape[dim_a];
  const SymExpr& y = call.inputs[b].shape[dim_b];
  if (!x.same_as(y)) {
    call.fail("{} differs: dimension {} of input {} is {}, dimension {} of input {} is {}", what,
              dim_a, a, x, dim_b, b, y);
  }
}

bool provably_negative(const SymExpr& e) {
  const std::optional<int64_t> c = e.as_constant();
  return c && *c < 0;
}

// `axis` in [-rank, rank), negative counting from the end.
size_t normalize_axis(const OpCall& call, int64_t axis, size_t rank) {
  const auto r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) call.fail("axis {} is out of range for rank {}", axis, rank);
  return static_cast<size_t>(axis < 0 ? axis + r : axis);
}

// numpy broadcasting: align trailing dimensions; each pair must be equal or one of them 1.
Shape broadcast_shapes(const OpCall& call, size_t a, size_t b) {
  const Shape& x = call.inputs[a].shape;
  const Shape& y = call.inputs[b].shape;
  const size_t rank = std::max(x.size(), y.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const SymExpr dx = i < rank - x.size() ? SymExpr(1) : x[i - (rank - x.size())];
    const SymExpr dy = i < rank - y.size() ? SymExpr(1) : y[i - (rank - y.size())];
    if (dx.same_as(dy) || dy.same_as(1)) {
      out[i] = dx;
    } else if (dx.same_as(1)) {
      out[i] = dy;
    } else {
      call.fail("inputs {} and {} do not broadcast: dimension {} of the result would be {} and "
                "{}; each pair of trailing dimensions must be equal or 1",
                a, b, i, dx, dy);
    }
  }
  return out;
}

}  // namespace

std::vector<TensorType> same_as_input(const OpCall& call) { return {call.inputs[0]}; }

std::vector<TensorType> softcap(const OpCall& call) {
  const double cap = call.get_double("cap");
  if (!(cap > 0)) call.fail("cap must be positive, is {}", cap);
  return {call.inputs[0]};
}

std::vector<TensorType> cast(const OpCall& call) {
  const DType to = call.get_dtype("dtype");
  if (to != DType::f32 && to != DType::f16 && to != DType::bf16) {
    call.fail("cannot cast to {}; cast converts to f32, f16 or bf16", dtype_name(to));
  }
  return one(to, call.inputs[0].shape);
}

std::vector<TensorType> broadcast(const OpCall& call) {
  return one(DType::f32, broadcast_shapes(call, 0, 1));
}

std::vector<TensorType> embedding(const OpCall& call) {
  expect_rank(call, 0, 2, "[vocab, dim]");
  expect_rank(call, 1, 1, "[n] token ids");
  return one(DType::f32, {call.inputs[1].shape[0], call.inputs[0].shape[1]});
}

std::vector<TensorType> matmul(const OpCall& call) {
  expect_rank_at_least(call, 0, 1);
  expect_rank(call, 1, 2, "[n, k]");
  const TensorType& x = call.inputs[0];
  const TensorType& weight = call.inputs[1];
  expect_same_dim(call, 0, x.rank() - 1, 1, 1, "the contracted dimension k");
  const DTypeInfo& info = dtype_info(weight.dtype);
  const SymExpr block_size = static_cast<int64_t>(info.block_size);
  if (info.block_size > 1 && !(weight.shape[1] % block_size).same_as(0)) {
    call.fail("k = {} is not a multiple of {}'s block size {}", weight.shape[1], info.name,
              info.block_size);
  }
  Shape out = x.shape;
  out.back() = weight.shape[0];
  return one(DType::f32, std::move(out));
}

std::vector<TensorType> norm(const OpCall& call) {
  expect_rank_at_least(call, 0, 1);
  if (!(call.get_double("eps") >= 0)) call.fail("eps must not be negative");
  return {call.inputs[0]};
}

std::vector<TensorType> rope(const OpCall& call) {
  expect_rank(call, 0, 3, "[n_tokens, n_heads, head_dim]");
  expect_rank(call, 1, 1, "[n_tokens] positions");
  expect_same_dim(call, 0, 0, 1, 0, "the number of tokens");
  const std::string& mode = call.get_string("mode");
  if (mode != "normal" && mode != "neox") {
    call.fail("mode is \"{}\"; rope's modes are \"normal\" and \"neox\"", mode);
  }
  const int64_t n_dims = call.get_int("n_dims");
  const SymExpr& head_dim = call.inputs[0].shape[2];
  if (n_dims <= 0 || n_dims % 2 != 0 || provably_negative(head_dim - n_dims)) {
    call.fail("n_dims = {} must be even, positive and at most head_dim = {}", n_dims, head_dim);
  }
  if (!(call.get_double("theta") > 0) || !(call.get_double("freq_scale") > 0)) {
    call.fail("theta and freq_scale must be positive");
  }
  if (call.inputs.size() == 3) {
    // One factor per rotated pair; ggml allows a longer tensor, kiln wants it exact.
    expect_rank(call, 2, 1, "[n_dims / 2] frequency factors");
    if (!call.inputs[2].shape[0].same_as(n_dims / 2)) {
      call.fail("freq_factors has {} elements, rope with n_dims = {} needs {}",
                call.inputs[2].shape[0], n_dims, n_dims / 2);
    }
  }
  return {call.inputs[0]};
}

std::vector<TensorType> softmax(const OpCall& call) {
  expect_rank_at_least(call, 0, 1);
  if (call.inputs.size() == 2) {
    if (call.inputs[1].rank() > call.inputs[0].rank() ||
        !same_shape(broadcast_shapes(call, 0, 1), call.inputs[0].shape)) {
      call.fail("the mask {} must broadcast to x's shape {}", to_string(call.inputs[1].shape),
                to_string(call.inputs[0].shape));
    }
  }
  return {call.inputs[0]};
}

std::vector<TensorType> attention(const OpCall& call) {
  const bool paged = call.inputs.size() > 3;
  expect_rank(call, 0, 3, "[n_tokens, n_head, head_dim]");
  expect_rank(call, 1, 3, paged ? "[cache_rows, n_kv_head, head_dim]" : "[kv_len, n_kv_head, head_dim]");
  expect_rank(call, 2, 3, paged ? "[cache_rows, n_kv_head, head_dim]" : "[kv_len, n_kv_head, head_dim]");
  expect_same_dim(call, 1, 0, 2, 0, paged ? "the number of cache rows" : "kv_len");
  if (paged) expect_rank(call, 3, 1, "[kv_len] cache rows");
  expect_same_dim(call, 1, 1, 2, 1, "the number of kv heads");
  expect_same_dim(call, 0, 2, 1, 2, "head_dim");
  const SymExpr& n_head = call.inputs[0].shape[1];
  const SymExpr& n_kv_head = call.inputs[1].shape[1];
  const bool divides = n_head.same_as(n_kv_head) ||
                       (n_kv_head.is_constant() && *n_kv_head.as_constant() > 0 &&
                        (n_head % n_kv_head).same_as(0));
  if (!divides) {
    call.fail("n_head = {} is not a multiple of n_kv_head = {} (grouped-query attention shares "
              "each kv head between n_head / n_kv_head query heads)",
              n_head, n_kv_head);
  }
  if (call.get_int("window") < 0) call.fail("window must be 0 (none) or positive");
  if (!(call.get_double("softcap") >= 0)) call.fail("softcap must be 0 (none) or positive");
  // v may have its own head size (as in multi-head latent attention); the output takes it.
  return one(DType::f32, {call.inputs[0].shape[0], n_head, call.inputs[2].shape[2]});
}

std::vector<TensorType> kv_write(const OpCall& call) {
  expect_rank(call, 0, 3, "[cache_rows, n_kv_head, head_dim]");
  expect_rank(call, 1, 3, "[n_tokens, n_kv_head, head_dim]");
  expect_rank(call, 2, 1, "[n_tokens] cache rows");
  expect_same_dim(call, 0, 1, 1, 1, "the number of kv heads");
  expect_same_dim(call, 0, 2, 1, 2, "head_dim");
  expect_same_dim(call, 1, 0, 2, 0, "the number of tokens");
  return {call.inputs[0]};
}

// The element counts must be equal as polynomials (sym.h): [n, 9, 64] -> [n, 576] is proven,
// [n] -> [n / 2, 2] is not, because n might be odd.
std::vector<TensorType> reshape(const OpCall& call) {
  const Shape& to = call.get_shape("shape");
  for (const SymExpr& dim : to) {
    if (provably_negative(dim)) {
      call.fail("the new shape {} has a negative dimension", to_string(to));
    }
  }
  const SymExpr from_count = num_elements(call.inputs[0].shape);
  const SymExpr to_count = num_elements(to);
  if (!from_count.same_as(to_count)) {
    call.fail("cannot reshape {} ({} elements) to {} ({} elements): the element counts are not "
              "provably equal",
              to_string(call.inputs[0].shape), from_count, to_string(to), to_count);
  }
  return one(call.inputs[0].dtype, to);
}

std::vector<TensorType> permute(const OpCall& call) {
  const std::vector<int64_t>& perm = call.get_ints("perm");
  const Shape& in = call.inputs[0].shape;
  std::set<int64_t> seen(perm.begin(), perm.end());
  const bool valid = perm.size() == in.size() && seen.size() == perm.size() &&
                     (perm.empty() || (*seen.begin() >= 0 &&
                                       *seen.rbegin() < static_cast<int64_t>(in.size())));
  if (!valid) {
    call.fail("perm must be a permutation of 0..{} for rank {}", in.size() - 1, in.size());
  }
  Shape out;
  for (const int64_t axis : perm) out.push_back(in[static_cast<size_t>(axis)]);
  return one(call.inputs[0].dtype, std::move(out));
}

std::vector<TensorType> slice(const OpCall& call) {
  expect_rank_at_least(call, 0, 1);
  Shape out = call.inputs[0].shape;
  const size_t axis = normalize_axis(call, call.get_int("axis"), out.size());
  const SymExpr start = call.get_sym("start");
  const SymExpr length = call.get_sym("length");
  if (provably_negative(start) || provably_negative(length) ||
      provably_negative(out[axis] - (start + length))) {
    call.fail("the slice [{}, {}) of axis {} is outside its {} elements", start, start + length,
              axis, out[axis]);
  }
  out[axis] = length;
  return one(call.inputs[0].dtype, std::move(out));
}

std::vector<TensorType> concat(const OpCall& call) {
  const TensorType& first = call.inputs[0];
  expect_rank_at_least(call, 0, 1);
  const size_t axis = normalize_axis(call, call.get_int("axis"), first.rank());
  Shape out = first.shape;
  for (size_t i = 1; i < call.inputs.size(); ++i) {
    const TensorType& t = call.inputs[i];
    if (t.dtype != first.dtype) {
      call.fail("input {} has dtype {}, input 0 has {}; concat needs one dtype", i,
                dtype_name(t.dtype), dtype_name(first.dtype));
    }
    expect_rank(call, i, first.rank(), "the rank of input 0");
    for (size_t d = 0; d < out.size(); ++d) {
      if (d != axis) expect_same_dim(call, 0, d, i, d, "a dimension other than the concat axis");
    }
    out[axis] = out[axis] + t.shape[axis];
  }
  return one(first.dtype, std::move(out));
}

std::vector<TensorType> reduce(const OpCall& call) {
  expect_rank_at_least(call, 0, 1);
  Shape out = call.inputs[0].shape;
  out.back() = 1;
  return one(DType::f32, std::move(out));
}

std::vector<TensorType> argmax(const OpCall& call) {
  std::vector<TensorType> out = reduce(call);
  out[0].dtype = DType::i32;
  return out;
}

}  // namespace kiln::graph::rules
