// The IR: a typed SSA dataflow graph. A Graph holds values (static shape and
// dtype, produced by exactly one node output) and nodes (an op from ops.def, its
// input values, its output values, attributes, the scope path of the DSL block
// that made it and the DSL location). Nodes are kept in a topological order;
// passes that remove nodes mark them dead and call compact(). Graph outputs are
// named ("logits", "loss"); state updates say which value replaces a parameter
// or state tensor after a training step. Build graphs with ir::Builder.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/attrs.h"
#include "compiler/ir/op.h"
#include "compiler/ir/types.h"
#include "dsl/source.h"

namespace acnn::ir {

using ValueId = int32_t;
using NodeId = int32_t;
constexpr ValueId kNoValue = -1;

struct ValueType {
  DType dtype = DType::F32;
  Shape shape;
  bool operator==(const ValueType& o) const { return dtype == o.dtype && shape == o.shape; }
};

struct Value {
  ValueType type;
  NodeId producer = -1;
  int output_index = 0;
};

class Graph;

struct Node {
  OpKind op;
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  Attrs attrs;
  std::string scope;  // instance path, e.g. "layer1.0.conv1" ("" at top level)
  SourceLoc loc;      // the DSL call that made it
  bool dead = false;
  // Fused nodes: the subgraph they compute. Its Input nodes (attr "index") are
  // the fused node's inputs in order; its outputs are the fused node's outputs.
  std::shared_ptr<Graph> body;
};

// A value that replaces a persistent tensor (Param/State node) after each step.
struct StateUpdate {
  ValueId target;  // output of a Param or State node
  ValueId value;   // the new contents (same type)
};

class Graph {
 public:
  std::string name;

  const Value& value(ValueId v) const { return values_[v]; }
  const ValueType& type(ValueId v) const { return values_[v].type; }
  const Node& node(NodeId n) const { return nodes_[n]; }
  Node& node(NodeId n) { return nodes_[n]; }
  const Node& producer(ValueId v) const { return nodes_[values_[v].producer]; }
  size_t num_values() const { return values_.size(); }
  size_t num_nodes() const { return nodes_.size(); }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& nodes() { return nodes_; }

  // Appends a node whose output types are already known (the Builder infers them).
  NodeId add_node(OpKind op, std::vector<ValueId> inputs, std::vector<ValueType> output_types,
                  Attrs attrs, std::string scope = {}, SourceLoc loc = {});

  // Named outputs, in order.
  std::vector<std::pair<std::string, ValueId>> outputs;
  std::vector<StateUpdate> updates;
  ValueId output(const std::string& name) const;  // kNoValue if absent

  // Replaces every use of `from` (node inputs, outputs, updates) with `to`.
  void replace_uses(ValueId from, ValueId to);
  // Users of each value (recomputed on demand; invalidated by edits).
  std::vector<std::vector<NodeId>> users() const;
  // Removes dead nodes and unreferenced values; renumbers ids densely while
  // keeping the relative order. Returns the number of nodes removed.
  int compact();
  // Reorders the live nodes topologically (stable where already ordered).
  void toposort();
  // Puts the nodes in the given order (a permutation of all node ids that
  // keeps every producer before its users).
  void reorder(const std::vector<NodeId>& order);

  // Persistent tensors by name: Param/State nodes, in graph order.
  std::vector<NodeId> persistent_nodes() const;
  NodeId find_persistent(const std::string& name) const;  // -1 if none

  std::unique_ptr<Graph> clone() const;

 private:
  std::vector<Value> values_;
  std::vector<Node> nodes_;
};

// Checks structural invariants: inputs defined before use, arities from the op
// table, output types equal to re-inferred types, unique persistent names,
// updates that match their targets. Returns a list of problems (empty = valid).
std::vector<std::string> verify(const Graph& g);

}  // namespace acnn::ir
