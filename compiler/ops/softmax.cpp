// Softmax family and the classification loss. Softmax / LogSoftmax (axis,
// default -1) and their backward forms (dy, y). OneHot (labels i32[N]) with
// classes and smoothing: on = 1 - s + s/K, off = s/K, in f32.
// SoftmaxCrossEntropy (logits[N,K], target[N,K] probabilities) gives the
// per-example loss [N]; its backward takes (dloss[N], logits, target).
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

}  // namespace acnn::ops
