// The softmax family, cross entropy, pooling, a convolution's epilogue, the
// fp16 loss-scaling steps and the multi-tensor cast of
// backends/cuda/kernels.cu on simulated threads against double-precision
// loops over the same stored inputs.
#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cuda/device_abi.h"
#include "tests/sim/check.h"

using namespace acnn::sim;
using namespace acnn::sim::check;

namespace {

struct Lines {
  int64_t outer, K, inner;
};

// Softmax (or log-softmax) of the line (o, i) in double.
std::vector<double> softmax_line(const Guarded<float>& x, const Lines& s, int64_t o, int64_t i, bool log) {
  double m = -INFINITY, z = 0;
  for (int64_t k = 0; k < s.K; ++k) m = std::max<double>(m, x.at((o * s.K + k) * s.inner + i));
  for (int64_t k = 0; k < s.K; ++k) z += std::exp(x.at((o * s.K + k) * s.inner + i) - m);
  std::vector<double> y(s.K);
  for (int64_t k = 0; k < s.K; ++k) {
    const double l = x.at((o * s.K + k) * s.inner + i) - m - std::log(z);
    y[k] = log ? l : std::exp(l);
  }
  return y;
}

}  // namespace

TEST_CASE("kernels on the host: softmax and its backward along rows and strided lines", "[sim]") {
  for (Lines s : {Lines{13, 10, 1}, Lines{3, 1000, 1}, Lines{9, 1, 1}, Lines{2, 5, 7}})
    for (bool log : {false, true}) {
      const int64_t n = s.outer * s.K * s.inner;
      Guarded<float> x(n), y(n), dy(n), dx(n);
      for (int64_t i = 0; i < n; ++i) x.set(i, 3.f * normal()), dy.set(i, normal());
      kn::softmax(log, x.data(), y.data(), s.outer, s.K, s.inner, nullptr);
      std::vector<double> want(n), want_dx(n);
      for (int64_t o = 0; o < s.outer; ++o)
        for (int64_t i = 0; i < s.inner; ++i) {
          const std::vector<double> line = softmax_line(x, s, o, i, log);
          double dot = 0;
          for (int64_t k = 0; k < s.K; ++k) {
            const int64_t at = (o * s.K + k) * s.inner + i;
            want[at] = line[k];
            dot += log ? dy.at(at) : dy.at(at) * line[k];
          }
          for (int64_t k = 0; k < s.K; ++k) {
            const int64_t at = (o * s.K + k) * s.inner + i;
            want_dx[at] = log ? dy.at(at) - std::exp(line[k]) * dot : line[k] * (dy.at(at) - dot);
          }
        }
      std::ostringstream at;
      at << (log ? "log_softmax" : "softmax") << " [" << s.outer << "," << s.K << "," << s.inner << "]";
      expect_close(at.str(), n, [&](size_t i) { return y.at(i); }, [&](size_t i) { return want[i]; }, 1e-5, 1e-6);
      kn::softmax_backward(log, dy.data(), y.data(), dx.data(), s.outer, s.K, s.inner, nullptr);
      expect_close(at.str() + " backward", n, [&](size_t i) { return dx.at(i); }, [&](size_t i) { return want_dx[i]; },
                   1e-4, 1e-5);
    }
}

TEST_CASE("kernels on the host: softmax cross entropy with soft targets and its backward", "[sim]") {
  for (auto [N, K] : {std::pair<int64_t, int64_t>{13, 10}, {5, 1000}, {9, 33}}) {
    Guarded<float> x(N * K), t(N * K), loss(N), dloss(N), dx(N * K);
    for (int64_t r = 0; r < N; ++r) {
      dloss.set(r, 1.f / static_cast<float>(N) + 0.01f * r);
      for (int64_t k = 0; k < K; ++k) {
        x.set(r * K + k, 2.f * normal());
        // Label smoothing on even rows, a hard label (zeros elsewhere) on odd ones.
        const bool hot = k == (r * 7) % K;
        t.set(r * K + k, r % 2 == 0 ? (hot ? 0.9f : 0.f) + 0.1f / static_cast<float>(K) : (hot ? 1.f : 0.f));
      }
    }
    kn::softmax_xent(x.data(), t.data(), loss.data(), N, K, nullptr);
    kn::softmax_xent_backward(dloss.data(), x.data(), t.data(), dx.data(), N, K, nullptr);
    std::vector<double> want(N, 0), want_dx(N * K);
    for (int64_t r = 0; r < N; ++r) {
      const std::vector<double> lp = softmax_line(x, Lines{N, K, 1}, r, 0, true);
      for (int64_t k = 0; k < K; ++k) {
        want[r] -= t.at(r * K + k) * lp[k];
        want_dx[r * K + k] = dloss.at(r) * (std::exp(lp[k]) - t.at(r * K + k));
      }
    }
    std::ostringstream at;
    at << "cross entropy [" << N << "," << K << "]";
    expect_close(at.str(), N, [&](size_t i) { return loss.at(i); }, [&](size_t i) { return want[i]; }, 1e-5, 1e-5);
    expect_close(at.str() + " backward", N * K, [&](size_t i) { return dx.at(i); },
                 [&](size_t i) { return want_dx[i]; }, 1e-4, 1e-6);
  }
}

namespace {

struct PoolCase {
  int64_t N, C, H, W, k, s, p;
};

// Offset of (n, c, h, w) in an [N, C, H, W] tensor stored NHWC or NCHW.
int64_t offset(const kn::PoolGeom& g, bool out, int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t H = out ? g.OH : g.H, W = out ? g.OW : g.W;
  return g.nhwc ? ((n * H + h) * W + w) * g.C + c : ((n * g.C + c) * H + h) * W + w;
}

// Calls f(o, window positions inside the input as (offset, window index)) per output.
template <class F>
void each_window(const kn::PoolGeom& g, F f) {
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          std::vector<std::pair<int64_t, int>> in;
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t h = oh * g.sh - g.pt + i, w = ow * g.sw - g.pl + j;
              if (h >= 0 && h < g.H && w >= 0 && w < g.W) in.push_back({offset(g, false, n, c, h, w), static_cast<int>(i * g.kw + j)});
            }
          f(offset(g, true, n, c, oh, ow), in);
        }
}

template <class T>
void check_pooling(const PoolCase& pc, bool nhwc, bool include_pad) {
  const int64_t OH = (pc.H + 2 * pc.p - pc.k) / pc.s + 1, OW = (pc.W + 2 * pc.p - pc.k) / pc.s + 1;
  const kn::PoolGeom g{pc.N, pc.C, pc.H, pc.W, OH, OW, pc.k, pc.k, pc.s, pc.s, pc.p, pc.p, nhwc, include_pad};
  const int64_t n_in = pc.N * pc.C * pc.H * pc.W, n_out = pc.N * pc.C * OH * OW;
  Guarded<T> x(n_in), y(n_out), dy(n_out), dx(n_in), dx2(n_in);
  Guarded<int8_t> argmax(n_out);
  for (int64_t i = 0; i < n_in; ++i) x.set(i, std::round(normal()));  // ties: the first maximum wins
  for (int64_t i = 0; i < n_out; ++i) dy.set(i, normal());
  std::ostringstream at;
  at << " " << acnn::dtype_name(dtype_of<T>()) << " " << (nhwc ? "NHWC" : "NCHW") << " [" << pc.N << "," << pc.C << ","
     << pc.H << "," << pc.W << "] k" << pc.k << " s" << pc.s << " p" << pc.p;

  std::vector<double> want(n_out), want_dx(n_in, 0.0);
  std::vector<int> want_arg(n_out);
  each_window(g, [&](int64_t o, const std::vector<std::pair<int64_t, int>>& in) {
    size_t best = 0;
    for (size_t i = 1; i < in.size(); ++i)
      if (x.at(in[i].first) > x.at(in[best].first)) best = i;
    want[o] = x.at(in[best].first);
    want_arg[o] = in[best].second;
    want_dx[in[best].first] += dy.at(o);
  });
  auto dx_want = [&](size_t i) { return static_cast<double>(to_float(to_storage<T>(static_cast<float>(want_dx[i])))); };
  kn::max_pool(dtype_of<T>(), x.data(), y.data(), argmax.data(), g, nullptr);
  expect_close("max_pool" + at.str(), n_out, [&](size_t i) { return y.at(i); }, [&](size_t i) { return want[i]; }, 0, 0);
  expect_close("max_pool argmax" + at.str(), n_out, [&](size_t i) { return static_cast<int>(argmax.data()[i]); },
               [&](size_t i) { return want_arg[i]; }, 0, 0);
  kn::max_pool_backward(dtype_of<T>(), dy.data(), x.data(), argmax.data(), dx.data(), g, nullptr);
  kn::max_pool_backward(dtype_of<T>(), dy.data(), x.data(), nullptr, dx2.data(), g, nullptr);
  expect_close("max_pool_backward" + at.str(), n_in, [&](size_t i) { return dx.at(i); }, dx_want, 1e-2, 1e-6);
  expect_close("max_pool_backward without argmax" + at.str(), n_in, [&](size_t i) { return dx2.at(i); },
               [&](size_t i) { return dx.at(i); }, 0, 0);

  std::fill(want_dx.begin(), want_dx.end(), 0.0);
  each_window(g, [&](int64_t o, const std::vector<std::pair<int64_t, int>>& in) {
    const double count = include_pad ? static_cast<double>(pc.k * pc.k) : static_cast<double>(in.size());
    double s = 0;
    for (auto [i, _] : in) s += x.at(i), want_dx[i] += dy.at(o) / count;
    want[o] = s / count;
  });
  kn::avg_pool(dtype_of<T>(), x.data(), y.data(), g, nullptr);
  kn::avg_pool_backward(dtype_of<T>(), dy.data(), dx.data(), g, nullptr);
  const double rtol = dtype_of<T>() == DType::F32 ? 1e-5 : 1e-2;
  at << (include_pad ? " counting padding" : "");
  expect_close("avg_pool" + at.str(), n_out, [&](size_t i) { return y.at(i); }, [&](size_t i) { return want[i]; }, rtol,
               1e-6);
  expect_close("avg_pool_backward" + at.str(), n_in, [&](size_t i) { return dx.at(i); }, [&](size_t i) { return want_dx[i]; },
               rtol, 1e-6);
}

}  // namespace

TEST_CASE("kernels on the host: max and average pooling with padding, ties and both layouts", "[sim]") {
  const std::vector<PoolCase> cases{{2, 3, 7, 7, 3, 2, 1}, {1, 5, 6, 5, 2, 2, 0}, {2, 4, 4, 4, 3, 1, 1}, {1, 6, 5, 5, 5, 1, 0}};
  for (const PoolCase& pc : cases)
    for (bool nhwc : {true, false})
      for (bool include_pad : {false, true}) {
        check_pooling<float>(pc, nhwc, include_pad);
        check_pooling<__nv_bfloat16>(pc, nhwc, include_pad);
      }
}

TEST_CASE("kernels on the host: fp16 loss scaling finds non-finite gradients and adapts the scale", "[sim]") {
  using acnn::cuda::AcnnChunk;
  using acnn::cuda::AcnnItem;
  using acnn::cuda::AcnnStatus;
  Guarded<float> a(10000);
  Guarded<__half> b(20000);
  for (size_t i = 0; i < a.size(); ++i) a.set(i, normal());
  for (size_t i = 0; i < b.size(); ++i) b.set(i, normal());
  std::vector<AcnnItem> items(2);
  items[0].ptr[0] = a.data(), items[0].n = a.size(), items[0].pad = 0;
  items[1].ptr[0] = b.data(), items[1].n = b.size(), items[1].pad = 1;
  std::vector<AcnnChunk> chunks;
  for (unsigned int it = 0; it < 2; ++it)
    for (unsigned long long begin = 0; begin < items[it].n; begin += kn::kCheckChunk) chunks.push_back({it, 0, begin});
  AcnnStatus st{};
  st.loss_scale = acnn::cuda::kInitialLossScale;
  auto check = [&] {
    kn::clear_overflow(&st, nullptr);
    kn::nonfinite_check(items.data(), chunks.data(), static_cast<int64_t>(chunks.size()), &st, nullptr);
    return st.overflow;
  };
  CHECK(check() == 0);
  b.set(17000, INFINITY);  // the third chunk of the second tensor
  CHECK(check() == 1);
  b.set(17000, 0.f);
  a.set(9999, NAN);  // the last element of the first
  CHECK(check() == 1);

  // A state update is copied only from a step without overflow.
  std::vector<unsigned char> src(1000, 7), dst(1000, 0);
  kn::copy_unless_overflow(dst.data(), src.data(), dst.size(), &st, nullptr);
  CHECK(dst[999] == 0);
  kn::clear_overflow(&st, nullptr);
  kn::copy_unless_overflow(dst.data(), src.data(), dst.size(), &st, nullptr);
  CHECK((dst[0] == 7 && dst[999] == 7));

  // Overflow halves the scale and restarts the count; a run of good steps doubles it.
  st.overflow = 1, st.good_steps = 5;
  kn::loss_scale_update(&st, nullptr);
  CHECK(st.loss_scale == acnn::cuda::kInitialLossScale / 2);
  CHECK(st.good_steps == 0);
  CHECK(st.skipped_steps == 1);
  st.overflow = 0;
  for (int i = 0; i < acnn::cuda::kLossScaleGrowthInterval; ++i) kn::loss_scale_update(&st, nullptr);
  CHECK(st.loss_scale == acnn::cuda::kInitialLossScale);
  CHECK(st.good_steps == 0);
}

TEST_CASE("kernels on the host: one launch casts a list of tensors, each to its own element type", "[sim]") {
  using acnn::cuda::AcnnChunk;
  using acnn::cuda::AcnnItem;
  Guarded<float> w1(9000), w2(3);
  Guarded<__nv_bfloat16> b1(9000), h2f(3);
  Guarded<__half> h2(3);
  Guarded<float> f2(3);
  for (size_t i = 0; i < w1.size(); ++i) w1.set(i, normal());
  for (size_t i = 0; i < w2.size(); ++i) w2.set(i, normal()), h2f.set(i, normal());
  // Codes: 0 f32, 1 f16, 2 bf16; pad = from + 4 * to.
  std::vector<AcnnItem> items(3);
  items[0].ptr[0] = w1.data(), items[0].ptr[1] = b1.data(), items[0].n = w1.size(), items[0].pad = 0 + 4 * 2;
  items[1].ptr[0] = w2.data(), items[1].ptr[1] = h2.data(), items[1].n = w2.size(), items[1].pad = 0 + 4 * 1;
  items[2].ptr[0] = h2f.data(), items[2].ptr[1] = f2.data(), items[2].n = h2f.size(), items[2].pad = 2 + 4 * 0;
  std::vector<AcnnChunk> chunks;
  for (unsigned int it = 0; it < items.size(); ++it)
    for (unsigned long long begin = 0; begin < items[it].n; begin += kn::kCastChunk) chunks.push_back({it, 0, begin});
  REQUIRE(chunks.size() == 4);  // the first tensor spans two chunks
  kn::cast_group(items.data(), chunks.data(), static_cast<int64_t>(chunks.size()), nullptr);
  for (size_t i = 0; i < w1.size(); ++i)
    if (b1.at(i) != __bfloat162float(__float2bfloat16_rn(w1.at(i)))) FAIL("bf16 copy " << i << ": " << b1.at(i) << " for " << w1.at(i));
  for (size_t i = 0; i < w2.size(); ++i) {
    CHECK(h2.at(i) == __half2float(__float2half_rn(w2.at(i))));
    CHECK(f2.at(i) == h2f.at(i));
  }
}

TEST_CASE("kernels on the host: a convolution's epilogue in both layouts, and bias sums", "[sim]") {
  // y = relu(y + bias[c] (+ z)) with c the channel of NHWC (inner 1) or NCHW
  // (inner H*W) storage; the fallback when cuDNN does not fuse it.
  each_storage_type([&]<class T>() {
    const int64_t N = 2, C = 5, HW = 12, n = N * C * HW;
    for (int64_t inner : {int64_t{1}, HW})
      for (bool with_z : {false, true}) {
        Guarded<T> y(n), z(n);
        Guarded<float> bias(C);
        for (int64_t i = 0; i < n; ++i) y.set(i, normal()), z.set(i, normal());
        for (int64_t c = 0; c < C; ++c) bias.set(c, 0.5f * normal());
        std::vector<double> want(n);
        for (int64_t i = 0; i < n; ++i) {
          const double v = y.at(i) + bias.at((i / inner) % C) + (with_z ? z.at(i) : 0.0);
          want[i] = v > 0 ? v : 0;
        }
        kn::conv_epilogue(dtype_of<T>(), y.data(), bias.data(), with_z ? z.data() : nullptr, n, C, inner, nullptr);
        std::ostringstream at;
        at << " inner=" << inner << (with_z ? " z" : "");
        expect_close(label<T>("epilogue") + at.str(), n, [&](size_t i) { return y.at(i); },
                     [&](size_t i) { return want[i]; }, std::is_same_v<T, float> ? 1e-6 : 1e-2, 1e-6);
      }
    Guarded<float> a(7), b(7);
    Guarded<T> sum(7), one(7);
    for (int64_t i = 0; i < 7; ++i) a.set(i, normal()), b.set(i, normal());
    kn::bias_sum(dtype_of<T>(), a.data(), b.data(), sum.data(), 7, nullptr);
    kn::bias_sum(dtype_of<T>(), a.data(), nullptr, one.data(), 7, nullptr);
    expect_close(label<T>("bias sum"), 7, [&](size_t i) { return sum.at(i); },
                 [&](size_t i) { return static_cast<double>(a.at(i)) + b.at(i); }, std::is_same_v<T, float> ? 1e-6 : 1e-2, 1e-6);
    expect_close(label<T>("bias"), 7, [&](size_t i) { return one.at(i); }, [&](size_t i) { return a.at(i); },
                 std::is_same_v<T, float> ? 0 : 1e-2, 0);
  });
}
