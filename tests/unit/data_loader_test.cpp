#include <cmath>
#include <cstring>
#include <set>

#include "runtime/data/augment.h"
#include "runtime/data/loader.h"
#include "runtime/data/mixup.h"
#include "tests/catch.h"
#include "tests/unit/data_test_util.h"

using namespace acnn;
using namespace acnn::data;

namespace {

// n gray 12x12 images whose pixels encode their index; label = index % 10.
std::shared_ptr<InMemoryDataset> counting_dataset(int n) {
  std::vector<uint8_t> px(static_cast<size_t>(n) * 144);
  std::vector<int32_t> labels(n);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < 144; ++k) px[static_cast<size_t>(i) * 144 + k] = static_cast<uint8_t>((i * 13 + k * 7) % 256);
    labels[i] = i % 10;
  }
  return std::make_shared<InMemoryDataset>("counting", 12, 12, 1, std::move(px), std::move(labels), 10);
}

std::shared_ptr<Pipeline> train_pipeline() {
  AugmentConfig c;
  c.crop = AugmentConfig::Crop::PadCrop;
  c.size = 10;
  c.pad = 2;
  c.flip = 0.5;
  c.autoaugment = "cifar10";
  c.norm = Normalization::fashion_mnist();
  return std::make_shared<Pipeline>(make_pipeline(c));
}

std::vector<Batch> run_epoch(DataLoader& l, int64_t e) {
  l.start_epoch(e);
  std::vector<Batch> out;
  while (auto b = l.next()) out.push_back(std::move(*b));
  return out;
}

bool same(const Batch& a, const Batch& b) {
  return a.images.shape() == b.images.shape() && std::memcmp(a.images.raw(), b.images.raw(), a.images.bytes()) == 0 &&
         std::memcmp(a.labels.raw(), b.labels.raw(), a.labels.bytes()) == 0 && a.indices == b.indices;
}

}  // namespace

TEST_CASE("data: loader batches are identical for 0, 1 and 4 threads", "[unit]") {
  auto ds = counting_dataset(103);
  LoaderConfig cfg;
  cfg.batch_size = 16;
  cfg.seed = 42;
  std::vector<std::vector<Batch>> runs;
  for (int threads : {0, 1, 4}) {
    cfg.threads = threads;
    cfg.prefetch = threads == 4 ? 2 : 3;
    DataLoader l(ds, train_pipeline(), cfg);
    CHECK(l.batches_per_epoch() == 7);
    CHECK(l.example_shape() == std::vector<int64_t>{1, 10, 10});
    runs.push_back(run_epoch(l, 3));
  }
  for (size_t r = 1; r < runs.size(); ++r) {
    REQUIRE(runs[r].size() == runs[0].size());
    for (size_t b = 0; b < runs[0].size(); ++b) CHECK(same(runs[0][b], runs[r][b]));
  }
  const auto& ep = runs[0];
  CHECK(ep.back().size() == 103 - 6 * 16);
  std::set<int64_t> seen;
  for (const auto& b : ep) {
    CHECK(b.images.shape() == Shape{b.size(), 1, 10, 10});
    CHECK(b.labels.dtype() == DType::I32);
    for (int64_t i = 0; i < b.size(); ++i) {
      seen.insert(b.indices[i]);
      CHECK(b.labels.at(i) == b.indices[i] % 10);
    }
  }
  CHECK(seen.size() == 103);  // a permutation of the dataset
}

TEST_CASE("data: epochs reshuffle deterministically; drop_last and sharding", "[unit]") {
  auto ds = counting_dataset(50);
  LoaderConfig cfg;
  cfg.batch_size = 8;
  cfg.seed = 1;
  cfg.threads = 2;
  DataLoader l(ds, train_pipeline(), cfg);
  auto e0 = run_epoch(l, 0), e1 = run_epoch(l, 1), e0b = run_epoch(l, 0);
  CHECK(e0[0].indices != e1[0].indices);
  for (size_t b = 0; b < e0.size(); ++b) CHECK(same(e0[b], e0b[b]));
  // Resuming mid-epoch yields the remaining batches unchanged.
  l.start_epoch(1, 4);
  auto rest = l.next();
  REQUIRE(rest);
  CHECK(rest->index == 4);
  CHECK(same(*rest, e1[4]));

  cfg.drop_last = true;
  DataLoader d(ds, train_pipeline(), cfg);
  CHECK(d.batches_per_epoch() == 6);
  auto dl = run_epoch(d, 0);
  CHECK(dl.size() == 6);
  for (const auto& b : dl) CHECK(b.size() == 8);

  cfg.drop_last = false;
  cfg.shuffle = false;
  cfg.world = 3;
  std::set<int64_t> all;
  for (int rank = 0; rank < 3; ++rank) {
    cfg.rank = rank;
    DataLoader s(ds, train_pipeline(), cfg);
    CHECK(s.examples_per_epoch() == 16);
    for (const auto& b : run_epoch(s, 0))
      for (int64_t i : b.indices) {
        CHECK(i % 3 == rank);
        all.insert(i);
      }
  }
  CHECK(all.size() == 48);
}

TEST_CASE("data: loader stops cleanly mid-epoch and restarts epochs", "[unit]") {
  auto ds = counting_dataset(400);
  LoaderConfig cfg;
  cfg.batch_size = 4;
  cfg.threads = 4;
  cfg.prefetch = 3;
  for (int rep = 0; rep < 5; ++rep) {
    DataLoader l(ds, train_pipeline(), cfg);
    l.start_epoch(0);
    auto b = l.next();
    REQUIRE(b);
    l.start_epoch(1);  // drops in-flight work
    REQUIRE(l.next());
    // Destroyed with workers busy and a full prefetch window.
  }
  DataLoader never(ds, train_pipeline(), cfg);  // never consumed
  SUCCEED();
}

TEST_CASE("data: soft targets, Beta lambda and mixup", "[unit]") {
  Tensor labels(DType::I32, Shape{3});
  labels.set(0, 2);
  labels.set(1, 0);
  labels.set(2, 4);
  Tensor t = soft_targets(labels, 5, 0.1f);
  CHECK_THAT(t.at(0 * 5 + 2), Catch::Matchers::WithinAbs(0.92, 1e-6));
  CHECK_THAT(t.at(0 * 5 + 1), Catch::Matchers::WithinAbs(0.02, 1e-6));
  CHECK_THROWS(soft_targets(labels, 4, 0.0f));

  CHECK(mixup_lambda(0.2, 5, 10) == mixup_lambda(0.2, 5, 10));
  CHECK(mixup_lambda(0.2, 5, 10) != mixup_lambda(0.2, 5, 11));
  CHECK(mixup_lambda(0.0, 5, 10) == 1.0);
  double s = 0;
  for (int i = 0; i < 4000; ++i) s += mixup_lambda(0.2, 1, i);
  CHECK(std::abs(s / 4000 - 0.5) < 0.03);

  auto ds = counting_dataset(64);
  LoaderConfig cfg;
  cfg.batch_size = 8;
  cfg.threads = 0;
  DataLoader la(ds, train_pipeline(), cfg);
  cfg.seed = 77;  // the independent second stream of type 1
  DataLoader lb(ds, train_pipeline(), cfg);
  Batch a = *la.next(), b = *lb.next();
  MixupConfig mc;
  mc.alpha = 0.2;
  mc.label_smoothing = 0.1f;
  mc.seed = 3;
  for (int type : {1, 2}) {
    mc.type = type;
    MixedBatch m = mixup(a, &b, 10, mc, 17);
    const double lam = mixup_lambda(0.2, 3, 17);
    CHECK(m.lambda == lam);
    CHECK(m.targets.shape() == Shape{8, 10});
    CHECK(m.images.shape() == a.images.shape());
    for (int64_t i = 0; i < 8; ++i) {
      double row = 0;
      for (int k = 0; k < 10; ++k) row += m.targets.at(i * 10 + k);
      CHECK_THAT(row, Catch::Matchers::WithinAbs(1.0, 1e-5));
      const int ya = static_cast<int>(a.labels.at(i));
      // The weight on a's class is at least lambda's share of the smoothed one-hot.
      CHECK(m.targets.at(i * 10 + ya) >= lam * 0.91 - 1e-5);
    }
    if (type == 1) {
      const int64_t per = a.images.numel() / 8;
      for (int64_t k = 0; k < per; k += 17)
        CHECK_THAT(m.images.at(3 * per + k),
                   Catch::Matchers::WithinAbs(lam * a.images.at(3 * per + k) + (1 - lam) * b.images.at(3 * per + k), 1e-5));
      const int ya = static_cast<int>(a.labels.at(3)), yb = static_cast<int>(b.labels.at(3));
      const double expect = ya == yb ? 0.91 : lam * 0.91 + (1 - lam) * 0.01;
      CHECK_THAT(m.targets.at(3 * 10 + ya), Catch::Matchers::WithinAbs(expect, 1e-5));
    }
  }
  mc.type = 1;
  CHECK_THROWS(mixup(a, nullptr, 10, mc, 0));
}
