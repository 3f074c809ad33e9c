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
//  - relu_backward(dy, s) reads relu(s) instead of s when that exists: the
//    mask is the same, and s (e.g. the sum of a residual add) need not be
//    kept for the backward pass.
#include <algorithm>

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

// gamma / sqrt(var + eps), broadcastable against x.
ValueId bn_scale(ir::Builder& b, ValueId gamma, ValueId var, double eps, size_t rank) {
  ValueId sd = b.emit1(OpKind::Sqrt, {b.scale(per_channel(b, var, rank), 1.0, eps)});
  return b.div(per_channel(b, gamma, rank), sd);
}

// (x - mean) * gamma / sqrt(var + eps) + beta.
ValueId bn_apply(ir::Builder& b, ValueId x, ValueId gamma, ValueId beta, ValueId mean, ValueId var, double eps) {
  size_t rank = b.shape(x).size();
  ValueId centered = b.sub(x, per_channel(b, mean, rank));
  return b.add(b.mul(centered, bn_scale(b, gamma, var, eps, rank)), per_channel(b, beta, rank));
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

}  // namespace

int lower_for_device(ir::Graph& g) {
  int changed = 0;
  ir::Builder b(g);
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
        ValueId y = bn_apply(b, n.inputs[0], n.inputs[1], n.inputs[2], n.inputs[3], n.inputs[4], eps);
        g.replace_uses(n.outputs[0], y);
        g.node(id).dead = true;
        ++changed;
        break;
      }
      case OpKind::BatchNormTrain: {
        // The node stays for its statistics (its y is left unused).
        ValueId y = bn_apply(b, n.inputs[0], n.inputs[1], n.inputs[2], n.outputs[1], n.outputs[2], eps);
        g.replace_uses(n.outputs[0], y);
        ++changed;
        break;
      }
      case OpKind::BatchNormBackward: {
        // dx = gamma*rstd * (dy - dbeta/M - xhat*dgamma/M); the node keeps the sums.
        ValueId dy = n.inputs[0], x = n.inputs[1], gamma = n.inputs[2], mean = n.inputs[3], var = n.inputs[4];
        const Shape xs = b.shape(x);
        const size_t rank = xs.size();
        const double m = static_cast<double>(numel(xs) / xs[1]);
        ValueId sd = b.emit1(OpKind::Sqrt, {b.scale(per_channel(b, var, rank), 1.0, eps)});
        ValueId rstd = b.div(b.scalar(1.0, b.type(var).dtype), sd);
        ValueId xhat = b.mul(b.sub(x, per_channel(b, mean, rank)), rstd);
        ValueId dgamma_m = b.scale(per_channel(b, n.outputs[1], rank), 1.0 / m);
        ValueId dbeta_m = b.scale(per_channel(b, n.outputs[2], rank), 1.0 / m);
        ValueId inner = b.sub(b.sub(dy, dbeta_m), b.mul(xhat, dgamma_m));
        ValueId dx = b.mul(inner, b.mul(per_channel(b, gamma, rank), rstd));
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
