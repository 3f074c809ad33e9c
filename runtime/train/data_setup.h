// Turns a recipe's data and augmentation settings into datasets, augmentation
// pipelines and loaders: Fashion-MNIST (the embedded default, from Debian's
// dataset-fashion-mnist package unless the recipe or --data points elsewhere)
// or an ImageNet-style folder tree. Errors name the path and what to do.
#pragma once

#include <memory>
#include <string>

#include "compiler/train/recipe.h"
#include "runtime/data/augment.h"
#include "runtime/data/dataset.h"
#include "runtime/data/loader.h"

namespace acnn::train {

struct DataSets {
  std::shared_ptr<const data::Dataset> train, eval;
  std::string description;  // "fashion_mnist (60000 train / 10000 test) from <dir>"
};

// Loads the training and evaluation sets (limits applied).
DataSets load_datasets(const Recipe& r);

// Augmentation pipelines: training (random crops, flips, AutoAugment) and
// evaluation (resize + center crop, or as is), both normalized per the recipe.
std::shared_ptr<const data::Pipeline> train_pipeline(const Recipe& r);
std::shared_ptr<const data::Pipeline> eval_pipeline(const Recipe& r, const std::string& corruption = "", int severity = 0);
// For images that are already evaluation crops (ImageNet-C): the shorter side
// resized to the crop size and the central crop taken (a no-op at that size),
// then normalized.
std::shared_ptr<const data::Pipeline> precropped_pipeline(const Recipe& r);

}  // namespace acnn::train
