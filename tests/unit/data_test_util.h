// Helpers shared by the data pipeline tests: temporary directories and
// synthetic images.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

#include "runtime/data/image.h"
#include "runtime/data/random.h"

namespace acnn::data::testing {

// A fresh directory under the system temp dir, removed with its contents.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "acnn_data_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Smooth gradients plus a little texture: realistic enough for codecs,
// resampling and corruptions.
inline Image synthetic_image(int h, int w, int c, uint64_t seed = 1, double noise = 20) {
  Image img(h, w, c);
  Rng rng(seed);
  const double fx = rng.uniform(0.5, 3.0), fy = rng.uniform(0.5, 3.0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) {
        double v = 128 + 80 * std::sin(fx * x * 6.28 / w + k) * std::cos(fy * y * 6.28 / h) + rng.uniform(-noise, noise);
        img.at(y, x, k) = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
      }
  return img;
}

// Piecewise-constant random rectangles with a little noise: edges at many
// scales, like natural images, so blurs and displacements register.
inline Image blocks_image(int h, int w, int c, uint64_t seed = 1) {
  Image img(h, w, c, 128);
  Rng rng(seed);
  const int n = 12 + h * w / 256;
  for (int r = 0; r < n; ++r) {
    const int bh = static_cast<int>(rng.randint(2, std::max(3, h / 3))), bw = static_cast<int>(rng.randint(2, std::max(3, w / 3)));
    const int y0 = static_cast<int>(rng.randint(0, h - 1)), x0 = static_cast<int>(rng.randint(0, w - 1));
    uint8_t col[3];
    for (auto& v : col) v = static_cast<uint8_t>(rng.randint(20, 236));
    for (int y = y0; y < std::min(h, y0 + bh); ++y)
      for (int x = x0; x < std::min(w, x0 + bw); ++x)
        for (int k = 0; k < c; ++k) img.at(y, x, k) = col[k];
  }
  for (auto& v : img.pixels) v = static_cast<uint8_t>(std::clamp(v + rng.uniform(-3, 3), 0.0, 255.0));
  return img;
}

inline double mean_abs_diff(const Image& a, const Image& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  return a.size() ? s / a.size() : 0;
}

// The message of the std::exception fn throws ("" when it does not throw).
inline std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace acnn::data::testing
