#include <cmath>

#include "runtime/data/codec.h"
#include "runtime/data/corruptions.h"
#include "tests/catch.h"
#include "tests/unit/data_test_util.h"

using namespace acnn::data;
using acnn::data::testing::mean_abs_diff;
using acnn::data::testing::synthetic_image;

namespace {

// Mean absolute change per severity, averaged over a few images and seeds.
std::array<double, 5> severity_profile(Corruption c, int h, int w, int ch) {
  std::array<double, 5> d{};
  const int n = 3;
  for (int i = 0; i < n; ++i) {
    Image img = testing::blocks_image(h, w, ch, 100 + i);
    for (int s = 1; s <= 5; ++s) {
      Image out = corrupt(img, c, s, 1234 + i);
      REQUIRE(out.same_shape(img));
      d[s - 1] += mean_abs_diff(out, img) / n;
    }
  }
  return d;
}

}  // namespace

TEST_CASE("data: corruption names and categories", "[unit]") {
  CHECK(all_corruptions().size() == 15);
  for (Corruption c : all_corruptions()) CHECK(corruption_by_name(corruption_name(c)) == c);
  CHECK(std::string(corruption_category(Corruption::Snow)) == "weather");
  CHECK(std::string(corruption_category(Corruption::JpegCompression)) == "digital");
  CHECK(testing::contains(testing::message_of([] { corruption_by_name("rain"); }), "gaussian_noise"));
  CHECK_THROWS(corrupt(Image(8, 8, 1), Corruption::Fog, 6, 0));
  CHECK(corrupt(synthetic_image(8, 8, 1), Corruption::Fog, 0, 0) == synthetic_image(8, 8, 1));
}

TEST_CASE("data: every corruption at every severity runs, is deterministic and grows with severity", "[unit]") {
  // Small gray and mid RGB (CIFAR-10-C table), larger RGB (ImageNet-C table).
  struct Case {
    int h, w, c;
  };
  for (Case k : {Case{28, 28, 1}, Case{48, 64, 3}, Case{128, 144, 3}}) {
    for (Corruption c : all_corruptions()) {
      if (c == Corruption::JpegCompression && !jpeg_supported()) continue;
      INFO(corruption_name(c) << " on " << k.h << "x" << k.w << "x" << k.c);
      Image img = synthetic_image(k.h, k.w, k.c, 7);
      Image a = corrupt(img, c, 3, 99), b = corrupt(img, c, 3, 99);
      CHECK(a == b);  // deterministic given the seed
      auto d = severity_profile(c, k.h, k.w, k.c);
      for (int s = 0; s < 5; ++s) CHECK(d[s] > 0.0);
      // More damage at the top severities than at the bottom ones. The
      // published elastic tables are not monotone (their first severities are
      // a large affine jitter), so elastic is only required to change things.
      if (c == Corruption::ElasticTransform) continue;
      CHECK(d[4] > d[0]);
      CHECK(d[3] + d[4] > d[0] + d[1]);
    }
  }
}

TEST_CASE("data: corruption specifics", "[unit]") {
  Image img = synthetic_image(128, 128, 3, 3);  // ImageNet-C table
  // Brightness raises the mean, contrast pulls values toward the mean.
  double m0 = 0, m1 = 0;
  Image br = corrupt(img, Corruption::Brightness, 5, 0);
  for (size_t i = 0; i < img.size(); ++i) {
    m0 += img.pixels[i];
    m1 += br.pixels[i];
  }
  CHECK(m1 > m0 * 1.2);
  Image ct = corrupt(img, Corruption::Contrast, 5, 0);
  int lo = 255, hi = 0;
  for (uint8_t v : ct.pixels) {
    lo = std::min<int>(lo, v);
    hi = std::max<int>(hi, v);
  }
  CHECK(hi - lo < 30);
  // Impulse noise sets pixels to 0 or 255.
  Image flat(128, 128, 3, 100);
  Image imp = corrupt(flat, Corruption::ImpulseNoise, 5, 1);
  int salt = 0, pepper = 0, other = 0;
  for (uint8_t v : imp.pixels) (v == 255 ? salt : v == 0 ? pepper : other) += v != 100 ? 1 : 0;
  CHECK(other == 0);
  CHECK(salt + pepper > 0.2 * flat.size());
  // Pixelate is blocky; defocus blur smooths (lowers local variation).
  auto tv = [](const Image& x) {
    double s = 0;
    for (int y = 0; y < x.height; ++y)
      for (int xx = 1; xx < x.width; ++xx) s += std::abs(x.at(y, xx, 0) - x.at(y, xx - 1, 0));
    return s;
  };
  CHECK(tv(corrupt(img, Corruption::DefocusBlur, 3, 0)) < 0.5 * tv(img));
  CHECK(tv(corrupt(img, Corruption::MotionBlur, 3, 0)) < tv(img));
  CHECK(tv(corrupt(img, Corruption::ZoomBlur, 3, 0)) < tv(img));
  // Different seeds draw different noise.
  CHECK(!(corrupt(img, Corruption::GaussianNoise, 2, 1) == corrupt(img, Corruption::GaussianNoise, 2, 2)));
  // The 224x224 ImageNet-C regime runs for the expensive ones.
  Image big = synthetic_image(224, 224, 3, 5);
  for (Corruption c : {Corruption::GlassBlur, Corruption::ElasticTransform, Corruption::Frost, Corruption::Snow})
    CHECK(corrupt(big, c, 5, 0).same_shape(big));
}

TEST_CASE("data: CE and mCE", "[unit]") {
  CHECK(alexnet_error("gaussian_noise").value() == 0.886428);
  CHECK(alexnet_error("jpeg_compression").value() == 0.6065);
  CHECK(!alexnet_error("rain").has_value());
  for (Corruption c : all_corruptions()) CHECK(alexnet_error(corruption_name(c)).has_value());
  // A model with AlexNet's errors has mCE 1; half the errors give 0.5.
  CorruptionErrors alex, half;
  for (Corruption c : all_corruptions()) {
    const double e = *alexnet_error(corruption_name(c));
    alex[corruption_name(c)].fill(e);
    half[corruption_name(c)].fill(e / 2);
  }
  CHECK_THAT(compute_mce_alexnet(alex).mce, Catch::Matchers::WithinAbs(1.0, 1e-12));
  MceResult r = compute_mce_alexnet(half);
  CHECK_THAT(r.mce, Catch::Matchers::WithinAbs(0.5, 1e-12));
  CHECK_THAT(r.ce.at("fog"), Catch::Matchers::WithinAbs(0.5, 1e-12));
  // Against another baseline: CE sums over severities before dividing.
  CorruptionErrors model = {{"fog", {0.1, 0.2, 0.3, 0.4, 0.5}}, {"snow", {0.2, 0.2, 0.2, 0.2, 0.2}}};
  CorruptionErrors base = {{"fog", {0.3, 0.3, 0.3, 0.3, 0.3}}, {"snow", {0.4, 0.4, 0.4, 0.4, 0.4}}};
  MceResult m = compute_mce(model, base);
  CHECK_THAT(m.ce.at("fog"), Catch::Matchers::WithinAbs(1.5 / 1.5, 1e-12));
  CHECK_THAT(m.ce.at("snow"), Catch::Matchers::WithinAbs(0.5, 1e-12));
  CHECK_THAT(m.mce, Catch::Matchers::WithinAbs(0.75, 1e-12));
  CHECK_THAT(m.mean_error, Catch::Matchers::WithinAbs(0.25, 1e-12));
  CHECK_THROWS(compute_mce(model, {{"fog", {0.3, 0.3, 0.3, 0.3, 0.3}}}));
}
