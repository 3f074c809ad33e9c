#include <cmath>
#include <set>

#include "runtime/data/augment.h"
#include "runtime/data/autoaugment.h"
#include "runtime/data/codec.h"
#include "runtime/data/dataset.h"
#include "tests/catch.h"
#include "tests/unit/data_test_util.h"

using namespace acnn;
using namespace acnn::data;
using acnn::data::testing::mean_abs_diff;
using acnn::data::testing::synthetic_image;

namespace {
Sample sample_of(const Image& img) {
  Sample s;
  s.decoded = img;
  s.width = img.width;
  s.height = img.height;
  s.channels = img.channels;
  s.label = 0;
  return s;
}
}  // namespace

TEST_CASE("data: RandomResizedCrop boxes respect area and aspect ranges", "[unit]") {
  Rng rng(5);
  for (int i = 0; i < 2000; ++i) {
    Box b = RandomResizedCrop::sample_box(500, 375, 0.05, 1.0, 3.0 / 4, 4.0 / 3, rng);
    REQUIRE(b.x >= 0);
    REQUIRE(b.y >= 0);
    REQUIRE(b.x + b.w <= 500);
    REQUIRE(b.y + b.h <= 375);
    const double area = b.w * b.h / (500.0 * 375.0), aspect = b.w / b.h;
    CHECK(area >= 0.05 * 0.97);
    CHECK(area <= 1.0);
    CHECK(aspect >= 0.75 * 0.97);
    CHECK(aspect <= 4.0 / 3 * 1.03);
  }
  // An extreme panorama can never fit the aspect range: the center fallback
  // clamps the aspect to 4/3.
  Box f = RandomResizedCrop::sample_box(1000, 10, 0.9, 1.0, 3.0 / 4, 4.0 / 3, rng);
  CHECK(f.h == 10);
  CHECK(f.w == 13);
  CHECK(f.x == (1000 - 13) / 2);

  RandomResizedCrop rrc(24, 24);
  Rng r2(1);
  Image out = rrc.load(sample_of(synthetic_image(60, 80, 3)), 3, r2);
  CHECK(out.same_shape(Image(24, 24, 3)));
}

TEST_CASE("data: RandomResizedCrop decodes JPEG at reduced scale with the same geometry", "[unit]") {
  if (!jpeg_supported()) return;
  Image img = synthetic_image(400, 600, 3, 11);
  Sample enc;
  enc.encoded = encode_jpeg(img, 95);
  enc.width = 600;
  enc.height = 400;
  enc.channels = 3;
  Sample dec = sample_of(decode_image(enc.encoded.data(), enc.encoded.size()));
  // Same box, decoded at 1/4 scale (the box 400x320 needs only 100x80).
  Box box{100, 40, 400, 320};
  Image a = decode_box(enc, 3, box, 64, 80);
  Image b = decode_box(dec, 3, box, 64, 80);
  CHECK(mean_abs_diff(a, b) < 6.0);
  ResizeCenterCrop eval(256, 224, 224);
  Rng r(0);
  Image e = eval.load(enc, 3, r);
  CHECK(e.same_shape(Image(224, 224, 3)));
  Box cb = ResizeCenterCrop::center_box(600, 400, 256, 224, 224);
  CHECK_THAT(cb.h, Catch::Matchers::WithinAbs(224 * 400 / 256.0, 1e-9));
  CHECK_THAT(cb.y, Catch::Matchers::WithinAbs(16 * 400 / 256.0, 1e-9));
  CHECK_THAT(cb.x, Catch::Matchers::WithinAbs(std::round((384 - 224) / 2.0) * 600 / 384.0, 1e-9));
}

TEST_CASE("data: pad-crop, flip, cutout and normalization", "[unit]") {
  Image img = synthetic_image(28, 28, 1);
  RandomCropPad pc(28, 28, 2);
  std::set<std::pair<int, int>> offsets;
  for (int i = 0; i < 200; ++i) {
    Image x = img;
    Rng rng(i);
    pc.apply(x, rng);
    REQUIRE(x.same_shape(img));
    // Locate the shift from an interior pixel.
    for (int dy = -2; dy <= 2; ++dy)
      for (int dx = -2; dx <= 2; ++dx) {
        bool match = true;
        for (int y = 4; y < 24 && match; ++y)
          for (int xx = 4; xx < 24 && match; ++xx) match = x.at(y, xx) == img.at(y + dy, xx + dx);
        if (match) offsets.insert({dy, dx});
      }
  }
  CHECK(offsets.size() == 25);  // every offset in [-2, 2]^2 occurs

  RandomHorizontalFlip flip(0.5);
  int flipped = 0;
  for (int i = 0; i < 400; ++i) {
    Image x = img;
    Rng rng(1000 + i);
    flip.apply(x, rng);
    flipped += !(x == img);
  }
  CHECK(flipped > 150);
  CHECK(flipped < 250);

  Image x = img;
  Cutout cut(10, 0);
  Rng rng(3);
  cut.apply(x, rng);
  int zeros = 0;
  for (uint8_t v : x.pixels) zeros += v == 0;
  CHECK(zeros >= 25);
  CHECK(zeros <= 100 + 5);

  Pipeline p(nullptr, Normalization::fashion_mnist());
  std::vector<float> out(28 * 28);
  Rng r0(0);
  Image y = p.augment(sample_of(img), 1, r0);
  CHECK(y == img);
  p.normalize(y, out.data());
  CHECK_THAT(out[5], Catch::Matchers::WithinAbs((img.pixels[5] / 255.0 - 0.286) / 0.353, 1e-5));
  Pipeline full = make_pipeline(imagenet_train_config(32, true));
  CHECK(full.describe().find("autoaugment(imagenet)") != std::string::npos);
  Rng r1(0);
  CHECK(full.augment(sample_of(synthetic_image(50, 70, 3)), 3, r1).same_shape(Image(32, 32, 3)));
  // A gray dataset through an RGB pipeline and back.
  Pipeline rgb(nullptr, Normalization::imagenet(), 3);
  Rng r3(0);
  CHECK(rgb.augment(sample_of(img), 1, r3).channels == 3);
}

TEST_CASE("data: AutoAugment color operations", "[unit]") {
  Image zero(4, 4, 3, 0);
  invert(zero);
  for (uint8_t v : zero.pixels) REQUIRE(v == 255);

  Image ramp(1, 256, 1);
  for (int i = 0; i < 256; ++i) ramp.at(0, i) = static_cast<uint8_t>(i);
  Image s = ramp;
  solarize(s, 128);
  CHECK(s.at(0, 127) == 127);
  CHECK(s.at(0, 128) == 127);  // 255 - 128
  CHECK(s.at(0, 255) == 0);
  Image s0 = ramp;
  solarize(s0, 256);
  CHECK(s0 == ramp);
  Image p = ramp;
  posterize(p, 3);
  std::set<int> levels(p.pixels.begin(), p.pixels.end());
  CHECK(levels.size() == 8);
  for (int v : levels) CHECK((v & 0x1F) == 0);
  CHECK(p.at(0, 200) == 192);

  // AutoContrast stretches [50, 150] to [0, 255].
  Image ac(1, 3, 1);
  ac.at(0, 0) = 50;
  ac.at(0, 1) = 100;
  ac.at(0, 2) = 150;
  auto_contrast(ac);
  CHECK(ac.at(0, 0) == 0);
  CHECK(std::abs(ac.at(0, 1) - 128) <= 1);
  CHECK(ac.at(0, 2) == 255);

  // Equalize flattens the cumulative histogram of a skewed image.
  Image sk(32, 32, 1);
  Rng rng(9);
  for (auto& v : sk.pixels) v = static_cast<uint8_t>(std::pow(rng.uniform(), 3.0) * 255);
  Image eq = sk;
  equalize(eq);
  int64_t below = 0;
  for (uint8_t v : eq.pixels) below += v < 128;
  CHECK(std::abs(below / 1024.0 - 0.5) < 0.06);
  for (size_t i = 0; i < sk.size(); ++i)
    for (size_t j = 0; j < sk.size(); j += 37)
      if (sk.pixels[i] < sk.pixels[j]) REQUIRE(eq.pixels[i] <= eq.pixels[j]);  // monotone
  Image flat(5, 5, 1, 77);
  equalize(flat);
  CHECK(flat == Image(5, 5, 1, 77));

  Image img = synthetic_image(16, 16, 3);
  for (auto fn : {adjust_contrast, adjust_color, adjust_brightness, adjust_sharpness}) {
    Image x = img;
    fn(x, 1.0);
    CHECK(x == img);  // factor 1 is the identity
  }
  Image br = img;
  adjust_brightness(br, 0.0);
  for (uint8_t v : br.pixels) REQUIRE(v == 0);
  Image col = img;
  adjust_color(col, 0.0);
  Image gray = to_gray(img);
  for (int i = 0; i < 16 * 16; ++i) {
    REQUIRE(col.pixels[3 * i] == gray.pixels[i]);
    REQUIRE(col.pixels[3 * i + 2] == gray.pixels[i]);
  }
  Image con = img;
  adjust_contrast(con, 0.0);
  std::set<int> vals(con.pixels.begin(), con.pixels.end());
  CHECK(vals.size() == 1);
}

TEST_CASE("data: AutoAugment geometric operations", "[unit]") {
  Image img = synthetic_image(20, 24, 3);
  CHECK(rotate(img, 0.0) == img);
  CHECK(shear_x(img, 0.0) == img);
  CHECK(translate(img, 0, 0) == img);
  // Rotating by 90 degrees matches the exact quarter turn on a square image.
  Image sq = synthetic_image(15, 15, 1);
  CHECK(rotate(sq, 90.0) == rotate90(sq, 1));
  CHECK(rotate(sq, -90.0) == rotate90(sq, 3));

  // Shear: output (x, y) reads input (x + f * (y + 0.5), y), nearest.
  Image sx = shear_x(img, 0.3, 128);
  CHECK(sx.at(10, 5, 0) == img.at(10, static_cast<int>(std::floor(5 + 0.5 + 0.3 * 10.5)), 0));
  CHECK(sx.at(19, 23, 1) == 128);  // sheared in from outside
  Image sy = shear_y(img, -0.2, 128);
  CHECK(sy.at(10, 5, 2) == img.at(static_cast<int>(std::floor(10 + 0.5 - 0.2 * 5.5)), 5, 2));
  // Translate by 3 pixels moves a known pixel left.
  Image tx = translate(img, 3, 0, 0);
  CHECK(tx.at(7, 4, 1) == img.at(7, 7, 1));
  CHECK(tx.at(7, 22, 1) == 0);
  Image ty = translate(img, 0, -2, 0);
  CHECK(ty.at(9, 4, 1) == img.at(7, 4, 1));
  CHECK(ty.at(0, 4, 1) == 0);

  Image c = img;
  cutout(c, 10, 10, 4, 7);
  CHECK(c.at(8, 8, 0) == 7);
  CHECK(c.at(11, 11, 2) == 7);
  CHECK(c.at(12, 12, 0) == img.at(12, 12, 0));
}

TEST_CASE("data: AutoAugment magnitudes and policies", "[unit]") {
  CHECK(aa_parameter(AAOp::ShearX, 10, 100, 100) == 0.3);
  CHECK_THAT(aa_parameter(AAOp::TranslateX, 10, 100, 331), Catch::Matchers::WithinAbs(150.0, 1e-9));
  CHECK(aa_parameter(AAOp::Rotate, 5, 1, 1) == 15.0);
  CHECK(aa_parameter(AAOp::Solarize, 0, 1, 1) == 256);
  CHECK(aa_parameter(AAOp::Solarize, 10, 1, 1) == 0);
  CHECK(aa_parameter(AAOp::Posterize, 0, 1, 1) == 8);
  CHECK(aa_parameter(AAOp::Posterize, 10, 1, 1) == 4);
  CHECK_THAT(aa_parameter(AAOp::Color, 5, 1, 1), Catch::Matchers::WithinAbs(1.0, 1e-12));
  CHECK_THAT(aa_parameter(AAOp::Sharpness, 10, 1, 1), Catch::Matchers::WithinAbs(1.9, 1e-12));
  CHECK(imagenet_policy().subs.size() == 25);
  CHECK(cifar10_policy().subs.size() == 25);
  CHECK(svhn_policy().subs.size() == 25);
  CHECK(imagenet_policy().subs[0][0].op == AAOp::Posterize);
  CHECK(imagenet_policy().subs[0][1].magnitude == 9);
  CHECK_THROWS(policy_by_name("mnist"));

  // Every operation at every magnitude keeps the shape, on gray and RGB.
  for (int c : {1, 3}) {
    Image img = synthetic_image(17, 23, c);
    for (int op = 0; op < kAAOpCount; ++op)
      for (int m = 0; m <= 10; ++m) {
        Image x = img;
        Rng rng(op * 11 + m);
        apply_aa_op(x, static_cast<AAOp>(op), m, rng);
        REQUIRE(x.same_shape(img));
      }
  }
  // The policy is deterministic under its Rng and changes most images.
  AutoAugment aa(imagenet_policy());
  Image img = synthetic_image(32, 32, 3);
  int changed = 0;
  for (int i = 0; i < 50; ++i) {
    Image a = img, b = img;
    Rng r1(i), r2(i);
    aa.apply(a, r1);
    aa.apply(b, r2);
    REQUIRE(a == b);
    changed += !(a == img);
  }
  CHECK(changed > 30);
}
