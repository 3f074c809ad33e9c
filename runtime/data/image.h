// Host images for the data pipeline. Image holds 8-bit pixels in HWC order
// with 1 (gray) or 3 (RGB) channels, the form decoders produce and
// augmentations work on; ImageF is the same layout in float (values in [0, 1]
// by convention), used where arithmetic needs headroom (corruptions). This
// header also has the geometric primitives everything else builds on:
// separable resampling of any source box to any output size (bilinear with
// antialiasing when downscaling, area, nearest), crop, pad, flips, affine
// warps, gray/RGB conversion and the final normalization into a float CHW
// tensor slot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace acnn::data {

template <class T>
struct ImageT {
  int height = 0, width = 0, channels = 0;
  std::vector<T> pixels;  // HWC, row-major

  ImageT() = default;
  ImageT(int h, int w, int c, T fill = T(0))
      : height(h), width(w), channels(c), pixels(static_cast<size_t>(h) * w * c, fill) {}
  bool empty() const { return pixels.empty(); }
  size_t size() const { return pixels.size(); }
  T* data() { return pixels.data(); }
  const T* data() const { return pixels.data(); }
  T* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * channels; }
  const T* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * channels; }
  T& at(int y, int x, int c = 0) { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
  const T& at(int y, int x, int c = 0) const {
    return pixels[(static_cast<size_t>(y) * width + x) * channels + c];
  }
  bool same_shape(const ImageT& o) const {
    return height == o.height && width == o.width && channels == o.channels;
  }
  bool operator==(const ImageT& o) const = default;
};

using Image = ImageT<uint8_t>;
using ImageF = ImageT<float>;

// A rectangle in continuous source coordinates: pixel (i, j) covers
// [j, j+1) x [i, i+1). Boxes may be fractional (scaled JPEG decodes).
struct Box {
  double x = 0, y = 0, w = 0, h = 0;
};

enum class Filter {
  Nearest,   // the source pixel under each output center
  Bilinear,  // triangle filter; widened by the scale when downscaling (antialiased)
  Area,      // box filter: exact area averaging when downscaling
};

// Resamples `src` box of `img` to out_h x out_w. Taps outside the image are
// dropped and the weights renormalized (no dark borders). antialias = false
// keeps the filter at its upscaling width (plain bilinear sampling).
Image resample(const Image& img, Box src, int out_h, int out_w, Filter f = Filter::Bilinear,
               bool antialias = true);
ImageF resample(const ImageF& img, Box src, int out_h, int out_w, Filter f = Filter::Bilinear,
                bool antialias = true);
Image resize(const Image& img, int out_h, int out_w, Filter f = Filter::Bilinear, bool antialias = true);
ImageF resize(const ImageF& img, int out_h, int out_w, Filter f = Filter::Bilinear, bool antialias = true);

// Integer crop; the rectangle must lie inside the image.
Image crop(const Image& img, int y, int x, int h, int w);
ImageF crop(const ImageF& img, int y, int x, int h, int w);

enum class PadMode { Constant, Edge, Reflect };
Image pad(const Image& img, int top, int bottom, int left, int right, PadMode mode = PadMode::Constant,
          uint8_t value = 0);

void flip_horizontal(Image& img);
void flip_vertical(Image& img);
Image rotate90(const Image& img, int quarter_turns);  // counter-clockwise

// Output pixel (x, y) samples input at (m[0]*x + m[1]*y + m[2], m[3]*x + m[4]*y + m[5]),
// coordinates of pixel centers (pixel j is at j, not j + 0.5). Samples outside
// the image take `fill` (one value per channel, or one for all).
enum class Interp { Nearest, Bilinear };
Image warp_affine(const Image& img, const double m[6], Interp interp, const std::vector<uint8_t>& fill);
ImageF warp_affine(const ImageF& img, const double m[6], Interp interp, float fill);

// ITU-R 601 luma (0.299, 0.587, 0.114), rounded. Gray input is returned as is.
Image to_gray(const Image& img);
// Gray replicated to 3 channels; RGB input is returned as is.
Image to_rgb(const Image& img);
Image to_channels(const Image& img, int channels);

ImageF to_float(const Image& img);        // / 255
Image to_uint8(const ImageF& img);        // clip to [0, 1], * 255, round

// Writes img as (x / 255 - mean[c]) / std[c] into dst laid out [C, H, W].
void normalize_chw(const Image& img, const float* mean, const float* stddev, float* dst);

std::string describe(const Image& img);  // "HxWxC"

}  // namespace acnn::data
