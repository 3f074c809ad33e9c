// The run's metrics as JSON lines (`runs/<name>/metrics.jsonl`): one object
// per line, flushed as soon as it is written so that `tail -f` and plotting
// scripts see it at once and a crash loses at most the line being written.
// Records carry "type" ("step", "epoch", or any other the caller logs), "time"
// (Unix seconds, added when absent) and their fields; epochs and steps are
// 1-based counts (a step record during the first epoch has "epoch": 1 and
// "step": steps done in the epoch; the epoch record after it has "epoch": 1),
// and "global_step" counts optimizer steps over the run. Optional fields are
// left out when unknown; NaN and infinity become null (JSON has neither).
// Keys appear in insertion order ("type" first).
// Resuming from a checkpoint at global step G first drops the records written
// after the checkpoint (global_step > G) and any torn last line, so the file
// reads as one uninterrupted run; that rewrite is atomic.
#pragma once

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace acnn::train {

// Keys keep their insertion order, so every line starts with "type".
using Json = nlohmann::ordered_json;

struct StepRecord {
  int64_t epoch = 0;        // 1-based epoch in progress
  int64_t step = 0;         // steps done in this epoch
  int64_t global_step = 0;  // steps done in the run
  double loss = 0;          // loss of this step (or smoothed: the caller decides)
  std::optional<double> lr;
  std::optional<double> images_per_s;
};

struct EpochRecord {
  int64_t epoch = 0;        // epochs completed
  int64_t global_step = 0;
  std::optional<double> train_loss;
  std::optional<double> lr;
  std::optional<double> images_per_s;
  std::optional<double> epoch_time_s;
  std::optional<double> val_loss;
  std::optional<double> top1;  // fractions in [0, 1]
  std::optional<double> top5;
};

Json to_json(const StepRecord& r);
Json to_json(const EpochRecord& r);

class MetricsWriter {
 public:
  // Opens `path` for appending (creating parent directories). With
  // `resume_global_step`, first rewrites the file keeping only records whose
  // global_step is at most that value (records without one are kept).
  explicit MetricsWriter(const std::string& path, std::optional<int64_t> resume_global_step = std::nullopt);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  // Writes one object as one line and flushes; adds "time" when absent.
  // Throws std::runtime_error naming the file on an I/O error.
  void write(Json record);
  // `extra` (an object) is merged into the record.
  void log_step(const StepRecord& r, const Json& extra = Json::object());
  void log_epoch(const EpochRecord& r, const Json& extra = Json::object());

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  FILE* f_ = nullptr;
};

// Reads a metrics file; a torn (unparsable) last line is skipped, an
// unparsable line elsewhere throws. A missing file reads as empty.
std::vector<Json> read_metrics(const std::string& path);

// Unix time in seconds (with sub-second precision).
double unix_time();

}  // namespace acnn::train
