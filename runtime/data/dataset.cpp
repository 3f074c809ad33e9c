#include "runtime/data/dataset.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/data/codec.h"

namespace acnn::data {

Image Sample::image(int want_channels, int min_w, int min_h) const {
  if (want_channels == 0) want_channels = channels;
  if (!decoded.empty()) return to_channels(decoded, want_channels);
  if (encoded.empty()) throw DecodeError((path.empty() ? std::string("sample") : path) + ": no image data");
  try {
    return decode_image(encoded.data(), encoded.size(), want_channels, min_w, min_h);
  } catch (const DecodeError& e) {
    throw DecodeError(path + ": " + e.what());
  }
}

InMemoryDataset::InMemoryDataset(std::string name, int h, int w, int c, std::vector<uint8_t> pixels,
                                 std::vector<int32_t> labels, int num_classes, std::vector<std::string> class_names)
    : name_(std::move(name)), h_(h), w_(w), c_(c), pixels_(std::move(pixels)), labels_(std::move(labels)),
      num_classes_(num_classes), class_names_(std::move(class_names)) {
  if (pixels_.size() != labels_.size() * static_cast<size_t>(h) * w * c)
    throw std::invalid_argument(name_ + ": pixel buffer does not hold " + std::to_string(labels_.size()) + " images of " +
                                std::to_string(h) + "x" + std::to_string(w) + "x" + std::to_string(c));
  for (size_t i = 0; i < labels_.size(); ++i)
    if (labels_[i] < 0 || labels_[i] >= num_classes_)
      throw std::invalid_argument(name_ + ": label " + std::to_string(labels_[i]) + " of item " + std::to_string(i) +
                                  " is outside [0, " + std::to_string(num_classes_) + ")");
}

Image InMemoryDataset::image(size_t i) const {
  if (i >= size()) throw std::out_of_range(name_ + ": index " + std::to_string(i) + " out of range");
  Image img(h_, w_, c_);
  std::copy_n(pixels(i), img.size(), img.data());
  return img;
}

Sample InMemoryDataset::get(size_t i) const {
  Sample s;
  s.decoded = image(i);
  s.label = labels_[i];
  s.width = w_;
  s.height = h_;
  s.channels = c_;
  return s;
}

Subset::Subset(std::shared_ptr<const Dataset> base, std::vector<size_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  for (size_t i : indices_)
    if (i >= base_->size())
      throw std::out_of_range(base_->name() + ": subset index " + std::to_string(i) + " out of range");
}

std::shared_ptr<Subset> Subset::range(std::shared_ptr<const Dataset> base, size_t begin, size_t end) {
  end = std::min(end, base->size());
  begin = std::min(begin, end);
  std::vector<size_t> idx(end - begin);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = begin + i;
  return std::make_shared<Subset>(std::move(base), std::move(idx));
}

}  // namespace acnn::data
