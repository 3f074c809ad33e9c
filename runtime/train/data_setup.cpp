#include "runtime/train/data_setup.h"

#include <stdexcept>

#include "runtime/data/idx.h"
#include "runtime/data/image_folder.h"

namespace acnn::train {

namespace {

std::shared_ptr<const data::Dataset> limit(std::shared_ptr<const data::Dataset> ds, int64_t n) {
  if (n <= 0 || static_cast<size_t>(n) >= ds->size()) return ds;
  return data::Subset::range(ds, 0, static_cast<size_t>(n));
}

data::Normalization normalization(const Recipe& r) {
  data::Normalization n;
  for (double m : r.data.mean) n.mean.push_back(static_cast<float>(m));
  for (double s : r.data.std) n.stddev.push_back(static_cast<float>(s));
  if (n.mean.size() != static_cast<size_t>(r.data.channels) || n.stddev.size() != static_cast<size_t>(r.data.channels))
    throw std::invalid_argument("the recipe's data.mean and data.std need one value per channel (" +
                                std::to_string(r.data.channels) + ")");
  return n;
}

}  // namespace

DataSets load_datasets(const Recipe& r) {
  DataSets d;
  if (r.data.set == "fashion_mnist") {
    std::string dir = r.data.path.empty() ? data::kFashionMnistDir : r.data.path;
    d.train = limit(data::load_fashion_mnist(data::Split::Train, dir), r.data.limit_train);
    d.eval = limit(data::load_fashion_mnist(data::Split::Test, dir), r.data.limit_eval);
    d.description = "Fashion-MNIST from " + dir;
  } else if (r.data.set == "imagenet") {
    if (r.data.path.empty())
      throw std::invalid_argument("the recipe's data set is imagenet but data.path is empty; pass --data DIR (with "
                                  "train/<class>/*.JPEG and val/<class>/*.JPEG)");
    data::ImageFolderOptions o;
    o.channels = static_cast<int>(r.data.channels);
    auto train = data::open_imagenet(r.data.path, "train", o);
    o.classes = train->class_names();
    d.train = limit(train, r.data.limit_train);
    d.eval = limit(data::open_imagenet(r.data.path, "val", o), r.data.limit_eval);
    d.description = "ImageNet folders from " + r.data.path;
  } else {
    throw std::invalid_argument("data set `" + r.data.set + "` cannot be trained on yet");
  }
  if (d.train->num_classes() != r.data.classes)
    throw std::invalid_argument(d.description + " has " + std::to_string(d.train->num_classes()) +
                                " classes but the recipe says data.classes = " + std::to_string(r.data.classes));
  d.description += " (" + std::to_string(d.train->size()) + " train / " + std::to_string(d.eval->size()) + " eval)";
  return d;
}

std::shared_ptr<const data::Pipeline> train_pipeline(const Recipe& r) {
  data::AugmentConfig c;
  c.norm = normalization(r);
  c.channels = static_cast<int>(r.data.channels);
  c.size = static_cast<int>(r.data.size);
  if (r.augment.random_resized_crop) {
    c.crop = data::AugmentConfig::Crop::RandomResized;
    c.scale_min = r.augment.crop_area.at(0);
    c.scale_max = r.augment.crop_area.at(1);
    c.ratio_min = r.augment.crop_ratio.at(0);
    c.ratio_max = r.augment.crop_ratio.at(1);
  } else if (r.augment.pad_crop > 0) {
    c.crop = data::AugmentConfig::Crop::PadCrop;
    c.pad = static_cast<int>(r.augment.pad_crop);
  } else if (r.data.set != "fashion_mnist") {
    c.crop = data::AugmentConfig::Crop::Resize;
  }
  c.flip = r.augment.flip ? 0.5 : 0.0;
  std::string aa = r.augment.autoaugment;
  c.autoaugment = aa == "none" ? "" : aa == "cifar" ? "cifar10" : aa;
  if (r.augment.autoaugment_fill < 0 || r.augment.autoaugment_fill > 255)
    throw std::invalid_argument("augment.autoaugment_fill is a gray level 0..255");
  c.autoaugment_fill = static_cast<uint8_t>(r.augment.autoaugment_fill);
  return std::make_shared<data::Pipeline>(data::make_pipeline(c));
}

std::shared_ptr<const data::Pipeline> eval_pipeline(const Recipe& r, const std::string& corruption, int severity) {
  data::AugmentConfig c;
  c.norm = normalization(r);
  c.channels = static_cast<int>(r.data.channels);
  int crop = static_cast<int>(r.data.eval_crop > 0 ? r.data.eval_crop : r.data.size);
  c.size = crop;
  if (r.data.eval_resize > 0) {
    c.crop = data::AugmentConfig::Crop::ResizeCenter;
    c.resize = static_cast<int>(r.data.eval_resize);
  } else if (r.data.set != "fashion_mnist") {
    c.crop = data::AugmentConfig::Crop::Resize;
  }
  c.corruption = corruption;
  c.severity = severity;
  return std::make_shared<data::Pipeline>(data::make_pipeline(c));
}

std::shared_ptr<const data::Pipeline> precropped_pipeline(const Recipe& r) {
  data::AugmentConfig c;
  c.norm = normalization(r);
  c.channels = static_cast<int>(r.data.channels);
  int crop = static_cast<int>(r.data.eval_crop > 0 ? r.data.eval_crop : r.data.size);
  c.size = crop;
  c.crop = data::AugmentConfig::Crop::ResizeCenter;
  c.resize = crop;
  return std::make_shared<data::Pipeline>(data::make_pipeline(c));
}

}  // namespace acnn::train
