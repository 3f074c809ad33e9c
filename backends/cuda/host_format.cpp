// Host-side conversions between plain tensors and device storage formats:
// NCHW <-> NHWC and f32 <-> bf16/f16 (round to nearest even), used when
// persistent tensors, constants and outputs cross between host and device.
#include <cstring>
#include <stdexcept>

#include "backends/cuda/lowering.h"

namespace acnn::cuda {

namespace {

float bf16_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      u = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | man << 13;
  } else {
    u = sign | (exp + 112) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u;
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // overflows to inf (after rounding)
  if (a < 0x38800000u) {                         // subnormal or zero in half
    if (a < 0x33000000u) return sign;
    uint32_t man = (a & 0x7fffffu) | 0x800000u;
    int shift = 126 - static_cast<int>(a >> 23);  // value = man * 2^(e-150), in units of 2^-24
    uint32_t half = man >> shift, rest = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1u))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  uint32_t r = a - 0x38000000u;  // rebias 127 -> 15
  uint32_t half = r >> 13, rest = r & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return sign | static_cast<uint16_t>(half);
}

double read(const uint8_t* p, DType t, int64_t i) {
  switch (t) {
    case DType::F32: { float f; std::memcpy(&f, p + 4 * i, 4); return f; }
    case DType::F64: { double d; std::memcpy(&d, p + 8 * i, 8); return d; }
    case DType::BF16: { uint16_t b; std::memcpy(&b, p + 2 * i, 2); return bf16_to_float(b); }
    case DType::F16: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); return half_to_float(h); }
    case DType::I32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); return v; }
    case DType::I64: { int64_t v; std::memcpy(&v, p + 8 * i, 8); return static_cast<double>(v); }
    case DType::U8: return p[i];
  }
  return 0;
}

void write(uint8_t* p, DType t, int64_t i, double v) {
  switch (t) {
    case DType::F32: { float f = static_cast<float>(v); std::memcpy(p + 4 * i, &f, 4); return; }
    case DType::F64: std::memcpy(p + 8 * i, &v, 8); return;
    case DType::BF16: { uint16_t b = float_to_bf16(static_cast<float>(v)); std::memcpy(p + 2 * i, &b, 2); return; }
    case DType::F16: { uint16_t h = float_to_half(static_cast<float>(v)); std::memcpy(p + 2 * i, &h, 2); return; }
    case DType::I32: { int32_t x = static_cast<int32_t>(v); std::memcpy(p + 4 * i, &x, 4); return; }
    case DType::I64: { int64_t x = static_cast<int64_t>(v); std::memcpy(p + 8 * i, &x, 8); return; }
    case DType::U8: p[i] = static_cast<uint8_t>(v); return;
  }
}

// Memory position of each row-major logical index under layout l.
template <class F>
void for_each_position(const Shape& s, DevLayout l, F f) {
  const int64_t n = numel(s);
  if (canonical(l, s) == DevLayout::Plain) {
    for (int64_t i = 0; i < n; ++i) f(i, i);
    return;
  }
  const int64_t N = s[0], C = s[1], H = s[2], W = s[3];
  int64_t i = 0;
  for (int64_t a = 0; a < N; ++a)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) f(i++, ((a * H + h) * W + w) * C + c);
}

}  // namespace

Tensor host_to_plain(const void* bytes, const Shape& s, const Format& f, DType logical) {
  Tensor t(logical, s);
  const uint8_t* src = static_cast<const uint8_t*>(bytes);
  uint8_t* dst = static_cast<uint8_t*>(t.raw());
  if (f.dtype == logical && canonical(f.layout, s) == DevLayout::Plain) {
    std::memcpy(dst, src, t.bytes());
    return t;
  }
  for_each_position(s, f.layout, [&](int64_t i, int64_t at) { write(dst, logical, i, read(src, f.dtype, at)); });
  return t;
}

std::vector<uint8_t> host_from_plain(const Tensor& t, const Format& f) {
  std::vector<uint8_t> out(format_bytes(t.shape(), f));
  const uint8_t* src = static_cast<const uint8_t*>(t.raw());
  if (f.dtype == t.dtype() && canonical(f.layout, t.shape()) == DevLayout::Plain) {
    std::memcpy(out.data(), src, out.size());
    return out;
  }
  for_each_position(t.shape(), f.layout, [&](int64_t i, int64_t at) { write(out.data(), f.dtype, at, read(src, t.dtype(), i)); });
  return out;
}

}  // namespace acnn::cuda
