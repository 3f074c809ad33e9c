// What the kernel simulation tests share: random inputs, a loop over the
// storage types, and a closeness check that names the worst element. The
// kernels (backends/cuda/kernels.cu) run on simulated threads (threads.h)
// and are compared with double-precision loops over the same stored inputs;
// the [cuda] tests check the same kernels on a GPU, these catch indexing,
// synchronization and launch-shape mistakes on any machine.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include "backends/cuda/kernels.h"
#include "tests/catch.h"
#include "tests/sim/guarded.h"

namespace acnn::sim::check {

namespace kn = acnn::cuda::kernels;
using acnn::DType;

inline float normal() {
  static std::mt19937 rng(20261128);
  return std::normal_distribution<float>(0.f, 1.f)(rng);
}

// f.template operator()<T>() for each storage type the kernels take.
template <class F>
void each_storage_type(F&& f) {
  f.template operator()<float>();
  f.template operator()<__half>();
  f.template operator()<__nv_bfloat16>();
}

// Fails with the worst element when some |got - want| > atol + rtol * |want|.
template <class Got, class Want>
void expect_close(const std::string& what, size_t n, Got got, Want want, double rtol, double atol) {
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    const double g = got(i), w = want(i);
    const double excess = std::isnan(g) ? INFINITY : std::abs(g - w) - (atol + rtol * std::abs(w));
    if (excess > worst) worst = excess, at = i;
  }
  INFO(what << ": element " << at << " is " << got(at) << ", want " << want(at));
  CHECK(worst == 0);
}

template <class T>
std::string label(const char* what) {
  return std::string(what) + " " + acnn::dtype_name(dtype_of<T>());
}

}  // namespace acnn::sim::check
