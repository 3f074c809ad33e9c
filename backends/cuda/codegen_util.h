// Building blocks shared by the code generators (codegen.cpp,
// codegen_vector.cpp, codegen_reduce.cpp, codegen_gather.cpp):
// C types and load/store expressions per storage type, the coordinates of a
// grid-stride index in a layout, the offset of a (broadcast) operand at those
// coordinates, kernel heads, and the view of a region's nodes whether they
// sit in the graph or in a Fused node's body.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "backends/cuda/codegen.h"

namespace acnn::cuda {

const char* ctype(DType t);
// A float expression reading ptr[off]; a statement writing float v to ptr[off].
std::string load(DType t, const std::string& ptr, const std::string& off);
std::string store(DType t, const std::string& ptr, const std::string& off, const std::string& v);
// "unsigned int" when n fits 31 bits, else "unsigned long long".
std::string index_type(int64_t n);
// Statements defining c0..c{r-1}, the logical coordinates of the grid index
// `i` enumerating `space` in layout l's memory order.
std::string coord_code(const Shape& space, DevLayout l, const std::string& T);
// The element offset of a tensor of shape s (numpy-broadcast to `space`,
// stored in layout l) at the coordinates c*.
std::string offset_in_space(const Shape& s, DevLayout l, const Shape& space);
// Whether reading that tensor needs coordinates (not i, not a scalar).
bool needs_coords(const Shape& s, DevLayout l, const Shape& space, DevLayout space_l);
// "0", "i" or offset_in_space().
std::string access(const Shape& s, DevLayout l, const Shape& space, DevLayout space_l);
std::string kernel_head(const std::string& name, const std::vector<std::string>& params);
std::string grid_loop(const std::string& T, int64_t n);

// The float expression of an elementwise op over operand expressions.
std::string op_expr(const ir::Node& n, const std::vector<std::string>& a, DType out);
std::string scalar_expr(const std::string& name, const ScalarIndex& sc);

// A region's nodes, wherever they live: in the graph (Region) or in the body
// of a Fused node (FusedRegion: body Input nodes are the inputs by index).
struct RegionView {
  const ir::Graph* g = nullptr;
  std::vector<const ir::Node*> nodes;    // computed, in order
  std::vector<const ir::Node*> inlined;  // runtime scalars, random, body constants
  std::vector<ir::ValueId> inputs, outputs;
  // Per input: the Slice, zero Pad or UpsampleNearest the region reads it
  // through (nullptr: the value itself); the region's nodes then name the
  // view's result.
  std::vector<const ir::Node*> views;
  // Per output: the zero Pad it is stored through into a concatenation
  // (the output value is the concatenation; nullptr: the value itself).
  std::vector<const ir::Node*> out_views;
};
// The element offset of a region input of shape s (layout l) read through a
// Slice, zero Pad or UpsampleNearest `view` at the coordinates c* of `space`. For a pad,
// `inside` gets the condition under which the element exists (it reads 0
// elsewhere); empty when always.
std::string view_offset(const ir::Graph& g, const ir::Node& view, const Shape& s, DevLayout l, const Shape& space,
                        std::string* inside);
// A Region, FusedRegion or ReducingRegion unit's elementwise part (for the
// last: without the reduction and its result).
RegionView region_view(const ir::Graph& g, const Unit& u);
// The element offset in a concatenation of shape d (layout l) at which a
// region over `space` stores element c* through zero pad `view`.
std::string store_offset(const ir::Node& view, const Shape& d, DevLayout l, const Shape& space);
std::string region_body(const RegionView& r, const std::vector<std::string>& input_expr,
                        const std::function<std::string(const ir::Node&)>& random_index, const ScalarIndex& sc,
                        std::map<ir::ValueId, std::string>* names);

// The scalar code of a region at element i of `space` (layout sl): the
// kernel parameters of its inputs (in0...) and outputs (out0...), the
// statements loading the inputs and computing every value (`names`: each
// value's float temporary), the statements storing the outputs, and whether
// they use the coordinates c* (then coord_code() must precede them).
struct ElementCode {
  std::vector<std::string> params;
  std::string body, stores;
  bool coords = false;
  std::map<ir::ValueId, std::string> names;
};
ElementCode element_code(const RegionView& r, const Shape& space, DevLayout sl, const std::vector<Format>& in,
                         const std::vector<Format>& out, const ScalarIndex& sc);

// Elements per thread for a region over `space` (layout sl): 16 bytes of its
// full-size operands along the innermost physical axis (of its slices when
// it has none, as a reduction may), or 1 (scalar code).
int region_lanes(const RegionView& r, const Shape& space, DevLayout sl, const std::vector<Format>& in,
                 const std::vector<Format>& out);
// The code of a region at `lanes` consecutive elements from element i (a
// multiple of lanes): per vector, after i and the first lane's coordinates
// c* (when `coords`), `pre` (16-byte loads, first-lane offsets, the output
// vectors w*); per lane l, in a loop, `lane` (the other loads, every value
// into the float temporaries `names`, the outputs' lanes); then `post` (the
// outputs' 16-byte stores).
struct VectorCode {
  std::vector<std::string> params;
  std::string pre, lane, post;
  bool coords = false;
  std::map<ir::ValueId, std::string> names;
};
VectorCode vector_code(const RegionView& r, const Shape& space, DevLayout sl, int lanes, const std::vector<Format>& in,
                       const std::vector<Format>& out, const ScalarIndex& sc);
// gen_region's form when region_lanes() > 1: a grid-stride loop over
// vectors of `lanes` elements.
GenKernel gen_region_vector(const RegionView& r, const Shape& space, DevLayout sl, int lanes, const std::vector<Format>& in,
                            const std::vector<Format>& out, const ScalarIndex& sc, const std::string& name,
                            bool skip_on_overflow);

}  // namespace acnn::cuda
