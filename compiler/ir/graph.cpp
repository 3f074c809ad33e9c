#include "compiler/ir/graph.h"

#include <algorithm>
#include <cassert>
#include <set>

namespace acnn::ir {

NodeId Graph::add_node(OpKind op, std::vector<ValueId> inputs, std::vector<ValueType> output_types,
                       Attrs attrs, std::string scope, SourceLoc loc) {
  NodeId id = static_cast<NodeId>(nodes_.size());
  Node n;
  n.op = op;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  n.scope = std::move(scope);
  n.loc = loc;
  for (size_t i = 0; i < output_types.size(); ++i) {
    ValueId v = static_cast<ValueId>(values_.size());
    values_.push_back(Value{std::move(output_types[i]), id, static_cast<int>(i)});
    n.outputs.push_back(v);
  }
  nodes_.push_back(std::move(n));
  return id;
}

ValueId Graph::output(const std::string& name) const {
  for (const auto& [n, v] : outputs)
    if (n == name) return v;
  return kNoValue;
}

void Graph::replace_uses(ValueId from, ValueId to) {
  for (Node& n : nodes_)
    for (ValueId& v : n.inputs)
      if (v == from) v = to;
  for (auto& [name, v] : outputs)
    if (v == from) v = to;
  for (StateUpdate& u : updates)
    if (u.value == from) u.value = to;
}

std::vector<std::vector<NodeId>> Graph::users() const {
  std::vector<std::vector<NodeId>> u(values_.size());
  for (NodeId i = 0; i < static_cast<NodeId>(nodes_.size()); ++i) {
    if (nodes_[i].dead) continue;
    for (ValueId v : nodes_[i].inputs) {
      auto& list = u[v];
      if (list.empty() || list.back() != i) list.push_back(i);
    }
  }
  return u;
}

int Graph::compact() {
  std::vector<NodeId> node_map(nodes_.size(), -1);
  std::vector<ValueId> value_map(values_.size(), kNoValue);
  std::vector<Node> nodes;
  std::vector<Value> values;
  int removed = 0;
  for (NodeId i = 0; i < static_cast<NodeId>(nodes_.size()); ++i) {
    if (nodes_[i].dead) {
      ++removed;
      continue;
    }
    node_map[i] = static_cast<NodeId>(nodes.size());
    Node n = std::move(nodes_[i]);
    for (ValueId& out : n.outputs) {
      ValueId nv = static_cast<ValueId>(values.size());
      Value val = values_[out];
      val.producer = node_map[i];
      values.push_back(val);
      value_map[out] = nv;
      out = nv;
    }
    nodes.push_back(std::move(n));
  }
  for (Node& n : nodes)
    for (ValueId& v : n.inputs) {
      assert(value_map[v] != kNoValue && "a live node uses a value of a dead node");
      v = value_map[v];
    }
  for (auto& [name, v] : outputs) v = value_map[v];
  for (StateUpdate& u : updates) {
    u.target = value_map[u.target];
    u.value = value_map[u.value];
  }
  nodes_ = std::move(nodes);
  values_ = std::move(values);
  return removed;
}

void Graph::toposort() {
  // Kahn's algorithm, always taking the lowest-numbered ready node so that an
  // already-ordered graph keeps its order.
  size_t n = nodes_.size();
  std::vector<int> pending(n, 0);
  std::vector<std::vector<NodeId>> consumers(n);
  for (NodeId i = 0; i < static_cast<NodeId>(n); ++i) {
    std::set<NodeId> deps;
    for (ValueId v : nodes_[i].inputs) deps.insert(values_[v].producer);
    pending[i] = static_cast<int>(deps.size());
    for (NodeId d : deps) consumers[d].push_back(i);
  }
  std::set<NodeId> ready;
  for (NodeId i = 0; i < static_cast<NodeId>(n); ++i)
    if (pending[i] == 0) ready.insert(i);
  std::vector<NodeId> order;
  while (!ready.empty()) {
    NodeId i = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(i);
    for (NodeId c : consumers[i])
      if (--pending[c] == 0) ready.insert(c);
  }
  assert(order.size() == n && "graph has a cycle");
  if (!std::is_sorted(order.begin(), order.end())) reorder(order);
}

void Graph::reorder(const std::vector<NodeId>& order) {
  size_t n = nodes_.size();
  assert(order.size() == n);
  std::vector<NodeId> new_id(n);
  for (size_t k = 0; k < n; ++k) new_id[order[k]] = static_cast<NodeId>(k);
  std::vector<Node> nodes(n);
  for (size_t k = 0; k < n; ++k) nodes[k] = std::move(nodes_[order[k]]);
  nodes_ = std::move(nodes);
  for (Value& v : values_) v.producer = new_id[v.producer];
}

std::vector<NodeId> Graph::persistent_nodes() const {
  std::vector<NodeId> out;
  for (NodeId i = 0; i < static_cast<NodeId>(nodes_.size()); ++i)
    if (!nodes_[i].dead && (nodes_[i].op == OpKind::Param || nodes_[i].op == OpKind::State)) out.push_back(i);
  return out;
}

NodeId Graph::find_persistent(const std::string& name) const {
  for (NodeId i : persistent_nodes())
    if (nodes_[i].attrs.s("name") == name) return i;
  return -1;
}

std::unique_ptr<Graph> Graph::clone() const { return std::make_unique<Graph>(*this); }

std::vector<std::string> verify(const Graph& g) {
  std::vector<std::string> problems;
  std::vector<bool> defined(g.num_values(), false);
  std::set<std::string> names;
  for (NodeId i = 0; i < static_cast<NodeId>(g.num_nodes()); ++i) {
    const Node& n = g.node(i);
    if (n.dead) continue;
    const OpDef& def = op_def(n.op);
    std::string where = "node " + std::to_string(i) + " (" + def.name + ")";
    int nin = static_cast<int>(n.inputs.size());
    if (nin < def.min_inputs || (def.max_inputs >= 0 && nin > def.max_inputs))
      problems.push_back(where + ": has " + std::to_string(nin) + " inputs");
    std::vector<ValueType> in_types;
    for (ValueId v : n.inputs) {
      if (v < 0 || v >= static_cast<ValueId>(g.num_values()) || !defined[v]) {
        problems.push_back(where + ": uses value %" + std::to_string(v) + " before its definition");
        continue;
      }
      in_types.push_back(g.type(v));
    }
    if (in_types.size() == n.inputs.size() && n.op != OpKind::Fused) {
      std::vector<ValueType> out_types;
      std::string err = def.infer(in_types, n.attrs, out_types);
      if (!err.empty()) {
        problems.push_back(where + ": " + err);
      } else if (out_types.size() != n.outputs.size()) {
        problems.push_back(where + ": output count differs from inference");
      } else {
        for (size_t k = 0; k < out_types.size(); ++k)
          if (!(out_types[k] == g.type(n.outputs[k])))
            problems.push_back(where + ": output " + std::to_string(k) + " is " +
                               type_str(g.type(n.outputs[k]).dtype, g.type(n.outputs[k]).shape) +
                               " but inference says " + type_str(out_types[k].dtype, out_types[k].shape));
      }
    }
    for (ValueId v : n.outputs) {
      if (g.value(v).producer != i) problems.push_back(where + ": output %" + std::to_string(v) + " has another producer");
      defined[v] = true;
    }
    if (n.op == OpKind::Param || n.op == OpKind::State) {
      const std::string& name = n.attrs.s("name");
      if (name.empty()) problems.push_back(where + ": persistent tensor without a name");
      if (!names.insert(name).second) problems.push_back(where + ": duplicate persistent name `" + name + "`");
    }
  }
  for (const auto& [name, v] : g.outputs)
    if (v < 0 || v >= static_cast<ValueId>(g.num_values()) || !defined[v])
      problems.push_back("output `" + name + "` is not defined");
  for (const StateUpdate& u : g.updates) {
    if (u.target < 0 || u.value < 0 || !defined[u.target] || !defined[u.value]) {
      problems.push_back("state update refers to an undefined value");
      continue;
    }
    OpKind k = g.producer(u.target).op;
    if (k != OpKind::Param && k != OpKind::State) problems.push_back("state update target is not a param/state");
    if (!(g.type(u.target) == g.type(u.value))) problems.push_back("state update changes the type of " + g.producer(u.target).attrs.s("name"));
  }
  return problems;
}

}  // namespace acnn::ir
