// Textual, DOT and JSON forms of a graph. The text form is stable (golden
// tests compare it): values are numbered in definition order, attributes are
// sorted, persistent tensors are shown by name, and each node carries its
// scope path. DOT draws one box per node, grouped by top-level scope; JSON
// holds everything, constants included, for tools.
#pragma once

#include <ostream>

#include "compiler/ir/graph.h"

namespace acnn::ir {

struct PrintOptions {
  bool locations = false;  // append "file:line" of the DSL call
  const SourceManager* sources = nullptr;  // needed for locations
};

void print_text(std::ostream& out, const Graph& g, const PrintOptions& opts = {});
void print_dot(std::ostream& out, const Graph& g);
void print_json(std::ostream& out, const Graph& g);

// The text of one node ("%5: f32[..] = relu(%4)"), for messages and tests.
std::string node_text(const Graph& g, const Node& n);

}  // namespace acnn::ir
