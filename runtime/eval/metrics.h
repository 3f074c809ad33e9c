// Classification accuracy from logits: top-1 and top-5 (or any top-k) over
// f32 (or f64) logits [N, K] and i32 (or i64) labels [N], with an accumulator
// that sums integer counts across batches (and across ranks: counts() is what
// a data-parallel run all-reduces). Ties are broken deterministically as a
// stable descending sort would: class j outranks the label y when
// logit[j] > logit[y], or when they are equal and j < y. So a sample whose
// logits are all equal is top-1 correct only for label 0, and top-1 agrees
// with "argmax returns the first maximum". A NaN logit never outranks another
// class, and a sample whose own label's logit is NaN is counted wrong at every
// k. Labels outside [0, K) are an error (std::invalid_argument), as are wrong
// ranks, shapes, dtypes or non-host tensors. Per-corruption aggregation (mCE)
// lives with the data code, not here.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace acnn::eval {

struct TopKCounts {
  int64_t top1 = 0;   // samples whose label ranks first
  int64_t top5 = 0;   // ... among the first five
  int64_t count = 0;  // samples seen
  TopKCounts& operator+=(const TopKCounts& o) {
    top1 += o.top1;
    top5 += o.top5;
    count += o.count;
    return *this;
  }
};

// Rank of class `label` in a row of K logits under the tie rule above
// (0 = first); INT64_MAX for a NaN label logit (wrong at every k).
int64_t label_rank(const float* row, int64_t K, int64_t label);
int64_t label_rank(const double* row, int64_t K, int64_t label);

// Samples of the batch whose label ranks below k.
int64_t topk_correct(const Tensor& logits, const Tensor& labels, int64_t k);
// Top-1 and top-5 counts of a batch in one pass.
TopKCounts topk_counts(const Tensor& logits, const Tensor& labels);

class AccuracyMeter {
 public:
  void add(const Tensor& logits, const Tensor& labels) { c_ += topk_counts(logits, labels); }
  void add(const TopKCounts& c) { c_ += c; }
  void merge(const AccuracyMeter& o) { c_ += o.c_; }
  void reset() { c_ = {}; }
  // Fractions in [0, 1]; 0 before any sample.
  double top1() const { return c_.count ? static_cast<double>(c_.top1) / static_cast<double>(c_.count) : 0.0; }
  double top5() const { return c_.count ? static_cast<double>(c_.top5) / static_cast<double>(c_.count) : 0.0; }
  int64_t count() const { return c_.count; }
  const TopKCounts& counts() const { return c_; }

 private:
  TopKCounts c_;
};

}  // namespace acnn::eval
