// Test helper that forms Fused nodes by hand, the way the fusion pass does
// (the contract in compiler/ops/fused.h): a group of nodes of a graph becomes
// one Fused node whose inputs are the values the group reads from outside (in
// order of first use), whose outputs are the group's values used outside it
// (or named as graph outputs / state updates), and whose body is the group as
// a standalone graph. Lets backend tests build every fused kind without
// depending on the fusion pass's heuristics.
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace acnn::testing {

// Replaces `group` (node ids of g) by one Fused node of `kind`, then
// toposorts and compacts g (node ids change). Returns the new node's id.
ir::NodeId fuse(ir::Graph& g, const std::vector<ir::NodeId>& group, const std::string& kind,
                const std::string& label = "");

// Node ids of every live node of g that produces one of `values`.
std::vector<ir::NodeId> producers(const ir::Graph& g, const std::vector<ir::ValueId>& values);

// Node ids of every live node of g that is not a source (Input, Param, State,
// Constant, RuntimeScalar): "all the computation".
std::vector<ir::NodeId> compute_nodes(const ir::Graph& g);

}  // namespace acnn::testing
