// Graph sources: inputs, parameters, state, constants, runtime scalars, random.
// Attributes: name (string), dtype (string, default "f32"), shape (ints);
// Param: init ("kaiming_normal", "zeros", "ones", "normal:0.01", ...), decay
// (1 = weight decay applies); Constant: values (floats, row-major) or fill;
// RandomUniform: stream (int, distinguishes random nodes within a step).
//
// Kernels: Input/Param/State are fed by the runtime (their kernels abort if
// ever called). Constant writes `values` (row-major) or `fill` in its dtype
// (f32, f64, i32, ...). RuntimeScalar reads ctx.scalar(name). RandomUniform
// element i is uniform01(counter_hash(ctx.seed, ctx.step, stream, i)): the same
// on every backend and thread count, fresh each step.
//
// Gradients: none. Sources have no inputs, so there is nothing to send a
// gradient to; the gradient *of* a source (a parameter) is what autodiff
// collects at the source's output.
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

// ---------------------------------------------------------------- gradients

void grad_Input(GradContext&) {}
void grad_Param(GradContext&) {}
void grad_State(GradContext&) {}
void grad_Constant(GradContext&) {}
void grad_RuntimeScalar(GradContext&) {}
void grad_RandomUniform(GradContext&) {}

// ---------------------------------------------------------------- kernels

void ref_Input(const Node& n, const std::vector<const Tensor*>&, const std::vector<Tensor*>&, ExecContext&) {
  kernel_not_callable(n, "inputs are fed by the runtime");
}
void ref_Param(const Node& n, const std::vector<const Tensor*>&, const std::vector<Tensor*>&, ExecContext&) {
  kernel_not_callable(n, "parameters are fed by the runtime");
}
void ref_State(const Node& n, const std::vector<const Tensor*>&, const std::vector<Tensor*>&, ExecContext&) {
  kernel_not_callable(n, "state is fed by the runtime");
}

void ref_Constant(const Node& n, const std::vector<const Tensor*>&, const std::vector<Tensor*>& out, ExecContext&) {
  Tensor& y = *out[0];
  if (n.attrs.has("values")) {
    std::vector<double> v = n.attrs.floats("values");
    for (int64_t i = 0; i < y.numel(); ++i) y.set(i, v[i]);
  } else {
    y.fill(n.attrs.f("fill"));
  }
}

void ref_RuntimeScalar(const Node& n, const std::vector<const Tensor*>&, const std::vector<Tensor*>& out, ExecContext& ctx) {
  out[0]->set(0, ctx.scalar(n.attrs.s("name")));
}

void ref_RandomUniform(const Node& n, const std::vector<const Tensor*>&, const std::vector<Tensor*>& out, ExecContext& ctx) {
  Tensor& y = *out[0];
  uint64_t stream = static_cast<uint64_t>(n.attrs.i("stream"));
  dispatch_float(y.dtype(), [&]<class T>() {
    T* p = y.data<T>();
    for (int64_t i = 0; i < y.numel(); ++i)
      p[i] = static_cast<T>(uniform01(counter_hash(ctx.seed, static_cast<uint64_t>(ctx.step), stream, static_cast<uint64_t>(i))));
  });
}

}  // namespace acnn::ops
