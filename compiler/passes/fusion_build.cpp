// Building fused nodes from groups (the contract's body, inputs, outputs and
// attributes), rebuilding a graph with groups replaced, and unfusing.
#include <algorithm>
#include <cassert>
#include <map>
#include <queue>

#include "compiler/passes/fusion.h"

namespace acnn::passes {

using ir::Graph;
using ir::Node;
using ir::NodeId;
using ir::OpKind;
using ir::ValueId;

std::vector<bool> pinned_values(const Graph& g) {
  std::vector<bool> pinned(g.num_values(), false);
  for (const auto& [name, v] : g.outputs) pinned[v] = true;
  for (const ir::StateUpdate& u : g.updates) pinned[u.value] = pinned[u.target] = true;
  return pinned;
}

namespace {

// "conv2d+add+relu"; long groups list each op once with its count.
std::string group_label(const Graph& g, const FusedGroup& group) {
  std::vector<std::pair<std::string, int>> counts;
  for (NodeId m : group.members) {
    std::string name = ir::op_name(g.node(m).op);
    auto it = std::find_if(counts.begin(), counts.end(), [&](auto& c) { return c.first == name; });
    if (it == counts.end()) counts.emplace_back(name, 1);
    else ++it->second;
  }
  std::string label;
  if (group.members.size() <= 6) {
    for (NodeId m : group.members) label += (label.empty() ? "" : "+") + std::string(ir::op_name(g.node(m).op));
    return label;
  }
  for (auto& [name, n] : counts) label += (label.empty() ? "" : "+") + name + (n > 1 ? "*" + std::to_string(n) : "");
  return label;
}

std::vector<std::string> split_scope(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    if (dot == std::string::npos) dot = s.size();
    parts.push_back(s.substr(start, dot - start));
    start = dot + 1;
  }
  return parts;
}

// The longest common dotted prefix of the members' (non-empty) scopes.
std::string common_scope(const Graph& g, const FusedGroup& group) {
  std::vector<std::string> common;
  bool first = true;
  for (NodeId m : group.members) {
    const std::string& s = g.node(m).scope;
    if (s.empty()) continue;
    std::vector<std::string> parts = split_scope(s);
    if (first) {
      common = std::move(parts);
      first = false;
      continue;
    }
    size_t k = 0;
    while (k < common.size() && k < parts.size() && common[k] == parts[k]) ++k;
    common.resize(k);
  }
  std::string r;
  for (const std::string& p : common) r += (r.empty() ? "" : ".") + p;
  return r;
}

}  // namespace

FusedSpec make_fused(const Graph& g, const FusedGroup& group, const std::vector<std::vector<NodeId>>& users,
                     const std::vector<bool>& pinned) {
  std::vector<NodeId> sorted = group.members;
  std::sort(sorted.begin(), sorted.end());
  auto member = [&](NodeId n) { return std::binary_search(sorted.begin(), sorted.end(), n); };
  FusedSpec spec;
  spec.body = std::make_shared<Graph>();
  Graph& body = *spec.body;
  body.name = group.kind;
  std::map<ValueId, ValueId> map;  // value of g -> value of the body
  for (NodeId m : group.members)
    for (ValueId v : g.node(m).inputs) {
      if (member(g.value(v).producer) || map.count(v)) continue;
      int64_t index = static_cast<int64_t>(spec.inputs.size());
      const ir::ValueType& t = g.type(v);
      NodeId in = body.add_node(OpKind::Input, {}, {t},
                                Attrs{{"name", "in" + std::to_string(index)}, {"index", index},
                                      {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}});
      map[v] = body.node(in).outputs[0];
      spec.inputs.push_back(v);
    }
  for (NodeId m : group.members) {
    const Node& n = g.node(m);
    std::vector<ValueId> ins;
    for (ValueId v : n.inputs) ins.push_back(map.at(v));
    std::vector<ir::ValueType> types;
    for (ValueId v : n.outputs) types.push_back(g.type(v));
    NodeId id = body.add_node(n.op, std::move(ins), std::move(types), n.attrs, n.scope, n.loc);
    for (size_t k = 0; k < n.outputs.size(); ++k) map[n.outputs[k]] = body.node(id).outputs[k];
  }
  for (NodeId m : group.members)
    for (ValueId v : g.node(m).outputs) {
      bool outside = pinned[v];
      for (NodeId u : users[v]) outside |= !member(u);
      if (!outside) continue;
      body.outputs.emplace_back("out" + std::to_string(spec.outputs.size()), map.at(v));
      spec.outputs.push_back(v);
    }
  spec.attrs.set("kind", group.kind);
  spec.attrs.set("label", group_label(g, group));
  spec.scope = common_scope(g, group);
  return spec;
}

void apply_groups(Graph& g, const std::vector<FusedGroup>& groups) {
  if (groups.empty()) return;
  const size_t n = g.num_nodes();
  std::vector<std::vector<NodeId>> users = g.users();
  std::vector<bool> pinned = pinned_values(g);
  std::vector<int> group_of(n, -1);
  for (size_t gi = 0; gi < groups.size(); ++gi)
    for (NodeId m : groups[gi].members) {
      assert(group_of[m] < 0 && "groups overlap");
      group_of[m] = static_cast<int>(gi);
    }
  std::vector<FusedSpec> specs;
  specs.reserve(groups.size());
  for (const FusedGroup& grp : groups) specs.push_back(make_fused(g, grp, users, pinned));

  // Units: a plain node, or a group keyed by its last member.
  struct Unit {
    int group = -1;
    NodeId node = -1;
    NodeId key = -1;
  };
  std::vector<Unit> units;
  std::vector<int> unit_of(n, -1), unit_of_group(groups.size(), -1);
  for (NodeId i = 0; i < static_cast<NodeId>(n); ++i) {
    int gi = group_of[i];
    if (gi < 0) {
      unit_of[i] = static_cast<int>(units.size());
      units.push_back({-1, i, i});
    } else {
      if (unit_of_group[gi] < 0) {
        unit_of_group[gi] = static_cast<int>(units.size());
        units.push_back({gi, -1, i});
      }
      unit_of[i] = unit_of_group[gi];
      units[unit_of[i]].key = i;  // members come in order: ends at the last one
    }
  }
  auto unit_inputs = [&](const Unit& u) -> const std::vector<ValueId>& {
    return u.group >= 0 ? specs[u.group].inputs : g.node(u.node).inputs;
  };
  std::vector<int> pending(units.size(), 0);
  std::vector<std::vector<int>> consumers(units.size());
  for (int u = 0; u < static_cast<int>(units.size()); ++u) {
    std::vector<int> deps;
    for (ValueId v : unit_inputs(units[u])) deps.push_back(unit_of[g.value(v).producer]);
    std::sort(deps.begin(), deps.end());
    deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
    for (int d : deps) {
      assert(d != u && "a group reads its own output: not convex");
      consumers[d].push_back(u);
    }
    pending[u] = static_cast<int>(deps.size());
  }
  auto later = [&](int a, int b) { return units[a].key > units[b].key; };
  std::priority_queue<int, std::vector<int>, decltype(later)> ready(later);
  for (int u = 0; u < static_cast<int>(units.size()); ++u)
    if (pending[u] == 0) ready.push(u);

  Graph out;
  out.name = g.name;
  std::vector<ValueId> map(g.num_values(), ir::kNoValue);
  auto mapped = [&](const std::vector<ValueId>& vs) {
    std::vector<ValueId> r;
    r.reserve(vs.size());
    for (ValueId v : vs) {
      assert(map[v] != ir::kNoValue);
      r.push_back(map[v]);
    }
    return r;
  };
  size_t emitted = 0;
  while (!ready.empty()) {
    int u = ready.top();
    ready.pop();
    ++emitted;
    const Unit& unit = units[u];
    if (unit.group < 0) {
      const Node& nd = g.node(unit.node);
      std::vector<ir::ValueType> types;
      for (ValueId v : nd.outputs) types.push_back(g.type(v));
      NodeId id = out.add_node(nd.op, mapped(nd.inputs), std::move(types), nd.attrs, nd.scope, nd.loc);
      out.node(id).body = nd.body;
      for (size_t k = 0; k < nd.outputs.size(); ++k) map[nd.outputs[k]] = out.node(id).outputs[k];
    } else {
      FusedSpec& spec = specs[unit.group];
      std::vector<ir::ValueType> types;
      for (ValueId v : spec.outputs) types.push_back(g.type(v));
      const Node& first = g.node(groups[unit.group].members.front());
      NodeId id = out.add_node(OpKind::Fused, mapped(spec.inputs), std::move(types), spec.attrs, spec.scope, first.loc);
      out.node(id).body = spec.body;
      for (size_t k = 0; k < spec.outputs.size(); ++k) map[spec.outputs[k]] = out.node(id).outputs[k];
    }
    for (int c : consumers[u])
      if (--pending[c] == 0) ready.push(c);
  }
  assert(emitted == units.size() && "fusion made a cycle");
  (void)emitted;
  for (const auto& [name, v] : g.outputs) out.outputs.emplace_back(name, map[v]);
  for (const ir::StateUpdate& up : g.updates) out.updates.push_back({map[up.target], map[up.value]});
  g = std::move(out);
}

bool unfuse(Graph& g, const std::function<bool(const Node&)>& expand) {
  std::vector<bool> expanding(g.num_nodes(), false);  // expand() is asked once per node
  bool any = false;
  for (NodeId i = 0; i < static_cast<NodeId>(g.num_nodes()); ++i) {
    const Node& n = g.node(i);
    if (!n.dead && n.op == OpKind::Fused && n.body && (!expand || expand(n))) expanding[i] = any = true;
  }
  if (!any) return false;
  Graph out;
  out.name = g.name;
  std::vector<ValueId> map(g.num_values(), ir::kNoValue);
  auto copy_node = [&](Graph& dst, const Graph& src, const Node& nd, const std::vector<ValueId>& src_map,
                       std::vector<ValueId>& out_map) {
    std::vector<ValueId> ins;
    for (ValueId v : nd.inputs) ins.push_back(src_map[v]);
    std::vector<ir::ValueType> types;
    for (ValueId v : nd.outputs) types.push_back(src.type(v));
    NodeId id = dst.add_node(nd.op, std::move(ins), std::move(types), nd.attrs, nd.scope, nd.loc);
    dst.node(id).body = nd.body;
    for (size_t k = 0; k < nd.outputs.size(); ++k) out_map[nd.outputs[k]] = dst.node(id).outputs[k];
  };
  for (NodeId i = 0; i < static_cast<NodeId>(g.num_nodes()); ++i) {
    const Node& n = g.node(i);
    if (n.dead) continue;
    if (!expanding[i]) {
      copy_node(out, g, n, map, map);
      continue;
    }
    const Graph& body = *n.body;
    std::vector<ValueId> bmap(body.num_values(), ir::kNoValue);
    for (const Node& b : body.nodes()) {
      if (b.dead) continue;
      if (b.op == OpKind::Input) {
        bmap[b.outputs[0]] = map[n.inputs[b.attrs.i("index")]];
        continue;
      }
      copy_node(out, body, b, bmap, bmap);
    }
    for (size_t k = 0; k < n.outputs.size(); ++k) map[n.outputs[k]] = bmap[body.outputs[k].second];
  }
  for (const auto& [name, v] : g.outputs) out.outputs.emplace_back(name, map[v]);
  for (const ir::StateUpdate& up : g.updates) out.updates.push_back({map[up.target], map[up.value]});
  g = std::move(out);
  return true;
}

}  // namespace acnn::passes
