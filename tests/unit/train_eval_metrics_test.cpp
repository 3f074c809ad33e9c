// Top-1 / top-5 accuracy: hand-checked batches, the documented tie rule,
// NaN handling, accumulation across batches and input validation.
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/eval/metrics.h"
#include "tests/catch.h"
#include "tests/unit/train_test_util.h"

using namespace acnn;
using namespace acnn::eval;
using acnn::test::contains;
using acnn::test::error_of;

namespace {

Tensor logits_of(const std::vector<std::vector<float>>& rows) {
  Tensor t(DType::F32, {static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())});
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows[i].size(); ++j) t.data<float>()[i * rows[0].size() + j] = rows[i][j];
  return t;
}

Tensor labels_of(const std::vector<int64_t>& ys, DType dt = DType::I32) {
  Tensor t(dt, {static_cast<int64_t>(ys.size())});
  for (size_t i = 0; i < ys.size(); ++i) t.set(static_cast<int64_t>(i), static_cast<double>(ys[i]));
  return t;
}

}  // namespace

TEST_CASE("top-1 and top-5 on a hand-checked batch", "[unit]") {
  // 7 classes. Ranks of the label: 0, 1, 4, 5, 6.
  auto logits = logits_of({
      {0.1f, 0.9f, 0.2f, 0.3f, 0.0f, -1.f, 0.5f},  // label 1: rank 0
      {0.1f, 0.9f, 0.2f, 0.3f, 0.0f, -1.f, 0.5f},  // label 6: rank 1
      {0.1f, 0.9f, 0.2f, 0.3f, 0.0f, -1.f, 0.5f},  // label 0: rank 4
      {0.1f, 0.9f, 0.2f, 0.3f, 0.0f, -1.f, 0.5f},  // label 4: rank 5
      {0.1f, 0.9f, 0.2f, 0.3f, 0.0f, -1.f, 0.5f},  // label 5: rank 6
  });
  auto labels = labels_of({1, 6, 0, 4, 5});
  auto c = topk_counts(logits, labels);
  CHECK(c.count == 5);
  CHECK(c.top1 == 1);
  CHECK(c.top5 == 3);
  CHECK(topk_correct(logits, labels, 1) == 1);
  CHECK(topk_correct(logits, labels, 2) == 2);
  CHECK(topk_correct(logits, labels, 6) == 4);
  CHECK(topk_correct(logits, labels, 7) == 5);
  CHECK(topk_correct(logits, labels, 0) == 0);
}

TEST_CASE("ties rank the lower class index first", "[unit]") {
  const float row[6] = {1, 1, 1, 1, 1, 1};
  for (int64_t y = 0; y < 6; ++y) CHECK(label_rank(row, 6, y) == y);
  // Equal to a higher class does not hurt; equal to a lower class does.
  const float r2[4] = {0.5f, 2.0f, 2.0f, 0.1f};
  CHECK(label_rank(r2, 4, 1) == 0);
  CHECK(label_rank(r2, 4, 2) == 1);
  auto logits = logits_of({{1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}});
  auto c = topk_counts(logits, labels_of({0, 4, 5}));
  CHECK(c.top1 == 1);  // only label 0, as argmax would pick
  CHECK(c.top5 == 2);  // label 5 ranks sixth
}

TEST_CASE("NaN logits never help", "[unit]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float r[4] = {nan, 0.2f, 0.9f, nan};
  CHECK(label_rank(r, 4, 2) == 0);  // other NaNs do not outrank
  CHECK(label_rank(r, 4, 1) == 1);
  CHECK(label_rank(r, 4, 0) == std::numeric_limits<int64_t>::max());  // its own logit NaN: wrong at every k
  auto logits = logits_of({{nan, nan, nan}});
  CHECK(topk_counts(logits, labels_of({0})).top5 == 0);
}

TEST_CASE("accuracy meter accumulates batches, dtypes and ranks", "[unit]") {
  AccuracyMeter m;
  CHECK(m.top1() == 0.0);
  // Fewer than five classes: every sample is top-5 correct.
  m.add(logits_of({{0.f, 1.f, 2.f}, {3.f, 2.f, 1.f}}), labels_of({2, 2}));
  Tensor l64(DType::F64, {2, 3});
  for (int i = 0; i < 6; ++i) l64.data<double>()[i] = i % 3;
  m.add(l64, labels_of({2, 0}, DType::I64));
  CHECK(m.count() == 4);
  CHECK(m.counts().top1 == 2);
  CHECK(m.top1() == 0.5);
  CHECK(m.top5() == 1.0);
  AccuracyMeter other;
  other.add(TopKCounts{0, 1, 4});
  m.merge(other);
  CHECK(m.top1() == 0.25);
  CHECK(m.top5() == 5.0 / 8.0);
  m.reset();
  CHECK(m.count() == 0);
  // An empty batch counts nothing.
  CHECK(topk_counts(Tensor(DType::F32, {0, 10}), Tensor(DType::I32, {0})).count == 0);
}

TEST_CASE("accuracy rejects bad inputs with a clear message", "[unit]") {
  auto logits = logits_of({{0.f, 1.f}, {1.f, 0.f}});
  CHECK(contains(error_of([&] { topk_counts(logits, labels_of({0, 2})); }), "label 2 of sample 1 is outside [0, 2)"));
  CHECK(contains(error_of([&] { topk_counts(logits, labels_of({-1, 0})); }), "outside"));
  CHECK(contains(error_of([&] { topk_counts(logits, labels_of({0})); }), "labels must be [N] with N = 2"));
  CHECK(contains(error_of([&] { topk_counts(logits.reshaped({4}), labels_of({0})); }), "logits must be [N, K]"));
  CHECK(contains(error_of([&] { topk_counts(logits, labels_of({0, 1}, DType::F32)); }), "labels must be i32 or i64"));
  CHECK(contains(error_of([&] { topk_counts(Tensor(DType::U8, {2, 2}), labels_of({0, 1})); }),
                 "logits must be f32 or f64"));
}
