// Graph rewrites the CUDA backend applies before cutting the graph into
// kernels (lower_for_device in lowering.h). Each keeps the graph's meaning
// (tests run both forms on the reference interpreter, in f64: in f32 the
// rewritten batch norm's last bits may flip a ReLU) and moves work into
// generated elementwise kernels; new constants take the graph's float type:
//  - batch norm: the training forward keeps only its statistics (a dedicated
//    reduction kernel) and normalizes with elementwise ops, which then fuse
//    with a following residual add and ReLU; inference batch norm is wholly
//    elementwise; the backward keeps only its two channel sums and computes
//    dx elementwise.
//  - a convolution bias becomes an elementwise add (fused with what follows).
//  - asymmetric convolution padding (cuDNN pads symmetrically) becomes an
//    explicit zero pad (forward, weight gradient) or a crop (data gradient).
//  - relu_backward -> batch_norm_backward, when the ReLU's input is that same
//    batch norm of x (the training forward, or remat's recomputation with its
//    statistics), becomes one batch_norm_relu_backward: its channel sums and
//    its elementwise dx recompute the ReLU's mask from x, which they read
//    anyway, so the masked gradient is never written and read back (three
//    passes over the tensor per conv-bn-relu).
//  - relu_backward(dy, s) reads relu(s) instead of s when that exists: the
//    mask is the same, and s (e.g. the sum of a residual add) need not be
//    kept for the backward pass.
#include <algorithm>
#include <map>
#include <tuple>

#include "backends/cuda/lowering.h"
#include "compiler/ir/builder.h"
#include "compiler/ir/op.h"
#include "compiler/ops/common.h"

namespace acnn::cuda {

using ir::NodeId;
using ir::OpKind;
using ir::ValueId;

namespace {

// [C] -> [1, C, 1, ...] matching x's rank.
ValueId per_channel(ir::Builder& b, ValueId v, size_t rank) {
  Shape s(rank, 1);
  s[1] = b.shape(v)[0];
  return b.reshape(v, s);
}

// The per-channel factors of a batch norm, broadcastable against x:
// scale = gamma / sqrt(var + eps) and rstd = 1 / sqrt(var + eps). Made once
// per (gamma, var, eps, rank), where first asked for (after the training
// forward), and shared by the forward, remat's recomputation and the backward
// (each made its own before: one small kernel per use).
class BnFactors {
 public:
  struct Values {
    ValueId scale, rstd;
  };
  Values get(ir::Builder& b, ValueId gamma, ValueId var, double eps, size_t rank) {
    auto key = std::make_tuple(gamma, var, eps, rank);
    auto it = made_.find(key);
    if (it != made_.end()) return it->second;
    ValueId sd = b.emit1(OpKind::Sqrt, {b.scale(per_channel(b, var, rank), 1.0, eps)});
    Values v{b.div(per_channel(b, gamma, rank), sd), b.div(b.scalar(1.0, b.type(var).dtype), sd)};
    return made_.emplace(key, v).first->second;
  }

 private:
  std::map<std::tuple<ValueId, ValueId, double, size_t>, Values> made_;
};

// (x - mean) * scale + beta: batch norm with the factors of `f`.
ValueId bn_apply(ir::Builder& b, BnFactors& f, ValueId x, ValueId gamma, ValueId beta, ValueId mean, ValueId var,
                 double eps) {
  size_t rank = b.shape(x).size();
  ValueId centered = b.sub(x, per_channel(b, mean, rank));
  return b.add(b.mul(centered, f.get(b, gamma, var, eps, rank).scale), per_channel(b, beta, rank));
}

bool symmetric(const ops::ConvGeom& c) { return c.pt == c.pb && c.pl == c.pr; }

Attrs with_pad(const Attrs& a, int64_t ph, int64_t pw) {
  Attrs r = a;
  r.set("pad", std::vector<int64_t>{ph, pw, ph, pw});
  return r;
}

// pads of a 4-D tensor for the explicit part of an asymmetric conv padding.
std::vector<int64_t> extra_pads(const ops::ConvGeom& c, int64_t ph, int64_t pw) {
  return {0, 0, c.pt - ph, c.pl - pw, 0, 0, c.pb - ph, c.pr - pw};
}

// The beta of the batch norm whose output `s` is, when that batch norm is the
// one `bwd` (a batch_norm_backward) differentiates: the same x, gamma, eps and
// statistics (the training forward's, or remat's batch_norm_infer with them).
ValueId same_batch_norm_beta(const ir::Graph& g, ValueId s, const ir::Node& bwd) {
  if (g.value(s).producer < 0) return ir::kNoValue;
  const ir::Node& p = g.producer(s);
  ValueId x = bwd.inputs[1], gamma = bwd.inputs[2], mean = bwd.inputs[3], var = bwd.inputs[4];
  if (p.attrs.f("eps", 1e-5) != bwd.attrs.f("eps", 1e-5) || p.inputs[0] != x || p.inputs[1] != gamma) return ir::kNoValue;
  if (p.op == OpKind::BatchNormTrain && p.outputs[0] == s && p.outputs[1] == mean && p.outputs[2] == var)
    return p.inputs[2];
  if ((p.op == OpKind::BatchNormInfer || p.op == OpKind::BatchNorm) && p.inputs[3] == mean && p.inputs[4] == var)
    return p.inputs[2];
  return ir::kNoValue;
}

// relu_backward(dy, s or relu(s)) -> batch_norm_backward, s that batch norm's
// output, and nothing else reading the masked gradient: one
// batch_norm_relu_backward(dy, x, gamma, beta, mean, var).
int fold_relu_masks(ir::Graph& g) {
  std::vector<int> readers(g.num_values(), 0);
  for (const ir::Node& n : g.nodes())
    if (!n.dead)
      for (ValueId v : n.inputs) ++readers[v];
  for (const auto& [name, v] : g.outputs) ++readers[v];
  for (const ir::StateUpdate& u : g.updates) ++readers[u.value];
  int folded = 0;
  for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id) {
    if (g.node(id).dead || g.node(id).op != OpKind::BatchNormBackward) continue;
    const NodeId rid = g.value(g.node(id).inputs[0]).producer;
    if (rid < 0 || g.node(rid).op != OpKind::ReluBackward || readers[g.node(rid).outputs[0]] != 1) continue;
    ValueId s = g.node(rid).inputs[1];
    if (g.value(s).producer >= 0 && g.producer(s).op == OpKind::Relu) s = g.producer(s).inputs[0];
    const ValueId beta = same_batch_norm_beta(g, s, g.node(id));
    if (beta == ir::kNoValue) continue;
    ir::Node& n = g.node(id);
    n.op = OpKind::BatchNormReluBackward;
    n.inputs = {g.node(rid).inputs[0], n.inputs[1], n.inputs[2], beta, n.inputs[3], n.inputs[4]};
    g.node(rid).dead = true;
    ++folded;
  }
  return folded;
}

}  // namespace

int lower_for_device(ir::Graph& g) {
  int changed = fold_relu_masks(g);
  ir::Builder b(g);
  BnFactors factors;
  const size_t count = g.num_nodes();
  // The nodes a rewrite emits run right after the node it rewrote (they read
  // only its operands and results).
  std::vector<std::vector<NodeId>> emitted_after(count);
  for (NodeId id = 0; id < static_cast<NodeId>(count); ++id) {
    if (g.node(id).dead) continue;
    const size_t before = g.num_nodes();
    const ir::Node n = g.node(id);  // a copy: emitting nodes moves the storage
    b.scope = n.scope;
    b.loc = n.loc;
    const double eps = n.attrs.f("eps", 1e-5);
    switch (n.op) {
      case OpKind::BatchNorm:
      case OpKind::BatchNormInfer: {
        ValueId y = bn_apply(b, factors, n.inputs[0], n.inputs[1], n.inputs[2], n.inputs[3], n.inputs[4], eps);
        g.replace_uses(n.outputs[0], y);
        g.node(id).dead = true;
        ++changed;
        break;
      }
      case OpKind::BatchNormTrain: {
        // The node stays for its statistics (its y is left unused).
        ValueId y = bn_apply(b, factors, n.inputs[0], n.inputs[1], n.inputs[2], n.outputs[1], n.outputs[2], eps);
        g.replace_uses(n.outputs[0], y);
        ++changed;
        break;
      }
      case OpKind::BatchNormBackward:
      case OpKind::BatchNormReluBackward: {
        // dx = scale * (dz - dbeta/M - xhat*dgamma/M); the node keeps the sums.
        // dz is dy, or relu_backward(dy, the forward's batch norm recomputed).
        const bool relu = n.op == OpKind::BatchNormReluBackward;
        ValueId dy = n.inputs[0], x = n.inputs[1], gamma = n.inputs[2];
        ValueId mean = n.inputs[relu ? 4 : 3], var = n.inputs[relu ? 5 : 4];
        const Shape xs = b.shape(x);
        const size_t rank = xs.size();
        const double m = static_cast<double>(numel(xs) / xs[1]);
        const BnFactors::Values f = factors.get(b, gamma, var, eps, rank);
        ValueId dz = dy;
        if (relu) dz = b.emit1(OpKind::ReluBackward, {dy, bn_apply(b, factors, x, gamma, n.inputs[3], mean, var, eps)});
        ValueId xhat = b.mul(b.sub(x, per_channel(b, mean, rank)), f.rstd);
        ValueId dgamma_m = b.scale(per_channel(b, n.outputs[1], rank), 1.0 / m);
        ValueId dbeta_m = b.scale(per_channel(b, n.outputs[2], rank), 1.0 / m);
        ValueId inner = b.sub(b.sub(dz, dbeta_m), b.mul(xhat, dgamma_m));
        ValueId dx = b.mul(inner, f.scale);
        g.replace_uses(n.outputs[0], dx);
        ++changed;
        break;
      }
      case OpKind::Conv2d: {
        ops::ConvGeom c;
        if (!ops::conv_geom(n.attrs, &c).empty()) break;
        bool bias = n.inputs.size() == 3;
        if (!bias && symmetric(c)) break;
        ValueId x = n.inputs[0];
        Attrs a = n.attrs;
        if (!symmetric(c)) {
          int64_t ph = std::min(c.pt, c.pb), pw = std::min(c.pl, c.pr);
          x = b.emit1(OpKind::Pad, {x}, Attrs{{"pads", extra_pads(c, ph, pw)}, {"mode", std::string("zeros")}});
          a = with_pad(a, ph, pw);
        }
        ValueId y = b.emit1(OpKind::Conv2d, {x, n.inputs[1]}, a);
        if (bias) y = b.add(y, per_channel(b, n.inputs[2], 4));
        g.replace_uses(n.outputs[0], y);
        g.node(id).dead = true;
        ++changed;
        break;
      }
      case OpKind::Conv2dBackwardData: {
        ops::ConvGeom c;
        if (!ops::conv_geom(n.attrs, &c).empty() || symmetric(c)) break;
        int64_t ph = std::min(c.pt, c.pb), pw = std::min(c.pl, c.pr);
        std::vector<int64_t> pads = extra_pads(c, ph, pw);
        Shape xs = n.attrs.ints("input_shape");
        Shape padded = xs;
        padded[2] += pads[2] + pads[6];
        padded[3] += pads[3] + pads[7];
        Attrs a = with_pad(n.attrs, ph, pw);
        a.set("input_shape", padded);
        ValueId dxp = b.emit1(OpKind::Conv2dBackwardData, {n.inputs[0], n.inputs[1]}, a);
        ValueId dx = b.emit1(OpKind::PadBackward, {dxp}, Attrs{{"pads", pads}, {"mode", std::string("zeros")}});
        g.replace_uses(n.outputs[0], dx);
        g.node(id).dead = true;
        ++changed;
        break;
      }
      case OpKind::Conv2dBackwardWeight: {
        ops::ConvGeom c;
        if (!ops::conv_geom(n.attrs, &c).empty() || symmetric(c)) break;
        int64_t ph = std::min(c.pt, c.pb), pw = std::min(c.pl, c.pr);
        ValueId xp = b.emit1(OpKind::Pad, {n.inputs[0]}, Attrs{{"pads", extra_pads(c, ph, pw)}, {"mode", std::string("zeros")}});
        ValueId dw = b.emit1(OpKind::Conv2dBackwardWeight, {xp, n.inputs[1]}, with_pad(n.attrs, ph, pw));
        g.replace_uses(n.outputs[0], dw);
        g.node(id).dead = true;
        ++changed;
        break;
      }
      default: break;
    }
    for (size_t k = before; k < g.num_nodes(); ++k) emitted_after[id].push_back(static_cast<NodeId>(k));
  }
  // relu_backward(dy, s) -> relu_backward(dy, relu(s)).
  // Only a relu placed before the relu_backward (the forward one), so that
  // the rewrite cannot make a cycle.
  std::vector<ValueId> relu_of(g.num_values(), ir::kNoValue);
  for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id) {
    ir::Node& n = g.node(id);
    if (n.dead) continue;
    if (n.op == OpKind::Relu && relu_of[n.inputs[0]] == ir::kNoValue) relu_of[n.inputs[0]] = n.outputs[0];
    if (n.op == OpKind::ReluBackward && relu_of[n.inputs[1]] != ir::kNoValue && relu_of[n.inputs[1]] != n.inputs[1]) {
      n.inputs[1] = relu_of[n.inputs[1]];
      ++changed;
    }
  }
  if (changed) place_emitted(g, emitted_after);
  return changed;
}

}  // namespace acnn::cuda
