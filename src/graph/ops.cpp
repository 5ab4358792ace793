#include "graph/ops.h"

#include <algorithm>

#include "base/error.h"
#include "graph/shape_rules.h"

namespace kiln::graph {
namespace {

using enum PatternKind;

constexpr DTypeSet kF32 = {DType::f32};
constexpr DTypeSet kI32 = {DType::i32};
constexpr DTypeSet kFloat = {DType::f32, DType::f16, DType::bf16};
// Each set below is what the compute definitions build and the op matrix (tests/ops) runs on
// every target; tests/ops/registry_coverage_test.cpp checks that nothing more is accepted.
constexpr DTypeSet kMask = {DType::f32, DType::f16};
// Views move elements without looking at them, but a block-quantized row cannot be cut apart.
constexpr DTypeSet kViewable = {DType::f32, DType::f16, DType::bf16, DType::i32};
// Weights read through dequant_expr.h's load_element (iq*, tq*, mxfp4, q8_K are not written
// there yet, and an f64 weight has no use).
constexpr DTypeSet kWeight = {DType::f32,  DType::f16,  DType::bf16, DType::q4_0, DType::q4_1,
                              DType::q5_0, DType::q5_1, DType::q8_0, DType::q2_K, DType::q3_K,
                              DType::q4_K, DType::q5_K, DType::q6_K};

// One row per op, in OpKind order. Semantics, in the row-major shapes of sym.h:
//  embedding   out[i, :] = dequant(weight[ids[i], :])                    [n] -> [n, dim]
//  matmul      out[.., m, n] = sum_k x[.., m, k] * dequant(weight[n, k])  (x times weight^T)
//  add..div    numpy broadcasting over trailing dimensions (each pair equal, or one is 1)
//  scale       x * scale;  softcap  cap * tanh(x / cap);  cast  convert to attribute dtype
//  rms_norm    x / sqrt(mean(x^2) + eps) over the last dimension (no weight: a separate mul)
//  layer_norm  (x - mean) / sqrt(var + eps) over the last dimension (no weight or bias)
//  rope        rotates pairs of the first n_dims of each head: (i, i + n_dims/2) for neox,
//              (2i, 2i + 1) for normal; angle = position * freq_scale * theta^(-2i/n_dims)
//              / freq_factors[i]. Injective, not opaque: each output element is a fixed
//              function of two elements of x and one position, so it inlines into its
//              consumer like any gather followed by elementwise math.
//  softmax     softmax(x * scale + mask) over the last dimension; the mask broadcasts to x
//  attention   out[t, h] = sum_j p[t, h, j] * v[j, h / (n_head / n_kv_head)] where p is the
//              softmax over j of softcap(scale * q[t, h] . k[j, ..]), with query t at position
//              kv_len - n_tokens + t; causal hides keys after it, window w > 0 hides keys at or
//              before position - w. softcap 0 and window 0 mean none. With slots (paged),
//              k and v are a cache whose row slots[j] holds key position j; kv_len = |slots|.
//  kv_write    the cache with row slots[i] replaced by new[i] for each of the n_tokens rows
//  slice       `length` elements from `start` along `axis`; concat joins along `axis`
//  sum..mean   over the last dimension, kept as size 1; argmax gives the i32 index
const std::vector<OpInfo>& op_table() {
  // kind, name, pattern, operands {name, dtypes}, inputs min, max, outputs, attributes, rule
  static const std::vector<OpInfo> table = {
      {OpKind::embedding, "embedding", Injective, {{"weight", kWeight}, {"ids", kI32}},
       2, 2, 1, {}, rules::embedding},
      {OpKind::matmul, "matmul", Contraction, {{"x", kF32}, {"weight", kWeight}},
       2, 2, 1, {}, rules::matmul},
      {OpKind::add, "add", Broadcast, {{"a", kF32}, {"b", kF32}}, 2, 2, 1, {}, rules::broadcast},
      {OpKind::mul, "mul", Broadcast, {{"a", kF32}, {"b", kF32}}, 2, 2, 1, {}, rules::broadcast},
      {OpKind::sub, "sub", Broadcast, {{"a", kF32}, {"b", kF32}}, 2, 2, 1, {}, rules::broadcast},
      {OpKind::div, "div", Broadcast, {{"a", kF32}, {"b", kF32}}, 2, 2, 1, {}, rules::broadcast},
      {OpKind::scale, "scale", Elementwise, {{"x", kF32}}, 1, 1, 1,
       {{"scale", AttrType::Double}}, rules::same_as_input},
      {OpKind::silu, "silu", Elementwise, {{"x", kF32}}, 1, 1, 1, {}, rules::same_as_input},
      {OpKind::gelu, "gelu", Elementwise, {{"x", kF32}}, 1, 1, 1, {}, rules::same_as_input},
      {OpKind::gelu_tanh, "gelu_tanh", Elementwise, {{"x", kF32}}, 1, 1, 1, {},
       rules::same_as_input},
      {OpKind::exp, "exp", Elementwise, {{"x", kF32}}, 1, 1, 1, {}, rules::same_as_input},
      {OpKind::tanh, "tanh", Elementwise, {{"x", kF32}}, 1, 1, 1, {}, rules::same_as_input},
      {OpKind::neg, "neg", Elementwise, {{"x", kF32}}, 1, 1, 1, {}, rules::same_as_input},
      {OpKind::rsqrt, "rsqrt", Elementwise, {{"x", kF32}}, 1, 1, 1, {}, rules::same_as_input},
      {OpKind::cast, "cast", Elementwise, {{"x", kFloat}}, 1, 1, 1,
       {{"dtype", AttrType::ElemType}}, rules::cast},
      {OpKind::softcap, "softcap", Elementwise, {{"x", kF32}}, 1, 1, 1,
       {{"cap", AttrType::Double}}, rules::softcap},
      {OpKind::rms_norm, "rms_norm", Reduction, {{"x", kF32}}, 1, 1, 1,
       {{"eps", AttrType::Double}}, rules::norm},
      {OpKind::layer_norm, "layer_norm", Reduction, {{"x", kF32}}, 1, 1, 1,
       {{"eps", AttrType::Double}}, rules::norm},
      {OpKind::rope, "rope", Injective,
       {{"x", kF32}, {"positions", kI32}, {"freq_factors", kF32}}, 2, 3, 1,
       {{"mode", AttrType::String}, {"n_dims", AttrType::Int}, {"theta", AttrType::Double},
        {"freq_scale", AttrType::Double}},
       rules::rope},
      {OpKind::softmax, "softmax", Reduction, {{"x", kF32}, {"mask", kMask}}, 1, 2, 1,
       {{"scale", AttrType::Double}}, rules::softmax},
      {OpKind::attention, "attention", Opaque,
       {{"q", kF32}, {"k", kFloat}, {"v", kFloat}, {"slots", kI32}}, 3, 4, 1,
       {{"scale", AttrType::Double}, {"softcap", AttrType::Double}, {"causal", AttrType::Bool},
        {"window", AttrType::Int}},
       rules::attention},
      {OpKind::kv_write, "kv_write", Injective, {{"cache", kFloat}, {"new", kF32}, {"slots", kI32}},
       3, 3, 1, {}, rules::kv_write},
      {OpKind::reshape, "reshape", Injective, {{"x", kViewable}}, 1, 1, 1,
       {{"shape", AttrType::SymShape}}, rules::reshape},
      {OpKind::permute, "permute", Injective, {{"x", kViewable}}, 1, 1, 1,
       {{"perm", AttrType::IntList}}, rules::permute},
      {OpKind::slice, "slice", Injective, {{"x", kViewable}}, 1, 1, 1,
       {{"axis", AttrType::Int}, {"start", AttrType::SymInt}, {"length", AttrType::SymInt}},
       rules::slice},
      {OpKind::concat, "concat", Injective, {{"x", kViewable}}, 2, kVariadic, 1,
       {{"axis", AttrType::Int}}, rules::concat},
      {OpKind::sum, "sum", Reduction, {{"x", kF32}}, 1, 1, 1, {}, rules::reduce},
      {OpKind::max, "max", Reduction, {{"x", kF32}}, 1, 1, 1, {}, rules::reduce},
      {OpKind::mean, "mean", Reduction, {{"x", kF32}}, 1, 1, 1, {}, rules::reduce},
      {OpKind::argmax, "argmax", Reduction, {{"x", kF32}}, 1, 1, 1, {}, rules::argmax},
  };
  return table;
}

const OperandSpec& operand_spec(const OpInfo& info, size_t i) {
  return info.operands[std::min(i, info.operands.size() - 1)];
}

std::string input_count_text(const OpInfo& info) {
  if (info.max_inputs == kVariadic) return fmt::format("at least {}", info.min_inputs);
  if (info.min_inputs == info.max_inputs) return std::to_string(info.min_inputs);
  return fmt::format("{} to {}", info.min_inputs, info.max_inputs);
}

void check_attributes(const OpCall& call, const OpInfo& info) {
  for (const AttrSpec& spec : info.attrs) {
    const AttrValue* value = call.attrs.find(spec.name);
    if (value == nullptr) {
      call.fail("missing attribute '{}' ({})", spec.name, attr_type_name(spec.type));
    }
    if (!attr_convertible(attr_type(*value), spec.type)) {
      call.fail("attribute '{}' is a {} ({}), {} needs a {}", spec.name,
                attr_type_name(attr_type(*value)), to_string(*value), info.name,
                attr_type_name(spec.type));
    }
  }
  for (const auto& [name, value] : call.attrs) {
    bool known = false;
    for (const AttrSpec& spec : info.attrs) known = known || spec.name == name;
    if (!known) call.fail("unknown attribute '{}' ({} takes no such attribute)", name, info.name);
  }
}

}  // namespace

std::string_view pattern_kind_name(PatternKind kind) {
  switch (kind) {
    case Elementwise: return "elementwise";
    case Broadcast: return "broadcast";
    case Injective: return "injective";
    case Reduction: return "reduction";
    case Contraction: return "contraction";
    case Opaque: return "opaque";
  }
  return "?";
}

std::string DTypeSet::to_string() const {
  if (is_any()) return "any dtype";
  // Plain types first, then block-quantized ones: "f32, f16, bf16, q4_0, ...".
  std::string s;
  for (const bool quantized : {false, true}) {
    for (const DTypeInfo& info : all_dtypes()) {
      if (contains(info.dtype) && (info.block_size > 1) == quantized) {
        s += (s.empty() ? "" : ", ") + std::string(info.name);
      }
    }
  }
  return s;
}

void OpCall::fail_message(const std::string& message) const {
  std::string operands;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string label = i < input_labels.size() ? input_labels[i] : "?";
    operands += fmt::format("{}{}: {}", i > 0 ? ", " : "", label, graph::to_string(inputs[i]));
  }
  throw UserError(fmt::format("{}: {} (operands: {})", where, message,
                              operands.empty() ? "none" : operands));
}

const OpInfo& op_info(OpKind op) {
  const auto& table = op_table();
  const auto index = static_cast<size_t>(op);
  KILN_CHECK(index < table.size() && table[index].kind == op, "op {} is not in the table", index);
  return table[index];
}

std::string_view op_name(OpKind op) { return op_info(op).name; }

std::optional<OpKind> op_from_name(std::string_view name) {
  for (const OpInfo& info : op_table()) {
    if (info.name == name) return info.kind;
  }
  return std::nullopt;
}

std::span<const OpInfo> all_ops() { return op_table(); }

std::vector<TensorType> infer_types(const OpCall& call) {
  const OpInfo& info = op_info(call.op);
  const int n = static_cast<int>(call.inputs.size());
  if (n < info.min_inputs || (info.max_inputs != kVariadic && n > info.max_inputs)) {
    call.fail("{} takes {} inputs, got {}", info.name, input_count_text(info), n);
  }
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    const OperandSpec& spec = operand_spec(info, i);
    const DType dtype = call.inputs[i].dtype;
    if (!spec.dtypes.contains(dtype)) {
      call.fail("input {} ({}) has dtype {}; {} accepts {}", i, spec.name, dtype_name(dtype),
                info.name, spec.dtypes.to_string());
    }
  }
  check_attributes(call, info);
  std::vector<TensorType> outputs = info.infer(call);
  KILN_CHECK(static_cast<int>(outputs.size()) == info.num_outputs,
             "the shape rule of {} gave {} outputs, its row says {}", info.name, outputs.size(),
             info.num_outputs);
  return outputs;
}

}  // namespace kiln::graph
