// Hand-written batch-norm kernels (see kernels.h): the statistics and the
// backward's channel sums, each in two stages.
#include <algorithm>
#include <type_traits>

#include "backends/cuda/kernel_util.cuh"

namespace acnn::cuda::kernels {

namespace {

// ---------------------------------------------------------------- batch norm
//
// Channel sums over the rows of an [M, C] (NHWC) tensor in two stages. Stage
// 1: blocks of 256 threads; each thread holds VEC consecutive channels of a
// row (one 16-byte load: VEC = 16 / sizeof(T) when C divides by it, else 1);
// `lanes` threads (a power of two, at most 32) cover a block's channels and
// the 256 / lanes row phases take every (256 / lanes)-th row of the block's
// row group, so that narrow tensors (C = 64: 8 lanes, 32 phases) keep every
// thread busy; the phases meet in shared memory and each group writes float2
// partials per channel. Stage 2 sums the groups per channel in double.

// Channels per thread for a tensor of T whose C divides by it.
template <class T>
constexpr int bn_vec() {
  return static_cast<int>(16 / sizeof(T));
}

// Threads across the channels of a row: a power of two <= 32 and <= the
// thread-channel groups (C / vec).
int bn_lanes(int64_t groups_of_vec) {
  int l = 1;
  while (l < 32 && 2 * l <= groups_of_vec) l *= 2;
  return l;
}

// Row groups of the two-stage channel sums: enough blocks to fill the GPU
// (counted as if 8 channels per thread when C allows).
int64_t bn_groups(int64_t M, int64_t C, int sms) {
  int64_t cb = cdiv(C % 8 == 0 ? C / 8 : C, 32);
  int64_t g = std::max<int64_t>(1, (static_cast<int64_t>(sms) * 8 + cb - 1) / cb);
  return std::min<int64_t>({g, std::max<int64_t>(1, M / 16), 1024});
}

// VEC values of T at p (16-byte aligned when VEC > 1) as floats.
template <class T, int VEC>
__device__ __forceinline__ void load_vec(const T* p, float* v) {
  if constexpr (VEC > 1) {
    static_assert(VEC * sizeof(T) == 16, "one 16-byte load");
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int j = 0; j < VEC; ++j) v[j] = ld(e, j);
  } else {
    v[0] = ld(p, 0);
  }
}

// The block's (s, q) per thread and channel meet in shared memory; the
// threads of phase 0 add up the phases and write the group's partials.
template <int VEC>
__device__ __forceinline__ void bn_store_partials(const float* s, const float* q, int lanes, int64_t c0, int64_t C,
                                                  float2* part) {
  __shared__ float2 sh[256][VEC + 1];
  const int t = threadIdx.x;
#pragma unroll
  for (int j = 0; j < VEC; ++j) sh[t][j] = make_float2(s[j], q[j]);
  __syncthreads();
  if (t >= lanes || c0 >= C) return;
#pragma unroll
  for (int j = 0; j < VEC; ++j) {
    float2 a = sh[t][j];
    for (int p = t + lanes; p < 256; p += lanes) a.x += sh[p][j].x, a.y += sh[p][j].y;
    part[blockIdx.y * C + c0 + j] = a;
  }
}

// Rows a stage-1 thread loads at once before summing them, in the same
// order as one at a time: twice the bytes in flight per SM (a 16-byte load
// per row and operand; with 4-5 blocks of 256 threads per SM, one row at a
// time keeps about 20 KB in flight, too little to cover memory latency).
constexpr int kBnRows = 2;

// Stage 1 of the statistics: per (row group, channel) the sums of
// d = x - shift and d*d, with the channel's first element as the shift
// (stable for large means).
template <class T, int VEC>
__global__ void __launch_bounds__(256) bn_stats_partial(const T* x, int64_t M, int64_t C, int64_t rows_per, int lanes,
                                                        float2* part) {
  const int lane = threadIdx.x % lanes, phase = threadIdx.x / lanes, phases = 256 / lanes;
  const int64_t c0 = (static_cast<int64_t>(blockIdx.x) * lanes + lane) * VEC;
  const int64_t r0 = blockIdx.y * rows_per, r1 = min(M, r0 + rows_per);
  float s[VEC], q[VEC], k[VEC], v[kBnRows][VEC];
#pragma unroll
  for (int j = 0; j < VEC; ++j) s[j] = q[j] = 0.f;
  if (c0 < C) {
    load_vec<T, VEC>(x + c0, k);
    for (int64_t r = r0 + phase; r < r1; r += kBnRows * phases) {
#pragma unroll
      for (int u = 0; u < kBnRows; ++u)
        if (r + u * phases < r1) load_vec<T, VEC>(x + (r + u * phases) * C + c0, v[u]);
#pragma unroll
      for (int u = 0; u < kBnRows; ++u)
        if (r + u * phases < r1)
#pragma unroll
          for (int j = 0; j < VEC; ++j) {
            const float d = v[u][j] - k[j];
            s[j] += d;
            q[j] += d * d;
          }
    }
  }
  bn_store_partials<VEC>(s, q, lanes, c0, C, part);
}

// Stage 2 (shared by both sums): per channel, the groups' float2 partials
// summed in double by kSumPhases row phases of 32 channels (blocks of
// 32 x kSumPhases threads). Up to 1024 groups: many phases keep enough loads
// in flight where C is small and the grid has few blocks (C = 64: two).
constexpr int kSumPhases = 32;

__device__ __forceinline__ bool sum_groups(const float2* part, int64_t groups, int64_t C, double* s, double* q) {
  __shared__ double sh[kSumPhases][32][2];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x;
  double a = 0, b = 0;
  if (c < C)
    for (int64_t g = threadIdx.y; g < groups; g += kSumPhases) a += part[g * C + c].x, b += part[g * C + c].y;
  sh[threadIdx.y][threadIdx.x][0] = a;
  sh[threadIdx.y][threadIdx.x][1] = b;
  __syncthreads();
  if (threadIdx.y != 0 || c >= C) return false;
  for (int y = 1; y < kSumPhases; ++y) a += sh[y][threadIdx.x][0], b += sh[y][threadIdx.x][1];
  *s = a;
  *q = b;
  return true;
}

template <class T>
__global__ void bn_stats_final(const T* x, const float2* part, int64_t groups, int64_t M, int64_t C, float* mean,
                               float* var, BnFactors f) {
  double s = 0, q = 0;
  if (!sum_groups(part, groups, C, &s, &q)) return;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x;
  const double m = s / static_cast<double>(M);
  mean[c] = static_cast<float>(ld(x, c) + m);
  const float v = static_cast<float>(fmax(q / static_cast<double>(M) - m * m, 0.0));
  var[c] = v;
  if (f.scale) {  // in float, as the generated kernel computed them: sqrtf(1 * var + eps), then the divisions
    const float sd = sqrtf(1.0f * v + f.eps);
    f.scale[c] = f.gamma[c] / sd;
    if (f.rstd) f.rstd[c] = 1.0f / sd;
  }
}

// Stage 1 of the backward sums: per (row group, channel) the sums of dy and
// dy * (x - mean). MASK: dy counts only where the forward's ReLU passed,
// (x - mean) * (gamma / sqrt(var + eps)) + beta > 0, computed as the
// generated normalization computes it.
template <class T, int VEC, bool MASK>
__global__ void __launch_bounds__(256) bn_backward_partial(const T* dy, const T* x, int64_t M, int64_t C, int64_t rows_per,
                                                           int lanes, const float* mean, const float* var, float eps,
                                                           const float* gamma, const float* beta, float2* part) {
  const int lane = threadIdx.x % lanes, phase = threadIdx.x / lanes, phases = 256 / lanes;
  const int64_t c0 = (static_cast<int64_t>(blockIdx.x) * lanes + lane) * VEC;
  const int64_t r0 = blockIdx.y * rows_per, r1 = min(M, r0 + rows_per);
  float s[VEC], q[VEC], mu[VEC], k[VEC], b[VEC], g[kBnRows][VEC], v[kBnRows][VEC];
#pragma unroll
  for (int j = 0; j < VEC; ++j) {
    s[j] = q[j] = k[j] = b[j] = 0.f;
    mu[j] = c0 < C ? mean[c0 + j] : 0.f;
    if (MASK && c0 < C) k[j] = gamma[c0 + j] / sqrtf(var[c0 + j] + eps), b[j] = beta[c0 + j];
  }
  if (c0 < C) {
    for (int64_t r = r0 + phase; r < r1; r += kBnRows * phases) {
#pragma unroll
      for (int u = 0; u < kBnRows; ++u)
        if (r + u * phases < r1) {
          load_vec<T, VEC>(dy + (r + u * phases) * C + c0, g[u]);
          load_vec<T, VEC>(x + (r + u * phases) * C + c0, v[u]);
        }
#pragma unroll
      for (int u = 0; u < kBnRows; ++u)
        if (r + u * phases < r1)
#pragma unroll
          for (int j = 0; j < VEC; ++j) {
            const float d = v[u][j] - mu[j];
            const float gj = !MASK || d * k[j] + b[j] > 0.f ? g[u][j] : 0.f;
            s[j] += gj;
            q[j] += gj * d;
          }
    }
  }
  bn_store_partials<VEC>(s, q, lanes, c0, C, part);
}

// VEC values of T stored at p (16-byte aligned when VEC > 1).
template <class T, int VEC>
__device__ __forceinline__ void store_vec(T* p, const T* v) {
  if constexpr (VEC > 1) {
    *reinterpret_cast<uint4*>(p) = *reinterpret_cast<const uint4*>(v);
  } else {
    p[0] = v[0];
  }
}

// Stage 1 with a residual block's output gradient made here: g = a + b where
// the block's ReLU output m is positive, else 0, rounded to T and written
// (the skip path and the dx kernel read it), then summed as dy is above.
template <class T, int VEC>
__global__ void __launch_bounds__(256) bn_backward_add_relu_partial(const T* a, const T* b, const T* m, T* g,
                                                                    const T* x, int64_t M, int64_t C, int64_t rows_per,
                                                                    int lanes, const float* mean, float2* part) {
  const int lane = threadIdx.x % lanes, phase = threadIdx.x / lanes, phases = 256 / lanes;
  const int64_t c0 = (static_cast<int64_t>(blockIdx.x) * lanes + lane) * VEC;
  const int64_t r0 = blockIdx.y * rows_per, r1 = min(M, r0 + rows_per);
  float s[VEC], q[VEC], mu[VEC], va[VEC], vb[VEC], vm[VEC], vx[VEC];
#pragma unroll
  for (int j = 0; j < VEC; ++j) s[j] = q[j] = 0.f, mu[j] = c0 < C ? mean[c0 + j] : 0.f;
  if (c0 < C) {
    for (int64_t r = r0 + phase; r < r1; r += phases) {
      const int64_t at = r * C + c0;
      load_vec<T, VEC>(a + at, va);
      load_vec<T, VEC>(b + at, vb);
      load_vec<T, VEC>(m + at, vm);
      load_vec<T, VEC>(x + at, vx);
      alignas(16) T out[VEC];
#pragma unroll
      for (int j = 0; j < VEC; ++j) {
        st(out, j, vm[j] > 0.f ? va[j] + vb[j] : 0.f);
        const float gj = ld(out, j);  // as stored: the dx kernel reads the rounded value
        s[j] += gj;
        q[j] += gj * (vx[j] - mu[j]);
      }
      store_vec<T, VEC>(g + at, out);
    }
  }
  bn_store_partials<VEC>(s, q, lanes, c0, C, part);
}

__global__ void bn_backward_final(const float2* part, int64_t groups, int64_t C, const float* var, float eps,
                                  float* dgamma, float* dbeta) {
  double s = 0, q = 0;
  if (!sum_groups(part, groups, C, &s, &q)) return;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x;
  if (dbeta) dbeta[c] = static_cast<float>(s);
  if (dgamma) dgamma[c] = static_cast<float>(q / sqrt(static_cast<double>(var[c]) + eps));
}

}  // namespace

size_t bn_workspace(int64_t M, int64_t C, int sms) {
  return static_cast<size_t>(bn_groups(M, C, sms)) * static_cast<size_t>(C) * sizeof(float2);
}

void bn_stats(DType t, const void* x, int64_t M, int64_t C, float* mean, float* var, const BnFactors& f, void* ws, int sms,
              cudaStream_t s) {
  const int64_t groups = bn_groups(M, C, sms), rows = (M + groups - 1) / groups;
  by_type(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    constexpr int V = bn_vec<T>();
    const T* xt = static_cast<const T*>(x);
    float2* part = static_cast<float2*>(ws);
    const unsigned int gy = static_cast<unsigned int>(groups);
    if (C % V == 0) {
      const int lanes = bn_lanes(C / V);
      ACNN_LAUNCH(dim3(cdiv(C / V, lanes), gy), 256, s, bn_stats_partial<T, V>)(xt, M, C, rows, lanes, part);
    } else {
      const int lanes = bn_lanes(C);
      ACNN_LAUNCH(dim3(cdiv(C, lanes), gy), 256, s, bn_stats_partial<T, 1>)(xt, M, C, rows, lanes, part);
    }
    ACNN_LAUNCH(cdiv(C, 32), dim3(32, kSumPhases), s, bn_stats_final<T>)(xt, part, groups, M, C, mean, var, f);
  });
  launched("bn_stats");
}

void bn_backward_sums(DType t, const void* dy, const void* x, int64_t M, int64_t C, const float* mean, const float* var,
                      float eps, const float* relu_gamma, const float* relu_beta, float* dgamma, float* dbeta, void* ws,
                      int sms, cudaStream_t s) {
  const int64_t groups = bn_groups(M, C, sms), rows = (M + groups - 1) / groups;
  float2* part = static_cast<float2*>(ws);
  const bool mask = relu_gamma != nullptr;
  by_type(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    constexpr int V = bn_vec<T>();
    const T *dyt = static_cast<const T*>(dy), *xt = static_cast<const T*>(x);
    const bool vec = C % V == 0;
    const int lanes = bn_lanes(vec ? C / V : C);
    const dim3 grid(static_cast<unsigned int>(cdiv(vec ? C / V : C, lanes)), static_cast<unsigned int>(groups));
    if (vec && mask)
      ACNN_LAUNCH(grid, 256, s, bn_backward_partial<T, V, true>)(dyt, xt, M, C, rows, lanes, mean, var, eps, relu_gamma,
                                                                 relu_beta, part);
    else if (vec)
      ACNN_LAUNCH(grid, 256, s, bn_backward_partial<T, V, false>)(dyt, xt, M, C, rows, lanes, mean, var, eps, relu_gamma,
                                                                  relu_beta, part);
    else if (mask)
      ACNN_LAUNCH(grid, 256, s, bn_backward_partial<T, 1, true>)(dyt, xt, M, C, rows, lanes, mean, var, eps, relu_gamma,
                                                                 relu_beta, part);
    else
      ACNN_LAUNCH(grid, 256, s, bn_backward_partial<T, 1, false>)(dyt, xt, M, C, rows, lanes, mean, var, eps, relu_gamma,
                                                                  relu_beta, part);
  });
  ACNN_LAUNCH(cdiv(C, 32), dim3(32, kSumPhases), s, bn_backward_final)(part, groups, C, var, eps, dgamma, dbeta);
  launched("bn_backward_sums");
}

void bn_backward_sums_add_relu(DType t, const void* a, const void* b, const void* m, void* g, const void* x, int64_t M,
                               int64_t C, const float* mean, const float* var, float eps, float* dgamma, float* dbeta,
                               void* ws, int sms, cudaStream_t s) {
  const int64_t groups = bn_groups(M, C, sms), rows = (M + groups - 1) / groups;
  float2* part = static_cast<float2*>(ws);
  by_type(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    constexpr int V = bn_vec<T>();
    const T *at = static_cast<const T*>(a), *bt = static_cast<const T*>(b), *mt = static_cast<const T*>(m);
    const T* xt = static_cast<const T*>(x);
    T* gt = static_cast<T*>(g);
    const bool vec = C % V == 0;
    const int lanes = bn_lanes(vec ? C / V : C);
    const dim3 grid(static_cast<unsigned int>(cdiv(vec ? C / V : C, lanes)), static_cast<unsigned int>(groups));
    if (vec)
      ACNN_LAUNCH(grid, 256, s, bn_backward_add_relu_partial<T, V>)(at, bt, mt, gt, xt, M, C, rows, lanes, mean, part);
    else
      ACNN_LAUNCH(grid, 256, s, bn_backward_add_relu_partial<T, 1>)(at, bt, mt, gt, xt, M, C, rows, lanes, mean, part);
  });
  ACNN_LAUNCH(cdiv(C, 32), dim3(32, kSumPhases), s, bn_backward_final)(part, groups, C, var, eps, dgamma, dbeta);
  launched("bn_backward_sums_add_relu");
}

}  // namespace acnn::cuda::kernels
