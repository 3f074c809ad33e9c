// The reference interpreter: runs a whole graph node by node on the reference
// kernels with plain host tensors. It is slow and simple on purpose: tests use
// it as the oracle, and `acnn run` uses it for a forward pass.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "runtime/tensor.h"

namespace acnn {

struct InterpreterResult {
  std::map<std::string, Tensor> outputs;            // by graph output name
  std::map<std::string, Tensor> updated_state;      // new values of updated params/state
  std::vector<Tensor> values;                       // every value, when keep_all
};

// `feeds` gives Input nodes (by name) and persistent tensors (Param/State by
// name); persistent tensors not fed are initialized by init_persistent().
// Runtime scalars come from ctx.scalars.
InterpreterResult interpret(const ir::Graph& g, const std::map<std::string, Tensor>& feeds, ExecContext& ctx,
                            bool keep_all = false);

// Initializes a Param or State node's tensor from its `init` attribute
// ("kaiming_normal", "kaiming_uniform", "zeros", "ones", "normal:<std>",
// "uniform:<a>"), deterministically from (seed, name).
Tensor init_persistent(const ir::Node& node, DType dtype, uint64_t seed);

}  // namespace acnn
