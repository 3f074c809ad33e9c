// Test material shared by the CUDA tests (cuda_test.cpp, on a GPU) and the
// host simulation of generated kernels (cuda_sim_test.cpp, anywhere): one
// small graph per op (and its gradients), a helper that wraps nodes into a
// Fused node following the fusion pass's contract, and a small residual
// network with its training step.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "tests/ops/harness.h"

namespace acnn::testing {

struct OpCase {
  std::string name;
  std::function<std::vector<ir::ValueId>(Case&)> build;
  bool grad = true;  // also compare the gradients of the Check inputs
  // Scales the tolerance in mixed precision: cuDNN's fused convolution adds
  // a bias rounded to the data type (bf16: up to 0.4% of it).
  double half_tol = 1;
};

std::vector<OpCase> op_cases();
// The op's outputs ("out<i>", "loss") and the gradients ("d<i>") of its Check inputs.
void build_case(Case& c, const OpCase& oc);

// Replaces `ids` (in graph order) with one Fused node of `kind`: body Inputs
// "in<i>" with index i, body outputs "out<k>".
void fuse(ir::Graph& g, const std::vector<ir::NodeId>& ids, const std::string& kind);

// conv-BN-add-ReLU blocks with a classifier and its training step (batch 4, 3x8x8).
std::unique_ptr<ir::Graph> small_train_graph();
std::map<std::string, Tensor> small_feeds();

}  // namespace acnn::testing
