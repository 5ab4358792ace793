#include "kernel/compute/fuse.h"

#include <set>

#include "kernel/ir/visitor.h"

namespace kiln::kernel {
namespace {

// Rewrites a consumer expression into the producer's terms: its axes and output sizes become
// the producer stage's, reads of the fused input become the epilogue value, other inputs are
// renamed. Fails (ok = false) if the fused input is read anywhere but at the consumer's point.
class IntoProducer : public ir::IRMutator {
 public:
  std::map<std::string, ir::Expr> vars;             // consumer variable -> producer expression
  std::map<std::string, std::string> tensor_names;  // consumer input -> fused input
  std::string fused_input;
  std::vector<std::string> consumer_axes;
  ir::Type value_type = ir::Type::f32();
  bool ok = true;

 protected:
  using ir::IRMutator::visit;

  ir::Expr visit(const ir::Var* op, const ir::Expr& e) override {
    auto it = vars.find(op->name);
    return it == vars.end() ? e : it->second;
  }

  ir::Expr visit(const ir::Access* op, const ir::Expr&) override {
    if (op->tensor == fused_input) {
      bool at_point = op->indices.size() == consumer_axes.size();
      for (size_t d = 0; at_point && d < op->indices.size(); ++d) {
        const ir::Var* v = op->indices[d].as<ir::Var>();
        at_point = v != nullptr && v->name == consumer_axes[d];
      }
      ok = ok && at_point && op->type == value_type;
      return ir::var(kEpilogueValue, value_type);
    }
    std::vector<ir::Expr> indices;
    for (const ir::Expr& i : op->indices) indices.push_back(mutate(i));
    auto renamed = tensor_names.find(op->tensor);
    ok = ok && renamed != tensor_names.end();
    return ir::Access::make(op->type, renamed != tensor_names.end() ? renamed->second : op->tensor, std::move(indices));
  }
};

}  // namespace

std::optional<FusedDef> fuse_epilogue(const ComputeDef& producer, const ComputeDef& consumer,
                                      const std::string& consumer_input, const std::string& prefix) {
  if (producer.outputs.size() != 1 || consumer.outputs.size() != 1 || consumer.stages.size() != 1) return std::nullopt;
  const Stage& c = consumer.stages[0];
  if (c.reduce != ReduceKind::None || !c.store_at.empty() || c.epilogue.defined()) return std::nullopt;
  const TensorDecl& out = producer.outputs[0];
  const TensorDecl& consumer_out = consumer.outputs[0];
  const TensorDecl* input = find_tensor(consumer, consumer_input);
  if (input == nullptr || out.shape.size() != consumer_out.shape.size() || c.axes.size() != out.shape.size()) {
    return std::nullopt;
  }
  if (value_type(input->dtype) != value_type(out.dtype)) return std::nullopt;

  FusedDef fused;
  fused.def = producer;
  Stage* s = nullptr;
  for (Stage& stage : fused.def.stages) {
    if (stage.name == out.name) s = &stage;
  }
  if (s == nullptr || !s->store_at.empty()) return std::nullopt;

  IntoProducer into;
  into.fused_input = consumer_input;
  into.consumer_axes = c.axes;
  into.value_type = s->epilogue.defined() ? s->epilogue.type() : s->type;
  // The consumer's output dimensions are the producer's; its other sizes keep their own.
  std::set<std::string> output_sizes;
  for (size_t d = 0; d < consumer_out.shape.size(); ++d) {
    const ir::Var* v = consumer_out.shape[d].as<ir::Var>();
    if (v == nullptr) return std::nullopt;
    into.vars[v->name] = out.shape[d];
    output_sizes.insert(v->name);
  }
  for (const std::string& size : consumer.size_params) {
    if (output_sizes.count(size)) continue;
    fused.size_names[size] = prefix + size;
    into.vars[size] = ir::var(prefix + size);
    fused.def.size_params.push_back(prefix + size);
  }
  for (size_t d = 0; d < c.axes.size(); ++d) into.vars[c.axes[d]] = ir::var(s->axes[d]);
  for (const TensorDecl& t : consumer.inputs) {
    if (t.name != consumer_input) into.tensor_names[t.name] = prefix + t.name;
  }
  for (const TensorDecl& t : consumer.inputs) {
    if (t.name == consumer_input) continue;
    TensorDecl renamed{prefix + t.name, t.dtype, {}};
    for (const ir::Expr& dim : t.shape) renamed.shape.push_back(into.mutate(dim));
    fused.def.inputs.push_back(renamed);
  }
  fused.tensor_names = into.tensor_names;
  ir::Expr epilogue = into.mutate(c.body);
  if (!into.ok) return std::nullopt;
  if (s->epilogue.defined()) epilogue = ir::substitute(epilogue, {{kEpilogueValue, s->epilogue}});
  s->epilogue = epilogue;
  fused.def.outputs[0].dtype = consumer_out.dtype;
  fused.def.name = producer.name + "_" + consumer.name;
  return fused;
}

}  // namespace kiln::kernel
