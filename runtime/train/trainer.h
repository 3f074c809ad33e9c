// The training loop behind `acnn train` and the evaluation behind `acnn eval`.
// train() compiles the model file's network into a training graph and an
// inference graph, feeds them batches from the recipe's data pipeline, steps
// the learning-rate and DropBlock schedules, draws mixup weights, runs a
// distillation teacher inside the step (or feeds precomputed teacher logits
// gathered by example index), shows progress, writes metrics as JSON
// lines and checkpoints (atomically) under runs/<name>/, evaluates after each
// epoch, stops cleanly on Ctrl-C, and resumes bit for bit from a checkpoint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "compiler/elaborate/model_file.h"
#include "compiler/train/recipe.h"
#include "runtime/tensor.h"
#include "runtime/train/evaluator.h"

namespace acnn::train {

struct TrainOptions : RunSetup {
  std::string run_name;             // default: the recipe's name, else the file's stem
  std::string runs_dir = "runs";
  bool resume = false;              // continue from runs/<name>/last.safetensors
  std::string init_checkpoint;      // start from these weights (fine-tuning)
  int64_t max_steps = 0;            // stop after this many steps in total (0: the recipe's epochs)
  int64_t checkpoint_every = 0;     // also checkpoint every N steps (0: once per epoch)
  int64_t log_every = 50;           // metrics.jsonl step records
  bool progress = true;
  bool time_passes = false;         // print the compile time of every stage
  double parse_seconds = 0;         // the caller's time to load the model file (reported first)
  std::string model_path;           // the model file (for resolving a teacher path)
  // --model-arg KEY=VALUE of the student, applied to a teacher model file too
  // (so that its input size and classes follow the student's).
  std::vector<std::string> model_args;
  // Called after every optimizer step with the global step count (tests use
  // it to interrupt a run at a chosen step).
  std::function<void(int64_t)> on_step;
};

struct TrainResult {
  int64_t epochs_done = 0, global_step = 0;
  double seconds = 0;
  bool interrupted = false;
  EvalResult eval;                  // the last evaluation
  double images_per_s = 0;          // training throughput of the last epoch
  std::string run_dir, checkpoint;
};

// Trains `mf`'s model with recipe `r`. Throws std::exception with a user-
// facing message on bad setups (missing data, shape mismatches, ...).
TrainResult train(ModelFile& mf, const Recipe& r, const TrainOptions& opts);

// Evaluates the model with weights from `checkpoint` ("" = freshly initialized)
// on the recipe's evaluation set, optionally under one corruption.
EvalResult evaluate(ModelFile& mf, const Recipe& r, const std::string& checkpoint, const TrainOptions& opts,
                    const std::string& corruption = "", int severity = 0);

// A stable fingerprint (16 hex digits) of everything in the recipe that
// changes the math; checkpoints and finished ablation rows carry it.
std::string recipe_fingerprint(const Recipe& r);

}  // namespace acnn::train
