// Batch-norm folding for inference (see pass.h).
#include "compiler/ir/builder.h"
#include "compiler/passes/pass.h"

namespace acnn::passes {

bool bn_fold(ir::Graph& g) {
  using ir::OpKind;
  std::vector<bool> updated(g.num_values(), false), pinned(g.num_values(), false);
  for (const ir::StateUpdate& u : g.updates) updated[u.target] = true;
  for (const auto& [name, v] : g.outputs) pinned[v] = true;
  for (const ir::StateUpdate& u : g.updates) pinned[u.value] = true;
  auto unchanging = [&](ir::ValueId v) {
    OpKind k = g.producer(v).op;
    return (k == OpKind::Param || k == OpKind::State || k == OpKind::Constant) && !updated[v] && is_float(g.type(v).dtype);
  };
  std::vector<std::vector<ir::NodeId>> users = g.users();
  std::vector<ir::ValueId> repl(g.num_values(), ir::kNoValue);
  ir::Builder b(g);
  bool changed = false;
  const size_t count = g.num_nodes();  // nodes appended below are never candidates
  for (size_t i = 0; i < count; ++i) {
    const ir::Node bn = g.node(static_cast<ir::NodeId>(i));  // copies: the builder appends to the node list
    if (bn.dead || bn.op != OpKind::BatchNormInfer) continue;
    ir::ValueId y = bn.inputs[0];
    const ir::Node conv = g.producer(y);
    if (conv.op != OpKind::Conv2d || conv.dead || pinned[y] || users[y].size() != 1) continue;
    bool ok = unchanging(conv.inputs[1]);
    for (size_t k = 1; k < 5; ++k) ok = ok && unchanging(bn.inputs[k]);
    if (conv.inputs.size() == 3) ok = ok && unchanging(conv.inputs[2]);
    if (!ok) continue;
    const Shape ws = g.type(conv.inputs[1]).shape;
    const int64_t out_ch = ws[0];
    b.scope = bn.scope;
    b.loc = bn.loc;
    ir::ValueId gamma = bn.inputs[1], beta = bn.inputs[2], mean = bn.inputs[3], var = bn.inputs[4];
    ir::ValueId s = b.div(gamma, b.emit1(OpKind::Sqrt, {b.scale(var, 1.0, bn.attrs.f("eps", 1e-5))}));
    ir::ValueId w = b.mul(conv.inputs[1], b.reshape(s, {out_ch, 1, 1, 1}));
    ir::ValueId shift = conv.inputs.size() == 3 ? b.sub(mean, conv.inputs[2]) : mean;
    ir::ValueId bias = b.sub(beta, b.mul(shift, s));
    b.scope = conv.scope;
    b.loc = conv.loc;
    ir::ValueId folded = b.emit1(OpKind::Conv2d, {conv.inputs[0], w, bias}, conv.attrs);
    repl[bn.outputs[0]] = folded;
    g.node(static_cast<ir::NodeId>(i)).dead = true;
    g.node(g.value(y).producer).dead = true;
    changed = true;
  }
  if (!changed) return false;
  auto fix = [&](ir::ValueId& v) {
    if (repl[v] != ir::kNoValue) v = repl[v];
  };
  repl.resize(g.num_values(), ir::kNoValue);
  for (ir::Node& n : g.nodes())
    for (ir::ValueId& v : n.inputs) fix(v);
  for (auto& [name, v] : g.outputs) fix(v);
  for (ir::StateUpdate& u : g.updates) fix(u.value);
  g.compact();
  g.toposort();
  return true;
}

}  // namespace acnn::passes
