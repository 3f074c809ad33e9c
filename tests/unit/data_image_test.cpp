#include <cmath>

#ifdef ACNN_HAVE_TURBOJPEG
#include <turbojpeg.h>
#endif

#include "runtime/data/codec.h"
#include "runtime/data/filters.h"
#include "runtime/data/image.h"
#include "runtime/data/random.h"
#include "tests/catch.h"
#include "tests/unit/data_test_util.h"

using namespace acnn;
using namespace acnn::data;
using acnn::data::testing::synthetic_image;

TEST_CASE("data: Rng is keyed and reproducible; Beta and Gamma have the right means", "[unit]") {
  Rng a(7, 1, kStreamAugment, 42), b(7, 1, kStreamAugment, 42), c(7, 1, kStreamAugment, 43);
  uint64_t x = a.next_u64();
  CHECK(x == b.next_u64());
  CHECK(x != c.next_u64());
  Rng r(123);
  double sb = 0, sg = 0, sg2 = 0, sp = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    double v = r.beta(0.2, 0.2);
    REQUIRE(v >= 0.0);
    REQUIRE(v <= 1.0);
    sb += v;
    sg += r.gamma(0.5);
    sg2 += r.gamma(3.0);
    sp += static_cast<double>(r.poisson(4.5));
  }
  CHECK(std::abs(sb / n - 0.5) < 0.02);
  CHECK(std::abs(sg / n - 0.5) < 0.03);
  CHECK(std::abs(sg2 / n - 3.0) < 0.08);
  CHECK(std::abs(sp / n - 4.5) < 0.1);
  for (int i = 0; i < 1000; ++i) {
    int64_t k = r.randint(-3, 4);
    REQUIRE(k >= -3);
    REQUIRE(k < 4);
  }
}

TEST_CASE("data: resize keeps constants, averages when downscaling and samples bilinearly when upscaling", "[unit]") {
  Image flat(37, 53, 3, 77);
  Image r = resize(flat, 11, 19);
  for (uint8_t v : r.pixels) REQUIRE(v == 77);

  // A 1-pixel checkerboard downscaled 4x averages to mid gray (antialiasing),
  // while plain point sampling would alias to black or white.
  Image checker(64, 64, 1);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) checker.at(y, x) = ((x + y) & 1) ? 255 : 0;
  Image aa = resize(checker, 16, 16, Filter::Bilinear, true);
  for (uint8_t v : aa.pixels) CHECK(std::abs(int(v) - 128) <= 2);
  Image area = resize(checker, 16, 16, Filter::Area);
  for (uint8_t v : area.pixels) CHECK(std::abs(int(v) - 128) <= 1);

  // Upscaling a horizontal ramp 0, 100 by 2: half-pixel centers give 0, 25, 75, 100.
  Image ramp(1, 2, 1);
  ramp.at(0, 0) = 0;
  ramp.at(0, 1) = 100;
  Image up = resize(ramp, 1, 4);
  CHECK(up.at(0, 0) == 0);
  CHECK(up.at(0, 1) == 25);
  CHECK(up.at(0, 2) == 75);
  CHECK(up.at(0, 3) == 100);

  // Same size resample is the identity; nearest picks the pixel under the center.
  Image img = synthetic_image(20, 30, 3);
  CHECK(resize(img, 20, 30) == img);
  Image half = resize(img, 10, 15, Filter::Nearest);
  CHECK(half.at(3, 4, 1) == img.at(7, 9, 1));
  // A box resample equals crop-then-resize.
  Image boxed = resample(img, Box{5, 4, 10, 8}, 10, 10);
  Image ref = resize(crop(img, 4, 5, 8, 10), 10, 10);
  CHECK(testing::mean_abs_diff(boxed, ref) < 1.0);
}

TEST_CASE("data: crop, pad, flips and rotate90", "[unit]") {
  Image img = synthetic_image(6, 9, 3);
  Image c = crop(img, 1, 2, 3, 4);
  CHECK(c.height == 3);
  CHECK(c.width == 4);
  CHECK(c.at(2, 3, 1) == img.at(3, 5, 1));
  CHECK_THROWS(crop(img, 4, 0, 3, 3));

  Image p = pad(img, 2, 1, 3, 0, PadMode::Constant, 9);
  CHECK(p.height == 9);
  CHECK(p.width == 12);
  CHECK(p.at(0, 0, 0) == 9);
  CHECK(p.at(2, 3, 2) == img.at(0, 0, 2));
  Image pr = pad(img, 1, 1, 1, 1, PadMode::Reflect);
  CHECK(pr.at(0, 0, 0) == img.at(1, 1, 0));
  Image pe = pad(img, 1, 1, 1, 1, PadMode::Edge);
  CHECK(pe.at(0, 0, 0) == img.at(0, 0, 0));

  Image f = img;
  flip_horizontal(f);
  CHECK(f.at(2, 0, 1) == img.at(2, 8, 1));
  flip_horizontal(f);
  CHECK(f == img);
  flip_vertical(f);
  flip_vertical(f);
  CHECK(f == img);
  Image r = rotate90(img, 1);
  CHECK(r.height == 9);
  CHECK(r.at(0, 0, 0) == img.at(0, 8, 0));  // counter-clockwise: top-right -> top-left
  CHECK(r.at(8, 0, 0) == img.at(0, 0, 0));  // top-left -> bottom-left
  CHECK(rotate90(rotate90(r, 2), 1) == img);
}

TEST_CASE("data: gray/RGB conversion and normalization to CHW", "[unit]") {
  Image rgb(2, 2, 3);
  rgb.at(0, 0, 0) = 255;  // red
  rgb.at(1, 1, 0) = rgb.at(1, 1, 1) = rgb.at(1, 1, 2) = 200;
  Image g = to_gray(rgb);
  CHECK(g.channels == 1);
  CHECK(g.at(0, 0) == 76);  // 0.299 * 255
  CHECK(g.at(1, 1) == 200);
  CHECK(to_rgb(g).at(1, 1, 2) == 200);
  const float mean[3] = {0.5f, 0.25f, 0.0f}, sd[3] = {0.5f, 0.25f, 1.0f};
  std::vector<float> out(12);
  normalize_chw(rgb, mean, sd, out.data());
  CHECK_THAT(out[0], Catch::Matchers::WithinAbs(1.0, 1e-5));         // (1 - 0.5) / 0.5, channel 0 pixel 0
  CHECK_THAT(out[4 + 0], Catch::Matchers::WithinAbs(-1.0, 1e-5));    // channel 1 pixel 0: (0 - .25) / .25
  CHECK_THAT(out[8 + 3], Catch::Matchers::WithinAbs(200 / 255.0, 1e-5));
}

TEST_CASE("data: affine warp, filters and plasma", "[unit]") {
  Image img = synthetic_image(10, 12, 1);
  const double ident[6] = {1, 0, 0, 0, 1, 0};
  CHECK(warp_affine(img, ident, Interp::Bilinear, {0}) == img);
  const double shift[6] = {1, 0, 2, 0, 1, 0};
  Image s = warp_affine(img, shift, Interp::Nearest, {5});
  CHECK(s.at(3, 0) == img.at(3, 2));
  CHECK(s.at(3, 11) == 5);

  ImageF f = to_float(Image(9, 9, 1, 100));
  gaussian_blur(f, 1.5);
  for (float v : f.pixels) CHECK_THAT(v, Catch::Matchers::WithinAbs(100 / 255.0, 1e-5));
  CHECK(border_index(-1, 5, Border::Reflect) == 0);
  CHECK(border_index(-1, 5, Border::Reflect101) == 1);
  CHECK(border_index(6, 5, Border::Nearest) == 4);
  CHECK(border_index(5, 5, Border::Reflect) == 4);

  Rng rng(3);
  auto p = plasma_fractal(32, 2.0, rng);
  float lo = 1, hi = 0;
  for (float v : p) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo == 0.0f);
  CHECK(hi == 1.0f);
  Rng rng2(3);
  CHECK(plasma_fractal(32, 2.0, rng2) == p);
}

TEST_CASE("data: JPEG and PNG round trips, scaled decode and damage detection", "[unit]") {
  if (!jpeg_supported()) {
    WARN("built without libjpeg-turbo: JPEG checks skipped");
    return;
  }
  Image img = synthetic_image(75, 100, 3);
  auto jpg = encode_jpeg(img, 95);
  CHECK(sniff_format(jpg.data(), jpg.size()) == ImageFormat::Jpeg);
  CHECK(jpeg_has_eoi(jpg.data(), jpg.size()));
  ImageInfo info = read_image_info(jpg.data(), jpg.size());
  CHECK(info.width == 100);
  CHECK(info.height == 75);
  CHECK(info.channels == 3);
  Image full = decode_image(jpg.data(), jpg.size());
  CHECK(full.same_shape(img));
  CHECK(testing::mean_abs_diff(full, img) < 8.0);
  // Needs at least 40x30: 1/2 gives 50x38, 1/4 would give 25x19.
  Image half = decode_image(jpg.data(), jpg.size(), 3, 40, 30);
  CHECK(half.width == 50);
  CHECK(half.height == 38);
  CHECK(decode_image(jpg.data(), jpg.size(), 3, 10, 5).width == 13);  // 1/8
  CHECK(decode_image(jpg.data(), jpg.size(), 1).channels == 1);

  std::vector<uint8_t> cut(jpg.begin(), jpg.begin() + jpg.size() / 2);
  CHECK_FALSE(jpeg_has_eoi(cut.data(), cut.size()));
  CHECK_THROWS_AS(decode_image(cut.data(), cut.size()), DecodeError);
  std::vector<uint8_t> junk(500, 0x42);
  CHECK_THROWS_AS(decode_image(junk.data(), junk.size()), DecodeError);

  Image gray = synthetic_image(20, 20, 1);
  auto gj = encode_jpeg(gray, 90);
  CHECK(read_image_info(gj.data(), gj.size()).channels == 1);
  CHECK(decode_image(gj.data(), gj.size(), 3).channels == 3);

  if (png_supported()) {
    auto png = encode_png(img);
    CHECK(sniff_format(png.data(), png.size()) == ImageFormat::Png);
    CHECK(decode_image(png.data(), png.size()) == img);  // lossless
    CHECK(read_image_info(png.data(), png.size()).width == 100);
  }
}

#ifdef ACNN_HAVE_TURBOJPEG
TEST_CASE("data: CMYK JPEGs decode to RGB (Adobe inverted convention)", "[unit]") {
  // 16x16 of (C, M, Y, K) = (255, 0, 255, 255): in inverted CMYK that is
  // no cyan and no yellow ink, full magenta: RGB (255, 0, 255).
  std::vector<uint8_t> cmyk(16 * 16 * 4);
  for (size_t i = 0; i < cmyk.size(); i += 4) {
    cmyk[i] = 255;
    cmyk[i + 1] = 0;
    cmyk[i + 2] = 255;
    cmyk[i + 3] = 255;
  }
  tjhandle h = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  REQUIRE(tjCompress2(h, cmyk.data(), 16, 0, 16, TJPF_CMYK, &buf, &size, TJSAMP_444, 95, 0) == 0);
  std::vector<uint8_t> jpg(buf, buf + size);
  tjFree(buf);
  tjDestroy(h);
  Image rgb = decode_image(jpg.data(), jpg.size(), 3);
  REQUIRE(rgb.channels == 3);
  CHECK(rgb.at(8, 8, 0) > 240);
  CHECK(rgb.at(8, 8, 1) < 15);
  CHECK(rgb.at(8, 8, 2) > 240);
}
#endif
