#include <cassert>

#include "compiler/ir/builder.h"
#include "compiler/passes/pass.h"

namespace acnn::passes {

bool lower_mode(ir::Graph& g, Mode mode) {
  using ir::OpKind;
  bool changed = false;
  ir::Builder b(g);
  size_t count = g.num_nodes();  // nodes appended below are already lowered
  for (size_t i = 0; i < count; ++i) {
    ir::Node n = g.node(static_cast<ir::NodeId>(i));  // copy: add_node may reallocate
    if (n.dead) continue;
    if (n.op == OpKind::IfTraining) {
      g.replace_uses(n.outputs[0], n.inputs[mode == Mode::Train ? 0 : 1]);
      g.node(static_cast<ir::NodeId>(i)).dead = true;
      changed = true;
    } else if (n.op == OpKind::BatchNorm) {
      b.scope = n.scope;
      b.loc = n.loc;
      double eps = n.attrs.f("eps", 1e-5), momentum = n.attrs.f("momentum", 0.9);
      ir::ValueId x = n.inputs[0], gamma = n.inputs[1], beta = n.inputs[2], rmean = n.inputs[3], rvar = n.inputs[4];
      ir::ValueId y;
      if (mode == Mode::Eval) {
        y = b.emit1(OpKind::BatchNormInfer, {x, gamma, beta, rmean, rvar}, Attrs{{"eps", eps}});
      } else {
        auto outs = b.emit(OpKind::BatchNormTrain, {x, gamma, beta}, Attrs{{"eps", eps}});
        y = outs[0];
        // Running statistics: old * momentum + batch * (1 - momentum); the
        // variance is made unbiased as PyTorch does.
        const Shape& xs = g.type(x).shape;
        double count_per_channel = static_cast<double>(numel(xs) / xs[1]);
        double unbias = count_per_channel > 1 ? count_per_channel / (count_per_channel - 1) : 1.0;
        ir::ValueId new_mean = b.add(b.scale(rmean, momentum), b.scale(outs[1], 1.0 - momentum));
        ir::ValueId new_var = b.add(b.scale(rvar, momentum), b.scale(outs[2], (1.0 - momentum) * unbias));
        g.updates.push_back({rmean, new_mean});
        g.updates.push_back({rvar, new_var});
      }
      g.replace_uses(n.outputs[0], y);
      g.node(static_cast<ir::NodeId>(i)).dead = true;
      changed = true;
    }
  }
  if (changed) {
    g.toposort();
    dce(g);
  }
  return changed;
}

}  // namespace acnn::passes
