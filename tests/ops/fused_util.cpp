#include "tests/ops/fused_util.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <set>

namespace acnn::testing {

using ir::NodeId;
using ir::OpKind;
using ir::ValueId;

NodeId fuse(ir::Graph& g, const std::vector<NodeId>& group_in, const std::string& kind, const std::string& label) {
  std::vector<NodeId> group = group_in;
  std::sort(group.begin(), group.end());
  std::set<NodeId> in_group(group.begin(), group.end());
  std::set<ValueId> produced;
  for (NodeId id : group)
    for (ValueId v : g.node(id).outputs) produced.insert(v);

  auto body = std::make_shared<ir::Graph>();
  body->name = label.empty() ? kind : label;
  std::map<ValueId, ValueId> map;  // outer -> body
  std::vector<ValueId> inputs;
  for (NodeId id : group)
    for (ValueId v : g.node(id).inputs) {
      if (produced.count(v) || map.count(v)) continue;
      int64_t index = static_cast<int64_t>(inputs.size());
      const ir::ValueType& t = g.type(v);
      NodeId in = body->add_node(OpKind::Input, {}, {t},
                                 Attrs{{"name", "in" + std::to_string(index)}, {"index", index},
                                       {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}});
      map[v] = body->node(in).outputs[0];
      inputs.push_back(v);
    }
  for (NodeId id : group) {
    const ir::Node& n = g.node(id);
    std::vector<ValueId> ins;
    for (ValueId v : n.inputs) ins.push_back(map.at(v));
    std::vector<ir::ValueType> types;
    for (ValueId v : n.outputs) types.push_back(g.type(v));
    NodeId b = body->add_node(n.op, ins, types, n.attrs, n.scope, n.loc);
    for (size_t i = 0; i < n.outputs.size(); ++i) map[n.outputs[i]] = body->node(b).outputs[i];
  }
  // Exported: used by a live node outside the group, a graph output or an update.
  std::set<ValueId> used_outside;
  for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id) {
    const ir::Node& n = g.node(id);
    if (n.dead || in_group.count(id)) continue;
    for (ValueId v : n.inputs) used_outside.insert(v);
  }
  for (const auto& [name, v] : g.outputs) used_outside.insert(v);
  for (const ir::StateUpdate& u : g.updates) used_outside.insert(u.value);
  std::vector<ValueId> exported;
  for (NodeId id : group)
    for (ValueId v : g.node(id).outputs)
      if (used_outside.count(v)) exported.push_back(v);
  std::vector<ir::ValueType> types;
  for (size_t k = 0; k < exported.size(); ++k) {
    body->outputs.push_back({"out" + std::to_string(k), map.at(exported[k])});
    types.push_back(g.type(exported[k]));
  }
  NodeId f = g.add_node(OpKind::Fused, inputs, types, Attrs{{"kind", kind}, {"label", label.empty() ? kind : label}});
  g.node(f).body = body;
  std::vector<ValueId> outs = g.node(f).outputs;
  for (NodeId id : group) g.node(id).dead = true;
  for (size_t k = 0; k < exported.size(); ++k) g.replace_uses(exported[k], outs[k]);
  ValueId marker = outs.empty() ? ir::kNoValue : outs[0];
  g.toposort();
  g.compact();
  for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id)
    if (g.node(id).op == OpKind::Fused && g.node(id).body == body) return id;
  (void)marker;
  assert(false);
  return -1;
}

std::vector<NodeId> producers(const ir::Graph& g, const std::vector<ValueId>& values) {
  std::set<NodeId> r;
  for (ValueId v : values) r.insert(g.value(v).producer);
  return {r.begin(), r.end()};
}

std::vector<NodeId> compute_nodes(const ir::Graph& g) {
  std::vector<NodeId> r;
  for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id) {
    const ir::Node& n = g.node(id);
    if (n.dead) continue;
    switch (n.op) {
      case OpKind::Input: case OpKind::Param: case OpKind::State: case OpKind::Constant: case OpKind::RuntimeScalar:
        continue;
      default: r.push_back(id);
    }
  }
  return r;
}

}  // namespace acnn::testing
