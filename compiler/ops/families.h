// Declarations of the per-op functions that the op table points at. Every op
// in ops.def has three, defined in its family's file in this directory:
//   infer_<Op>: output types from input types and attributes ("" = ok)
//   grad_<Op>:  the gradient rule, built with ir::Builder (ops whose result
//               is piecewise constant or that have no inputs set no gradient)
//   ref_<Op>:   the reference kernel on plain tensors, fp32 and fp64
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/builder.h"
#include "compiler/ir/graph.h"
#include "runtime/tensor.h"

namespace acnn::ops {

using ir::GradContext;
using ir::Node;
using ir::ValueType;

#define ACNN_OP(E, name, min_in, max_in, n_out, family)                                              \
  std::string infer_##E(const std::vector<ValueType>& in, const Attrs& attrs, std::vector<ValueType>& out); \
  void grad_##E(GradContext& g);                                                                    \
  void ref_##E(const Node& node, const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, \
               ExecContext& ctx);
#include "compiler/ir/ops.def"
#undef ACNN_OP

}  // namespace acnn::ops
