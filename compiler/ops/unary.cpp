// Elementwise ops of one tensor, and the dedicated backward forms of the
// activations (which read the forward input or output instead of recomputing).
// Scale: alpha, beta (y = alpha*x + beta). Cast: dtype.
//
// Semantics: relu(x) = max(x, 0); relu_backward(dy, x) = dy where x > 0, else 0
// (relu's gradient rule passes relu's output y: y > 0 exactly where x > 0, and
// the backward pass then keeps y, which the next layer keeps anyway, instead
// of x alive: one activation less per relu, as PyTorch's in-place ReLU does)
// (the subgradient at 0 is 0); sigmoid_backward(dy, y) = dy*y*(1-y);
// tanh_backward(dy, y) = dy*(1-y^2), both in terms of the forward output y.
// Cast converts among f32/f64/i32 (and reads i64/u8/bf16); float to integer
// truncates toward zero, like C++ and numpy's astype.
//
// Gradients: abs uses sign(x) (0 at 0). The backward forms get the gradient
// with respect to dy (they are linear in it) and, where cheap, with respect to
// the saved forward value; relu_backward's x gets none (piecewise constant).
// cast sends the gradient back cast to the input dtype; integer inputs get none.
#include <cmath>

#include "compiler/ops/common.h"

namespace acnn::ops {

static std::string same_type(const std::vector<ValueType>& in, std::vector<ValueType>& out) {
  out = {in[0]};
  return "";
}

static std::string same_pair(const char* op, const std::vector<ValueType>& in, std::vector<ValueType>& out) {
  if (!(in[0] == in[1])) return std::string(op) + ": gradient " + str(in[0]) + " and operand " + str(in[1]) + " differ";
  out = {in[0]};
  return "";
}

std::string infer_Neg(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_type(in, out); }
std::string infer_Relu(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_type(in, out); }
std::string infer_Sigmoid(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_type(in, out); }
std::string infer_Tanh(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_type(in, out); }
std::string infer_Exp(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_type(in, out); }
std::string infer_Log(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_type(in, out); }
std::string infer_Sqrt(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_type(in, out); }
std::string infer_Square(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_type(in, out); }
std::string infer_Abs(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_type(in, out); }
std::string infer_Scale(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_type(in, out); }

std::string infer_Cast(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  DType dt;
  if (!parse_dtype(a.s("dtype"), &dt)) return "cast: unknown dtype `" + a.s("dtype") + "`";
  out = {ValueType{dt, in[0].shape}};
  return "";
}

std::string infer_ReluBackward(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_pair("relu_backward", in, out); }
std::string infer_SigmoidBackward(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_pair("sigmoid_backward", in, out); }
std::string infer_TanhBackward(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) { return same_pair("tanh_backward", in, out); }

// ---------------------------------------------------------------- gradients

void grad_Neg(GradContext& g) { g.set_din(0, g.b.neg(g.dout(0))); }
void grad_Relu(GradContext& g) { g.set_din(0, g.b.emit1(ir::OpKind::ReluBackward, {g.dout(0), g.out(0)})); }
void grad_Sigmoid(GradContext& g) { g.set_din(0, g.b.emit1(ir::OpKind::SigmoidBackward, {g.dout(0), g.out(0)})); }
void grad_Tanh(GradContext& g) { g.set_din(0, g.b.emit1(ir::OpKind::TanhBackward, {g.dout(0), g.out(0)})); }
void grad_Exp(GradContext& g) { g.set_din(0, g.b.mul(g.dout(0), g.out(0))); }
void grad_Log(GradContext& g) { g.set_din(0, g.b.div(g.dout(0), g.in(0))); }
void grad_Sqrt(GradContext& g) { g.set_din(0, g.b.div(g.dout(0), g.b.scale(g.out(0), 2.0))); }
void grad_Square(GradContext& g) { g.set_din(0, g.b.mul(g.dout(0), g.b.scale(g.in(0), 2.0))); }

void grad_Abs(GradContext& g) {
  ir::Builder& b = g.b;
  ValueId zero = b.scalar(0.0, b.type(g.in(0)).dtype);
  ValueId sign = b.sub(b.emit1(ir::OpKind::Less, {zero, g.in(0)}), b.emit1(ir::OpKind::Less, {g.in(0), zero}));
  g.set_din(0, b.mul(g.dout(0), sign));
}

void grad_Scale(GradContext& g) { g.set_din(0, g.b.scale(g.dout(0), g.attrs().f("alpha", 1.0))); }

void grad_Cast(GradContext& g) {
  DType from = g.b.type(g.in(0)).dtype;
  if (!is_float(from) || !is_float(g.b.type(g.out(0)).dtype)) return;  // integers carry no gradient
  ValueId dy = g.dout(0);
  if (g.b.type(dy).dtype != from) dy = g.b.emit1(ir::OpKind::Cast, {dy}, Attrs{{"dtype", std::string(dtype_name(from))}});
  g.set_din(0, dy);
}

// relu_backward(dy, x) is dy*[x > 0]: linear in dy with the same mask; the
// mask is piecewise constant in x, so x gets no gradient.
void grad_ReluBackward(GradContext& g) { g.set_din(0, g.b.emit1(ir::OpKind::ReluBackward, {g.dout(0), g.in(1)})); }

// sigmoid_backward(dy, y) = dy*y*(1-y): d/ddy = same form; d/dy = g*dy*(1-2y).
void grad_SigmoidBackward(GradContext& g) {
  ir::Builder& b = g.b;
  g.set_din(0, b.emit1(ir::OpKind::SigmoidBackward, {g.dout(0), g.in(1)}));
  g.set_din(1, b.mul(b.mul(g.dout(0), g.in(0)), b.scale(g.in(1), -2.0, 1.0)));
}

// tanh_backward(dy, y) = dy*(1-y^2): d/ddy = same form; d/dy = g*dy*(-2y).
void grad_TanhBackward(GradContext& g) {
  ir::Builder& b = g.b;
  g.set_din(0, b.emit1(ir::OpKind::TanhBackward, {g.dout(0), g.in(1)}));
  g.set_din(1, b.mul(b.mul(g.dout(0), g.in(0)), b.scale(g.in(1), -2.0)));
}

// ---------------------------------------------------------------- kernels

namespace {

// y[i] = f(x[i]) over the whole tensor.
template <class F>
void map1(const Tensor& x, Tensor& y, F f) {
  dispatch_float(x.dtype(), [&]<class T>() {
    const T* a = x.data<T>();
    T* r = y.data<T>();
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) r[i] = f(a[i]);
  });
}

// y[i] = f(a[i], b[i]) for two tensors of one shape.
template <class F>
void map2(const Tensor& x, const Tensor& z, Tensor& y, F f) {
  dispatch_float(x.dtype(), [&]<class T>() {
    const T *a = x.data<T>(), *b = z.data<T>();
    T* r = y.data<T>();
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) r[i] = f(a[i], b[i]);
  });
}

}  // namespace

using In = const std::vector<const Tensor*>;
using Out = const std::vector<Tensor*>;

void ref_Neg(const Node&, In& in, Out& out, ExecContext&) { map1(*in[0], *out[0], [](auto v) { return -v; }); }
void ref_Relu(const Node&, In& in, Out& out, ExecContext&) {
  map1(*in[0], *out[0], [](auto v) { return v > 0 ? v : decltype(v)(0); });
}
void ref_Sigmoid(const Node&, In& in, Out& out, ExecContext&) {
  map1(*in[0], *out[0], [](auto v) { return decltype(v)(1) / (decltype(v)(1) + std::exp(-v)); });
}
void ref_Tanh(const Node&, In& in, Out& out, ExecContext&) { map1(*in[0], *out[0], [](auto v) { return std::tanh(v); }); }
void ref_Exp(const Node&, In& in, Out& out, ExecContext&) { map1(*in[0], *out[0], [](auto v) { return std::exp(v); }); }
void ref_Log(const Node&, In& in, Out& out, ExecContext&) { map1(*in[0], *out[0], [](auto v) { return std::log(v); }); }
void ref_Sqrt(const Node&, In& in, Out& out, ExecContext&) { map1(*in[0], *out[0], [](auto v) { return std::sqrt(v); }); }
void ref_Square(const Node&, In& in, Out& out, ExecContext&) { map1(*in[0], *out[0], [](auto v) { return v * v; }); }
void ref_Abs(const Node&, In& in, Out& out, ExecContext&) { map1(*in[0], *out[0], [](auto v) { return std::abs(v); }); }

void ref_Scale(const Node& n, In& in, Out& out, ExecContext&) {
  double alpha = n.attrs.f("alpha", 1.0), beta = n.attrs.f("beta", 0.0);
  map1(*in[0], *out[0], [&](auto v) {
    using T = decltype(v);
    return static_cast<T>(alpha) * v + static_cast<T>(beta);
  });
}

void ref_Cast(const Node&, In& in, Out& out, ExecContext&) {
  const Tensor& x = *in[0];
  Tensor& y = *out[0];
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) {
    double v = x.at(i);
    y.set(i, is_float(y.dtype()) ? v : std::trunc(v));
  }
}

void ref_ReluBackward(const Node&, In& in, Out& out, ExecContext&) {
  map2(*in[0], *in[1], *out[0], [](auto dy, auto x) { return x > 0 ? dy : decltype(dy)(0); });
}
void ref_SigmoidBackward(const Node&, In& in, Out& out, ExecContext&) {
  map2(*in[0], *in[1], *out[0], [](auto dy, auto y) { return dy * y * (decltype(y)(1) - y); });
}
void ref_TanhBackward(const Node&, In& in, Out& out, ExecContext&) {
  map2(*in[0], *in[1], *out[0], [](auto dy, auto y) { return dy * (decltype(y)(1) - y * y); });
}

}  // namespace acnn::ops
