// Helpers for comparing the Executor (oneDNN first, reference fallback) with
// the reference interpreter: tolerant tensor comparison and a one-call parity
// check that also asserts which backend ran the ops under test.
#pragma once

#include <map>
#include <set>
#include <string>

#include "compiler/ir/graph.h"
#include "runtime/executor.h"
#include "runtime/tensor.h"

namespace acnn::testing {

// |got - want| <= atol * max(1, max|want|) + rtol * |want|, elementwise.
struct Tol {
  double rtol = 1e-4;
  double atol = 1e-5;
};

// Any: the backend may take the node or decline it (oneDNN has no fast kernel).
enum class Expect { Onednn, Reference, Any };

bool onednn_built();

// Compares two tensors (same dtype and shape required); names the worst element.
void compare_tensors(const std::string& what, const Tensor& want, const Tensor& got, Tol tol);
void compare_maps(const std::map<std::string, Tensor>& want, const std::map<std::string, Tensor>& got, Tol tol);

// Interprets g, runs it on an Executor with the default backends, compares all
// outputs, checks that nodes of `ops` ran on the expected backend (when oneDNN
// is built), and that a second run reproduces the first bit for bit. With
// blocked_input, the nodes of `ops` must also read an input in a blocked layout.
void check_parity(const ir::Graph& g, const std::map<std::string, Tensor>& feeds, ExecContext ctx,
                  const std::set<ir::OpKind>& ops, Expect expect, Tol tol, bool blocked_input = false);

// Whether some step running a node of `op` reads an input in a non-plain layout.
bool reads_blocked(const Executor& ex, ir::OpKind op);

}  // namespace acnn::testing
