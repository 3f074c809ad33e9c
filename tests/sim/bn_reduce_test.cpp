// The batch-norm sums and reductions of backends/cuda/kernels.cu on
// simulated threads against double-precision loops over the same stored
// inputs, for each storage type and shapes that take every branch of the
// launchers (vector widths, lane counts, row splits, partial warps).
#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "tests/sim/check.h"

using namespace acnn::sim;
using namespace acnn::sim::check;

TEST_CASE("kernels on the host: batch-norm statistics for every storage type, channel count and row split", "[sim]") {
  each_storage_type([&]<class T>() {
    for (int64_t C : {1, 3, 8, 24, 64, 72, 2048})
      for (int64_t M : {1, 7, 333})
        for (int sms : {1, 132}) {
          Guarded<T> x(M * C);
          for (int64_t i = 0; i < M * C; ++i) x.set(i, 40.f + static_cast<float>(i % C % 5) + 3.f * normal());
          Guarded<float> mean(C), var(C), gamma(C), scale(C), rstd(C);
          for (int64_t c = 0; c < C; ++c) gamma.set(c, c % 2 ? 0.5f + 0.01f * c : -1.25f);
          Guarded<unsigned char> ws(kn::bn_workspace(M, C, sms));
          kn::BnFactors f;
          f.gamma = gamma.data(), f.eps = 1e-5f, f.scale = scale.data(), f.rstd = rstd.data();
          kn::bn_stats(dtype_of<T>(), x.data(), M, C, mean.data(), var.data(), f, ws.data(), sms, nullptr);
          std::vector<double> m(C, 0.0), v(C, 0.0);
          for (int64_t i = 0; i < M * C; ++i) m[i % C] += x.at(i) / M;
          for (int64_t i = 0; i < M * C; ++i) v[i % C] += (x.at(i) - m[i % C]) * (x.at(i) - m[i % C]) / M;
          std::ostringstream at;
          at << " M=" << M << " C=" << C << " sms=" << sms;
          expect_close(label<T>("mean") + at.str(), C, [&](size_t c) { return mean.at(c); }, [&](size_t c) { return m[c]; },
                       1e-6, 1e-6);
          expect_close(label<T>("variance") + at.str(), C, [&](size_t c) { return var.at(c); },
                       [&](size_t c) { return v[c]; }, 1e-4, 1e-5);
          // The factors from the variance as stored, in float as a generated kernel computes them.
          expect_close(label<T>("scale") + at.str(), C, [&](size_t c) { return scale.at(c); },
                       [&](size_t c) { return gamma.at(c) / std::sqrt(1.0f * var.at(c) + 1e-5f); }, 0, 0);
          expect_close(label<T>("rstd") + at.str(), C, [&](size_t c) { return rstd.at(c); },
                       [&](size_t c) { return 1.0f / std::sqrt(1.0f * var.at(c) + 1e-5f); }, 0, 0);
        }
  });
}

TEST_CASE("kernels on the host: batch-norm backward sums, plain and behind the forward's ReLU", "[sim]") {
  each_storage_type([&]<class T>() {
    for (bool relu : {false, true})
      for (int64_t C : {3, 16, 64, 520})
        for (int64_t M : {5, 200}) {
          Guarded<T> x(M * C), dy(M * C);
          for (int64_t i = 0; i < M * C; ++i) x.set(i, 1.f + normal()), dy.set(i, 0.1f * normal());
          Guarded<float> mean(C), var(C), gamma(C), beta(C), dgamma(C), dbeta(C);
          for (int64_t c = 0; c < C; ++c) {
            mean.set(c, 1.f + 0.1f * normal()), var.set(c, 0.5f + 0.01f * c);
            gamma.set(c, c % 3 == 0 ? -0.8f : 1.2f), beta.set(c, 0.3f * normal());
          }
          Guarded<unsigned char> ws(kn::bn_workspace(M, C, 132));
          const float eps = 1e-5f;
          const float* rg = relu ? gamma.data() : nullptr;
          const float* rb = relu ? beta.data() : nullptr;
          kn::bn_backward_sums(dtype_of<T>(), dy.data(), x.data(), M, C, mean.data(), var.data(), eps, rg, rb,
                               dgamma.data(), dbeta.data(), ws.data(), 132, nullptr);
          // The mask in float, as the kernel computes it (some elements pass,
          // some do not).
          auto passes = [&](int64_t i) {
            const int64_t c = i % C;
            const float d = x.at(i) - mean.at(c);
            return !relu || d * (gamma.at(c) / std::sqrt(var.at(c) + eps)) + beta.at(c) > 0.f;
          };
          std::vector<double> sg(C, 0), sb(C, 0), scale(C, 0);
          int64_t passed = 0;
          for (int64_t i = 0; i < M * C; ++i) {
            const int64_t c = i % C;
            const double g = passes(i) ? dy.at(i) : 0.0;
            passed += passes(i);
            sb[c] += g;
            sg[c] += g * (x.at(i) - mean.at(c));
            scale[c] += std::abs(dy.at(i) * (x.at(i) - mean.at(c))) + std::abs(dy.at(i));
          }
          if (relu) CHECK((passed > 0 && passed < M * C));
          std::ostringstream at;
          at << " M=" << M << " C=" << C << (relu ? " relu" : "");
          expect_close(label<T>("dbeta") + at.str(), C, [&](size_t c) { return dbeta.at(c); },
                       [&](size_t c) { return sb[c]; }, 0, 1e-5);
          expect_close(label<T>("dgamma") + at.str(), C, [&](size_t c) { return dgamma.at(c) / (scale[c] + 1e-3); },
                       [&](size_t c) { return sg[c] / std::sqrt(var.at(c) + eps) / (scale[c] + 1e-3); }, 0, 1e-5);
          // Either output may be absent (a batch norm without scale or shift).
          Guarded<float> only(C);
          kn::bn_backward_sums(dtype_of<T>(), dy.data(), x.data(), M, C, mean.data(), var.data(), eps, rg, rb, nullptr,
                               only.data(), ws.data(), 132, nullptr);
          expect_close(label<T>("dbeta alone") + at.str(), C, [&](size_t c) { return only.at(c); },
                       [&](size_t c) { return dbeta.at(c); }, 0, 0);
        }
  });
}

namespace {

// v as a tensor of T stores it (round to nearest even), back in float.
template <class T>
float stored(float v) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(__float2half_rn(v));
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __bfloat162float(__float2bfloat16_rn(v));
  else return v;
}

}  // namespace

TEST_CASE("kernels on the host: batch-norm backward sums that first make a residual block's output gradient", "[sim]") {
  each_storage_type([&]<class T>() {
    for (int64_t C : {3, 16, 64, 520})
      for (int64_t M : {5, 200}) {
        Guarded<T> a(M * C), b(M * C), m(M * C), x(M * C), g(M * C);
        for (int64_t i = 0; i < M * C; ++i)
          a.set(i, 0.1f * normal()), b.set(i, 0.1f * normal()), m.set(i, normal()), x.set(i, 1.f + normal());
        Guarded<float> mean(C), var(C), dgamma(C), dbeta(C);
        for (int64_t c = 0; c < C; ++c) mean.set(c, 1.f + 0.1f * normal()), var.set(c, 0.5f + 0.01f * c);
        Guarded<unsigned char> ws(kn::bn_workspace(M, C, 132));
        const float eps = 1e-5f;
        kn::bn_backward_sums_add_relu(dtype_of<T>(), a.data(), b.data(), m.data(), g.data(), x.data(), M, C, mean.data(),
                                      var.data(), eps, dgamma.data(), dbeta.data(), ws.data(), 132, nullptr);
        // g as the generated relu_backward(add(a, b), m) stores it, and the sums over it as stored.
        std::vector<double> sg(C, 0), sb(C, 0), scale(C, 0);
        int64_t wrong = 0;
        for (int64_t i = 0; i < M * C; ++i) {
          const int64_t c = i % C;
          wrong += g.at(i) != stored<T>(m.at(i) > 0.f ? static_cast<float>(a.at(i)) + static_cast<float>(b.at(i)) : 0.f);
          sb[c] += g.at(i);
          sg[c] += g.at(i) * (x.at(i) - mean.at(c));
          scale[c] += std::abs(g.at(i) * (x.at(i) - mean.at(c))) + std::abs(g.at(i));
        }
        std::ostringstream at;
        at << " M=" << M << " C=" << C;
        INFO(label<T>("g") << at.str());
        CHECK(wrong == 0);
        expect_close(label<T>("dbeta") + at.str(), C, [&](size_t c) { return dbeta.at(c); },
                     [&](size_t c) { return sb[c]; }, 0, 1e-5);
        expect_close(label<T>("dgamma") + at.str(), C, [&](size_t c) { return dgamma.at(c) / (scale[c] + 1e-3); },
                     [&](size_t c) { return sg[c] / std::sqrt(var.at(c) + eps) / (scale[c] + 1e-3); }, 0, 1e-5);
      }
  });
}

TEST_CASE("kernels on the host: sum, mean and max over the middle axis of [outer, R, inner]", "[sim]") {
  struct Shape3 {
    int64_t outer, R, inner;
  };
  const std::vector<Shape3> shapes{{1, 1000, 1}, {3, 5, 1}, {4, 300, 1}, {2, 300, 7}, {5, 3, 40}, {1, 4096, 33}};
  const std::vector<std::pair<kn::Reduce, const char*>> kinds{
      {kn::Reduce::Sum, "sum"}, {kn::Reduce::Mean, "mean"}, {kn::Reduce::Max, "max"}};
  each_storage_type([&]<class T>() {
    for (const Shape3& s : shapes)
      for (auto [kind, name] : kinds) {
        const int64_t n = s.outer * s.R * s.inner, n_out = s.outer * s.inner;
        Guarded<T> x(n);
        for (int64_t i = 0; i < n; ++i) x.set(i, normal() - 0.5f);
        Guarded<float> y(n_out);
        Guarded<unsigned char> ws(kn::reduce3_workspace(s.outer, s.R, s.inner, 132));
        kn::reduce3(kind, dtype_of<T>(), x.data(), y.data(), s.outer, s.R, s.inner, ws.data(), 132, nullptr);
        std::vector<double> want(n_out, kind == kn::Reduce::Max ? -INFINITY : 0.0);
        for (int64_t o = 0; o < s.outer; ++o)
          for (int64_t r = 0; r < s.R; ++r)
            for (int64_t i = 0; i < s.inner; ++i) {
              double& w = want[o * s.inner + i];
              const double v = x.at((o * s.R + r) * s.inner + i);
              w = kind == kn::Reduce::Max ? std::max(w, v) : w + v;
            }
        if (kind == kn::Reduce::Mean)
          for (double& w : want) w /= static_cast<double>(s.R);
        std::ostringstream at;
        at << " " << name << " [" << s.outer << "," << s.R << "," << s.inner << "]";
        expect_close(label<T>("reduce3") + at.str(), n_out, [&](size_t i) { return y.at(i); },
                     [&](size_t i) { return want[i]; }, 1e-5, 1e-4);
      }
  });
}

TEST_CASE("kernels on the host: strided reductions keep any axes", "[sim]") {
  // x[2,3,4,5]: keep axes 0 and 2, reduce 1 and 3; then reduce everything.
  Guarded<__nv_bfloat16> x(120);
  for (int i = 0; i < 120; ++i) x.set(i, normal());
  kn::StridedReduce d;
  d.nk = 2, d.ksize[0] = 2, d.kstride[0] = 60, d.ksize[1] = 4, d.kstride[1] = 5;
  d.nr = 2, d.rsize[0] = 3, d.rstride[0] = 20, d.rsize[1] = 5, d.rstride[1] = 1;
  for (kn::Reduce kind : {kn::Reduce::Sum, kn::Reduce::Mean, kn::Reduce::Max}) {
    Guarded<float> y(8);
    kn::reduce_strided(kind, DType::BF16, x.data(), y.data(), d, nullptr);
    for (int a = 0; a < 2; ++a)
      for (int c = 0; c < 4; ++c) {
        double s = 0, mx = -INFINITY;
        for (int b = 0; b < 3; ++b)
          for (int e = 0; e < 5; ++e) {
            const double v = x.at(a * 60 + b * 20 + c * 5 + e);
            s += v, mx = std::max(mx, v);
          }
        const double want = kind == kn::Reduce::Max ? mx : kind == kn::Reduce::Mean ? s / 15 : s;
        INFO("kind " << static_cast<int>(kind) << " at (" << a << ", " << c << ")");
        CHECK(std::abs(y.at(a * 4 + c) - want) < 1e-5);
      }
  }
  kn::StridedReduce all;
  all.nr = 1, all.rsize[0] = 120, all.rstride[0] = 1;
  Guarded<float> total(1);
  kn::reduce_strided(kn::Reduce::Sum, DType::BF16, x.data(), total.data(), all, nullptr);
  double s = 0;
  for (int i = 0; i < 120; ++i) s += x.at(i);
  CHECK(std::abs(total.at(0) - s) < 1e-4);
}
