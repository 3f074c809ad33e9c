// The CUDA emulator's cuDNN (see tests/sim/include/cudnn.h): packed 4-D
// tensors and filters in NCHW or NHWC, 2-D convolutions with padding, stride,
// dilation and groups, computed on the CPU by direct loops over contiguous
// channels. Each element is read in its descriptor's type, products are
// summed in float (as cuDNN's kernels do), and alpha * sum + beta * old is
// rounded once to the output type (round to nearest even). A convolution is a stream operation: it captures the
// descriptors' contents, the scalars and the pointers by value and goes
// through acnn::sim::enqueue, so it runs now or when a captured graph is
// launched, whatever happens to the descriptors meanwhile. There is one
// "algorithm" per direction and it needs no workspace. The fused forward
// (convolution + alpha2 * z + bias, ReLU or identity) rounds once, as cuDNN's
// fused kernels do; it accepts what cuDNN documents (a bias of y's type, the
// identity only with IMPLICIT_PRECOMP_GEMM) and refuses everything with
// NOT_SUPPORTED when ACNN_EMULATOR_NO_FUSED_CONV=1, so that callers' fallbacks
// are tested too.
#include <cudnn.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <new>
#include <vector>

#include "tests/sim/emulator.h"

namespace {

// A packed 4-D layout; for a filter, n is K (output channels) and c is the
// channels per group, and NHWC means KRSC. Strides are in elements.
struct Layout {
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int n = 0, c = 0, h = 0, w = 0;
  size_t sn = 0, sc = 0, sh = 0, sw = 0;
  size_t size() const { return size_t(n) * c * h * w; }
  size_t at(int in, int ic, int ih, int iw) const { return in * sn + ic * sc + ih * sh + iw * sw; }
};

struct Geometry {
  bool set = false;
  int pad_h = 0, pad_w = 0, u = 1, v = 1, dil_h = 1, dil_w = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  int groups = 1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

}  // namespace

// The opaque types of cudnn.h.
struct cudnnContext { cudaStream_t stream = nullptr; };
struct cudnnTensorStruct { Layout l; };
struct cudnnFilterStruct { Layout l; };
struct cudnnConvolutionStruct { Geometry g; };
struct cudnnActivationStruct {
  bool set = false;
  cudnnActivationMode_t mode = CUDNN_ACTIVATION_RELU;
};

namespace {

// One convolution, by value: y (n, k, p, q) = sum over c, r, s of
// x (n, group(k) * C + c, p * u - pad_h + r * dil_h, ...) * w (k, c, r, s).
struct Problem {
  Layout x, w, y;
  Geometry g;
};

bool is_float_type(cudnnDataType_t t) {
  return t == CUDNN_DATA_FLOAT || t == CUDNN_DATA_DOUBLE || t == CUDNN_DATA_HALF || t == CUDNN_DATA_BFLOAT16;
}

cudnnStatus_t set_layout(Layout* l, cudnnTensorFormat_t f, cudnnDataType_t t, int n, int c, int h, int w) {
  if (!l || n <= 0 || c <= 0 || h <= 0 || w <= 0) return CUDNN_STATUS_BAD_PARAM;
  if (f != CUDNN_TENSOR_NCHW && f != CUDNN_TENSOR_NHWC) return CUDNN_STATUS_BAD_PARAM;
  if (!is_float_type(t) && t != CUDNN_DATA_INT32) return CUDNN_STATUS_BAD_PARAM;
  Layout r;
  r.set = true, r.type = t, r.n = n, r.c = c, r.h = h, r.w = w;
  if (f == CUDNN_TENSOR_NCHW) r.sw = 1, r.sh = w, r.sc = size_t(h) * w, r.sn = size_t(c) * h * w;
  else r.sc = 1, r.sw = c, r.sh = size_t(w) * c, r.sn = size_t(h) * w * c;
  *l = r;
  return CUDNN_STATUS_SUCCESS;
}

// The float nearest d in round-to-odd: an inexact result gets an odd last
// bit, so that rounding it again to half or bfloat16 (far fewer bits) gives
// the same as rounding d directly (no double-rounding error).
float to_float_odd(double d) {
  float f = static_cast<float>(d);
  if (static_cast<double>(f) == d || !std::isfinite(f)) return f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 1u) == 0) f = std::nextafter(f, d > f ? std::numeric_limits<float>::infinity()
                                                      : -std::numeric_limits<float>::infinity());
  return f;
}

double load(cudnnDataType_t t, const void* p, size_t i) {
  switch (t) {
    case CUDNN_DATA_DOUBLE: return static_cast<const double*>(p)[i];
    case CUDNN_DATA_HALF: return __half2float(static_cast<const __half*>(p)[i]);
    case CUDNN_DATA_BFLOAT16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

void store(cudnnDataType_t t, void* p, size_t i, double v) {
  switch (t) {
    case CUDNN_DATA_DOUBLE: static_cast<double*>(p)[i] = v; break;
    case CUDNN_DATA_HALF: static_cast<__half*>(p)[i] = __float2half_rn(to_float_odd(v)); break;
    case CUDNN_DATA_BFLOAT16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(to_float_odd(v)); break;
    default: static_cast<float*>(p)[i] = static_cast<float>(v); break;
  }
}

// The operands as the loops below want them, in float: feature maps as
// [n][h][w][c], the filter as [k][r][s][c] (true convolution's flip applied)
// or, for the forward pass, as [r][s][c][k]. Every inner loop then runs over
// contiguous channels, which the compiler vectorizes: a Fashion network's
// training step stays well under a second.
std::vector<float> maps_nhwc(const Layout& l, const void* p) {
  std::vector<float> v(l.size());
  size_t i = 0;
  for (int n = 0; n < l.n; ++n)
    for (int h = 0; h < l.h; ++h)
      for (int w = 0; w < l.w; ++w)
        for (int c = 0; c < l.c; ++c) v[i++] = static_cast<float>(load(l.type, p, l.at(n, c, h, w)));
  return v;
}

std::vector<float> filter_ordered(const Layout& l, const void* p, bool flip, bool rsck) {
  std::vector<float> v(l.size());
  for (int k = 0; k < l.n; ++k)
    for (int r = 0; r < l.h; ++r)
      for (int s = 0; s < l.w; ++s)
        for (int c = 0; c < l.c; ++c) {
          const size_t from = flip ? l.at(k, c, l.h - 1 - r, l.w - 1 - s) : l.at(k, c, r, s);
          const size_t to = rsck ? ((size_t(r) * l.w + s) * l.c + c) * l.n + k : ((size_t(k) * l.h + r) * l.w + s) * l.c + c;
          v[to] = static_cast<float>(load(l.type, p, from));
        }
  return v;
}

// out = alpha * acc + beta * out, acc in the loops' order ([n][h][w][c] or
// [k][r][s][c]); out is not read when beta is 0 (it may hold anything, NaN
// included), as cuDNN documents.
void finish(const Layout& l, void* out, const std::vector<float>& acc, double alpha, double beta) {
  size_t i = 0;
  for (int a = 0; a < l.n; ++a)
    for (int h = 0; h < l.h; ++h)
      for (int w = 0; w < l.w; ++w)
        for (int c = 0; c < l.c; ++c, ++i) {
          const size_t o = l.at(a, c, h, w);
          store(l.type, out, o, alpha * acc[i] + (beta != 0 ? beta * load(l.type, out, o) : 0.0));
        }
}

// The fused forward's epilogue: out = act(alpha * acc + alpha2 * z + bias[k]),
// rounded once (z is not read when alpha2 is 0).
struct Epilogue {
  Layout z, bias;
  const void* zp = nullptr;
  const void* bp = nullptr;
  double alpha2 = 0;
  bool relu = true;
};

void finish_fused(const Layout& l, void* out, const std::vector<float>& acc, double alpha, const Epilogue& e) {
  size_t i = 0;
  for (int a = 0; a < l.n; ++a)
    for (int h = 0; h < l.h; ++h)
      for (int w = 0; w < l.w; ++w)
        for (int c = 0; c < l.c; ++c, ++i) {
          double v = alpha * acc[i] + load(e.bias.type, e.bp, e.bias.at(0, c, 0, 0));
          if (e.alpha2 != 0) v += e.alpha2 * load(e.z.type, e.zp, e.z.at(a, c, h, w));
          store(l.type, out, l.at(a, c, h, w), e.relu && !(v > 0) ? 0.0 : v);
        }
}

// Calls f(n, p, q, r, s, ih, iw) for every output position (p, q) and
// filter tap (r, s) that falls inside the input.
template <class F>
void for_each_tap(const Problem& pr, F f) {
  const Layout &x = pr.x, &w = pr.w, &y = pr.y;
  const Geometry& g = pr.g;
  for (int n = 0; n < y.n; ++n)
    for (int p = 0; p < y.h; ++p)
      for (int r = 0; r < w.h; ++r) {
        const int ih = p * g.u - g.pad_h + r * g.dil_h;
        if (ih < 0 || ih >= x.h) continue;
        for (int q = 0; q < y.w; ++q)
          for (int s = 0; s < w.w; ++s) {
            const int iw = q * g.v - g.pad_w + s * g.dil_w;
            if (iw >= 0 && iw < x.w) f(n, p, q, r, s, ih, iw);
          }
      }
}

int out_dim(int in, int pad, int k, int dil, int stride) { return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1; }

// The checks cuDNN makes on a convolution's operands, and the problem.
cudnnStatus_t make_problem(const cudnnTensorStruct* x, const cudnnFilterStruct* w, const cudnnConvolutionStruct* cd,
                           const cudnnTensorStruct* y, Problem* p) {
  if (!x || !w || !cd || !y || !x->l.set || !w->l.set || !y->l.set || !cd->g.set) return CUDNN_STATUS_BAD_PARAM;
  const Layout &xl = x->l, &wl = w->l, &yl = y->l;
  const Geometry& g = cd->g;
  if (xl.type != wl.type || xl.type != yl.type) return CUDNN_STATUS_BAD_PARAM;
  if (xl.c != wl.c * g.groups || wl.n % g.groups != 0) return CUDNN_STATUS_BAD_PARAM;
  const int oh = out_dim(xl.h, g.pad_h, wl.h, g.dil_h, g.u), ow = out_dim(xl.w, g.pad_w, wl.w, g.dil_w, g.v);
  // The dilated filter must fit in the padded input.
  if (xl.h + 2 * g.pad_h < g.dil_h * (wl.h - 1) + 1 || xl.w + 2 * g.pad_w < g.dil_w * (wl.w - 1) + 1)
    return CUDNN_STATUS_BAD_PARAM;
  if (yl.n != xl.n || yl.c != wl.n || yl.h != oh || yl.w != ow) return CUDNN_STATUS_BAD_PARAM;
  // Supported configurations: float types only, with a compute type that
  // cuDNN pairs with them (sums here are in float whatever it is).
  const cudnnDataType_t t = xl.type, ct = g.compute;
  const bool ok = (t == CUDNN_DATA_DOUBLE && ct == CUDNN_DATA_DOUBLE) ||
                  (t == CUDNN_DATA_FLOAT && ct == CUDNN_DATA_FLOAT) ||
                  (t == CUDNN_DATA_HALF && (ct == CUDNN_DATA_HALF || ct == CUDNN_DATA_FLOAT)) ||
                  (t == CUDNN_DATA_BFLOAT16 && ct == CUDNN_DATA_FLOAT);
  if (!ok) return CUDNN_STATUS_NOT_SUPPORTED;
  *p = Problem{xl, wl, yl, g};
  return CUDNN_STATUS_SUCCESS;
}

// alpha and beta point to double for double tensors, to float otherwise.
double scalar(cudnnDataType_t t, const void* s) {
  return t == CUDNN_DATA_DOUBLE ? *static_cast<const double*>(s) : *static_cast<const float*>(s);
}

// The algorithm queries: one deterministic result needing no workspace,
// under the descriptor's math type.
template <class Perf, class Algo>
cudnnStatus_t report(cudnnHandle_t h, const cudnnTensorStruct* x, const cudnnFilterStruct* w,
                     const cudnnConvolutionStruct* cd, const cudnnTensorStruct* y, int requested, int* returned,
                     Perf* perf) {
  Problem p;
  if (!h || !returned || !perf || requested < 1) return CUDNN_STATUS_BAD_PARAM;
  if (cudnnStatus_t s = make_problem(x, w, cd, y, &p)) return s;
  perf[0] = Perf{};
  perf[0].algo = static_cast<Algo>(0);
  perf[0].status = CUDNN_STATUS_SUCCESS;
  perf[0].time = 0.1f;
  perf[0].memory = 0;
  perf[0].determinism = CUDNN_DETERMINISTIC;
  perf[0].mathType = p.g.math;
  *returned = 1;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t workspace(cudnnHandle_t h, const cudnnTensorStruct* x, const cudnnFilterStruct* w,
                        const cudnnConvolutionStruct* cd, const cudnnTensorStruct* y, int algo, int count,
                        size_t* bytes) {
  Problem p;
  if (!h || !bytes || algo < 0 || algo >= count) return CUDNN_STATUS_BAD_PARAM;
  if (cudnnStatus_t s = make_problem(x, w, cd, y, &p)) return s;
  *bytes = 0;
  return CUDNN_STATUS_SUCCESS;
}

enum class Dir { Fwd, BwdData, BwdFilter };

// Checks a convolution call and enqueues it on the handle's stream. a and b
// are the two operands read, out the one written (y, dx or dw).
cudnnStatus_t run(Dir dir, cudnnHandle_t h, const void* alpha, const void* beta, const cudnnTensorStruct* x,
                  const cudnnFilterStruct* w, const cudnnConvolutionStruct* cd, const cudnnTensorStruct* y,
                  const void* a, const void* b, void* out, int algo, int count, const Epilogue* fused = nullptr) {
  Problem p;
  if (!h || !alpha || !beta || !a || !b || !out || algo < 0 || algo >= count) return CUDNN_STATUS_BAD_PARAM;
  if (cudnnStatus_t s = make_problem(x, w, cd, y, &p)) return s;
  const double al = scalar(p.x.type, alpha), be = scalar(p.x.type, beta);
  const bool with_epilogue = fused != nullptr;
  const Epilogue ep = fused ? *fused : Epilogue{};
  acnn::sim::enqueue(h->stream, [=] {
    const Layout &x = p.x, &w = p.w, &y = p.y;
    const int cg = w.c, kpg = w.n / p.g.groups, K = w.n, R = w.h, S = w.w;
    const bool flip = p.g.mode == CUDNN_CONVOLUTION;
    auto x_at = [&](int n, int ih, int iw) { return ((size_t(n) * x.h + ih) * x.w + iw) * x.c; };
    auto y_at = [&](int n, int oh, int ow) { return ((size_t(n) * y.h + oh) * y.w + ow) * K; };
    switch (dir) {
      case Dir::Fwd: {  // a = x, b = w, out = y: y[k] += x[c] * w[r][s][c][k] over a group's k
        const std::vector<float> xv = maps_nhwc(x, a), wv = filter_ordered(w, b, flip, true);
        std::vector<float> acc(y.size(), 0.f);
        for_each_tap(p, [&](int n, int oh, int ow, int r, int s, int ih, int iw) {
          float* yr = &acc[y_at(n, oh, ow)];
          const float* xr = &xv[x_at(n, ih, iw)];
          for (int c = 0; c < x.c; ++c) {
            const int k0 = (c / cg) * kpg;
            const float xc = xr[c];
            const float* wr = &wv[((size_t(r) * S + s) * cg + c % cg) * K + k0];
            for (int k = 0; k < kpg; ++k) yr[k0 + k] += xc * wr[k];
          }
        });
        if (with_epilogue) finish_fused(y, out, acc, al, ep);
        else finish(y, out, acc, al, be);
        break;
      }
      case Dir::BwdData: {  // a = w, b = dy, out = dx: dx[c] += dy[k] * w[k][r][s][c]
        const std::vector<float> wv = filter_ordered(w, a, flip, false), dy = maps_nhwc(y, b);
        std::vector<float> acc(x.size(), 0.f);
        for_each_tap(p, [&](int n, int oh, int ow, int r, int s, int ih, int iw) {
          float* dxr = &acc[x_at(n, ih, iw)];
          const float* dyr = &dy[y_at(n, oh, ow)];
          for (int k = 0; k < K; ++k) {
            const float d = dyr[k];
            float* dst = dxr + (k / kpg) * cg;
            const float* wr = &wv[((size_t(k) * R + r) * S + s) * cg];
            for (int c = 0; c < cg; ++c) dst[c] += d * wr[c];
          }
        });
        finish(x, out, acc, al, be);
        break;
      }
      case Dir::BwdFilter: {  // a = x, b = dy, out = dw: dw[k][r][s][c] += dy[k] * x[c]
        const std::vector<float> xv = maps_nhwc(x, a), dy = maps_nhwc(y, b);
        std::vector<float> acc(w.size(), 0.f);
        for_each_tap(p, [&](int n, int oh, int ow, int r, int s, int ih, int iw) {
          const float* xr = &xv[x_at(n, ih, iw)];
          const float* dyr = &dy[y_at(n, oh, ow)];
          for (int k = 0; k < K; ++k) {
            const float d = dyr[k];
            const float* src = xr + (k / kpg) * cg;
            float* dwr = &acc[((size_t(k) * R + r) * S + s) * cg];
            for (int c = 0; c < cg; ++c) dwr[c] += d * src[c];
          }
        });
        // acc is [k][r][s][c]: the true convolution's flip goes back on the way out.
        if (flip) {
          std::vector<float> unflipped(acc.size());
          for (int k = 0; k < K; ++k)
            for (int r = 0; r < R; ++r)
              for (int s = 0; s < S; ++s)
                for (int c = 0; c < cg; ++c)
                  unflipped[((size_t(k) * R + r) * S + s) * cg + c] =
                      acc[((size_t(k) * R + (R - 1 - r)) * S + (S - 1 - s)) * cg + c];
          acc.swap(unflipped);
        }
        finish(w, out, acc, al, be);
        break;
      }
    }
  });
  return CUDNN_STATUS_SUCCESS;
}

template <class T>
cudnnStatus_t create(T** out) {
  if (!out) return CUDNN_STATUS_BAD_PARAM;
  *out = new (std::nothrow) T();
  return *out ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_INTERNAL_ERROR;
}

// Destroying a null descriptor does nothing, as in cuDNN.
template <class T>
cudnnStatus_t destroy(T* d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

size_t cudnnGetVersion(void) { return 91400; }

const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
  }
  return "CUDNN_UNKNOWN_STATUS";
}

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) { return create(handle); }
cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  if (!handle) return CUDNN_STATUS_BAD_PARAM;
  delete handle;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId) {
  if (!handle) return CUDNN_STATUS_BAD_PARAM;
  handle->stream = streamId;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) { return create(d); }
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) { return destroy(d); }
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format,
                                         cudnnDataType_t dataType, int n, int c, int h, int w) {
  return d ? set_layout(&d->l, format, dataType, n, c, h, w) : CUDNN_STATUS_BAD_PARAM;
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) { return create(d); }
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) { return destroy(d); }
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t dataType,
                                         cudnnTensorFormat_t format, int k, int c, int h, int w) {
  return d ? set_layout(&d->l, format, dataType, k, c, h, w) : CUDNN_STATUS_BAD_PARAM;
}

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) { return create(d); }
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) { return destroy(d); }
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
                                              int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t computeType) {
  if (!d || pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dilation_h <= 0 || dilation_w <= 0 ||
      (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION) ||
      (!is_float_type(computeType) && computeType != CUDNN_DATA_INT32))
    return CUDNN_STATUS_BAD_PARAM;
  Geometry& g = d->g;  // group count and math type are kept
  g.set = true, g.pad_h = pad_h, g.pad_w = pad_w, g.u = u, g.v = v, g.dil_h = dilation_h, g.dil_w = dilation_w;
  g.mode = mode, g.compute = computeType;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int groupCount) {
  if (!d || groupCount < 1) return CUDNN_STATUS_BAD_PARAM;
  d->g.groups = groupCount;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t mathType) {
  if (!d || mathType < CUDNN_DEFAULT_MATH || mathType > CUDNN_FMA_MATH) return CUDNN_STATUS_BAD_PARAM;
  d->g.math = mathType;
  return CUDNN_STATUS_SUCCESS;
}

// The entry points below pass their descriptors to the helpers in the order
// x, w, conv, y, whatever the order of the cuDNN signature.

// Forward: y = alpha * conv(x, w) + beta * y.
cudnnStatus_t cudnnFindConvolutionForwardAlgorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                   cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t cd,
                                                   cudnnTensorDescriptor_t y, int requested, int* returned,
                                                   cudnnConvolutionFwdAlgoPerf_t* perf) {
  return report<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(h, x, w, cd, y, requested, returned, perf);
}
cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                     cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t cd,
                                                     cudnnTensorDescriptor_t y, int requested, int* returned,
                                                     cudnnConvolutionFwdAlgoPerf_t* perf) {
  return report<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(h, x, w, cd, y, requested, returned, perf);
}
cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                      cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t cd,
                                                      cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t algo,
                                                      size_t* bytes) {
  return workspace(h, x, w, cd, y, algo, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, bytes);
}
cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t xd, const void* x,
                                      cudnnFilterDescriptor_t wd, const void* w, cudnnConvolutionDescriptor_t cd,
                                      cudnnConvolutionFwdAlgo_t algo, void*, size_t, const void* beta,
                                      cudnnTensorDescriptor_t yd, void* y) {
  return run(Dir::Fwd, h, alpha, beta, xd, wd, cd, yd, x, w, y, algo, CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
}

cudnnStatus_t cudnnCreateActivationDescriptor(cudnnActivationDescriptor_t* d) { return create(d); }
cudnnStatus_t cudnnDestroyActivationDescriptor(cudnnActivationDescriptor_t d) { return destroy(d); }
cudnnStatus_t cudnnSetActivationDescriptor(cudnnActivationDescriptor_t d, cudnnActivationMode_t mode,
                                           cudnnNanPropagation_t nan, double) {
  if (!d || mode < CUDNN_ACTIVATION_SIGMOID || mode > CUDNN_ACTIVATION_SWISH ||
      (nan != CUDNN_NOT_PROPAGATE_NAN && nan != CUDNN_PROPAGATE_NAN))
    return CUDNN_STATUS_BAD_PARAM;
  d->set = true, d->mode = mode;
  return CUDNN_STATUS_SUCCESS;
}

// Fused forward: y = act(alpha1 * conv(x, w) + alpha2 * z + bias).
cudnnStatus_t cudnnConvolutionBiasActivationForward(cudnnHandle_t h, const void* alpha1, cudnnTensorDescriptor_t xd,
                                                    const void* x, cudnnFilterDescriptor_t wd, const void* w,
                                                    cudnnConvolutionDescriptor_t cd, cudnnConvolutionFwdAlgo_t algo,
                                                    void*, size_t, const void* alpha2, cudnnTensorDescriptor_t zd,
                                                    const void* z, cudnnTensorDescriptor_t bd, const void* bias,
                                                    cudnnActivationDescriptor_t ad, cudnnTensorDescriptor_t yd,
                                                    void* y) {
  if (!alpha2 || !zd || !z || !bd || !bias || !ad || !ad->set || !yd || !yd->l.set || !zd->l.set || !bd->l.set)
    return CUDNN_STATUS_BAD_PARAM;
  if (const char* e = std::getenv("ACNN_EMULATOR_NO_FUSED_CONV"); e && std::string(e) == "1")
    return CUDNN_STATUS_NOT_SUPPORTED;
  const Layout &yl = yd->l, &zl = zd->l, &bl = bd->l;
  if (zl.n != yl.n || zl.c != yl.c || zl.h != yl.h || zl.w != yl.w || zl.type != yl.type) return CUDNN_STATUS_BAD_PARAM;
  if (bl.n != 1 || bl.c != yl.c || bl.h != 1 || bl.w != 1) return CUDNN_STATUS_BAD_PARAM;
  if (bl.type != yl.type) return CUDNN_STATUS_NOT_SUPPORTED;
  if (ad->mode != CUDNN_ACTIVATION_RELU && ad->mode != CUDNN_ACTIVATION_IDENTITY) return CUDNN_STATUS_NOT_SUPPORTED;
  if (ad->mode == CUDNN_ACTIVATION_IDENTITY && algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)
    return CUDNN_STATUS_NOT_SUPPORTED;
  Epilogue ep;
  ep.z = zl, ep.bias = bl, ep.zp = z, ep.bp = bias, ep.relu = ad->mode == CUDNN_ACTIVATION_RELU;
  ep.alpha2 = scalar(yl.type, alpha2);
  const float zero = 0.f;
  const double dzero = 0.0;
  const void* beta = yl.type == CUDNN_DATA_DOUBLE ? static_cast<const void*>(&dzero) : &zero;
  // The one emulated algorithm stands for any the caller chose.
  return run(Dir::Fwd, h, alpha1, beta, xd, wd, cd, yd, x, w, y, 0, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &ep);
}

// Backward data: dx = alpha * conv_transpose(dy, w) + beta * dx.
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithm(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                        cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t cd,
                                                        cudnnTensorDescriptor_t dx, int requested, int* returned,
                                                        cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  return report<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(h, dx, w, cd, dy, requested,
                                                                                   returned, perf);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                          cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t cd,
                                                          cudnnTensorDescriptor_t dx, int requested, int* returned,
                                                          cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  return report<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(h, dx, w, cd, dy, requested,
                                                                                   returned, perf);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                           cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t cd,
                                                           cudnnTensorDescriptor_t dx,
                                                           cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
  return workspace(h, dx, w, cd, dy, algo, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, bytes);
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void* alpha, cudnnFilterDescriptor_t wd,
                                           const void* w, cudnnTensorDescriptor_t dyd, const void* dy,
                                           cudnnConvolutionDescriptor_t cd, cudnnConvolutionBwdDataAlgo_t algo, void*,
                                           size_t, const void* beta, cudnnTensorDescriptor_t dxd, void* dx) {
  return run(Dir::BwdData, h, alpha, beta, dxd, wd, cd, dyd, w, dy, dx, algo, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
}

// Backward filter: dw = alpha * correlation(x, dy) + beta * dw.
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                          cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t cd,
                                                          cudnnFilterDescriptor_t dw, int requested, int* returned,
                                                          cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  return report<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(h, x, dw, cd, dy, requested,
                                                                                       returned, perf);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                            cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t cd,
                                                            cudnnFilterDescriptor_t dw, int requested, int* returned,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  return report<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(h, x, dw, cd, dy, requested,
                                                                                       returned, perf);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                             cudnnTensorDescriptor_t dy,
                                                             cudnnConvolutionDescriptor_t cd,
                                                             cudnnFilterDescriptor_t dw,
                                                             cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
  return workspace(h, x, dw, cd, dy, algo, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, bytes);
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t xd,
                                             const void* x, cudnnTensorDescriptor_t dyd, const void* dy,
                                             cudnnConvolutionDescriptor_t cd, cudnnConvolutionBwdFilterAlgo_t algo,
                                             void*, size_t, const void* beta, cudnnFilterDescriptor_t dwd, void* dw) {
  return run(Dir::BwdFilter, h, alpha, beta, xd, dwd, cd, dyd, x, dy, dw, algo,
             CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
}

}  // extern "C"
