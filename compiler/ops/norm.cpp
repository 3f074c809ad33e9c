// Batch normalization over axis 1 of [N,C,...] (statistics over every other
// axis). BatchNorm is the mode-neutral form (momentum: weight of the old
// running value, PyTorch's 1 - momentum; eps); the mode pass rewrites it.
// BatchNormTrain returns y and the batch mean and biased variance;
// BatchNormInfer normalizes with given statistics; BatchNormBackward takes
// (dy, x, gamma, mean, var) from the training forward. eps defaults to 1e-5.
//
// Kernels: with xhat = (x - mean) / sqrt(var + eps), y = xhat*gamma + beta.
// BatchNormTrain's var is the biased batch variance (divided by the count M =
// numel(x)/C, as PyTorch normalizes with; the running-variance update that
// wants the unbiased M/(M-1) estimate is the mode pass's business). BatchNorm
// (mode-neutral) computes like BatchNormInfer with its running statistics;
// momentum is only read by the mode pass. BatchNormBackward is the standard
// training-mode gradient: dbeta = sum(dy), dgamma = sum(dy*xhat),
// dx = gamma/sqrt(var+eps)/M * (M*dy - dbeta - xhat*dgamma). Sums accumulate in
// double. BatchNormReluBackward (dy, x, gamma, beta, mean, var) is the backward
// of relu(batch_norm_train(x)) from the ReLU output's gradient: dy counts where
// xhat*gamma + beta > 0 (the forward's ReLU mask, recomputed from x), then as
// BatchNormBackward. No front end emits it: the CUDA backend's rewrites form it
// from relu_backward -> batch_norm_backward, so that the mask needs no memory
// traffic of its own.
//
// Gradients: batch_norm_train -> batch_norm_backward, plus the direct terms
// when the batch mean or variance outputs themselves receive a gradient.
// batch_norm_infer: the full inference-mode gradient (x, gamma, beta, mean,
// var). batch_norm (mode-neutral): the inference-mode gradient for x, gamma and
// beta only; the running statistics are state and get none (the training graph
// differentiates batch_norm_train, not this). batch_norm_backward: none
// (second order is not needed).
#include <cmath>

#include "compiler/ops/common.h"

namespace acnn::ops {

static std::string check_bn(const char* op, const std::vector<ValueType>& in, size_t first_vec, size_t count) {
  const Shape& x = in[0].shape;
  if (x.size() < 2) return std::string(op) + ": input must have a channel axis, got " + str(in[0]);
  for (size_t i = first_vec; i < first_vec + count; ++i)
    if (in[i].shape != Shape{x[1]} || in[i].dtype != in[0].dtype)
      return std::string(op) + ": per-channel operand " + std::to_string(i) + " is " + str(in[i]) + ", expected " +
             dtype_name(in[0].dtype) + "[" + std::to_string(x[1]) + "]";
  return "";
}

std::string infer_BatchNorm(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) {
  std::string err = check_bn("batch_norm", in, 1, 4);
  if (!err.empty()) return err;
  out = {in[0]};
  return "";
}

std::string infer_BatchNormTrain(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) {
  std::string err = check_bn("batch_norm_train", in, 1, 2);
  if (!err.empty()) return err;
  ValueType c{in[0].dtype, {in[0].shape[1]}};
  out = {in[0], c, c};
  return "";
}

std::string infer_BatchNormInfer(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) {
  std::string err = check_bn("batch_norm_infer", in, 1, 4);
  if (!err.empty()) return err;
  out = {in[0]};
  return "";
}

std::string infer_BatchNormBackward(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) {
  if (!(in[0] == in[1])) return "batch_norm_backward: gradient and input types differ";
  std::string err = check_bn("batch_norm_backward", {in[1], in[2], in[3], in[4]}, 1, 3);
  if (!err.empty()) return err;
  ValueType c{in[0].dtype, {in[0].shape[1]}};
  out = {in[0], c, c};
  return "";
}

std::string infer_BatchNormReluBackward(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) {
  if (!(in[0] == in[1])) return "batch_norm_relu_backward: gradient and input types differ";
  std::string err = check_bn("batch_norm_relu_backward", {in[1], in[2], in[3], in[4], in[5]}, 1, 4);
  if (!err.empty()) return err;
  ValueType c{in[0].dtype, {in[0].shape[1]}};
  out = {in[0], c, c};
  return "";
}

// ---------------------------------------------------------------- gradients

namespace {

// [1, C, 1, ...] for per-channel vectors, and the axes other than 1.
Shape channel_shape(const Shape& x) {
  Shape s(x.size(), 1);
  s[1] = x[1];
  return s;
}

std::vector<int64_t> stat_axes(const Shape& x) {
  std::vector<int64_t> axes{0};
  for (size_t i = 2; i < x.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  return axes;
}

// Gradient of y = (x - mean) * gamma / sqrt(var + eps) + beta with the
// statistics as inputs (inference mode).
void grad_bn_inference(GradContext& g, bool stats) {
  ir::Builder& b = g.b;
  const Shape xs = g.in_shape(0), cs = channel_shape(xs);
  const std::vector<int64_t> axes = stat_axes(xs);
  const DType dt = b.type(g.in(0)).dtype;
  const ValueId dy = g.dout(0), gamma = g.in(1), mean = g.in(3), var = g.in(4);
  ValueId rstd = b.div(b.scalar(1.0, dt), b.emit1(ir::OpKind::Sqrt, {b.scale(var, 1.0, g.attrs().f("eps", 1e-5))}));
  ValueId k = b.mul(gamma, rstd);
  ValueId sum_dy = b.reduce_sum(dy, axes, false);
  ValueId sum_dy_xc = b.reduce_sum(b.mul(dy, b.sub(g.in(0), b.reshape(mean, cs))), axes, false);
  if (g.needs(0)) g.set_din(0, b.mul(dy, b.reshape(k, cs)));
  if (g.needs(1)) g.set_din(1, b.mul(sum_dy_xc, rstd));
  if (g.needs(2)) g.set_din(2, sum_dy);
  if (!stats) return;
  if (g.needs(3)) g.set_din(3, b.neg(b.mul(sum_dy, k)));
  if (g.needs(4)) g.set_din(4, b.scale(b.mul(b.mul(sum_dy_xc, gamma), b.mul(rstd, b.mul(rstd, rstd))), -0.5));
}

}  // namespace

void grad_BatchNorm(GradContext& g) { grad_bn_inference(g, /*stats=*/false); }
void grad_BatchNormInfer(GradContext& g) { grad_bn_inference(g, /*stats=*/true); }

void grad_BatchNormTrain(GradContext& g) {
  ir::Builder& b = g.b;
  const Shape xs = g.in_shape(0), cs = channel_shape(xs);
  const double m = static_cast<double>(numel(xs) / xs[1]);
  std::vector<ValueId> r =
      b.emit(ir::OpKind::BatchNormBackward, {g.dout_or_zero(0), g.in(0), g.in(1), g.out(1), g.out(2)}, g.attrs());
  ValueId dx = r[0];
  // mean = sum(x)/M; var = sum((x - mean)^2)/M, whose derivative is 2(x - mean)/M.
  if (g.dout(1) != ir::kNoValue) dx = b.add(dx, b.reshape(b.scale(g.dout(1), 1.0 / m), cs));
  if (g.dout(2) != ir::kNoValue)
    dx = b.add(dx, b.mul(b.sub(g.in(0), b.reshape(g.out(1), cs)), b.reshape(b.scale(g.dout(2), 2.0 / m), cs)));
  g.set_din(0, dx);
  g.set_din(1, r[1]);
  g.set_din(2, r[2]);
}

// Second order through batch norm is not needed: no gradient.
void grad_BatchNormBackward(GradContext&) {}
void grad_BatchNormReluBackward(GradContext&) {}

// ---------------------------------------------------------------- kernels

namespace {

// x viewed as [N, C, S]; M = N*S values per channel.
struct BnDims {
  int64_t N, C, S;
  int64_t M() const { return N * S; }
};

BnDims bn_dims(const Shape& x) {
  int64_t s = 1;
  for (size_t i = 2; i < x.size(); ++i) s *= x[i];
  return BnDims{x[0], x[1], s};
}

// Calls f(p) with a pointer to each [S] row of channel c.
template <class T, class F>
void rows(const BnDims& d, T* base, int64_t c, F f) {
  for (int64_t n = 0; n < d.N; ++n) f(base + (n * d.C + c) * d.S);
}

// y = (x - mean) * gamma / sqrt(var + eps) + beta, per channel.
template <class T>
void bn_apply(const BnDims& d, const T* x, const T* gamma, const T* beta, const double* mean, const double* var,
              double eps, T* y) {
#pragma omp parallel for schedule(static) if (d.N * d.C * d.S > 32768)
  for (int64_t c = 0; c < d.C; ++c) {
    const double k = static_cast<double>(gamma[c]) / std::sqrt(var[c] + eps), mu = mean[c], bt = beta[c];
    for (int64_t n = 0; n < d.N; ++n) {
      const T* xr = x + (n * d.C + c) * d.S;
      T* yr = y + (n * d.C + c) * d.S;
      for (int64_t i = 0; i < d.S; ++i) yr[i] = static_cast<T>((xr[i] - mu) * k + bt);
    }
  }
}

void bn_inference(const Node& n, const std::vector<const Tensor*>& in, Tensor& out) {
  BnDims d = bn_dims(in[0]->shape());
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    std::vector<double> mean(d.C), var(d.C);
    for (int64_t c = 0; c < d.C; ++c) mean[c] = in[3]->data<T>()[c], var[c] = in[4]->data<T>()[c];
    bn_apply<T>(d, in[0]->data<T>(), in[1]->data<T>(), in[2]->data<T>(), mean.data(), var.data(),
                n.attrs.f("eps", 1e-5), out.data<T>());
  });
}

}  // namespace

using In = const std::vector<const Tensor*>;
using Out = const std::vector<Tensor*>;

void ref_BatchNorm(const Node& n, In& in, Out& out, ExecContext&) { bn_inference(n, in, *out[0]); }
void ref_BatchNormInfer(const Node& n, In& in, Out& out, ExecContext&) { bn_inference(n, in, *out[0]); }

void ref_BatchNormTrain(const Node& n, In& in, Out& out, ExecContext&) {
  BnDims d = bn_dims(in[0]->shape());
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* x = in[0]->data<T>();
    std::vector<double> mean(d.C), var(d.C);
#pragma omp parallel for schedule(static) if (d.N * d.C * d.S > 32768)
    for (int64_t c = 0; c < d.C; ++c) {
      double sum = 0, sq = 0;
      rows(d, x, c, [&](const T* r) {
        for (int64_t i = 0; i < d.S; ++i) sum += r[i];
      });
      const double mu = sum / static_cast<double>(d.M());
      rows(d, x, c, [&](const T* r) {
        for (int64_t i = 0; i < d.S; ++i) sq += (r[i] - mu) * (r[i] - mu);
      });
      // Normalize with the statistics as returned (rounded to T), so that
      // batch_norm_infer with them recomputes y exactly (passes/remat.cpp).
      mean[c] = static_cast<T>(mu), var[c] = static_cast<T>(sq / static_cast<double>(d.M()));
    }
    bn_apply<T>(d, x, in[1]->data<T>(), in[2]->data<T>(), mean.data(), var.data(), n.attrs.f("eps", 1e-5),
                out[0]->data<T>());
    for (int64_t c = 0; c < d.C; ++c) out[1]->data<T>()[c] = static_cast<T>(mean[c]), out[2]->data<T>()[c] = static_cast<T>(var[c]);
  });
}

namespace {

// The training-mode batch-norm backward; with `beta`, dy counts only where
// the forward's relu(xhat*gamma + beta) is positive (computed as bn_apply does).
void bn_backward(const Node& n, const Tensor& dyt, const Tensor& xt, const Tensor& gammat, const Tensor* betat,
                 const Tensor& meant, const Tensor& vart, Out& out) {
  BnDims d = bn_dims(xt.shape());
  const double eps = n.attrs.f("eps", 1e-5), m = static_cast<double>(d.M());
  dispatch_float(dyt.dtype(), [&]<class T>() {
    const T *dy = dyt.data<T>(), *x = xt.data<T>(), *gamma = gammat.data<T>(), *beta = betat ? betat->data<T>() : nullptr;
    const T *mean = meant.data<T>(), *var = vart.data<T>();
    T *dx = out[0]->data<T>(), *dgamma = out[1]->data<T>(), *dbeta = out[2]->data<T>();
#pragma omp parallel for schedule(static) if (d.N * d.C * d.S > 32768)
    for (int64_t c = 0; c < d.C; ++c) {
      const double mu = mean[c], rstd = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
      const double k_fwd = static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(var[c]) + eps);
      auto grad = [&](T g, T xv) -> double {
        if (beta && !(static_cast<T>((xv - mu) * k_fwd + static_cast<double>(beta[c])) > T(0))) return 0.0;
        return g;
      };
      double sum_dy = 0, sum_dy_xhat = 0;
      for (int64_t b = 0; b < d.N; ++b) {
        const T* yr = dy + (b * d.C + c) * d.S;
        const T* xr = x + (b * d.C + c) * d.S;
        for (int64_t i = 0; i < d.S; ++i) {
          const double g = grad(yr[i], xr[i]);
          sum_dy += g, sum_dy_xhat += g * (xr[i] - mu) * rstd;
        }
      }
      dbeta[c] = static_cast<T>(sum_dy), dgamma[c] = static_cast<T>(sum_dy_xhat);
      const double k = gamma[c] * rstd / m;
      for (int64_t b = 0; b < d.N; ++b) {
        const T* yr = dy + (b * d.C + c) * d.S;
        const T* xr = x + (b * d.C + c) * d.S;
        T* r = dx + (b * d.C + c) * d.S;
        for (int64_t i = 0; i < d.S; ++i)
          r[i] = static_cast<T>(k * (m * grad(yr[i], xr[i]) - sum_dy - (xr[i] - mu) * rstd * sum_dy_xhat));
      }
    }
  });
}

}  // namespace

void ref_BatchNormBackward(const Node& n, In& in, Out& out, ExecContext&) {
  bn_backward(n, *in[0], *in[1], *in[2], nullptr, *in[3], *in[4], out);
}

void ref_BatchNormReluBackward(const Node& n, In& in, Out& out, ExecContext&) {
  bn_backward(n, *in[0], *in[1], *in[2], in[3], *in[4], *in[5], out);
}

}  // namespace acnn::ops
