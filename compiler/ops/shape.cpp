// Data movement: Reshape (shape), Transpose (perm), Concat (axis), Slice (axis,
// begin, end; step 1), Pad (pads = [begin of each dim..., end of each dim...],
// mode "zeros" or "reflect") and PadBackward (the forward's pads and mode; its
// input is the gradient of the padded tensor).
#include <algorithm>
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

}  // namespace acnn::ops
