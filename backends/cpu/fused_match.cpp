#include "backends/cpu/fused_match.h"

#include <map>

namespace acnn::cpu {

namespace {

using ir::OpKind;
using ir::ValueId;

// Body values -> fused input index (for body Inputs) and fused output indices.
struct BodyIndex {
  const ir::Graph& b;
  std::vector<int> input_of;             // value -> fused input index or -1
  std::map<ValueId, std::vector<int>> outs;  // value -> fused output indices
  std::vector<int> uses;
  explicit BodyIndex(const ir::Graph& body) : b(body), input_of(body.num_values(), -1), uses(body.num_values(), 0) {
    for (const ir::Node& n : b.nodes()) {
      if (n.dead) continue;
      if (n.op == OpKind::Input) input_of[n.outputs[0]] = static_cast<int>(n.attrs.i("index", -1));
      for (ValueId v : n.inputs) ++uses[v];
    }
    for (size_t k = 0; k < b.outputs.size(); ++k) outs[b.outputs[k].second].push_back(static_cast<int>(k));
  }
  int in(ValueId v) const { return input_of[v]; }
  int out(ValueId v) const {
    auto it = outs.find(v);
    return it == outs.end() || it->second.size() != 1 ? -1 : it->second[0];
  }
  bool exported(ValueId v) const { return outs.count(v) != 0; }
  bool twice(ValueId v) const {
    auto it = outs.find(v);
    return it != outs.end() && it->second.size() > 1;
  }
  // The compute nodes in body order.
  std::vector<const ir::Node*> compute() const {
    std::vector<const ir::Node*> r;
    for (const ir::Node& n : b.nodes())
      if (!n.dead && n.op != OpKind::Input) r.push_back(&n);
    return r;
  }
};

bool all_f32(const ir::Graph& g, const ir::Node& f) {
  for (ValueId v : f.inputs)
    if (g.type(v).dtype != DType::F32) return false;
  for (ValueId v : f.outputs)
    if (g.type(v).dtype != DType::F32) return false;
  return true;
}

}  // namespace

bool match_conv(const ir::Graph& outer, const ir::Node& f, ConvMatch* m) {
  if (!f.body || !all_f32(outer, f)) return false;
  BodyIndex bi(*f.body);
  auto nodes = bi.compute();
  if (nodes.empty() || nodes[0]->op != OpKind::Conv2d) return false;
  ConvMatch r;
  r.conv = nodes[0];
  const ir::Node& conv = *r.conv;
  r.x = bi.in(conv.inputs[0]);
  r.w = bi.in(conv.inputs[1]);
  if (r.x < 0 || r.w < 0) return false;
  if (conv.inputs.size() == 3 && (r.bias = bi.in(conv.inputs[2])) < 0) return false;
  const Shape& ys = f.body->type(conv.outputs[0]).shape;
  if (ys.size() != 4) return false;
  ValueId v = conv.outputs[0];
  int stage = 0;  // 1 bias, 2 bn, 3 relu, 4 residual, 5 relu
  for (size_t i = 1; i < nodes.size(); ++i) {
    const ir::Node& n = *nodes[i];
    if (bi.exported(v) || bi.uses[v] != 1) return false;  // post-ops export only the last value
    if (n.op == OpKind::Add && n.inputs[0] != n.inputs[1] && (n.inputs[0] == v || n.inputs[1] == v)) {
      ValueId other = n.inputs[0] == v ? n.inputs[1] : n.inputs[0];
      int oi = bi.in(other);
      if (oi < 0) return false;
      const Shape& os = f.body->type(other).shape;
      if (stage == 0 && r.bias < 0 && (os == Shape{1, ys[1], 1, 1} || os == Shape{ys[1], 1, 1})) {
        r.bias = oi, r.bias_from_add = true, stage = 1;
      } else if (stage <= 3 && os == ys) {
        r.residual = oi, stage = 4;
      } else {
        return false;
      }
    } else if (n.op == OpKind::BatchNormInfer && stage <= 1 && n.inputs[0] == v) {
      r.gamma = bi.in(n.inputs[1]), r.beta = bi.in(n.inputs[2]), r.mean = bi.in(n.inputs[3]), r.var = bi.in(n.inputs[4]);
      if (r.gamma < 0 || r.beta < 0 || r.mean < 0 || r.var < 0) return false;
      r.eps = n.attrs.f("eps", 1e-5);
      stage = 2;
    } else if (n.op == OpKind::Relu && n.inputs[0] == v && (stage <= 2 || stage == 4)) {
      if (stage == 4) r.relu2 = true, stage = 5;
      else r.relu1 = true, stage = 3;
    } else {
      return false;
    }
    v = n.outputs[0];
  }
  if (f.body->outputs.size() != 1 || f.body->outputs[0].second != v) return false;
  *m = r;
  return true;
}

bool match_bn(const ir::Graph& outer, const ir::Node& f, BnMatch* m) {
  if (!f.body || !all_f32(outer, f)) return false;
  BodyIndex bi(*f.body);
  auto nodes = bi.compute();
  if (nodes.size() < 2 || nodes.size() > 3 || nodes[0]->op != OpKind::BatchNormTrain) return false;
  const ir::Node& bn = *nodes[0];
  BnMatch r;
  r.x = bi.in(bn.inputs[0]), r.gamma = bi.in(bn.inputs[1]), r.beta = bi.in(bn.inputs[2]);
  if (r.x < 0 || r.gamma < 0 || r.beta < 0) return false;
  if (f.body->type(bn.inputs[0]).shape.size() < 2) return false;
  r.eps = bn.attrs.f("eps", 1e-5);
  ValueId y = bn.outputs[0];
  ValueId pre = y;
  if (nodes.size() == 3) {
    const ir::Node& add = *nodes[1];
    if (add.op != OpKind::Add || add.inputs[0] == add.inputs[1] || (add.inputs[0] != y && add.inputs[1] != y)) return false;
    ValueId other = add.inputs[0] == y ? add.inputs[1] : add.inputs[0];
    if (!(f.body->type(other) == f.body->type(y)) || (r.residual = bi.in(other)) < 0) return false;
    pre = add.outputs[0];
    if (bi.exported(y)) return false;  // the bn output and its sum both exported: not a pattern we run
  }
  const ir::Node& relu = *nodes.back();
  if (relu.op != OpKind::Relu || relu.inputs[0] != pre) return false;
  for (ValueId v : {y, pre, relu.outputs[0], bn.outputs[1], bn.outputs[2]})
    if (bi.twice(v)) return false;
  r.out = bi.out(relu.outputs[0]);
  r.pre_relu = bi.out(pre);
  r.mean = bi.out(bn.outputs[1]), r.var = bi.out(bn.outputs[2]);
  *m = r;
  return true;
}

bool match_bn_backward(const ir::Graph& outer, const ir::Node& f, BnBwdMatch* m) {
  if (!f.body || !all_f32(outer, f)) return false;
  BodyIndex bi(*f.body);
  auto nodes = bi.compute();
  if (nodes.size() != 2 || nodes[0]->op != OpKind::ReluBackward || nodes[1]->op != OpKind::BatchNormBackward) return false;
  const ir::Node &rb = *nodes[0], &bb = *nodes[1];
  BnBwdMatch r;
  r.dy = bi.in(rb.inputs[0]), r.mask = bi.in(rb.inputs[1]);
  if (bb.inputs[0] != rb.outputs[0]) return false;
  r.x = bi.in(bb.inputs[1]), r.gamma = bi.in(bb.inputs[2]), r.mean = bi.in(bb.inputs[3]), r.var = bi.in(bb.inputs[4]);
  if (r.dy < 0 || r.mask < 0 || r.x < 0 || r.gamma < 0 || r.mean < 0 || r.var < 0) return false;
  if (f.body->type(bb.inputs[1]).shape.size() < 2) return false;
  r.eps = bb.attrs.f("eps", 1e-5);
  for (ValueId v : {rb.outputs[0], bb.outputs[0], bb.outputs[1], bb.outputs[2]})
    if (bi.twice(v)) return false;
  r.dz = bi.out(rb.outputs[0]);
  r.dx = bi.out(bb.outputs[0]), r.dgamma = bi.out(bb.outputs[1]), r.dbeta = bi.out(bb.outputs[2]);
  *m = r;
  return true;
}

}  // namespace acnn::cpu
