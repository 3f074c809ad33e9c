// Textual, DOT and JSON forms of a graph. The text form is stable (golden
// tests compare it): values are numbered in definition order, attributes are
// sorted, persistent tensors are shown by name, and each node carries its
// scope path. DOT draws one box per node, grouped by top-level scope; JSON
// holds everything, constants included, for tools.
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include "compiler/ir/graph.h"

namespace acnn::ir {

struct PrintOptions {
  bool locations = false;  // append "file:line" of the DSL call
  const SourceManager* sources = nullptr;  // needed for locations
  // Only nodes of this scope and below ("layer2.0" keeps "layer2.0.conv1",
  // not "layer2.01"), plus the persistent tensors named under it; "" = all.
  std::string scope;
};

// Whether `scope` is `prefix` or lies under it.
bool in_scope(const std::string& scope, const std::string& prefix);

void print_text(std::ostream& out, const Graph& g, const PrintOptions& opts = {});

// DOT for Graphviz: nested clusters per scope (stage, then block); each
// fused node a filled cluster of its body's ops titled with its kind and
// label (very large bodies, like the optimizer, one box); sources hidden
// unless asked for. `note` adds a line to a node's label (e.g. its kernel).
struct DotOptions {
  std::string scope;        // as PrintOptions::scope
  bool sources = false;     // draw params, state, constants, runtime scalars
  int max_body = 40;        // fused bodies with more nodes are drawn as one box
  std::function<std::string(NodeId)> note;
};
void print_dot(std::ostream& out, const Graph& g, const DotOptions& opts = {});
void print_json(std::ostream& out, const Graph& g);

// The text of one node ("%5: f32[..] = relu(%4)"), for messages and tests.
std::string node_text(const Graph& g, const Node& n);

}  // namespace acnn::ir
