// Hand-written CUDA kernels (see kernels.h); the batch-norm ones are in
// kernels_bn.cu.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "backends/cuda/kernel_util.cuh"

namespace acnn::cuda::kernels {

namespace {

// ---------------------------------------------------------------- reductions

__device__ __forceinline__ float combine(int k, float a, float b) { return k == 2 ? fmaxf(a, b) : a + b; }

// [outer, R, inner], inner > 1: threads along inner; partials per R split.
template <class T>
__global__ void reduce3_cols(int k, const T* x, int64_t outer, int64_t R, int64_t inner, int64_t r_per, float* part) {
  __shared__ float sh[8][33];
  const int64_t i = blockIdx.x * 32 + threadIdx.x;
  const int64_t r0 = blockIdx.z * r_per, r1 = min(R, r0 + r_per);
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    float a = k == 2 ? -INFINITY : 0.f;
    if (i < inner)
      for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) a = combine(k, a, ld(x, (o * R + r) * inner + i));
    sh[threadIdx.y][threadIdx.x] = a;
    __syncthreads();
    if (threadIdx.y == 0 && i < inner) {
      for (int j = 1; j < 8; ++j) a = combine(k, a, sh[j][threadIdx.x]);
      part[blockIdx.z * outer * inner + o * inner + i] = a;
    }
    __syncthreads();
  }
}

// inner == 1: a block per row.
template <class T>
__global__ void reduce3_rows(int k, const T* x, int64_t outer, int64_t R, int64_t r_per, float* part) {
  __shared__ float sh[32];
  const int64_t r0 = blockIdx.z * r_per, r1 = min(R, r0 + r_per);
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    float a = k == 2 ? -INFINITY : 0.f;
    for (int64_t r = r0 + threadIdx.x; r < r1; r += blockDim.x) a = combine(k, a, ld(x, o * R + r));
    for (int s = 16; s > 0; s >>= 1) a = combine(k, a, __shfl_xor_sync(0xffffffffu, a, s));
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = a;
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int j = 1; j < static_cast<int>(blockDim.x >> 5); ++j) a = combine(k, a, sh[j]);
      part[blockIdx.z * outer + o] = a;
    }
    __syncthreads();
  }
}

__global__ void reduce3_final(int k, const float* part, int64_t groups, int64_t n, float scale, float* y) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  float a = part[i];
  for (int64_t g = 1; g < groups; ++g) a = combine(k, a, part[g * n + i]);
  y[i] = k == 1 ? a * scale : a;
}

template <class T>
__global__ void reduce_strided_kernel(int k, const T* x, float* y, StridedReduce d, int64_t n_out, int64_t n_red) {
  const int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (o >= n_out) return;
  int64_t base = 0, rem = o;
  for (int a = d.nk - 1; a >= 0; --a) base += (rem % d.ksize[a]) * d.kstride[a], rem /= d.ksize[a];
  float acc = k == 2 ? -INFINITY : 0.f;
  for (int64_t r = 0; r < n_red; ++r) {
    int64_t off = base, rr = r;
    for (int a = d.nr - 1; a >= 0; --a) off += (rr % d.rsize[a]) * d.rstride[a], rr /= d.rsize[a];
    acc = combine(k, acc, ld(x, off));
  }
  y[o] = k == 1 ? acc / static_cast<float>(n_red) : acc;
}

// ---------------------------------------------------------------- softmax family

// One warp per line (inner == 1).
__global__ void softmax_rows(bool log, const float* x, float* y, int64_t rows, int64_t K) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y;
  if (row >= rows) return;
  const float* xr = x + row * K;
  float* yr = y + row * K;
  float m = -INFINITY;
  for (int64_t k = threadIdx.x; k < K; k += 32) m = fmaxf(m, xr[k]);
  m = warp_max(m);
  float s = 0.f;
  for (int64_t k = threadIdx.x; k < K; k += 32) s += expf(xr[k] - m);
  s = warp_sum(s);
  const float lse = logf(s);
  for (int64_t k = threadIdx.x; k < K; k += 32) yr[k] = log ? xr[k] - m - lse : expf(xr[k] - m - lse);
}

// One thread per line (inner > 1).
__global__ void softmax_lines(bool log, const float* x, float* y, int64_t outer, int64_t K, int64_t inner) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (t >= outer * inner) return;
  const int64_t base = (t / inner) * K * inner + t % inner;
  float m = -INFINITY, s = 0.f;
  for (int64_t k = 0; k < K; ++k) m = fmaxf(m, x[base + k * inner]);
  for (int64_t k = 0; k < K; ++k) s += expf(x[base + k * inner] - m);
  const float lse = logf(s);
  for (int64_t k = 0; k < K; ++k) {
    const float z = x[base + k * inner] - m - lse;
    y[base + k * inner] = log ? z : expf(z);
  }
}

__global__ void softmax_backward_lines(bool log, const float* dy, const float* y, float* dx, int64_t outer, int64_t K,
                                       int64_t inner) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (t >= outer * inner) return;
  const int64_t base = (t / inner) * K * inner + t % inner;
  float s = 0.f;
  for (int64_t k = 0; k < K; ++k) s += log ? dy[base + k * inner] : dy[base + k * inner] * y[base + k * inner];
  for (int64_t k = 0; k < K; ++k) {
    const int64_t i = base + k * inner;
    dx[i] = log ? dy[i] - expf(y[i]) * s : y[i] * (dy[i] - s);
  }
}

__global__ void xent_rows(const float* x, const float* t, float* loss, int64_t rows, int64_t K) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y;
  if (row >= rows) return;
  const float *xr = x + row * K, *tr = t + row * K;
  float m = -INFINITY;
  for (int64_t k = threadIdx.x; k < K; k += 32) m = fmaxf(m, xr[k]);
  m = warp_max(m);
  float s = 0.f;
  for (int64_t k = threadIdx.x; k < K; k += 32) s += expf(xr[k] - m);
  const float lse = logf(warp_sum(s)) + m;
  float l = 0.f;
  for (int64_t k = threadIdx.x; k < K; k += 32)
    if (tr[k] != 0.f) l -= tr[k] * (xr[k] - lse);
  l = warp_sum(l);
  if (threadIdx.x == 0) loss[row] = l;
}

__global__ void xent_backward_rows(const float* dl, const float* x, const float* t, float* dx, int64_t rows, int64_t K) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y;
  if (row >= rows) return;
  const float *xr = x + row * K, *tr = t + row * K;
  float m = -INFINITY;
  for (int64_t k = threadIdx.x; k < K; k += 32) m = fmaxf(m, xr[k]);
  m = warp_max(m);
  float s = 0.f;
  for (int64_t k = threadIdx.x; k < K; k += 32) s += expf(xr[k] - m);
  const float lse = logf(warp_sum(s)) + m, g = dl[row];
  for (int64_t k = threadIdx.x; k < K; k += 32) dx[row * K + k] = g * (expf(xr[k] - lse) - tr[k]);
}

// ---------------------------------------------------------------- pooling

struct Pos {
  int64_t n, c, h, w;
};

// Position of the i-th element of an [N, C, H, W] tensor in memory order.
__device__ __forceinline__ Pos pos_of(int64_t i, int64_t C, int64_t H, int64_t W, bool nhwc) {
  Pos p;
  if (nhwc) {
    p.c = i % C, i /= C;
    p.w = i % W, i /= W;
    p.h = i % H, p.n = i / H;
  } else {
    p.w = i % W, i /= W;
    p.h = i % H, i /= H;
    p.c = i % C, p.n = i / C;
  }
  return p;
}
__device__ __forceinline__ int64_t off_of(int64_t n, int64_t c, int64_t h, int64_t w, int64_t C, int64_t H, int64_t W,
                                          bool nhwc) {
  return nhwc ? ((n * H + h) * W + w) * C + c : ((n * C + c) * H + h) * W + w;
}

// The first maximum of window (oh, ow) as a window index (kh*kw positions).
template <class T>
__device__ __forceinline__ int window_argmax(const T* x, const PoolGeom& g, int64_t n, int64_t c, int64_t oh, int64_t ow,
                                             float* best_v) {
  const int64_t hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
  const int64_t h0 = max(hs, int64_t{0}), h1 = min(hs + g.kh, g.H), w0 = max(ws, int64_t{0}), w1 = min(ws + g.kw, g.W);
  int best = static_cast<int>((h0 - hs) * g.kw + (w0 - ws));
  float bv = ld(x, off_of(n, c, h0, w0, g.C, g.H, g.W, g.nhwc));
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w) {
      const float v = ld(x, off_of(n, c, h, w, g.C, g.H, g.W, g.nhwc));
      if (v > bv) bv = v, best = static_cast<int>((h - hs) * g.kw + (w - ws));
    }
  *best_v = bv;
  return best;
}

template <class T>
__global__ void max_pool_kernel(const T* x, T* y, int8_t* argmax, PoolGeom g) {
  const int64_t total = g.N * g.C * g.OH * g.OW;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Pos p = pos_of(i, g.C, g.OH, g.OW, g.nhwc);
    float v;
    int a = window_argmax(x, g, p.n, p.c, p.h, p.w, &v);
    st(y, i, v);
    if (argmax) argmax[i] = static_cast<int8_t>(a);
  }
}

// Calls f(oh, ow, hs, ws) for every output window (oh, ow), starting at input
// row hs and column ws, that covers input position (h, w).
template <class F>
__device__ __forceinline__ void for_each_window_over(const PoolGeom& g, int64_t h, int64_t w, F f) {
  const int64_t oh0 = max(int64_t{0}, (h + g.pt - g.kh + g.sh) / g.sh), oh1 = min(g.OH - 1, (h + g.pt) / g.sh);
  const int64_t ow0 = max(int64_t{0}, (w + g.pl - g.kw + g.sw) / g.sw), ow1 = min(g.OW - 1, (w + g.pl) / g.sw);
  for (int64_t oh = oh0; oh <= oh1; ++oh)
    for (int64_t ow = ow0; ow <= ow1; ++ow) {
      const int64_t hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
      if (h < hs || h >= hs + g.kh || w < ws || w >= ws + g.kw) continue;
      f(oh, ow, hs, ws);
    }
}

// Gathers, for each input position, the gradient of every window whose
// first maximum it is.
template <class T>
__global__ void max_pool_backward_kernel(const T* dy, const T* x, const int8_t* argmax, T* dx, PoolGeom g) {
  const int64_t total = g.N * g.C * g.H * g.W;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Pos p = pos_of(i, g.C, g.H, g.W, g.nhwc);
    float acc = 0.f;
    for_each_window_over(g, p.h, p.w, [&](int64_t oh, int64_t ow, int64_t hs, int64_t ws) {
      const int64_t o = off_of(p.n, p.c, oh, ow, g.C, g.OH, g.OW, g.nhwc);
      int a;
      if (argmax) {
        a = argmax[o];
      } else {
        float v;
        a = window_argmax(x, g, p.n, p.c, oh, ow, &v);
      }
      if (a == (p.h - hs) * g.kw + (p.w - ws)) acc += ld(dy, o);
    });
    st(dx, i, acc);
  }
}

__device__ __forceinline__ float pool_count(const PoolGeom& g, int64_t oh, int64_t ow) {
  if (g.include_pad) return static_cast<float>(g.kh * g.kw);
  const int64_t hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
  const int64_t hn = min(hs + g.kh, g.H) - max(hs, int64_t{0}), wn = min(ws + g.kw, g.W) - max(ws, int64_t{0});
  return static_cast<float>(hn * wn);
}

template <class T>
__global__ void avg_pool_kernel(const T* x, T* y, PoolGeom g) {
  const int64_t total = g.N * g.C * g.OH * g.OW;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Pos p = pos_of(i, g.C, g.OH, g.OW, g.nhwc);
    const int64_t hs = p.h * g.sh - g.pt, ws = p.w * g.sw - g.pl;
    float s = 0.f;
    for (int64_t h = max(hs, int64_t{0}); h < min(hs + g.kh, g.H); ++h)
      for (int64_t w = max(ws, int64_t{0}); w < min(ws + g.kw, g.W); ++w) s += ld(x, off_of(p.n, p.c, h, w, g.C, g.H, g.W, g.nhwc));
    st(y, i, s / pool_count(g, p.h, p.w));
  }
}

template <class T>
__global__ void avg_pool_backward_kernel(const T* dy, T* dx, PoolGeom g) {
  const int64_t total = g.N * g.C * g.H * g.W;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Pos p = pos_of(i, g.C, g.H, g.W, g.nhwc);
    float acc = 0.f;
    for_each_window_over(g, p.h, p.w, [&](int64_t oh, int64_t ow, int64_t, int64_t) {
      acc += ld(dy, off_of(p.n, p.c, oh, ow, g.C, g.OH, g.OW, g.nhwc)) / pool_count(g, oh, ow);
    });
    st(dx, i, acc);
  }
}

// ---------------------------------------------------------------- tensor lists, loss scaling

// Element i of a tensor whose type code (0 f32, 1 f16, 2 bf16) is `code`.
__device__ __forceinline__ float ld_coded(const void* p, unsigned long long code, unsigned long long i) {
  if (code == 0) return ld(static_cast<const float*>(p), i);
  if (code == 1) return ld(static_cast<const __half*>(p), i);
  return ld(static_cast<const __nv_bfloat16*>(p), i);
}

__global__ void nonfinite_kernel(const AcnnItem* items, const AcnnChunk* chunks, AcnnStatus* st) {
  const AcnnChunk ch = chunks[blockIdx.x];
  const AcnnItem& it = items[ch.item];
  const unsigned long long end = min(ch.begin + static_cast<unsigned long long>(kCheckChunk), it.n);
  bool bad = false;
  for (unsigned long long i = ch.begin + threadIdx.x; i < end; i += blockDim.x)
    bad = bad || !isfinite(ld_coded(it.ptr[0], it.pad, i));
  if (__syncthreads_or(bad) && threadIdx.x == 0) st->overflow = 1;
}

__global__ void cast_group_kernel(const AcnnItem* items, const AcnnChunk* chunks) {
  const AcnnChunk ch = chunks[blockIdx.x];
  const AcnnItem& it = items[ch.item];
  const unsigned long long end = min(ch.begin + static_cast<unsigned long long>(kCastChunk), it.n);
  const unsigned long long from = it.pad % 4, to = it.pad / 4;
  for (unsigned long long i = ch.begin + threadIdx.x; i < end; i += blockDim.x) {
    const float v = ld_coded(it.ptr[0], from, i);
    if (to == 0) st(static_cast<float*>(it.ptr[1]), i, v);
    else if (to == 1) st(static_cast<__half*>(it.ptr[1]), i, v);
    else st(static_cast<__nv_bfloat16*>(it.ptr[1]), i, v);
  }
}

__global__ void copy_unless_overflow_kernel(unsigned char* dst, const unsigned char* src, size_t bytes, const AcnnStatus* st) {
  if (st->overflow) return;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < bytes; i += static_cast<size_t>(gridDim.x) * blockDim.x)
    dst[i] = src[i];
}

__global__ void clear_overflow_kernel(AcnnStatus* st) { st->overflow = 0; }

__global__ void loss_scale_kernel(AcnnStatus* st) {
  if (st->overflow) {
    st->loss_scale = fmaxf(st->loss_scale * 0.5f, 1.0f);
    st->good_steps = 0;
    st->skipped_steps += 1;
  } else if (++st->good_steps >= kLossScaleGrowthInterval) {
    st->loss_scale = fminf(st->loss_scale * 2.0f, kMaxLossScale);
    st->good_steps = 0;
  }
}

}  // namespace

// ---------------------------------------------------------------- conv epilogue

// y = relu(y + bias[c] (+ z)), c = (i / inner) % C: a convolution's fused
// epilogue when cuDNN does not run it.
template <class T>
__global__ void conv_epilogue_kernel(T* y, const float* bias, const T* z, int64_t n, int64_t C, int64_t inner) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    float v = ld(y, i) + bias[(i / inner) % C];
    if (z) v += ld(z, i);
    st(y, i, v > 0.f ? v : 0.f);
  }
}

template <class T>
__global__ void bias_sum_kernel(const float* a, const float* b, T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    st(y, i, b ? a[i] + b[i] : a[i]);
}

// ---------------------------------------------------------------- launchers

namespace {
int64_t reduce_groups(int64_t outer, int64_t R, int64_t inner, int sms) {
  int64_t blocks = std::min<int64_t>(outer, 65535) * (inner > 1 ? cdiv(inner, 32) : 1);
  int64_t want = static_cast<int64_t>(sms) * 4;
  if (blocks >= want) return 1;
  return std::max<int64_t>(1, std::min<int64_t>({(want + blocks - 1) / blocks, (R + 63) / 64, 256}));
}
}  // namespace

size_t reduce3_workspace(int64_t outer, int64_t R, int64_t inner, int sms) {
  return static_cast<size_t>(reduce_groups(outer, R, inner, sms)) * static_cast<size_t>(outer * inner) * sizeof(float);
}

void reduce3(Reduce k, DType t, const void* x, float* y, int64_t outer, int64_t R, int64_t inner, void* ws, int sms,
             cudaStream_t s) {
  const int64_t groups = reduce_groups(outer, R, inner, sms), r_per = (R + groups - 1) / groups;
  const unsigned int gy = static_cast<unsigned int>(std::min<int64_t>(outer, 65535));
  float* part = groups == 1 && k != Reduce::Mean ? y : static_cast<float*>(ws);
  by_type(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (inner > 1)
      ACNN_LAUNCH(dim3(cdiv(inner, 32), gy, static_cast<unsigned int>(groups)), dim3(32, 8), s, reduce3_cols<T>)(
          static_cast<int>(k), static_cast<const T*>(x), outer, R, inner, r_per, part);
    else
      ACNN_LAUNCH(dim3(1, gy, static_cast<unsigned int>(groups)), 256, s, reduce3_rows<T>)(static_cast<int>(k),
                                                                                     static_cast<const T*>(x), outer, R,
                                                                                     r_per, part);
  });
  if (part != y)
    ACNN_LAUNCH(cdiv(outer * inner, 256), 256, s, reduce3_final)(static_cast<int>(k), part, groups, outer * inner,
                                                           1.0f / static_cast<float>(R), y);
  launched("reduce");
}

void reduce_strided(Reduce k, DType t, const void* x, float* y, const StridedReduce& d, cudaStream_t s) {
  int64_t n_out = 1, n_red = 1;
  for (int a = 0; a < d.nk; ++a) n_out *= d.ksize[a];
  for (int a = 0; a < d.nr; ++a) n_red *= d.rsize[a];
  by_type(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    ACNN_LAUNCH(cdiv(n_out, 256), 256, s, reduce_strided_kernel<T>)(static_cast<int>(k), static_cast<const T*>(x), y, d,
                                                                    n_out, n_red);
  });
  launched("reduce_strided");
}

void softmax(bool log, const float* x, float* y, int64_t outer, int64_t K, int64_t inner, cudaStream_t s) {
  if (inner == 1)
    ACNN_LAUNCH(cdiv(outer, 8), dim3(32, 8), s, softmax_rows)(log, x, y, outer, K);
  else
    ACNN_LAUNCH(cdiv(outer * inner, 256), 256, s, softmax_lines)(log, x, y, outer, K, inner);
  launched("softmax");
}

void softmax_backward(bool log, const float* dy, const float* y, float* dx, int64_t outer, int64_t K, int64_t inner,
                      cudaStream_t s) {
  ACNN_LAUNCH(cdiv(outer * inner, 256), 256, s, softmax_backward_lines)(log, dy, y, dx, outer, K, inner);
  launched("softmax_backward");
}

void softmax_xent(const float* logits, const float* target, float* loss, int64_t N, int64_t K, cudaStream_t s) {
  ACNN_LAUNCH(cdiv(N, 8), dim3(32, 8), s, xent_rows)(logits, target, loss, N, K);
  launched("softmax_cross_entropy");
}

void softmax_xent_backward(const float* dloss, const float* logits, const float* target, float* dx, int64_t N, int64_t K,
                           cudaStream_t s) {
  ACNN_LAUNCH(cdiv(N, 8), dim3(32, 8), s, xent_backward_rows)(dloss, logits, target, dx, N, K);
  launched("softmax_cross_entropy_backward");
}

namespace {
unsigned int pool_blocks(int64_t n) { return static_cast<unsigned int>(std::min<int64_t>(cdiv(n, 256), 1 << 20)); }
}  // namespace

void max_pool(DType t, const void* x, void* y, int8_t* argmax, const PoolGeom& g, cudaStream_t s) {
  by_type(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    ACNN_LAUNCH(pool_blocks(g.N * g.C * g.OH * g.OW), 256, s, max_pool_kernel<T>)(static_cast<const T*>(x),
                                                                                  static_cast<T*>(y), argmax, g);
  });
  launched("max_pool");
}

void max_pool_backward(DType t, const void* dy, const void* x, const int8_t* argmax, void* dx, const PoolGeom& g,
                       cudaStream_t s) {
  by_type(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    ACNN_LAUNCH(pool_blocks(g.N * g.C * g.H * g.W), 256, s, max_pool_backward_kernel<T>)(
        static_cast<const T*>(dy), static_cast<const T*>(x), argmax, static_cast<T*>(dx), g);
  });
  launched("max_pool_backward");
}

void avg_pool(DType t, const void* x, void* y, const PoolGeom& g, cudaStream_t s) {
  by_type(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    ACNN_LAUNCH(pool_blocks(g.N * g.C * g.OH * g.OW), 256, s, avg_pool_kernel<T>)(static_cast<const T*>(x),
                                                                                  static_cast<T*>(y), g);
  });
  launched("avg_pool");
}

void avg_pool_backward(DType t, const void* dy, void* dx, const PoolGeom& g, cudaStream_t s) {
  by_type(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    ACNN_LAUNCH(pool_blocks(g.N * g.C * g.H * g.W), 256, s, avg_pool_backward_kernel<T>)(static_cast<const T*>(dy),
                                                                                    static_cast<T*>(dx), g);
  });
  launched("avg_pool_backward");
}

void conv_epilogue(DType t, void* y, const float* bias, const void* z, int64_t n, int64_t C, int64_t inner,
                   cudaStream_t s) {
  by_type(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    ACNN_LAUNCH(pool_blocks(n), 256, s, conv_epilogue_kernel<T>)(static_cast<T*>(y), bias, static_cast<const T*>(z), n,
                                                                 C, inner);
  });
  launched("conv_epilogue");
}

void bias_sum(DType t, const float* a, const float* b, void* y, int64_t n, cudaStream_t s) {
  by_type(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    ACNN_LAUNCH(pool_blocks(n), 256, s, bias_sum_kernel<T>)(a, b, static_cast<T*>(y), n);
  });
  launched("bias_sum");
}

void cast_group(const AcnnItem* items, const AcnnChunk* chunks, int64_t nchunks, cudaStream_t s) {
  if (nchunks == 0) return;
  ACNN_LAUNCH(static_cast<unsigned int>(nchunks), 256, s, cast_group_kernel)(items, chunks);
  launched("cast_group");
}

void nonfinite_check(const AcnnItem* items, const AcnnChunk* chunks, int64_t nchunks, AcnnStatus* status, cudaStream_t s) {
  if (nchunks == 0) return;
  ACNN_LAUNCH(static_cast<unsigned int>(nchunks), 256, s, nonfinite_kernel)(items, chunks, status);
  launched("nonfinite_check");
}

void copy_unless_overflow(void* dst, const void* src, size_t bytes, const AcnnStatus* status, cudaStream_t s) {
  const unsigned int blocks = static_cast<unsigned int>(std::min<size_t>((bytes + 255) / 256, 4096));
  ACNN_LAUNCH(blocks, 256, s, copy_unless_overflow_kernel)(static_cast<unsigned char*>(dst),
                                                           static_cast<const unsigned char*>(src), bytes, status);
  launched("copy_unless_overflow");
}

void clear_overflow(AcnnStatus* status, cudaStream_t s) {
  ACNN_LAUNCH(1, 1, s, clear_overflow_kernel)(status);
  launched("clear_overflow");
}

void loss_scale_update(AcnnStatus* status, cudaStream_t s) {
  ACNN_LAUNCH(1, 1, s, loss_scale_kernel)(status);
  launched("loss_scale_update");
}

}  // namespace acnn::cuda::kernels
