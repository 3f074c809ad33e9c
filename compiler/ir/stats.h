// Static cost of a graph: parameter counts, multiply-accumulates per node and
// their totals per top-level scope (stem, layer1, ..., fc), which is what
// `acnn check` prints.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace acnn::ir {

// Multiply-accumulates of one node (0 for data movement and sources).
int64_t node_macs(const Graph& g, const Node& n);

struct ScopeStats {
  std::string scope;       // top-level scope name ("" for unscoped nodes)
  int64_t params = 0;      // trainable elements of Param nodes in the scope
  int64_t macs = 0;
  Shape output;            // shape of the last value the scope produced
};

struct GraphStats {
  int64_t params = 0;      // trainable parameter elements
  int64_t state = 0;       // non-trainable persistent elements (BN statistics)
  int64_t macs = 0;
  int64_t nodes = 0;
  std::vector<ScopeStats> scopes;  // in order of first appearance
};

GraphStats graph_stats(const Graph& g);

}  // namespace acnn::ir
