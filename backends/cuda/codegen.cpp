// Generated elementwise kernels: the prelude, regions, update groups and
// format conversions (see codegen.h). Gathers are in codegen_gather.cpp.
#include "backends/cuda/codegen.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>
#include <stdexcept>

#include "backends/cuda/codegen_util.h"
#include "backends/cuda/device_abi.h"
#include "compiler/ir/op.h"

namespace acnn::cuda {

using ir::NodeId;
using ir::OpKind;
using ir::ValueId;

std::string prelude() {
  std::string s = device_abi_text();
  s += R"(
// 16 bytes of T, the unit vectorized regions load and store.
template <class T, int N>
struct alignas(16) acnn_vec {
  T e[N];
};
__device__ __forceinline__ long long acnn_minll(long long a, long long b) { return a < b ? a : b; }
__device__ __forceinline__ long long acnn_maxll(long long a, long long b) { return a < b ? b : a; }
#ifdef __CUDACC_RTC__
__device__ __forceinline__ float h2f(unsigned short h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ unsigned short f2h(float f) { unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ float b2f(unsigned short b) { return __uint_as_float(((unsigned int)b) << 16); }
__device__ __forceinline__ unsigned short f2b(float f) { unsigned short b; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(b) : "f"(f)); return b; }
#else
// Host simulation (tests run generated kernels on the CPU): acnn_host_* come
// from the simulation header.
#define h2f acnn_host_h2f
#define f2h acnn_host_f2h
#define b2f acnn_host_b2f
#define f2b acnn_host_f2b
#endif
__device__ __forceinline__ unsigned long long acnn_mix64(unsigned long long z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// counter_hash (runtime/tensor.cpp) and uniform01, bit for bit.
__device__ __forceinline__ float acnn_rand01(const AcnnParams* P, unsigned long long stream, unsigned long long index) {
  unsigned long long h = acnn_mix64(P->seed + 0x9e3779b97f4a7c15ull);
  h = acnn_mix64(h ^ ((unsigned long long)P->step + 0x632be59bd9b4e019ull));
  h = acnn_mix64(h ^ (stream * 0x8cb92ba72f3d8dd7ull));
  h = acnn_mix64(h ^ index);
  return (float)(h >> 40) * (1.0f / 16777216.0f);
}
)";
  return s;
}

std::string float_literal(double v) {
  if (std::isnan(v)) return "__int_as_float(0x7fc00000)";
  if (std::isinf(v)) return v > 0 ? "__int_as_float(0x7f800000)" : "__int_as_float(0xff800000)";
  float f = static_cast<float>(v);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(f));
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s + "f";
}

// ---------------------------------------------------------------- helpers (codegen_util.h)

const char* ctype(DType t) {
  switch (t) {
    case DType::F32: return "float";
    case DType::F64: return "double";
    case DType::F16:
    case DType::BF16: return "unsigned short";
    case DType::I32: return "int";
    case DType::I64: return "long long";
    case DType::U8: return "unsigned char";
  }
  return "float";
}

std::string load(DType t, const std::string& ptr, const std::string& off) {
  std::string at = ptr + "[" + off + "]";
  switch (t) {
    case DType::F32: return at;
    case DType::F16: return "h2f(" + at + ")";
    case DType::BF16: return "b2f(" + at + ")";
    default: return "(float)" + at;
  }
}

std::string store(DType t, const std::string& ptr, const std::string& off, const std::string& v) {
  std::string at = ptr + "[" + off + "] = ";
  switch (t) {
    case DType::F32: return at + v + ";";
    case DType::F16: return at + "f2h(" + v + ");";
    case DType::BF16: return at + "f2b(" + v + ");";
    case DType::F64: return at + "(double)(" + v + ");";
    case DType::I32: return at + "(int)(" + v + ");";
    case DType::I64: return at + "(long long)(" + v + ");";
    case DType::U8: return at + "(unsigned char)(" + v + ");";
  }
  return at + v + ";";
}

std::string index_type(int64_t n) { return n < (int64_t{1} << 31) ? "unsigned int" : "unsigned long long"; }

std::string coord_code(const Shape& space, DevLayout l, const std::string& T) {
  std::ostringstream os;
  const size_t r = space.size();
  if (r == 0) return "";
  std::vector<int> phys = physical_axes(canonical(l, space), r);
  os << "      " << T << " r_ = i;\n";
  for (int p = static_cast<int>(r) - 1; p >= 0; --p) {
    int a = phys[p];
    if (space[a] == 1) {
      os << "      const " << T << " c" << a << " = 0;\n";
    } else if (p == 0) {
      os << "      const " << T << " c" << a << " = r_;\n";
    } else {
      os << "      const " << T << " c" << a << " = r_ % " << space[a] << "u; r_ /= " << space[a] << "u;\n";
    }
  }
  os << "      (void)r_;\n";
  return os.str();
}

std::string offset_in_space(const Shape& s, DevLayout l, const Shape& space) {
  std::vector<int64_t> st = logical_strides(s, canonical(l, s));
  const size_t shift = space.size() - s.size();
  std::string e;
  for (size_t a = 0; a < s.size(); ++a) {
    if (s[a] == 1) continue;
    if (!e.empty()) e += " + ";
    e += "c" + std::to_string(a + shift);
    if (st[a] != 1) e += " * " + std::to_string(st[a]) + "u";
  }
  return e.empty() ? "0" : e;
}

bool needs_coords(const Shape& s, DevLayout l, const Shape& space, DevLayout space_l) {
  if (numel(s) == 1) return false;
  return !(s == space && canonical(l, s) == canonical(space_l, space));
}

std::string access(const Shape& s, DevLayout l, const Shape& space, DevLayout space_l) {
  if (numel(s) == 1) return "0";
  if (!needs_coords(s, l, space, space_l)) return "i";
  return offset_in_space(s, l, space);
}

std::string view_offset(const ir::Graph& g, const ir::Node& view, const Shape& s, DevLayout l, const Shape& space,
                        std::string* inside) {
  const Shape& vs = g.type(view.outputs[0]).shape;
  const size_t shift = space.size() - vs.size();
  const std::vector<int64_t> st = logical_strides(s, canonical(l, s));
  const bool slice = view.op == OpKind::Slice, upsample = view.op == OpKind::UpsampleNearest;
  int64_t axis = slice ? view.attrs.i("axis") : -1;
  if (axis < 0 && slice) axis += static_cast<int64_t>(vs.size());
  const std::vector<int64_t> pads = slice || upsample ? std::vector<int64_t>{} : view.attrs.ints("pads");
  inside->clear();
  std::string e;
  for (size_t a = 0; a < vs.size(); ++a) {
    std::string c = vs[a] == 1 ? "0" : "c" + std::to_string(a + shift);
    if (slice && static_cast<int64_t>(a) == axis && view.attrs.i("begin") != 0)
      c = "(" + c + " + " + std::to_string(view.attrs.i("begin")) + "u)";
    if (upsample && vs[a] != s[a]) c = "(" + c + " / " + std::to_string(vs[a] / s[a]) + "u)";
    if (!slice && !upsample && (pads[a] != 0 || pads[vs.size() + a] != 0)) {
      c = "((long long)" + c + " - " + std::to_string(pads[a]) + "ll)";
      *inside += std::string(inside->empty() ? "" : " && ") + c + " >= 0ll && " + c + " < " + std::to_string(s[a]) + "ll";
    }
    if (s[a] == 1) continue;
    if (!e.empty()) e += " + ";
    e += c;
    if (st[a] != 1) e += " * " + std::to_string(st[a]) + (slice || upsample ? "u" : "ll");
  }
  return e.empty() ? "0" : e;
}

std::string kernel_head(const std::string& name, const std::vector<std::string>& params) {
  std::string s = "extern \"C\" __global__ void __launch_bounds__(256) " + name +
                  "(const AcnnParams* P, AcnnStatus* S";
  for (const std::string& p : params) s += ", " + p;
  return s + ") {\n  (void)P; (void)S;\n";
}

std::string grid_loop(const std::string& T, int64_t n) {
  return "  for (" + T + " i = blockIdx.x * blockDim.x + threadIdx.x; i < " + std::to_string(n) +
         "u; i += gridDim.x * blockDim.x) {\n";
}

// ---------------------------------------------------------------- expressions

std::string op_expr(const ir::Node& n, const std::vector<std::string>& a, DType out) {
  auto bin = [&](const char* op) { return "(" + a[0] + " " + op + " " + a[1] + ")"; };
  switch (n.op) {
    case OpKind::Neg: return "(-" + a[0] + ")";
    case OpKind::Relu: return "(" + a[0] + " > 0.0f ? " + a[0] + " : 0.0f)";
    case OpKind::Sigmoid: return "(1.0f / (1.0f + expf(-" + a[0] + ")))";
    case OpKind::Tanh: return "tanhf(" + a[0] + ")";
    case OpKind::Exp: return "expf(" + a[0] + ")";
    case OpKind::Log: return "logf(" + a[0] + ")";
    case OpKind::Sqrt: return "sqrtf(" + a[0] + ")";
    case OpKind::Square: return "(" + a[0] + " * " + a[0] + ")";
    case OpKind::Abs: return "fabsf(" + a[0] + ")";
    case OpKind::Scale:
      return "(" + float_literal(n.attrs.f("alpha", 1.0)) + " * " + a[0] + " + " + float_literal(n.attrs.f("beta", 0.0)) + ")";
    case OpKind::Cast: return is_float(out) ? a[0] : "truncf(" + a[0] + ")";
    case OpKind::ReluBackward: return "(" + a[1] + " > 0.0f ? " + a[0] + " : 0.0f)";
    case OpKind::SigmoidBackward: return "(" + a[0] + " * " + a[1] + " * (1.0f - " + a[1] + "))";
    case OpKind::TanhBackward: return "(" + a[0] + " * (1.0f - " + a[1] + " * " + a[1] + "))";
    case OpKind::Add: return bin("+");
    case OpKind::Sub: return bin("-");
    case OpKind::Mul: return bin("*");
    case OpKind::Div: return bin("/");
    case OpKind::Maximum: return "(" + a[0] + " < " + a[1] + " ? " + a[1] + " : " + a[0] + ")";
    case OpKind::Minimum: return "(" + a[1] + " < " + a[0] + " ? " + a[1] + " : " + a[0] + ")";
    case OpKind::Less: return "(" + a[0] + " < " + a[1] + " ? 1.0f : 0.0f)";
    case OpKind::BroadcastTo: return a[0];
    case OpKind::IfTraining: return "(P->training ? " + a[0] + " : " + a[1] + ")";
    default: break;
  }
  throw std::logic_error(std::string("codegen: ") + ir::op_name(n.op) + " is not elementwise");
}

std::string scalar_expr(const std::string& name, const ScalarIndex& sc) {
  if (name == "loss_scale") return "S->loss_scale";
  if (name == "inv_loss_scale") return "(1.0f / S->loss_scale)";
  auto it = sc.find(name);
  if (it == sc.end()) throw std::runtime_error("runtime scalar `" + name + "` has no slot");
  return "P->scalars[" + std::to_string(it->second) + "]";
}

// ---------------------------------------------------------------- region bodies

RegionView region_view(const ir::Graph& g, const Unit& u) {
  RegionView r;
  if (u.kind == UnitKind::FusedRegion) {
    const ir::Node& f = g.node(u.nodes[0]);
    r.g = f.body.get();
    r.inputs.assign(f.inputs.size(), ir::kNoValue);
    for (const ir::Node& n : r.g->nodes()) {
      if (n.dead) continue;
      if (n.op == OpKind::Input) {
        r.inputs[n.attrs.i("index")] = n.outputs[0];
        continue;
      }
      if (inlinable_source(n.op) || n.op == OpKind::Constant) {
        r.inlined.push_back(&n);
        continue;
      }
      r.nodes.push_back(&n);
    }
    for (const auto& [name, v] : r.g->outputs) r.outputs.push_back(v);
  } else {
    r.g = &g;
    for (NodeId id : u.nodes) r.nodes.push_back(&g.node(id));
    for (NodeId id : u.inlined) r.inlined.push_back(&g.node(id));
    r.inputs = u.inputs;
    r.outputs = u.outputs;
    if (u.kind == UnitKind::ReducingRegion) {  // the reduction is not elementwise
      r.nodes.pop_back();
      r.outputs.pop_back();
    }
  }
  r.views.assign(r.inputs.size(), nullptr);
  for (size_t k = 0; k < u.input_view.size() && k < r.inputs.size(); ++k)
    if (u.input_view[k] >= 0) r.views[k] = &g.node(u.input_view[k]);
  r.out_views.assign(r.outputs.size(), nullptr);
  for (size_t k = 0; k < u.output_view.size() && k < r.outputs.size(); ++k)
    if (u.output_view[k] >= 0) r.out_views[k] = &g.node(u.output_view[k]);
  return r;
}

std::string store_offset(const ir::Node& view, const Shape& d, DevLayout l, const Shape& space) {
  const std::vector<int64_t> pads = view.attrs.ints("pads");
  const std::vector<int64_t> st = logical_strides(d, canonical(l, d));
  const size_t shift = space.size() - d.size();
  std::string e;
  for (size_t a = 0; a < d.size(); ++a) {
    if (d[a] == 1) continue;
    std::string c = space[a + shift] == 1 ? "0u" : "c" + std::to_string(a + shift);
    if (pads[a] != 0) c = "(" + c + " + " + std::to_string(pads[a]) + "u)";
    if (!e.empty()) e += " + ";
    e += c;
    if (st[a] != 1) e += " * " + std::to_string(st[a]) + "u";
  }
  return e.empty() ? "0" : e;
}

// Statements computing every region value into float temporaries. `load_of`
// gives the expression of input k; temporaries are numbered in order so that
// equal code gives equal text.
std::string region_body(const RegionView& r, const std::vector<std::string>& input_expr,
                        const std::function<std::string(const ir::Node&)>& random_index, const ScalarIndex& sc,
                        std::map<ValueId, std::string>* names) {
  std::ostringstream os;
  std::map<ValueId, std::string>& name = *names;
  for (size_t k = 0; k < r.inputs.size(); ++k)
    name[k < r.views.size() && r.views[k] ? r.views[k]->outputs[0] : r.inputs[k]] = input_expr[k];
  for (const ir::Node* n : r.inlined) {
    ValueId v = n->outputs[0];
    if (n->op == OpKind::RuntimeScalar) {
      name[v] = scalar_expr(n->attrs.s("name"), sc);
    } else if (n->op == OpKind::Constant) {
      if (n->attrs.has("fill")) name[v] = float_literal(n->attrs.f("fill"));
      else name[v] = float_literal(n->attrs.floats("values").at(0));
    } else {  // RandomUniform
      name[v] = "acnn_rand01(P, " + std::to_string(n->attrs.i("stream")) + "ull, " + random_index(*n) + ")";
    }
  }
  int t = 0;
  for (const ir::Node* n : r.nodes) {
    std::vector<std::string> a;
    for (ValueId v : n->inputs) {
      auto it = name.find(v);
      if (it == name.end()) throw std::logic_error(std::string("codegen: an operand of ") + ir::op_name(n->op) + " is unbound");
      a.push_back(it->second);
    }
    std::string tn = "t" + std::to_string(t++);
    os << "      const float " << tn << " = " << op_expr(*n, a, r.g->type(n->outputs[0]).dtype) << ";\n";
    name[n->outputs[0]] = tn;
  }
  return os.str();
}

// ---------------------------------------------------------------- regions
// (the vectorized form: codegen_vector.cpp)

ElementCode element_code(const RegionView& r, const Shape& space, DevLayout sl, const std::vector<Format>& in,
                         const std::vector<Format>& out, const ScalarIndex& sc) {
  ElementCode e;
  std::vector<std::string> input_expr;
  std::ostringstream loads;
  for (size_t k = 0; k < r.inputs.size(); ++k) {
    const ir::ValueType& t = r.g->type(r.inputs[k]);
    const std::string K = std::to_string(k);
    e.params.push_back("const " + std::string(ctype(in[k].dtype)) + "* in" + K);
    input_expr.push_back("a" + K);
    if (r.views[k]) {  // read through a slice, zero pad or nearest upsampling
      e.coords = true;
      std::string inside;
      const std::string at = view_offset(*r.g, *r.views[k], t.shape, in[k].layout, space, &inside);
      const std::string ld = load(in[k].dtype, "in" + K, at);
      loads << "      const float a" << K << " = " << (inside.empty() ? ld : "(" + inside + ") ? " + ld + " : 0.0f") << ";\n";
      continue;
    }
    e.coords = e.coords || needs_coords(t.shape, in[k].layout, space, sl);
    loads << "      const float a" << K << " = " << load(in[k].dtype, "in" + K, access(t.shape, in[k].layout, space, sl)) << ";\n";
  }
  for (size_t k = 0; k < r.outputs.size(); ++k) {
    e.params.push_back(std::string(ctype(out[k].dtype)) + "* out" + std::to_string(k));
    e.coords = e.coords || r.out_views[k] || needs_coords(r.g->type(r.outputs[k]).shape, out[k].layout, space, sl);
  }
  auto random_index = [&](const ir::Node& rn) -> std::string {
    const Shape& rs = r.g->type(rn.outputs[0]).shape;
    if (numel(rs) == 1) return "0ull";
    if (!needs_coords(rs, DevLayout::Plain, space, sl)) return "(unsigned long long)i";
    e.coords = true;
    return "(unsigned long long)(" + offset_in_space(rs, DevLayout::Plain, space) + ")";
  };
  e.body = loads.str() + region_body(r, input_expr, random_index, sc, &e.names);
  std::ostringstream stores;
  for (size_t k = 0; k < r.outputs.size(); ++k) {
    const ir::ValueType& t = r.g->type(r.outputs[k]);
    const ValueId v = r.out_views[k] ? r.out_views[k]->inputs[0] : r.outputs[k];  // the value computed
    const std::string at = r.out_views[k] ? store_offset(*r.out_views[k], t.shape, out[k].layout, space)
                                          : access(t.shape, out[k].layout, space, sl);
    stores << "      " << store(out[k].dtype, "out" + std::to_string(k), at, e.names.at(v)) << "\n";
  }
  e.stores = stores.str();
  return e;
}

GenKernel gen_region(const ir::Graph& g, const Unit& u, const std::vector<Format>& in, const std::vector<Format>& out,
                     const ScalarIndex& sc, const std::string& name, bool skip_on_overflow) {
  RegionView r = region_view(g, u);
  const Shape& space = u.space;
  const DevLayout sl = out.empty() ? DevLayout::Plain : canonical(out[0].layout, space);
  if (const int lanes = region_lanes(r, space, sl, in, out); lanes > 1)
    return gen_region_vector(r, space, sl, lanes, in, out, sc, name, skip_on_overflow);
  const int64_t n = std::max<int64_t>(numel(space), 1);
  const std::string T = index_type(n);
  const ElementCode e = element_code(r, space, sl, in, out, sc);
  std::ostringstream os;
  os << kernel_head(name, e.params);
  if (skip_on_overflow) os << "  if (S->overflow) return;\n";
  os << grid_loop(T, n);
  if (e.coords) os << coord_code(space, sl, T);
  os << e.body << e.stores << "  }\n}\n";
  return GenKernel{name, os.str(), n, false};
}

// ---------------------------------------------------------------- update groups

namespace {

// Whether every operand runs flat: full-size in the space layout, or a scalar.
bool flat_ok(const RegionView& r, const Shape& space, const std::vector<Format>& in, const std::vector<Format>& out) {
  if (out.empty()) return false;
  const DevLayout sl = canonical(out[0].layout, space);
  for (size_t k = 0; k < r.inputs.size(); ++k) {
    const Shape& s = r.g->type(r.inputs[k]).shape;
    if (numel(s) != 1 && needs_coords(s, in[k].layout, space, sl)) return false;
  }
  for (size_t k = 0; k < r.outputs.size(); ++k)
    if (needs_coords(r.g->type(r.outputs[k]).shape, out[k].layout, space, sl)) return false;
  for (const ir::Node* n : r.inlined)
    if (n->op == OpKind::RandomUniform && numel(r.g->type(n->outputs[0]).shape) != 1) return false;
  return r.inputs.size() + r.outputs.size() <= static_cast<size_t>(kMaxItemPointers);
}

std::string flat_body(const RegionView& r, const std::vector<Format>& in, const std::vector<Format>& out,
                      const ScalarIndex& sc) {
  std::ostringstream os;
  std::vector<std::string> input_expr;
  for (size_t k = 0; k < r.inputs.size(); ++k) {
    const bool scalar = numel(r.g->type(r.inputs[k]).shape) == 1;
    input_expr.push_back("a" + std::to_string(k));
    os << "      const float a" << k << " = " << load(in[k].dtype, "p" + std::to_string(k), scalar ? "0" : "i") << ";\n";
  }
  std::map<ValueId, std::string> names;
  auto random_index = [](const ir::Node&) -> std::string { return "0ull"; };
  os << region_body(r, input_expr, random_index, sc, &names);
  for (size_t k = 0; k < r.outputs.size(); ++k)
    os << "      " << store(out[k].dtype, "p" + std::to_string(r.inputs.size() + k), "i", names.at(r.outputs[k])) << "\n";
  return os.str();
}

}  // namespace

std::string update_key(const ir::Graph& g, const Unit& u, const std::vector<Format>& in, const std::vector<Format>& out) {
  RegionView r = region_view(g, u);
  for (const ir::Node* v : r.views)
    if (v) return "";  // views need coordinates: no flat multi-tensor launch
  if (!flat_ok(r, u.space, in, out)) return "";
  std::string key;
  for (size_t k = 0; k < r.inputs.size(); ++k)
    key += std::string(ctype(in[k].dtype)) + (numel(r.g->type(r.inputs[k]).shape) == 1 ? " s;" : " v;");
  key += "|";
  for (const Format& f : out) key += std::string(ctype(f.dtype)) + ";";
  // Scalars numbered by name: the key must not depend on the slots they get.
  ScalarIndex names;
  for (const ir::Node* n : r.inlined)
    if (n->op == OpKind::RuntimeScalar) names[n->attrs.s("name")] = static_cast<int>(names.size());
  try {
    key += "|" + flat_body(r, in, out, names);
  } catch (const std::exception&) {
    return "";
  }
  for (const auto& [nm, idx] : names) key += "|" + nm;
  return key;
}

std::string update_key_planned(const ir::Graph& g, const Unit& u, const FormatPlan& f) {
  if (u.kind == UnitKind::FusedRegion) {
    const ir::Node& n = g.node(u.nodes[0]);
    std::vector<Format> in, out;
    for (ValueId v : n.inputs) in.push_back(f.preferred[v]);
    for (ValueId v : n.outputs) out.push_back(f.preferred[v]);
    return update_key(g, u, in, out);
  }
  std::vector<Format> in, out;
  for (ValueId v : u.inputs) in.push_back(f.preferred[v]);
  for (ValueId v : u.outputs) out.push_back(f.preferred[v]);
  return update_key(g, u, in, out);
}

GenKernel gen_update_group(const ir::Graph& g, const std::vector<UpdateCode>& codes, const ScalarIndex& sc,
                           bool skip_on_overflow, const std::string& name) {
  std::ostringstream os;
  os << kernel_head(name, {"const AcnnItem* items", "const AcnnChunk* chunks"});
  if (skip_on_overflow) os << "  if (S->overflow) return;\n";
  os << "  const AcnnChunk ch = chunks[blockIdx.x];\n  const AcnnItem& it = items[ch.item];\n";
  os << "  const unsigned long long end = ch.begin + " << kUpdateChunk << "ull < it.n ? ch.begin + " << kUpdateChunk
     << "ull : it.n;\n";
  const bool several = codes.size() > 1;
  if (several) os << "  switch (it.pad) {\n";
  for (size_t c = 0; c < codes.size(); ++c) {
    const UpdateCode& code = codes[c];
    RegionView r = region_view(g, *code.member);
    if (!flat_ok(r, code.member->space, code.in, code.out))
      throw std::logic_error("gen_update_group: a member cannot run flat");
    if (several) os << "  case " << c << "ull: {\n";
    for (size_t k = 0; k < r.inputs.size(); ++k)
      os << "  const " << ctype(code.in[k].dtype) << "* p" << k << " = (const " << ctype(code.in[k].dtype) << "*)it.ptr["
         << k << "];\n";
    for (size_t k = 0; k < r.outputs.size(); ++k) {
      size_t j = r.inputs.size() + k;
      os << "  " << ctype(code.out[k].dtype) << "* p" << j << " = (" << ctype(code.out[k].dtype) << "*)it.ptr[" << j
         << "];\n";
    }
    os << "  for (unsigned long long i = ch.begin + threadIdx.x; i < end; i += blockDim.x) {\n";
    os << flat_body(r, code.in, code.out, sc);
    os << "  }\n";
    if (several) os << "  break;\n  }\n";
  }
  if (several) os << "  }\n";
  os << "}\n";
  return GenKernel{name, os.str(), 0, true};
}

GenKernel gen_update_group(const ir::Graph& g, const Unit& member, const std::vector<Format>& in,
                           const std::vector<Format>& out, const ScalarIndex& sc, bool skip_on_overflow,
                           const std::string& name) {
  return gen_update_group(g, {UpdateCode{&member, in, out}}, sc, skip_on_overflow, name);
}

std::vector<UpdateCode> update_codes(const ir::Graph& g, const Unit& group, std::vector<Format>* in,
                                     std::vector<Format>* out, std::vector<int>* code_of) {
  std::vector<const std::string*> keys;
  std::vector<size_t> first_in, first_out, rep;  // per code: its first member and that member's operand offsets
  code_of->clear();
  for (size_t i = 0, o = 0, mi = 0; mi < group.members.size(); ++mi) {
    const Unit& m = group.members[mi];
    size_t c = 0;
    while (c < keys.size() && *keys[c] != m.code_key) ++c;
    if (c == keys.size()) keys.push_back(&m.code_key), rep.push_back(mi), first_in.push_back(i), first_out.push_back(o);
    code_of->push_back(static_cast<int>(c));
    // The code's element types, the member's own output layout.
    const DevLayout ol = canonical((*out)[o].layout, g.type(m.outputs[0]).shape);
    for (size_t k = 0; k < m.inputs.size(); ++k) {
      const Shape& sh = g.type(m.inputs[k]).shape;
      const Format want = canonical(Format{(*in)[first_in[c] + k].dtype, numel(sh) == 1 ? DevLayout::Plain : ol}, sh);
      if (!same_format((*in)[i + k], want, sh)) (*in)[i + k] = want;
    }
    for (size_t k = 0; k < m.outputs.size(); ++k)
      (*out)[o + k] = canonical(Format{(*out)[first_out[c] + k].dtype, (*out)[o + k].layout}, g.type(m.outputs[k]).shape);
    i += m.inputs.size(), o += m.outputs.size();
  }
  std::vector<UpdateCode> codes;
  for (size_t c = 0; c < keys.size(); ++c) {  // a representative's own operands may have been coerced too
    const Unit& m = group.members[rep[c]];
    codes.push_back(UpdateCode{&m, std::vector<Format>(in->begin() + first_in[c], in->begin() + first_in[c] + m.inputs.size()),
                               std::vector<Format>(out->begin() + first_out[c], out->begin() + first_out[c] + m.outputs.size())});
  }
  return codes;
}

// ---------------------------------------------------------------- conversions

GenKernel gen_convert(const Shape& s, const Format& from, const Format& to, const std::string& name) {
  const int64_t n = std::max<int64_t>(numel(s), 1);
  const std::string T = index_type(n);
  const DevLayout sl = canonical(to.layout, s);
  std::ostringstream os;
  os << kernel_head(name, {"const " + std::string(ctype(from.dtype)) + "* in0", std::string(ctype(to.dtype)) + "* out0"})
     << grid_loop(T, n);
  if (needs_coords(s, from.layout, s, sl)) os << coord_code(s, sl, T);
  std::string src = "in0[" + access(s, from.layout, s, sl) + "]";
  if (from.dtype == to.dtype)
    os << "      out0[i] = " << src << ";\n";
  else
    os << "      " << store(to.dtype, "out0", "i", load(from.dtype, "in0", access(s, from.layout, s, sl))) << "\n";
  os << "  }\n}\n";
  return GenKernel{name, os.str(), n, false};
}

}  // namespace acnn::cuda
