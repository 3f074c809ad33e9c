#include "runtime/data/loader.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "runtime/data/codec.h"

namespace acnn::data {

namespace {
constexpr int kMaxReplacements = 16;  // consecutive failures before giving up
constexpr size_t kMaxFailureMessages = 20;
}  // namespace

struct DataLoader::Plan {
  int64_t epoch = 0;
  std::vector<int64_t> order;  // dataset indices of this shard, in epoch order
  int64_t batch_size = 1;
  int64_t num_batches = 0;
  int64_t begin(int64_t b) const { return b * batch_size; }
  int64_t end(int64_t b) const { return std::min<int64_t>(static_cast<int64_t>(order.size()), (b + 1) * batch_size); }
};

struct DataLoader::Pending {
  Batch batch;
  int64_t chunks_left = 0;
  std::exception_ptr error;
};

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, std::shared_ptr<const Pipeline> pipeline,
                       LoaderConfig config)
    : ds_(std::move(dataset)), pipe_(std::move(pipeline)), cfg_(config) {
  if (!ds_) throw std::invalid_argument("DataLoader: no dataset");
  if (!pipe_) pipe_ = std::make_shared<Pipeline>();
  if (cfg_.batch_size < 1) throw std::invalid_argument("DataLoader: batch_size must be >= 1");
  if (cfg_.world < 1 || cfg_.rank < 0 || cfg_.rank >= cfg_.world)
    throw std::invalid_argument("DataLoader: need 0 <= rank < world");
  if (ds_->size() == 0) throw std::invalid_argument(ds_->name() + ": the dataset is empty");
  cfg_.prefetch = std::max(1, cfg_.prefetch);
  cfg_.threads = std::max(0, cfg_.threads);
  // Probe the output shape with the first examples that load.
  std::string first_error;
  for (size_t i = 0; i < std::min<size_t>(ds_->size(), kMaxReplacements) && shape_.empty(); ++i) {
    try {
      Rng rng(cfg_.seed, 0, kStreamAugment, i);
      Image img = pipe_->augment(ds_->get(i), ds_->channels(), rng);
      shape_ = {img.channels, img.height, img.width};
    } catch (const DecodeError& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  if (shape_.empty())
    throw std::runtime_error(ds_->name() + ": the first examples all fail to load (" + first_error + ")");
  const int workers = std::max(1, cfg_.threads);
  chunk_ = std::max<int64_t>(1, (cfg_.batch_size + 2 * workers - 1) / (2 * workers));
  for (int t = 0; t < cfg_.threads; ++t) threads_.emplace_back([this] { worker(); });
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

std::shared_ptr<DataLoader::Plan> DataLoader::make_plan(int64_t e) const {
  auto plan = std::make_shared<Plan>();
  plan->epoch = e;
  plan->batch_size = cfg_.batch_size;
  const size_t n = ds_->size();
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (cfg_.shuffle) {
    Rng rng(cfg_.seed, static_cast<uint64_t>(e), kStreamShuffle, 0);
    for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[static_cast<size_t>(rng.randint(0, i + 1))]);
  }
  if (cfg_.world > 1) {
    const size_t per = n / cfg_.world;
    std::vector<int64_t> shard(per);
    for (size_t k = 0; k < per; ++k) shard[k] = order[cfg_.rank + k * cfg_.world];
    order.swap(shard);
  }
  if (cfg_.drop_last) order.resize(order.size() / cfg_.batch_size * cfg_.batch_size);
  plan->order = std::move(order);
  plan->num_batches = (static_cast<int64_t>(plan->order.size()) + cfg_.batch_size - 1) / cfg_.batch_size;
  return plan;
}

int64_t DataLoader::examples_per_epoch() const {
  int64_t n = static_cast<int64_t>(ds_->size()) / cfg_.world;
  if (cfg_.drop_last) n = n / cfg_.batch_size * cfg_.batch_size;
  return n;
}

int64_t DataLoader::batches_per_epoch() const { return (examples_per_epoch() + cfg_.batch_size - 1) / cfg_.batch_size; }

void DataLoader::start_epoch(int64_t e, int64_t first_batch) {
  auto plan = make_plan(e);
  first_batch = std::clamp<int64_t>(first_batch, 0, plan->num_batches);
  {
    std::lock_guard<std::mutex> lk(mu_);
    plan_ = std::move(plan);
    epoch_ = e;
    started_ = true;
    next_chunk_ = 0;
    next_batch_ = consume_ = first_batch;
    pending_.clear();  // in-flight chunks finish into their own (now orphaned) batches
    ++gen_;
  }
  work_cv_.notify_all();
}

void DataLoader::note_failure(const std::string& msg) const {
  std::lock_guard<std::mutex> lk(stats_mu_);
  ++stats_.decode_failures;
  if (stats_.failures.size() < kMaxFailureMessages) stats_.failures.push_back(msg);
}

int DataLoader::produce(int64_t epoch, size_t index, float* dst) const {
  const size_t n = ds_->size();
  std::string first;
  for (int attempt = 0; attempt < kMaxReplacements; ++attempt) {
    const size_t j = (index + attempt) % n;
    try {
      Rng rng(cfg_.seed, static_cast<uint64_t>(epoch), kStreamAugment, index);
      Sample s = ds_->get(j);
      Image img = pipe_->augment(s, ds_->channels(), rng);
      if (img.channels != shape_[0] || img.height != shape_[1] || img.width != shape_[2])
        throw std::runtime_error(ds_->name() + ": the pipeline (" + pipe_->describe() + ") produced a " + describe(img) +
                                 " image for item " + std::to_string(j) + " but batches are " +
                                 std::to_string(shape_[1]) + "x" + std::to_string(shape_[2]) + "x" +
                                 std::to_string(shape_[0]) + "; add a crop or resize step");
      pipe_->normalize(img, dst);
      return s.label;
    } catch (const DecodeError& e) {
      note_failure(e.what());
      if (first.empty()) first = e.what();
    }
  }
  throw std::runtime_error(ds_->name() + ": " + std::to_string(kMaxReplacements) +
                           " consecutive examples failed to load from item " + std::to_string(index) + " (first: " +
                           first + ")");
}

void DataLoader::build_chunk(const Plan& plan, int64_t b, int64_t begin, int64_t end, Pending& p) {
  const int64_t per = shape_[0] * shape_[1] * shape_[2];
  float* images = p.batch.images.data<float>();
  int32_t* labels = p.batch.labels.data<int32_t>();
  const int64_t base = plan.begin(b);
  for (int64_t k = begin; k < end; ++k) {
    const int64_t idx = plan.order[static_cast<size_t>(k)];
    labels[k - base] = produce(plan.epoch, static_cast<size_t>(idx), images + (k - base) * per);
    p.batch.indices[static_cast<size_t>(k - base)] = idx;
    if (stop_) return;  // benign race: only shortens shutdown
  }
}

static void allocate(Batch& batch, const std::vector<int64_t>& shape, int64_t n, int64_t epoch, int64_t b) {
  batch.images = Tensor(DType::F32, Shape{n, shape[0], shape[1], shape[2]});
  batch.labels = Tensor(DType::I32, Shape{n});
  batch.indices.assign(static_cast<size_t>(n), -1);
  batch.epoch = epoch;
  batch.index = b;
}

Batch DataLoader::build_sync(const Plan& plan, int64_t b) {
  Pending p;
  allocate(p.batch, shape_, plan.end(b) - plan.begin(b), plan.epoch, b);
  build_chunk(plan, b, plan.begin(b), plan.end(b), p);
  return std::move(p.batch);
}

void DataLoader::worker() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] {
      return stop_ || (plan_ && next_batch_ < plan_->num_batches && next_batch_ < consume_ + cfg_.prefetch);
    });
    if (stop_) return;
    std::shared_ptr<Plan> plan = plan_;
    const int64_t b = next_batch_;
    const int64_t bsize = plan->end(b) - plan->begin(b);
    const int64_t nchunks = (bsize + chunk_ - 1) / chunk_;
    std::shared_ptr<Pending>& slot = pending_[b];
    if (!slot) {
      slot = std::make_shared<Pending>();
      allocate(slot->batch, shape_, bsize, plan->epoch, b);
      slot->chunks_left = nchunks;
    }
    std::shared_ptr<Pending> p = slot;
    const int64_t c = next_chunk_;
    if (++next_chunk_ == nchunks) {
      next_chunk_ = 0;
      ++next_batch_;
    }
    lk.unlock();
    const int64_t begin = plan->begin(b) + c * chunk_;
    const int64_t end = std::min(plan->begin(b) + (c + 1) * chunk_, plan->end(b));
    std::exception_ptr err;
    try {
      build_chunk(*plan, b, begin, end, *p);
    } catch (...) {
      err = std::current_exception();
    }
    lk.lock();
    if (err && !p->error) p->error = err;
    if (--p->chunks_left == 0 && plan == plan_) ready_cv_.notify_all();
  }
}

std::optional<Batch> DataLoader::next() {
  bool started;
  {
    std::lock_guard<std::mutex> lk(mu_);
    started = started_;
  }
  if (!started) start_epoch(0);
  std::shared_ptr<Pending> p;
  if (cfg_.threads == 0) {
    std::shared_ptr<Plan> plan;
    int64_t b;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (consume_ >= plan_->num_batches) return std::nullopt;
      plan = plan_;
      b = consume_++;
    }
    Batch batch = build_sync(*plan, b);
    std::lock_guard<std::mutex> lk(stats_mu_);
    stats_.examples += batch.size();
    return batch;
  }
  {
    std::unique_lock<std::mutex> lk(mu_);
    if (consume_ >= plan_->num_batches) return std::nullopt;
    ready_cv_.wait(lk, [&] {
      auto it = pending_.find(consume_);
      return it != pending_.end() && it->second->chunks_left == 0;
    });
    auto it = pending_.find(consume_);
    p = std::move(it->second);
    pending_.erase(it);
    ++consume_;
  }
  work_cv_.notify_all();
  if (p->error) std::rethrow_exception(p->error);
  std::lock_guard<std::mutex> lk(stats_mu_);
  stats_.examples += p->batch.size();
  return std::move(p->batch);
}

LoaderStats DataLoader::stats() const {
  std::lock_guard<std::mutex> lk(stats_mu_);
  LoaderStats s = stats_;
  s.skipped_files = static_cast<int64_t>(ds_->skipped_count());
  return s;
}

}  // namespace acnn::data
