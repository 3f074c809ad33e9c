// The simulator itself: barriers order shared-memory traffic, shuffles
// exchange lanes, divergence is an error rather than a hang.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "tests/catch.h"
#include "tests/unit/train_test_util.h"

namespace {

// Reverses each block's slice of x through shared memory.
__global__ void reverse_block(const float* x, float* y) {
  __shared__ float sh[64];
  const unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
  sh[threadIdx.x] = x[i];
  __syncthreads();
  y[i] = sh[blockDim.x - 1 - threadIdx.x];
}

// y[warp] = the warp's sum by xor shuffles; any[block] = some x > 100.
__global__ void warp_sums(const float* x, float* y, int* any) {
  const unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = x[i];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (threadIdx.x % 32 == 0) y[i / 32] = v;
  const int big = __syncthreads_or(x[i] > 100.f);
  if (threadIdx.x == 0) any[blockIdx.x] = big;
}

__global__ void divergent_barrier(float* y) {
  if (threadIdx.x < 16) __syncthreads();
  y[threadIdx.x] = 1.f;
  __syncthreads();
}

__global__ void shuffle_after_exit(float* y) {
  if (threadIdx.x == 3) return;
  y[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
}

}  // namespace

TEST_CASE("simulated CUDA threads: barriers order shared memory per block", "[sim]") {
  std::vector<float> x(4 * 64), y(x.size(), -1.f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  ACNN_LAUNCH(4, 64, nullptr, reverse_block)(x.data(), y.data());
  for (size_t b = 0; b < 4; ++b)
    for (size_t t = 0; t < 64; ++t) REQUIRE(y[b * 64 + t] == x[b * 64 + 63 - t]);
}

TEST_CASE("simulated CUDA threads: xor shuffles sum a warp, __syncthreads_or sees every thread", "[sim]") {
  std::vector<float> x(2 * 96), sums(6, 0.f);
  std::vector<int> any(2, -1);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7);
  x[150] = 1000.f;  // block 1 only
  ACNN_LAUNCH(2, 96, nullptr, warp_sums)(x.data(), sums.data(), any.data());
  for (size_t w = 0; w < 6; ++w) {
    float want = 0.f;
    for (size_t i = 32 * w; i < 32 * w + 32; ++i) want += x[i];
    REQUIRE(sums[w] == want);
  }
  REQUIRE(any[0] == 0);
  REQUIRE(any[1] == 1);
}

TEST_CASE("simulated CUDA threads: divergent barriers and shuffles with exited lanes are errors", "[sim]") {
  std::vector<float> y(32);
  const std::string divergent = acnn::test::error_of([&] { ACNN_LAUNCH(1, 32, nullptr, divergent_barrier)(y.data()); });
  CHECK(divergent.find("different synchronization points") != std::string::npos);
  const std::string exited = acnn::test::error_of([&] { ACNN_LAUNCH(1, 32, nullptr, shuffle_after_exit)(y.data()); });
  CHECK(exited.find("which has exited") != std::string::npos);
  // The simulator is usable again after an error.
  std::vector<float> x(64, 2.f), r(64);
  ACNN_LAUNCH(1, 64, nullptr, reverse_block)(x.data(), r.data());
  REQUIRE(r[0] == 2.f);
}
