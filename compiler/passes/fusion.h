// The fusion pass: replaces connected groups of nodes by single `fused` nodes
// (the Fused-node contract, docs/passes.md). Groups are formed in a fixed
// order, each node joining at most one group: "conv" (conv2d -> [+bias] ->
// [batch_norm_infer] -> [relu] -> [+residual] -> [relu], single-use chain, the
// oneDNN post-op pattern), "batchnorm" (batch_norm_train -> [+residual] ->
// relu, exporting the statistics and whatever the backward pass reads),
// "batchnorm_backward" (relu_backward -> batch_norm_backward), "optimizer"
// (every parameter's update chain in one node) and "elementwise" (connected
// DAGs of unary/binary ops, optionally ending in trailing-axis reductions;
// same-shaped sibling DAGs reading one producer merge).
// A group never makes a cycle: it is convex in the dataflow graph (no path
// leaves it and comes back). A fused node's inputs are the values the group
// reads from outside, in order of first use; its outputs are the member
// values used outside (other nodes, graph outputs, updates), in node order;
// its body is the group as a standalone graph. The result is deterministic:
// groups depend only on the graph, never on addresses or hash order.
// unfuse() expands fused nodes back into their bodies (the trainer does that
// for kinds no fast backend runs, and tests check the round trip).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace acnn::passes {

struct FusionOptions {
  bool conv = true;
  bool batchnorm = true;     // forward and backward kinds
  bool optimizer = true;
  bool elementwise = true;
};

// Returns whether any fused node was formed.
bool fuse(ir::Graph& g, const FusionOptions& opts = {});

// Replaces every fused node for which `expand` says true (all when empty) by
// the nodes of its body. Returns whether anything changed.
bool unfuse(ir::Graph& g, const std::function<bool(const ir::Node&)>& expand = {});

// A fused node that computes the given member nodes of `g` (ids in
// topological order): the body, inputs, outputs and attributes of the
// contract, without changing `g`. `kind` goes into attrs. `users` is
// g.users(); `pinned` marks values that graph outputs or updates use.
struct FusedGroup {
  std::string kind;
  std::vector<ir::NodeId> members;
};
struct FusedSpec {
  std::vector<ir::ValueId> inputs, outputs;  // values of `g`
  std::shared_ptr<ir::Graph> body;
  Attrs attrs;
  std::string scope;
};
FusedSpec make_fused(const ir::Graph& g, const FusedGroup& group, const std::vector<std::vector<ir::NodeId>>& users,
                     const std::vector<bool>& pinned);
// Values that graph outputs and updates (targets and values) refer to.
std::vector<bool> pinned_values(const ir::Graph& g);

// Rebuilds `g` with each group replaced by one fused node (groups must be
// disjoint and convex). Node order: each fused node takes the place of its
// last member; nodes are then ordered topologically, stably.
void apply_groups(ir::Graph& g, const std::vector<FusedGroup>& groups);

}  // namespace acnn::passes
