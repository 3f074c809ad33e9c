// Lowering of elementwise graphs to ew::Program (ew_spec.h): a fused
// "elementwise" or "optimizer" body, or one elementwise/reduction node that
// oneDNN cannot run, becomes straight-line code over buffers plus what the
// kernel needs to bind those buffers: the logical iteration space (numpy
// broadcast of every non-reduced value), each buffer's logical shape aligned
// to that space (1 on broadcast or reduced axes), and where each buffer comes
// from (a node input, a node output, a constant baked into the kernel, a
// runtime scalar read per step). Lowering declines (returns false with a
// reason) what the elementwise kernels do not cover: non-f32 values, shape
// ops, reductions whose results feed further computation, or exported values
// smaller than the iteration space. No oneDNN here: the layout decisions are
// in ew_kernel.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/ew_spec.h"
#include "compiler/ir/graph.h"

namespace acnn::cpu::ew {

enum class BufKind : uint8_t { Input, Output, Constant, Scalar };

struct BufInfo {
  BufKind kind;
  int index = -1;              // Input / Output: the node's input or output index
  Shape shape;                 // logical shape aligned to the space (rank = space rank)
  std::vector<float> values;   // Constant
  std::string name;            // Scalar: the runtime scalar
  bool reduce = false;         // Output: a reduction result (accumulated)
  Red red = Red::None;
  float post_scale = 1.f;      // reduce_mean: 1 / count, applied after accumulation
  bool full() const { return !reduce; }
};

struct Lowered {
  Program prog;
  Shape space;
  std::vector<BufInfo> bufs;  // prog.num_bufs entries: inputs, outputs, then extras
  int num_inputs = 0, num_outputs = 0;
};

// Lowers a body with `num_inputs` Inputs (indexed by their `index` attr).
bool lower_body(const ir::Graph& body, size_t num_inputs, Lowered* out, std::string* why);

// A standalone body computing one node (inputs in0.., outputs out0..).
std::shared_ptr<ir::Graph> single_node_body(const ir::Graph& g, const ir::Node& n);

// Whether the node is one lower_body handles (Unary/Binary families, reductions, broadcast_to).
bool is_ew_op(ir::OpKind k);

// ---------------------------------------------------------------- iteration nests

// One physical dimension of a buffer layout over the iteration space: `extent`
// points along logical dimension `ldim`, each step moving the logical index by
// `mult` (blocked layouts split a logical dimension into several physical
// ones) and the layout's offset by `stride` elements.
struct PhysDim {
  int64_t extent;
  int ldim;
  int64_t mult;
  int64_t stride;
};

// The physical dimensions of the dense row-major layout of `space`.
std::vector<PhysDim> plain_dims(const Shape& space);

// The nest over `main` (the physical dimensions of the layout the full-size
// buffers with in_main[b] are in); every other buffer is read or accumulated
// through its plain row-major broadcast strides. Dimensions are ordered by
// the main layout's stride, unit ones dropped, contiguous ones merged; a
// single remaining dimension whose strides are all 0 or 1 becomes a flat nest.
Nest make_nest(const Lowered& L, const std::vector<PhysDim>& main, const std::vector<bool>& in_main);

// The flat nest: full-size buffers all dense in one layout (stride 1), the
// others single elements (stride 0). Valid when every non-full buffer has one element.
Nest flat_nest(const Lowered& L);
bool all_small_single(const Lowered& L);  // every buffer that is not full-size has one element

// Points in the iteration space.
int64_t space_points(const Lowered& L);

}  // namespace acnn::cpu::ew
