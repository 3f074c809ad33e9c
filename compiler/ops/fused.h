// Fused nodes (op Fused): a connected group of nodes the fusion pass replaced
// by one node whose attribute `kind` names the pattern ("conv", "batchnorm",
// "batchnorm_backward", "elementwise", "optimizer") and whose `body` is the
// group as a standalone graph. Body Input nodes carry `index` = i (the i-th
// fused input); body->outputs are the fused node's outputs in order; bodies
// hold no Param/State and never nest. The reference kernel interprets the
// body with the reference kernels, so every fused node runs anywhere; it is
// the oracle that backend fused kernels are tested against. Helpers here let
// backends and tests walk bodies without re-deriving the contract.
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "runtime/tensor.h"

namespace acnn::ops {

// The body Input node ids, indexed by their `index` attribute (size = the
// number of fused inputs); entries of indices no Input claims are -1.
std::vector<ir::NodeId> body_inputs(const ir::Graph& body, size_t num_inputs);

// Checks the body contract of a Fused node (inputs indexed 0..n-1 with the
// outer input types, outputs with the outer output types, no Param/State, no
// nested Fused). Returns problems (empty = valid).
std::vector<std::string> verify_fused(const ir::Graph& outer, const ir::Node& fused);

// Runs `body` on the reference kernels: inputs[i] feeds the Input with index
// i, outputs[k] receives body->outputs[k] (preallocated, plain, exact type).
void run_body_reference(const ir::Graph& body, const std::vector<const Tensor*>& inputs,
                        const std::vector<Tensor*>& outputs, ExecContext& ctx);

}  // namespace acnn::ops
