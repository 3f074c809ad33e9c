#include "runtime/data/random.h"

namespace acnn::data {

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // Box-Muller on (0, 1] x [0, 1): never takes log(0).
  double u = 1.0 - uniform();
  double v = uniform();
  double r = std::sqrt(-2.0 * std::log(u));
  double t = 2.0 * M_PI * v;
  spare_ = r * std::sin(t);
  has_spare_ = true;
  return r * std::cos(t);
}

double Rng::gamma(double shape) {
  if (shape < 1.0) {
    // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a), in log space so that tiny
    // shapes (mixup alpha 0.2 and below) do not underflow to exact zero early.
    double g = gamma(shape + 1.0);
    double u = 1.0 - uniform();
    return g * std::exp(std::log(u) / shape);
  }
  // Marsaglia & Tsang (2000), squeeze test first.
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    double u = uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double Rng::beta(double a, double b) {
  double x = gamma(a);
  double y = gamma(b);
  double s = x + y;
  if (!(s > 0.0)) return bernoulli(a / (a + b)) ? 1.0 : 0.0;  // both underflowed
  return x / s;
}

int64_t Rng::poisson(double lambda) {
  if (!(lambda > 0.0)) return 0;
  if (lambda < 30.0) {
    // Inversion by sequential search from 0.
    double u = uniform();
    double p = std::exp(-lambda);
    double cdf = p;
    int64_t k = 0;
    while (u > cdf && k < 1000) {
      ++k;
      p *= lambda / static_cast<double>(k);
      cdf += p;
    }
    return k;
  }
  double x = std::floor(lambda + std::sqrt(lambda) * normal() + 0.5);
  return x < 0 ? 0 : static_cast<int64_t>(x);
}

}  // namespace acnn::data
