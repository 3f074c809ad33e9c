#include "compiler/ops/common.h"

#include <cstdio>
#include <cstdlib>

namespace acnn::ops {

bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out) {
  size_t r = std::max(a.size(), b.size());
  Shape s(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    s[i] = da == 1 ? db : da;
  }
  *out = std::move(s);
  return true;
}

bool normalize_axis(int64_t axis, size_t rank, int64_t* out) {
  int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) return false;
  *out = axis < 0 ? axis + r : axis;
  return true;
}

std::string str(const ValueType& t) { return type_str(t.dtype, t.shape); }

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

}  // namespace acnn::ops

namespace acnn::ops {

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> st = strides_of(in), r(out.size(), 0);
  size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i] == out[lead + i]) r[lead + i] = st[i];
  return r;
}

void dtype_not_supported(DType t) {
  std::fprintf(stderr, "internal error: a reference kernel was given a %s tensor (it takes f32 and f64)\n", dtype_name(t));
  std::abort();
}

void kernel_not_callable(const Node& node, const char* why) {
  std::fprintf(stderr, "internal error: the reference kernel of %s was called (%s)\n", ir::op_name(node.op), why);
  std::abort();
}

Attrs attrs_without(const Attrs& a, std::initializer_list<const char*> keys) {
  Attrs r = a;
  for (const char* k : keys) r.erase(k);
  return r;
}

}  // namespace acnn::ops
