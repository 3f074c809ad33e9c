// Host stand-in for <cuda_fp16.h> (see cuda_runtime.h here): __half as the
// compiler's _Float16, round-to-nearest-even conversions.
#pragma once

#include <cstring>

struct __half {
  unsigned short bits;
};
inline float __half2float(__half h) {
  _Float16 x;
  std::memcpy(&x, &h.bits, 2);
  return static_cast<float>(x);
}
inline __half __float2half_rn(float f) {
  const _Float16 x = static_cast<_Float16>(f);
  __half h;
  std::memcpy(&h.bits, &x, 2);
  return h;
}
