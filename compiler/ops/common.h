// Helpers shared by the op family files: broadcasting, axis normalization,
// message formatting, and typed loops over fp32/fp64 tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/types.h"
#include "compiler/ops/families.h"

namespace acnn::ops {

using ir::ValueId;

// numpy broadcasting of two shapes; false if incompatible.
bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out);
// Maps a possibly negative axis into [0, rank); false if out of range.
bool normalize_axis(int64_t axis, size_t rank, int64_t* out);
// "f32[1,3,224,224]"
std::string str(const ValueType& t);

// Calls f.template operator()<T>() with T = float or double by dtype; any
// other dtype is an internal error (reported, then abort).
[[noreturn]] void dtype_not_supported(DType t);
template <class F>
void dispatch_float(DType t, F&& f) {
  if (t == DType::F64)
    f.template operator()<double>();
  else if (t == DType::F32)
    f.template operator()<float>();
  else
    dtype_not_supported(t);
}

// Row-major strides of a shape.
std::vector<int64_t> strides_of(const Shape& s);

}  // namespace acnn::ops

namespace acnn::ops {

// Strides of a tensor of shape `in` when read as broadcast to `out` (numpy
// rules): aligned to out's rank, 0 on axes that broadcasting adds or stretches.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

// Visits every position of `shape` in row-major order and calls
// f(i, oa, ob): i the linear index, oa/ob the offsets that strides sa/sb
// (each of shape's rank) give for that position. Binary ops, broadcasting,
// reductions and transposes are all this loop with different strides.
template <class F>
void strided_loop(const Shape& shape, const std::vector<int64_t>& sa, const std::vector<int64_t>& sb, F&& f) {
  const int r = static_cast<int>(shape.size());
  if (r == 0) {
    f(int64_t{0}, int64_t{0}, int64_t{0});
    return;
  }
  const int64_t n = numel(shape), inner = shape[r - 1], ia = sa[r - 1], ib = sb[r - 1];
  std::vector<int64_t> idx(r, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < n; i += inner) {
    for (int64_t j = 0; j < inner; ++j) f(i + j, oa + j * ia, ob + j * ib);
    for (int d = r - 2; d >= 0; --d) {
      ++idx[d], oa += sa[d], ob += sb[d];
      if (idx[d] < shape[d]) break;
      oa -= sa[d] * shape[d], ob -= sb[d] * shape[d], idx[d] = 0;
    }
  }
}

// For kernels that must never run (sources the interpreter feeds, fused
// nodes): prints the op and aborts.
[[noreturn]] void kernel_not_callable(const Node& node, const char* why);

// Conv2d attributes, shared by the conv kernels and their gradient rules.
struct ConvGeom {
  int64_t sh, sw, pt, pl, pb, pr, dh, dw, groups;
};
std::string conv_geom(const Attrs& a, ConvGeom* g);

// The attributes of `a` minus the named keys (gradient rules that turn one op
// into another copy the geometry and drop what the new op does not take).
Attrs attrs_without(const Attrs& a, std::initializer_list<const char*> keys);

}  // namespace acnn::ops
