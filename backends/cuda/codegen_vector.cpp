// Vectorized generated code (see codegen_util.h): how many elements a
// region's thread handles (16 bytes of its full-size operands), slices and
// concatenation parts that move as aligned 16-byte vectors, and the code of a
// region at a vector of elements (vector_code(), which gen_region and the
// reducing regions of codegen_reduce.cpp wrap in their loops).
#include <sstream>
#include <stdexcept>

#include "backends/cuda/codegen_util.h"
#include "compiler/ir/op.h"

namespace acnn::cuda {

using ir::OpKind;
using ir::ValueId;

namespace {

// Whether a region over `space` (layout sl, `lanes` elements per thread
// along its innermost physical axis) stores the lanes of a part of a
// concatenation of shape d (format f), through zero pad `view`, as one
// aligned 16-byte vector: same layout, and the concatenation's extent and
// the part's offset along that axis are multiples of the lanes.
bool aligned_part(const ir::Node& view, const Shape& d, const Format& f, const Shape& space, DevLayout sl, int lanes) {
  if (d.size() != space.size() || canonical(f.layout, d) != sl) return false;
  const int inner = physical_axes(sl, space.size()).back();
  return d[inner] % lanes == 0 && view.attrs.ints("pads")[inner] % lanes == 0;
}

// Whether a region over `space` (layout sl, `lanes` elements per thread
// along its innermost physical axis) reads the lanes of slice `view` of a
// source of shape s (format f) as one aligned 16-byte vector: the lanes are
// consecutive in the source (same layout, the view's full extent along that
// axis is the space's) and the first lane's offset is a multiple of the
// lanes (the source's extent along that axis is, and so is the slice's
// start when it cuts that axis).
bool aligned_slice(const ir::Graph& g, const ir::Node& view, const Shape& s, const Format& f, const Shape& space,
                   DevLayout sl, int lanes) {
  const Shape& vs = g.type(view.outputs[0]).shape;
  if ((view.op != OpKind::Slice && view.op != OpKind::UpsampleNearest) || vs.size() != space.size() ||
      canonical(f.layout, s) != sl || static_cast<int>(dtype_size(f.dtype)) * lanes != 16)
    return false;
  const int inner = physical_axes(sl, space.size()).back();
  if (vs[inner] != space[inner] || s[inner] % lanes != 0) return false;
  if (view.op == OpKind::UpsampleNearest) return s[inner] == vs[inner];  // the lanes' axis is not upsampled
  int64_t axis = view.attrs.i("axis");
  if (axis < 0) axis += static_cast<int64_t>(vs.size());
  return axis != inner || view.attrs.i("begin") % lanes == 0;
}

}  // namespace

// Lanes per thread for a region (1: scalar code). A thread handles V
// consecutive elements of the space, which differ only in the innermost
// physical axis: full-size operands in the space's layout move as one 16-byte
// load or store (8 bf16/fp16 or 4 fp32 values; all such operands must share
// the element size), broadcast inputs are read once per thread or per lane.
// Regions drawing random numbers stay scalar.
int region_lanes(const RegionView& r, const Shape& space, DevLayout sl, const std::vector<Format>& in,
                 const std::vector<Format>& out) {
  const int64_t n = numel(space);
  if (space.empty() || n < 1024) return 1;
  for (const ir::Node* x : r.inlined)
    if (x->op == OpKind::RandomUniform) return 1;
  size_t es = 0;
  auto full = [&](const Shape& s, const Format& f, bool output) {
    if (s != space) return !output;  // a broadcast input; an output of another shape: no vectors
    if (canonical(f.layout, s) != sl) return false;
    const size_t e = dtype_size(f.dtype);
    if (es != 0 && e != es) return false;
    es = e;
    return e == 2 || e == 4;
  };
  size_t slice_es = 0;  // of the first slice read
  for (size_t k = 0; k < r.inputs.size(); ++k) {
    if (r.views[k]) {  // slices read per lane or as vectors; zero pads need a test per lane: scalar code
      if (r.views[k]->op == OpKind::UpsampleNearest) {  // as a slice, unless the lanes' axis is upsampled
        const Shape& s = r.g->type(r.inputs[k]).shape;
        const Shape& vs = r.g->type(r.views[k]->outputs[0]).shape;
        const int inner = physical_axes(sl, space.size()).back();
        if (vs.size() != space.size() || s[inner] != vs[inner]) return 1;
      } else if (r.views[k]->op != OpKind::Slice) {
        return 1;
      }
      if (slice_es == 0) slice_es = dtype_size(in[k].dtype);
      continue;
    }
    if (!full(r.g->type(r.inputs[k]).shape, in[k], false)) return 1;
  }
  for (size_t k = 0; k < r.outputs.size(); ++k) {
    if (r.out_views[k]) {  // a part of a concatenation: its lanes must be 16 aligned bytes of it
      const size_t e = dtype_size(out[k].dtype);
      if ((es != 0 && e != es) || (e != 2 && e != 4) ||
          !aligned_part(*r.out_views[k], r.g->type(r.outputs[k]).shape, out[k], space, sl, static_cast<int>(16 / e)))
        return 1;
      es = e;
      continue;
    }
    if (!full(r.g->type(r.outputs[k]).shape, out[k], true)) return 1;
  }
  if (es == 0 && (slice_es == 2 || slice_es == 4)) es = slice_es;  // only slices (a reduction's operands)
  if (es == 0) return 1;
  const int lanes = static_cast<int>(16 / es);
  const int inner = physical_axes(sl, space.size()).back();
  if (space[inner] % lanes != 0 || n % lanes != 0) return 1;
  return lanes;
}

// The vectorized form of gen_region (region_lanes() > 1): a grid-stride loop
// over vectors of V elements; full-size operands are 16-byte loads and
// stores, as are inputs contiguous along the innermost axis (per-channel
// vectors in NHWC); other inputs are read at the first lane's coordinates
// plus the lane times their stride along the innermost axis (0: one value
// for all).
VectorCode vector_code(const RegionView& r, const Shape& space, DevLayout sl, int lanes, const std::vector<Format>& in,
                       const std::vector<Format>& out, const ScalarIndex& sc) {
  const std::string T = index_type(numel(space));
  const int inner = physical_axes(sl, space.size()).back();
  VectorCode v;
  std::vector<std::string>& params = v.params;
  std::ostringstream pre, lane, post;
  bool& coords = v.coords;
  std::vector<std::string> input_expr;
  for (size_t k = 0; k < r.inputs.size(); ++k) {
    const Shape& s = r.g->type(r.inputs[k]).shape;
    const std::string K = std::to_string(k), ct = ctype(in[k].dtype);
    params.push_back("const " + ct + "* in" + K);
    input_expr.push_back("a" + K);
    if (r.views[k]) {  // a slice or upsampling: the first lane's offset, then the source's stride along the innermost axis
      coords = true;
      const Shape& vs = r.g->type(r.views[k]->outputs[0]).shape;
      const size_t vshift = space.size() - vs.size();
      std::string inside;
      const std::string at = view_offset(*r.g, *r.views[k], s, in[k].layout, space, &inside);
      if (aligned_slice(*r.g, *r.views[k], s, in[k], space, sl, lanes)) {  // the lanes' elements: 16 aligned bytes
        const std::string vt = "acnn_vec<" + ct + ", " + std::to_string(lanes) + ">";
        pre << "      const " << vt << " v" << K << " = *reinterpret_cast<const " << vt << "*>(in" << K << " + " << at
            << ");\n";
        lane << "        const float a" << K << " = " << load(in[k].dtype, "v" + K + ".e", "l") << ";\n";
        continue;
      }
      pre << "      const " << T << " o" << K << " = " << at << ";\n";
      const int64_t vstride = static_cast<int>(inner) >= static_cast<int>(vshift) && vs[inner - vshift] != 1
                                  ? logical_strides(s, canonical(in[k].layout, s))[inner - vshift]
                                  : 0;
      lane << "        const float a" << K << " = "
           << load(in[k].dtype, "in" + K, "o" + K + (vstride == 0 ? "" : " + l * " + std::to_string(vstride) + "u")) << ";\n";
      continue;
    }
    if (s == space) {  // one 16-byte load, one element per lane
      const std::string vt = "acnn_vec<" + ct + ", " + std::to_string(lanes) + ">";
      pre << "      const " << vt << " v" << K << " = *reinterpret_cast<const " << vt << "*>(in" << K << " + i);\n";
      lane << "        const float a" << K << " = " << load(in[k].dtype, "v" + K + ".e", "l") << ";\n";
      continue;
    }
    if (numel(s) == 1) {
      pre << "      const float a" << K << " = " << load(in[k].dtype, "in" + K, "0") << ";\n";
      continue;
    }
    coords = true;
    const size_t shift = space.size() - s.size();
    const int64_t stride = static_cast<int>(inner) >= static_cast<int>(shift) && s[inner - shift] != 1
                               ? logical_strides(s, canonical(in[k].layout, s))[inner - shift]
                               : 0;
    const std::string at = offset_in_space(s, in[k].layout, space);
    if (stride == 0) {
      pre << "      const float a" << K << " = " << load(in[k].dtype, "in" + K, at) << ";\n";
    } else if (stride == 1 && lanes * dtype_size(in[k].dtype) % 16 == 0) {
      // Contiguous across the lanes (a per-channel vector in NHWC): one or two
      // 16-byte loads per thread. Its inner extent is the space's, so the
      // first lane's offset is a multiple of the lanes; scalar loads 32 bytes
      // apart would make a warp touch 8 cache lines per instruction.
      const std::string vt = "acnn_vec<" + ct + ", " + std::to_string(lanes) + ">";
      pre << "      const " << vt << " v" << K << " = *reinterpret_cast<const " << vt << "*>(in" << K << " + " << at
          << ");\n";
      lane << "        const float a" << K << " = " << load(in[k].dtype, "v" + K + ".e", "l") << ";\n";
    } else {
      pre << "      const " << T << " o" << K << " = " << at << ";\n";
      lane << "        const float a" << K << " = "
           << load(in[k].dtype, "in" + K, "o" + K + (stride == 1 ? " + l" : " + l * " + std::to_string(stride) + "u"))
           << ";\n";
    }
  }
  for (size_t k = 0; k < r.outputs.size(); ++k) {
    const std::string K = std::to_string(k), ct = ctype(out[k].dtype);
    params.push_back(ct + std::string("* out") + K);
    const std::string vt = "acnn_vec<" + std::string(ct) + ", " + std::to_string(lanes) + ">";
    pre << "      " << vt << " w" << K << ";\n";
    const std::string at = r.out_views[k] ? store_offset(*r.out_views[k], r.g->type(r.outputs[k]).shape, out[k].layout, space)
                                          : std::string("i");
    coords = coords || r.out_views[k];
    post << "      *reinterpret_cast<" << vt << "*>(out" << K << " + " << at << ") = w" << K << ";\n";
  }
  auto no_random = [](const ir::Node&) -> std::string { throw std::logic_error("codegen: random numbers in a vector region"); };
  std::string body = region_body(r, input_expr, no_random, sc, &v.names);
  for (size_t k = 0; k < r.outputs.size(); ++k) {
    const std::string K = std::to_string(k);
    const ValueId value = r.out_views[k] ? r.out_views[k]->inputs[0] : r.outputs[k];  // the value computed
    body += "      " + store(out[k].dtype, "w" + K + ".e", "l", v.names.at(value)) + "\n";
  }
  // region_body indents by six; one more level inside the lane loop.
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) lane << (line.rfind("      ", 0) == 0 ? "  " : "") << line << "\n";
  v.pre = pre.str(), v.lane = lane.str(), v.post = post.str();
  return v;
}

GenKernel gen_region_vector(const RegionView& r, const Shape& space, DevLayout sl, int lanes, const std::vector<Format>& in,
                            const std::vector<Format>& out, const ScalarIndex& sc, const std::string& name,
                            bool skip_on_overflow) {
  const int64_t n = numel(space), vectors = n / lanes;
  const std::string T = index_type(n);
  const VectorCode v = vector_code(r, space, sl, lanes, in, out, sc);
  std::ostringstream os;
  os << kernel_head(name, v.params);
  if (skip_on_overflow) os << "  if (S->overflow) return;\n";
  os << "  for (" << T << " vi = blockIdx.x * blockDim.x + threadIdx.x; vi < " << vectors
     << "u; vi += gridDim.x * blockDim.x) {\n"
     << "      const " << T << " i = vi * " << lanes << "u;\n";
  if (v.coords) os << coord_code(space, sl, T);
  os << v.pre << "#pragma unroll\n      for (int l = 0; l < " << lanes << "; ++l) {\n" << v.lane;
  os << "      }\n" << v.post << "  }\n}\n";
  return GenKernel{name, os.str(), vectors, false};
}

}  // namespace acnn::cuda
