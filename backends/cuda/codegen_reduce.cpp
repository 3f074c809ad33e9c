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

namespace {

// Statements defining the coordinates c* of the space's axes in one run
// (`outer`, the reduced rows, `inner`) from that run's index `from`, the
// innermost axis varying fastest; axes of size 1 are 0 in the outer run.
std::string run_coords(const Shape& space, DevLayout l, const std::vector<bool>& reduced, int run, const std::string& from,
                       const std::string& T, const std::string& indent) {
  const std::vector<int> phys = physical_axes(canonical(l, space), space.size());
  // Each physical position's run: 0 outer, 1 reduced, 2 inner (size-1 axes: -1).
  std::vector<int> run_of(phys.size(), -1);
  int current = 0;
  for (size_t p = 0; p < phys.size(); ++p) {
    const int a = phys[p];
    if (space[a] == 1) continue;
    if (reduced[a]) current = 1;
    else if (current == 1) current = 2;
    run_of[p] = current;
  }
  std::ostringstream os;
  os << indent << T << " q" << run << "_ = " << from << ";\n";
  for (int p = static_cast<int>(phys.size()) - 1; p >= 0; --p) {
    const int a = phys[p];
    if (run_of[p] == run)
      os << indent << "const " << T << " c" << a << " = q" << run << "_ % " << space[a] << "u; q" << run << "_ /= "
         << space[a] << "u;\n";
    else if (run == 0 && run_of[p] < 0)
      os << indent << "const " << T << " c" << a << " = 0;\n";
  }
  os << indent << "(void)q" << run << "_;\n";
  return os.str();
}

}  // namespace

GenKernel gen_reducing_region(const ir::Graph& g, const Unit& u, const std::vector<Format>& in,
                              const std::vector<Format>& out, const ScalarIndex& sc, const std::string& name) {
  const ReduceShape rs = reduce_shape(g, u);
  const ir::Node& red = g.node(u.nodes.back());
  const RegionView r = region_view(g, u);
  const std::vector<Format> stored(out.begin(), out.end() - 1);  // the last output is the reduction's
  const Shape& space = u.space;
  const DevLayout sl = u.space_layout;
  const std::string T = index_type(std::max<int64_t>(numel(space), 1));
  // `lanes` consecutive elements of the inner run per thread (16-byte loads
  // and stores), else one.
  int lanes = region_lanes(r, space, sl, in, stored);
  if (rs.inner % lanes != 0) lanes = 1;
  ElementCode e;
  VectorCode v;
  if (lanes == 1) e = element_code(r, space, sl, in, stored, sc);
  else v = vector_code(r, space, sl, lanes, in, stored, sc);
  std::vector<std::string> params = lanes == 1 ? e.params : v.params;
  const bool coords = lanes == 1 ? e.coords : v.coords;
  const std::string value = (lanes == 1 ? e.names : v.names).at(red.inputs[0]);
  params.push_back("float* partial");
  // No operand aliases another (the runner never writes this kernel's
  // outputs in place): loads may move across stores, per-channel operands
  // out of the row loop.
  for (std::string& p : params) p.insert(p.find('*') + 1, " __restrict__");
  const std::vector<bool> reduced = reduced_axes(red.attrs.ints("axes"), space.size());
  const int64_t n = rs.outer * rs.chunks * (rs.inner / lanes);
  const std::string vectors = std::to_string(rs.inner / lanes) + "u", chunks = std::to_string(rs.chunks) + "u";
  const std::string L = std::to_string(lanes);
  std::ostringstream os;
  os << kernel_head(name, params) << grid_loop(T, n);
  os << "    const " << T << " j = " << (lanes > 1 ? "(i % " + vectors + ") * " + L + "u" : "i % " + vectors) << ", k = (i / " << vectors
     << ") % " << chunks << ", o = i / (" << vectors << " * " << chunks << ");\n";
  os << "    const " << T << " first = k * " << rs.rows << "u, last = first + " << rs.rows << "u < " << rs.R
     << "u ? first + " << rs.rows << "u : " << rs.R << "u;\n";
  os << "    const " << T << " t = i;\n";
  // The kept axes' coordinates are the thread's; only the rows' change.
  if (coords) os << run_coords(space, sl, reduced, 0, "o", T, "    ") << run_coords(space, sl, reduced, 2, "j", T, "    ");
  os << "    float acc[" << L << "] = {};\n";
  os << "#pragma unroll " << (lanes > 1 ? "2" : "4") << "\n";
  os << "    for (" << T << " row = first; row < last; ++row) {\n";
  os << "      const " << T << " i = (o * " << rs.R << "u + row) * " << rs.inner << "u + j;\n";
  if (coords) os << run_coords(space, sl, reduced, 1, "row", T, "      ");
  if (lanes == 1) {
    os << e.body << e.stores << "      acc[0] += " << value << ";\n";
  } else {
    os << v.pre << "#pragma unroll\n      for (int l = 0; l < " << L << "; ++l) {\n"
       << v.lane << "        acc[l] += " << value << ";\n      }\n" << v.post;
  }
  os << "    }\n";
  const double scale = red.op == ir::OpKind::ReduceMean ? 1.0 / static_cast<double>(rs.R) : 1.0;
  os << "    for (int l = 0; l < " << L << "; ++l) partial[l + t * " << L << "u] = acc[l]"
     << (scale != 1.0 ? " * " + float_literal(scale) : "") << ";\n";
  os << "  }\n}\n";
  return GenKernel{name, os.str(), n, false};
}

}  // namespace acnn::cuda
