// The rows of an ablation table in the style of the paper's Table 7 (`acnn
// ablate`): per model file its network and regularizers, epochs, top-1, mCE
// and inference throughput, with deltas to the previous row. A finished row
// is stored as runs/<name>/ablation_row.json together with the fingerprint of
// the recipe it was trained with, so that a later `acnn ablate` reuses it
// unless the recipe changed. The labels are derived from the model file: the
// regularizers from the recipe (LS, Mixup, DropBlock, KD, AutoAugment), the
// network from a ResNet's depths and tweaks ("R50D+SK+BL+AA"), or the file's
// own `label` string binding when it has one.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compiler/elaborate/value.h"
#include "compiler/train/recipe.h"

namespace acnn::train {

struct AblationRow {
  std::string file, name;              // model file and run name
  std::string model, regularization;   // labels
  int64_t epochs = 0;
  double top1 = 0;                     // clean top-1 in [0, 1]
  double mce = NAN;                    // normalized mCE (x100 for percent); NaN: not evaluated
  double mean_corruption_error = NAN;  // unnormalized, in [0, 1]
  double images_per_s = 0;             // inference throughput (batch `throughput_batch`)
  int64_t throughput_batch = 0;
  double train_seconds = 0, train_images_per_s = 0;
  std::string recipe_hash, checkpoint, report;  // the run's files
  bool reused = false;                 // read from a finished run instead of trained now
};

// "LS+Mixup+DropBlock+KD+AutoAugment" (what the recipe turns on), "-" for none.
std::string regularization_label(const Recipe& r);
// "R50D+SE" for a ResNet network value (depths, kind and Tweaks `t`), else the
// network's name.
std::string network_label(const elab::Value& model);

std::string row_json(const AblationRow& row);
// nullopt when the file is missing or malformed.
std::optional<AblationRow> read_row(const std::string& path);

// The table as Markdown (deltas to the previous row in parentheses).
std::string ablation_markdown(const std::vector<AblationRow>& rows);
std::string ablation_json(const std::vector<AblationRow>& rows, double wall_seconds, const std::string& mce_note);

}  // namespace acnn::train
