// Host stand-in for <cuda_runtime.h>, first on the include path of the
// kernel simulation tests only: the CUDA C that backends/cuda/kernels.cu uses
// (qualifiers, built-in indices, vector types, synchronization, launches),
// mapped onto the simulated threads of tests/sim/threads.h so that the file
// compiles as C++ and its kernels run on the CPU.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "tests/sim/threads.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

#define threadIdx (::acnn::sim::thread_idx)
#define blockIdx (::acnn::sim::block_idx)
#define blockDim (::acnn::sim::block_dim)
#define gridDim (::acnn::sim::grid_dim)

#define ACNN_LAUNCH(grid, block, stream, ...) \
  ::acnn::sim::Launch(::acnn::sim::Dim3(grid), ::acnn::sim::Dim3(block), &__VA_ARGS__)

using dim3 = ::acnn::sim::Dim3;
struct float2 {
  float x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
struct alignas(16) uint4 {
  unsigned int x, y, z, w;
};

#define __syncthreads() ::acnn::sim::sync_threads(__FILE__, __LINE__)
#define __syncthreads_or(p) ::acnn::sim::sync_threads_or((p), __FILE__, __LINE__)
inline float __shfl_xor_sync(unsigned int, float v, int lane_mask) { return ::acnn::sim::shfl_xor(v, lane_mask); }

using std::isfinite;
using std::max;
using std::min;

typedef struct CUstream_st* cudaStream_t;
enum cudaError_t { cudaSuccess = 0 };
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t) { return "no error"; }
