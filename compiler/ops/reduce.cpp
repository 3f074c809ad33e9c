// Reductions over a set of axes (axes: ints, may be negative; keepdims: 0/1)
// and BroadcastTo (shape: ints), the reductions' gradient partner.
#include <algorithm>

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

}  // namespace acnn::ops
