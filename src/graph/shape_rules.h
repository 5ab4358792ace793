// The shape and dtype rule of every op (internal to src/graph; the table in ops.cpp refers to
// them). Each returns the output types of a call or fails through OpCall::fail.
#pragma once

#include <vector>

#include "graph/ops.h"

namespace kiln::graph::rules {

std::vector<TensorType> same_as_input(const OpCall& call);
std::vector<TensorType> softcap(const OpCall& call);
std::vector<TensorType> cast(const OpCall& call);
std::vector<TensorType> broadcast(const OpCall& call);
std::vector<TensorType> embedding(const OpCall& call);
std::vector<TensorType> matmul(const OpCall& call);
std::vector<TensorType> norm(const OpCall& call);
std::vector<TensorType> rope(const OpCall& call);
std::vector<TensorType> softmax(const OpCall& call);
std::vector<TensorType> attention(const OpCall& call);
std::vector<TensorType> kv_write(const OpCall& call);
std::vector<TensorType> reshape(const OpCall& call);
std::vector<TensorType> permute(const OpCall& call);
std::vector<TensorType> slice(const OpCall& call);
std::vector<TensorType> concat(const OpCall& call);
std::vector<TensorType> reduce(const OpCall& call);
std::vector<TensorType> argmax(const OpCall& call);

}  // namespace kiln::graph::rules
