// Float-image filters shared by the corruption generators: separable Gaussian
// blur, dense 2D convolution, motion blur along a direction, "clipped zoom"
// (zoom about the center, keep the original size), bilinear remapping by a
// displacement field, and two procedural textures: the plasma fractal
// (diamond-square) used for fog and a frost texture (hexagonal ice dendrites
// over a faint haze) standing in for the frost photographs of ImageNet-C.
// Border handling follows the libraries the published corruptions used:
// Nearest (clamp), Reflect (edge repeated: dcba|abcd) and Reflect101
// (dcb|abcd).
#pragma once

#include <vector>

#include "runtime/data/image.h"
#include "runtime/data/random.h"

namespace acnn::data {

enum class Border { Nearest, Reflect, Reflect101 };
int border_index(int i, int n, Border b);

// Separable Gaussian, kernel radius ceil(truncate * sigma) (capped at twice
// the image size; reflecting borders repeat beyond that).
void gaussian_blur(ImageF& img, double sigma, double truncate = 4.0, Border border = Border::Nearest);
// Correlates each channel with a k x k kernel (k odd), Reflect101 borders.
void convolve2d(ImageF& img, const std::vector<float>& kernel, int k);
// One-sided Gaussian-weighted streak of `taps` samples along `angle_deg`
// (0 = +x, counter-clockwise), bilinear, clamped borders.
void motion_blur(ImageF& img, int taps, double sigma, double angle_deg);
// Zooms by `factor` >= 1 about the center (bilinear) keeping the size.
ImageF clipped_zoom(const ImageF& img, double factor);
// out(y, x) = img(y + dy(y, x), x + dx(y, x)), bilinear, Reflect borders.
ImageF remap(const ImageF& img, const std::vector<float>& dx, const std::vector<float>& dy, Border border);

// Diamond-square fractal on a size x size torus (size a power of two),
// normalized to [0, 1]. Noise amplitude falls by decay^2 per octave.
std::vector<float> plasma_fractal(int size, double decay, Rng& rng);
// A height x width frost layer in [0, 1] (1 channel).
std::vector<float> frost_texture(int height, int width, Rng& rng);

}  // namespace acnn::data
