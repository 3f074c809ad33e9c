// Reverse-mode automatic differentiation on the IR. differentiate() appends
// the backward graph of a scalar loss to the forward graph: it finds the
// values that both depend on the requested values (`wrt`) and feed the loss,
// walks their producers in reverse topological order, calls each op's
// gradient rule (ops.def -> compiler/ops/<family>.cpp) through a GradContext,
// and sums the contributions a value receives from several users with `add`.
// Backward nodes carry the scope and source location of the forward node they
// differentiate, so dumps group them with it. The forward graph is unchanged.
#pragma once

#include <map>
#include <vector>

#include "compiler/ir/graph.h"

namespace acnn::autodiff {

struct GradientResult {
  // d(loss)/d(v) for each v in wrt that the loss depends on through ops with
  // gradients. A value the loss does not depend on (or only through ops
  // without a gradient, such as less or one_hot) has no entry: its gradient
  // is zero, and callers decide whether that is an error.
  std::map<ir::ValueId, ir::ValueId> grads;
};

// `loss` must be a scalar (f32[] or f64[]); its gradient is seeded with 1.
// Throws std::invalid_argument otherwise. Gradient rules that produce a value
// of the wrong type are internal errors (std::logic_error naming the op).
GradientResult differentiate(ir::Graph& g, ir::ValueId loss, const std::vector<ir::ValueId>& wrt);

}  // namespace acnn::autodiff
