// Op kinds and their per-op behaviour, derived from ops.def. For every op the
// table holds its name, arity, family, and three functions implemented in the
// family's file under compiler/ops/: shape/type inference (which also verifies
// attributes), the gradient rule (built with ir::Builder from other ops), and
// the reference kernel (plain loops, fp32 and fp64), which is the oracle every
// backend is tested against.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/attrs.h"
#include "compiler/ir/types.h"

namespace acnn {
class Tensor;
struct ExecContext;
}

namespace acnn::ir {

enum class OpKind : uint16_t {
#define ACNN_OP(E, name, min_in, max_in, n_out, family) E,
#include "compiler/ir/ops.def"
#undef ACNN_OP
  kCount
};

enum class OpFamily { Source, Unary, Binary, Reduce, Shape, Conv, Pool, Norm, Softmax, Mode, Fused };

struct ValueType;
struct Node;
class Graph;
class GradContext;

// Computes output types from input types and attributes. Returns "" on success
// or a user-facing message ("conv2d: input has 64 channels but the weight
// expects 32 (groups 1)") that the elaborator reports at the DSL line.
using InferFn = std::string (*)(const std::vector<ValueType>& inputs, const Attrs& attrs,
                                std::vector<ValueType>& outputs);
// Builds the gradients of the node's inputs from the gradients of its outputs.
using GradFn = void (*)(GradContext& g);
// Runs the node on plain row-major tensors (fp32 or fp64).
using RefFn = void (*)(const Node& node, const std::vector<const Tensor*>& inputs,
                       const std::vector<Tensor*>& outputs, ExecContext& ctx);

struct OpDef {
  const char* name;
  int min_inputs, max_inputs, num_outputs;  // -1: variadic / given by attrs
  OpFamily family;
  InferFn infer;
  GradFn grad;  // ops with no gradient (labels, masks, random) set none
  RefFn ref;
};

const OpDef& op_def(OpKind k);
inline const char* op_name(OpKind k) { return op_def(k).name; }
bool find_op(const std::string& name, OpKind* out);
std::vector<std::string> all_op_names();

// Elementwise ops the fusion pass may chain (Unary and Binary families).
bool is_elementwise(OpKind k);

}  // namespace acnn::ir
