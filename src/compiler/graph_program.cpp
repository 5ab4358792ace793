#include "compiler/graph_program.h"

#include "kernel/compute/dequant_expr.h"

#include <algorithm>
#include <optional>

#include "base/error.h"
#include "base/row_interleave.h"
#include "compiler/launch_list.h"
#include "graph/ops.h"
#include "kernel/compute/fuse.h"
#include "kernel/compute/ops.h"
#include "passes/fuse.h"

namespace kiln::compiler {

using graph::Graph;
using graph::Node;
using graph::OpKind;
using graph::Shape;
using graph::SymExpr;
using graph::ValueId;
namespace ops = kernel::ops;

// What one node becomes.
struct GraphProgram::Step {
  enum class Kind { Compute, Alias, InPlace, RowsView } kind = Kind::Compute;
  const CompiledOp* op = nullptr;
  std::map<std::string, ValueId> tensors;  // definition tensor name -> graph value
  std::map<std::string, SymExpr> sizes;    // definition size parameter -> graph expression
  ValueId output;
  ValueId source;           // Alias / InPlace: the value whose buffer this one shares
  SymExpr first_row = 0;    // RowsView: the rows [first_row, ...) of source
  SymExpr row_bytes = 0;
  SymExpr rows = 0;         // RowsView: how many
  SymExpr bytes = 0;        // Compute: the size of the result
  // The last step that reads this step's result, directly or through views of it: its buffer
  // is released after that step (kNeverReleased for graph outputs and unread results).
  size_t last_use = 0;
};

namespace {
constexpr size_t kNeverReleased = static_cast<size_t>(-1);
}  // namespace

// The compute definition of a node (or a fused group) and how its tensors and sizes bind to
// the graph.
struct GraphProgram::NodePlan {
  kernel::ComputeDef def;
  std::map<std::string, ValueId> tensors;
  std::map<std::string, SymExpr> sizes;
};

namespace {

SymExpr leading_product(const Shape& shape) {
  SymExpr p = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) p = p * shape[i];
  return p;
}

std::map<std::string, SymExpr> dims(const Shape& shape) {
  std::map<std::string, SymExpr> out;
  for (size_t i = 0; i < shape.size(); ++i) out["d" + std::to_string(i)] = shape[i];
  return out;
}

// An axis attribute in [-rank, rank) (the verifier checked it) as an index.
size_t normalized_axis(int64_t axis, size_t rank) {
  return static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(rank) : axis);
}

ops::Unary unary_of(OpKind op) {
  switch (op) {
    case OpKind::silu: return ops::Unary::Silu;
    case OpKind::gelu: return ops::Unary::Gelu;
    case OpKind::gelu_tanh: return ops::Unary::GeluTanh;
    case OpKind::exp: return ops::Unary::Exp;
    case OpKind::tanh: return ops::Unary::Tanh;
    case OpKind::neg: return ops::Unary::Neg;
    case OpKind::rsqrt: return ops::Unary::Rsqrt;
    case OpKind::scale: return ops::Unary::Scale;
    case OpKind::softcap: return ops::Unary::Softcap;
    default: KILN_UNREACHABLE("{} is not unary", graph::op_name(op));
  }
}

using NodePlan = GraphProgram::NodePlan;

// The layout of each weight whose rows the program interleaves (base/row_interleave.h), by value.
using Interleaved = std::map<graph::ValueId, int64_t>;

// The weights whose rows are interleaved by the target's i32 lanes: the 8-bit path then loads
// a vector of weight rows at once (kernel/schedule/rules.cpp). Only weights that every reader
// takes through that path (a tied embedding table keeps its rows plain), with whole groups.
Interleaved choose_interleaved_weights(const Graph& g, const Target& target, bool int8) {
  Interleaved chosen;
  const int64_t lanes = target.vector_lanes(DType::i32);
  if (!int8 || lanes < 2) return chosen;
  std::map<graph::ValueId, bool> every_reader_packs;
  for (const Node& n : g.nodes) {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (g.value(n.inputs[i]).kind != graph::ValueKind::Weight) continue;
      const graph::TensorType& t = g.type(n.inputs[i]);
      const bool packs = n.op == OpKind::matmul && i == 1 && kernel::can_pack_quads(t.dtype) &&
                         can_interleave_rows(t.dtype) && t.shape.size() == 2 && t.shape[0].is_constant() &&
                         *t.shape[0].as_constant() % lanes == 0;
      auto [it, inserted] = every_reader_packs.emplace(n.inputs[i], packs);
      if (!inserted) it->second = it->second && packs;
    }
  }
  for (const auto& [id, packs] : every_reader_packs) {
    if (packs) chosen[id] = lanes;
  }
  return chosen;
}

NodePlan plan_node(const Graph& g, const Node& n, const std::string& where, bool int8_activations,
                   const Interleaved& interleaved) {
  const auto type = [&](size_t i) -> const graph::TensorType& { return g.type(n.inputs[i]); };
  NodePlan p;
  switch (n.op) {
    case OpKind::embedding:
      p.def = ops::embedding(type(0).dtype);
      p.tensors = {{"w", n.inputs[0]}, {"ids", n.inputs[1]}};
      p.sizes = {{"n", type(1).shape[0]}, {"vocab", type(0).shape[0]}, {"dim", type(0).shape[1]}};
      break;
    case OpKind::matmul: {
      const DType w = type(1).dtype;
      const auto layout = interleaved.find(n.inputs[1]);
      const int64_t rows = layout == interleaved.end() ? 1 : layout->second;
      p.def = int8_activations && kernel::can_pack_quads(w) ? ops::matmul_int8_activations(w, rows) : ops::matmul(w);
      p.tensors = {{"x", n.inputs[0]}, {"w", n.inputs[1]}};
      p.sizes = {{"m", leading_product(type(0).shape)}, {"n", type(1).shape[0]}, {"k", type(0).shape.back()}};
      break;
    }
    case OpKind::add: case OpKind::mul: case OpKind::sub: case OpKind::div: {
      const Shape& a = type(0).shape;
      const Shape& b = type(1).shape;
      std::vector<bool> broadcast(a.size(), false);
      for (size_t i = 0; i < a.size(); ++i) {
        const size_t from_end = a.size() - i;
        const bool b_has = from_end <= b.size();
        const SymExpr bd = b_has ? b[b.size() - from_end] : SymExpr(1);
        broadcast[i] = !bd.same_as(a[i]) && bd.is_constant() && bd.as_constant() == 1;
      }
      const ops::Binary op = n.op == OpKind::add ? ops::Binary::Add
                             : n.op == OpKind::mul ? ops::Binary::Mul
                             : n.op == OpKind::sub ? ops::Binary::Sub : ops::Binary::Div;
      p.def = ops::binary(op, static_cast<int>(a.size()), broadcast);
      p.tensors = {{"a", n.inputs[0]}, {"b", n.inputs[1]}};
      p.sizes = dims(a);
      break;
    }
    case OpKind::silu: case OpKind::gelu: case OpKind::gelu_tanh: case OpKind::exp: case OpKind::tanh:
    case OpKind::neg: case OpKind::rsqrt: case OpKind::scale: case OpKind::softcap: {
      double attr = 0;
      if (n.op == OpKind::scale) attr = n.attrs.get_double("scale", where);
      if (n.op == OpKind::softcap) attr = n.attrs.get_double("cap", where);
      p.def = ops::unary(unary_of(n.op), static_cast<int>(type(0).rank()), attr);
      p.tensors = {{"x", n.inputs[0]}};
      p.sizes = dims(type(0).shape);
      break;
    }
    case OpKind::rms_norm: case OpKind::layer_norm: case OpKind::softmax: {
      const Shape& x = type(0).shape;
      if (n.op == OpKind::rms_norm) p.def = ops::rms_norm(n.attrs.get_double("eps", where));
      if (n.op == OpKind::layer_norm) p.def = ops::layer_norm(n.attrs.get_double("eps", where));
      p.tensors = {{"x", n.inputs[0]}};
      if (n.op == OpKind::softmax) {
        const bool with_mask = n.inputs.size() > 1;
        // The definition reads a mask of x's own shape; one that broadcasts is not planned yet.
        if (with_mask && !graph::same_shape(type(1).shape, x)) {
          user_error("{}: the graph executor runs softmax with a mask of x's shape {} only, not {}", where,
                     graph::to_string(x), graph::to_string(type(1).shape));
        }
        p.def = ops::softmax(n.attrs.get_double("scale", where), with_mask, with_mask ? type(1).dtype : DType::f32);
        if (with_mask) p.tensors["mask"] = n.inputs[1];
      }
      p.sizes = {{"rows", leading_product(x)}, {"cols", x.back()}};
      break;
    }
    case OpKind::sum: case OpKind::max: case OpKind::mean: case OpKind::argmax: {
      // Over the last dimension, kept as size 1: the definitions' [rows, 1] result.
      const Shape& x = type(0).shape;
      p.def = n.op == OpKind::argmax ? ops::argmax()
              : n.op == OpKind::max  ? ops::reduce(kernel::ReduceKind::Max)
                                     : ops::reduce(kernel::ReduceKind::Sum, n.op == OpKind::mean);
      p.tensors = {{"x", n.inputs[0]}};
      p.sizes = {{"rows", leading_product(x)}, {"cols", x.back()}};
      break;
    }
    case OpKind::cast:
      p.def = ops::convert(type(0).dtype, n.attrs.get_dtype("dtype", where), static_cast<int>(type(0).rank()));
      p.tensors = {{"x", n.inputs[0]}};
      p.sizes = dims(type(0).shape);
      break;
    case OpKind::permute: {
      std::vector<int> perm;
      for (const int64_t axis : n.attrs.get_ints("perm", where)) perm.push_back(static_cast<int>(axis));
      p.def = ops::permute(perm, type(0).dtype);
      p.tensors = {{"x", n.inputs[0]}};
      p.sizes = dims(type(0).shape);
      break;
    }
    case OpKind::slice: {
      const Shape& x = type(0).shape;
      const int axis = static_cast<int>(normalized_axis(n.attrs.get_int("axis", where), x.size()));
      p.def = ops::slice(static_cast<int>(x.size()), axis, type(0).dtype);
      p.tensors = {{"x", n.inputs[0]}};
      p.sizes = dims(x);
      p.sizes["start"] = n.attrs.get_sym("start", where);
      p.sizes["length"] = n.attrs.get_sym("length", where);
      break;
    }
    case OpKind::concat: {
      if (n.inputs.size() != 2) {
        user_error("{}: the graph executor joins two tensors per concat, not {}; chain them", where, n.inputs.size());
      }
      const Shape& a = type(0).shape;
      const size_t axis = normalized_axis(n.attrs.get_int("axis", where), a.size());
      p.def = ops::concat(static_cast<int>(a.size()), static_cast<int>(axis), type(0).dtype);
      p.tensors = {{"a", n.inputs[0]}, {"b", n.inputs[1]}};
      p.sizes = dims(a);
      p.sizes.erase("d" + std::to_string(axis));
      p.sizes["a_len"] = a[axis];
      p.sizes["b_len"] = type(1).shape[axis];
      break;
    }
    case OpKind::rope: {
      const std::string& mode = n.attrs.get_string("mode", where);
      const bool ff = n.inputs.size() > 2;
      p.def = ops::rope(mode == "neox" ? ops::RopeMode::Neox : ops::RopeMode::Normal,
                        static_cast<int>(n.attrs.get_int("n_dims", where)), n.attrs.get_double("theta", where),
                        n.attrs.get_double("freq_scale", where), ff);
      p.tensors = {{"x", n.inputs[0]}, {"pos", n.inputs[1]}};
      if (ff) p.tensors["freq_factors"] = n.inputs[2];
      p.sizes = {{"t", type(0).shape[0]}, {"h", type(0).shape[1]}, {"d", type(0).shape[2]}};
      break;
    }
    case OpKind::attention: {
      const bool paged = n.inputs.size() > 3;
      p.def = ops::attention(n.attrs.get_double("scale", where), n.attrs.get_double("softcap", where),
                             n.attrs.get_bool("causal", where), n.attrs.get_int("window", where), type(1).dtype, paged);
      p.tensors = {{"q", n.inputs[0]}, {"k", n.inputs[1]}, {"v", n.inputs[2]}};
      p.sizes = {{"t", type(0).shape[0]}, {"h", type(0).shape[1]}, {"kh", type(1).shape[1]},
                 {"d", type(0).shape[2]}, {"s", type(1).shape[0]}};
      if (paged) {
        p.tensors["slots"] = n.inputs[3];
        p.sizes["s"] = type(3).shape[0];
        p.sizes["rows"] = type(1).shape[0];
      }
      break;
    }
    case OpKind::kv_write:
      p.def = ops::kv_write(type(0).dtype);
      p.tensors = {{"x", n.inputs[1]}, {"slots", n.inputs[2]}};
      p.sizes = {{"t", type(1).shape[0]}, {"kh", type(1).shape[1]}, {"d", type(1).shape[2]}, {"rows", type(0).shape[0]}};
      break;
    default:
      user_error("{}: the graph executor does not run '{}' yet", where, graph::op_name(n.op));
  }
  return p;
}

SymExpr row_bytes_of(const graph::TensorType& type) {
  SymExpr row = static_cast<int64_t>(kernel::storage_type(type.dtype).bytes());
  for (size_t i = 1; i < type.shape.size(); ++i) row = row * type.shape[i];
  return row;
}

// The plan of `consumer` folded into `producer`'s epilogue, the consumer reading the producer's
// result `value`; nullopt where the definitions do not fit (kernel/compute/fuse.h).
std::optional<NodePlan> fold(const NodePlan& producer, const NodePlan& consumer, ValueId value, const std::string& prefix) {
  std::string input;
  for (const auto& [name, id] : consumer.tensors) {
    if (id == value) {
      if (!input.empty()) return std::nullopt;  // read twice, e.g. mul(x, x)
      input = name;
    }
  }
  if (input.empty()) return std::nullopt;
  std::optional<kernel::FusedDef> fused = kernel::fuse_epilogue(producer.def, consumer.def, input, prefix);
  if (!fused) return std::nullopt;
  NodePlan plan{std::move(fused->def), producer.tensors, producer.sizes};
  for (const auto& [name, id] : consumer.tensors) {
    if (name != input) plan.tensors[fused->tensor_names.at(name)] = id;
  }
  for (const auto& [name, e] : consumer.sizes) {
    if (auto it = fused->size_names.find(name); it != fused->size_names.end()) plan.sizes[it->second] = e;
  }
  return plan;
}

}  // namespace

void GraphProgram::add_compute_step(NodePlan plan, ValueId output, const Target& target) {
  // Sizes the graph knows are compiled in as constants (shape specialization): loops over a
  // head or a hidden dimension get constant trip counts and no remainder code, and index
  // arithmetic divides by constants (an integer division per point cost more than the math).
  std::map<std::string, int64_t> constants;
  for (auto it = plan.sizes.begin(); it != plan.sizes.end();) {
    if (const std::optional<int64_t> value = it->second.as_constant()) {
      constants[it->first] = *value;
      it = plan.sizes.erase(it);
    } else {
      ++it;
    }
  }
  if (!constants.empty()) plan.def = kernel::specialize_sizes(plan.def, constants);
  auto step = std::make_unique<Step>();
  step->output = output;
  const std::string key = kernel::to_string(plan.def);
  auto& compiled = compiled_[key];
  if (!compiled) {
    CompileOptions options;
    options.target = target;
    options.compile = compile_;
    compiled = std::make_unique<CompiledOp>(compile(plan.def, options));
  }
  step->op = compiled.get();
  step->tensors = std::move(plan.tensors);
  step->sizes = std::move(plan.sizes);
  steps_.push_back(std::move(step));
}

GraphProgram::GraphProgram(const Graph& graph, const Target& target, const std::function<void(size_t, size_t)>& on_progress,
                           const ProgramOptions& options)
    : graph_(graph), compile_(options.compile) {
  const bool int8 = options.int8_activations && target.int8_dot_products();
  const Interleaved interleaved = choose_interleaved_weights(graph_, target, int8 && options.interleave_weight_rows);
  for (const auto& [id, rows] : interleaved) weight_row_interleave_[graph_.value(id).name] = rows;
  std::vector<passes::KernelGroup> groups;
  if (options.fuse) {
    groups = passes::fuse(graph_);
  } else {
    for (size_t i = 0; i < graph_.nodes.size(); ++i) groups.push_back({{i}});
  }
  for (const passes::KernelGroup& group : groups) {
    const size_t first = group.nodes.front();
    const Node& n = graph_.nodes[first];
    const std::string where = graph::node_label(graph_, first);
    if (group.nodes.size() > 1) {
      // The anchor with each member folded into its epilogue; where a member does not fold,
      // the plan so far becomes a step of its own and the member starts the next.
      NodePlan plan = plan_node(graph_, n, where, int8, interleaved);
      ValueId result = n.outputs.at(0);
      for (size_t k = 1; k < group.nodes.size(); ++k) {
        const Node& member = graph_.nodes[group.nodes[k]];
        NodePlan next = plan_node(graph_, member, graph::node_label(graph_, group.nodes[k]), int8, interleaved);
        if (std::optional<NodePlan> folded = fold(plan, next, result, fmt::format("e{}_", k))) {
          plan = std::move(*folded);
        } else {
          add_compute_step(std::move(plan), result, target);
          plan = std::move(next);
        }
        result = member.outputs.at(0);
      }
      add_compute_step(std::move(plan), result, target);
    } else if (n.op == OpKind::reshape) {
      auto step = std::make_unique<Step>();
      step->output = n.outputs.at(0);
      step->kind = Step::Kind::Alias;
      step->source = n.inputs[0];
      steps_.push_back(std::move(step));
    } else if (n.op == OpKind::slice && n.attrs.get_int("axis", where) == 0) {
      // Rows of a row-major tensor are contiguous: a window on the same buffer.
      auto step = std::make_unique<Step>();
      step->output = n.outputs.at(0);
      step->kind = Step::Kind::RowsView;
      step->source = n.inputs[0];
      step->first_row = n.attrs.get_sym("start", where);
      step->rows = n.attrs.get_sym("length", where);
      step->row_bytes = row_bytes_of(graph_.type(n.inputs[0]));
      steps_.push_back(std::move(step));
    } else {
      add_compute_step(plan_node(graph_, n, where, int8, interleaved), n.outputs.at(0), target);
      if (n.op == OpKind::kv_write) {
        // The new rows are scattered into the cache in place; the node's result is the cache.
        steps_.back()->kind = Step::Kind::InPlace;
        steps_.back()->source = n.inputs[0];
      }
    }
    if (on_progress) on_progress(group.nodes.back() + 1, graph_.nodes.size());
  }
  plan_lifetimes();
  if (compile_) build_executable();
}

// Each result lives until the last step that reads it or a view of it (memory is then
// released during a step, not only at its end: a long prefill holds a few layers'
// intermediates, not all of them).
void GraphProgram::plan_lifetimes() {
  std::vector<size_t> last_read(graph_.values.size(), 0);
  std::vector<bool> read(graph_.values.size(), false);
  for (ValueId id : graph_.outputs) {
    last_read[id.index] = kNeverReleased;
    read[id.index] = true;
  }
  for (size_t i = steps_.size(); i-- > 0;) {
    Step& step = *steps_[i];
    step.last_use = read[step.output.index] ? last_read[step.output.index] : kNeverReleased;
    const auto reads = [&](ValueId id, size_t until) {  // kNeverReleased is the largest
      last_read[id.index] = read[id.index] ? std::max(last_read[id.index], until) : until;
      read[id.index] = true;
    };
    if (step.kind != Step::Kind::Compute) reads(step.source, step.last_use);  // shares its buffer
    for (const auto& [name, id] : step.tensors) reads(id, i);
    if (step.kind == Step::Kind::Compute) {
      step.bytes = graph::num_elements(graph_.type(step.output).shape) *
                   static_cast<int64_t>(kernel::storage_type(graph_.type(step.output).dtype).bytes());
    }
  }
}

GraphProgram::~GraphProgram() = default;

std::vector<kernel::ComputeDef> GraphProgram::compute_defs() const {
  std::vector<kernel::ComputeDef> out;
  for (const auto& [printed, op] : compiled_) out.push_back(op->def);
  return out;
}

size_t GraphProgram::kernel_count() const {
  size_t count = 0;
  for (const auto& step : steps_) count += step->op ? step->op->kernels.size() : 0;
  return count;
}

// The launch list: a slot per graph value (and per scratch buffer), every size translated once
// and shared, every kernel's arguments resolved to slots and size indices.
void GraphProgram::build_executable() {
  runtime::Executable& ex = *executable_;
  ex.symbols.assign(graph_.symbols.begin(), graph_.symbols.end());
  LaunchListBuilder list(ex);
  ex.slot_count = static_cast<uint32_t>(graph_.values.size());
  for (const std::vector<ValueId>* leaves : {&graph_.inputs, &graph_.weights}) {
    for (ValueId id : *leaves) {
      ex.leaf_names.push_back(graph_.value(id).name);
      ex.leaf_slots.push_back(id.index);
    }
  }
  for (ValueId id : graph_.outputs) ex.output_slots.push_back(id.index);

  std::vector<std::vector<uint32_t>> due(steps_.size());  // per step: the slots freed after it
  const auto release_after = [&](size_t last_use, uint32_t slot) {
    if (last_use != kNeverReleased) due[last_use].push_back(slot);
  };
  using Kind = runtime::ExecStep::Kind;
  for (size_t index = 0; index < steps_.size(); ++index) {
    const Step& step = *steps_[index];
    const uint32_t out = step.output.index;
    if (step.kind == Step::Kind::Alias) {
      ex.steps.push_back({.kind = Kind::Alias, .slot = out, .source = step.source.index});
    } else if (step.kind == Step::Kind::RowsView) {
      ex.steps.push_back({.kind = Kind::View, .slot = out, .source = step.source.index,
                          .size = list.size(step.rows * step.row_bytes),
                          .offset = list.size(step.first_row * step.row_bytes)});
      release_after(step.last_use, out);
    } else {
      if (step.kind == Step::Kind::InPlace) ex.steps.push_back({.kind = Kind::Share, .slot = out, .source = step.source.index});
      ex.steps.push_back({.kind = Kind::Allocate, .slot = out, .size = list.size(step.bytes)});
      release_after(step.last_use, out);
      std::map<std::string, uint32_t> slots;
      for (const auto& [name, id] : step.tensors) slots[name] = id.index;
      slots[step.op->def.outputs.at(0).name] = out;
      list.add_op(*step.op, std::move(slots), step.sizes);
    }
    // Views were made after their sources: freeing the newest first frees views before them.
    for (auto it = due[index].rbegin(); it != due[index].rend(); ++it) ex.steps.push_back({.kind = Kind::Release, .slot = *it});
  }
}

void GraphProgram::run(runtime::Device& device, const std::map<std::string, runtime::Buffer*>& leaves,
                       const std::map<std::string, int64_t>& symbols, const std::vector<runtime::Buffer*>& outputs) {
  KILN_CHECK(compile_, "a program planned without compiling cannot run");
  const runtime::Executable& ex = *executable_;
  std::vector<runtime::Buffer*> leaf_buffers;
  for (const std::string& name : ex.leaf_names) {
    auto it = leaves.find(name);
    if (it == leaves.end()) user_error("graph input or weight '{}' is not bound", name);
    leaf_buffers.push_back(it->second);
  }
  std::vector<int64_t> symbol_values;
  for (const std::string& name : ex.symbols) {
    auto it = symbols.find(name);
    if (it == symbols.end()) user_error("symbol '{}' has no value", name);
    symbol_values.push_back(it->second);
  }
  executable_->run(device, leaf_buffers, symbol_values, outputs);
  // This convenience path keeps no memory between runs; a caller that runs many steps (the
  // model runner) runs the executable itself and keeps its arena.
  executable_->release_memory();
}

std::vector<GraphProgram::OpTime> GraphProgram::profile() const {
  std::vector<OpTime> out;
  std::map<std::string, OpTime> by_name;
  const runtime::Executable& ex = *executable_;
  for (size_t k = 0; k < ex.kernels.size() && k < ex.kernel_times().size(); ++k) {
    const runtime::Executable::KernelTime& t = ex.kernel_times()[k];
    if (t.launches == 0) continue;
    OpTime& o = by_name[ex.kernels[k].signature.name];
    o.name = ex.kernels[k].signature.name;
    o.launches += t.launches;
    o.seconds += t.seconds;
  }
  for (const auto& [name, t] : by_name) out.push_back(t);
  std::sort(out.begin(), out.end(), [](const OpTime& a, const OpTime& b) { return a.seconds > b.seconds; });
  return out;
}

}  // namespace kiln::compiler
