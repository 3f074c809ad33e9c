// Softmax family and the classification loss. Softmax / LogSoftmax (axis,
// default -1) and their backward forms (dy, y). OneHot (labels i32[N]) with
// classes and smoothing: on = 1 - s + s/K, off = s/K, in f32.
// SoftmaxCrossEntropy (logits[N,K], target[N,K] probabilities) gives the
// per-example loss [N]; its backward takes (dloss[N], logits, target).
//
// Kernels: softmax and log_softmax subtract the maximum along the axis first
// (numerically stable). softmax_backward(dy, y) = y*(dy - sum(dy*y));
// log_softmax_backward(dy, y) = dy - exp(y)*sum(dy), y the forward output.
// one_hot rejects labels outside [0, classes). softmax_cross_entropy is
// loss[n] = -sum_k target[n,k]*log_softmax(logits)[n,k] (terms with target 0
// are skipped, so a -inf log-probability there gives 0, not NaN). Its
// backward is dlogits = dloss[n]*(softmax(logits) - target): this ASSUMES each
// target row sums to 1 (one-hot, smoothed, mixup or teacher probabilities);
// the exact gradient is dloss*(softmax*sum(target) - target).
//
// Gradients: softmax/log_softmax use their backward forms, which in turn have
// cheap closed-form gradients (so they get them). softmax_cross_entropy sends
// its backward form to the logits and -dloss*log_softmax(logits) to the target
// (soft targets such as a teacher's output may be trained through). one_hot
// (integer labels) and softmax_cross_entropy_backward (second order) get none.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "compiler/ops/common.h"

namespace acnn::ops {

static std::string axis_ok(const char* op, const ValueType& t, const Attrs& a) {
  int64_t ax;
  if (!normalize_axis(a.i("axis", -1), t.shape.size(), &ax)) return std::string(op) + ": axis out of range for " + str(t);
  return "";
}

std::string infer_Softmax(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  out = {in[0]};
  return axis_ok("softmax", in[0], a);
}
std::string infer_LogSoftmax(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  out = {in[0]};
  return axis_ok("log_softmax", in[0], a);
}
std::string infer_SoftmaxBackward(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  if (!(in[0] == in[1])) return "softmax_backward: gradient and output types differ";
  out = {in[0]};
  return axis_ok("softmax_backward", in[0], a);
}
std::string infer_LogSoftmaxBackward(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  if (!(in[0] == in[1])) return "log_softmax_backward: gradient and output types differ";
  out = {in[0]};
  return axis_ok("log_softmax_backward", in[0], a);
}

std::string infer_OneHot(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  if (in[0].shape.size() != 1 || in[0].dtype != DType::I32) return "one_hot: labels must be i32[N], got " + str(in[0]);
  int64_t k = a.i("classes");
  if (k < 1) return "one_hot: classes must be positive";
  double s = a.f("smoothing", 0.0);
  if (s < 0 || s >= 1) return "one_hot: smoothing must be in [0, 1)";
  out = {ValueType{DType::F32, {in[0].shape[0], k}}};
  return "";
}

std::string infer_SoftmaxCrossEntropy(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) {
  if (in[0].shape.size() != 2) return "softmax_cross_entropy: logits must be [N,K], got " + str(in[0]);
  if (!(in[0] == in[1])) return "softmax_cross_entropy: logits " + str(in[0]) + " and target " + str(in[1]) + " differ";
  out = {ValueType{in[0].dtype, {in[0].shape[0]}}};
  return "";
}

std::string infer_SoftmaxCrossEntropyBackward(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) {
  if (in[1].shape.size() != 2 || !(in[1] == in[2]) || in[0].shape != Shape{in[1].shape[0]})
    return "softmax_cross_entropy_backward: expects dloss[N], logits[N,K], target[N,K]";
  out = {in[1]};
  return "";
}

// ---------------------------------------------------------------- gradients

namespace {

int64_t axis_of(const GradContext& g) {
  int64_t ax;
  normalize_axis(g.attrs().i("axis", -1), g.in_shape(0).size(), &ax);
  return ax;
}

}  // namespace

void grad_Softmax(GradContext& g) { g.set_din(0, g.b.emit1(ir::OpKind::SoftmaxBackward, {g.dout(0), g.out(0)}, g.attrs())); }
void grad_LogSoftmax(GradContext& g) {
  g.set_din(0, g.b.emit1(ir::OpKind::LogSoftmaxBackward, {g.dout(0), g.out(0)}, g.attrs()));
}

// out = y*(dy - s), s = sum(dy*y): its Jacobian in dy is symmetric, so
// d/ddy = softmax_backward(g, y); d/dy = g*(dy - s) - dy*sum(g*y).
void grad_SoftmaxBackward(GradContext& g) {
  ir::Builder& b = g.b;
  const int64_t ax = axis_of(g);
  const ValueId gr = g.dout(0), dy = g.in(0), y = g.in(1);
  if (g.needs(0)) g.set_din(0, b.emit1(ir::OpKind::SoftmaxBackward, {gr, y}, g.attrs()));
  if (g.needs(1)) {
    ValueId s = b.reduce_sum(b.mul(dy, y), {ax}, true);
    g.set_din(1, b.sub(b.mul(gr, b.sub(dy, s)), b.mul(dy, b.reduce_sum(b.mul(gr, y), {ax}, true))));
  }
}

// out = dy - exp(y)*sum(dy): d/ddy = g - sum(g*exp(y)); d/dy = -g*exp(y)*sum(dy).
void grad_LogSoftmaxBackward(GradContext& g) {
  ir::Builder& b = g.b;
  const int64_t ax = axis_of(g);
  const ValueId gr = g.dout(0), dy = g.in(0);
  const ValueId p = b.emit1(ir::OpKind::Exp, {g.in(1)});
  if (g.needs(0)) g.set_din(0, b.sub(gr, b.reduce_sum(b.mul(gr, p), {ax}, true)));
  if (g.needs(1)) g.set_din(1, b.neg(b.mul(b.mul(gr, p), b.reduce_sum(dy, {ax}, true))));
}

// Labels are integers: no gradient.
void grad_OneHot(GradContext&) {}

void grad_SoftmaxCrossEntropy(GradContext& g) {
  ir::Builder& b = g.b;
  const int64_t n = g.in_shape(0)[0];
  if (g.needs(0))
    g.set_din(0, b.emit1(ir::OpKind::SoftmaxCrossEntropyBackward, {g.dout(0), g.in(0), g.in(1)}));
  if (g.needs(1)) {
    ValueId logp = b.emit1(ir::OpKind::LogSoftmax, {g.in(0)}, Attrs{{"axis", int64_t{-1}}});
    g.set_din(1, b.neg(b.mul(logp, b.reshape(g.dout(0), {n, 1}))));
  }
}

// Second order through the loss is not needed: no gradient.
void grad_SoftmaxCrossEntropyBackward(GradContext&) {}

// ---------------------------------------------------------------- kernels

namespace {

// x viewed as [outer, K, inner] around the axis.
struct AxisDims {
  int64_t outer = 1, K = 1, inner = 1;
};

AxisDims axis_dims(const Shape& s, const Attrs& a) {
  int64_t ax;
  normalize_axis(a.i("axis", -1), s.size(), &ax);
  AxisDims d;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) (i < ax ? d.outer : i == ax ? d.K : d.inner) *= s[i];
  return d;
}

// Calls f(base, stride) for each line along the axis: elements base + k*stride.
template <class F>
void for_each_line(const AxisDims& d, F f) {
  for (int64_t o = 0; o < d.outer; ++o)
    for (int64_t i = 0; i < d.inner; ++i) f(o * d.K * d.inner + i, d.inner);
}

// Writes softmax (log = false) or log_softmax (log = true) of K values.
template <class T>
void softmax_line(const T* x, T* y, int64_t K, int64_t st, bool log) {
  T mx = x[0];
  for (int64_t k = 1; k < K; ++k) mx = std::max(mx, x[k * st]);
  double sum = 0;
  for (int64_t k = 0; k < K; ++k) sum += std::exp(static_cast<double>(x[k * st] - mx));
  const double lse = std::log(sum);
  for (int64_t k = 0; k < K; ++k) {
    const double z = static_cast<double>(x[k * st] - mx);
    y[k * st] = static_cast<T>(log ? z - lse : std::exp(z - lse));
  }
}

void softmax_kernel(const Node& n, const Tensor& x, Tensor& y, bool log) {
  AxisDims d = axis_dims(x.shape(), n.attrs);
  dispatch_float(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_line(d, [&](int64_t base, int64_t st) { softmax_line(px + base, py + base, d.K, st, log); });
  });
}

}  // namespace

using In = const std::vector<const Tensor*>;
using Out = const std::vector<Tensor*>;

void ref_Softmax(const Node& n, In& in, Out& out, ExecContext&) { softmax_kernel(n, *in[0], *out[0], false); }
void ref_LogSoftmax(const Node& n, In& in, Out& out, ExecContext&) { softmax_kernel(n, *in[0], *out[0], true); }

void ref_SoftmaxBackward(const Node& n, In& in, Out& out, ExecContext&) {
  AxisDims d = axis_dims(in[0]->shape(), n.attrs);
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T *dy = in[0]->data<T>(), *y = in[1]->data<T>();
    T* dx = out[0]->data<T>();
    for_each_line(d, [&](int64_t base, int64_t st) {
      double s = 0;
      for (int64_t k = 0; k < d.K; ++k) s += dy[base + k * st] * y[base + k * st];
      for (int64_t k = 0; k < d.K; ++k) dx[base + k * st] = static_cast<T>(y[base + k * st] * (dy[base + k * st] - s));
    });
  });
}

void ref_LogSoftmaxBackward(const Node& n, In& in, Out& out, ExecContext&) {
  AxisDims d = axis_dims(in[0]->shape(), n.attrs);
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T *dy = in[0]->data<T>(), *y = in[1]->data<T>();
    T* dx = out[0]->data<T>();
    for_each_line(d, [&](int64_t base, int64_t st) {
      double s = 0;
      for (int64_t k = 0; k < d.K; ++k) s += dy[base + k * st];
      for (int64_t k = 0; k < d.K; ++k)
        dx[base + k * st] = static_cast<T>(dy[base + k * st] - std::exp(static_cast<double>(y[base + k * st])) * s);
    });
  });
}

void ref_OneHot(const Node& n, In& in, Out& out, ExecContext&) {
  const int64_t N = in[0]->dim(0), K = n.attrs.i("classes");
  const double s = n.attrs.f("smoothing", 0.0), off = s / static_cast<double>(K), on = 1.0 - s + off;
  const int32_t* labels = in[0]->data<int32_t>();
  Tensor& y = *out[0];
  for (int64_t i = 0; i < N; ++i) {
    if (labels[i] < 0 || labels[i] >= K)
      throw std::out_of_range("one_hot: label " + std::to_string(labels[i]) + " is outside [0, " + std::to_string(K) + ")");
    for (int64_t k = 0; k < K; ++k) y.set(i * K + k, k == labels[i] ? on : off);
  }
}

void ref_SoftmaxCrossEntropy(const Node&, In& in, Out& out, ExecContext&) {
  const int64_t N = in[0]->dim(0), K = in[0]->dim(1);
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T *x = in[0]->data<T>(), *t = in[1]->data<T>();
    std::vector<T> logp(K);
    for (int64_t i = 0; i < N; ++i) {
      softmax_line(x + i * K, logp.data(), K, 1, /*log=*/true);
      double loss = 0;
      for (int64_t k = 0; k < K; ++k)
        if (t[i * K + k] != T(0)) loss -= static_cast<double>(t[i * K + k]) * logp[k];
      out[0]->data<T>()[i] = static_cast<T>(loss);
    }
  });
}

void ref_SoftmaxCrossEntropyBackward(const Node&, In& in, Out& out, ExecContext&) {
  const int64_t N = in[1]->dim(0), K = in[1]->dim(1);
  dispatch_float(in[1]->dtype(), [&]<class T>() {
    const T *dl = in[0]->data<T>(), *x = in[1]->data<T>(), *t = in[2]->data<T>();
    T* dx = out[0]->data<T>();
    for (int64_t i = 0; i < N; ++i) {
      softmax_line(x + i * K, dx + i * K, K, 1, /*log=*/false);
      for (int64_t k = 0; k < K; ++k) dx[i * K + k] = dl[i] * (dx[i * K + k] - t[i * K + k]);
    }
  });
}

}  // namespace acnn::ops
