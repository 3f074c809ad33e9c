// Elementwise ops of two tensors with numpy broadcasting. Both operands have
// the same dtype. Less yields 1.0 where a < b, else 0.0, in that dtype.
//
// Gradients are summed back over broadcast axes (Builder::unbroadcast).
// maximum/minimum send the gradient to one operand per element: to `a` where
// a >= b (maximum) or a <= b (minimum), to `b` elsewhere, so ties go to `a`.
// less has none: its result is piecewise constant.
#include <algorithm>

#include "compiler/ops/common.h"

namespace acnn::ops {

static std::string broadcast(const char* op, const std::vector<ValueType>& in, std::vector<ValueType>& out) {
  if (in[0].dtype != in[1].dtype)
    return std::string(op) + ": operands have different types " + str(in[0]) + " and " + str(in[1]);
  Shape s;
  if (!broadcast_shapes(in[0].shape, in[1].shape, &s))
    return std::string(op) + ": shapes " + shape_str(in[0].shape) + " and " + shape_str(in[1].shape) +
           " do not broadcast";
  out = {ValueType{in[0].dtype, s}};
  return "";
}

std::string infer_Add(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return broadcast("add", in, out); }
std::string infer_Sub(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return broadcast("sub", in, out); }
std::string infer_Mul(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return broadcast("mul", in, out); }
std::string infer_Div(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return broadcast("div", in, out); }
std::string infer_Maximum(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return broadcast("maximum", in, out); }
std::string infer_Minimum(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return broadcast("minimum", in, out); }
std::string infer_Less(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return broadcast("less", in, out); }

// ---------------------------------------------------------------- gradients

namespace {

void set_unbroadcast(GradContext& g, int i, ValueId grad) {
  if (!g.needs(i)) return;
  Shape target = g.in_shape(i);  // a copy: emitting nodes may move the graph's storage
  g.set_din(i, g.b.unbroadcast(grad, target));
}

// maximum / minimum: `pick_b` is 1.0 where b wins, 0.0 where a does.
void grad_select(GradContext& g, ValueId pick_b) {
  ir::Builder& b = g.b;
  set_unbroadcast(g, 0, b.mul(g.dout(0), b.scale(pick_b, -1.0, 1.0)));
  set_unbroadcast(g, 1, b.mul(g.dout(0), pick_b));
}

}  // namespace

void grad_Add(GradContext& g) {
  set_unbroadcast(g, 0, g.dout(0));
  set_unbroadcast(g, 1, g.dout(0));
}

void grad_Sub(GradContext& g) {
  set_unbroadcast(g, 0, g.dout(0));
  if (g.needs(1)) set_unbroadcast(g, 1, g.b.neg(g.dout(0)));
}

void grad_Mul(GradContext& g) {
  if (g.needs(0)) set_unbroadcast(g, 0, g.b.mul(g.dout(0), g.in(1)));
  if (g.needs(1)) set_unbroadcast(g, 1, g.b.mul(g.dout(0), g.in(0)));
}

// d(a/b)/da = 1/b; d(a/b)/db = -(a/b)/b, written with the output y = a/b.
void grad_Div(GradContext& g) {
  if (g.needs(0)) set_unbroadcast(g, 0, g.b.div(g.dout(0), g.in(1)));
  if (g.needs(1)) set_unbroadcast(g, 1, g.b.neg(g.b.div(g.b.mul(g.dout(0), g.out(0)), g.in(1))));
}

void grad_Maximum(GradContext& g) { grad_select(g, g.b.emit1(ir::OpKind::Less, {g.in(0), g.in(1)})); }
void grad_Minimum(GradContext& g) { grad_select(g, g.b.emit1(ir::OpKind::Less, {g.in(1), g.in(0)})); }

// less is piecewise constant: no gradient.
void grad_Less(GradContext&) {}

// ---------------------------------------------------------------- kernels

namespace {

template <class F>
void broadcast2(const Tensor& a, const Tensor& b, Tensor& y, F f) {
  dispatch_float(y.dtype(), [&]<class T>() {
    const T *pa = a.data<T>(), *pb = b.data<T>();
    T* py = y.data<T>();
    const int64_t n = y.numel();
    if (a.shape() == y.shape() && b.shape() == y.shape()) {
      for (int64_t i = 0; i < n; ++i) py[i] = f(pa[i], pb[i]);
    } else if (a.shape() == y.shape() && b.numel() == 1) {
      const T s = pb[0];
      for (int64_t i = 0; i < n; ++i) py[i] = f(pa[i], s);
    } else {
      strided_loop(y.shape(), broadcast_strides(a.shape(), y.shape()), broadcast_strides(b.shape(), y.shape()),
                   [&](int64_t i, int64_t ia, int64_t ib) { py[i] = f(pa[ia], pb[ib]); });
    }
  });
}

}  // namespace

using In = const std::vector<const Tensor*>;
using Out = const std::vector<Tensor*>;

void ref_Add(const Node&, In& in, Out& out, ExecContext&) { broadcast2(*in[0], *in[1], *out[0], [](auto a, auto b) { return a + b; }); }
void ref_Sub(const Node&, In& in, Out& out, ExecContext&) { broadcast2(*in[0], *in[1], *out[0], [](auto a, auto b) { return a - b; }); }
void ref_Mul(const Node&, In& in, Out& out, ExecContext&) { broadcast2(*in[0], *in[1], *out[0], [](auto a, auto b) { return a * b; }); }
void ref_Div(const Node&, In& in, Out& out, ExecContext&) { broadcast2(*in[0], *in[1], *out[0], [](auto a, auto b) { return a / b; }); }
void ref_Maximum(const Node&, In& in, Out& out, ExecContext&) {
  broadcast2(*in[0], *in[1], *out[0], [](auto a, auto b) { return a < b ? b : a; });
}
void ref_Minimum(const Node&, In& in, Out& out, ExecContext&) {
  broadcast2(*in[0], *in[1], *out[0], [](auto a, auto b) { return b < a ? b : a; });
}
void ref_Less(const Node&, In& in, Out& out, ExecContext&) {
  broadcast2(*in[0], *in[1], *out[0], [](auto a, auto b) { return a < b ? decltype(a)(1) : decltype(a)(0); });
}

}  // namespace acnn::ops
