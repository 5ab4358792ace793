// The graph IR: values with symbolic tensor types, and nodes in topological order.
//
// A Graph is plain data that passes read and rebuild; GraphBuilder (builder.h) makes one with
// every type inferred, and verify() (verify.h) checks that one is well formed.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "graph/attributes.h"
#include "graph/sym.h"

namespace kiln::graph {

struct TensorType {
  DType dtype = DType::f32;
  Shape shape;  // outermost dimension first (row-major); see sym.h

  size_t rank() const { return shape.size(); }
  bool same_as(const TensorType& other) const {
    return dtype == other.dtype && same_shape(shape, other.shape);
  }
};

std::string to_string(const TensorType& type);  // "f32[n_tokens, 576]"

// Every operator; ops.h holds the table that describes each (name, pattern, operands, rule).
enum class OpKind : uint8_t {
  embedding, matmul,
  add, mul, sub, div,
  scale, silu, gelu, gelu_tanh, exp, tanh, neg, rsqrt, cast, softcap,
  rms_norm, layer_norm, rope, softmax, attention, kv_write,
  reshape, permute, slice, concat,
  sum, max, mean, argmax,
};

// Index of a value in Graph::values.
struct ValueId {
  uint32_t index = UINT32_MAX;
  bool valid() const { return index != UINT32_MAX; }
  auto operator<=>(const ValueId&) const = default;
};

enum class ValueKind : uint8_t {
  Input,       // bound per run: activations, token ids, positions
  Weight,      // bound by name to the model file's bytes when the model loads
  Constant,    // bytes stored in the graph itself
  NodeOutput,  // computed by a node
};

struct Value {
  TensorType type;
  std::string name;  // unique for inputs, weights and constants; an optional label otherwise
  ValueKind kind = ValueKind::NodeOutput;
  int32_t producer = -1;      // NodeOutput: the index of the node in Graph::nodes
  std::vector<uint8_t> data;  // Constant: the elements, row-major, in the dtype's layout
};

struct Node {
  OpKind op;
  std::vector<ValueId> inputs;
  Attributes attrs;
  std::vector<ValueId> outputs;
};

struct Graph {
  std::vector<Value> values;  // indexed by ValueId
  std::vector<Node> nodes;    // topological order: a node reads only values defined before it
  std::vector<ValueId> inputs;
  std::vector<ValueId> weights;
  std::vector<ValueId> constants;
  std::vector<ValueId> outputs;
  // Symbols that shapes and attributes may use; the runtime binds each one before a run.
  std::set<std::string> symbols;

  const Value& value(ValueId id) const;  // InternalError when out of range
  const TensorType& type(ValueId id) const { return value(id).type; }
};

// Why a graph input, weight or constant is ill-formed, or "" when it is not: a name is needed;
// dimensions must not be negative constants; a weight's and a constant's must all be constants;
// a block-quantized tensor's rows must be whole blocks; a constant's bytes must fill its shape.
std::string leaf_problem(const Value& value);

// How printouts and messages name a value: its name for inputs, weights and constants, "%3"
// for the output of node 3 (and "%3.1" for a second output).
std::string value_label(const Graph& graph, ValueId id);

// How messages name a node: "node 3 (matmul 'ffn_up')", the quoted part being the name of its
// first output when it has one.
std::string node_label(const Graph& graph, size_t node_index);

}  // namespace kiln::graph
