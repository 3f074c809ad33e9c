// Pooling and resampling on [N,C,H,W]. MaxPool2d / AvgPool2d: kernel [kh,kw],
// stride [sh,sw], pad [top,left,bottom,right]; AvgPool2d also
// count_include_pad (0/1). Backward forms: MaxPool2dBackward (dy, x),
// AvgPool2dBackward (dy) with input_shape. UpsampleNearest / UpsampleBilinear:
// integer scale (bilinear with half-pixel centers, align_corners = false);
// their backward forms take dy (and input_shape for bilinear).
//
// Semantics: window (oh, ow) covers input rows oh*sh - top + [0, kh) and the
// like for columns. Max pooling ignores padding (it is -inf); its backward
// sends each window's gradient to the first maximum in row-major window
// order. Average pooling divides by kh*kw when count_include_pad, else by the
// number of window positions inside the input (count_include_pad absent = 0,
// unlike PyTorch's default: the elaborator should always set it). Nearest upsampling copies
// x[oh/scale, ow/scale]. Bilinear upsampling (PyTorch, align_corners=false)
// reads source coordinate src = (o + 0.5)/scale - 0.5, clamped below at 0,
// between rows floor(src) and floor(src)+1 (clamped to the last row) with
// weights 1-frac and frac. The backward forms are the exact adjoints.
//
// Gradients: each forward op uses its backward form; the average and
// upsample backward forms are linear, so their gradient is the forward op.
// max_pool2d_backward gets none (second order is not needed).
#include <algorithm>
#include <cmath>

#include "compiler/ops/common.h"

namespace acnn::ops {

static std::string pool_out(const char* op, const Shape& x, const Attrs& a, Shape* out) {
  if (x.size() != 4) return std::string(op) + ": input must be [N,C,H,W], got " + shape_str(x);
  auto k = a.ints("kernel"), s = a.ints("stride", k), p = a.ints("pad", {0, 0, 0, 0});
  if (k.size() != 2 || s.size() != 2 || p.size() != 4) return std::string(op) + ": kernel/stride need 2 values, pad 4";
  if (k[0] < 1 || k[1] < 1 || s[0] < 1 || s[1] < 1) return std::string(op) + ": kernel and stride must be positive";
  if (p[0] >= k[0] || p[2] >= k[0] || p[1] >= k[1] || p[3] >= k[1])
    return std::string(op) + ": padding must be smaller than the kernel";
  int64_t ph = x[2] + p[0] + p[2], pw = x[3] + p[1] + p[3];
  if (ph < k[0] || pw < k[1])
    return std::string(op) + ": a " + std::to_string(k[0]) + "x" + std::to_string(k[1]) + " window does not fit a " +
           std::to_string(x[2]) + "x" + std::to_string(x[3]) + " input";
  *out = {x[0], x[1], (ph - k[0]) / s[0] + 1, (pw - k[1]) / s[1] + 1};
  return "";
}

// A pooling backward op: its gradient must have the shape the forward op
// produces from an input of shape x; the result has shape x.
static std::string pool_backward(const char* op, const ValueType& grad, const Shape& x, const Attrs& a,
                                 std::vector<ValueType>& out) {
  Shape r;
  std::string err = pool_out(op, x, a, &r);
  if (!err.empty()) return err;
  if (grad.shape != r) return std::string(op) + ": gradient " + str(grad) + " does not match the pooling output " + shape_str(r);
  out = {ValueType{grad.dtype, x}};
  return "";
}

static std::string pool_forward(const char* op, const ValueType& x, const Attrs& a, std::vector<ValueType>& out) {
  Shape r;
  std::string err = pool_out(op, x.shape, a, &r);
  if (!err.empty()) return err;
  out = {ValueType{x.dtype, r}};
  return "";
}

std::string infer_MaxPool2d(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  return pool_forward("max_pool2d", in[0], a, out);
}

std::string infer_AvgPool2d(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  return pool_forward("avg_pool2d", in[0], a, out);
}

std::string infer_MaxPool2dBackward(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  return pool_backward("max_pool2d_backward", in[0], in[1].shape, a, out);
}

std::string infer_AvgPool2dBackward(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  return pool_backward("avg_pool2d_backward", in[0], a.ints("input_shape"), a, out);
}

static std::string upsample(const char* op, const ValueType& t, const Attrs& a, bool down, std::vector<ValueType>& out) {
  if (t.shape.size() != 4) return std::string(op) + ": input must be [N,C,H,W], got " + str(t);
  int64_t s = a.i("scale", 2);
  if (s < 1) return std::string(op) + ": scale must be a positive integer";
  Shape r = t.shape;
  if (down) {
    if (r[2] % s || r[3] % s) return std::string(op) + ": gradient size is not a multiple of the scale";
    r[2] /= s, r[3] /= s;
  } else {
    r[2] *= s, r[3] *= s;
  }
  out = {ValueType{t.dtype, r}};
  return "";
}

std::string infer_UpsampleNearest(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) { return upsample("upsample_nearest", in[0], a, false, out); }
std::string infer_UpsampleNearestBackward(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) { return upsample("upsample_nearest_backward", in[0], a, true, out); }
std::string infer_UpsampleBilinear(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) { return upsample("upsample_bilinear", in[0], a, false, out); }
std::string infer_UpsampleBilinearBackward(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) { return upsample("upsample_bilinear_backward", in[0], a, true, out); }

// ---------------------------------------------------------------- gradients

namespace {

Attrs with_input_shape(const Attrs& a, const Shape& s) {
  Attrs r = a;
  r.set("input_shape", s);
  return r;
}

}  // namespace

void grad_MaxPool2d(GradContext& g) { g.set_din(0, g.b.emit1(ir::OpKind::MaxPool2dBackward, {g.dout(0), g.in(0)}, g.attrs())); }
// Second order through max pooling is not needed: no gradient.
void grad_MaxPool2dBackward(GradContext&) {}
void grad_AvgPool2d(GradContext& g) {
  Attrs a = with_input_shape(g.attrs(), g.in_shape(0));
  g.set_din(0, g.b.emit1(ir::OpKind::AvgPool2dBackward, {g.dout(0)}, std::move(a)));
}
void grad_AvgPool2dBackward(GradContext& g) {
  g.set_din(0, g.b.emit1(ir::OpKind::AvgPool2d, {g.dout(0)}, attrs_without(g.attrs(), {"input_shape"})));
}
void grad_UpsampleNearest(GradContext& g) { g.set_din(0, g.b.emit1(ir::OpKind::UpsampleNearestBackward, {g.dout(0)}, g.attrs())); }
void grad_UpsampleNearestBackward(GradContext& g) { g.set_din(0, g.b.emit1(ir::OpKind::UpsampleNearest, {g.dout(0)}, g.attrs())); }
void grad_UpsampleBilinear(GradContext& g) {
  Attrs a = with_input_shape(g.attrs(), g.in_shape(0));
  g.set_din(0, g.b.emit1(ir::OpKind::UpsampleBilinearBackward, {g.dout(0)}, std::move(a)));
}
void grad_UpsampleBilinearBackward(GradContext& g) {
  g.set_din(0, g.b.emit1(ir::OpKind::UpsampleBilinear, {g.dout(0)}, attrs_without(g.attrs(), {"input_shape"})));
}

// ---------------------------------------------------------------- kernels

namespace {

struct PoolDims {
  int64_t planes, H, W, OH, OW, kh, kw, sh, sw, pt, pl;
};

PoolDims pool_dims(const Attrs& a, const Shape& x, const Shape& y) {
  auto k = a.ints("kernel"), s = a.ints("stride", k), p = a.ints("pad", {0, 0, 0, 0});
  return PoolDims{x[0] * x[1], x[2], x[3], y[2], y[3], k[0], k[1], s[0], s[1], p[0], p[1]};
}

// Calls f(oh, ow, h0, h1, w0, w1) with the window clipped to the input:
// rows [h0, h1), columns [w0, w1).
template <class F>
void for_each_window(const PoolDims& d, F f) {
  for (int64_t oh = 0; oh < d.OH; ++oh) {
    const int64_t hs = oh * d.sh - d.pt, h0 = std::max<int64_t>(hs, 0), h1 = std::min(hs + d.kh, d.H);
    for (int64_t ow = 0; ow < d.OW; ++ow) {
      const int64_t ws = ow * d.sw - d.pl, w0 = std::max<int64_t>(ws, 0), w1 = std::min(ws + d.kw, d.W);
      f(oh, ow, h0, h1, w0, w1);
    }
  }
}

// Index (within the plane) of the first maximum of a clipped window.
template <class T>
int64_t window_argmax(const T* x, int64_t W, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
  int64_t best = h0 * W + w0;
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w)
      if (x[h * W + w] > x[best]) best = h * W + w;
  return best;
}

// Per output coordinate of bilinear upsampling: the two source indices and
// their weights.
struct Lerp {
  int64_t i0, i1;
  double l0, l1;
};

std::vector<Lerp> lerp_table(int64_t n_in, int64_t n_out, int64_t scale) {
  std::vector<Lerp> t(n_out);
  for (int64_t o = 0; o < n_out; ++o) {
    double src = std::max((static_cast<double>(o) + 0.5) / static_cast<double>(scale) - 0.5, 0.0);
    int64_t i0 = std::min(static_cast<int64_t>(src), n_in - 1);
    int64_t i1 = std::min(i0 + 1, n_in - 1);
    double l1 = src - static_cast<double>(i0);
    t[o] = Lerp{i0, i1, 1.0 - l1, l1};
  }
  return t;
}

constexpr int64_t kParallelWork = 32768;

}  // namespace

using In = const std::vector<const Tensor*>;
using Out = const std::vector<Tensor*>;

void ref_MaxPool2d(const Node& n, In& in, Out& out, ExecContext&) {
  PoolDims d = pool_dims(n.attrs, in[0]->shape(), out[0]->shape());
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* x = in[0]->data<T>();
    T* y = out[0]->data<T>();
#pragma omp parallel for schedule(static) if (d.planes * d.H * d.W > kParallelWork)
    for (int64_t p = 0; p < d.planes; ++p) {
      const T* xp = x + p * d.H * d.W;
      T* yp = y + p * d.OH * d.OW;
      for_each_window(d, [&](int64_t oh, int64_t ow, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
        yp[oh * d.OW + ow] = xp[window_argmax(xp, d.W, h0, h1, w0, w1)];
      });
    }
  });
}

void ref_MaxPool2dBackward(const Node& n, In& in, Out& out, ExecContext&) {
  PoolDims d = pool_dims(n.attrs, in[1]->shape(), in[0]->shape());
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T *dy = in[0]->data<T>(), *x = in[1]->data<T>();
    T* dx = out[0]->data<T>();
#pragma omp parallel for schedule(static) if (d.planes * d.H * d.W > kParallelWork)
    for (int64_t p = 0; p < d.planes; ++p) {
      const T* xp = x + p * d.H * d.W;
      const T* yp = dy + p * d.OH * d.OW;
      T* dp = dx + p * d.H * d.W;
      std::fill(dp, dp + d.H * d.W, T(0));
      for_each_window(d, [&](int64_t oh, int64_t ow, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
        dp[window_argmax(xp, d.W, h0, h1, w0, w1)] += yp[oh * d.OW + ow];
      });
    }
  });
}

void ref_AvgPool2d(const Node& n, In& in, Out& out, ExecContext&) {
  PoolDims d = pool_dims(n.attrs, in[0]->shape(), out[0]->shape());
  const bool include_pad = n.attrs.i("count_include_pad", 0) != 0;
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* x = in[0]->data<T>();
    T* y = out[0]->data<T>();
#pragma omp parallel for schedule(static) if (d.planes * d.H * d.W > kParallelWork)
    for (int64_t p = 0; p < d.planes; ++p) {
      const T* xp = x + p * d.H * d.W;
      T* yp = y + p * d.OH * d.OW;
      for_each_window(d, [&](int64_t oh, int64_t ow, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
        T sum = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) sum += xp[h * d.W + w];
        yp[oh * d.OW + ow] = sum / static_cast<T>(include_pad ? d.kh * d.kw : (h1 - h0) * (w1 - w0));
      });
    }
  });
}

void ref_AvgPool2dBackward(const Node& n, In& in, Out& out, ExecContext&) {
  PoolDims d = pool_dims(n.attrs, out[0]->shape(), in[0]->shape());
  const bool include_pad = n.attrs.i("count_include_pad", 0) != 0;
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* dy = in[0]->data<T>();
    T* dx = out[0]->data<T>();
#pragma omp parallel for schedule(static) if (d.planes * d.H * d.W > kParallelWork)
    for (int64_t p = 0; p < d.planes; ++p) {
      const T* yp = dy + p * d.OH * d.OW;
      T* dp = dx + p * d.H * d.W;
      std::fill(dp, dp + d.H * d.W, T(0));
      for_each_window(d, [&](int64_t oh, int64_t ow, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
        const T v = yp[oh * d.OW + ow] / static_cast<T>(include_pad ? d.kh * d.kw : (h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) dp[h * d.W + w] += v;
      });
    }
  });
}

// Both nearest kernels walk the large (upsampled) tensor: y is the output of
// the forward, the input of the backward.
void ref_UpsampleNearest(const Node& n, In& in, Out& out, ExecContext&) {
  const int64_t s = n.attrs.i("scale", 2);
  const Shape &xs = in[0]->shape(), &ys = out[0]->shape();
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* x = in[0]->data<T>();
    T* y = out[0]->data<T>();
    for (int64_t p = 0; p < xs[0] * xs[1]; ++p)
      for (int64_t oh = 0; oh < ys[2]; ++oh)
        for (int64_t ow = 0; ow < ys[3]; ++ow)
          y[(p * ys[2] + oh) * ys[3] + ow] = x[(p * xs[2] + oh / s) * xs[3] + ow / s];
  });
}

void ref_UpsampleNearestBackward(const Node& n, In& in, Out& out, ExecContext&) {
  const int64_t s = n.attrs.i("scale", 2);
  const Shape &ys = in[0]->shape(), &xs = out[0]->shape();
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* dy = in[0]->data<T>();
    T* dx = out[0]->data<T>();
    std::fill(dx, dx + out[0]->numel(), T(0));
    for (int64_t p = 0; p < xs[0] * xs[1]; ++p)
      for (int64_t oh = 0; oh < ys[2]; ++oh)
        for (int64_t ow = 0; ow < ys[3]; ++ow)
          dx[(p * xs[2] + oh / s) * xs[3] + ow / s] += dy[(p * ys[2] + oh) * ys[3] + ow];
  });
}

void ref_UpsampleBilinear(const Node& n, In& in, Out& out, ExecContext&) {
  const int64_t s = n.attrs.i("scale", 2);
  const Shape &xs = in[0]->shape(), &ys = out[0]->shape();
  const auto th = lerp_table(xs[2], ys[2], s), tw = lerp_table(xs[3], ys[3], s);
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* x = in[0]->data<T>();
    T* y = out[0]->data<T>();
    for (int64_t p = 0; p < xs[0] * xs[1]; ++p) {
      const T* xp = x + p * xs[2] * xs[3];
      for (int64_t oh = 0; oh < ys[2]; ++oh) {
        const Lerp& h = th[oh];
        const T* r0 = xp + h.i0 * xs[3];
        const T* r1 = xp + h.i1 * xs[3];
        for (int64_t ow = 0; ow < ys[3]; ++ow) {
          const Lerp& w = tw[ow];
          double v = h.l0 * (w.l0 * r0[w.i0] + w.l1 * r0[w.i1]) + h.l1 * (w.l0 * r1[w.i0] + w.l1 * r1[w.i1]);
          y[(p * ys[2] + oh) * ys[3] + ow] = static_cast<T>(v);
        }
      }
    }
  });
}

void ref_UpsampleBilinearBackward(const Node& n, In& in, Out& out, ExecContext&) {
  const int64_t s = n.attrs.i("scale", 2);
  const Shape &ys = in[0]->shape(), &xs = out[0]->shape();
  const auto th = lerp_table(xs[2], ys[2], s), tw = lerp_table(xs[3], ys[3], s);
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* dy = in[0]->data<T>();
    T* dx = out[0]->data<T>();
    std::fill(dx, dx + out[0]->numel(), T(0));
    for (int64_t p = 0; p < xs[0] * xs[1]; ++p) {
      T* dp = dx + p * xs[2] * xs[3];
      for (int64_t oh = 0; oh < ys[2]; ++oh) {
        const Lerp& h = th[oh];
        T* r0 = dp + h.i0 * xs[3];
        T* r1 = dp + h.i1 * xs[3];
        for (int64_t ow = 0; ow < ys[3]; ++ow) {
          const Lerp& w = tw[ow];
          const double g = dy[(p * ys[2] + oh) * ys[3] + ow];
          r0[w.i0] += static_cast<T>(h.l0 * w.l0 * g);
          r0[w.i1] += static_cast<T>(h.l0 * w.l1 * g);
          r1[w.i0] += static_cast<T>(h.l1 * w.l0 * g);
          r1[w.i1] += static_cast<T>(h.l1 * w.l1 * g);
        }
      }
    }
  });
}

}  // namespace acnn::ops
