// Deterministic random numbers for the data pipeline. An Rng is a SplitMix64
// stream keyed by counter_hash(seed, step, stream, index): the same key gives
// the same draws on every machine and thread count, so an example's
// augmentation depends only on (seed, epoch, example index) and never on which
// worker thread processed it or in what order. Besides uniform and integer
// draws it samples normal (Box-Muller), Gamma (Marsaglia-Tsang), Beta (ratio of
// two Gammas, used for the mixup lambda) and Poisson variates.
#pragma once

#include <cmath>
#include <cstdint>

#include "runtime/tensor.h"

namespace acnn::data {

// Streams keep independent uses of the same (seed, step, index) apart.
enum RngStream : uint64_t {
  kStreamShuffle = 0x5348,   // epoch permutation
  kStreamAugment = 0x4155,   // per-example augmentation
  kStreamMixup = 0x4d49,     // per-step mixup lambda and permutation
  kStreamCorrupt = 0x434f,   // per-example corruption noise
  kStreamSubstitute = 0x5355 // replacement of an undecodable example
};

class Rng {
 public:
  explicit Rng(uint64_t key) : state_(key) {}
  Rng(uint64_t seed, uint64_t step, uint64_t stream, uint64_t index)
      : state_(counter_hash(seed, step, stream, index)) {}

  uint64_t next_u64() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [lo, hi) (hi > lo); multiply-shift, bias below 2^-32.
  int64_t randint(int64_t lo, int64_t hi) {
    uint64_t range = static_cast<uint64_t>(hi - lo);
    unsigned __int128 m = static_cast<unsigned __int128>(next_u64()) * range;
    return lo + static_cast<int64_t>(m >> 64);
  }
  bool bernoulli(double p) { return uniform() < p; }
  // Standard normal.
  double normal();
  double normal(double mean, double stddev) { return mean + stddev * normal(); }
  // Gamma(shape, 1), shape > 0.
  double gamma(double shape);
  // Beta(a, b), a, b > 0.
  double beta(double a, double b);
  // Poisson(lambda), lambda >= 0: exact inversion below 30, rounded normal
  // approximation with continuity correction above (plenty for image noise).
  int64_t poisson(double lambda);

 private:
  uint64_t state_;
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace acnn::data
