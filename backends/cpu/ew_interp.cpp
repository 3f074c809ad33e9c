#include "backends/cpu/ew_interp.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace acnn::cpu::ew {

namespace {

constexpr int64_t kBlock = 1024;

inline float relu(float v) { return v > 0 ? v : 0.f; }

// Evaluates n <= kBlock points whose buffer offsets start at off[b] and advance
// by step[b] per point.
void run_block(const Program& p, float* const* bufs, const int64_t* off, const int64_t* step, int64_t n, float* regs) {
  for (size_t i = 0; i < p.code.size(); ++i) {
    const Instr& in = p.code[i];
    float* r = regs + i * kBlock;
    const float* a = in.a >= 0 ? regs + in.a * kBlock : nullptr;
    const float* b = in.b >= 0 ? regs + in.b * kBlock : nullptr;
    switch (in.op) {
      case Op::Load: {
        const float* src = bufs[in.buf] + off[in.buf];
        const int64_t s = step[in.buf];
        if (s == 1) std::copy(src, src + n, r);
        else if (s == 0) std::fill(r, r + n, src[0]);
        else for (int64_t j = 0; j < n; ++j) r[j] = src[j * s];
        break;
      }
      case Op::Const: std::fill(r, r + n, in.c0); break;
      case Op::Neg: for (int64_t j = 0; j < n; ++j) r[j] = -a[j]; break;
      case Op::Relu: for (int64_t j = 0; j < n; ++j) r[j] = relu(a[j]); break;
      case Op::Sigmoid: for (int64_t j = 0; j < n; ++j) r[j] = 1.f / (1.f + std::exp(-a[j])); break;
      case Op::Tanh: for (int64_t j = 0; j < n; ++j) r[j] = std::tanh(a[j]); break;
      case Op::Exp: for (int64_t j = 0; j < n; ++j) r[j] = std::exp(a[j]); break;
      case Op::Log: for (int64_t j = 0; j < n; ++j) r[j] = std::log(a[j]); break;
      case Op::Sqrt: for (int64_t j = 0; j < n; ++j) r[j] = std::sqrt(a[j]); break;
      case Op::Square: for (int64_t j = 0; j < n; ++j) r[j] = a[j] * a[j]; break;
      case Op::Abs: for (int64_t j = 0; j < n; ++j) r[j] = std::fabs(a[j]); break;
      case Op::Affine: {
        const float c0 = in.c0, c1 = in.c1;
        for (int64_t j = 0; j < n; ++j) r[j] = c0 * a[j] + c1;
        break;
      }
      case Op::ReluBwd: for (int64_t j = 0; j < n; ++j) r[j] = b[j] > 0 ? a[j] : 0.f; break;
      case Op::SigmoidBwd: for (int64_t j = 0; j < n; ++j) r[j] = a[j] * b[j] * (1.f - b[j]); break;
      case Op::TanhBwd: for (int64_t j = 0; j < n; ++j) r[j] = a[j] * (1.f - b[j] * b[j]); break;
      case Op::Add: for (int64_t j = 0; j < n; ++j) r[j] = a[j] + b[j]; break;
      case Op::Sub: for (int64_t j = 0; j < n; ++j) r[j] = a[j] - b[j]; break;
      case Op::Mul: for (int64_t j = 0; j < n; ++j) r[j] = a[j] * b[j]; break;
      case Op::Div: for (int64_t j = 0; j < n; ++j) r[j] = a[j] / b[j]; break;
      case Op::Max: for (int64_t j = 0; j < n; ++j) r[j] = a[j] < b[j] ? b[j] : a[j]; break;
      case Op::Min: for (int64_t j = 0; j < n; ++j) r[j] = b[j] < a[j] ? b[j] : a[j]; break;
      case Op::Less: for (int64_t j = 0; j < n; ++j) r[j] = a[j] < b[j] ? 1.f : 0.f; break;
    }
  }
  for (const Sink& k : p.sinks) {
    const float* r = regs + k.reg * kBlock;
    float* dst = bufs[k.buf] + off[k.buf];
    const int64_t s = step[k.buf];
    if (k.red == Red::None) {
      if (s == 1) std::copy(r, r + n, dst);
      else if (s == 0) dst[0] = r[n - 1];
      else for (int64_t j = 0; j < n; ++j) dst[j * s] = r[j];
    } else if (k.red == Red::Sum) {
      if (s == 0) {
        float acc = 0;
        for (int64_t j = 0; j < n; ++j) acc += r[j];
        dst[0] += acc;
      } else {
        for (int64_t j = 0; j < n; ++j) dst[j * s] += r[j];
      }
    } else {
      if (s == 0) {
        float m = dst[0];
        for (int64_t j = 0; j < n; ++j) m = m < r[j] ? r[j] : m;
        dst[0] = m;
      } else {
        for (int64_t j = 0; j < n; ++j) dst[j * s] = dst[j * s] < r[j] ? r[j] : dst[j * s];
      }
    }
  }
}

}  // namespace

void interpret(const Spec& spec, float* const* bufs, int64_t begin, int64_t end) {
  const Program& p = spec.prog;
  const Nest& nest = spec.nest;
  const int nb = p.num_bufs;
  std::vector<float> regs(std::max<size_t>(p.code.size(), 1) * kBlock);
  std::vector<int64_t> off(nb), step(nb);
  if (nest.flat) {
    for (int b = 0; b < nb; ++b) step[b] = nest.stride[b][0];
    for (int64_t i = begin; i < end; i += kBlock) {
      for (int b = 0; b < nb; ++b) off[b] = i * step[b];
      run_block(p, bufs, off.data(), step.data(), std::min(kBlock, end - i), regs.data());
    }
    return;
  }
  const int k = static_cast<int>(nest.extent.size());
  const int outer = nest.outer;
  const int inner_dim = k - 1;
  const int64_t inner = k > 0 ? nest.extent[inner_dim] : 1;
  for (int b = 0; b < nb; ++b) step[b] = k > 0 ? nest.stride[b][inner_dim] : 0;
  std::vector<int64_t> idx(k, 0), base(nb);
  for (int64_t o = begin; o < end; ++o) {
    // Decompose the collapsed outer index.
    int64_t rem = o;
    for (int d = outer - 1; d >= 0; --d) {
      idx[d] = rem % nest.extent[d];
      rem /= nest.extent[d];
    }
    for (int d = outer; d < k; ++d) idx[d] = 0;
    // Visit every row (all dims but the innermost) below this outer index.
    while (true) {
      for (int b = 0; b < nb; ++b) {
        int64_t x = 0;
        for (int d = 0; d < inner_dim; ++d) x += idx[d] * nest.stride[b][d];
        base[b] = x;
      }
      for (int64_t j = 0; j < inner; j += kBlock) {
        for (int b = 0; b < nb; ++b) off[b] = base[b] + j * step[b];
        run_block(p, bufs, off.data(), step.data(), std::min(kBlock, inner - j), regs.data());
      }
      int d = inner_dim - 1;
      for (; d >= outer; --d) {
        if (++idx[d] < nest.extent[d]) break;
        idx[d] = 0;
      }
      if (d < outer) break;
    }
  }
}

}  // namespace acnn::cpu::ew
