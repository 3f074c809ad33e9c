// Augmentation pipelines on uint8 images. A Pipeline turns a Sample into the
// final float [C, H, W] slot of a batch: a SourceStep first produces pixels
// (knowing the full-resolution size, it picks its crop before decoding and
// asks JPEG for the smallest DCT scale that still covers the output), then
// Transforms edit the image in place, then per-channel normalization writes
// (x/255 - mean)/std. Every random choice draws from the Rng the loader
// derives from (seed, epoch, example index), so results do not depend on
// threads. Steps follow torchvision's published semantics (RandomResizedCrop:
// 10 attempts at area/aspect draws, then a center crop clamped to the aspect
// range; eval: resize shorter side then center crop). Presets cover the
// paper's ImageNet recipe and Fashion-MNIST; AugmentConfig is the flat form a
// recipe maps onto.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/data/dataset.h"
#include "runtime/data/image.h"
#include "runtime/data/random.h"

namespace acnn::data {

// ---------------------------------------------------------------- source steps
class SourceStep {
 public:
  virtual ~SourceStep() = default;
  // Pixels with `channels` channels (1 or 3). Throws DecodeError.
  virtual Image load(const Sample& s, int channels, Rng& rng) const = 0;
  virtual std::string describe() const = 0;
};

// The whole image at full resolution.
class DecodeFull : public SourceStep {
 public:
  Image load(const Sample& s, int channels, Rng& rng) const override;
  std::string describe() const override { return "decode"; }
};

// Resize to a fixed height x width (aspect not kept).
class Resize : public SourceStep {
 public:
  Resize(int height, int width) : h_(height), w_(width) {}
  Image load(const Sample& s, int channels, Rng& rng) const override;
  std::string describe() const override;

 private:
  int h_, w_;
};

class RandomResizedCrop : public SourceStep {
 public:
  RandomResizedCrop(int height, int width, double scale_min = 0.05, double scale_max = 1.0,
                    double ratio_min = 3.0 / 4.0, double ratio_max = 4.0 / 3.0);
  Image load(const Sample& s, int channels, Rng& rng) const override;
  std::string describe() const override;
  // The crop rectangle (integer pixels) for a width x height source.
  static Box sample_box(int width, int height, double scale_min, double scale_max, double ratio_min, double ratio_max,
                        Rng& rng);

 private:
  int h_, w_;
  double smin_, smax_, rmin_, rmax_;
};

// Resize the shorter side to `resize`, then take the central crop_h x crop_w.
class ResizeCenterCrop : public SourceStep {
 public:
  ResizeCenterCrop(int resize, int crop_h, int crop_w) : resize_(resize), ch_(crop_h), cw_(crop_w) {}
  Image load(const Sample& s, int channels, Rng& rng) const override;
  std::string describe() const override;
  static Box center_box(int width, int height, int resize, int crop_h, int crop_w);

 private:
  int resize_, ch_, cw_;
};

// Decodes `s` so that `box` comes out at >= out_w x out_h, and resamples it.
Image decode_box(const Sample& s, int channels, Box box, int out_h, int out_w);

// ---------------------------------------------------------------- transforms
class Transform {
 public:
  virtual ~Transform() = default;
  virtual void apply(Image& img, Rng& rng) const = 0;
  virtual std::string describe() const = 0;
};

// Pads by `pad` on every side, then crops height x width at a random offset
// (the CIFAR / Fashion-MNIST augmentation).
class RandomCropPad : public Transform {
 public:
  RandomCropPad(int height, int width, int pad, PadMode mode = PadMode::Constant, uint8_t fill = 0)
      : h_(height), w_(width), pad_(pad), mode_(mode), fill_(fill) {}
  void apply(Image& img, Rng& rng) const override;
  std::string describe() const override;

 private:
  int h_, w_, pad_;
  PadMode mode_;
  uint8_t fill_;
};

class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(double p = 0.5) : p_(p) {}
  void apply(Image& img, Rng& rng) const override;
  std::string describe() const override;

 private:
  double p_;
};

// Sets a size x size square (centered at a uniform pixel, clipped at the
// borders) to `fill` (DeVries & Taylor 2017).
class Cutout : public Transform {
 public:
  explicit Cutout(int size, uint8_t fill = 0) : size_(size), fill_(fill) {}
  void apply(Image& img, Rng& rng) const override;
  std::string describe() const override;

 private:
  int size_;
  uint8_t fill_;
};

// ---------------------------------------------------------------- pipeline
struct Normalization {
  std::vector<float> mean, stddev;  // per channel, on the [0, 1] scale
  static Normalization imagenet();       // (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225)
  static Normalization fashion_mnist();  // 0.2860 / 0.3530
  static Normalization none(int channels);  // x / 255
};

class Pipeline {
 public:
  // channels: output channels (1 or 3), 0 = the dataset's.
  explicit Pipeline(std::shared_ptr<const SourceStep> source = nullptr, Normalization norm = Normalization::none(3),
                    int channels = 0);
  Pipeline& add(std::shared_ptr<const Transform> t);
  Pipeline& set_source(std::shared_ptr<const SourceStep> s);
  Pipeline& set_normalization(Normalization n);
  Pipeline& set_channels(int channels);

  // The augmented uint8 image (before normalization).
  Image augment(const Sample& s, int dataset_channels, Rng& rng) const;
  // Normalizes into dst ([C, H, W] floats of the image's size).
  void normalize(const Image& img, float* dst) const;
  int output_channels(int dataset_channels) const { return channels_ ? channels_ : dataset_channels; }
  std::string describe() const;

 private:
  std::shared_ptr<const SourceStep> source_;
  std::vector<std::shared_ptr<const Transform>> steps_;
  Normalization norm_;
  int channels_;
};

// The flat description a recipe maps onto.
struct AugmentConfig {
  enum class Crop { None, PadCrop, RandomResized, ResizeCenter, Resize };
  Crop crop = Crop::None;
  int size = 224;               // output height = width (RandomResized, ResizeCenter, Resize, PadCrop)
  int resize = 256;             // ResizeCenter: shorter side before the crop
  int pad = 4;                  // PadCrop
  double scale_min = 0.05, scale_max = 1.0;        // RandomResized area fraction
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  double flip = 0.0;            // horizontal flip probability
  std::string autoaugment;      // "", "imagenet", "cifar10", "svhn"
  uint8_t autoaugment_fill = 128;  // gray level of areas geometric ops uncover
  int cutout = 0;               // Cutout square size (0: off), after AutoAugment
  std::string corruption;       // ImageNet-C style corruption on the final image ("" off)
  int severity = 0;
  Normalization norm = Normalization::imagenet();
  int channels = 0;             // 0: the dataset's
};
Pipeline make_pipeline(const AugmentConfig& c);

// Presets. ImageNet: RandomResizedCrop(size, area 5%-100%, aspect 3/4-4/3),
// flip 0.5, optional AutoAugment (ImageNet policy); eval resize 256 (292 for
// BL models at 256), center crop. Fashion-MNIST: pad 2 + random 28x28 crop,
// flip 0.5; eval: as is.
AugmentConfig imagenet_train_config(int size = 224, bool autoaugment = false);
AugmentConfig imagenet_eval_config(int resize = 256, int crop = 224);
AugmentConfig fashion_train_config();
AugmentConfig fashion_eval_config();

}  // namespace acnn::data
