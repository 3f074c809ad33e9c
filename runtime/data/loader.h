// The data loader: batches of augmented, normalized examples in epoch order,
// built by a pool of worker threads into a bounded prefetch window. Each
// epoch's order is a Fisher-Yates shuffle keyed by (seed, epoch); each
// example's augmentation Rng is keyed by (seed, epoch, dataset index), so the
// batches are bit-identical for any thread count (0 threads builds in the
// calling thread). Work is split into chunks of a batch; workers write their
// examples straight into the batch tensor and never run more than `prefetch`
// batches ahead of the consumer. start_epoch() discards in-flight work and
// reshuffles; the destructor stops and joins the workers even when the
// consumer quits mid-epoch. Examples that fail to read or decode are counted
// and replaced by the next readable example of the dataset (deterministic,
// since failures are). `world`/`rank` shard each epoch for data parallelism.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/data/augment.h"
#include "runtime/data/dataset.h"
#include "runtime/tensor.h"

namespace acnn::data {

struct Batch {
  Tensor images;                 // f32 [N, C, H, W], normalized
  Tensor labels;                 // i32 [N]
  std::vector<int64_t> indices;  // dataset index of each example
  int64_t epoch = 0;
  int64_t index = 0;             // batch number within the epoch
  int64_t size() const { return images.defined() ? images.dim(0) : 0; }
};

struct LoaderConfig {
  int batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  int threads = 2;   // worker threads; 0: build batches in the caller's thread
  int prefetch = 4;  // batches in flight or ready ahead of the consumer (>= 1)
  int rank = 0;      // data-parallel shard of this process
  int world = 1;     // number of shards (each takes every world-th example of the epoch order)
};

struct LoaderStats {
  int64_t examples = 0;         // examples delivered (in batches taken by next())
  int64_t decode_failures = 0;  // examples that failed to load and were replaced
  int64_t skipped_files = 0;    // damaged files the dataset left out when opened
  std::vector<std::string> failures;  // the first messages (up to 20)
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, std::shared_ptr<const Pipeline> pipeline, LoaderConfig config);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts (or restarts) epoch `e`: new order, pending work dropped. next()
  // before any start_epoch() starts epoch 0. `first_batch` > 0 resumes
  // mid-epoch: the batches before it are not produced (a resumed run sees
  // exactly the batches the interrupted one would have).
  void start_epoch(int64_t e, int64_t first_batch = 0);
  // The next batch of the epoch, or nullopt when the epoch is over.
  std::optional<Batch> next();

  int64_t batches_per_epoch() const;
  int64_t examples_per_epoch() const;  // this shard's examples (after drop_last)
  int64_t epoch() const { return epoch_; }
  // Output shape of one example [C, H, W].
  const std::vector<int64_t>& example_shape() const { return shape_; }
  LoaderStats stats() const;
  const Dataset& dataset() const { return *ds_; }
  const LoaderConfig& config() const { return cfg_; }

  // Example `dataset_index` as the loader produces it in epoch `epoch`,
  // written to dst ([C, H, W] floats); returns the label (that of the
  // replacement when the example fails to load). For tests and tools.
  int produce(int64_t epoch, size_t dataset_index, float* dst) const;

 private:
  struct Plan;     // one epoch: order and batch boundaries
  struct Pending;  // a batch under construction
  void worker();
  void build_chunk(const Plan& plan, int64_t b, int64_t begin, int64_t end, Pending& p);
  Batch build_sync(const Plan& plan, int64_t b);
  std::shared_ptr<Plan> make_plan(int64_t e) const;
  void note_failure(const std::string& msg) const;

  std::shared_ptr<const Dataset> ds_;
  std::shared_ptr<const Pipeline> pipe_;
  LoaderConfig cfg_;
  std::vector<int64_t> shape_;  // [C, H, W]
  int64_t chunk_ = 1;           // examples per work item

  mutable std::mutex mu_;
  std::condition_variable work_cv_, ready_cv_;
  std::atomic<bool> stop_{false};
  bool started_ = false;
  int64_t epoch_ = 0;
  uint64_t gen_ = 0;
  std::shared_ptr<Plan> plan_;
  int64_t next_batch_ = 0, next_chunk_ = 0;  // next work item to claim
  int64_t consume_ = 0;                      // next batch the consumer takes
  std::map<int64_t, std::shared_ptr<Pending>> pending_;
  std::vector<std::thread> threads_;

  mutable std::mutex stats_mu_;
  mutable LoaderStats stats_;
};

}  // namespace acnn::data
