// Batch normalization over axis 1 of [N,C,...] (statistics over every other
// axis). BatchNorm is the mode-neutral form (momentum: weight of the old
// running value, PyTorch's 1 - momentum; eps); the mode pass rewrites it.
// BatchNormTrain returns y and the batch mean and biased variance;
// BatchNormInfer normalizes with given statistics; BatchNormBackward takes
// (dy, x, gamma, mean, var) from the training forward.
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

}  // namespace acnn::ops
