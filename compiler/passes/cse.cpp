// Common-subexpression elimination (see pass.h).
#include <unordered_map>

#include "compiler/passes/pass.h"

namespace acnn::passes {

namespace {

bool mergeable(ir::OpKind k) {
  switch (k) {
    case ir::OpKind::Input:
    case ir::OpKind::Param:
    case ir::OpKind::State:
    case ir::OpKind::RandomUniform:
    case ir::OpKind::Fused:
      return false;
    default:
      return true;
  }
}

std::vector<ir::ValueId> key_inputs(const ir::Node& n) {
  std::vector<ir::ValueId> in = n.inputs;
  if ((n.op == ir::OpKind::Add || n.op == ir::OpKind::Mul) && in[1] < in[0]) std::swap(in[0], in[1]);
  return in;
}

}  // namespace

bool cse(ir::Graph& g) {
  std::vector<ir::ValueId> repl(g.num_values());
  for (size_t v = 0; v < repl.size(); ++v) repl[v] = static_cast<ir::ValueId>(v);
  std::unordered_map<size_t, std::vector<ir::NodeId>> seen;
  bool changed = false;
  for (ir::NodeId i = 0; i < static_cast<ir::NodeId>(g.num_nodes()); ++i) {
    ir::Node& n = g.node(i);
    if (n.dead) continue;
    for (ir::ValueId& v : n.inputs) v = repl[v];
    if (!mergeable(n.op)) continue;
    std::vector<ir::ValueId> in = key_inputs(n);
    size_t h = std::hash<int>{}(static_cast<int>(n.op)) * 0x9e3779b97f4a7c15ull ^ n.attrs.hash();
    for (ir::ValueId v : in) h = (h ^ static_cast<size_t>(v)) * 0x100000001b3ull;
    auto& bucket = seen[h];
    ir::NodeId same = -1;
    for (ir::NodeId c : bucket) {
      const ir::Node& o = g.node(c);
      if (o.op == n.op && key_inputs(o) == in && o.attrs == n.attrs && o.outputs.size() == n.outputs.size()) {
        same = c;
        break;
      }
    }
    if (same < 0) {
      bucket.push_back(i);
      continue;
    }
    for (size_t k = 0; k < n.outputs.size(); ++k) repl[n.outputs[k]] = g.node(same).outputs[k];
    n.dead = true;
    changed = true;
  }
  if (!changed) return false;
  for (auto& [name, v] : g.outputs) v = repl[v];
  for (ir::StateUpdate& u : g.updates) u.value = repl[u.value];
  g.compact();
  return true;
}

}  // namespace acnn::passes
