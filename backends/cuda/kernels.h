// Hand-written CUDA kernels (kernels.cu), compiled ahead of time by nvcc:
// batch-norm statistics and backward sums, reductions, the softmax family and
// cross entropy, pooling, a convolution's epilogue, and the fp16 loss-scaling
// steps. Each launcher enqueues on the given stream, reads and writes storage
// types f32/f16/bf16 as DType says and accumulates in fp32 (statistics combine
// in fp64). The semantics are those of the reference kernels in compiler/ops/.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backends/cuda/device_abi.h"
#include "compiler/ir/types.h"

namespace acnn::cuda::kernels {

// ---- batch norm over the rows of x[M, C] (NHWC, or [N, C] plain)
// Workspace of the two-stage channel sums (both bn_stats and bn_backward_sums).
size_t bn_workspace(int64_t M, int64_t C, int sms);
// A batch norm's per-channel factors, written with its statistics when
// scale is set: scale = gamma / sqrt(var + eps), rstd = 1 / sqrt(var + eps)
// (rstd optional), in float as a generated kernel computes them.
struct BnFactors {
  const float* gamma = nullptr;
  float eps = 0;
  float* scale = nullptr;
  float* rstd = nullptr;
};
// mean and biased variance per channel (and the factors f asks for).
void bn_stats(DType t, const void* x, int64_t M, int64_t C, float* mean, float* var, const BnFactors& f, void* ws, int sms,
              cudaStream_t s);
// dbeta = sum(dy), dgamma = sum(dy * (x - mean)) / sqrt(var + eps). With
// relu_gamma and relu_beta (the backward of relu(batch_norm(x))), dy counts
// only where the forward's ReLU passed: (x - mean) * (relu_gamma /
// sqrt(var + eps)) + relu_beta > 0.
void bn_backward_sums(DType t, const void* dy, const void* x, int64_t M, int64_t C, const float* mean, const float* var,
                      float eps, const float* relu_gamma, const float* relu_beta, float* dgamma, float* dbeta, void* ws,
                      int sms, cudaStream_t s);

// The same sums with dy made first from a residual block's output gradient:
// g = a + b where the block's ReLU output m > 0, else 0, written to g in t
// and summed as stored.
void bn_backward_sums_add_relu(DType t, const void* a, const void* b, const void* m, void* g, const void* x, int64_t M,
                               int64_t C, const float* mean, const float* var, float eps, float* dgamma, float* dbeta,
                               void* ws, int sms, cudaStream_t s);

// ---- reductions to f32
enum class Reduce : int { Sum = 0, Mean = 1, Max = 2 };
// x viewed as [outer, R, inner] (contiguous); y[outer, inner].
size_t reduce3_workspace(int64_t outer, int64_t R, int64_t inner, int sms);
void reduce3(Reduce k, DType t, const void* x, float* y, int64_t outer, int64_t R, int64_t inner, void* ws, int sms,
             cudaStream_t s);
// Any pattern: up to 8 kept and 8 reduced axes with element strides; y is
// row-major over the kept axes.
struct StridedReduce {
  int nk = 0, nr = 0;
  int64_t ksize[8], kstride[8], rsize[8], rstride[8];
};
void reduce_strided(Reduce k, DType t, const void* x, float* y, const StridedReduce& d, cudaStream_t s);

// ---- softmax family on f32 lines of K elements, `inner` apart, `outer` groups
void softmax(bool log, const float* x, float* y, int64_t outer, int64_t K, int64_t inner, cudaStream_t s);
void softmax_backward(bool log, const float* dy, const float* y, float* dx, int64_t outer, int64_t K, int64_t inner,
                      cudaStream_t s);
void softmax_xent(const float* logits, const float* target, float* loss, int64_t N, int64_t K, cudaStream_t s);
void softmax_xent_backward(const float* dloss, const float* logits, const float* target, float* dx, int64_t N,
                           int64_t K, cudaStream_t s);

// ---- pooling on [N, C, H, W] stored NHWC or NCHW; x and y share the type
struct PoolGeom {
  int64_t N, C, H, W, OH, OW, kh, kw, sh, sw, pt, pl;
  bool nhwc, include_pad;
};
// argmax (optional): per output, the window position of the first maximum.
void max_pool(DType t, const void* x, void* y, int8_t* argmax, const PoolGeom& g, cudaStream_t s);
// argmax null: recomputed from x.
void max_pool_backward(DType t, const void* dy, const void* x, const int8_t* argmax, void* dx, const PoolGeom& g,
                       cudaStream_t s);
void avg_pool(DType t, const void* x, void* y, const PoolGeom& g, cudaStream_t s);
void avg_pool_backward(DType t, const void* dy, void* dx, const PoolGeom& g, cudaStream_t s);

// ---- a convolution's epilogue, for when cuDNN cannot fuse it
// y = relu(y + bias[c] (+ z)) over n elements of y's type t (z: same type,
// optional), with channel c = (i / inner) % C (inner: 1 for NHWC, H*W for NCHW).
void conv_epilogue(DType t, void* y, const float* bias, const void* z, int64_t n, int64_t C, int64_t inner,
                   cudaStream_t s);
// y[i] = a[i] (+ b[i]) rounded to t: a convolution's bias (or the sum of
// two) in the type cuDNN's fused call takes.
void bias_sum(DType t, const float* a, const float* b, void* y, int64_t n, cudaStream_t s);

// ---- fp16 loss scaling
// Sets status->overflow when some element of the listed tensors is not
// finite (items[i].ptr[0], items[i].n elements, items[i].pad = 0 f32, 1 f16, 2 bf16).
void nonfinite_check(const AcnnItem* items, const AcnnChunk* chunks, int64_t nchunks, AcnnStatus* status,
                     cudaStream_t s);
constexpr int64_t kCheckChunk = 8192;
// items[i].ptr[1] = items[i].ptr[0] cast element by element (items[i].n
// elements; pad % 4 the input's type code, pad / 4 the output's, codes as
// above): the per-step half-precision copies of the master weights, all in
// one launch.
void cast_group(const AcnnItem* items, const AcnnChunk* chunks, int64_t nchunks, cudaStream_t s);
constexpr int64_t kCastChunk = 8192;
// dst = src (bytes), skipped when status->overflow is set: a state update
// copied from an optimizer's output.
void copy_unless_overflow(void* dst, const void* src, size_t bytes, const AcnnStatus* status, cudaStream_t s);
// Clears the overflow flag (start of a step).
void clear_overflow(AcnnStatus* status, cudaStream_t s);
// After a step: halve the scale on overflow, double it after a run of good steps.
void loss_scale_update(AcnnStatus* status, cudaStream_t s);

}  // namespace acnn::cuda::kernels
