// What the hand-written kernels (kernels.cu, kernels_bn.cu) share: element
// loads and stores in fp32 of each storage type, the launch check, dispatch
// on a DType, and the launch spelling kernel<<<grid, block, 0, stream>>>
// that the host simulation (tests/sim/include/cuda_runtime.h) defines
// otherwise to run them without a GPU. Only those two files include it.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdexcept>
#include <string>

#include "backends/cuda/kernels.h"

#ifndef ACNN_LAUNCH
#define ACNN_LAUNCH(grid, block, stream, ...) __VA_ARGS__<<<grid, block, 0, stream>>>
#endif

namespace acnn::cuda::kernels {
namespace {

__device__ __forceinline__ float ld(const float* p, size_t i) { return p[i]; }
__device__ __forceinline__ float ld(const __half* p, size_t i) { return __half2float(p[i]); }
__device__ __forceinline__ float ld(const __nv_bfloat16* p, size_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void st(float* p, size_t i, float v) { p[i] = v; }
__device__ __forceinline__ void st(__half* p, size_t i, float v) { p[i] = __float2half_rn(v); }
__device__ __forceinline__ void st(__nv_bfloat16* p, size_t i, float v) { p[i] = __float2bfloat16_rn(v); }

inline void launched(const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA backend: launching ") + what + " failed: " + cudaGetErrorString(e));
}

// Calls f((T*)nullptr) with T the storage type of t.
template <class F>
void by_type(DType t, F&& f) {
  switch (t) {
    case DType::F32: f(static_cast<float*>(nullptr)); return;
    case DType::F16: f(static_cast<__half*>(nullptr)); return;
    case DType::BF16: f(static_cast<__nv_bfloat16*>(nullptr)); return;
    default: throw std::runtime_error(std::string("CUDA kernels take f32, f16 or bf16, not ") + dtype_name(t));
  }
}

inline unsigned int cdiv(int64_t a, int64_t b) { return static_cast<unsigned int>((a + b - 1) / b); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

}  // namespace
}  // namespace acnn::cuda::kernels
