// The dataset interface the loader consumes. A Dataset is an indexed,
// thread-safe collection of labeled images. get(i) returns a Sample: the label
// and the full-resolution size, with either decoded pixels (in-memory sets such
// as Fashion-MNIST) or the encoded file bytes (image folders), so that the
// first augmentation step can pick its crop from the size alone and decode
// only at the resolution it needs (JPEG DCT scaling). InMemoryDataset holds
// fixed-size uint8 images (IDX files); Subset views a slice or any index list
// of another dataset (tiny training runs, data-parallel shards).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/data/image.h"

namespace acnn::data {

struct Sample {
  int label = -1;
  int width = 0, height = 0, channels = 0;  // full resolution
  Image decoded;                            // in-memory datasets
  std::vector<uint8_t> encoded;             // file-backed datasets: the file's bytes
  std::string path;                         // for error messages ("" for in-memory)

  // Pixels with `channels` channels (0: this sample's `channels`, or as
  // stored when that is 0 too) at the smallest available
  // scale that is still >= min_w x min_h (0: full size). Throws DecodeError.
  Image image(int channels = 0, int min_w = 0, int min_h = 0) const;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  virtual int num_classes() const = 0;
  virtual int label(size_t i) const = 0;
  // Thread-safe. Throws (DecodeError, std::runtime_error) for items that
  // cannot be read; the loader counts and replaces those.
  virtual Sample get(size_t i) const = 0;
  // Channels of the stored images (1 or 3): the pipeline's default output.
  virtual int channels() const = 0;
  virtual std::string name() const = 0;
  virtual std::vector<std::string> class_names() const { return {}; }
  // Files left out when the dataset was opened (damaged images).
  virtual size_t skipped_count() const { return 0; }
};

class InMemoryDataset : public Dataset {
 public:
  // pixels: n x h x w x c uint8 (HWC per image); labels in [0, num_classes).
  InMemoryDataset(std::string name, int h, int w, int c, std::vector<uint8_t> pixels, std::vector<int32_t> labels,
                  int num_classes, std::vector<std::string> class_names = {});
  size_t size() const override { return labels_.size(); }
  int num_classes() const override { return num_classes_; }
  int label(size_t i) const override { return labels_.at(i); }
  Sample get(size_t i) const override;
  int channels() const override { return c_; }
  std::string name() const override { return name_; }
  std::vector<std::string> class_names() const override { return class_names_; }

  int height() const { return h_; }
  int width() const { return w_; }
  const uint8_t* pixels(size_t i) const { return pixels_.data() + i * static_cast<size_t>(h_) * w_ * c_; }
  Image image(size_t i) const;
  const std::vector<int32_t>& labels() const { return labels_; }

 private:
  std::string name_;
  int h_, w_, c_;
  std::vector<uint8_t> pixels_;
  std::vector<int32_t> labels_;
  int num_classes_;
  std::vector<std::string> class_names_;
};

class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, std::vector<size_t> indices);
  // Items [begin, end) of base (clamped to its size).
  static std::shared_ptr<Subset> range(std::shared_ptr<const Dataset> base, size_t begin, size_t end);
  size_t size() const override { return indices_.size(); }
  int num_classes() const override { return base_->num_classes(); }
  int label(size_t i) const override { return base_->label(indices_.at(i)); }
  Sample get(size_t i) const override { return base_->get(indices_.at(i)); }
  int channels() const override { return base_->channels(); }
  std::string name() const override { return base_->name() + "[subset]"; }
  std::vector<std::string> class_names() const override { return base_->class_names(); }
  size_t skipped_count() const override { return base_->skipped_count(); }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<size_t> indices_;
};

}  // namespace acnn::data
