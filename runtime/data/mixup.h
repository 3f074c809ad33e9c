// Mixup (Zhang et al. 2018) on loader batches. lambda ~ Beta(alpha, alpha) is
// drawn per training step from (seed, step), so a resumed run mixes exactly as
// the original. Type 1 (the paper's choice) blends a batch with a second,
// independently drawn batch (a second DataLoader with another seed); type 2
// blends it with a permutation of itself, also keyed by (seed, step). Targets
// are soft labels f32 [N, K]: each one-hot is label-smoothed first
// ((1 - eps) * onehot + eps / K) and then blended with the same lambda as the
// images, so every row sums to 1.
#pragma once

#include <cstdint>

#include "runtime/data/loader.h"
#include "runtime/tensor.h"

namespace acnn::data {

struct MixedBatch {
  Tensor images;   // f32 [N, C, H, W]
  Tensor targets;  // f32 [N, K]
  double lambda = 1.0;
};

struct MixupConfig {
  double alpha = 0.2;           // Beta(alpha, alpha); <= 0 disables mixing (lambda = 1)
  int type = 1;                 // 1: with a second batch, 2: with a shuffled copy
  float label_smoothing = 0.0f;
  uint64_t seed = 0;
};

// Label-smoothed one-hot rows f32 [N, K] from i32 labels [N].
Tensor soft_targets(const Tensor& labels, int num_classes, float smoothing = 0.0f);

double mixup_lambda(double alpha, uint64_t seed, int64_t step);

// lambda * a + (1 - lambda) * b (images and soft targets); b needs at least
// as many examples as a (its first N are used).
MixedBatch mixup_pair(const Batch& a, const Batch& b, int num_classes, float smoothing, double lambda);
// lambda * a + (1 - lambda) * a[perm], perm keyed by (seed, step).
MixedBatch mixup_shuffled(const Batch& a, int num_classes, float smoothing, double lambda, uint64_t seed,
                          int64_t step);
// Dispatches on cfg.type; `second` is required for type 1.
MixedBatch mixup(const Batch& a, const Batch* second, int num_classes, const MixupConfig& cfg, int64_t step);

}  // namespace acnn::data
