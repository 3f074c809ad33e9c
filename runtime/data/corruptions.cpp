#include "runtime/data/corruptions.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "runtime/data/codec.h"
#include "runtime/data/filters.h"

namespace acnn::data {
namespace {

// Which published table applies and how spatial parameters scale with size.
struct Regime {
  bool large;    // ImageNet-C table (else CIFAR-10-C)
  double s;      // shorter side / table's base size (224 or 32)
  int side;      // shorter side
};

Regime regime_of(const Image& img) {
  const int m = std::min(img.height, img.width);
  if (m >= 128) return {true, m / 224.0, m};
  return {false, std::max(1.0, m / 32.0), m};  // 28x28 uses CIFAR-10-C's values as is
}

template <class T>
const T& pick(const Regime& r, const T (&large)[5], const T (&small)[5], int severity) {
  return r.large ? large[severity - 1] : small[severity - 1];
}

void clip01(ImageF& x) {
  for (auto& v : x.pixels) v = std::clamp(v, 0.0f, 1.0f);
}

// ---------------------------------------------------------------- noise
void gaussian_noise(ImageF& x, double c, Rng& rng) {
  for (auto& v : x.pixels) v += static_cast<float>(rng.normal() * c);
}

void shot_noise(ImageF& x, double c, Rng& rng) {
  for (auto& v : x.pixels) v = static_cast<float>(rng.poisson(std::max(0.0f, v) * c) / c);
}

void impulse_noise(ImageF& x, double amount, Rng& rng) {
  for (auto& v : x.pixels)
    if (rng.uniform() < amount) v = rng.bernoulli(0.5) ? 1.0f : 0.0f;
}

// ---------------------------------------------------------------- blur
void defocus_blur(ImageF& x, double radius, double alias_sigma) {
  const int ks = radius <= 8 ? 3 : 5;  // anti-alias Gaussian size, as published
  const int h = static_cast<int>(std::ceil(radius)) + ks / 2;
  const int k = 2 * h + 1;
  std::vector<float> disk(static_cast<size_t>(k) * k, 0.0f);
  for (int y = -h; y <= h; ++y)
    for (int xx = -h; xx <= h; ++xx)
      if (xx * xx + y * y <= radius * radius) disk[static_cast<size_t>(y + h) * k + xx + h] = 1.0f;
  // Soften the disk edge with a small Gaussian, then normalize.
  std::vector<float> g(ks);
  for (int i = 0; i < ks; ++i) {
    const double d = i - ks / 2;
    g[i] = static_cast<float>(std::exp(-0.5 * d * d / (alias_sigma * alias_sigma)));
  }
  std::vector<float> kern(disk.size(), 0.0f);
  double sum = 0;
  for (int y = 0; y < k; ++y)
    for (int xx = 0; xx < k; ++xx) {
      double acc = 0;
      for (int a = 0; a < ks; ++a)
        for (int b = 0; b < ks; ++b) {
          const int yy = y + a - ks / 2, xb = xx + b - ks / 2;
          if (yy >= 0 && yy < k && xb >= 0 && xb < k) acc += g[a] * g[b] * disk[static_cast<size_t>(yy) * k + xb];
        }
      kern[static_cast<size_t>(y) * k + xx] = static_cast<float>(acc);
      sum += acc;
    }
  for (auto& v : kern) v = static_cast<float>(v / sum);
  convolve2d(x, kern, k);
}

void glass_blur(ImageF& x, double sigma, int max_delta, int iterations, Rng& rng) {
  gaussian_blur(x, sigma, 4.0, Border::Nearest);
  Image q = to_uint8(x);
  const int H = q.height, W = q.width, C = q.channels;
  // Locally shuffle pixels: swap each with a random neighbor within max_delta.
  for (int it = 0; it < iterations; ++it)
    for (int h = H - max_delta; h > max_delta; --h)
      for (int w = W - max_delta; w > max_delta; --w) {
        const int dx = static_cast<int>(rng.randint(-max_delta, max_delta));
        const int dy = static_cast<int>(rng.randint(-max_delta, max_delta));
        const int h2 = std::clamp(h + dy, 0, H - 1), w2 = std::clamp(w + dx, 0, W - 1);
        const int h1 = std::min(h, H - 1), w1 = std::min(w, W - 1);
        for (int c = 0; c < C; ++c) std::swap(q.at(h1, w1, c), q.at(h2, w2, c));
      }
  x = to_float(q);
  gaussian_blur(x, sigma, 4.0, Border::Nearest);
}

int motion_taps(double radius) { return 2 * static_cast<int>(std::ceil(radius)) + 1; }

void zoom_blur(ImageF& x, double stop, double step) {
  ImageF acc = x;
  int n = 1;
  for (int k = 0; 1.0 + k * step < stop - 1e-9; ++k, ++n) {
    ImageF z = clipped_zoom(x, 1.0 + k * step);
    for (size_t i = 0; i < acc.size(); ++i) acc.pixels[i] += z.pixels[i];
  }
  for (auto& v : acc.pixels) v /= static_cast<float>(n);
  x = std::move(acc);
}

// ---------------------------------------------------------------- weather
struct SnowParams {
  double loc, scale, zoom, threshold, radius, sigma, blend;
};

void snow(ImageF& x, const SnowParams& p, double s, Rng& rng) {
  const int H = x.height, W = x.width, C = x.channels;
  ImageF layer(H, W, 1);
  for (auto& v : layer.pixels) v = static_cast<float>(rng.normal(p.loc, p.scale));
  layer = clipped_zoom(layer, p.zoom);
  for (auto& v : layer.pixels) v = v < p.threshold ? 0.0f : std::min(v, 1.0f);
  motion_blur(layer, motion_taps(p.radius * s), p.sigma * s, rng.uniform(-135, -45));
  for (int y = 0; y < H; ++y)
    for (int xx = 0; xx < W; ++xx) {
      float* px = &x.at(y, xx, 0);
      float gray = C == 3 ? 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2] : px[0];
      const float flake = layer.at(y, xx) + layer.at(H - 1 - y, W - 1 - xx);
      for (int c = 0; c < C; ++c) {
        const float v = static_cast<float>(p.blend * px[c] + (1 - p.blend) * std::max(px[c], gray * 1.5f + 0.5f));
        px[c] = v + flake;
      }
    }
}

void frost(ImageF& x, double keep, double amount, Rng& rng) {
  const std::vector<float> tex = frost_texture(x.height, x.width, rng);
  static const float tint[3] = {0.88f, 0.94f, 1.0f};  // ice is faintly blue
  const int C = x.channels;
  for (size_t i = 0; i < tex.size(); ++i)
    for (int c = 0; c < C; ++c) {
      float& v = x.pixels[i * C + c];
      v = static_cast<float>(keep * v + amount * tex[i] * (C == 3 ? tint[c] : 1.0f));
    }
}

void fog(ImageF& x, double amount, double decay, Rng& rng) {
  float max_val = 0;
  for (float v : x.pixels) max_val = std::max(max_val, v);
  int size = 2;
  while (size < std::max(x.height, x.width)) size *= 2;
  const std::vector<float> p = plasma_fractal(size, decay, rng);
  const int C = x.channels;
  const float scale = static_cast<float>(max_val / (max_val + amount));
  for (int y = 0; y < x.height; ++y)
    for (int xx = 0; xx < x.width; ++xx)
      for (int c = 0; c < C; ++c) {
        float& v = x.at(y, xx, c);
        v = (v + static_cast<float>(amount) * p[static_cast<size_t>(y) * size + xx]) * scale;
      }
}

// ---------------------------------------------------------------- digital
void brightness(ImageF& x, double c) {
  if (x.channels != 3) {
    for (auto& v : x.pixels) v += static_cast<float>(c);
    return;
  }
  // HSV value + c with hue and saturation kept: RGB scales with V.
  const size_t n = static_cast<size_t>(x.height) * x.width;
  for (size_t i = 0; i < n; ++i) {
    float* p = &x.pixels[3 * i];
    const float v = std::max({p[0], p[1], p[2]});
    const float v2 = std::clamp(v + static_cast<float>(c), 0.0f, 1.0f);
    if (v > 0)
      for (int k = 0; k < 3; ++k) p[k] *= v2 / v;
    else
      p[0] = p[1] = p[2] = v2;
  }
}

void contrast(ImageF& x, double c) {
  const int C = x.channels;
  const size_t n = static_cast<size_t>(x.height) * x.width;
  for (int ch = 0; ch < C; ++ch) {
    double mean = 0;
    for (size_t i = 0; i < n; ++i) mean += x.pixels[i * C + ch];
    mean /= static_cast<double>(n);
    for (size_t i = 0; i < n; ++i) {
      float& v = x.pixels[i * C + ch];
      v = static_cast<float>((v - mean) * c + mean);
    }
  }
}

// Solves the affine map sending the three points `from` to `to`.
void affine_from_points(const double from[3][2], const double to[3][2], double m[6]) {
  // [x y 1] * [a b; c d; e f] = [x' y'] for three points: Cramer's rule.
  const double x1 = from[0][0], y1 = from[0][1], x2 = from[1][0], y2 = from[1][1], x3 = from[2][0], y3 = from[2][1];
  const double det = x1 * (y2 - y3) - y1 * (x2 - x3) + (x2 * y3 - x3 * y2);
  for (int k = 0; k < 2; ++k) {
    const double u1 = to[0][k], u2 = to[1][k], u3 = to[2][k];
    const double a = (u1 * (y2 - y3) - y1 * (u2 - u3) + (u2 * y3 - u3 * y2)) / det;
    const double b = (x1 * (u2 - u3) - u1 * (x2 - x3) + (x2 * u3 - x3 * u2)) / det;
    const double c = (x1 * (y2 * u3 - y3 * u2) - y1 * (x2 * u3 - x3 * u2) + u1 * (x2 * y3 - x3 * y2)) / det;
    m[3 * k] = a;
    m[3 * k + 1] = b;
    m[3 * k + 2] = c;
  }
}

void elastic(ImageF& x, double alpha, double sigma, double affine, Rng& rng) {
  const int H = x.height, W = x.width;
  const size_t n = static_cast<size_t>(H) * W;
  std::vector<float> dx(n), dy(n);
  // Random affine: jitter three points around the center by up to `affine`.
  const double cx = W / 2, cy = H / 2, sq = std::min(H, W) / 3;
  const double out_pts[3][2] = {{cx + sq, cy + sq}, {cx + sq, cy - sq}, {cx - sq, cy - sq}};
  double in_pts[3][2];
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 2; ++k) in_pts[i][k] = out_pts[i][k] + rng.uniform(-affine, affine);
  double m[6];  // output point -> input point
  affine_from_points(out_pts, in_pts, m);
  for (int y = 0; y < H; ++y)
    for (int xx = 0; xx < W; ++xx) {
      dx[static_cast<size_t>(y) * W + xx] = static_cast<float>(m[0] * xx + m[1] * y + m[2] - xx);
      dy[static_cast<size_t>(y) * W + xx] = static_cast<float>(m[3] * xx + m[4] * y + m[5] - y);
    }
  x = remap(x, dx, dy, Border::Reflect101);
  // Smooth random displacement field.
  ImageF fx(H, W, 1), fy(H, W, 1);
  for (auto& v : fx.pixels) v = static_cast<float>(rng.uniform(-1, 1));
  for (auto& v : fy.pixels) v = static_cast<float>(rng.uniform(-1, 1));
  gaussian_blur(fx, sigma, 3.0, Border::Reflect);
  gaussian_blur(fy, sigma, 3.0, Border::Reflect);
  for (size_t i = 0; i < n; ++i) {
    dx[i] = static_cast<float>(fx.pixels[i] * alpha);
    dy[i] = static_cast<float>(fy.pixels[i] * alpha);
  }
  x = remap(x, dx, dy, Border::Reflect);
}

// ---------------------------------------------------------------- tables
// ImageNet-C (large) and CIFAR-10-C (small) parameters by severity.
constexpr double kGaussL[5] = {.08, .12, .18, .26, .38}, kGaussS[5] = {.04, .06, .08, .09, .10};
constexpr double kShotL[5] = {60, 25, 12, 5, 3}, kShotS[5] = {500, 250, 100, 75, 50};
constexpr double kImpulseL[5] = {.03, .06, .09, .17, .27}, kImpulseS[5] = {.01, .02, .03, .05, .07};
struct P2 {
  double a, b;
};
struct P3 {
  double a, b, c;
};
constexpr P2 kDefocusL[5] = {{3, .1}, {4, .5}, {6, .5}, {8, .5}, {10, .5}};
constexpr P2 kDefocusS[5] = {{.3, .4}, {.4, .5}, {.5, .6}, {1, .2}, {1.5, .1}};
constexpr P3 kGlassL[5] = {{.7, 1, 2}, {.9, 2, 1}, {1, 2, 3}, {1.1, 3, 2}, {1.5, 4, 2}};
constexpr P3 kGlassS[5] = {{.05, 1, 1}, {.25, 1, 1}, {.4, 1, 1}, {.25, 1, 2}, {.4, 1, 2}};
constexpr P2 kMotionL[5] = {{10, 3}, {15, 5}, {15, 8}, {15, 12}, {20, 15}};
constexpr P2 kMotionS[5] = {{10, 1}, {10, 1.5}, {10, 2}, {10, 2.5}, {12, 3}};
constexpr P2 kZoomL[5] = {{1.11, .01}, {1.16, .01}, {1.21, .02}, {1.26, .02}, {1.31, .03}};  // (stop, step)
constexpr P2 kZoomS[5] = {{1.06, .01}, {1.11, .01}, {1.16, .01}, {1.21, .01}, {1.26, .01}};
constexpr SnowParams kSnowL[5] = {{.1, .3, 3, .5, 10, 4, .8},
                                  {.2, .3, 2, .5, 12, 4, .7},
                                  {.55, .3, 4, .9, 12, 8, .7},
                                  {.55, .3, 4.5, .85, 12, 8, .65},
                                  {.55, .3, 2.5, .85, 12, 12, .55}};
constexpr SnowParams kSnowS[5] = {{.1, .2, 1, .6, 8, 3, .95},
                                  {.1, .2, 1, .5, 10, 4, .9},
                                  {.15, .3, 1.75, .55, 10, 4, .9},
                                  {.25, .3, 2.25, .6, 12, 6, .85},
                                  {.3, .3, 1.25, .65, 14, 12, .8}};
constexpr P2 kFrostL[5] = {{1, .4}, {.8, .6}, {.7, .7}, {.65, .7}, {.6, .75}};
constexpr P2 kFrostS[5] = {{1, .2}, {1, .3}, {.9, .4}, {.85, .4}, {.75, .45}};
constexpr P2 kFogL[5] = {{1.5, 2}, {2, 2}, {2.5, 1.7}, {2.5, 1.5}, {3, 1.4}};
constexpr P2 kFogS[5] = {{.2, 3}, {.5, 3}, {.75, 2.5}, {1, 2}, {1.5, 1.75}};
constexpr double kBrightL[5] = {.1, .2, .3, .4, .5}, kBrightS[5] = {.05, .1, .15, .2, .3};
constexpr double kContrastL[5] = {.4, .3, .2, .1, .05}, kContrastS[5] = {.75, .5, .4, .3, .15};
// Elastic (alpha, sigma, affine) as fractions of the base size: 244 at 224
// pixels for ImageNet-C (sic, as published), the image size for CIFAR-10-C.
constexpr P3 kElasticL[5] = {{2, .7, .1}, {2, .08, .2}, {.05, .01, .02}, {.07, .01, .02}, {.12, .01, .02}};
constexpr P3 kElasticS[5] = {{0, 0, .08}, {.05, .2, .07}, {.08, .06, .06}, {.1, .04, .05}, {.1, .03, .03}};
constexpr double kPixelL[5] = {.6, .5, .4, .3, .25}, kPixelS[5] = {.95, .9, .85, .75, .65};
constexpr double kJpegL[5] = {25, 18, 15, 10, 7}, kJpegS[5] = {80, 65, 58, 50, 40};

const char* kNames[kCorruptionCount] = {"gaussian_noise", "shot_noise",   "impulse_noise", "defocus_blur",
                                        "glass_blur",     "motion_blur",  "zoom_blur",     "snow",
                                        "frost",          "fog",          "brightness",    "contrast",
                                        "elastic_transform", "pixelate", "jpeg_compression"};

}  // namespace

const std::array<Corruption, kCorruptionCount>& all_corruptions() {
  static const std::array<Corruption, kCorruptionCount> all = [] {
    std::array<Corruption, kCorruptionCount> a{};
    for (int i = 0; i < kCorruptionCount; ++i) a[i] = static_cast<Corruption>(i);
    return a;
  }();
  return all;
}

const char* corruption_name(Corruption c) { return kNames[static_cast<int>(c)]; }

Corruption corruption_by_name(const std::string& name) {
  for (int i = 0; i < kCorruptionCount; ++i)
    if (name == kNames[i]) return static_cast<Corruption>(i);
  std::string known;
  for (int i = 0; i < kCorruptionCount; ++i) known += (i ? ", " : "") + std::string(kNames[i]);
  throw std::invalid_argument("unknown corruption '" + name + "' (known: " + known + ")");
}

const char* corruption_category(Corruption c) {
  const int i = static_cast<int>(c);
  return i < 3 ? "noise" : i < 7 ? "blur" : i < 10 ? "weather" : "digital";
}

std::string Corrupt::describe() const {
  return std::string("corrupt(") + corruption_name(c_) + ", " + std::to_string(severity_) + ")";
}

Image corrupt(const Image& img, Corruption c, int severity, uint64_t seed) {
  Rng rng(seed, 0, kStreamCorrupt, static_cast<uint64_t>(c) * 8 + severity);
  return corrupt(img, c, severity, rng);
}

Image corrupt(const Image& img, Corruption c, int sev, Rng& rng) {
  if (sev == 0) return img;
  if (sev < 1 || sev > 5) throw std::invalid_argument("corruption severity must be 1..5, got " + std::to_string(sev));
  if (img.empty()) throw std::invalid_argument("corrupt: empty image");
  const Regime r = regime_of(img);
  if (c == Corruption::JpegCompression) {
    const int q = static_cast<int>(pick(r, kJpegL, kJpegS, sev));
    const std::vector<uint8_t> bytes = encode_jpeg(img, q);
    return decode_image(bytes.data(), bytes.size(), img.channels);
  }
  if (c == Corruption::Pixelate) {
    const double f = pick(r, kPixelL, kPixelS, sev);
    const int h = std::max(1, static_cast<int>(img.height * f)), w = std::max(1, static_cast<int>(img.width * f));
    return resize(resize(img, h, w, Filter::Area), img.height, img.width, Filter::Nearest);
  }
  ImageF x = to_float(img);
  switch (c) {
    case Corruption::GaussianNoise: gaussian_noise(x, pick(r, kGaussL, kGaussS, sev), rng); break;
    case Corruption::ShotNoise: shot_noise(x, pick(r, kShotL, kShotS, sev), rng); break;
    case Corruption::ImpulseNoise: impulse_noise(x, pick(r, kImpulseL, kImpulseS, sev), rng); break;
    case Corruption::DefocusBlur: {
      const P2 p = pick(r, kDefocusL, kDefocusS, sev);
      defocus_blur(x, p.a * r.s, p.b);
      break;
    }
    case Corruption::GlassBlur: {
      const P3 p = pick(r, kGlassL, kGlassS, sev);
      glass_blur(x, p.a * r.s, std::max(1, static_cast<int>(std::lround(p.b * r.s))), static_cast<int>(p.c), rng);
      break;
    }
    case Corruption::MotionBlur: {
      const P2 p = pick(r, kMotionL, kMotionS, sev);
      motion_blur(x, motion_taps(p.a * r.s), p.b * r.s, rng.uniform(-45, 45));
      break;
    }
    case Corruption::ZoomBlur: {
      const P2 p = pick(r, kZoomL, kZoomS, sev);
      zoom_blur(x, p.a, p.b);
      break;
    }
    case Corruption::Snow: snow(x, pick(r, kSnowL, kSnowS, sev), r.s, rng); break;
    case Corruption::Frost: {
      const P2 p = pick(r, kFrostL, kFrostS, sev);
      frost(x, p.a, p.b, rng);
      break;
    }
    case Corruption::Fog: {
      const P2 p = pick(r, kFogL, kFogS, sev);
      fog(x, p.a, p.b, rng);
      break;
    }
    case Corruption::Brightness: brightness(x, pick(r, kBrightL, kBrightS, sev)); break;
    case Corruption::Contrast: contrast(x, pick(r, kContrastL, kContrastS, sev)); break;
    case Corruption::ElasticTransform: {
      const P3 p = pick(r, kElasticL, kElasticS, sev);
      const double base = r.large ? r.side * 244.0 / 224.0 : r.side;
      elastic(x, p.a * base, p.b * base, p.c * base, rng);
      break;
    }
    case Corruption::Pixelate:
    case Corruption::JpegCompression: break;  // handled above
  }
  clip01(x);
  return to_uint8(x);
}

// ---------------------------------------------------------------- CE / mCE
std::optional<double> alexnet_error(const std::string& name) {
  // Hendrycks & Dietterich (2019): AlexNet top-1 error on ImageNet-C,
  // averaged over the five severities.
  static const std::map<std::string, double> table = {
      {"gaussian_noise", 0.886428}, {"shot_noise", 0.894468},   {"impulse_noise", 0.922640},
      {"defocus_blur", 0.819880},   {"glass_blur", 0.826268},   {"motion_blur", 0.785948},
      {"zoom_blur", 0.798360},      {"snow", 0.866816},         {"frost", 0.826572},
      {"fog", 0.819324},            {"brightness", 0.564592},   {"contrast", 0.853204},
      {"elastic_transform", 0.646056}, {"pixelate", 0.717840}, {"jpeg_compression", 0.606500},
      // The four extra corruptions (validation set of the benchmark).
      {"speckle_noise", 0.845388},  {"gaussian_blur", 0.787108}, {"spatter", 0.718512},
      {"saturate", 0.658248}};
  auto it = table.find(name);
  if (it == table.end()) return std::nullopt;
  return it->second;
}

MceResult compute_mce(const CorruptionErrors& model, const CorruptionErrors& baseline) {
  if (model.empty()) throw std::invalid_argument("compute_mce: no corruption errors given");
  MceResult r;
  double total = 0;
  for (const auto& [name, errs] : model) {
    auto it = baseline.find(name);
    if (it == baseline.end()) throw std::invalid_argument("compute_mce: the baseline has no errors for '" + name + "'");
    double num = 0, den = 0;
    for (int s = 0; s < 5; ++s) {
      num += errs[s];
      den += it->second[s];
    }
    if (!(den > 0)) throw std::invalid_argument("compute_mce: the baseline's errors for '" + name + "' sum to zero");
    r.ce[name] = num / den;
    r.mce += num / den;
    total += num;
  }
  r.mce /= static_cast<double>(model.size());
  r.mean_error = total / (5.0 * model.size());
  return r;
}

MceResult compute_mce_alexnet(const CorruptionErrors& model) {
  CorruptionErrors base;
  for (const auto& [name, errs] : model) {
    auto e = alexnet_error(name);
    if (!e) throw std::invalid_argument("compute_mce_alexnet: no AlexNet error published for '" + name + "'");
    base[name].fill(*e);
  }
  return compute_mce(model, base);
}

}  // namespace acnn::data
