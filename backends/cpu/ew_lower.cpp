// Body -> ew::Program. One pass over the body in node order assigns each value
// a register; body outputs become sinks. See ew_lower.h for what declines.
#include "backends/cpu/ew_lower.h"

#include <algorithm>
#include <map>

#include "compiler/ir/op.h"
#include "compiler/ops/common.h"

namespace acnn::cpu::ew {

using ir::OpKind;

bool is_ew_op(OpKind k) {
  switch (k) {
    case OpKind::Neg: case OpKind::Relu: case OpKind::Sigmoid: case OpKind::Tanh: case OpKind::Exp:
    case OpKind::Log: case OpKind::Sqrt: case OpKind::Square: case OpKind::Abs: case OpKind::Scale:
    case OpKind::Cast: case OpKind::ReluBackward: case OpKind::SigmoidBackward: case OpKind::TanhBackward:
    case OpKind::Add: case OpKind::Sub: case OpKind::Mul: case OpKind::Div: case OpKind::Maximum:
    case OpKind::Minimum: case OpKind::Less:
    case OpKind::ReduceSum: case OpKind::ReduceMean: case OpKind::ReduceMax: case OpKind::BroadcastTo:
      return true;
    default: return false;
  }
}

namespace {

bool fail(std::string* why, const std::string& msg) {
  if (why) *why = msg;
  return false;
}

Shape aligned(const Shape& s, size_t rank) {
  Shape r(rank, 1);
  for (size_t i = 0; i < s.size(); ++i) r[rank - s.size() + i] = s[i];
  return r;
}

Op simple_op(OpKind k) {
  switch (k) {
    case OpKind::Neg: return Op::Neg;
    case OpKind::Relu: return Op::Relu;
    case OpKind::Sigmoid: return Op::Sigmoid;
    case OpKind::Tanh: return Op::Tanh;
    case OpKind::Exp: return Op::Exp;
    case OpKind::Log: return Op::Log;
    case OpKind::Sqrt: return Op::Sqrt;
    case OpKind::Square: return Op::Square;
    case OpKind::Abs: return Op::Abs;
    case OpKind::ReluBackward: return Op::ReluBwd;
    case OpKind::SigmoidBackward: return Op::SigmoidBwd;
    case OpKind::TanhBackward: return Op::TanhBwd;
    case OpKind::Add: return Op::Add;
    case OpKind::Sub: return Op::Sub;
    case OpKind::Mul: return Op::Mul;
    case OpKind::Div: return Op::Div;
    case OpKind::Maximum: return Op::Max;
    case OpKind::Minimum: return Op::Min;
    case OpKind::Less: return Op::Less;
    default: return Op::Load;  // not simple
  }
}

}  // namespace

bool lower_body(const ir::Graph& body, size_t num_inputs, Lowered* out, std::string* why) {
  Lowered L;
  L.num_inputs = static_cast<int>(num_inputs);
  L.num_outputs = static_cast<int>(body.outputs.size());
  const size_t nv = body.num_values();
  std::vector<int> reg(nv, -1);
  std::vector<bool> is_reduce(nv, false);
  std::vector<const ir::Node*> reduce_node(nv, nullptr);

  // The iteration space: every value that is not a reduction result.
  Shape space;
  bool any = false;
  for (const ir::Node& n : body.nodes()) {
    if (n.dead) continue;
    if (n.op != OpKind::Input && n.op != OpKind::Constant && n.op != OpKind::RuntimeScalar && !is_ew_op(n.op))
      return fail(why, std::string("`") + ir::op_name(n.op) + "` is not elementwise");
    bool reduce = n.op == OpKind::ReduceSum || n.op == OpKind::ReduceMean || n.op == OpKind::ReduceMax;
    for (ir::ValueId v : n.outputs) {
      if (body.type(v).dtype != DType::F32) return fail(why, "a value is not f32");
      if (reduce) continue;
      Shape s;
      if (!ops::broadcast_shapes(space, body.type(v).shape, &s)) return fail(why, "shapes do not broadcast");
      space = s;
      any = true;
    }
  }
  if (!any) return fail(why, "no elementwise values");
  const size_t rank = space.size();
  L.space = space;

  std::vector<BufInfo>& bufs = L.bufs;
  bufs.resize(num_inputs + body.outputs.size());
  for (size_t i = 0; i < num_inputs; ++i) bufs[i].kind = BufKind::Input, bufs[i].index = static_cast<int>(i);
  for (size_t k = 0; k < body.outputs.size(); ++k) {
    bufs[num_inputs + k].kind = BufKind::Output;
    bufs[num_inputs + k].index = static_cast<int>(k);
  }
  Program& P = L.prog;
  auto emit = [&](Instr in) {
    P.code.push_back(in);
    return static_cast<int>(P.code.size()) - 1;
  };

  for (const ir::Node& n : body.nodes()) {
    if (n.dead) continue;
    for (ir::ValueId v : n.inputs)
      if (is_reduce[v]) return fail(why, "a reduction result feeds further computation");
    ir::ValueId o = n.outputs[0];
    switch (n.op) {
      case OpKind::Input: {
        int64_t i = n.attrs.i("index", -1);
        if (i < 0 || i >= static_cast<int64_t>(num_inputs)) return fail(why, "a body input has no index");
        bufs[i].shape = aligned(body.type(o).shape, rank);
        reg[o] = emit({Op::Load, -1, -1, static_cast<int>(i)});
        break;
      }
      case OpKind::Constant: {
        std::vector<double> vals = n.attrs.has("values") ? n.attrs.floats("values") : std::vector<double>{};
        if (!n.attrs.has("values") || vals.size() == 1) {
          Instr c{Op::Const};
          c.c0 = static_cast<float>(n.attrs.has("values") ? vals[0] : n.attrs.f("fill"));
          reg[o] = emit(c);
        } else {
          BufInfo b;
          b.kind = BufKind::Constant;
          b.shape = aligned(body.type(o).shape, rank);
          for (double d : vals) b.values.push_back(static_cast<float>(d));
          bufs.push_back(b);
          reg[o] = emit({Op::Load, -1, -1, static_cast<int>(bufs.size()) - 1});
        }
        break;
      }
      case OpKind::RuntimeScalar: {
        BufInfo b;
        b.kind = BufKind::Scalar;
        b.shape = Shape(rank, 1);
        b.name = n.attrs.s("name");
        bufs.push_back(b);
        reg[o] = emit({Op::Load, -1, -1, static_cast<int>(bufs.size()) - 1});
        break;
      }
      case OpKind::Cast:
      case OpKind::BroadcastTo:
        reg[o] = reg[n.inputs[0]];  // f32 -> f32 only (checked above): the same value
        break;
      case OpKind::Scale: {
        Instr a{Op::Affine, reg[n.inputs[0]]};
        a.c0 = static_cast<float>(n.attrs.f("alpha", 1.0));
        a.c1 = static_cast<float>(n.attrs.f("beta", 0.0));
        reg[o] = emit(a);
        break;
      }
      case OpKind::ReduceSum:
      case OpKind::ReduceMean:
      case OpKind::ReduceMax: {
        ir::ValueId x = n.inputs[0];
        if (body.type(x).shape != space) return fail(why, "a reduction's input is smaller than the iteration space");
        is_reduce[o] = true;
        reduce_node[o] = &n;
        reg[o] = reg[x];
        break;
      }
      default: {
        Op op = simple_op(n.op);
        if (op == Op::Load) return fail(why, std::string("`") + ir::op_name(n.op) + "` is not supported");
        Instr in{op, reg[n.inputs[0]]};
        if (arity(op) == 2) in.b = reg[n.inputs[1]];
        reg[o] = emit(in);
      }
    }
  }
  for (size_t i = 0; i < num_inputs; ++i)
    if (bufs[i].shape.empty() && rank > 0) bufs[i].shape = Shape(rank, 1);  // an unused input

  for (size_t k = 0; k < body.outputs.size(); ++k) {
    ir::ValueId v = body.outputs[k].second;
    BufInfo& b = bufs[num_inputs + k];
    if (reg[v] < 0) return fail(why, "an output is not computed");
    if (is_reduce[v]) {
      const ir::Node& r = *reduce_node[v];
      Shape kept = space;
      int64_t count = 1;
      for (int64_t ax : r.attrs.ints("axes")) {
        int64_t a;
        if (!ops::normalize_axis(ax, rank, &a)) return fail(why, "bad reduction axis");
        if (kept[a] != 1) count *= kept[a];
        kept[a] = 1;
      }
      b.reduce = true;
      b.shape = kept;
      b.red = r.op == OpKind::ReduceMax ? Red::Max : Red::Sum;
      if (r.op == OpKind::ReduceMean) b.post_scale = 1.f / static_cast<float>(count);
      P.sinks.push_back({reg[v], static_cast<int>(num_inputs + k), b.red});
    } else {
      if (body.type(v).shape != space) return fail(why, "an exported value is smaller than the iteration space");
      b.shape = space;
      P.sinks.push_back({reg[v], static_cast<int>(num_inputs + k), Red::None});
    }
  }
  P.num_bufs = static_cast<int>(bufs.size());
  *out = std::move(L);
  return true;
}

std::shared_ptr<ir::Graph> single_node_body(const ir::Graph& g, const ir::Node& n) {
  auto body = std::make_shared<ir::Graph>();
  std::vector<ir::ValueId> ins;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const ir::ValueType& t = g.type(n.inputs[i]);
    ir::NodeId id = body->add_node(OpKind::Input, {}, {t},
                                   Attrs{{"name", "in" + std::to_string(i)}, {"index", static_cast<int64_t>(i)},
                                         {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}});
    ins.push_back(body->node(id).outputs[0]);
  }
  std::vector<ir::ValueType> types;
  for (ir::ValueId v : n.outputs) types.push_back(g.type(v));
  ir::NodeId id = body->add_node(n.op, ins, types, n.attrs);
  for (size_t k = 0; k < n.outputs.size(); ++k)
    body->outputs.push_back({"out" + std::to_string(k), body->node(id).outputs[k]});
  return body;
}

// ---------------------------------------------------------------- nests

std::vector<PhysDim> plain_dims(const Shape& space) {
  std::vector<PhysDim> r;
  int64_t stride = 1;
  for (int d = static_cast<int>(space.size()) - 1; d >= 0; --d) {
    r.insert(r.begin(), PhysDim{space[d], d, 1, stride});
    stride *= space[d];
  }
  return r;
}

int64_t space_points(const Lowered& L) { return numel(L.space); }

bool all_small_single(const Lowered& L) {
  for (const BufInfo& b : L.bufs) {
    bool full = (b.kind == BufKind::Input || b.kind == BufKind::Output) && !b.reduce && b.shape == L.space;
    if (!full && numel(b.shape) != 1) return false;
  }
  return true;
}

Nest flat_nest(const Lowered& L) {
  Nest n;
  n.flat = true;
  n.extent = {numel(L.space)};
  for (const BufInfo& b : L.bufs) {
    bool full = (b.kind == BufKind::Input || b.kind == BufKind::Output) && !b.reduce && b.shape == L.space;
    n.stride.push_back({full && numel(L.space) > 1 ? int64_t{1} : int64_t{0}});
  }
  return n;
}

Nest make_nest(const Lowered& L, const std::vector<PhysDim>& main_in, const std::vector<bool>& in_main) {
  const size_t rank = L.space.size(), nb = L.bufs.size();
  std::vector<PhysDim> dims;
  for (const PhysDim& p : main_in)
    if (p.extent > 1) dims.push_back(p);
  std::stable_sort(dims.begin(), dims.end(), [](const PhysDim& a, const PhysDim& b) { return a.stride > b.stride; });
  // Per-buffer strides over the physical dims.
  std::vector<std::vector<int64_t>> st(nb, std::vector<int64_t>(dims.size(), 0));
  for (size_t b = 0; b < nb; ++b) {
    const Shape& s = L.bufs[b].shape;
    std::vector<int64_t> ls(rank, 0);
    int64_t acc = 1;
    for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
      ls[d] = s[d] == 1 ? 0 : acc;
      acc *= s[d];
    }
    for (size_t p = 0; p < dims.size(); ++p)
      st[b][p] = in_main[b] ? dims[p].stride : dims[p].mult * ls[dims[p].ldim];
  }
  // Merge neighbours that every buffer walks contiguously.
  std::vector<int64_t> ext;
  for (const PhysDim& p : dims) ext.push_back(p.extent);
  for (size_t p = 0; p + 1 < ext.size();) {
    bool ok = true;
    for (size_t b = 0; b < nb && ok; ++b) ok = st[b][p] == st[b][p + 1] * ext[p + 1];
    if (!ok) {
      ++p;
      continue;
    }
    ext[p] *= ext[p + 1];
    ext.erase(ext.begin() + p + 1);
    for (size_t b = 0; b < nb; ++b) {
      st[b][p] = st[b][p + 1];
      st[b].erase(st[b].begin() + p + 1);
    }
  }
  Nest n;
  if (ext.size() <= 1) {
    bool flat = true;
    for (size_t b = 0; b < nb && flat; ++b) {
      int64_t s = ext.empty() ? 0 : st[b][0];
      flat = s == 0 || (s == 1 && !L.bufs[b].reduce);
    }
    if (flat) {
      n.flat = true;
      n.extent = {ext.empty() ? int64_t{1} : ext[0]};
      for (size_t b = 0; b < nb; ++b) n.stride.push_back({ext.empty() ? int64_t{0} : st[b][0]});
      return n;
    }
  }
  while (ext.size() < 2) {  // a static nest has an outer range and at least one inner dimension
    ext.insert(ext.begin(), 1);
    for (auto& v : st) v.insert(v.begin(), 0);
  }
  n.flat = false;
  n.extent = ext;
  n.stride = st;
  // Collapse leading dims until the outer range has enough pieces to split among threads.
  n.outer = 1;
  int64_t size = ext[0];
  while (size < 64 && n.outer + 1 < static_cast<int>(ext.size())) size *= ext[n.outer++];
  return n;
}

}  // namespace acnn::cpu::ew
