// ImageNet-C style corruptions (Hendrycks & Dietterich, "Benchmarking Neural
// Network Robustness to Common Corruptions and Perturbations", ICLR 2019) for
// robustness evaluation on any eval set, plus the CE / mCE metric. The 15
// benchmark corruptions run at severities 1..5 on 1- or 3-channel uint8
// images of any size and are deterministic given the Rng (or seed). Parameters
// follow the published tables: ImageNet-C's for images whose shorter side is
// at least 128 pixels (spatial parameters scaled by size/224) and CIFAR-10-C's
// for smaller ones (scaled up by size/32 above 32 pixels; 28x28
// Fashion-MNIST uses them as published).
// Simplifications: frost blends a procedural ice texture (hexagonal dendrites
// over plasma haze) instead of the frost photographs; motion blur is a
// one-sided Gaussian streak (ImageMagick's shape) sampled bilinearly; zoom
// blur zooms by resampling the central box; jpeg_compression round-trips
// through libjpeg-turbo at the table's quality (4:2:0). AlexNet's published
// ImageNet-C errors are tabulated for normalizing mCE; compute_mce() also
// normalizes by any baseline model's errors (the small-data route).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/data/augment.h"

namespace acnn::data {

enum class Corruption {
  GaussianNoise, ShotNoise, ImpulseNoise,
  DefocusBlur, GlassBlur, MotionBlur, ZoomBlur,
  Snow, Frost, Fog,
  Brightness, Contrast, ElasticTransform, Pixelate, JpegCompression
};
inline constexpr int kCorruptionCount = 15;

const std::array<Corruption, kCorruptionCount>& all_corruptions();
const char* corruption_name(Corruption c);  // "gaussian_noise", ...
// Throws std::invalid_argument listing the valid names.
Corruption corruption_by_name(const std::string& name);
// "noise", "blur", "weather" or "digital".
const char* corruption_category(Corruption c);

// Applies corruption `c` at severity 1..5 (0 returns the image unchanged).
Image corrupt(const Image& img, Corruption c, int severity, Rng& rng);
Image corrupt(const Image& img, Corruption c, int severity, uint64_t seed);

// Pipeline step: corrupts the (final, cropped) image with the example's Rng.
class Corrupt : public Transform {
 public:
  Corrupt(Corruption c, int severity) : c_(c), severity_(severity) {}
  void apply(Image& img, Rng& rng) const override { img = corrupt(img, c_, severity_, rng); }
  std::string describe() const override;

 private:
  Corruption c_;
  int severity_;
};

// ---------------------------------------------------------------- CE / mCE
// Error rates in [0, 1] per corruption name and severity (index s-1).
using CorruptionErrors = std::map<std::string, std::array<double, 5>>;

// AlexNet's ImageNet-C top-1 error averaged over severities 1..5 (the
// published normalizers), for the 15 benchmark corruptions and the 4 extra
// ones (speckle_noise, gaussian_blur, spatter, saturate); nullopt otherwise.
std::optional<double> alexnet_error(const std::string& corruption);

struct MceResult {
  std::map<std::string, double> ce;  // per corruption: sum_s E / sum_s E_baseline
  double mce = 0;                    // mean of ce over the corruptions
  double mean_error = 0;             // unnormalized mean error over corruptions and severities
};

// CE_c = sum_s E(c, s) / sum_s B(c, s); mCE = mean over corruptions. Every
// corruption of `model` must be in `baseline`; throws otherwise.
MceResult compute_mce(const CorruptionErrors& model, const CorruptionErrors& baseline);
// Normalized by alexnet_error() (sum over severities = 5 x the average).
MceResult compute_mce_alexnet(const CorruptionErrors& model);

}  // namespace acnn::data
