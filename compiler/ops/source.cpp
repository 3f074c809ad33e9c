// Graph sources: inputs, parameters, state, constants, runtime scalars, random.
// Attributes: name (string), dtype (string, default "f32"), shape (ints);
// Param: init ("kaiming_normal", "zeros", "ones", "normal:0.01", ...), decay
// (1 = weight decay applies); Constant: values (floats, row-major) or fill;
// RandomUniform: stream (int, distinguishes random nodes within a step).
#include "compiler/ops/common.h"

namespace acnn::ops {

static std::string source_type(const Attrs& attrs, std::vector<ValueType>& out) {
  DType dt = DType::F32;
  if (attrs.has("dtype") && !parse_dtype(attrs.s("dtype"), &dt)) return "unknown dtype `" + attrs.s("dtype") + "`";
  Shape shape = attrs.ints("shape");
  for (int64_t d : shape)
    if (d <= 0) return "tensor dimensions must be positive, got " + shape_str(shape);
  out = {ValueType{dt, shape}};
  return "";
}

std::string infer_Input(const std::vector<ValueType>&, const Attrs& a, std::vector<ValueType>& out) { return source_type(a, out); }
std::string infer_Param(const std::vector<ValueType>&, const Attrs& a, std::vector<ValueType>& out) { return source_type(a, out); }
std::string infer_State(const std::vector<ValueType>&, const Attrs& a, std::vector<ValueType>& out) { return source_type(a, out); }
std::string infer_RandomUniform(const std::vector<ValueType>&, const Attrs& a, std::vector<ValueType>& out) { return source_type(a, out); }

std::string infer_Constant(const std::vector<ValueType>&, const Attrs& a, std::vector<ValueType>& out) {
  std::string err = source_type(a, out);
  if (!err.empty()) return err;
  if (a.has("values")) {
    size_t n = a.floats("values").size();
    if (static_cast<int64_t>(n) != numel(out[0].shape))
      return "constant has " + std::to_string(n) + " values for shape " + shape_str(out[0].shape);
  } else if (!a.has("fill")) {
    return "constant needs `values` or `fill`";
  }
  return "";
}

std::string infer_RuntimeScalar(const std::vector<ValueType>&, const Attrs& a, std::vector<ValueType>& out) {
  if (a.s("name").empty()) return "runtime_scalar needs a name";
  out = {ValueType{DType::F32, {}}};
  return "";
}

}  // namespace acnn::ops
