// The op registry (graph/ops.h) promises nothing the op matrix does not test: every dtype an
// operand accepts appears, for that operand, in some case of the op's family, which the matrix
// runs on every target. Widening a DTypeSet without adding cases fails here.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "graph/ops.h"
#include "ops/op_cases.h"

namespace kiln::test {
namespace {

// Where an op's cases are: the family, the prefix of their definitions' names, and the
// definition's tensor for each registry operand (an output for kv_write's cache, which it
// updates in place).
struct Coverage {
  std::string family;
  std::string name_prefix;
  std::map<std::string, std::string> tensors;  // registry operand -> definition tensor
};

Coverage coverage_of(graph::OpKind op) {
  using graph::OpKind;
  const std::string name(graph::op_name(op));
  switch (op) {
    case OpKind::embedding: return {"embedding", "embedding_", {{"weight", "w"}, {"ids", "ids"}}};
    case OpKind::matmul: return {"matmul", "matmul_", {{"x", "x"}, {"weight", "w"}}};
    case OpKind::add: case OpKind::mul: case OpKind::sub: case OpKind::div:
      return {"binary", name + "_", {{"a", "a"}, {"b", "b"}}};
    case OpKind::scale: case OpKind::silu: case OpKind::gelu: case OpKind::gelu_tanh: case OpKind::exp:
    case OpKind::tanh: case OpKind::neg: case OpKind::rsqrt: case OpKind::softcap:
      return {"unary", name + "_", {{"x", "x"}}};
    case OpKind::cast: return {"convert", "convert_", {{"x", "x"}}};
    case OpKind::rms_norm: case OpKind::layer_norm: return {"normalization", name, {{"x", "x"}}};
    case OpKind::softmax: return {"normalization", "softmax", {{"x", "x"}, {"mask", "mask"}}};
    case OpKind::rope:
      return {"rope", "rope_", {{"x", "x"}, {"positions", "pos"}, {"freq_factors", "freq_factors"}}};
    case OpKind::attention:
      return {"attention", "attention", {{"q", "q"}, {"k", "k"}, {"v", "v"}, {"slots", "slots"}}};
    case OpKind::kv_write: return {"views", "kv_write_", {{"cache", "cache"}, {"new", "x"}, {"slots", "slots"}}};
    case OpKind::reshape: case OpKind::permute: case OpKind::slice: return {"views", name + "_", {{"x", "x"}}};
    case OpKind::concat: return {"views", "concat_", {{"x", "a"}}};
    case OpKind::sum: case OpKind::max: case OpKind::mean: case OpKind::argmax:
      return {"reduction", name, {{"x", "x"}}};
  }
  return {};
}

const kernel::TensorDecl* tensor_named(const kernel::ComputeDef& def, const std::string& name) {
  for (const auto* list : {&def.inputs, &def.outputs}) {
    for (const kernel::TensorDecl& t : *list) {
      if (t.name == name) return &t;
    }
  }
  return nullptr;
}

TEST(RegistryCoverage, EveryAcceptedDTypeIsInTheMatrix) {
  std::map<std::string, std::vector<OpCase>> families;
  for (const std::string& family : op_families()) families[family] = op_cases(family, 1);
  for (const graph::OpInfo& info : graph::all_ops()) {
    const Coverage coverage = coverage_of(info.kind);
    ASSERT_TRUE(families.count(coverage.family)) << info.name;
    for (const graph::OperandSpec& operand : info.operands) {
      ASSERT_TRUE(coverage.tensors.count(std::string(operand.name))) << info.name << " " << operand.name;
      const std::string tensor = coverage.tensors.at(std::string(operand.name));
      for (const DTypeInfo& dtype : all_dtypes()) {
        if (!operand.dtypes.contains(dtype.dtype)) continue;
        bool tested = false;
        for (const OpCase& c : families[coverage.family]) {
          const kernel::TensorDecl* t = tensor_named(c.def, tensor);
          tested = tested || (c.def.name.rfind(coverage.name_prefix, 0) == 0 && t && t->dtype == dtype.dtype);
        }
        EXPECT_TRUE(tested) << info.name << " accepts " << dtype.name << " for its " << operand.name
                            << ", but no case of the '" << coverage.family << "' family tests it";
      }
    }
  }
}

// cast's result dtype is an attribute, not an operand: every pair it accepts is tested.
TEST(RegistryCoverage, EveryCastPairIsInTheMatrix) {
  const std::vector<OpCase> cases = op_cases("convert", 1);
  const graph::OperandSpec& x = graph::op_info(graph::OpKind::cast).operands.at(0);
  for (const DType from : {DType::f32, DType::f16, DType::bf16}) {
    ASSERT_TRUE(x.dtypes.contains(from));
    for (const DType to : {DType::f32, DType::f16, DType::bf16}) {
      const std::string name = fmt::format("convert_{}_{}_2d", dtype_name(from), dtype_name(to));
      bool tested = false;
      for (const OpCase& c : cases) tested = tested || c.def.name == name;
      EXPECT_TRUE(tested) << name;
    }
  }
}

}  // namespace
}  // namespace kiln::test
