// Robustness evaluation behind `acnn eval --corruptions`: top-1 error on the
// clean evaluation set and on each of the 15 ImageNet-C corruptions at the
// chosen severities, either generated on the fly from the recipe's
// evaluation set (runtime/data/corruptions; `limit` evenly spaced examples per
// corruption and severity keeps small-data runs cheap) or read from an
// ImageNet-C folder tree `<root>/<corruption>/<severity>/<class>/*`. The
// corruption error CE_c = sum_s E(c, s) / sum_s B(c, s) over the evaluated
// severities is normalized by B = a baseline run's errors (its JSON report),
// else by AlexNet's published ImageNet-C errors for ImageNet, else left
// unnormalized (CE_c is then the mean error; the report says so). mCE is the
// mean of CE_c over corruptions, in percent as in the paper's Table 7.
// Reports round-trip through JSON (the per-corruption per-severity errors are
// what a later run normalizes by).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/train/recipe.h"
#include "runtime/train/evaluator.h"

namespace acnn::train {

struct RobustnessOptions {
  std::vector<int> severities{1, 2, 3, 4, 5};
  std::vector<std::string> corruptions;  // empty: the 15 benchmark corruptions
  int64_t limit = 0;                     // examples per corruption and severity (0: all)
  std::string imagenet_c;                // ImageNet-C root; "" generates the corruptions
  std::string baseline;                  // a baseline's report (JSON) to normalize by
  std::optional<EvalResult> clean;       // the clean result when already known (skips that pass)
  // After each evaluated set: (corruption or "clean", severity, top-1 error).
  std::function<void(const std::string&, int, double)> progress;
};

struct RobustnessReport {
  std::string model, checkpoint, data;     // what was evaluated (informational)
  EvalResult clean;
  std::vector<int> severities;
  int64_t limit = 0;
  std::string source = "generated";        // "generated" or "imagenet-c:<root>"
  // corruption -> severity -> top-1 error in [0, 1]
  std::map<std::string, std::map<int, double>> errors;
  std::string normalization = "none";      // "baseline", "alexnet" or "none"
  std::string baseline;                    // the baseline report's path
  std::map<std::string, double> ce;        // per corruption (see above)
  double mce = 0;                          // mean of ce, in [0, ...) (x100 for percent)
  double mean_error = 0;                   // unnormalized mean over corruptions and severities

  double clean_error() const { return 1.0 - clean.top1; }
};

// Evaluates clean + corrupted sets with `ev` (weights already loaded).
RobustnessReport evaluate_robustness(Evaluator& ev, const Recipe& r, const RobustnessOptions& o);

// Fills ce/mce/mean_error/normalization from the errors: by the baseline
// report at `baseline_path` when given, else AlexNet for `data_set` ==
// "imagenet", else unnormalized. Throws when the baseline lacks a corruption
// or severity that was evaluated.
void normalize_report(RobustnessReport& rep, const std::string& data_set, const std::string& baseline_path);

std::string report_json(const RobustnessReport& rep);
RobustnessReport read_report(const std::string& path);
// Writes atomically.
void save_report(const std::string& path, const RobustnessReport& rep);
// A table: per corruption its errors by severity and CE, then clean error and mCE.
std::string format_report(const RobustnessReport& rep);
// "runs/x/last.safetensors" -> "runs/x/last.robustness.json"
std::string report_path_for(const std::string& checkpoint);

// Parses "1,2,3" (severities 1..5); throws std::invalid_argument.
std::vector<int> parse_severities(const std::string& text);

}  // namespace acnn::train
