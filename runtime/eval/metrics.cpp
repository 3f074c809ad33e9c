#include "runtime/eval/metrics.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace acnn::eval {

namespace {

template <class T>
int64_t rank_of(const T* row, int64_t K, int64_t label) {
  const T v = row[label];
  if (std::isnan(v)) return std::numeric_limits<int64_t>::max();
  int64_t r = 0;
  for (int64_t j = 0; j < label; ++j) r += row[j] >= v;
  for (int64_t j = label + 1; j < K; ++j) r += row[j] > v;
  return r;
}

void check(const Tensor& logits, const Tensor& labels) {
  auto fail = [](const std::string& m) { throw std::invalid_argument("accuracy: " + m); };
  if (!logits.defined() || !labels.defined()) fail("undefined tensor");
  if (logits.rank() != 2) fail("logits must be [N, K], got " + type_str(logits.dtype(), logits.shape()));
  if (labels.rank() != 1 || labels.dim(0) != logits.dim(0))
    fail("labels must be [N] with N = " + std::to_string(logits.dim(0)) + ", got " +
         type_str(labels.dtype(), labels.shape()));
  if (logits.dtype() != DType::F32 && logits.dtype() != DType::F64)
    fail("logits must be f32 or f64, got " + std::string(dtype_name(logits.dtype())));
  if (labels.dtype() != DType::I32 && labels.dtype() != DType::I64)
    fail("labels must be i32 or i64, got " + std::string(dtype_name(labels.dtype())));
  for (const Tensor* t : {&logits, &labels})
    if (t->layout() != Layout::Plain || t->storage()->device) fail("tensors must be plain host tensors");
  if (logits.dim(1) == 0 && logits.dim(0) > 0) fail("logits have no classes");
}

int64_t label_at(const Tensor& labels, int64_t i, int64_t K) {
  int64_t y = labels.dtype() == DType::I32 ? labels.data<int32_t>()[i] : labels.data<int64_t>()[i];
  if (y < 0 || y >= K)
    throw std::invalid_argument("accuracy: label " + std::to_string(y) + " of sample " + std::to_string(i) +
                                " is outside [0, " + std::to_string(K) + ")");
  return y;
}

// Calls f(rank) for each sample.
template <class F>
void for_each_rank(const Tensor& logits, const Tensor& labels, F f) {
  check(logits, labels);
  const int64_t N = logits.dim(0), K = logits.dim(1);
  for (int64_t i = 0; i < N; ++i) {
    int64_t y = label_at(labels, i, K);
    f(logits.dtype() == DType::F32 ? rank_of(logits.data<float>() + i * K, K, y)
                                   : rank_of(logits.data<double>() + i * K, K, y));
  }
}

}  // namespace

int64_t label_rank(const float* row, int64_t K, int64_t label) { return rank_of(row, K, label); }
int64_t label_rank(const double* row, int64_t K, int64_t label) { return rank_of(row, K, label); }

int64_t topk_correct(const Tensor& logits, const Tensor& labels, int64_t k) {
  int64_t n = 0;
  for_each_rank(logits, labels, [&](int64_t r) { n += r < k; });
  return n;
}

TopKCounts topk_counts(const Tensor& logits, const Tensor& labels) {
  TopKCounts c;
  for_each_rank(logits, labels, [&](int64_t r) {
    c.top1 += r < 1;
    c.top5 += r < 5;
    ++c.count;
  });
  return c;
}

}  // namespace acnn::eval
