#include "runtime/data/filters.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace acnn::data {

int border_index(int i, int n, Border b) {
  if (i >= 0 && i < n) return i;
  switch (b) {
    case Border::Nearest: return i < 0 ? 0 : n - 1;
    case Border::Reflect: {
      const int period = 2 * n;
      i %= period;
      if (i < 0) i += period;
      return i < n ? i : period - 1 - i;
    }
    case Border::Reflect101: {
      if (n == 1) return 0;
      const int period = 2 * (n - 1);
      i %= period;
      if (i < 0) i += period;
      return i < n ? i : period - i;
    }
  }
  return 0;
}

namespace {

std::vector<float> gaussian_kernel(double sigma, int r) {
  std::vector<float> k(2 * r + 1);
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[i + r] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)));
  for (auto& v : k) v = static_cast<float>(v / sum);
  return k;
}

// Convolves `n` samples spaced `stride` apart (each with C interleaved
// channels) with a symmetric kernel, in place.
void convolve_line(float* base, int n, size_t stride, int C, const std::vector<float>& k, int r, Border b,
                   std::vector<float>& ext, std::vector<float>& out) {
  ext.resize(static_cast<size_t>(n + 2 * r) * C);
  out.resize(static_cast<size_t>(n) * C);
  for (int i = -r; i < n + r; ++i) {
    const float* src = base + static_cast<size_t>(border_index(i, n, b)) * stride;
    for (int c = 0; c < C; ++c) ext[static_cast<size_t>(i + r) * C + c] = src[c];
  }
  for (int i = 0; i < n; ++i) {
    const float* e = &ext[static_cast<size_t>(i) * C];
    for (int c = 0; c < C; ++c) {
      float acc = 0;
      for (int j = 0; j <= 2 * r; ++j) acc += k[j] * e[static_cast<size_t>(j) * C + c];
      out[static_cast<size_t>(i) * C + c] = acc;
    }
  }
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < C; ++c) base[static_cast<size_t>(i) * stride + c] = out[static_cast<size_t>(i) * C + c];
}

float sample_clamped(const ImageF& img, double sx, double sy, int c) {
  const int W = img.width, H = img.height;
  sx = std::clamp(sx, 0.0, W - 1.0);
  sy = std::clamp(sy, 0.0, H - 1.0);
  const int x0 = static_cast<int>(sx), y0 = static_cast<int>(sy);
  const int x1 = std::min(x0 + 1, W - 1), y1 = std::min(y0 + 1, H - 1);
  const float ax = static_cast<float>(sx - x0), ay = static_cast<float>(sy - y0);
  const float top = img.at(y0, x0, c) * (1 - ax) + img.at(y0, x1, c) * ax;
  const float bot = img.at(y1, x0, c) * (1 - ax) + img.at(y1, x1, c) * ax;
  return top * (1 - ay) + bot * ay;
}

}  // namespace

void gaussian_blur(ImageF& img, double sigma, double truncate, Border border) {
  if (!(sigma > 0) || img.empty()) return;
  const int H = img.height, W = img.width, C = img.channels;
  const int r = std::min(static_cast<int>(std::ceil(truncate * sigma)), 2 * std::max(H, W));
  if (r < 1) return;
  const auto k = gaussian_kernel(sigma, r);
  std::vector<float> ext, out;
  for (int y = 0; y < H; ++y) convolve_line(img.row(y), W, C, C, k, r, border, ext, out);
  for (int x = 0; x < W; ++x)
    convolve_line(img.data() + static_cast<size_t>(x) * C, H, static_cast<size_t>(W) * C, C, k, r, border, ext, out);
}

void convolve2d(ImageF& img, const std::vector<float>& kernel, int k) {
  if (k % 2 == 0 || kernel.size() != static_cast<size_t>(k) * k) throw std::invalid_argument("convolve2d: bad kernel");
  const int H = img.height, W = img.width, C = img.channels, r = k / 2;
  ImageF out(H, W, C);
  std::vector<int> xi(static_cast<size_t>(W + 2 * r)), yi(static_cast<size_t>(H + 2 * r));
  for (int i = -r; i < W + r; ++i) xi[i + r] = border_index(i, W, Border::Reflect101);
  for (int i = -r; i < H + r; ++i) yi[i + r] = border_index(i, H, Border::Reflect101);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < C; ++c) {
        float acc = 0;
        for (int ky = 0; ky < k; ++ky) {
          const float* row = img.row(yi[y + ky]);
          const float* kr = &kernel[static_cast<size_t>(ky) * k];
          for (int kx = 0; kx < k; ++kx)
            if (kr[kx] != 0.0f) acc += kr[kx] * row[static_cast<size_t>(xi[x + kx]) * C + c];
        }
        out.at(y, x, c) = acc;
      }
  img = std::move(out);
}

void motion_blur(ImageF& img, int taps, double sigma, double angle_deg) {
  if (taps <= 1 || !(sigma > 0)) return;
  const double a = angle_deg * M_PI / 180.0;
  const double ux = std::cos(a), uy = -std::sin(a);
  std::vector<double> w(taps);
  double sum = 0;
  for (int i = 0; i < taps; ++i) sum += w[i] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (auto& v : w) v /= sum;
  ImageF out(img.height, img.width, img.channels);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      for (int c = 0; c < img.channels; ++c) {
        double acc = 0;
        for (int i = 0; i < taps; ++i) acc += w[i] * sample_clamped(img, x + i * ux, y + i * uy, c);
        out.at(y, x, c) = static_cast<float>(acc);
      }
  img = std::move(out);
}

ImageF clipped_zoom(const ImageF& img, double f) {
  if (f <= 1.0) return img;
  const double w = img.width / f, h = img.height / f;
  return resample(img, Box{(img.width - w) / 2, (img.height - h) / 2, w, h}, img.height, img.width, Filter::Bilinear,
                  false);
}

ImageF remap(const ImageF& img, const std::vector<float>& dx, const std::vector<float>& dy, Border border) {
  const int H = img.height, W = img.width, C = img.channels;
  ImageF out(H, W, C);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const size_t p = static_cast<size_t>(y) * W + x;
      const double sx = x + dx[p], sy = y + dy[p];
      const double fx = std::floor(sx), fy = std::floor(sy);
      const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
      const float ax = static_cast<float>(sx - fx), ay = static_cast<float>(sy - fy);
      const int xa = border_index(x0, W, border), xb = border_index(x0 + 1, W, border);
      const int ya = border_index(y0, H, border), yb = border_index(y0 + 1, H, border);
      for (int c = 0; c < C; ++c) {
        const float top = img.at(ya, xa, c) * (1 - ax) + img.at(ya, xb, c) * ax;
        const float bot = img.at(yb, xa, c) * (1 - ax) + img.at(yb, xb, c) * ax;
        out.at(y, x, c) = top * (1 - ay) + bot * ay;
      }
    }
  return out;
}

std::vector<float> plasma_fractal(int size, double decay, Rng& rng) {
  if (size < 2 || (size & (size - 1)) != 0) throw std::invalid_argument("plasma_fractal: size must be a power of two");
  std::vector<double> m(static_cast<size_t>(size) * size, 0.0);
  auto at = [&](int y, int x) -> double& {
    return m[static_cast<size_t>(((y % size) + size) % size) * size + ((x % size) + size) % size];
  };
  double wibble = 100.0;
  for (int step = size; step >= 2; step /= 2, wibble /= decay) {
    const int half = step / 2;
    auto noise = [&] { return wibble * rng.uniform(-wibble, wibble); };
    // Square step: the center of each square from its four corners.
    for (int y = 0; y < size; y += step)
      for (int x = 0; x < size; x += step)
        at(y + half, x + half) = (at(y, x) + at(y, x + step) + at(y + step, x) + at(y + step, x + step)) / 4 + noise();
    // Diamond step: edge midpoints from their four neighbors (wrapping).
    for (int y = 0; y < size; y += step)
      for (int x = 0; x < size; x += step) {
        at(y, x + half) = (at(y, x) + at(y, x + step) + at(y - half, x + half) + at(y + half, x + half)) / 4 + noise();
        at(y + half, x) = (at(y, x) + at(y + step, x) + at(y + half, x - half) + at(y + half, x + half)) / 4 + noise();
      }
  }
  const auto [lo, hi] = std::minmax_element(m.begin(), m.end());
  const double a = *lo, range = std::max(*hi - *lo, 1e-12);
  std::vector<float> out(m.size());
  for (size_t i = 0; i < m.size(); ++i) out[i] = static_cast<float>((m[i] - a) / range);
  return out;
}

namespace {

struct FrostCanvas {
  int H, W;
  std::vector<float>& t;
  void plot(double x, double y, float v) {
    const int ix = static_cast<int>(std::lround(x)), iy = static_cast<int>(std::lround(y));
    if (ix < 0 || iy < 0 || ix >= W || iy >= H) return;
    float& p = t[static_cast<size_t>(iy) * W + ix];
    p = std::max(p, v);
  }
  // A needle from (x, y) along `ang`, sprouting side needles at +-60 degrees.
  void branch(double x, double y, double ang, double len, float inten, int depth, Rng& rng) {
    const double gap = std::max(2.0, len / 5.0);
    double next_sprout = gap * rng.uniform(0.5, 1.0);
    for (double s = 0; s <= len; s += 0.5) {
      const double px = x + s * std::cos(ang), py = y - s * std::sin(ang);
      plot(px, py, inten * static_cast<float>(1.0 - 0.5 * s / len));
      if (depth < 2 && s >= next_sprout) {
        next_sprout += gap;
        const double sub = len * 0.35 * (1.0 - s / len) * rng.uniform(0.6, 1.2);
        if (sub >= 1.0)
          for (int side : {-1, 1}) {
            const double a2 = ang + side * M_PI / 3 + rng.uniform(-0.15, 0.15);
            branch(px, py, a2, sub, inten * 0.85f, depth + 1, rng);
          }
      }
    }
  }
};

}  // namespace

std::vector<float> frost_texture(int H, int W, Rng& rng) {
  const int S = std::max(H, W);
  int size = 2;
  while (size < S) size *= 2;
  // Faint haze: a smooth plasma at a quarter of full intensity.
  std::vector<float> plasma = plasma_fractal(size, 1.8, rng);
  std::vector<float> t(static_cast<size_t>(H) * W);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) t[static_cast<size_t>(y) * W + x] = 0.25f * plasma[static_cast<size_t>(y) * size + x];
  // Ice crystals: six-fold dendrites from random nuclei.
  FrostCanvas canvas{H, W, t};
  const int nuclei = std::max(4, H * W / 1500);
  for (int n = 0; n < nuclei; ++n) {
    const double cx = rng.uniform(0, W), cy = rng.uniform(0, H);
    const double a0 = rng.uniform(0, M_PI / 3);
    const double len = std::max(3.0, rng.uniform(0.06, 0.18) * S);
    const float inten = static_cast<float>(rng.uniform(0.55, 1.0));
    for (int k = 0; k < 6; ++k) canvas.branch(cx, cy, a0 + k * M_PI / 3, len, inten, 0, rng);
  }
  ImageF img(H, W, 1);
  img.pixels = std::move(t);
  gaussian_blur(img, std::max(0.5, S / 400.0), 3.0, Border::Reflect);
  for (auto& v : img.pixels) v = std::clamp(v + static_cast<float>(rng.uniform(-0.03, 0.03)), 0.0f, 1.0f);
  return std::move(img.pixels);
}

}  // namespace acnn::data
