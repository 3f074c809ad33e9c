// Inference over a data set, shared by training (evaluation after each
// epoch), `acnn eval` (clean and corrupted sets), `acnn teacher-logits`
// (logits of every training example) and `acnn ablate` (throughput). An
// Evaluator compiles the model's inference graph at a fixed batch size (the
// last, short batch is zero-padded and cut), loads weights from a training
// executor or a checkpoint, and runs a data set through a pipeline in order,
// metering top-1/top-5 and the loss and optionally handing each batch's
// logits to a callback. Helpers used by the trainer live here too: building
// the forward graph and loading named tensors into an executor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compiler/elaborate/model_file.h"
#include "compiler/train/recipe.h"
#include "runtime/data/dataset.h"
#include "runtime/data/loader.h"
#include "compiler/passes/pipeline.h"
#include "runtime/runner.h"
#include "runtime/train/safetensors.h"

namespace acnn::train {

// How graphs are compiled and where they run: the part of the training
// options that evaluation, teacher logits and the ablation runner share.
struct RunSetup {
  int threads = 0;                    // compute threads (0: all cores)
  std::vector<std::string> backends;  // CPU executor backend priority; empty: fastest available
  std::string device = "auto";        // auto | cpu | cuda (auto: the GPU when one is usable)
  // Graph passes (compiler/passes/pipeline.h) run before a graph is planned:
  // a --passes list ("all", "none", or names); no_fuse drops the fusion pass.
  std::string passes = "all";
  bool no_fuse = false;
  // Remat recomputes only activations of at least this many MiB (< 0: the
  // default, kRematMinBytes on the CPU and kRematMinBytesCuda on the GPU,
  // which has memory to spare for fewer recomputations).
  double remat_min_mib = -1;
  bool profile = false;               // per-kernel times
};

// Runs the pass pipeline on a graph about to be planned for `s.device`.
void optimize_graph(ir::Graph& g, const RunSetup& s, passes::Mode mode, passes::PhaseTimer* timer = nullptr);
RunnerOptions runner_options(const RunSetup& s, const std::string& precision, uint64_t seed);

struct EvalResult {
  double top1 = 0, top5 = 0, loss = 0;
  int64_t examples = 0;
  double seconds = 0;
};

// Sets every persistent tensor of `ex` whose name, with `prefix` stripped,
// is in `tensors`; returns how many. Throws on a shape or dtype mismatch
// (naming `file`).
int load_tensors(Runner& ex, const TensorMap& tensors, const std::string& prefix, const std::string& file);

// A copy of `t` with dim 0 zero-padded to n (t itself when it has n rows).
Tensor pad_rows(const Tensor& t, int64_t n);

class Evaluator {
 public:
  // Receives each batch and its logits (valid rows only, f32 [n, K]).
  using LogitsSink = std::function<void(const data::Batch&, const Tensor& logits)>;

  Evaluator(ModelFile& mf, const Recipe& r, int64_t batch, const RunSetup& setup = {},
            passes::PhaseTimer* timer = nullptr);

  // Weights of a training executor (same names).
  void copy_weights_from(const Runner& train);
  // Weights of a checkpoint; every parameter and statistic must be there.
  void load_checkpoint(const std::string& path);

  // Runs `ds` in order through `pipe` (no shuffling, every example once).
  EvalResult run(std::shared_ptr<const data::Dataset> ds, std::shared_ptr<const data::Pipeline> pipe,
                 const LogitsSink& sink = nullptr);

  // Inference images per second on random inputs at this batch size: the
  // fastest of the runs in a window of at least `seconds` (and 3 runs) after
  // a warm-up run.
  double throughput(double seconds = 2.0);

  int64_t batch() const { return batch_; }
  int64_t classes() const { return classes_; }
  Runner& runner() { return *exec_; }

 private:
  std::unique_ptr<ir::Graph> graph_;
  std::unique_ptr<Runner> exec_;
  int64_t batch_ = 0, classes_ = 0;
  uint64_t seed_ = 0;
  int workers_ = 0, threads_ = 0;
};

}  // namespace acnn::train
