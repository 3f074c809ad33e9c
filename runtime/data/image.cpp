#include "runtime/data/image.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <memory>
#include <stdexcept>

namespace acnn::data {
namespace {

// Filter taps of one axis: output i reads count[i] consecutive source pixels
// from start[i] with weights w[i * stride ...].
struct Taps {
  std::vector<int> start, count;
  std::vector<float> w;
  int stride = 0;
};

Taps compute_taps(int n_in, double s0, double len, int n_out, Filter f, bool antialias) {
  Taps t;
  t.start.resize(n_out);
  t.count.resize(n_out);
  const double scale = len / n_out;
  const double fs = (antialias && scale > 1.0) ? scale : 1.0;
  double support = f == Filter::Bilinear ? fs : f == Filter::Area ? 0.5 * std::max(scale, 1.0) : 0.5;
  if (f == Filter::Area && !antialias) support = 0.5;
  t.stride = f == Filter::Nearest ? 1 : static_cast<int>(std::ceil(support)) * 2 + 2;
  t.w.assign(static_cast<size_t>(n_out) * t.stride, 0.0f);
  for (int i = 0; i < n_out; ++i) {
    const double c = s0 + (i + 0.5) * scale;
    float* w = &t.w[static_cast<size_t>(i) * t.stride];
    if (f == Filter::Nearest) {
      t.start[i] = std::clamp(static_cast<int>(std::floor(c)), 0, n_in - 1);
      t.count[i] = 1;
      w[0] = 1.0f;
      continue;
    }
    int lo = std::max(0, static_cast<int>(std::floor(c - support)));
    int hi = std::min(n_in - 1, static_cast<int>(std::ceil(c + support)));
    if (hi - lo + 1 > t.stride) {  // numeric edge: keep the central taps
      int extra = hi - lo + 1 - t.stride;
      lo += extra / 2;
      hi = lo + t.stride - 1;
    }
    double total = 0;
    int n = 0;
    for (int j = lo; j <= hi; ++j, ++n) {
      double v;
      if (f == Filter::Bilinear) {
        v = std::max(0.0, 1.0 - std::abs(j + 0.5 - c) / fs);
      } else {  // area: overlap of [j, j+1) with [c - support, c + support)
        v = std::max(0.0, std::min<double>(j + 1, c + support) - std::max<double>(j, c - support));
      }
      w[n] = static_cast<float>(v);
      total += v;
    }
    if (!(total > 0)) {  // box entirely off the image: nearest edge pixel
      t.start[i] = std::clamp(static_cast<int>(std::floor(c)), 0, n_in - 1);
      t.count[i] = 1;
      w[0] = 1.0f;
      continue;
    }
    // Trim zero-weight taps at both ends, then normalize.
    int a = 0, b = n;
    while (a < b && w[a] == 0.0f) ++a;
    while (b > a && w[b - 1] == 0.0f) --b;
    for (int k = a; k < b; ++k) w[k - a] = static_cast<float>(w[k] / total);
    for (int k = b - a; k < t.stride; ++k) w[k] = 0.0f;
    t.start[i] = lo + a;
    t.count[i] = b - a;
  }
  return t;
}

template <class T>
inline T store(float v);
template <>
inline uint8_t store<uint8_t>(float v) {
  v = std::round(v);
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}
template <>
inline float store<float>(float v) { return v; }

// Row kernels of the vertical pass; `omp simd` vectorizes them at -O2.
void scale_row(float* __restrict out, const float* __restrict in, float w, size_t n) {
#pragma omp simd
  for (size_t i = 0; i < n; ++i) out[i] = w * in[i];
}
void axpy_row(float* __restrict acc, const float* __restrict in, float w, size_t n) {
#pragma omp simd
  for (size_t i = 0; i < n; ++i) acc[i] += w * in[i];
}
void store_row(uint8_t* __restrict out, const float* __restrict in, size_t n) {
#pragma omp simd
  for (size_t i = 0; i < n; ++i) {
    const float v = std::min(std::max(in[i], 0.0f), 255.0f) + 0.5f;  // round half up
    out[i] = static_cast<uint8_t>(static_cast<int>(v));
  }
}
void store_row(float* __restrict out, const float* __restrict in, size_t n) { std::copy_n(in, n, out); }
void widen_row(float* __restrict out, const uint8_t* __restrict in, size_t n) {
#pragma omp simd
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]);
}
void widen_row(float* __restrict out, const float* __restrict in, size_t n) { std::copy_n(in, n, out); }

template <class T>
ImageT<T> resample_impl(const ImageT<T>& img, Box src, int out_h, int out_w, Filter f, bool aa) {
  if (img.empty()) throw std::invalid_argument("resample: empty image");
  if (out_h <= 0 || out_w <= 0) throw std::invalid_argument("resample: output size must be positive");
  if (!(src.w > 0 && src.h > 0)) throw std::invalid_argument("resample: empty source box");
  const int C = img.channels;
  Taps tx = compute_taps(img.width, src.x, src.w, out_w, f, aa);
  Taps ty = compute_taps(img.height, src.y, src.h, out_h, f, aa);
  int y0 = img.height, y1 = 0;
  for (int i = 0; i < out_h; ++i) {
    y0 = std::min(y0, ty.start[i]);
    y1 = std::max(y1, ty.start[i] + ty.count[i]);
  }
  int x0 = img.width, x1 = 0;
  for (int i = 0; i < out_w; ++i) {
    x0 = std::min(x0, tx.start[i]);
    x1 = std::max(x1, tx.start[i] + tx.count[i]);
  }
  // Horizontal pass over the rows (and columns) the output needs; each row
  // is first widened to float (vectorized) so the tap loops do no conversions.
  const int rows = y1 - y0;
  const size_t span = static_cast<size_t>(x1 - x0) * C;
  std::unique_ptr<float[]> tmp(new float[static_cast<size_t>(rows) * out_w * C]);  // uninitialized
  std::unique_ptr<float[]> line(new float[span]);
  for (int r = 0; r < rows; ++r) {
    widen_row(line.get(), img.row(y0 + r) + static_cast<size_t>(x0) * C, span);
    const float* in = line.get() - static_cast<ptrdiff_t>(x0) * C;
    float* out = &tmp[static_cast<size_t>(r) * out_w * C];
    for (int x = 0; x < out_w; ++x) {
      const float* w = &tx.w[static_cast<size_t>(x) * tx.stride];
      const float* p = in + static_cast<size_t>(tx.start[x]) * C;
      const int n = tx.count[x];
      if (C == 3) {
        float a = 0, b = 0, c = 0;
        for (int k = 0; k < n; ++k) {
          a += w[k] * p[3 * k];
          b += w[k] * p[3 * k + 1];
          c += w[k] * p[3 * k + 2];
        }
        out[3 * x] = a;
        out[3 * x + 1] = b;
        out[3 * x + 2] = c;
      } else {
        for (int ch = 0; ch < C; ++ch) {
          float a = 0;
          for (int k = 0; k < n; ++k) a += w[k] * p[k * C + ch];
          out[x * C + ch] = a;
        }
      }
    }
  }
  ImageT<T> res(out_h, out_w, C);
  const size_t rowlen = static_cast<size_t>(out_w) * C;
  std::vector<float> acc(rowlen);
  for (int y = 0; y < out_h; ++y) {
    const float* w = &ty.w[static_cast<size_t>(y) * ty.stride];
    const float* first = &tmp[static_cast<size_t>(ty.start[y] - y0) * rowlen];
    scale_row(acc.data(), first, w[0], rowlen);
    for (int k = 1; k < ty.count[y]; ++k)
      axpy_row(acc.data(), &tmp[static_cast<size_t>(ty.start[y] - y0 + k) * rowlen], w[k], rowlen);
    store_row(res.row(y), acc.data(), rowlen);
  }
  return res;
}

template <class T>
ImageT<T> crop_impl(const ImageT<T>& img, int y, int x, int h, int w) {
  if (y < 0 || x < 0 || h <= 0 || w <= 0 || y + h > img.height || x + w > img.width)
    throw std::invalid_argument("crop: rectangle " + std::to_string(h) + "x" + std::to_string(w) + " at (" +
                                std::to_string(y) + ", " + std::to_string(x) + ") outside a " +
                                std::to_string(img.height) + "x" + std::to_string(img.width) + " image");
  ImageT<T> out(h, w, img.channels);
  const size_t len = static_cast<size_t>(w) * img.channels;
  for (int r = 0; r < h; ++r)
    std::copy_n(img.row(y + r) + static_cast<size_t>(x) * img.channels, len, out.row(r));
  return out;
}

int reflect_index(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

template <class T, class FillFn>
ImageT<T> warp_impl(const ImageT<T>& img, const double m[6], Interp interp, FillFn fill) {
  const int H = img.height, W = img.width, C = img.channels;
  ImageT<T> out(H, W, C);
  for (int y = 0; y < H; ++y) {
    T* o = out.row(y);
    for (int x = 0; x < W; ++x, o += C) {
      const double sx = m[0] * x + m[1] * y + m[2];
      const double sy = m[3] * x + m[4] * y + m[5];
      if (interp == Interp::Nearest) {
        const int ix = static_cast<int>(std::floor(sx + 0.5));
        const int iy = static_cast<int>(std::floor(sy + 0.5));
        if (ix >= 0 && ix < W && iy >= 0 && iy < H) {
          const T* p = &img.pixels[(static_cast<size_t>(iy) * W + ix) * C];
          for (int c = 0; c < C; ++c) o[c] = p[c];
        } else {
          for (int c = 0; c < C; ++c) o[c] = fill(c);
        }
        continue;
      }
      const double fx = std::floor(sx), fy = std::floor(sy);
      const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
      const float ax = static_cast<float>(sx - fx), ay = static_cast<float>(sy - fy);
      if (x0 < -1 || x0 >= W || y0 < -1 || y0 >= H) {
        for (int c = 0; c < C; ++c) o[c] = fill(c);
        continue;
      }
      for (int c = 0; c < C; ++c) {
        auto px = [&](int yy, int xx) -> float {
          if (xx < 0 || xx >= W || yy < 0 || yy >= H) return static_cast<float>(fill(c));
          return static_cast<float>(img.pixels[(static_cast<size_t>(yy) * W + xx) * C + c]);
        };
        float top = px(y0, x0) * (1 - ax) + px(y0, x0 + 1) * ax;
        float bot = px(y0 + 1, x0) * (1 - ax) + px(y0 + 1, x0 + 1) * ax;
        o[c] = store<T>(top * (1 - ay) + bot * ay);
      }
    }
  }
  return out;
}

}  // namespace

Image resample(const Image& img, Box src, int out_h, int out_w, Filter f, bool antialias) {
  return resample_impl(img, src, out_h, out_w, f, antialias);
}
ImageF resample(const ImageF& img, Box src, int out_h, int out_w, Filter f, bool antialias) {
  return resample_impl(img, src, out_h, out_w, f, antialias);
}
Image resize(const Image& img, int out_h, int out_w, Filter f, bool antialias) {
  return resample_impl(img, Box{0, 0, double(img.width), double(img.height)}, out_h, out_w, f, antialias);
}
ImageF resize(const ImageF& img, int out_h, int out_w, Filter f, bool antialias) {
  return resample_impl(img, Box{0, 0, double(img.width), double(img.height)}, out_h, out_w, f, antialias);
}

Image crop(const Image& img, int y, int x, int h, int w) { return crop_impl(img, y, x, h, w); }
ImageF crop(const ImageF& img, int y, int x, int h, int w) { return crop_impl(img, y, x, h, w); }

Image pad(const Image& img, int top, int bottom, int left, int right, PadMode mode, uint8_t value) {
  if (top < 0 || bottom < 0 || left < 0 || right < 0) throw std::invalid_argument("pad: negative padding");
  const int H = img.height, W = img.width, C = img.channels;
  Image out(H + top + bottom, W + left + right, C, value);
  for (int y = 0; y < out.height; ++y) {
    int sy = y - top;
    if (mode == PadMode::Constant && (sy < 0 || sy >= H)) continue;
    if (mode == PadMode::Edge) sy = std::clamp(sy, 0, H - 1);
    if (mode == PadMode::Reflect) sy = reflect_index(sy, H);
    uint8_t* o = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      int sx = x - left;
      if (mode == PadMode::Constant && (sx < 0 || sx >= W)) continue;
      if (mode == PadMode::Edge) sx = std::clamp(sx, 0, W - 1);
      if (mode == PadMode::Reflect) sx = reflect_index(sx, W);
      const uint8_t* p = img.row(sy) + static_cast<size_t>(sx) * C;
      for (int c = 0; c < C; ++c) o[x * C + c] = p[c];
    }
  }
  return out;
}

void flip_horizontal(Image& img) {
  const int W = img.width, C = img.channels;
  for (int y = 0; y < img.height; ++y) {
    uint8_t* r = img.row(y);
    for (int a = 0, b = W - 1; a < b; ++a, --b)
      for (int c = 0; c < C; ++c) std::swap(r[a * C + c], r[b * C + c]);
  }
}

void flip_vertical(Image& img) {
  const size_t len = static_cast<size_t>(img.width) * img.channels;
  for (int a = 0, b = img.height - 1; a < b; ++a, --b) std::swap_ranges(img.row(a), img.row(a) + len, img.row(b));
}

Image rotate90(const Image& img, int k) {
  k = ((k % 4) + 4) % 4;
  if (k == 0) return img;
  const int H = img.height, W = img.width, C = img.channels;
  Image out = (k == 2) ? Image(H, W, C) : Image(W, H, C);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      int oy, ox;
      if (k == 1) { oy = W - 1 - x; ox = y; }          // counter-clockwise
      else if (k == 2) { oy = H - 1 - y; ox = W - 1 - x; }
      else { oy = x; ox = H - 1 - y; }
      for (int c = 0; c < C; ++c) out.at(oy, ox, c) = img.at(y, x, c);
    }
  return out;
}

Image warp_affine(const Image& img, const double m[6], Interp interp, const std::vector<uint8_t>& fill) {
  auto f = [&](int c) -> uint8_t { return fill.empty() ? 0 : fill[std::min<size_t>(c, fill.size() - 1)]; };
  return warp_impl(img, m, interp, f);
}
ImageF warp_affine(const ImageF& img, const double m[6], Interp interp, float fill) {
  return warp_impl(img, m, interp, [&](int) { return fill; });
}

Image to_gray(const Image& img) {
  if (img.channels == 1) return img;
  if (img.channels != 3) throw std::invalid_argument("to_gray: expects 1 or 3 channels, got " + describe(img));
  Image out(img.height, img.width, 1);
  const size_t n = static_cast<size_t>(img.height) * img.width;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &img.pixels[3 * i];
    // Fixed-point 0.299, 0.587, 0.114 (x 2^16), rounded.
    out.pixels[i] = static_cast<uint8_t>((19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 32768u) >> 16);
  }
  return out;
}

Image to_rgb(const Image& img) {
  if (img.channels == 3) return img;
  if (img.channels != 1) throw std::invalid_argument("to_rgb: expects 1 or 3 channels, got " + describe(img));
  Image out(img.height, img.width, 3);
  const size_t n = static_cast<size_t>(img.height) * img.width;
  for (size_t i = 0; i < n; ++i) out.pixels[3 * i] = out.pixels[3 * i + 1] = out.pixels[3 * i + 2] = img.pixels[i];
  return out;
}

Image to_channels(const Image& img, int channels) {
  if (channels == img.channels || channels == 0) return img;
  return channels == 1 ? to_gray(img) : to_rgb(img);
}

ImageF to_float(const Image& img) {
  ImageF out(img.height, img.width, img.channels);
  for (size_t i = 0; i < img.size(); ++i) out.pixels[i] = img.pixels[i] * (1.0f / 255.0f);
  return out;
}

Image to_uint8(const ImageF& img) {
  Image out(img.height, img.width, img.channels);
  for (size_t i = 0; i < img.size(); ++i) {
    float v = img.pixels[i];
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    out.pixels[i] = static_cast<uint8_t>(std::lround(v * 255.0f));
  }
  return out;
}

void normalize_chw(const Image& img, const float* mean, const float* stddev, float* dst) {
  const int C = img.channels;
  if (C < 1 || C > 3) throw std::invalid_argument("normalize_chw: expects 1 to 3 channels, got " + describe(img));
  const size_t plane = static_cast<size_t>(img.height) * img.width;
  float lut[3][256];
  for (int c = 0; c < C; ++c) {
    const float a = 1.0f / (255.0f * stddev[c]), b = -mean[c] / stddev[c];
    for (int v = 0; v < 256; ++v) lut[c][v] = v * a + b;
  }
  if (C == 1) {
    for (size_t i = 0; i < plane; ++i) dst[i] = lut[0][img.pixels[i]];
    return;
  }
  for (size_t i = 0; i < plane; ++i)
    for (int c = 0; c < C; ++c) dst[c * plane + i] = lut[c][img.pixels[i * C + c]];
}

std::string describe(const Image& img) {
  return std::to_string(img.height) + "x" + std::to_string(img.width) + "x" + std::to_string(img.channels);
}

}  // namespace acnn::data
