// Storage formats, the precision-lowering policy, Fused-node expansion and the
// grouping of nodes into kernel units (see lowering.h).
#include "backends/cuda/lowering.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>

#include "compiler/ir/op.h"
#include "backends/cuda/codegen.h"
#include "compiler/ops/common.h"

namespace acnn::cuda {

using ir::NodeId;
using ir::OpKind;
using ir::ValueId;

// ---------------------------------------------------------------- formats

DevLayout canonical(DevLayout l, const Shape& s) {
  if (l != DevLayout::NHWC || s.size() != 4) return DevLayout::Plain;
  if (s[1] == 1 || s[2] * s[3] == 1) return DevLayout::Plain;
  return DevLayout::NHWC;
}

Format canonical(Format f, const Shape& s) { return Format{f.dtype, canonical(f.layout, s)}; }

bool same_format(const Format& a, const Format& b, const Shape& s) { return canonical(a, s) == canonical(b, s); }

std::vector<int> physical_axes(DevLayout l, size_t rank) {
  std::vector<int> r(rank);
  for (size_t i = 0; i < rank; ++i) r[i] = static_cast<int>(i);
  if (l == DevLayout::NHWC && rank == 4) r = {0, 2, 3, 1};
  return r;
}

std::vector<int64_t> logical_strides(const Shape& s, DevLayout l) {
  std::vector<int> phys = physical_axes(l, s.size());
  std::vector<int64_t> st(s.size(), 0);
  int64_t acc = 1;
  for (int i = static_cast<int>(phys.size()) - 1; i >= 0; --i) {
    st[phys[i]] = acc;
    acc *= s[phys[i]];
  }
  return st;
}

std::string format_str(const Format& f) {
  return std::string(dtype_name(f.dtype)) + (f.layout == DevLayout::NHWC ? "/nhwc" : "/plain");
}

size_t format_bytes(const Shape& s, const Format& f) { return static_cast<size_t>(numel(s)) * dtype_size(f.dtype); }

bool parse_precision(const std::string& s, Precision* out) {
  if (s == "fp32" || s.empty()) *out = Precision::FP32;
  else if (s == "mixed_bf16" || s == "bf16") *out = Precision::BF16;
  else if (s == "mixed_fp16" || s == "fp16") *out = Precision::FP16;
  else return false;
  return true;
}

DType activation_dtype(Precision p) {
  switch (p) {
    case Precision::BF16: return DType::BF16;
    case Precision::FP16: return DType::F16;
    default: return DType::F32;
  }
}

FormatPlan assign_formats(const ir::Graph& g, Precision p) {
  const size_t nv = g.num_values();
  FormatPlan fp;
  fp.preferred.assign(nv, Format{});
  fp.activation.assign(nv, false);
  std::vector<bool> from_image(nv, false), weighty(nv, false);
  const DType half = activation_dtype(p);
  auto plain = [&](ValueId v, DType dt) { fp.preferred[v] = Format{dt, DevLayout::Plain}; };
  auto like = [&](ValueId v, ValueId src) {  // src's element type, v's natural layout
    const Shape& s = g.type(v).shape;
    fp.preferred[v] = canonical(Format{fp.preferred[src].dtype, s.size() == 4 ? DevLayout::NHWC : DevLayout::Plain}, s);
  };
  for (const ir::Node& n : g.nodes()) {
    if (n.dead) continue;
    bool img = false, wgt = n.op == OpKind::Conv2dBackwardWeight;
    if (n.op == OpKind::Input) img = is_float(g.type(n.outputs[0]).dtype);
    for (ValueId v : n.inputs) img = img || from_image[v], wgt = wgt || weighty[v];
    // The general rule: 4-D values in NHWC; activations in half precision.
    for (ValueId v : n.outputs) {
      const ir::ValueType& t = g.type(v);
      from_image[v] = img;
      weighty[v] = wgt;
      bool rank4 = t.shape.size() == 4;
      Format f{t.dtype, rank4 && n.op != OpKind::Input ? DevLayout::NHWC : DevLayout::Plain};
      // Activations are feature maps (H*W > 1): per-channel statistics and
      // scales ([1,C,1,1]) and pooled attention vectors ([N,C,1,1]) are
      // small and stay fp32 (a batch norm's scale in bf16 would be off by
      // up to 0.4%).
      bool act = half != DType::F32 && is_float(t.dtype) && t.dtype != DType::F64 && rank4 && img && !wgt &&
                 t.shape[2] * t.shape[3] > 1;
      if (act) f.dtype = half;
      fp.preferred[v] = canonical(f, t.shape);
    }
    // What the dedicated kernels write (they write exactly this).
    switch (n.op) {
      case OpKind::Conv2dBackwardWeight:  // cuDNN: dw in the type of x and dy
        like(n.outputs[0], n.inputs[0]);
        break;
      case OpKind::BatchNorm:
      case OpKind::BatchNormTrain:
      case OpKind::BatchNormInfer:
        fp.preferred[n.outputs[0]] = canonical(fp.preferred[n.inputs[0]], g.type(n.outputs[0]).shape);
        for (size_t k = 1; k < n.outputs.size(); ++k) plain(n.outputs[k], DType::F32);
        break;
      case OpKind::BatchNormBackward:
      case OpKind::BatchNormReluBackward:
        fp.preferred[n.outputs[0]] = canonical(fp.preferred[n.inputs[1]], g.type(n.outputs[0]).shape);
        plain(n.outputs[1], DType::F32);
        plain(n.outputs[2], DType::F32);
        break;
      case OpKind::MaxPool2d:
      case OpKind::AvgPool2d:
      case OpKind::AvgPool2dBackward:
        like(n.outputs[0], n.inputs[0]);
        break;
      case OpKind::MaxPool2dBackward:
        fp.preferred[n.outputs[0]] = canonical(fp.preferred[n.inputs[1]], g.type(n.outputs[0]).shape);
        break;
      case OpKind::Softmax:
      case OpKind::LogSoftmax:
      case OpKind::SoftmaxBackward:
      case OpKind::LogSoftmaxBackward:
      case OpKind::SoftmaxCrossEntropy:
      case OpKind::SoftmaxCrossEntropyBackward:
      case OpKind::ReduceSum:
      case OpKind::ReduceMean:
      case OpKind::ReduceMax:
      case OpKind::Matmul:
        plain(n.outputs[0], g.type(n.outputs[0]).dtype);
        break;
      case OpKind::Reshape:
        plain(n.outputs[0], fp.preferred[n.inputs[0]].dtype);
        break;
      default: break;
    }
  }
  // A state update is written in its target's format (in place where legal).
  for (const ir::StateUpdate& u : g.updates) fp.preferred[u.value] = fp.preferred[u.target];
  fp.activations = 0;
  for (size_t v = 0; v < nv; ++v) {
    fp.activation[v] = fp.preferred[v].dtype != g.type(static_cast<ValueId>(v)).dtype;
    fp.activations += fp.activation[v];
  }
  return fp;
}

std::vector<bool> reduced_axes(const std::vector<int64_t>& axes, size_t rank) {
  std::vector<bool> red(rank, false);
  for (int64_t a : axes) {
    int64_t ax;
    if (ops::normalize_axis(a, rank, &ax)) red[ax] = true;
  }
  return red;
}

bool reduce_runs(const Shape& s, const std::vector<int64_t>& axes, DevLayout l, int64_t* outer, int64_t* R,
                 int64_t* inner) {
  const size_t rank = s.size();
  for (int64_t a : axes) {
    int64_t ax;
    if (!ops::normalize_axis(a, rank, &ax)) return false;
  }
  const std::vector<bool> red = reduced_axes(axes, rank);
  // Merged runs of kept / reduced physical axes (size-1 axes dropped).
  std::vector<std::pair<bool, int64_t>> runs;
  int last_kept = -1;
  bool kept_in_order = true;
  for (int a : physical_axes(canonical(l, s), rank)) {
    if (s[a] == 1) continue;
    if (!red[a]) {
      if (a < last_kept) kept_in_order = false;
      last_kept = a;
    }
    if (!runs.empty() && runs.back().first == red[a]) runs.back().second *= s[a];
    else runs.emplace_back(red[a], s[a]);
  }
  *outer = *R = *inner = 1;
  size_t i = 0;
  if (i < runs.size() && !runs[i].first) *outer = runs[i++].second;
  if (i < runs.size() && runs[i].first) *R = runs[i++].second;
  if (i < runs.size() && !runs[i].first) *inner = runs[i++].second;
  return i == runs.size() && kept_in_order;
}

// ---------------------------------------------------------------- fused nodes

bool ew_op(OpKind k) {
  ir::OpFamily f = ir::op_def(k).family;
  return f == ir::OpFamily::Unary || f == ir::OpFamily::Binary || k == OpKind::BroadcastTo || k == OpKind::IfTraining;
}

bool inlinable_source(OpKind k) { return k == OpKind::RuntimeScalar || k == OpKind::RandomUniform; }

bool view_node(const ir::Node& n) {
  if (n.op == OpKind::Slice || n.op == OpKind::UpsampleNearest) return true;
  return n.op == OpKind::Pad && (!n.attrs.has("mode") || n.attrs.s("mode") == "zeros");
}

static bool body_is_elementwise(const ir::Graph& body) {
  Shape space;
  for (const auto& [name, v] : body.outputs) {
    const Shape& s = body.type(v).shape;
    if (space.empty() || numel(s) > numel(space)) space = s;
  }
  for (const auto& [name, v] : body.outputs)
    if (body.type(v).shape != space) return false;  // outputs of several sizes: run the parts
  for (const ir::Node& n : body.nodes()) {
    if (n.dead || n.op == OpKind::Input) continue;
    if (n.op == OpKind::Constant) {
      if (!n.attrs.has("fill") && numel(body.type(n.outputs[0]).shape) != 1) return false;
      continue;
    }
    if (inlinable_source(n.op)) continue;
    if (!ew_op(n.op)) return false;
    if (body.type(n.outputs[0]).shape != space) return false;
    if (body.type(n.outputs[0]).dtype == DType::F64) return false;
  }
  return !body.outputs.empty();
}

bool fused_runs_whole(const ir::Node& n) {
  if (n.op != OpKind::Fused || !n.body) return false;
  const std::string& kind = n.attrs.s("kind");
  if (kind == "optimizer") return body_is_elementwise(*n.body);
  return false;
}

void place_emitted(ir::Graph& g, const std::vector<std::vector<NodeId>>& emitted_after) {
  std::vector<NodeId> order;
  order.reserve(g.num_nodes());
  for (NodeId id = 0; id < static_cast<NodeId>(emitted_after.size()); ++id) {
    order.push_back(id);
    order.insert(order.end(), emitted_after[id].begin(), emitted_after[id].end());
  }
  assert(order.size() == g.num_nodes());
  g.reorder(order);
  g.toposort();  // keeps the order when it is one (it is: emitted nodes read only what their anchor could)
  g.compact();
}

int expand_fused(ir::Graph& g) {
  int expanded = 0;
  const size_t count = g.num_nodes();
  std::vector<std::vector<NodeId>> emitted_after(count);
  for (NodeId id = 0; id < static_cast<NodeId>(count); ++id) {
    if (g.node(id).dead || g.node(id).op != OpKind::Fused || fused_runs_whole(g.node(id))) continue;
    const size_t before = g.num_nodes();
    const ir::Node f = g.node(id);  // a copy: add_node may move the node storage
    if (!f.body) throw std::runtime_error("a fused node without a body in " + f.scope);
    const ir::Graph& body = *f.body;
    std::vector<ValueId> map(body.num_values(), ir::kNoValue);
    for (const ir::Node& bn : body.nodes()) {
      if (bn.dead) continue;
      if (bn.op == OpKind::Input) {
        int64_t i = bn.attrs.i("index", -1);
        if (i < 0 || i >= static_cast<int64_t>(f.inputs.size()))
          throw std::runtime_error("fused node " + f.attrs.s("label") + ": body input index out of range");
        map[bn.outputs[0]] = f.inputs[i];
        continue;
      }
      std::vector<ValueId> ins;
      for (ValueId v : bn.inputs) ins.push_back(map[v]);
      std::vector<ir::ValueType> types;
      for (ValueId v : bn.outputs) types.push_back(body.type(v));
      NodeId nid = g.add_node(bn.op, ins, types, bn.attrs, bn.scope.empty() ? f.scope : bn.scope, bn.loc);
      g.node(nid).body = bn.body;
      for (size_t k = 0; k < bn.outputs.size(); ++k) map[bn.outputs[k]] = g.node(nid).outputs[k];
    }
    for (size_t k = 0; k < f.outputs.size(); ++k) g.replace_uses(f.outputs[k], map[body.outputs[k].second]);
    // Updates may name a fused output as a target only through Param/State, never here.
    g.node(id).dead = true;
    ++expanded;
    for (size_t k = before; k < g.num_nodes(); ++k) emitted_after[id].push_back(static_cast<NodeId>(k));
  }
  if (expanded) place_emitted(g, emitted_after);
  return expanded;
}

// ---------------------------------------------------------------- units

std::vector<bool> needed_nodes(const ir::Graph& g) {
  std::vector<bool> need(g.num_nodes(), false);
  std::vector<ValueId> stack;
  for (const auto& [name, v] : g.outputs) stack.push_back(v);
  for (const ir::StateUpdate& u : g.updates) stack.push_back(u.value);
  while (!stack.empty()) {
    ValueId v = stack.back();
    stack.pop_back();
    NodeId p = g.value(v).producer;
    if (p < 0 || need[p] || g.node(p).dead) continue;
    need[p] = true;
    for (ValueId i : g.node(p).inputs) stack.push_back(i);
  }
  return need;
}

namespace {

bool is_source(OpKind k) {
  return k == OpKind::Input || k == OpKind::Param || k == OpKind::State || k == OpKind::Constant;
}

// absorb(): a costly small region stays a kernel of its own when the region
// reading it is at least this many times bigger.
constexpr int64_t kCostlyRatio = 64;

struct Former {
  const ir::Graph& g;
  const std::vector<bool>& need;
  const UnitOptions& o;
  std::vector<std::vector<NodeId>> users;
  std::vector<bool> external_use;  // per value: a graph output or update source
  std::vector<int> region_of;      // per node: index into regions (-1)
  struct Reg {
    Shape space;
    std::vector<NodeId> nodes;
    NodeId last = -1;
    bool fused = false;
  };
  std::vector<Reg> regions;
  std::vector<bool> viewed;        // per node: a slice/pad that regions read through

  Former(const ir::Graph& g, const std::vector<bool>& need, const UnitOptions& o)
      : g(g), need(need), o(o), users(g.users()), external_use(g.num_values(), false), region_of(g.num_nodes(), -1),
        viewed(g.num_nodes(), false) {
    for (const auto& [name, v] : g.outputs) external_use[v] = true;
    for (const ir::StateUpdate& u : g.updates) external_use[u.value] = true;
  }

  // Node n (at its graph position) may join region r when r computes in the
  // same space and no value r produces is read, outside r, before n.
  bool can_join(int r, NodeId n) const {
    const Reg& R = regions[r];
    if (R.fused || g.type(g.node(n).outputs[0]).shape != R.space) return false;
    for (NodeId m : R.nodes)
      for (ValueId v : g.node(m).outputs)
        for (NodeId u : users[v])
          if (region_of[u] != r && u != n && u < n) return false;
    return true;
  }

  // Moves region `from` into region `into` (both run at the later one's position).
  void merge(int from, int into) {
    Reg& F = regions[from];
    Reg& T = regions[into];
    for (NodeId m : F.nodes) region_of[m] = into;
    T.nodes.insert(T.nodes.end(), F.nodes.begin(), F.nodes.end());
    std::sort(T.nodes.begin(), T.nodes.end());
    T.last = std::max(T.last, F.last);
    F.nodes.clear();
  }

  void run() {
    for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id) {
      const ir::Node& n = g.node(id);
      if (n.dead || !need[id] || is_source(n.op) || inlinable_source(n.op)) continue;
      if (n.op == OpKind::Fused && fused_runs_whole(n)) {
        region_of[id] = static_cast<int>(regions.size());
        regions.push_back(Reg{g.type(n.outputs[0]).shape, {id}, id, true});
        continue;
      }
      if (!ew_op(n.op) || g.type(n.outputs[0]).dtype == DType::F64) continue;
      // Join the region of an operand; when operands come from several
      // regions that could each take this node (e.g. the two halves of a
      // batch-norm backward), those regions become one.
      int joined = -1;
      if (o.fuse_elementwise)
        for (ValueId v : n.inputs) {
          NodeId p = g.value(v).producer;
          int r = p >= 0 ? region_of[p] : -1;
          if (r < 0 || r == joined || !can_join(r, id)) continue;
          if (joined < 0) joined = r;
          else merge(r, joined);
        }
      if (joined < 0) {
        joined = static_cast<int>(regions.size());
        regions.push_back(Reg{g.type(n.outputs[0]).shape, {}, id, false});
      }
      regions[joined].nodes.push_back(id);
      regions[joined].last = id;
      region_of[id] = joined;
    }
  }

  // Whether a region computes something costly per element (a square root,
  // a division, a transcendental): a few of those per element make a
  // bandwidth-bound kernel compute-bound.
  bool costly(const Reg& R) const {
    for (NodeId m : R.nodes)
      switch (g.node(m).op) {
        case OpKind::Sqrt:
        case OpKind::Div:
        case OpKind::Exp:
        case OpKind::Log:
        case OpKind::Tanh:
        case OpKind::Sigmoid: return true;
        default: break;
      }
    return false;
  }

  // Small regions read only by one bigger region are recomputed inside it,
  // per element, instead of being written out by a kernel of their own (a
  // launch saved), unless they are costly and the bigger region is much
  // bigger: the per-channel scale of a batch norm, gamma / sqrt(var + eps),
  // is one tiny kernel rather than a square root and a division for every
  // element of the activation.
  void absorb() {
    for (bool again = true; again;) {
      again = false;
      for (int p = 0; p < static_cast<int>(regions.size()); ++p) {
        Reg& P = regions[p];
        if (P.fused || P.nodes.empty() || P.nodes.size() > 8) continue;
        int target = -1;
        bool ok = true;
        for (NodeId m : P.nodes)
          for (ValueId v : g.node(m).outputs) {
            if (external_use[v]) ok = false;
            for (NodeId u : users[v]) {
              int r = region_of[u];
              if (r == p) continue;
              if (r < 0 || regions[r].fused || (target >= 0 && r != target)) ok = false;
              target = r;
            }
          }
        if (!ok || target < 0) continue;
        Reg& R = regions[target];
        Shape b;
        if (!ops::broadcast_shapes(P.space, R.space, &b) || b != R.space || P.space == R.space) continue;
        if (costly(P) && numel(R.space) >= kCostlyRatio * std::max<int64_t>(numel(P.space), 1)) continue;
        for (NodeId m : P.nodes) region_of[m] = target;
        R.nodes.insert(R.nodes.end(), P.nodes.begin(), P.nodes.end());
        std::sort(R.nodes.begin(), R.nodes.end());
        P.nodes.clear();
        again = true;
      }
    }
  }

  // Slices and zero pads whose every reader is a (generated, not Fused)
  // region become views: the regions read the source through them, and the
  // copy is never made. The source must be in memory (not itself a view) and
  // keep its element type.
  void find_views() {
    for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id) {
      const ir::Node& n = g.node(id);
      if (n.dead || !need[id] || !view_node(n) || external_use[n.outputs[0]]) continue;
      const NodeId src = g.value(n.inputs[0]).producer;
      if (src >= 0 && viewed[src]) continue;
      if (g.type(n.inputs[0]).dtype != g.type(n.outputs[0]).dtype || users[n.outputs[0]].empty()) continue;
      bool ok = true;
      for (NodeId u : users[n.outputs[0]]) ok = ok && region_of[u] >= 0 && !regions[region_of[u]].fused;
      viewed[id] = ok;
    }
  }

  // Inputs, inlined sources and outputs of a region.
  void describe(int r, Unit& u) const {
    const Reg& R = regions[r];
    if (R.fused) {  // the node's operands, positionally (the body's Input indices)
      u.inputs = g.node(R.nodes[0]).inputs;
      u.outputs = g.node(R.nodes[0]).outputs;
      return;
    }
    std::set<NodeId> inl;
    std::set<ValueId> seen;
    for (NodeId m : R.nodes) {
      const ir::Node& n = g.node(m);
      for (ValueId v : n.inputs) {
        NodeId p = g.value(v).producer;
        if (p >= 0 && region_of[p] == r) continue;
        if (p >= 0 && inlinable_source(g.node(p).op) && !R.fused) {
          inl.insert(p);
          continue;
        }
        if (!seen.insert(v).second) continue;
        if (p >= 0 && viewed[p]) {
          u.inputs.push_back(g.node(p).inputs[0]);
          u.input_view.resize(u.inputs.size(), -1);
          u.input_view.back() = p;
        } else {
          u.inputs.push_back(v);
        }
      }
    }
    if (!u.input_view.empty()) u.input_view.resize(u.inputs.size(), -1);
    u.inlined.assign(inl.begin(), inl.end());
    for (NodeId m : R.nodes)
      for (ValueId v : g.node(m).outputs) {
        bool out = external_use[v] || R.fused;
        for (NodeId usr : users[v])
          if (region_of[usr] != r) out = true;
        if (out) u.outputs.push_back(v);
      }
  }
};

}  // namespace

UnitPlan form_units(const ir::Graph& g, const std::vector<bool>& need, const UnitOptions& o,
                    std::string (*key_of)(const ir::Graph&, const Unit&, const FormatPlan&), const FormatPlan& formats) {
  Former f(g, need, o);
  f.run();
  if (o.fuse_elementwise) f.absorb();
  if (o.fuse_elementwise) f.find_views();
  // Units keyed by the graph position they run at.
  std::vector<std::pair<NodeId, Unit>> seq;
  for (int r = 0; r < static_cast<int>(f.regions.size()); ++r) {
    const Former::Reg& R = f.regions[r];
    if (R.nodes.empty()) continue;  // absorbed
    Unit u;
    u.kind = R.fused ? UnitKind::FusedRegion : UnitKind::Region;
    u.nodes = R.nodes;
    u.space = R.space;
    f.describe(r, u);
    seq.emplace_back(R.last, std::move(u));
  }
  // Inlinable sources that something other than a region reads run alone.
  for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id) {
    const ir::Node& n = g.node(id);
    if (n.dead || !need[id] || !inlinable_source(n.op)) continue;
    bool alone = f.external_use[n.outputs[0]];
    for (NodeId usr : f.users[n.outputs[0]])
      if (f.region_of[usr] < 0 || f.regions[f.region_of[usr]].fused) alone = true;
    if (!alone) continue;
    Unit u;
    u.kind = UnitKind::Region;
    u.space = g.type(n.outputs[0]).shape;
    u.inlined = {id};
    u.outputs = {n.outputs[0]};
    seq.emplace_back(id, std::move(u));
  }
  for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id) {
    const ir::Node& n = g.node(id);
    if (n.dead || !need[id] || is_source(n.op) || inlinable_source(n.op) || f.region_of[id] >= 0 || f.viewed[id]) continue;
    Unit u;
    u.kind = UnitKind::Node;
    u.nodes = {id};
    u.inputs = n.inputs;
    u.outputs = n.outputs;
    seq.emplace_back(id, std::move(u));
  }
  // Update regions: every output is a state update and nothing in the step reads it.
  std::map<ValueId, ValueId> target_of;
  for (const ir::StateUpdate& u : g.updates) target_of[u.value] = u.target;
  std::set<ValueId> graph_outputs;
  for (const auto& [name, v] : g.outputs) graph_outputs.insert(v);
  std::map<std::string, std::vector<size_t>> by_key;
  for (size_t i = 0; i < seq.size(); ++i) {
    Unit& u = seq[i].second;
    if (u.kind != UnitKind::Region && u.kind != UnitKind::FusedRegion) continue;
    bool update_only = !u.outputs.empty();
    std::set<NodeId> inside(u.nodes.begin(), u.nodes.end());
    for (ValueId v : u.outputs) {
      auto it = target_of.find(v);
      bool read_outside = false;
      for (NodeId usr : f.users[v]) read_outside = read_outside || !inside.count(usr);
      if (it == target_of.end() || graph_outputs.count(v) || read_outside) {
        update_only = false;
        continue;
      }
      if (g.producer(it->second).op == OpKind::Param) u.optimizer = true;
    }
    if (!update_only) {
      u.optimizer = false;
      continue;
    }
    if (key_of) u.code_key = key_of(g, u, formats);
    // Update regions are two launches whatever their codes (a kernel with one
    // case per code): the optimizer's, and the other state updates' (batch-norm
    // running statistics; never skipped on an fp16 overflow).
    if (o.group_updates && !u.code_key.empty())
      by_key[u.optimizer ? std::string("optimizer") : std::string("state")].push_back(i);
  }
  std::vector<bool> absorbed(seq.size(), false);
  for (auto& [key, members] : by_key) {
    if (members.size() < 2) continue;
    Unit grp;
    grp.kind = UnitKind::UpdateGroup;
    grp.code_key = key;  // "optimizer" or "state": members of several codes (each keeps its own)
    NodeId at = -1;
    for (size_t i : members) {
      at = std::max(at, seq[i].first);
      grp.optimizer = grp.optimizer || seq[i].second.optimizer;
      grp.members.push_back(seq[i].second);
      absorbed[i] = true;
    }
    seq.emplace_back(at, std::move(grp));
    absorbed.push_back(false);
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < seq.size(); ++i)
    if (!absorbed[i]) order.push_back(i);
  // Several units may sit at one position only when an update group lands on
  // a region's last node; the group (made later) runs after it.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return seq[a].first < seq[b].first; });
  UnitPlan plan;
  for (size_t i : order) plan.units.push_back(std::move(seq[i].second));
  index_units(g, plan);
  if (o.fuse_elementwise) fuse_into_kernels(g, o, formats, plan);
  return plan;
}

std::vector<ValueId> unit_inputs(const Unit& u) {
  if (u.kind != UnitKind::UpdateGroup) return u.inputs;
  std::vector<ValueId> r;
  for (const Unit& m : u.members) r.insert(r.end(), m.inputs.begin(), m.inputs.end());
  return r;
}

std::vector<ValueId> unit_outputs(const Unit& u) {
  if (u.kind != UnitKind::UpdateGroup) return u.outputs;
  std::vector<ValueId> r;
  for (const Unit& m : u.members) r.insert(r.end(), m.outputs.begin(), m.outputs.end());
  return r;
}

namespace {

// Whether a node's result varies from step to step whatever its inputs:
// runtime scalars, random numbers, the training flag.
bool per_step(const ir::Node& n) {
  if (n.op == OpKind::RuntimeScalar || n.op == OpKind::RandomUniform || n.op == OpKind::IfTraining) return true;
  if (n.op == OpKind::Fused && n.body)
    for (const ir::Node& b : n.body->nodes())
      if (!b.dead && per_step(b)) return true;
  return false;
}

void mark_static_units(const ir::Graph& g, UnitPlan& plan) {
  std::vector<bool>& fixed = plan.static_value;  // values that never change from step to step
  fixed.assign(g.num_values(), false);
  std::set<ValueId> targets, updated_by;
  for (const ir::StateUpdate& u : g.updates) targets.insert(u.target), updated_by.insert(u.value);
  for (const ir::Node& n : g.nodes()) {
    if (n.dead) continue;
    if (n.op == OpKind::Constant || ((n.op == OpKind::Param || n.op == OpKind::State) && !targets.count(n.outputs[0])))
      fixed[n.outputs[0]] = true;
  }
  plan.static_unit.assign(plan.units.size(), false);
  for (size_t i = 0; i < plan.units.size(); ++i) {
    const Unit& u = plan.units[i];
    if (u.kind == UnitKind::Source || u.kind == UnitKind::UpdateGroup || u.outputs.empty()) continue;
    bool ok = true;
    for (NodeId id : u.nodes) ok = ok && !per_step(g.node(id));
    for (NodeId id : u.inlined) ok = ok && !per_step(g.node(id));
    for (ValueId v : u.inputs) ok = ok && fixed[v];
    for (ValueId v : u.outputs) ok = ok && !updated_by.count(v);
    if (!ok) continue;
    plan.static_unit[i] = true;
    for (ValueId v : u.outputs) fixed[v] = true;
  }
}

}  // namespace

DevicePlan plan_device(const ir::Graph& src, Precision p, const UnitOptions& options) {
  UnitOptions o = options;
  // Switches for the first runs on a new GPU: reductions and concatenations
  // as kernels of their own.
  if (const char* e = std::getenv("ACNN_CUDA_FUSE_REDUCTIONS"); e && std::string(e) == "0") o.fuse_reductions = false;
  if (const char* e = std::getenv("ACNN_CUDA_FUSE_CONCATS"); e && std::string(e) == "0") o.fuse_concats = false;
  DevicePlan d;
  d.precision = p;
  d.graph = src.clone();
  ir::Graph& g = *d.graph;
  for (const ir::Node& n : g.nodes()) {
    if (n.dead) continue;
    for (ValueId v : n.outputs)
      if (g.type(v).dtype == DType::F64)
        throw std::runtime_error(std::string("the CUDA backend runs f32 graphs, but ") + ir::op_name(n.op) +
                                 (n.scope.empty() ? "" : " in " + n.scope) + " makes an f64 tensor");
  }
  g.compact();
  d.fused_expanded = expand_fused(g);
  d.rewrites = lower_for_device(g);
  d.formats = assign_formats(g, p);
  d.needed = needed_nodes(g);
  d.units = form_units(g, d.needed, o, &update_key_planned, d.formats);
  mark_static_units(g, d.units);
  return d;
}

}  // namespace acnn::cuda
