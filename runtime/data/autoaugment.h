// AutoAugment (Cubuk et al., "AutoAugment: Learning Augmentation Policies
// from Data", 2019) on uint8 images. A policy is a list of sub-policies of two
// (operation, probability, magnitude) triples; per image one sub-policy is
// drawn uniformly and each of its operations runs with its probability.
// Magnitudes are integer levels 0..10 mapped to the paper's ranges: shear
// +-0.3, translate +-150/331 of the image size, rotate +-30 degrees (signed
// ops draw the sign at random), solarize threshold 256..0, posterize 8..4
// bits, contrast/color/brightness/sharpness factor 0.1..1.9, cutout up to
// 20/32 of the shorter side. Geometric ops use nearest sampling and a gray
// fill (128), shear and translate about the top-left corner, rotate about the
// center. The ImageNet, CIFAR-10 and SVHN policies are the published ones.
// The individual operations are exposed with explicit parameters for reuse
// and tests.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "runtime/data/augment.h"

namespace acnn::data {

enum class AAOp {
  ShearX, ShearY, TranslateX, TranslateY, Rotate, AutoContrast, Invert, Equalize,
  Solarize, Posterize, Contrast, Color, Brightness, Sharpness, Cutout
};
const char* aa_op_name(AAOp op);
inline constexpr int kAAOpCount = 15;

struct PolicyOp {
  AAOp op;
  double prob;
  int magnitude;  // 0..10 (ignored by ops without a magnitude)
};
using SubPolicy = std::array<PolicyOp, 2>;
struct Policy {
  std::string name;
  std::vector<SubPolicy> subs;
};

const Policy& imagenet_policy();
const Policy& cifar10_policy();
const Policy& svhn_policy();
// "imagenet", "cifar10", "svhn"; throws with the valid names otherwise.
const Policy& policy_by_name(const std::string& name);

// The unsigned parameter an operation takes at a magnitude level, for an
// image of the given size (translate and cutout are relative to it).
double aa_parameter(AAOp op, int magnitude, int height, int width);
// Applies `op` at `magnitude`; signed ops draw their sign from rng.
void apply_aa_op(Image& img, AAOp op, int magnitude, Rng& rng, uint8_t fill = 128);

class AutoAugment : public Transform {
 public:
  explicit AutoAugment(const Policy& policy, uint8_t fill = 128) : policy_(policy), fill_(fill) {}
  void apply(Image& img, Rng& rng) const override;
  std::string describe() const override { return "autoaugment(" + policy_.name + ")"; }
  const Policy& policy() const { return policy_; }

 private:
  Policy policy_;
  uint8_t fill_;
};

// ---- the operations with explicit parameters
// Output (x, y) reads input (x + factor * y, y) (pixel centers at +0.5).
Image shear_x(const Image& img, double factor, uint8_t fill = 128);
Image shear_y(const Image& img, double factor, uint8_t fill = 128);
// Output (x, y) reads input (x + dx, y): positive dx moves content left.
Image translate(const Image& img, double dx, double dy, uint8_t fill = 128);
// Counter-clockwise by `degrees` about the image center.
Image rotate(const Image& img, double degrees, uint8_t fill = 128);
void auto_contrast(Image& img);          // per channel: [min, max] -> [0, 255]
void invert(Image& img);                 // 255 - x
void equalize(Image& img);               // per-channel histogram equalization
void solarize(Image& img, int threshold);  // x >= threshold -> 255 - x
void posterize(Image& img, int bits);    // keep the top `bits` bits
// Blends with a degenerate image: out = d + f * (img - d), clipped.
void adjust_contrast(Image& img, double f);    // d: mean gray level
void adjust_color(Image& img, double f);       // d: grayscale (saturation)
void adjust_brightness(Image& img, double f);  // d: black
void adjust_sharpness(Image& img, double f);   // d: 3x3 smoothed (borders kept)
void cutout(Image& img, int center_y, int center_x, int size, uint8_t fill = 128);

}  // namespace acnn::data
