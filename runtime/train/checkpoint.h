// Training checkpoints: one safetensors file holding every named tensor the
// run needs to continue (parameters such as `layer1.0.conv1.weight`, BN running
// statistics, optimizer buffers such as `layer1.0.conv1.weight.momentum`) and
// the training state in `__metadata__` (epoch, step within the epoch, global
// step, seed, data-loader position, opaque RNG state, best metric, recipe hash,
// acnn version), so that a resumed run continues bit for bit. Numbers are
// stored as decimal strings that round-trip exactly (shortest form for
// doubles). A plain safetensors file without acnn's state (weights exported
// from PyTorch) loads with `state` empty. RunDirectory manages
// `runs/<name>/`: `last.safetensors` (always the newest) plus
// `epoch<N>.safetensors` after each epoch N (1-based, N epochs completed),
// keeping only the newest K epoch files. All writes are atomic.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/train/safetensors.h"

namespace acnn::train {

// Suffix of an optimizer momentum buffer's name: `<param>.momentum`.
inline constexpr const char* kMomentumSuffix = ".momentum";
inline std::string momentum_name(const std::string& param) { return param + kMomentumSuffix; }

// Where training stands. A checkpoint taken after step s (0-based, s+1 steps
// done) of epoch e (0-based) has epoch = e, step_in_epoch = s + 1; one taken at
// the end of epoch e has epoch = e + 1, step_in_epoch = 0. Resuming runs the
// loop from (epoch, step_in_epoch).
struct TrainState {
  int64_t epoch = 0;
  int64_t step_in_epoch = 0;
  int64_t global_step = 0;       // optimizer steps taken in total
  uint64_t seed = 0;             // the run's seed
  int64_t data_position = 0;     // samples the loader has delivered in this epoch
  std::string rng_state;         // opaque: any extra RNG / loader state, serialized
  double best_metric = std::numeric_limits<double>::quiet_NaN();  // NaN: none yet
  std::string best_metric_name;  // e.g. "val_top1"
  std::string recipe_hash;       // hash of the resolved recipe: resume refuses a changed one
  std::string acnn_version;      // version that wrote the file (filled in by save if empty)
  Metadata extra;                // free-form, stored under "extra.<key>"
};

// Version string written into checkpoints (the CMake project version).
std::string acnn_version();

// The metadata map for a state and back. from_metadata returns nullopt when
// the map holds no acnn state; it throws (naming `file`) on a malformed one.
Metadata state_to_metadata(const TrainState& s);
std::optional<TrainState> state_from_metadata(const Metadata& m, const std::string& file = "<metadata>");

struct Checkpoint {
  TensorMap tensors;
  std::optional<TrainState> state;  // empty for a plain safetensors file
};

void save_checkpoint(const std::string& path, const TensorMap& tensors, const TrainState& state);
Checkpoint load_checkpoint(const std::string& path);

// `runs/<name>/` and its retention policy.
class RunDirectory {
 public:
  // Creates the directory (and parents). keep_epochs: how many epoch<N> files
  // survive (0 keeps none; last.safetensors is always kept).
  explicit RunDirectory(std::filesystem::path dir, int keep_epochs = 3);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path last_path() const { return dir_ / "last.safetensors"; }
  std::filesystem::path epoch_path(int64_t epoch) const;
  std::filesystem::path metrics_path() const { return dir_ / "metrics.jsonl"; }

  // Mid-epoch save (interrupt, periodic): replaces last.safetensors.
  void save_last(const TensorMap& tensors, const TrainState& state);
  // End of epoch `epoch` (1-based count of completed epochs): writes
  // epoch<epoch>.safetensors, makes last.safetensors the same file, prunes.
  void save_epoch(int64_t epoch, const TensorMap& tensors, const TrainState& state);
  // Epoch numbers of the epoch<N>.safetensors files present, ascending.
  std::vector<int64_t> saved_epochs() const;
  // Deletes epoch files beyond the newest keep_epochs.
  void prune() const;
  // last.safetensors when it exists.
  std::optional<std::filesystem::path> resume_path() const;

 private:
  std::filesystem::path dir_;
  int keep_;
};

}  // namespace acnn::train
