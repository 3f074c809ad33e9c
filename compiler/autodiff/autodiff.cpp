#include "compiler/autodiff/autodiff.h"

#include <stdexcept>
#include <string>

#include "compiler/ir/builder.h"

namespace acnn::autodiff {

using ir::kNoValue;
using ir::NodeId;
using ir::ValueId;

GradientResult differentiate(ir::Graph& g, ValueId loss, const std::vector<ValueId>& wrt) {
  const ir::ValueType lt = g.type(loss);
  if (!lt.shape.empty() || (lt.dtype != DType::F32 && lt.dtype != DType::F64))
    throw std::invalid_argument("differentiate: the loss must be a scalar f32[] or f64[], got " +
                                type_str(lt.dtype, lt.shape));
  const size_t num_values = g.num_values();
  const NodeId num_nodes = static_cast<NodeId>(g.num_nodes());

  // Values that depend on wrt (forward sweep) and that the loss depends on
  // (backward sweep); only values in both need a gradient.
  std::vector<bool> depends(num_values, false), feeds_loss(num_values, false);
  for (ValueId v : wrt) depends[v] = true;
  for (NodeId n = 0; n < num_nodes; ++n) {
    const ir::Node& node = g.node(n);
    if (node.dead) continue;
    bool any = false;
    for (ValueId v : node.inputs) any = any || depends[v];
    if (any)
      for (ValueId v : node.outputs) depends[v] = true;
  }
  feeds_loss[loss] = true;
  for (NodeId n = num_nodes - 1; n >= 0; --n) {
    const ir::Node& node = g.node(n);
    if (node.dead) continue;
    bool any = false;
    for (ValueId v : node.outputs) any = any || feeds_loss[v];
    if (any)
      for (ValueId v : node.inputs) feeds_loss[v] = true;
  }

  ir::Builder b(g);
  std::vector<ValueId> grad(num_values, kNoValue);
  {
    const ir::Node& ln = g.producer(loss);
    b.scope = ln.scope;
    b.loc = ln.loc;
  }
  grad[loss] = b.fill({}, 1.0, lt.dtype);

  for (NodeId n = num_nodes - 1; n >= 0; --n) {
    // A copy: gradient rules append nodes, which may move the node storage.
    const ir::Node node = g.node(n);
    if (node.dead) continue;
    std::vector<ValueId> out_grads;
    bool any_out = false;
    for (ValueId v : node.outputs) {
      out_grads.push_back(grad[v]);
      any_out = any_out || grad[v] != kNoValue;
    }
    std::vector<bool> needs;
    bool any_in = false;
    for (ValueId v : node.inputs) {
      needs.push_back(depends[v] && feeds_loss[v]);
      any_in = any_in || needs.back();
    }
    if (!any_out || !any_in) continue;

    b.scope = node.scope;
    b.loc = node.loc;
    ir::GradContext ctx(b, g, node, out_grads, needs);
    ir::op_def(node.op).grad(ctx);
    const std::vector<ValueId>& din = ctx.in_grads();
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const ValueId v = node.inputs[i], d = din[i];
      if (!needs[i] || d == kNoValue) continue;
      if (!(g.type(d) == g.type(v)))
        throw std::logic_error(std::string("differentiate: the gradient rule of ") + ir::op_name(node.op) +
                               " gives input " + std::to_string(i) + " a " + type_str(g.type(d).dtype, g.type(d).shape) +
                               " gradient for a " + type_str(g.type(v).dtype, g.type(v).shape) + " value");
      grad[v] = grad[v] == kNoValue ? d : b.add(grad[v], d);
    }
  }

  GradientResult r;
  for (ValueId v : wrt)
    if (grad[v] != kNoValue) r.grads[v] = grad[v];
  return r;
}

}  // namespace acnn::autodiff
