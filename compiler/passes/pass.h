// Graph passes. Each pass lives in its own file, transforms a graph in place
// and says whether it changed anything; the ordered pipeline in pipeline.cpp
// runs them by name and can print the IR after each one. The fusion pass has
// its own header (fusion.h).
#pragma once

#include <string>

#include "compiler/ir/graph.h"

namespace acnn::passes {

// Dead-code elimination: removes nodes whose results reach no graph output
// and no state update, then compacts the graph.
bool dce(ir::Graph& g);

enum class Mode { Train, Eval };

// Lowers the mode-neutral ops for training or inference: BatchNorm becomes
// BatchNormTrain (with running-statistic updates added to graph.updates) or
// BatchNormInfer; IfTraining keeps its training or inference operand.
bool lower_mode(ir::Graph& g, Mode mode);

// Common-subexpression elimination (cse.cpp): nodes with the same op, the
// same inputs and equal attributes compute the same values; later ones are
// replaced by the first. add and mul match with their operands swapped.
// Persistent tensors, inputs, random sources and fused nodes are never
// merged; constants and runtime scalars with equal attributes are.
bool cse(ir::Graph& g);

// Constant folding (const_fold.cpp): a node whose inputs are all constants
// is evaluated at compile time with the reference kernels (in its own dtype,
// as the runtime would) and becomes a constant holding the result. Outputs
// larger than `max_elements` stay computed at run time.
bool const_fold(ir::Graph& g, int64_t max_elements = 1 << 16);

// Batch-norm folding for inference (bn_fold.cpp): conv2d -> batch_norm_infer,
// where the conv result feeds only the BN and the BN's statistics and affine
// parameters are persistent tensors no update writes, becomes one conv2d with
// weight w * s and bias beta + (b - mean) * s, s = gamma / sqrt(var + eps).
// The folded weight and bias are computed in the graph from the persistent
// tensors (elementwise ops on parameters), so checkpoints, set_persistent and
// the parameter names are unchanged; the executor runs such steps once per
// change of what they read, not every step.
bool bn_fold(ir::Graph& g);

// Rematerialization (remat.cpp), training graphs only (those with a "loss"
// output; the backward pass is what follows the loss): activations the
// backward pass reads that are cheap to recompute from values it keeps anyway
// are recomputed right before their first backward reader instead of being
// kept alive from the forward pass. Cases: relu(batch_norm_train(x)) and
// relu(batch_norm_train(x) + z), recomputed with batch_norm_infer(x, gamma,
// beta, mean, var) from the input and batch statistics that the batch norm's
// gradient keeps (the saved activation of every conv -> BN -> ReLU and of
// residual block outputs whose z is kept or is a BN output itself), and
// slice(x) of a kept x (the two branches of a selective-kernel unit). Saves
// the memory of those activations at the training peak for an elementwise
// pass or two each. Values under min_bytes are kept: below a few MiB a
// kernel's fixed cost outweighs the memory (the Fashion models at batch 128
// ran 10% slower to save 26 MiB).
constexpr int64_t kRematMinBytes = int64_t{4} << 20;
// The CUDA backend's default: recompute only activations of 256 MiB or more
// (ResNet-50 at batch 256 in bf16: 8.9 GB of temporaries instead of 7.1, below
// PyTorch's 10.6 GiB peak, for 1.2 ms less work per step; see docs/cuda.md).
constexpr int64_t kRematMinBytesCuda = int64_t{256} << 20;
bool remat(ir::Graph& g, int64_t min_bytes = kRematMinBytes);

// Layout assignment (layout.cpp). Physical layouts are chosen by the
// executor with its backends (they alone know their blocked formats); this
// pass decides, once per value, whether it must be materialized in the
// logical NCHW order: values of rank >= 4 that a layout-sensitive consumer
// reads (reshape, slice, concat, pad, transpose, softmax, upsampling, a
// graph output) get attr layout="plain" on their producer;
// the rest may live in any backend layout. Backends may use the hint to
// write such values plain directly instead of reordering later.
bool assign_layouts(ir::Graph& g);

// In-place reuse (inplace.cpp): a node whose single output has the type of
// an input that it reads for the last time (reshape views count as reads of
// what they view), and that is neither fed, persistent, constant nor kept as
// an output, gets attr inplace=<input index>: the planner may put the output
// in that input's buffer when the node's kernel says it can overwrite it.
// Candidates: elementwise ops (any operand), elementwise fused nodes without
// reductions (any operand), conv fused nodes (only the residual of their sum,
// never what the convolution reads).
bool mark_inplace(ir::Graph& g);

}  // namespace acnn::passes
