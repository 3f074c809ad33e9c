// Reductions over a set of axes (axes: ints, may be negative; keepdims: 0/1)
// and BroadcastTo (shape: ints), the reductions' gradient partner. An empty
// axes list reduces nothing (the result equals the input).
//
// Gradients: sum and mean broadcast dy back (mean scales by 1/count).
// reduce_max routes dy to the positions equal to the maximum, built from ops
// as mask = 1 - less(x, max); ties share it equally (each of k tied maxima gets
// dy/k, like TensorFlow), so the gradient sums to dy. broadcast_to sums back.
#include <algorithm>
#include <limits>

#include "compiler/ops/common.h"

namespace acnn::ops {

static std::string reduce(const char* op, const std::vector<ValueType>& in, const Attrs& a,
                          std::vector<ValueType>& out) {
  const Shape& s = in[0].shape;
  std::vector<bool> reduced(s.size(), false);
  for (int64_t ax : a.ints("axes")) {
    int64_t n;
    if (!normalize_axis(ax, s.size(), &n))
      return std::string(op) + ": axis " + std::to_string(ax) + " is out of range for " + str(in[0]);
    reduced[n] = true;
  }
  bool keep = a.i("keepdims", 0) != 0;
  Shape r;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!reduced[i]) r.push_back(s[i]);
    else if (keep) r.push_back(1);
  }
  out = {ValueType{in[0].dtype, r}};
  return "";
}

std::string infer_ReduceSum(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) { return reduce("reduce_sum", in, a, out); }
std::string infer_ReduceMean(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) { return reduce("reduce_mean", in, a, out); }
std::string infer_ReduceMax(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) { return reduce("reduce_max", in, a, out); }

std::string infer_BroadcastTo(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  Shape target = a.ints("shape"), s;
  if (!broadcast_shapes(in[0].shape, target, &s) || s != target)
    return "broadcast_to: " + str(in[0]) + " does not broadcast to " + shape_str(target);
  out = {ValueType{in[0].dtype, target}};
  return "";
}

// ---------------------------------------------------------------- gradients

namespace {

struct ReduceInfo {
  Shape in, kept;  // the input shape; the output shape with reduced axes kept as 1
  std::vector<int64_t> axes;
  int64_t count = 1;  // elements per reduced group
};

ReduceInfo reduce_info(const Shape& in, const Attrs& a) {
  ReduceInfo r{in, in, {}, 1};
  std::vector<bool> reduced(in.size(), false);
  for (int64_t ax : a.ints("axes")) {
    int64_t n;
    normalize_axis(ax, in.size(), &n);
    reduced[n] = true;
  }
  for (size_t i = 0; i < in.size(); ++i)
    if (reduced[i]) {
      r.kept[i] = 1;
      r.count *= in[i];
      r.axes.push_back(static_cast<int64_t>(i));
    }
  return r;
}

// dy reshaped to the kept-dims shape and broadcast over the input.
ValueId spread(GradContext& g, const ReduceInfo& r, ValueId dy) {
  return g.b.broadcast_to(g.b.reshape(dy, r.kept), r.in);
}

}  // namespace

void grad_ReduceSum(GradContext& g) { g.set_din(0, spread(g, reduce_info(g.in_shape(0), g.attrs()), g.dout(0))); }

void grad_ReduceMean(GradContext& g) {
  ReduceInfo r = reduce_info(g.in_shape(0), g.attrs());
  g.set_din(0, g.b.scale(spread(g, r, g.dout(0)), 1.0 / static_cast<double>(r.count)));
}

void grad_ReduceMax(GradContext& g) {
  ir::Builder& b = g.b;
  ReduceInfo r = reduce_info(g.in_shape(0), g.attrs());
  ValueId mask = b.scale(b.emit1(ir::OpKind::Less, {g.in(0), b.reshape(g.out(0), r.kept)}), -1.0, 1.0);
  ValueId ties = b.reduce_sum(mask, r.axes, /*keepdims=*/true);
  g.set_din(0, b.mul(mask, b.div(b.reshape(g.dout(0), r.kept), ties)));
}

void grad_BroadcastTo(GradContext& g) {
  Shape target = g.in_shape(0);
  g.set_din(0, g.b.unbroadcast(g.dout(0), target));
}

// ---------------------------------------------------------------- kernels

namespace {

// Visits x with, for each element, the offset of its group in the output.
template <class F>
void reduce_loop(const Tensor& x, const Attrs& a, F f) {
  ReduceInfo r = reduce_info(x.shape(), a);
  std::vector<int64_t> out_strides = broadcast_strides(r.kept, r.in);
  strided_loop(r.in, out_strides, out_strides, [&](int64_t i, int64_t o, int64_t) { f(i, o); });
}

}  // namespace

using In = const std::vector<const Tensor*>;
using Out = const std::vector<Tensor*>;

void ref_ReduceSum(const Node& n, In& in, Out& out, ExecContext&) {
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* x = in[0]->data<T>();
    T* y = out[0]->data<T>();
    std::fill(y, y + out[0]->numel(), T(0));
    reduce_loop(*in[0], n.attrs, [&](int64_t i, int64_t o) { y[o] += x[i]; });
  });
}

void ref_ReduceMean(const Node& n, In& in, Out& out, ExecContext&) {
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* x = in[0]->data<T>();
    T* y = out[0]->data<T>();
    std::fill(y, y + out[0]->numel(), T(0));
    reduce_loop(*in[0], n.attrs, [&](int64_t i, int64_t o) { y[o] += x[i]; });
    const T inv = T(1) / static_cast<T>(reduce_info(in[0]->shape(), n.attrs).count);
    for (int64_t o = 0; o < out[0]->numel(); ++o) y[o] *= inv;
  });
}

void ref_ReduceMax(const Node& n, In& in, Out& out, ExecContext&) {
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* x = in[0]->data<T>();
    T* y = out[0]->data<T>();
    std::fill(y, y + out[0]->numel(), -std::numeric_limits<T>::infinity());
    reduce_loop(*in[0], n.attrs, [&](int64_t i, int64_t o) { y[o] = std::max(y[o], x[i]); });
  });
}

void ref_BroadcastTo(const Node&, In& in, Out& out, ExecContext&) {
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* x = in[0]->data<T>();
    T* y = out[0]->data<T>();
    std::vector<int64_t> st = broadcast_strides(in[0]->shape(), out[0]->shape());
    strided_loop(out[0]->shape(), st, st, [&](int64_t i, int64_t o, int64_t) { y[i] = x[o]; });
  });
}

}  // namespace acnn::ops
