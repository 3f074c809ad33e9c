// Pooling and resampling on [N,C,H,W]. MaxPool2d / AvgPool2d: kernel [kh,kw],
// stride [sh,sw], pad [top,left,bottom,right]; AvgPool2d also
// count_include_pad (0/1). Backward forms: MaxPool2dBackward (dy, x),
// AvgPool2dBackward (dy) with input_shape. UpsampleNearest / UpsampleBilinear:
// integer scale (bilinear with half-pixel centers, align_corners = false);
// their backward forms take dy (and input_shape for bilinear).
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

std::string infer_MaxPool2d(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  Shape r;
  std::string err = pool_out("max_pool2d", in[0].shape, a, &r);
  if (!err.empty()) return err;
  out = {ValueType{in[0].dtype, r}};
  return "";
}

std::string infer_AvgPool2d(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  Shape r;
  std::string err = pool_out("avg_pool2d", in[0].shape, a, &r);
  if (!err.empty()) return err;
  out = {ValueType{in[0].dtype, r}};
  return "";
}

std::string infer_MaxPool2dBackward(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  Shape r;
  std::string err = pool_out("max_pool2d_backward", in[1].shape, a, &r);
  if (!err.empty()) return err;
  if (in[0].shape != r) return "max_pool2d_backward: gradient " + str(in[0]) + " does not match the pooling output " + shape_str(r);
  out = {in[1]};
  return "";
}

std::string infer_AvgPool2dBackward(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  Shape x = a.ints("input_shape"), r;
  std::string err = pool_out("avg_pool2d_backward", x, a, &r);
  if (!err.empty()) return err;
  if (in[0].shape != r) return "avg_pool2d_backward: gradient " + str(in[0]) + " does not match the pooling output " + shape_str(r);
  out = {ValueType{in[0].dtype, x}};
  return "";
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

}  // namespace acnn::ops
