// Helpers shared by the op family files: broadcasting, axis normalization,
// message formatting, and typed loops over fp32/fp64 tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/types.h"
#include "compiler/ops/families.h"

namespace acnn::ops {

// numpy broadcasting of two shapes; false if incompatible.
bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out);
// Maps a possibly negative axis into [0, rank); false if out of range.
bool normalize_axis(int64_t axis, size_t rank, int64_t* out);
// "f32[1,3,224,224]"
std::string str(const ValueType& t);

// Calls f.template operator()<T>() with T = float or double by dtype.
template <class F>
void dispatch_float(DType t, F&& f) {
  if (t == DType::F64)
    f.template operator()<double>();
  else
    f.template operator()<float>();
}

// Row-major strides of a shape.
std::vector<int64_t> strides_of(const Shape& s);

}  // namespace acnn::ops
