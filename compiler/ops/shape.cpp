// Data movement: Reshape (shape), Transpose (perm), Concat (axis), Slice (axis,
// begin, end; step 1), Pad (pads = [begin of each dim..., end of each dim...],
// mode "zeros" or "reflect") and PadBackward (the forward's pads and mode; its
// input is the gradient of the padded tensor).
//
// Reflect padding mirrors without repeating the edge (numpy "reflect",
// PyTorch ReflectionPad): [1,2,3] padded by 2 on each side is [3,2,1,2,3,2,1].
// pad_backward is the adjoint of pad: it crops (zeros) or, for reflect, also
// adds each mirrored position's gradient onto its source element.
//
// Gradients: reshape and transpose invert themselves, concat slices, slice
// pads with zeros, pad uses pad_backward, and pad_backward (linear) uses pad.
// These kernels copy bytes, so they work for every dtype.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "compiler/ops/common.h"

namespace acnn::ops {

std::string infer_Reshape(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  Shape s = a.ints("shape");
  for (int64_t d : s)
    if (d <= 0) return "reshape: target shape " + shape_str(s) + " has a non-positive dimension";
  if (numel(s) != numel(in[0].shape))
    return "reshape: cannot reshape " + str(in[0]) + " (" + std::to_string(numel(in[0].shape)) +
           " elements) to " + shape_str(s) + " (" + std::to_string(numel(s)) + " elements)";
  out = {ValueType{in[0].dtype, s}};
  return "";
}

std::string infer_Transpose(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  std::vector<int64_t> perm = a.ints("perm");
  const Shape& s = in[0].shape;
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(s.size());
  std::iota(iota.begin(), iota.end(), 0);
  if (sorted != iota) return "transpose: perm is not a permutation of the " + std::to_string(s.size()) + " axes";
  Shape r(s.size());
  for (size_t i = 0; i < s.size(); ++i) r[i] = s[perm[i]];
  out = {ValueType{in[0].dtype, r}};
  return "";
}

std::string infer_Concat(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  int64_t axis;
  if (!normalize_axis(a.i("axis", 1), in[0].shape.size(), &axis)) return "concat: axis out of range for " + str(in[0]);
  Shape r = in[0].shape;
  for (size_t k = 1; k < in.size(); ++k) {
    const Shape& s = in[k].shape;
    bool ok = s.size() == r.size() && in[k].dtype == in[0].dtype;
    for (size_t i = 0; ok && i < s.size(); ++i)
      if (static_cast<int64_t>(i) != axis && s[i] != r[i]) ok = false;
    if (!ok) return "concat: " + str(in[k]) + " does not match " + str(in[0]) + " outside axis " + std::to_string(axis);
    r[axis] += s[axis];
  }
  out = {ValueType{in[0].dtype, r}};
  return "";
}

std::string infer_Slice(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  int64_t axis;
  if (!normalize_axis(a.i("axis"), in[0].shape.size(), &axis)) return "slice: axis out of range for " + str(in[0]);
  int64_t begin = a.i("begin"), end = a.i("end"), dim = in[0].shape[axis];
  if (begin < 0 || end > dim || begin >= end)
    return "slice: [" + std::to_string(begin) + ", " + std::to_string(end) + ") is not a non-empty range of axis " +
           std::to_string(axis) + " (size " + std::to_string(dim) + ")";
  Shape r = in[0].shape;
  r[axis] = end - begin;
  out = {ValueType{in[0].dtype, r}};
  return "";
}

static std::string pad_common(const char* op, const ValueType& t, const Attrs& a, bool backward, Shape* r) {
  std::vector<int64_t> pads = a.ints("pads");
  size_t rank = t.shape.size();
  if (pads.size() != 2 * rank) return std::string(op) + ": pads needs " + std::to_string(2 * rank) + " values for " + str(t);
  const std::string& mode = a.s("mode");
  if (mode != "zeros" && mode != "reflect") return std::string(op) + ": mode must be \"zeros\" or \"reflect\"";
  *r = t.shape;
  for (size_t i = 0; i < rank; ++i) {
    int64_t lo = pads[i], hi = pads[rank + i];
    if (lo < 0 || hi < 0) return std::string(op) + ": negative padding";
    (*r)[i] += backward ? -(lo + hi) : lo + hi;
    int64_t base = backward ? (*r)[i] : t.shape[i];
    if (base <= 0) return std::string(op) + ": padding larger than the tensor";
    if (mode == "reflect" && (lo >= base || hi >= base))
      return std::string(op) + ": reflect padding of " + std::to_string(std::max(lo, hi)) + " needs a dimension larger than " +
             std::to_string(std::max(lo, hi)) + ", got " + std::to_string(base);
  }
  return "";
}

std::string infer_Pad(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  Shape r;
  std::string err = pad_common("pad", in[0], a, false, &r);
  if (!err.empty()) return err;
  out = {ValueType{in[0].dtype, r}};
  return "";
}

std::string infer_PadBackward(const std::vector<ValueType>& in, const Attrs& a, std::vector<ValueType>& out) {
  Shape r;
  std::string err = pad_common("pad_backward", in[0], a, true, &r);
  if (!err.empty()) return err;
  out = {ValueType{in[0].dtype, r}};
  return "";
}

// ---------------------------------------------------------------- gradients

void grad_Reshape(GradContext& g) {
  Shape s = g.in_shape(0);
  g.set_din(0, g.b.reshape(g.dout(0), s));
}

void grad_Transpose(GradContext& g) {
  std::vector<int64_t> perm = g.attrs().ints("perm"), inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int64_t>(i);
  g.set_din(0, g.b.emit1(ir::OpKind::Transpose, {g.dout(0)}, Attrs{{"perm", inv}}));
}

void grad_Concat(GradContext& g) {
  int64_t axis;
  normalize_axis(g.attrs().i("axis", 1), g.in_shape(0).size(), &axis);
  int64_t begin = 0;
  for (size_t i = 0; i < g.node.inputs.size(); ++i) {
    int64_t len = g.in_shape(static_cast<int>(i))[axis];
    if (g.needs(static_cast<int>(i)))
      g.set_din(static_cast<int>(i), g.b.emit1(ir::OpKind::Slice, {g.dout(0)},
                                               Attrs{{"axis", axis}, {"begin", begin}, {"end", begin + len}}));
    begin += len;
  }
}

void grad_Slice(GradContext& g) {
  Shape s = g.in_shape(0);
  int64_t axis;
  normalize_axis(g.attrs().i("axis"), s.size(), &axis);
  std::vector<int64_t> pads(2 * s.size(), 0);
  pads[axis] = g.attrs().i("begin");
  pads[s.size() + axis] = s[axis] - g.attrs().i("end");
  g.set_din(0, g.b.emit1(ir::OpKind::Pad, {g.dout(0)}, Attrs{{"pads", pads}, {"mode", std::string("zeros")}}));
}

void grad_Pad(GradContext& g) { g.set_din(0, g.b.emit1(ir::OpKind::PadBackward, {g.dout(0)}, g.attrs())); }
void grad_PadBackward(GradContext& g) { g.set_din(0, g.b.emit1(ir::OpKind::Pad, {g.dout(0)}, g.attrs())); }

// ---------------------------------------------------------------- kernels

using In = const std::vector<const Tensor*>;
using Out = const std::vector<Tensor*>;

void ref_Reshape(const Node&, In& in, Out& out, ExecContext&) { std::memcpy(out[0]->raw(), in[0]->raw(), in[0]->bytes()); }

namespace {

// Copies elements of `esize` bytes: y[i] = x[src(i)] through strided_loop.
void gather(const Tensor& x, Tensor& y, const std::vector<int64_t>& src_strides) {
  const size_t es = dtype_size(x.dtype());
  const char* px = static_cast<const char*>(x.raw());
  char* py = static_cast<char*>(y.raw());
  strided_loop(y.shape(), src_strides, src_strides,
               [&](int64_t i, int64_t o, int64_t) { std::memcpy(py + i * es, px + o * es, es); });
}

// Per axis, the source index of each padded position (-1: a zero).
std::vector<std::vector<int64_t>> pad_maps(const Shape& src, const std::vector<int64_t>& pads, bool reflect) {
  const size_t r = src.size();
  std::vector<std::vector<int64_t>> maps(r);
  for (size_t d = 0; d < r; ++d) {
    const int64_t n = src[d], lo = pads[d], total = n + lo + pads[r + d];
    for (int64_t p = 0; p < total; ++p) {
      int64_t i = p - lo;
      if (reflect) {
        if (i < 0) i = -i;
        if (i >= n) i = 2 * (n - 1) - i;
      } else if (i < 0 || i >= n) {
        i = -1;
      }
      maps[d].push_back(i);
    }
  }
  return maps;
}

// Visits every element of the padded shape with the linear index of its
// source element in the unpadded tensor, or -1 for a zero.
template <class F>
void pad_loop(const Shape& src, const Attrs& a, F f) {
  const size_t r = src.size();
  auto maps = pad_maps(src, a.ints("pads"), a.s("mode") == "reflect");
  Shape padded(r);
  for (size_t d = 0; d < r; ++d) padded[d] = static_cast<int64_t>(maps[d].size());
  std::vector<int64_t> st = strides_of(src), idx(r, 0);
  const int64_t n = numel(padded);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < r && off >= 0; ++d) {
      int64_t s = maps[d][idx[d]];
      off = s < 0 ? -1 : off + s * st[d];
    }
    f(i, off);
    for (int d = static_cast<int>(r) - 1; d >= 0; --d) {
      if (++idx[d] < padded[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

void ref_Transpose(const Node& n, In& in, Out& out, ExecContext&) {
  std::vector<int64_t> perm = n.attrs.ints("perm"), st = strides_of(in[0]->shape()), src(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) src[i] = st[perm[i]];
  gather(*in[0], *out[0], src);
}

void ref_Concat(const Node& n, In& in, Out& out, ExecContext&) {
  const Shape& ys = out[0]->shape();
  int64_t axis;
  normalize_axis(n.attrs.i("axis", 1), ys.size(), &axis);
  const size_t es = dtype_size(out[0]->dtype());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= ys[d];
  for (size_t d = axis + 1; d < ys.size(); ++d) inner *= ys[d];
  char* py = static_cast<char*>(out[0]->raw());
  int64_t begin = 0;
  for (const Tensor* x : in) {
    const int64_t len = x->shape()[axis];
    const char* px = static_cast<const char*>(x->raw());
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(py + ((o * ys[axis] + begin) * inner) * es, px + (o * len * inner) * es, len * inner * es);
    begin += len;
  }
}

void ref_Slice(const Node& n, In& in, Out& out, ExecContext&) {
  const Shape& xs = in[0]->shape();
  int64_t axis;
  normalize_axis(n.attrs.i("axis"), xs.size(), &axis);
  const int64_t begin = n.attrs.i("begin"), len = n.attrs.i("end") - begin;
  const size_t es = dtype_size(in[0]->dtype());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= xs[d];
  for (size_t d = axis + 1; d < xs.size(); ++d) inner *= xs[d];
  const char* px = static_cast<const char*>(in[0]->raw());
  char* py = static_cast<char*>(out[0]->raw());
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(py + o * len * inner * es, px + ((o * xs[axis] + begin) * inner) * es, len * inner * es);
}

void ref_Pad(const Node& n, In& in, Out& out, ExecContext&) {
  const size_t es = dtype_size(in[0]->dtype());
  const char* px = static_cast<const char*>(in[0]->raw());
  char* py = static_cast<char*>(out[0]->raw());
  pad_loop(in[0]->shape(), n.attrs, [&](int64_t i, int64_t src) {
    if (src >= 0)
      std::memcpy(py + i * es, px + src * es, es);
    else
      std::memset(py + i * es, 0, es);
  });
}

void ref_PadBackward(const Node& n, In& in, Out& out, ExecContext&) {
  dispatch_float(in[0]->dtype(), [&]<class T>() {
    const T* dy = in[0]->data<T>();
    T* dx = out[0]->data<T>();
    std::fill(dx, dx + out[0]->numel(), T(0));
    pad_loop(out[0]->shape(), n.attrs, [&](int64_t i, int64_t src) {
      if (src >= 0) dx[src] += dy[i];
    });
  });
}

}  // namespace acnn::ops
