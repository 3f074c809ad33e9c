#include "runtime/data/autoaugment.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace acnn::data {
namespace {

inline uint8_t clip255(double v) {
  v = std::round(v);
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Applies a 256-entry table per channel.
void apply_lut(Image& img, const uint8_t (*lut)[256]) {
  const int C = img.channels;
  const size_t n = static_cast<size_t>(img.height) * img.width;
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < C; ++c) img.pixels[i * C + c] = lut[c][img.pixels[i * C + c]];
}

// out = d + f * (img - d), with d given per pixel.
void blend_with(Image& img, const Image& degenerate, double f) {
  for (size_t i = 0; i < img.size(); ++i) {
    const double d = degenerate.pixels[i];
    img.pixels[i] = clip255(d + f * (img.pixels[i] - d));
  }
}

constexpr AAOp SX = AAOp::ShearX, SY = AAOp::ShearY, TX = AAOp::TranslateX, TY = AAOp::TranslateY,
               ROT = AAOp::Rotate, AC = AAOp::AutoContrast, INV = AAOp::Invert, EQ = AAOp::Equalize,
               SOL = AAOp::Solarize, POS = AAOp::Posterize, CON = AAOp::Contrast, COL = AAOp::Color,
               BRI = AAOp::Brightness, SHA = AAOp::Sharpness;

}  // namespace

const char* aa_op_name(AAOp op) {
  static const char* names[kAAOpCount] = {"ShearX",   "ShearY",    "TranslateX", "TranslateY", "Rotate",
                                          "AutoContrast", "Invert", "Equalize",  "Solarize",   "Posterize",
                                          "Contrast", "Color",     "Brightness", "Sharpness",  "Cutout"};
  return names[static_cast<int>(op)];
}

// ------------------------------------------------------------------ policies
// The learned policies as published (operation, probability, magnitude).
const Policy& imagenet_policy() {
  static const Policy p{"imagenet",
                        {{{{POS, 0.4, 8}, {ROT, 0.6, 9}}},
                         {{{SOL, 0.6, 5}, {AC, 0.6, 0}}},
                         {{{EQ, 0.8, 0}, {EQ, 0.6, 0}}},
                         {{{POS, 0.6, 7}, {POS, 0.6, 6}}},
                         {{{EQ, 0.4, 0}, {SOL, 0.2, 4}}},
                         {{{EQ, 0.4, 0}, {ROT, 0.8, 8}}},
                         {{{SOL, 0.6, 3}, {EQ, 0.6, 0}}},
                         {{{POS, 0.8, 5}, {EQ, 1.0, 0}}},
                         {{{ROT, 0.2, 3}, {SOL, 0.6, 8}}},
                         {{{EQ, 0.6, 0}, {POS, 0.4, 6}}},
                         {{{ROT, 0.8, 8}, {COL, 0.4, 0}}},
                         {{{ROT, 0.4, 9}, {EQ, 0.6, 0}}},
                         {{{EQ, 0.0, 0}, {EQ, 0.8, 0}}},
                         {{{INV, 0.6, 0}, {EQ, 1.0, 0}}},
                         {{{COL, 0.6, 4}, {CON, 1.0, 8}}},
                         {{{ROT, 0.8, 8}, {COL, 1.0, 2}}},
                         {{{COL, 0.8, 8}, {SOL, 0.8, 7}}},
                         {{{SHA, 0.4, 7}, {INV, 0.6, 0}}},
                         {{{SX, 0.6, 5}, {EQ, 1.0, 0}}},
                         {{{COL, 0.4, 0}, {EQ, 0.6, 0}}},
                         {{{EQ, 0.4, 0}, {SOL, 0.2, 4}}},
                         {{{SOL, 0.6, 5}, {AC, 0.6, 0}}},
                         {{{INV, 0.6, 0}, {EQ, 1.0, 0}}},
                         {{{COL, 0.6, 4}, {CON, 1.0, 8}}},
                         {{{EQ, 0.8, 0}, {EQ, 0.6, 0}}}}};
  return p;
}

const Policy& cifar10_policy() {
  static const Policy p{"cifar10",
                        {{{{INV, 0.1, 7}, {CON, 0.2, 6}}},
                         {{{ROT, 0.7, 2}, {TX, 0.3, 9}}},
                         {{{SHA, 0.8, 1}, {SHA, 0.9, 3}}},
                         {{{SY, 0.5, 8}, {TY, 0.7, 9}}},
                         {{{AC, 0.5, 8}, {EQ, 0.9, 2}}},
                         {{{SY, 0.2, 7}, {POS, 0.3, 7}}},
                         {{{COL, 0.4, 3}, {BRI, 0.6, 7}}},
                         {{{SHA, 0.3, 9}, {BRI, 0.7, 9}}},
                         {{{EQ, 0.6, 5}, {EQ, 0.5, 1}}},
                         {{{CON, 0.6, 7}, {SHA, 0.6, 5}}},
                         {{{COL, 0.7, 7}, {TX, 0.5, 8}}},
                         {{{EQ, 0.3, 7}, {AC, 0.4, 8}}},
                         {{{TY, 0.4, 3}, {SHA, 0.2, 6}}},
                         {{{BRI, 0.9, 6}, {COL, 0.2, 8}}},
                         {{{SOL, 0.5, 2}, {INV, 0.0, 3}}},
                         {{{EQ, 0.2, 0}, {AC, 0.6, 0}}},
                         {{{EQ, 0.2, 8}, {EQ, 0.6, 4}}},
                         {{{COL, 0.9, 9}, {EQ, 0.6, 6}}},
                         {{{AC, 0.8, 4}, {SOL, 0.2, 8}}},
                         {{{BRI, 0.1, 3}, {COL, 0.7, 0}}},
                         {{{SOL, 0.4, 5}, {AC, 0.9, 3}}},
                         {{{TY, 0.9, 9}, {TY, 0.7, 9}}},
                         {{{AC, 0.9, 2}, {SOL, 0.8, 3}}},
                         {{{EQ, 0.8, 8}, {INV, 0.1, 3}}},
                         {{{TY, 0.7, 9}, {AC, 0.9, 1}}}}};
  return p;
}

const Policy& svhn_policy() {
  static const Policy p{"svhn",
                        {{{{SX, 0.9, 4}, {INV, 0.2, 3}}},
                         {{{SY, 0.9, 8}, {INV, 0.7, 5}}},
                         {{{EQ, 0.6, 5}, {SOL, 0.6, 6}}},
                         {{{INV, 0.9, 3}, {EQ, 0.6, 3}}},
                         {{{EQ, 0.6, 1}, {ROT, 0.9, 3}}},
                         {{{SX, 0.9, 4}, {AC, 0.8, 3}}},
                         {{{SY, 0.9, 8}, {INV, 0.4, 5}}},
                         {{{SY, 0.9, 5}, {SOL, 0.2, 6}}},
                         {{{INV, 0.9, 6}, {AC, 0.8, 1}}},
                         {{{EQ, 0.6, 3}, {ROT, 0.9, 3}}},
                         {{{SX, 0.9, 4}, {SOL, 0.3, 3}}},
                         {{{SY, 0.8, 8}, {INV, 0.7, 4}}},
                         {{{EQ, 0.9, 5}, {TY, 0.6, 6}}},
                         {{{INV, 0.9, 4}, {EQ, 0.6, 7}}},
                         {{{CON, 0.3, 3}, {ROT, 0.8, 4}}},
                         {{{INV, 0.8, 5}, {TY, 0.0, 2}}},
                         {{{SY, 0.7, 6}, {SOL, 0.4, 8}}},
                         {{{INV, 0.6, 4}, {ROT, 0.8, 4}}},
                         {{{SY, 0.3, 7}, {TX, 0.9, 3}}},
                         {{{SX, 0.1, 6}, {INV, 0.6, 5}}},
                         {{{SOL, 0.7, 2}, {TY, 0.6, 7}}},
                         {{{SY, 0.8, 4}, {INV, 0.8, 8}}},
                         {{{SX, 0.7, 9}, {TY, 0.8, 3}}},
                         {{{SY, 0.8, 5}, {AC, 0.7, 3}}},
                         {{{SX, 0.7, 2}, {INV, 0.1, 5}}}}};
  return p;
}

const Policy& policy_by_name(const std::string& name) {
  if (name == "imagenet") return imagenet_policy();
  if (name == "cifar10" || name == "cifar") return cifar10_policy();
  if (name == "svhn") return svhn_policy();
  throw std::invalid_argument("unknown AutoAugment policy '" + name + "' (known: imagenet, cifar10, svhn)");
}

// ------------------------------------------------------------------ magnitudes
double aa_parameter(AAOp op, int m, int height, int width) {
  m = std::clamp(m, 0, 10);
  const double t = m / 10.0;
  switch (op) {
    case AAOp::ShearX:
    case AAOp::ShearY: return 0.3 * t;
    case AAOp::TranslateX: return 150.0 / 331.0 * width * t;
    case AAOp::TranslateY: return 150.0 / 331.0 * height * t;
    case AAOp::Rotate: return 30.0 * t;
    case AAOp::Solarize: return 256 - (m * 256) / 10;
    case AAOp::Posterize: return 8 - (m * 4) / 10;
    case AAOp::Contrast:
    case AAOp::Color:
    case AAOp::Brightness:
    case AAOp::Sharpness: return 0.1 + 1.8 * t;
    case AAOp::Cutout: return std::round(20.0 / 32.0 * std::min(height, width) * t);
    default: return 0;
  }
}

void apply_aa_op(Image& img, AAOp op, int m, Rng& rng, uint8_t fill) {
  const double v = aa_parameter(op, m, img.height, img.width);
  auto sign = [&] { return rng.bernoulli(0.5) ? -1.0 : 1.0; };
  switch (op) {
    case AAOp::ShearX: img = shear_x(img, sign() * v, fill); break;
    case AAOp::ShearY: img = shear_y(img, sign() * v, fill); break;
    case AAOp::TranslateX: img = translate(img, sign() * v, 0, fill); break;
    case AAOp::TranslateY: img = translate(img, 0, sign() * v, fill); break;
    case AAOp::Rotate: img = rotate(img, sign() * v, fill); break;
    case AAOp::AutoContrast: auto_contrast(img); break;
    case AAOp::Invert: invert(img); break;
    case AAOp::Equalize: equalize(img); break;
    case AAOp::Solarize: solarize(img, static_cast<int>(v)); break;
    case AAOp::Posterize: posterize(img, static_cast<int>(v)); break;
    case AAOp::Contrast: adjust_contrast(img, v); break;
    case AAOp::Color: adjust_color(img, v); break;
    case AAOp::Brightness: adjust_brightness(img, v); break;
    case AAOp::Sharpness: adjust_sharpness(img, v); break;
    case AAOp::Cutout: {
      const int cy = static_cast<int>(rng.randint(0, img.height)), cx = static_cast<int>(rng.randint(0, img.width));
      cutout(img, cy, cx, static_cast<int>(v), fill);
      break;
    }
  }
}

void AutoAugment::apply(Image& img, Rng& rng) const {
  if (policy_.subs.empty()) return;
  const SubPolicy& sp = policy_.subs[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(policy_.subs.size())))];
  for (const PolicyOp& o : sp)
    if (rng.uniform() < o.prob) apply_aa_op(img, o.op, o.magnitude, rng, fill_);
}

// ------------------------------------------------------------------ operations
Image shear_x(const Image& img, double f, uint8_t fill) {
  const double m[6] = {1, f, 0.5 * f, 0, 1, 0};
  return warp_affine(img, m, Interp::Nearest, {fill});
}

Image shear_y(const Image& img, double f, uint8_t fill) {
  const double m[6] = {1, 0, 0, f, 1, 0.5 * f};
  return warp_affine(img, m, Interp::Nearest, {fill});
}

Image translate(const Image& img, double dx, double dy, uint8_t fill) {
  const double m[6] = {1, 0, dx, 0, 1, dy};
  return warp_affine(img, m, Interp::Nearest, {fill});
}

Image rotate(const Image& img, double degrees, uint8_t fill) {
  const double th = degrees * M_PI / 180.0;
  const double c = std::cos(th), s = std::sin(th);
  const double cx = (img.width - 1) / 2.0, cy = (img.height - 1) / 2.0;
  // Inverse map of a counter-clockwise turn (y points down).
  const double m[6] = {c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy};
  return warp_affine(img, m, Interp::Nearest, {fill});
}

void auto_contrast(Image& img) {
  const int C = img.channels;
  uint8_t lut[3][256];
  for (int c = 0; c < C; ++c) {
    int lo = 255, hi = 0;
    for (size_t i = c; i < img.size(); i += C) {
      lo = std::min<int>(lo, img.pixels[i]);
      hi = std::max<int>(hi, img.pixels[i]);
    }
    for (int v = 0; v < 256; ++v)
      lut[c][v] = hi > lo ? clip255((v - lo) * 255.0 / (hi - lo)) : static_cast<uint8_t>(v);
  }
  apply_lut(img, lut);
}

void invert(Image& img) {
  for (auto& p : img.pixels) p = static_cast<uint8_t>(255 - p);
}

void equalize(Image& img) {
  // Per channel: spread the cumulative histogram over 0..255 in steps of
  // (pixels not in the top occupied bin) / 255; flat channels stay as they are.
  const int C = img.channels;
  uint8_t lut[3][256];
  for (int c = 0; c < C; ++c) {
    int64_t hist[256] = {0};
    for (size_t i = c; i < img.size(); i += C) ++hist[img.pixels[i]];
    int last = 255;
    while (last > 0 && hist[last] == 0) --last;
    int64_t total = 0, occupied = 0;
    for (int v = 0; v < 256; ++v) {
      total += hist[v];
      occupied += hist[v] > 0;
    }
    const int64_t step = (total - hist[last]) / 255;
    for (int v = 0; v < 256; ++v) lut[c][v] = static_cast<uint8_t>(v);
    if (occupied <= 1 || step == 0) continue;
    int64_t acc = step / 2;
    for (int v = 0; v < 256; ++v) {
      lut[c][v] = static_cast<uint8_t>(std::min<int64_t>(255, acc / step));
      acc += hist[v];
    }
  }
  apply_lut(img, lut);
}

void solarize(Image& img, int threshold) {
  for (auto& p : img.pixels)
    if (p >= threshold) p = static_cast<uint8_t>(255 - p);
}

void posterize(Image& img, int bits) {
  bits = std::clamp(bits, 0, 8);
  const uint8_t mask = static_cast<uint8_t>(bits == 0 ? 0 : (0xFF << (8 - bits)) & 0xFF);
  for (auto& p : img.pixels) p &= mask;
}

void adjust_contrast(Image& img, double f) {
  Image g = to_gray(img);
  double sum = 0;
  for (uint8_t v : g.pixels) sum += v;
  const uint8_t mean = clip255(g.pixels.empty() ? 0 : sum / g.pixels.size());
  Image d(img.height, img.width, img.channels, mean);
  blend_with(img, d, f);
}

void adjust_color(Image& img, double f) {
  if (img.channels == 1) return;
  blend_with(img, to_rgb(to_gray(img)), f);
}

void adjust_brightness(Image& img, double f) {
  for (auto& p : img.pixels) p = clip255(p * f);
}

void adjust_sharpness(Image& img, double f) {
  const int H = img.height, W = img.width, C = img.channels;
  Image d = img;
  for (int y = 1; y + 1 < H; ++y)
    for (int x = 1; x + 1 < W; ++x)
      for (int c = 0; c < C; ++c) {
        int s = 4 * img.at(y, x, c);
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) s += img.at(y + dy, x + dx, c);
        d.at(y, x, c) = clip255(s / 13.0);
      }
  blend_with(img, d, f);
}

void cutout(Image& img, int cy, int cx, int size, uint8_t fill) {
  if (size <= 0) return;
  const int y0 = std::max(0, cy - size / 2), y1 = std::min(img.height, cy - size / 2 + size);
  const int x0 = std::max(0, cx - size / 2), x1 = std::min(img.width, cx - size / 2 + size);
  for (int y = y0; y < y1; ++y)
    std::fill(img.row(y) + static_cast<size_t>(x0) * img.channels, img.row(y) + static_cast<size_t>(x1) * img.channels,
              fill);
}

}  // namespace acnn::data
