// The C++ view of a `Recipe` record (stdlib/recipe.acnn): the elaborator
// checks the record against its schema; recipe_from_value() copies it into
// plain structs the training graph builder and the runtime read. Field names
// and meanings are those of the schema.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/elaborate/value.h"

namespace acnn {

struct Recipe {
  std::string name;
  struct Data {
    std::string set = "fashion_mnist", path;
    int64_t classes = 10, channels = 1, size = 28, eval_resize = 0, eval_crop = 0;
    std::vector<double> mean{0.286}, std{0.353};
    int64_t workers = 2, limit_train = 0, limit_eval = 0;
  } data;
  struct Augment {
    int64_t pad_crop = 0;
    bool flip = false, random_resized_crop = false;
    std::vector<double> crop_area{0.05, 1.0}, crop_ratio{0.75, 4.0 / 3.0};
    std::string autoaugment = "none";
    int64_t autoaugment_fill = 128;
  } augment;
  int64_t batch = 128, epochs = 10;
  struct Optimizer {
    double lr = 0.1, momentum = 0.9;
    bool nesterov = false;
    double weight_decay = 1e-4;
    bool decay_bn_and_bias = false;
  } optimizer;
  struct Schedule {
    std::string kind = "cosine";
    double warmup_epochs = 0;
    int64_t step_epochs = 30;
    std::vector<int64_t> milestones;
    double gamma = 0.1, final_lr = 0;
  } schedule;
  std::string precision = "fp32";
  double label_smoothing = 0;
  struct Mixup {
    double alpha = 0.2;
    std::string type = "none";  // none | batches | shuffle
  } mixup;
  double dropblock_keep = 1.0;
  struct Distill {
    std::string teacher, teacher_checkpoint, logits;
    double temperature = 1.0, weight = 1.0;
    bool enabled() const { return !teacher.empty() || !logits.empty(); }
  } distill;
  bool zero_gamma = true;
  int64_t seed = 0, eval_every = 1;

  bool mixup_on() const { return mixup.type != "none" && mixup.alpha > 0; }
};

// Copies a checked Recipe record. Asserts the schema (the elaborator has
// already type-checked every field).
Recipe recipe_from_value(const elab::Value& record);
// A one-line summary: "fashion: batch 128, 10 epochs, sgd lr 0.1 ...".
std::string summarize(const Recipe& r);

}  // namespace acnn
