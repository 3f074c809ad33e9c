// The generated half of a ReducingRegion (see codegen.h): the region's
// scalar code per element, summed into per-thread partials over a chunk of
// the reduced rows.
#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "backends/cuda/codegen_util.h"
#include "compiler/ir/op.h"

namespace acnn::cuda {

ReduceShape reduce_shape(const ir::Graph& g, const Unit& u) {
  if (u.kind != UnitKind::ReducingRegion) throw std::logic_error("reduce_shape: not a reducing region");
  const ir::Node& red = g.node(u.nodes.back());
  ReduceShape s;
  if (!reduce_runs(u.space, red.attrs.ints("axes"), u.space_layout, &s.outer, &s.R, &s.inner))
    throw std::logic_error("reduce_shape: the reduced axes are not one run of memory");
  const int64_t threads = std::max<int64_t>(s.outer * s.inner, 1);
  s.chunks = std::clamp<int64_t>((kReduceThreads + threads - 1) / threads, 1, std::max<int64_t>(s.R / 8, 1));
  s.rows = (s.R + s.chunks - 1) / s.chunks;
  s.chunks = (s.R + s.rows - 1) / s.rows;
  return s;
}

GenKernel gen_reducing_region(const ir::Graph& g, const Unit& u, const std::vector<Format>& in,
                              const std::vector<Format>& out, const ScalarIndex& sc, const std::string& name) {
  const ReduceShape rs = reduce_shape(g, u);
  const ir::Node& red = g.node(u.nodes.back());
  const RegionView r = region_view(g, u);
  const std::vector<Format> stored(out.begin(), out.end() - 1);  // the last output is the reduction's
  const Shape& space = u.space;
  const DevLayout sl = u.space_layout;
  const std::string T = index_type(std::max<int64_t>(numel(space), 1));
  ElementCode e = element_code(r, space, sl, in, stored, sc);
  e.params.push_back("float* partial");
  const int64_t n = rs.outer * rs.chunks * rs.inner;
  const std::string inner = std::to_string(rs.inner) + "u", chunks = std::to_string(rs.chunks) + "u";
  std::ostringstream os;
  os << kernel_head(name, e.params) << grid_loop(T, n);
  os << "    const " << T << " j = i % " << inner << ", k = (i / " << inner << ") % " << chunks << ", o = i / ("
     << inner << " * " << chunks << ");\n";
  os << "    const " << T << " first = k * " << rs.rows << "u, last = first + " << rs.rows << "u < " << rs.R
     << "u ? first + " << rs.rows << "u : " << rs.R << "u;\n";
  os << "    const " << T << " t = i;\n";
  os << "    float acc = 0.0f;\n";
  os << "    for (" << T << " row = first; row < last; ++row) {\n";
  os << "      const " << T << " i = (o * " << rs.R << "u + row) * " << inner << " + j;\n";
  if (e.coords) os << coord_code(space, sl, T);
  os << e.body << e.stores;
  os << "      acc += " << e.names.at(red.inputs[0]) << ";\n";
  os << "    }\n";
  const double scale = red.op == ir::OpKind::ReduceMean ? 1.0 / static_cast<double>(rs.R) : 1.0;
  os << "    partial[t] = acc" << (scale != 1.0 ? " * " + float_literal(scale) : "") << ";\n";
  os << "  }\n}\n";
  return GenKernel{name, os.str(), n, false};
}

}  // namespace acnn::cuda
