#include "runtime/data/augment.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "runtime/data/autoaugment.h"
#include "runtime/data/codec.h"
#include "runtime/data/corruptions.h"

namespace acnn::data {
namespace {

std::string size_str(int h, int w) { return std::to_string(h) + "x" + std::to_string(w); }

// The DCT scale a JPEG decode used, from the size it produced.
double decoded_scale(int full, int got) {
  for (int d : {1, 2, 4, 8})
    if (jpeg_scaled(full, d) == got) return 1.0 / d;
  return static_cast<double>(got) / full;
}

}  // namespace

Image decode_box(const Sample& s, int channels, Box box, int out_h, int out_w) {
  if (!s.decoded.empty()) return resample(to_channels(s.decoded, channels), box, out_h, out_w);
  const int min_w = static_cast<int>(std::ceil(s.width * (out_w / box.w) - 1e-9));
  const int min_h = static_cast<int>(std::ceil(s.height * (out_h / box.h) - 1e-9));
  Image img = s.image(channels, min_w, min_h);
  if (img.width != s.width || img.height != s.height) {
    const double sx = decoded_scale(s.width, img.width), sy = decoded_scale(s.height, img.height);
    box = Box{box.x * sx, box.y * sy, box.w * sx, box.h * sy};
  }
  return resample(img, box, out_h, out_w);
}

Image DecodeFull::load(const Sample& s, int channels, Rng&) const { return s.image(channels); }

Image Resize::load(const Sample& s, int channels, Rng&) const {
  return decode_box(s, channels, Box{0, 0, double(s.width), double(s.height)}, h_, w_);
}
std::string Resize::describe() const { return "resize(" + size_str(h_, w_) + ")"; }

RandomResizedCrop::RandomResizedCrop(int height, int width, double scale_min, double scale_max, double ratio_min,
                                     double ratio_max)
    : h_(height), w_(width), smin_(scale_min), smax_(scale_max), rmin_(ratio_min), rmax_(ratio_max) {
  if (height <= 0 || width <= 0) throw std::invalid_argument("RandomResizedCrop: size must be positive");
  if (!(scale_min > 0 && scale_min <= scale_max && scale_max <= 1.0))
    throw std::invalid_argument("RandomResizedCrop: need 0 < scale_min <= scale_max <= 1");
  if (!(ratio_min > 0 && ratio_min <= ratio_max)) throw std::invalid_argument("RandomResizedCrop: need 0 < ratio_min <= ratio_max");
}

Box RandomResizedCrop::sample_box(int W, int H, double smin, double smax, double rmin, double rmax, Rng& rng) {
  const double area = static_cast<double>(W) * H;
  const double lr0 = std::log(rmin), lr1 = std::log(rmax);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(smin, smax);
    const double aspect = std::exp(rng.uniform(lr0, lr1));
    const int w = static_cast<int>(std::lround(std::sqrt(target * aspect)));
    const int h = static_cast<int>(std::lround(std::sqrt(target / aspect)));
    if (w > 0 && h > 0 && w <= W && h <= H) {
      const int y = static_cast<int>(rng.randint(0, H - h + 1));
      const int x = static_cast<int>(rng.randint(0, W - w + 1));
      return Box{double(x), double(y), double(w), double(h)};
    }
  }
  // Fallback: the whole image, narrowed to the aspect range, centered.
  const double in_ratio = static_cast<double>(W) / H;
  int w = W, h = H;
  if (in_ratio < rmin) {
    h = static_cast<int>(std::lround(w / rmin));
  } else if (in_ratio > rmax) {
    w = static_cast<int>(std::lround(h * rmax));
  }
  w = std::clamp(w, 1, W);
  h = std::clamp(h, 1, H);
  return Box{double((W - w) / 2), double((H - h) / 2), double(w), double(h)};
}

Image RandomResizedCrop::load(const Sample& s, int channels, Rng& rng) const {
  Box b = sample_box(s.width, s.height, smin_, smax_, rmin_, rmax_, rng);
  return decode_box(s, channels, b, h_, w_);
}

std::string RandomResizedCrop::describe() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "random_resized_crop(%s, area %.3g-%.3g, aspect %.3g-%.3g)", size_str(h_, w_).c_str(),
                smin_, smax_, rmin_, rmax_);
  return buf;
}

Box ResizeCenterCrop::center_box(int W, int H, int R, int ch, int cw) {
  int nw, nh;
  if (W <= H) {
    nw = R;
    nh = static_cast<int>(static_cast<int64_t>(R) * H / W);
  } else {
    nh = R;
    nw = static_cast<int>(static_cast<int64_t>(R) * W / H);
  }
  const double sx = static_cast<double>(nw) / W, sy = static_cast<double>(nh) / H;
  const double top = std::round((nh - ch) / 2.0), left = std::round((nw - cw) / 2.0);
  return Box{left / sx, top / sy, cw / sx, ch / sy};
}

Image ResizeCenterCrop::load(const Sample& s, int channels, Rng&) const {
  return decode_box(s, channels, center_box(s.width, s.height, resize_, ch_, cw_), ch_, cw_);
}

std::string ResizeCenterCrop::describe() const {
  return "resize_shorter(" + std::to_string(resize_) + ") center_crop(" + size_str(ch_, cw_) + ")";
}

void RandomCropPad::apply(Image& img, Rng& rng) const {
  Image p = pad_ > 0 ? pad(img, pad_, pad_, pad_, pad_, mode_, fill_) : img;
  if (p.height < h_ || p.width < w_)
    throw std::invalid_argument("random_crop: " + size_str(h_, w_) + " crop of a " + acnn::data::describe(p) + " padded image");
  const int y = static_cast<int>(rng.randint(0, p.height - h_ + 1));
  const int x = static_cast<int>(rng.randint(0, p.width - w_ + 1));
  img = crop(p, y, x, h_, w_);
}

std::string RandomCropPad::describe() const {
  return "random_crop(" + size_str(h_, w_) + ", pad " + std::to_string(pad_) + ")";
}

void RandomHorizontalFlip::apply(Image& img, Rng& rng) const {
  if (rng.bernoulli(p_)) flip_horizontal(img);
}
std::string RandomHorizontalFlip::describe() const { return "flip(p=" + std::to_string(p_).substr(0, 4) + ")"; }

void Cutout::apply(Image& img, Rng& rng) const {
  if (size_ <= 0) return;
  const int cy = static_cast<int>(rng.randint(0, img.height)), cx = static_cast<int>(rng.randint(0, img.width));
  cutout(img, cy, cx, size_, fill_);
}
std::string Cutout::describe() const { return "cutout(" + std::to_string(size_) + ")"; }

Normalization Normalization::imagenet() { return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}}; }
Normalization Normalization::fashion_mnist() { return {{0.2860f}, {0.3530f}}; }
Normalization Normalization::none(int channels) {
  return {std::vector<float>(channels, 0.0f), std::vector<float>(channels, 1.0f)};
}

Pipeline::Pipeline(std::shared_ptr<const SourceStep> source, Normalization norm, int channels)
    : source_(std::move(source)), norm_(std::move(norm)), channels_(channels) {
  if (!source_) source_ = std::make_shared<DecodeFull>();
  if (channels != 0 && channels != 1 && channels != 3) throw std::invalid_argument("Pipeline: channels must be 0, 1 or 3");
}

Pipeline& Pipeline::add(std::shared_ptr<const Transform> t) {
  steps_.push_back(std::move(t));
  return *this;
}
Pipeline& Pipeline::set_source(std::shared_ptr<const SourceStep> s) {
  source_ = s ? std::move(s) : std::make_shared<DecodeFull>();
  return *this;
}
Pipeline& Pipeline::set_normalization(Normalization n) {
  norm_ = std::move(n);
  return *this;
}
Pipeline& Pipeline::set_channels(int c) {
  channels_ = c;
  return *this;
}

Image Pipeline::augment(const Sample& s, int dataset_channels, Rng& rng) const {
  Image img = source_->load(s, output_channels(dataset_channels), rng);
  for (const auto& t : steps_) t->apply(img, rng);
  return img;
}

void Pipeline::normalize(const Image& img, float* dst) const {
  const size_t C = static_cast<size_t>(img.channels);
  float mean[3], sd[3];
  for (size_t c = 0; c < C && c < 3; ++c) {
    const size_t k = norm_.mean.size() == 1 ? 0 : c;
    if (k >= norm_.mean.size() || k >= norm_.stddev.size())
      throw std::invalid_argument("normalization has " + std::to_string(norm_.mean.size()) + " channels, image has " +
                                  std::to_string(C));
    mean[c] = norm_.mean[k];
    sd[c] = norm_.stddev[k];
  }
  normalize_chw(img, mean, sd, dst);
}

std::string Pipeline::describe() const {
  std::string s = source_->describe();
  for (const auto& t : steps_) s += " -> " + t->describe();
  return s + " -> normalize";
}

Pipeline make_pipeline(const AugmentConfig& c) {
  Pipeline p(nullptr, c.norm, c.channels);
  using C = AugmentConfig::Crop;
  switch (c.crop) {
    case C::None: break;
    case C::PadCrop: p.add(std::make_shared<RandomCropPad>(c.size, c.size, c.pad)); break;
    case C::RandomResized:
      p.set_source(std::make_shared<RandomResizedCrop>(c.size, c.size, c.scale_min, c.scale_max, c.ratio_min,
                                                       c.ratio_max));
      break;
    case C::ResizeCenter: p.set_source(std::make_shared<ResizeCenterCrop>(c.resize, c.size, c.size)); break;
    case C::Resize: p.set_source(std::make_shared<Resize>(c.size, c.size)); break;
  }
  if (c.flip > 0) p.add(std::make_shared<RandomHorizontalFlip>(c.flip));
  if (!c.autoaugment.empty()) p.add(std::make_shared<AutoAugment>(policy_by_name(c.autoaugment), c.autoaugment_fill));
  if (c.cutout > 0) p.add(std::make_shared<Cutout>(c.cutout));
  if (!c.corruption.empty()) p.add(std::make_shared<Corrupt>(corruption_by_name(c.corruption), c.severity));
  return p;
}

AugmentConfig imagenet_train_config(int size, bool autoaugment) {
  AugmentConfig c;
  c.crop = AugmentConfig::Crop::RandomResized;
  c.size = size;
  c.flip = 0.5;
  if (autoaugment) c.autoaugment = "imagenet";
  return c;
}

AugmentConfig imagenet_eval_config(int resize, int crop) {
  AugmentConfig c;
  c.crop = AugmentConfig::Crop::ResizeCenter;
  c.resize = resize;
  c.size = crop;
  return c;
}

AugmentConfig fashion_train_config() {
  AugmentConfig c;
  c.crop = AugmentConfig::Crop::PadCrop;
  c.size = 28;
  c.pad = 2;
  c.flip = 0.5;
  c.norm = Normalization::fashion_mnist();
  return c;
}

AugmentConfig fashion_eval_config() {
  AugmentConfig c;
  c.norm = Normalization::fashion_mnist();
  return c;
}

}  // namespace acnn::data
