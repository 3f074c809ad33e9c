#include "compiler/passes/pass.h"

namespace acnn::passes {

bool dce(ir::Graph& g) {
  std::vector<bool> live_value(g.num_values(), false);
  for (const auto& [name, v] : g.outputs) live_value[v] = true;
  for (const ir::StateUpdate& u : g.updates) live_value[u.value] = live_value[u.target] = true;
  bool changed = false;
  for (int i = static_cast<int>(g.num_nodes()) - 1; i >= 0; --i) {
    ir::Node& n = g.node(i);
    if (n.dead) continue;
    bool live = false;
    for (ir::ValueId v : n.outputs) live |= live_value[v];
    if (!live) {
      n.dead = true;
      changed = true;
      continue;
    }
    for (ir::ValueId v : n.inputs) live_value[v] = true;
  }
  if (changed) g.compact();
  return changed;
}

}  // namespace acnn::passes
