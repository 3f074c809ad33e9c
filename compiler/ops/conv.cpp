// Convolution and matrix product. Conv2d (x[N,C,H,W], w[O,C/groups,kh,kw],
// optional b[O]); attributes stride [sh,sw], pad [top,left,bottom,right],
// dilation [dh,dw], groups. Conv2dBackwardData (dy, w) adds input_shape;
// Conv2dBackwardWeight (x, dy) adds weight_shape. Matmul (a[M,K], b[K,N]) with
// transpose_a / transpose_b (0/1) applied before the product.
#include "compiler/ops/common.h"

namespace acnn::ops {

struct ConvGeom {
  int64_t sh, sw, pt, pl, pb, pr, dh, dw, groups;
};

static std::string conv_geom(const Attrs& a, ConvGeom* g) {
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

}  // namespace acnn::ops
