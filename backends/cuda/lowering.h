// The device-independent half of the CUDA backend: how a graph is laid out in
// device memory and cut into kernels, decided without touching a GPU (and
// unit-tested on machines without one). Three steps:
//  1. expand_fused(): Fused nodes whose kind the backend has no dedicated
//     kernel for (conv, batchnorm_backward, unknown kinds, bodies it cannot
//     generate code for) are inlined back into the graph, so every node the
//     fusion pass made either runs as one kernel or as its parts.
//  2. assign_formats(): the precision-lowering step. Each value gets a storage
//     Format: an element type and a layout (plain row-major, or NHWC for 4-D
//     tensors). Under mixed_bf16/mixed_fp16 the activations (4-D float values
//     computed from the image, forward and backward) are stored in bf16/fp16;
//     parameters, optimizer and BN state, weight gradients, statistics, loss
//     and logits stay fp32 (fp32 master weights; every kernel accumulates in
//     fp32). Kernels may ask for an input in another format; the runner then
//     inserts a conversion (e.g. the fp32 master weight cast to bf16 for cuDNN).
//  3. form_units(): nodes grouped into kernel units: maximal chains of
//     elementwise ops over one iteration space become one generated kernel
//     (Region; a node reading two regions merges them; slices, zero pads
//     and nearest upsamplings that only regions read become views the
//     region reads through instead of copies; nodes that inlining or a rewrite adds stay where the node
//     they replace was, see place_emitted()), regions that only produce
//     state updates become two multi-tensor launches whatever their formulas
//     (UpdateGroup: the SGD step of every parameter; the other state
//     updates, BN running statistics), a convolution whose output only feeds
//     relu(y + bias (+ z)) takes that region in (fused_conv()), so does a
//     batch norm's statistics unit its factors (bn_with_factors()), a
//     region the sum or mean of one of its values over a run of axes
//     (ReducingRegion), and regions computing a concatenation's parts store
//     them into it (Unit::output_view); everything else is one node per
//     unit. Fused nodes of kind "elementwise" and "optimizer" join the same
//     machinery with their bodies as the code.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "runtime/tensor.h"

namespace acnn::cuda {

enum class DevLayout : uint8_t { Plain, NHWC };

struct Format {
  DType dtype = DType::F32;
  DevLayout layout = DevLayout::Plain;
  bool operator==(const Format& o) const { return dtype == o.dtype && layout == o.layout; }
  bool operator!=(const Format& o) const { return !(*this == o); }
};

// NHWC of a 4-D shape whose C is 1 or whose H*W is 1 is the memory order of
// plain; canonical() reports such layouts (and NHWC of other ranks) as Plain.
DevLayout canonical(DevLayout l, const Shape& s);
Format canonical(Format f, const Shape& s);
bool same_format(const Format& a, const Format& b, const Shape& s);
// For each physical axis, outermost first, the logical axis stored there.
std::vector<int> physical_axes(DevLayout l, size_t rank);
// The element stride in memory of each logical axis.
std::vector<int64_t> logical_strides(const Shape& s, DevLayout l);
std::string format_str(const Format& f);  // "bf16/nhwc"
size_t format_bytes(const Shape& s, const Format& f);

enum class Precision { FP32, BF16, FP16 };
bool parse_precision(const std::string& s, Precision* out);  // fp32 | mixed_bf16 | mixed_fp16
DType activation_dtype(Precision p);                          // F32, BF16, F16

// Host-side conversions between plain tensors and device formats (for
// persistent tensors, constants and outputs): `bytes` holds a tensor of
// logical shape s in format f.
Tensor host_to_plain(const void* bytes, const Shape& s, const Format& f, DType logical);
std::vector<uint8_t> host_from_plain(const Tensor& t, const Format& f);

// ---------------------------------------------------------------- formats

struct FormatPlan {
  std::vector<Format> preferred;  // per value: the format its producer writes
  std::vector<bool> activation;   // per value: an activation (half under mixed precision)
  int activations = 0;            // count of values stored in half precision
};

// The graph must be compacted (no dead nodes).
FormatPlan assign_formats(const ir::Graph& g, Precision p);

// ---------------------------------------------------------------- fused nodes

// Whether a Fused node of this kind and body runs as one kernel on the GPU.
bool fused_runs_whole(const ir::Node& n);
// Inlines every Fused node for which fused_runs_whole() is false; returns the
// number inlined. The graph is compacted afterwards. The backend's own
// kernels cover what the other kinds fuse: batch norm's normalization, add
// and ReLU land in one generated kernel after lower_for_device(), and a conv
// bias or epilogue joins the elementwise kernel after the convolution.
int expand_fused(ir::Graph& g);

// After a pass appended nodes for existing ones: moves the nodes emitted for
// node i (emitted_after[i], ids past the old count) right after node i, so
// that the graph keeps its schedule (e.g. remat's recomputation just before
// its backward readers; a plain toposort would hoist it next to its inputs),
// then compacts the graph. Emitted nodes may read only values defined before
// them in that order.
void place_emitted(ir::Graph& g, const std::vector<std::vector<ir::NodeId>>& emitted_after);

// Rewrites that move work into generated kernels (rewrite.cpp): batch norm
// split into its statistics and elementwise normalization, conv bias as an
// add, asymmetric conv padding made explicit, relu_backward reading the relu
// output. Returns the number of rewrites; the graph is compacted afterwards.
int lower_for_device(ir::Graph& g);

// ---------------------------------------------------------------- units

// Ops a generated elementwise kernel computes (unary, binary, cast,
// broadcast_to, if_training, and the sources it can inline).
bool ew_op(ir::OpKind k);
// Sources a generated kernel computes in place instead of reading memory.
bool inlinable_source(ir::OpKind k);
// Data movement a region can fold into how it reads its input: a Slice, a
// Pad with zeros or an UpsampleNearest (view_node says whether this node
// qualifies).
bool view_node(const ir::Node& n);

enum class UnitKind : uint8_t {
  Source,       // Input/Param/State/Constant: memory, no kernel
  Node,         // one node with a dedicated kernel (conv, bn, pool, ...)
  Region,       // generated elementwise kernel over `space`
  FusedRegion,  // a Fused "elementwise" node: generated from its body
  UpdateGroup,  // one multi-tensor launch over several update regions
  // A Region (its nodes but the last) and the reduce_sum or reduce_mean (the
  // last node) of one of its values, e.g. a global average pool of
  // relu(a + b): the kernel keeps partial sums instead of storing the value.
  // The reduced axes are [outer, R, inner] runs of the space in the value's
  // layout (reduce_runs()) with inner >= 8, so that a warp reads consecutive
  // elements. The value is among the outputs only when something else reads
  // it; the reduction's fp32 result is the last output.
  ReducingRegion,
};

struct Unit {
  UnitKind kind = UnitKind::Node;
  std::vector<ir::NodeId> nodes;      // in graph order (Region: the computed nodes)
  std::vector<ir::NodeId> inlined;    // Region: sources recomputed inside (runtime scalars, random)
  std::vector<ir::ValueId> inputs;    // values read from memory, distinct, in first-use order
  // Region: per input, the Slice, zero Pad or UpsampleNearest node the region reads it through
  // (the view's result is never stored; -1 or empty: the value itself). The
  // same value may then appear once per view.
  std::vector<ir::NodeId> input_view;
  std::vector<ir::ValueId> outputs;   // values written to memory
  // Region: per output, the zero Pad the output is stored through into a
  // concatenation (the value in `outputs` is then the concatenation, which
  // several units may each write a part of; the pad's input is never
  // stored); -1 or empty: the value itself.
  std::vector<ir::NodeId> output_view;
  std::vector<ir::NodeId> placed;     // the concatenation's adds, done by where the parts are stored
  Shape space;                        // Region: the iteration space (every computed value's shape)
  DevLayout space_layout = DevLayout::Plain;  // ReducingRegion: the reduced value's layout
  std::vector<Unit> members;          // UpdateGroup: the member regions, one launch for all
  bool optimizer = false;             // UpdateGroup/Region: writes a parameter (skipped on fp16 overflow)
  std::string code_key;               // Region: the generated code minus names; UpdateGroup: "optimizer"
                                      // or "state" (its members keep their own)
};

struct UnitPlan {
  std::vector<Unit> units;            // in execution order
  std::vector<int> unit_of_node;      // -1: none (dead or inlined everywhere)
  std::vector<int> producer_unit;     // per value: the unit writing it (-1: none / inlined)
  // Per unit: its results depend only on constants and on parameters and
  // state this graph never updates (an inference graph's batch-norm folding):
  // the runner computes them once, and again after such a tensor is set.
  std::vector<bool> static_unit;
  std::vector<bool> static_value;     // per value: a constant, unchanging state, or a static unit's result
};

struct UnitOptions {
  bool fuse_elementwise = true;       // grow regions beyond one node
  bool group_updates = true;          // batch update regions into multi-tensor launches
  bool fuse_conv_epilogues = true;    // relu(conv + bias (+ z)) as one convolution unit
  bool fuse_reductions = true;        // a region and a reduction of its value as one unit
  bool fuse_concats = true;           // regions store the parts of a concatenation in place
};

// Per axis of a rank-`rank` tensor, whether `axes` (negative: from the end)
// names it; false for an axis out of range is the caller's to check.
std::vector<bool> reduced_axes(const std::vector<int64_t>& axes, size_t rank);
// Reduced axes of a tensor of shape s stored in layout l as three runs of
// memory, [outer, R, inner] (kept, reduced, kept; size-1 axes ignored), the
// kept axes in their logical order; false when they are not.
bool reduce_runs(const Shape& s, const std::vector<int64_t>& axes, DevLayout l, int64_t* outer, int64_t* R,
                 int64_t* inner);

// A Node unit whose first node is a Conv2d and which has more nodes: the
// convolution with its epilogue, a region relu(y + bias (+ bias2) (+ z)) that
// was the only reader of the convolution's output y (cuDNN's fused
// convolution, bias and activation; two biases are a projection block's
// relu(conv + b + conv' + b'), summed by the kernel). Its inputs are x, w, the
// biases ([1, C, 1, 1]) and z if any; its output is the relu's.
bool fused_conv(const ir::Graph& g, const Unit& u);
// A Node unit whose first node is a BatchNormTrain and which has more nodes:
// the statistics with the region that makes the batch norm's factors from
// them (scale = gamma / sqrt(var + eps), and 1 / sqrt(var + eps) when the
// backward reads it). Outputs: y (unwritten), mean, var, scale[, rstd].
bool bn_with_factors(const ir::Graph& g, const Unit& u);
// A Node unit of nodes add, relu_backward, batch_norm_backward: the backward's
// dy is a residual block's output gradient g = relu_backward(add(a, b), m),
// which its sums kernel makes, writes (the skip path and dx read it) and sums.
// Inputs: a, b, m, x, gamma, mean, var; outputs: g, dx (unwritten), dgamma,
// dbeta.
bool bn_backward_with_prologue(const ir::Graph& g, const Unit& u);

// Cuts the (compacted) graph into units. `needed` marks nodes that reach an
// output or update (others are skipped). `key_of` gives a region's code key
// (the codegen text with names stripped; see codegen.h), used to batch update
// regions; null: never batch.
UnitPlan form_units(const ir::Graph& g, const std::vector<bool>& needed, const UnitOptions& o,
                    std::string (*key_of)(const ir::Graph&, const Unit&, const FormatPlan&), const FormatPlan& formats);

// unit_of_node and producer_unit from plan.units.
void index_units(const ir::Graph& g, UnitPlan& plan);
// A concatenation region (a sum of zero pads of values, the pads' ranges
// tiling one axis: the backward of slices, e.g. the selective-kernel halves'
// gradients) whose parts other regions compute and nothing else reads is
// not run: those regions store the parts into it (Unit::output_view).
// (fuse_into_kernels() does this last.)

// The units that take in a region next to them (unit_fusion.cpp):
// fused_conv() (unless o.fuse_conv_epilogues is off), bn_with_factors(),
// bn_backward_with_prologue() and ReducingRegions (unless
// o.fuse_reductions is off); re-indexes the plan.
void fuse_into_kernels(const ir::Graph& g, const UnitOptions& o, const FormatPlan& formats, UnitPlan& plan);

// The inputs and outputs of a unit as the runner binds them (an update
// group: its members' operands one after the other).
std::vector<ir::ValueId> unit_inputs(const Unit& u);
std::vector<ir::ValueId> unit_outputs(const Unit& u);

// Nodes whose results reach a graph output or a state update.
std::vector<bool> needed_nodes(const ir::Graph& g);

// The whole device-independent plan of a graph: a lowered copy (Fused nodes
// expanded where needed, lower_for_device() applied), its formats and units.
// Throws std::runtime_error naming the first node the GPU cannot run (f64
// tensors).
struct DevicePlan {
  std::unique_ptr<ir::Graph> graph;
  Precision precision = Precision::FP32;
  FormatPlan formats;
  std::vector<bool> needed;
  UnitPlan units;
  int fused_expanded = 0, rewrites = 0;
};
DevicePlan plan_device(const ir::Graph& g, Precision p, const UnitOptions& o = {});

}  // namespace acnn::cuda
