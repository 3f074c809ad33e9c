// Convolution and matrix product. Conv2d (x[N,C,H,W], w[O,C/groups,kh,kw],
// optional b[O]); attributes stride [sh,sw], pad [top,left,bottom,right],
// dilation [dh,dw], groups. Conv2dBackwardData (dy, w) adds input_shape;
// Conv2dBackwardWeight (x, dy) adds weight_shape. Matmul (a[M,K], b[K,N]) with
// transpose_a / transpose_b (0/1) applied before the product.
//
// Output position (oh, ow) of a convolution reads input row
// ih = oh*sh - top + ki*dh and column iw = ow*sw - left + kj*dw (zero outside
// the input); output channel o of group gi = o / (O/groups) reads input
// channels gi*(C/groups) .. (gi+1)*(C/groups)-1. The two backward forms are
// the convolution's adjoints with respect to x and w.
//
// Gradients: conv2d -> conv2d_backward_data / conv2d_backward_weight and a
// sum of dy for the bias. The backward forms and matmul are bilinear, so their
// gradients are again convolutions / products (no second-order special case).
#include <algorithm>

#include "compiler/ops/common.h"

namespace acnn::ops {

std::string conv_geom(const Attrs& a, ConvGeom* g) {
  auto stride = a.ints("stride", {1, 1}), pad = a.ints("pad", {0, 0, 0, 0}), dil = a.ints("dilation", {1, 1});
  if (stride.size() != 2 || pad.size() != 4 || dil.size() != 2) return "conv2d: stride/dilation need 2 values and pad 4";
  *g = ConvGeom{stride[0], stride[1], pad[0], pad[1], pad[2], pad[3], dil[0], dil[1], a.i("groups", 1)};
  if (g->sh < 1 || g->sw < 1) return "conv2d: stride must be at least 1";
  if (g->dh < 1 || g->dw < 1) return "conv2d: dilation must be at least 1";
  if (g->pt < 0 || g->pl < 0 || g->pb < 0 || g->pr < 0) return "conv2d: negative padding";
  if (g->groups < 1) return "conv2d: groups must be at least 1";
  return "";
}

// The output spatial size, or an error if the window does not fit.
static std::string conv_out(const ConvGeom& g, const Shape& x, int64_t kh, int64_t kw, int64_t* oh, int64_t* ow) {
  int64_t eh = g.dh * (kh - 1) + 1, ew = g.dw * (kw - 1) + 1;
  int64_t ph = x[2] + g.pt + g.pb, pw = x[3] + g.pl + g.pr;
  if (ph < eh || pw < ew)
    return "conv2d: a " + std::to_string(kh) + "x" + std::to_string(kw) + " kernel does not fit a " +
           std::to_string(x[2]) + "x" + std::to_string(x[3]) + " input with this padding";
  *oh = (ph - eh) / g.sh + 1;
  *ow = (pw - ew) / g.sw + 1;
  return "";
}

static std::string check_conv(const Shape& x, const Shape& w, const ConvGeom& g) {
  if (x.size() != 4) return "conv2d: input must be [N,C,H,W], got " + shape_str(x);
  if (w.size() != 4) return "conv2d: weight must be [O,C/groups,kh,kw], got " + shape_str(w);
  if (x[1] % g.groups != 0 || w[0] % g.groups != 0)
    return "conv2d: " + std::to_string(x[1]) + " input and " + std::to_string(w[0]) +
           " output channels must both divide by groups " + std::to_string(g.groups);
  if (w[1] * g.groups != x[1])
    return "conv2d: input has " + std::to_string(x[1]) + " channels but the weight expects " +
           std::to_string(w[1] * g.groups) + " (groups " + std::to_string(g.groups) + ")";
  return "";
}

std::string infer_Conv2d(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  ConvGeom g;
  std::string err = conv_geom(a, &g);
  if (err.empty()) err = check_conv(in[0].shape, in[1].shape, g);
  if (!err.empty()) return err;
  const Shape &x = in[0].shape, &w = in[1].shape;
  if (in.size() == 3 && in[2].shape != Shape{w[0]}) return "conv2d: bias must be [" + std::to_string(w[0]) + "], got " + shape_str(in[2].shape);
  if (in[0].dtype != in[1].dtype) return "conv2d: input and weight dtypes differ";
  int64_t oh, ow;
  err = conv_out(g, x, w[2], w[3], &oh, &ow);
  if (!err.empty()) return err;
  out = {ValueType{in[0].dtype, {x[0], w[0], oh, ow}}};
  return "";
}

std::string infer_Conv2dBackwardData(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  ConvGeom g;
  std::string err = conv_geom(a, &g);
  Shape x = a.ints("input_shape");
  if (err.empty()) err = x.size() == 4 ? check_conv(x, in[1].shape, g) : "conv2d_backward_data: needs input_shape";
  if (!err.empty()) return err;
  int64_t oh, ow;
  err = conv_out(g, x, in[1].shape[2], in[1].shape[3], &oh, &ow);
  if (!err.empty()) return err;
  if (in[0].shape != Shape{x[0], in[1].shape[0], oh, ow}) return "conv2d_backward_data: gradient " + str(in[0]) + " does not match the convolution";
  out = {ValueType{in[0].dtype, x}};
  return "";
}

std::string infer_Conv2dBackwardWeight(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  ConvGeom g;
  std::string err = conv_geom(a, &g);
  Shape w = a.ints("weight_shape");
  if (err.empty()) err = w.size() == 4 ? check_conv(in[0].shape, w, g) : "conv2d_backward_weight: needs weight_shape";
  if (!err.empty()) return err;
  int64_t oh, ow;
  err = conv_out(g, in[0].shape, w[2], w[3], &oh, &ow);
  if (!err.empty()) return err;
  if (in[1].shape != Shape{in[0].shape[0], w[0], oh, ow}) return "conv2d_backward_weight: gradient " + str(in[1]) + " does not match the convolution";
  out = {ValueType{in[0].dtype, w}};
  return "";
}

std::string infer_Matmul(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  const Shape &sa = in[0].shape, &sb = in[1].shape;
  if (sa.size() != 2 || sb.size() != 2) return "matmul: operands must be matrices, got " + str(in[0]) + " and " + str(in[1]);
  bool ta = a.i("transpose_a", 0), tb = a.i("transpose_b", 0);
  int64_t m = ta ? sa[1] : sa[0], k1 = ta ? sa[0] : sa[1];
  int64_t k2 = tb ? sb[1] : sb[0], n = tb ? sb[0] : sb[1];
  if (k1 != k2) return "matmul: inner dimensions differ (" + std::to_string(k1) + " vs " + std::to_string(k2) + ")";
  if (in[0].dtype != in[1].dtype) return "matmul: operand dtypes differ";
  out = {ValueType{in[0].dtype, {m, n}}};
  return "";
}

// ---------------------------------------------------------------- gradients

namespace {

Attrs geometry(const Attrs& a) { return attrs_without(a, {"input_shape", "weight_shape"}); }

ValueId backward_data(ir::Builder& b, ValueId dy, ValueId w, const Attrs& geom, const Shape& x_shape) {
  Attrs a = geom;
  a.set("input_shape", x_shape);
  return b.emit1(ir::OpKind::Conv2dBackwardData, {dy, w}, std::move(a));
}

ValueId backward_weight(ir::Builder& b, ValueId x, ValueId dy, const Attrs& geom, const Shape& w_shape) {
  Attrs a = geom;
  a.set("weight_shape", w_shape);
  return b.emit1(ir::OpKind::Conv2dBackwardWeight, {x, dy}, std::move(a));
}

}  // namespace

void grad_Conv2d(GradContext& g) {
  Attrs geom = geometry(g.attrs());
  Shape xs = g.in_shape(0), ws = g.in_shape(1);
  ValueId dy = g.dout(0);
  if (g.needs(0)) g.set_din(0, backward_data(g.b, dy, g.in(1), geom, xs));
  if (g.needs(1)) g.set_din(1, backward_weight(g.b, g.in(0), dy, geom, ws));
  if (g.node.inputs.size() == 3 && g.needs(2)) g.set_din(2, g.b.reduce_sum(dy, {0, 2, 3}, false));
}

// dx = D(dy, w) is bilinear: d/ddy is the convolution itself, d/dw the weight
// gradient of that convolution with g as its output gradient.
void grad_Conv2dBackwardData(GradContext& g) {
  Attrs geom = geometry(g.attrs());
  Shape ws = g.in_shape(1);
  if (g.needs(0)) g.set_din(0, g.b.emit1(ir::OpKind::Conv2d, {g.dout(0), g.in(1)}, geom));
  if (g.needs(1)) g.set_din(1, backward_weight(g.b, g.dout(0), g.in(0), geom, ws));
}

// dw = W(x, dy) is bilinear: d/dx = D(dy, g), d/ddy = conv2d(x, g).
void grad_Conv2dBackwardWeight(GradContext& g) {
  Attrs geom = geometry(g.attrs());
  Shape xs = g.in_shape(0);
  if (g.needs(0)) g.set_din(0, backward_data(g.b, g.in(1), g.dout(0), geom, xs));
  if (g.needs(1)) g.set_din(1, g.b.emit1(ir::OpKind::Conv2d, {g.in(0), g.dout(0)}, geom));
}

// C = op(a) op(b): dA = dC op(b)^T, dB = op(a)^T dC, transposed back when a or
// b entered transposed.
void grad_Matmul(GradContext& g) {
  const int64_t ta = g.attrs().i("transpose_a", 0), tb = g.attrs().i("transpose_b", 0);
  auto mm = [&](ValueId a, ValueId b, int64_t t_a, int64_t t_b) {
    return g.b.emit1(ir::OpKind::Matmul, {a, b}, Attrs{{"transpose_a", t_a}, {"transpose_b", t_b}});
  };
  ValueId dy = g.dout(0);
  if (g.needs(0)) g.set_din(0, ta ? mm(g.in(1), dy, tb, 1) : mm(dy, g.in(1), 0, !tb));
  if (g.needs(1)) g.set_din(1, tb ? mm(dy, g.in(0), 1, ta) : mm(g.in(0), dy, !ta, 0));
}

// ---------------------------------------------------------------- kernels

namespace {

// The output positions o in [0, n_out) whose input position o*s + off lies in
// [0, n_in): the half-open range [*lo, *hi).
void valid_range(int64_t n_in, int64_t n_out, int64_t s, int64_t off, int64_t* lo, int64_t* hi) {
  *lo = off >= 0 ? 0 : (-off + s - 1) / s;
  *hi = n_in - 1 - off < 0 ? 0 : std::min(n_out, (n_in - 1 - off) / s + 1);
  *lo = std::min(*lo, *hi);
}

struct ConvDims {
  int64_t N, C, H, W, O, Cg, Og, KH, KW, OH, OW;
  ConvGeom g;
};

ConvDims conv_dims(const Attrs& a, const Shape& x, const Shape& w, const Shape& y) {
  ConvDims d{};
  conv_geom(a, &d.g);
  d.N = x[0], d.C = x[1], d.H = x[2], d.W = x[3];
  d.O = w[0], d.Cg = w[1], d.KH = w[2], d.KW = w[3];
  d.Og = d.O / d.g.groups, d.OH = y[2], d.OW = y[3];
  return d;
}

// Calls f(ki, kj, oh, ow_lo, ow_hi, ih, iw0) for every kernel tap and output
// row where the tap lands inside the input; iw0 is the input column of ow = 0
// (so ow reads column iw0 + ow*sw).
template <class F>
void for_each_tap(const ConvDims& d, F f) {
  for (int64_t ki = 0; ki < d.KH; ++ki) {
    int64_t oh_lo, oh_hi;
    valid_range(d.H, d.OH, d.g.sh, ki * d.g.dh - d.g.pt, &oh_lo, &oh_hi);
    for (int64_t kj = 0; kj < d.KW; ++kj) {
      const int64_t iw0 = kj * d.g.dw - d.g.pl;
      int64_t ow_lo, ow_hi;
      valid_range(d.W, d.OW, d.g.sw, iw0, &ow_lo, &ow_hi);
      for (int64_t oh = oh_lo; oh < oh_hi; ++oh) f(ki, kj, oh, ow_lo, ow_hi, oh * d.g.sh - d.g.pt + ki * d.g.dh, iw0);
    }
  }
}

// Forward convolution as im2col + matrix product, per image: column row
// r = (cl*KH + ki)*KW + kj of group gi holds, for every output position p,
// the input value that tap reads (0 in the padding); then
// y[o, p] = bias[o] + sum_r w[o, r] * col[gi, r, p]. The product walks p in
// tiles so that a tile of the columns stays in cache while every output
// channel reads it; its inner loop runs over contiguous output positions.
template <class T>
void conv_forward(const ConvDims& d, const T* x, const T* w, const T* bias, T* y) {
  const int64_t P = d.OH * d.OW, K = d.Cg * d.KH * d.KW, sw = d.g.sw;
  const bool direct = d.KH == 1 && d.KW == 1 && d.g.sh == 1 && sw == 1 && d.g.pt == 0 && d.g.pl == 0 &&
                      d.g.pb == 0 && d.g.pr == 0;  // the input already is the column matrix
  const bool parallel = d.O * P * K > 32768;
  std::vector<T> col(direct ? 0 : d.C * d.KH * d.KW * P);
  for (int64_t n = 0; n < d.N; ++n) {
    const T* xn = x + n * d.C * d.H * d.W;
    if (!direct) {
#pragma omp parallel for schedule(static) if (parallel)
      for (int64_t c = 0; c < d.C; ++c) {
        T* cc = col.data() + c * d.KH * d.KW * P;
        std::fill(cc, cc + d.KH * d.KW * P, T(0));
        const T* xp = xn + c * d.H * d.W;
        for_each_tap(d, [&](int64_t ki, int64_t kj, int64_t oh, int64_t lo, int64_t hi, int64_t ih, int64_t iw0) {
          T* cr = cc + (ki * d.KW + kj) * P + oh * d.OW;
          const T* xr = xp + ih * d.W + iw0;
          for (int64_t ow = lo; ow < hi; ++ow) cr[ow] = xr[ow * sw];
        });
      }
    }
    const T* cols = direct ? xn : col.data();
    T* yn = y + n * d.O * P;
    // One parallel region per image over (position tile, block of output channels).
    constexpr int64_t kTile = 256, kBlock = 16;
    const int64_t tiles = (P + kTile - 1) / kTile, blocks = (d.O + kBlock - 1) / kBlock;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
    for (int64_t t = 0; t < tiles; ++t) {
      for (int64_t ob = 0; ob < blocks; ++ob) {
        const int64_t p0 = t * kTile, p1 = std::min(P, p0 + kTile);
        for (int64_t o = ob * kBlock; o < std::min(d.O, (ob + 1) * kBlock); ++o) {
          const T* cg = cols + (o / d.Og) * K * P;
          const T* wr = w + o * K;
          T* yr = yn + o * P;
          std::fill(yr + p0, yr + p1, bias ? bias[o] : T(0));
          for (int64_t r = 0; r < K; ++r) {
            const T wv = wr[r];
            const T* cr = cg + r * P;
#pragma omp simd
            for (int64_t p = p0; p < p1; ++p) yr[p] += wv * cr[p];
          }
        }
      }
    }
  }
}

template <class T>
void conv_backward_data(const ConvDims& d, const T* dy, const T* w, T* dx) {
  const int64_t sw = d.g.sw, plane = d.OH * d.OW;
#pragma omp parallel for schedule(static) if (d.N * d.O * plane * d.Cg * d.KH * d.KW > 32768)
  for (int64_t nc = 0; nc < d.N * d.C; ++nc) {
    const int64_t n = nc / d.C, c = nc % d.C, gi = c / d.Cg, cl = c % d.Cg;
    T* xp = dx + nc * d.H * d.W;
    std::fill(xp, xp + d.H * d.W, T(0));
    for (int64_t o = gi * d.Og; o < (gi + 1) * d.Og; ++o) {
      const T* yp = dy + (n * d.O + o) * plane;
      const T* wp = w + (o * d.Cg + cl) * d.KH * d.KW;
      for_each_tap(d, [&](int64_t ki, int64_t kj, int64_t oh, int64_t lo, int64_t hi, int64_t ih, int64_t iw0) {
        const T wv = wp[ki * d.KW + kj];
        T* xr = xp + ih * d.W + iw0;
        const T* yr = yp + oh * d.OW;
#pragma omp simd
        for (int64_t ow = lo; ow < hi; ++ow) xr[ow * sw] += wv * yr[ow];
      });
    }
  }
}

template <class T>
void conv_backward_weight(const ConvDims& d, const T* x, const T* dy, T* dw) {
  const int64_t sw = d.g.sw, plane = d.OH * d.OW, taps = d.KH * d.KW;
#pragma omp parallel for schedule(static) if (d.N * d.O * plane * d.Cg * taps > 32768)
  for (int64_t oc = 0; oc < d.O * d.Cg; ++oc) {
    const int64_t o = oc / d.Cg, cl = oc % d.Cg, c = (o / d.Og) * d.Cg + cl;
    T* wp = dw + oc * taps;
    std::fill(wp, wp + taps, T(0));
    for (int64_t n = 0; n < d.N; ++n) {
      const T* xp = x + (n * d.C + c) * d.H * d.W;
      const T* yp = dy + (n * d.O + o) * plane;
      for_each_tap(d, [&](int64_t ki, int64_t kj, int64_t oh, int64_t lo, int64_t hi, int64_t ih, int64_t iw0) {
        const T* xr = xp + ih * d.W + iw0;
        const T* yr = yp + oh * d.OW;
        T acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t ow = lo; ow < hi; ++ow) acc += yr[ow] * xr[ow * sw];
        wp[ki * d.KW + kj] += acc;
      });
    }
  }
}

}  // namespace

using In = const std::vector<const Tensor*>;
using Out = const std::vector<Tensor*>;

void ref_Conv2d(const Node& n, In& in, Out& out, ExecContext&) {
  ConvDims d = conv_dims(n.attrs, in[0]->shape(), in[1]->shape(), out[0]->shape());
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    conv_forward<T>(d, in[0]->data<T>(), in[1]->data<T>(), in.size() > 2 ? in[2]->data<T>() : nullptr, out[0]->data<T>());
  });
}

void ref_Conv2dBackwardData(const Node& n, In& in, Out& out, ExecContext&) {
  ConvDims d = conv_dims(n.attrs, out[0]->shape(), in[1]->shape(), in[0]->shape());
  dispatch_float(in[0]->dtype(), [&]<class T>() { conv_backward_data<T>(d, in[0]->data<T>(), in[1]->data<T>(), out[0]->data<T>()); });
}

void ref_Conv2dBackwardWeight(const Node& n, In& in, Out& out, ExecContext&) {
  ConvDims d = conv_dims(n.attrs, in[0]->shape(), out[0]->shape(), in[1]->shape());
  dispatch_float(in[0]->dtype(), [&]<class T>() { conv_backward_weight<T>(d, in[0]->data<T>(), in[1]->data<T>(), out[0]->data<T>()); });
}

void ref_Matmul(const Node& n, In& in, Out& out, ExecContext&) {
  const bool ta = n.attrs.i("transpose_a", 0), tb = n.attrs.i("transpose_b", 0);
  const int64_t M = out[0]->dim(0), N = out[0]->dim(1), K = ta ? in[0]->dim(0) : in[0]->dim(1);
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    // op(a) as [M,K] and op(b) as [K,N], row-major.
    std::vector<T> A(M * K), B(K * N);
    const T *pa = in[0]->data<T>(), *pb = in[1]->data<T>();
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) A[i * K + k] = ta ? pa[k * M + i] : pa[i * K + k];
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) B[k * N + j] = tb ? pb[j * K + k] : pb[k * N + j];
    T* y = out[0]->data<T>();
#pragma omp parallel for schedule(static) if (M * N * K > 32768)
    for (int64_t i = 0; i < M; ++i) {
      T* yr = y + i * N;
      std::fill(yr, yr + N, T(0));
      for (int64_t k = 0; k < K; ++k) {
        const T a = A[i * K + k];
        const T* br = B.data() + k * N;
#pragma omp simd
        for (int64_t j = 0; j < N; ++j) yr[j] += a * br[j];
      }
    }
  });
}

}  // namespace acnn::ops
