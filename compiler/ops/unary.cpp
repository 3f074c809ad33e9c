// Elementwise ops of one tensor, and the dedicated backward forms of the
// activations (which read the forward input or output instead of recomputing).
// Scale: alpha, beta (y = alpha*x + beta). Cast: dtype.
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

}  // namespace acnn::ops
