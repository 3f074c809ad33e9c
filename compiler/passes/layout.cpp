// Layout assignment (see pass.h): marks the producers of values that must be
// materialized in logical order.
#include "compiler/passes/pass.h"

namespace acnn::passes {

namespace {

// Consumers that read their operand in logical (row-major NCHW) order.
bool layout_sensitive(ir::OpKind k) {
  switch (k) {
    case ir::OpKind::Reshape:
    case ir::OpKind::Transpose:
    case ir::OpKind::Concat:
    case ir::OpKind::Slice:
    case ir::OpKind::Pad:
    case ir::OpKind::PadBackward:
    case ir::OpKind::Softmax:
    case ir::OpKind::LogSoftmax:
    case ir::OpKind::SoftmaxBackward:
    case ir::OpKind::LogSoftmaxBackward:
    case ir::OpKind::UpsampleNearest:
    case ir::OpKind::UpsampleNearestBackward:
    case ir::OpKind::UpsampleBilinear:
    case ir::OpKind::UpsampleBilinearBackward:
    case ir::OpKind::BroadcastTo:
    case ir::OpKind::Matmul:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool assign_layouts(ir::Graph& g) {
  std::vector<bool> plain(g.num_values(), false);
  for (const ir::Node& n : g.nodes())
    if (!n.dead && layout_sensitive(n.op))
      for (ir::ValueId v : n.inputs) plain[v] = true;
  // Graph outputs are copied out plain; update values are not: persistent
  // tensors are kept in the layout their update is produced in.
  for (const auto& [name, v] : g.outputs) plain[v] = true;
  bool changed = false;
  for (ir::Node& n : g.nodes()) {
    if (n.dead || ir::op_def(n.op).family == ir::OpFamily::Source || n.op == ir::OpKind::Reshape) continue;
    bool want = false;
    for (ir::ValueId v : n.outputs) want |= plain[v] && g.type(v).shape.size() >= 4;
    if (want == (n.attrs.s("layout") == "plain")) continue;
    if (want) n.attrs.set("layout", std::string("plain"));
    else n.attrs.erase("layout");
    changed = true;
  }
  return changed;
}

}  // namespace acnn::passes
