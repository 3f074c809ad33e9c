// Elementwise ops of two tensors with numpy broadcasting. Both operands have
// the same dtype. Less yields 1.0 where a < b, else 0.0, in that dtype.
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

}  // namespace acnn::ops
