#include "runtime/data/mixup.h"

#include <numeric>
#include <stdexcept>
#include <vector>

namespace acnn::data {
namespace {

void check_batch(const Batch& b, const char* what) {
  if (!b.images.defined() || b.images.dtype() != DType::F32 || b.images.rank() != 4)
    throw std::invalid_argument(std::string("mixup: ") + what + " images must be f32 [N, C, H, W]");
  if (!b.labels.defined() || b.labels.dtype() != DType::I32 || b.labels.numel() != b.images.dim(0))
    throw std::invalid_argument(std::string("mixup: ") + what + " labels must be i32 [N]");
}

// out[i] = lam * a[i] + (1 - lam) * b[src[i]] for rows of `row` floats.
Tensor blend_rows(const Tensor& a, const Tensor& b, const std::vector<int64_t>& src, double lam) {
  const int64_t n = a.dim(0);
  const int64_t row = n ? a.numel() / n : 0;
  Tensor out(DType::F32, a.shape());
  const float la = static_cast<float>(lam), lb = static_cast<float>(1.0 - lam);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const float* ra = pa + i * row;
    const float* rb = pb + src[static_cast<size_t>(i)] * row;
    float* ro = po + i * row;
    for (int64_t k = 0; k < row; ++k) ro[k] = la * ra[k] + lb * rb[k];
  }
  return out;
}

}  // namespace

Tensor soft_targets(const Tensor& labels, int K, float eps) {
  if (K < 1) throw std::invalid_argument("soft_targets: num_classes must be >= 1");
  const int64_t n = labels.numel();
  Tensor t(DType::F32, Shape{n, K});
  float* p = t.data<float>();
  const float off = eps / K, on = 1.0f - eps + eps / K;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = static_cast<int64_t>(labels.at(i));
    if (y < 0 || y >= K)
      throw std::invalid_argument("soft_targets: label " + std::to_string(y) + " outside [0, " + std::to_string(K) + ")");
    for (int k = 0; k < K; ++k) p[i * K + k] = off;
    p[i * K + y] = on;
  }
  return t;
}

double mixup_lambda(double alpha, uint64_t seed, int64_t step) {
  if (!(alpha > 0)) return 1.0;
  Rng rng(seed, static_cast<uint64_t>(step), kStreamMixup, 0);
  return rng.beta(alpha, alpha);
}

MixedBatch mixup_pair(const Batch& a, const Batch& b, int K, float eps, double lam) {
  check_batch(a, "first batch");
  check_batch(b, "second batch");
  const int64_t n = a.images.dim(0);
  if (b.images.dim(0) < n || b.images.numel() / std::max<int64_t>(1, b.images.dim(0)) != a.images.numel() / std::max<int64_t>(1, n))
    throw std::invalid_argument("mixup: the second batch must have at least as many examples of the same shape");
  std::vector<int64_t> src(static_cast<size_t>(n));
  std::iota(src.begin(), src.end(), 0);
  MixedBatch m;
  m.lambda = lam;
  m.images = blend_rows(a.images, b.images, src, lam);
  m.targets = blend_rows(soft_targets(a.labels, K, eps), soft_targets(b.labels, K, eps), src, lam);
  return m;
}

MixedBatch mixup_shuffled(const Batch& a, int K, float eps, double lam, uint64_t seed, int64_t step) {
  check_batch(a, "batch");
  const int64_t n = a.images.dim(0);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  Rng rng(seed, static_cast<uint64_t>(step), kStreamMixup, 1);
  for (int64_t i = n - 1; i > 0; --i) std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(rng.randint(0, i + 1))]);
  MixedBatch m;
  m.lambda = lam;
  m.images = blend_rows(a.images, a.images, perm, lam);
  Tensor t = soft_targets(a.labels, K, eps);
  m.targets = blend_rows(t, t, perm, lam);
  return m;
}

MixedBatch mixup(const Batch& a, const Batch* second, int K, const MixupConfig& cfg, int64_t step) {
  const double lam = mixup_lambda(cfg.alpha, cfg.seed, step);
  if (cfg.type == 1) {
    if (!second) throw std::invalid_argument("mixup type 1 needs a second, independently drawn batch");
    return mixup_pair(a, *second, K, cfg.label_smoothing, lam);
  }
  if (cfg.type == 2) return mixup_shuffled(a, K, cfg.label_smoothing, lam, cfg.seed, step);
  throw std::invalid_argument("mixup type must be 1 or 2, got " + std::to_string(cfg.type));
}

}  // namespace acnn::data
