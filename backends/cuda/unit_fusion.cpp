// Kernel units that take in a region next to them (see form_units() in
// lowering.h): a convolution whose output only feeds relu(y + bias (+ z))
// runs it as its epilogue (fused_conv(): cuDNN's fused convolution, bias and
// activation); a training batch norm's statistics kernel also writes the
// per-channel factors the region computed from them (bn_with_factors()); a
// batch-norm backward's sums kernel makes its dy, a residual block's output
// gradient, itself (bn_backward_with_prologue()); a region sums or averages
// one of its values without storing it (ReducingRegion); regions store the
// parts of a concatenation into it (Unit::output_view).
// Each matches exactly what the rewrites (rewrite.cpp) and the region
// grouping make, and leaves anything else as it was.
#include <algorithm>
#include <map>
#include <vector>

#include "backends/cuda/lowering.h"
#include "compiler/ir/op.h"

namespace acnn::cuda {

using ir::NodeId;
using ir::OpKind;
using ir::ValueId;

void index_units(const ir::Graph& g, UnitPlan& plan) {
  plan.unit_of_node.assign(g.num_nodes(), -1);
  plan.producer_unit.assign(g.num_values(), -1);
  for (int idx = 0; idx < static_cast<int>(plan.units.size()); ++idx) {
    const Unit& u = plan.units[idx];
    auto mark = [&](const Unit& m) {
      for (NodeId n : m.nodes) plan.unit_of_node[n] = idx;
      for (NodeId n : m.input_view)  // a view belongs to (one of) the regions reading through it
        if (n >= 0) plan.unit_of_node[n] = idx;
      for (NodeId n : m.output_view)
        if (n >= 0) plan.unit_of_node[n] = idx;
      for (NodeId n : m.placed) plan.unit_of_node[n] = idx;
      for (ValueId v : m.outputs) plan.producer_unit[v] = idx;
    };
    if (u.kind == UnitKind::UpdateGroup)
      for (const Unit& m : u.members) mark(m);
    else
      mark(u);
  }
}

namespace {

// Removes the units marked gone (taken into another).
void drop_units(UnitPlan& plan, const std::vector<bool>& gone) {
  std::vector<Unit> kept;
  for (size_t i = 0; i < plan.units.size(); ++i)
    if (!gone[i]) kept.push_back(std::move(plan.units[i]));
  plan.units = std::move(kept);
}

// Per value: the units reading it, plus one for a graph output or a state
// update reading it (or naming it as its target).
std::vector<int> readers_of(const ir::Graph& g, const UnitPlan& plan) {
  std::vector<int> readers(g.num_values(), 0);
  for (const Unit& u : plan.units)
    for (ValueId v : unit_inputs(u)) ++readers[v];
  for (const auto& [name, v] : g.outputs) ++readers[v];
  for (const ir::StateUpdate& u : g.updates) ++readers[u.value], ++readers[u.target];
  return readers;
}

// Whether region R computes relu(a sum of its inputs, each once) as adds and
// one final relu, and nothing else.
bool relu_of_sum(const ir::Graph& g, const Unit& R) {
  if (R.kind != UnitKind::Region || !R.inlined.empty() || !R.input_view.empty() || R.outputs.size() != 1) return false;
  std::map<ValueId, int> uses;
  const ir::Node& last = g.node(R.nodes.back());
  if (last.op != OpKind::Relu || last.outputs[0] != R.outputs[0]) return false;
  for (NodeId id : R.nodes) {
    const ir::Node& n = g.node(id);
    if (id != R.nodes.back() && (n.op != OpKind::Add || n.inputs[0] == n.inputs[1])) return false;
    for (ValueId v : n.inputs) ++uses[v];
  }
  for (NodeId id : R.nodes)
    if (id != R.nodes.back() && uses[g.node(id).outputs[0]] != 1) return false;
  for (ValueId v : R.inputs)
    if (uses[v] != 1) return false;
  return true;
}

}  // namespace

bool fused_conv(const ir::Graph& g, const Unit& u) {
  return u.kind == UnitKind::Node && u.nodes.size() > 1 && g.node(u.nodes[0]).op == OpKind::Conv2d;
}

namespace {

// A convolution y whose only reader is a region relu(y + bias (+ bias2)
// (+ z)), biases per output channel and z of y's shape, takes that region in
// as its epilogue (see fused_conv()).
void fuse_conv_epilogues(const ir::Graph& g, UnitPlan& plan) {
  const std::vector<int> readers = readers_of(g, plan);
  std::vector<bool> gone(plan.units.size(), false);
  for (Unit& R : plan.units) {
    if (!relu_of_sum(g, R) || R.space.size() != 4) continue;
    const int64_t C = R.space[1];
    ValueId y = ir::kNoValue, z = ir::kNoValue;
    std::vector<ValueId> biases;
    int conv = -1, full = 0;
    bool other = false;  // an input neither full-size nor per channel
    for (ValueId v : R.inputs) {
      const Shape& s = g.type(v).shape;
      if (s == R.space) {
        ++full;
        const int p = plan.producer_unit[v];
        if (conv < 0 && p >= 0 && plan.units[p].kind == UnitKind::Node && plan.units[p].nodes.size() == 1 &&
            g.node(plan.units[p].nodes[0]).op == OpKind::Conv2d && readers[v] == 1) {
          conv = p, y = v;
        } else {
          z = v;
        }
      } else if (s == Shape{1, C, 1, 1}) {
        biases.push_back(v);
      } else {
        other = true;
      }
    }
    // Two biases: a projection block's relu(conv + b + conv' + b'), z = conv'.
    if (conv < 0 || other || full > 2 || biases.empty() || biases.size() > 2 || !is_float(g.type(y).dtype)) continue;
    // The fused unit runs where the region did: after z and the convolution's
    // operands, which the convolution alone may have preceded.
    Unit f;
    f.kind = UnitKind::Node;
    const NodeId cid = plan.units[conv].nodes[0];
    f.nodes = {cid};
    f.nodes.insert(f.nodes.end(), R.nodes.begin(), R.nodes.end());
    f.inputs = {g.node(cid).inputs[0], g.node(cid).inputs[1]};
    f.inputs.insert(f.inputs.end(), biases.begin(), biases.end());
    if (z != ir::kNoValue) f.inputs.push_back(z);
    f.outputs = R.outputs;
    R = std::move(f);
    gone[conv] = true;
  }
  drop_units(plan, gone);
}

}  // namespace

bool bn_with_factors(const ir::Graph& g, const Unit& u) {
  return u.kind == UnitKind::Node && u.nodes.size() > 1 && g.node(u.nodes[0]).op == OpKind::BatchNormTrain;
}

namespace {

// The source of v through reshapes (views).
ValueId through_reshapes(const ir::Graph& g, ValueId v) {
  while (g.value(v).producer >= 0 && g.producer(v).op == OpKind::Reshape) v = g.producer(v).inputs[0];
  return v;
}

// Whether region R is exactly a batch norm's factors as the rewrites make
// them (sd = sqrt(1 * var + eps); scale = gamma / sd; rstd = 1 / sd, if
// made), var and gamma those of training batch norm `bn`; sets the scale and
// rstd values (rstd kNoValue when R does not make it).
bool factors_of(const ir::Graph& g, const Unit& R, const ir::Node& bn, ValueId* scale_v, ValueId* rstd_v) {
  if (R.kind != UnitKind::Region || R.nodes.size() < 3 || R.nodes.size() > 4 || !R.input_view.empty()) return false;
  const ir::Node& scale = g.node(R.nodes[0]);
  const ir::Node& sqrt = g.node(R.nodes[1]);
  const double eps = bn.attrs.f("eps", 1e-5);
  if (scale.op != OpKind::Scale || scale.attrs.f("alpha", 1.0) != 1.0 || scale.attrs.f("beta", 0.0) != eps ||
      through_reshapes(g, scale.inputs[0]) != bn.outputs[2] || sqrt.op != OpKind::Sqrt || sqrt.inputs[0] != scale.outputs[0])
    return false;
  *scale_v = *rstd_v = ir::kNoValue;
  for (size_t k = 2; k < R.nodes.size(); ++k) {
    const ir::Node& d = g.node(R.nodes[k]);
    if (d.op != OpKind::Div || d.inputs[1] != sqrt.outputs[0]) return false;
    const ValueId num = d.inputs[0];
    if (through_reshapes(g, num) == bn.inputs[1]) {
      if (*scale_v != ir::kNoValue) return false;
      *scale_v = d.outputs[0];
      continue;
    }
    const ir::Node& c = g.producer(num);
    const bool one = c.op == OpKind::Constant && numel(g.type(num).shape) == 1 &&
                     (c.attrs.has("fill") ? c.attrs.f("fill") == 1.0 : c.attrs.floats("values").at(0) == 1.0);
    if (!one || *rstd_v != ir::kNoValue) return false;
    *rstd_v = d.outputs[0];
  }
  // Every value R writes is one of the two (a kernel writes nothing else).
  for (ValueId v : R.outputs)
    if (v != *scale_v && v != *rstd_v) return false;
  return *scale_v != ir::kNoValue;
}

// A training batch norm's statistics unit takes in the region that makes its
// per-channel factors (bn_with_factors()), so that one kernel writes them.
void fuse_bn_factors(const ir::Graph& g, UnitPlan& plan) {
  std::vector<bool> gone(plan.units.size(), false);
  for (Unit& R : plan.units) {
    if (R.kind != UnitKind::Region || R.nodes.empty()) continue;
    const ValueId var = through_reshapes(g, g.node(R.nodes[0]).inputs[0]);
    const int p = plan.producer_unit[var];
    if (p < 0 || plan.units[p].kind != UnitKind::Node || plan.units[p].nodes.size() != 1) continue;
    Unit& bn = plan.units[p];
    const ir::Node& n = g.node(bn.nodes[0]);
    ValueId scale = ir::kNoValue, rstd = ir::kNoValue;
    if (n.op != OpKind::BatchNormTrain || !factors_of(g, R, n, &scale, &rstd)) continue;
    bn.nodes.insert(bn.nodes.end(), R.nodes.begin(), R.nodes.end());
    bn.outputs.push_back(scale);
    if (rstd != ir::kNoValue) bn.outputs.push_back(rstd);
    gone[&R - plan.units.data()] = true;
  }
  drop_units(plan, gone);
}

// A batch-norm backward whose dy is a residual block's output gradient,
// relu_backward(add(a, b), m) made by a region of just those two nodes, takes
// that region in (bn_backward_with_prologue()). The fused unit runs where the
// region did: the backward's other operands (x, gamma, the statistics) come
// from the forward, earlier.
void fuse_bn_prologues(const ir::Graph& g, UnitPlan& plan) {
  std::vector<bool> gone(plan.units.size(), false);
  for (size_t ri = 0; ri < plan.units.size(); ++ri) {
    Unit& R = plan.units[ri];
    if (R.kind != UnitKind::Region || R.nodes.size() != 2 || !R.inlined.empty() || !R.input_view.empty() ||
        R.outputs.size() != 1 || R.inputs.size() != 3)
      continue;
    const ir::Node& add = g.node(R.nodes[0]);
    const ir::Node& rb = g.node(R.nodes[1]);
    if (add.op != OpKind::Add || rb.op != OpKind::ReluBackward || rb.inputs[0] != add.outputs[0] ||
        rb.outputs[0] != R.outputs[0] || add.inputs[0] == add.inputs[1])
      continue;
    bool full = true;
    for (ValueId v : R.inputs) full = full && g.type(v).shape == R.space;
    if (!full || (R.space.size() != 4 && R.space.size() != 2)) continue;
    const ValueId gv = R.outputs[0];
    for (size_t ui = ri + 1; ui < plan.units.size(); ++ui) {
      const Unit& U = plan.units[ui];
      if (gone[ui] || U.kind != UnitKind::Node || U.nodes.size() != 1) continue;
      const ir::Node& bn = g.node(U.nodes[0]);
      if (bn.op != OpKind::BatchNormBackward || bn.inputs[0] != gv) continue;
      bool ready = true;  // x, gamma, mean and var are made before the region
      for (size_t k = 1; k < bn.inputs.size(); ++k) {
        const int p = plan.producer_unit[bn.inputs[k]];
        ready = ready && (p < 0 || p < static_cast<int>(ri));
      }
      if (!ready) break;
      Unit f;
      f.kind = UnitKind::Node;
      f.nodes = {R.nodes[0], R.nodes[1], U.nodes[0]};
      f.inputs = {add.inputs[0], add.inputs[1], rb.inputs[1]};
      f.inputs.insert(f.inputs.end(), bn.inputs.begin() + 1, bn.inputs.end());
      f.outputs = {gv};
      f.outputs.insert(f.outputs.end(), bn.outputs.begin(), bn.outputs.end());
      R = std::move(f);
      gone[ui] = true;
      break;
    }
  }
  drop_units(plan, gone);
}

// A reduce_sum or reduce_mean of a value a region computes over its whole
// space, in the value's layout [outer, R, inner] runs with inner >= 8,
// takes that region in (a ReducingRegion). The fused unit runs where the
// region did; the reduction, which reads nothing else, runs earlier.
void fuse_reductions(const ir::Graph& g, const FormatPlan& formats, UnitPlan& plan) {
  const std::vector<int> readers = readers_of(g, plan);
  std::vector<bool> gone(plan.units.size(), false);
  for (size_t ui = 0; ui < plan.units.size(); ++ui) {
    const Unit& U = plan.units[ui];
    if (U.kind != UnitKind::Node || U.nodes.size() != 1) continue;
    const ir::Node& red = g.node(U.nodes[0]);
    if (red.op != OpKind::ReduceSum && red.op != OpKind::ReduceMean) continue;
    const ValueId v = red.inputs[0];
    const int p = plan.producer_unit[v];
    const ValueId result = red.outputs[0];
    if (p < 0 || plan.units[p].kind != UnitKind::Region || !is_float(g.type(v).dtype) ||
        canonical(formats.preferred[result], g.type(result).shape) != Format{DType::F32, DevLayout::Plain})
      continue;
    Unit& R = plan.units[p];
    int64_t outer, len, inner;
    if (g.type(v).shape != R.space ||
        !reduce_runs(R.space, red.attrs.ints("axes"), formats.preferred[v].layout, &outer, &len, &inner) || inner < 8)
      continue;
    R.kind = UnitKind::ReducingRegion;
    R.space_layout = canonical(formats.preferred[v].layout, R.space);
    R.nodes.push_back(U.nodes[0]);
    if (readers[v] == 1) R.outputs.erase(std::find(R.outputs.begin(), R.outputs.end(), v));
    R.outputs.push_back(result);
    gone[ui] = true;
  }
  drop_units(plan, gone);
}

// The zero pad's [begin, end) along the one axis it pads; false when it pads
// several axes or none.
bool pad_range(const ir::Node& pad, const Shape& out, int* axis, int64_t* begin, int64_t* end) {
  const std::vector<int64_t> p = pad.attrs.ints("pads");
  *axis = -1;
  for (size_t a = 0; a < out.size(); ++a) {
    if (p[a] == 0 && p[out.size() + a] == 0) continue;
    if (*axis >= 0 || p[a] < 0 || p[out.size() + a] < 0) return false;
    *axis = static_cast<int>(a), *begin = p[a], *end = out[a] - p[out.size() + a];
  }
  return *axis >= 0;
}

// Concatenations stored in place by the regions computing their parts (see
// lowering.h): region C is add(...) of zero pads of values a_i whose ranges
// tile one axis of its output y; each a_i is an output of a Region over
// a_i's shape, read by C alone, of y's element type. Those regions store
// a_i through its pad into y; C goes.
void fuse_concats(const ir::Graph& g, const FormatPlan& formats, UnitPlan& plan) {
  const std::vector<int> readers = readers_of(g, plan);
  std::vector<bool> gone(plan.units.size(), false);
  for (size_t ci = 0; ci < plan.units.size(); ++ci) {
    const Unit& C = plan.units[ci];
    if (C.kind != UnitKind::Region || C.outputs.size() != 1 || !C.inlined.empty() || C.inputs.size() < 2 ||
        C.input_view.size() != C.inputs.size() || C.nodes.size() != C.inputs.size() - 1)
      continue;
    const ValueId y = C.outputs[0];
    const Shape& ys = g.type(y).shape;
    bool ok = readers[y] > 0;
    for (NodeId id : C.nodes) ok = ok && g.node(id).op == OpKind::Add;
    std::vector<std::pair<int64_t, int64_t>> ranges;
    int axis = -1;
    for (size_t k = 0; k < C.inputs.size() && ok; ++k) {
      const ValueId a = C.inputs[k];
      const NodeId pad = C.input_view[k];
      int ax = -1;
      int64_t b = 0, e = 0;
      const int p = plan.producer_unit[a];
      ok = pad >= 0 && g.node(pad).op == OpKind::Pad && g.type(g.node(pad).outputs[0]).shape == ys &&
           pad_range(g.node(pad), ys, &ax, &b, &e) && (axis < 0 || ax == axis) && readers[a] == 1 && p >= 0 &&
           plan.units[p].kind == UnitKind::Region && plan.units[p].space == g.type(a).shape &&
           formats.preferred[a].dtype == formats.preferred[y].dtype;
      axis = ax;
      ranges.emplace_back(b, e);
    }
    if (!ok) continue;
    std::sort(ranges.begin(), ranges.end());
    int64_t at = 0;
    for (auto [b, e] : ranges) ok = ok && b == at, at = e;
    if (!ok || at != ys[axis]) continue;
    for (size_t k = 0; k < C.inputs.size(); ++k) {
      Unit& P = plan.units[plan.producer_unit[C.inputs[k]]];
      const size_t j = std::find(P.outputs.begin(), P.outputs.end(), C.inputs[k]) - P.outputs.begin();
      P.output_view.resize(P.outputs.size(), -1);
      P.outputs[j] = y;
      P.output_view[j] = C.input_view[k];
    }
    Unit& first = plan.units[plan.producer_unit[C.inputs[0]]];
    first.placed.insert(first.placed.end(), C.nodes.begin(), C.nodes.end());
    gone[ci] = true;
  }
  drop_units(plan, gone);
}

}  // namespace

bool bn_backward_with_prologue(const ir::Graph& g, const Unit& u) {
  return u.kind == UnitKind::Node && u.nodes.size() == 3 && g.node(u.nodes[0]).op == OpKind::Add &&
         g.node(u.nodes[2]).op == OpKind::BatchNormBackward;
}

void fuse_into_kernels(const ir::Graph& g, const UnitOptions& o, const FormatPlan& formats, UnitPlan& plan) {
  if (o.fuse_conv_epilogues) {
    fuse_conv_epilogues(g, plan);
    index_units(g, plan);
  }
  fuse_bn_factors(g, plan);
  index_units(g, plan);
  fuse_bn_prologues(g, plan);
  index_units(g, plan);
  if (o.fuse_reductions) {
    fuse_reductions(g, formats, plan);
    index_units(g, plan);
  }
  if (o.fuse_concats) {
    fuse_concats(g, formats, plan);
    index_units(g, plan);
  }
}

}  // namespace acnn::cuda
