// Elementwise kernels on the CPU: an ew::Program (ew_lower.h) bound to
// layouts and threads. Layout choice: the first full-size input that arrives
// in a oneDNN layout sets the layout every full-size operand is read and
// written in (the executor converts the others, usually none), broadcast
// operands and reduction results stay plain. When every other operand is a
// single element the kernel is flat (one dense loop, any layout, even padded
// ones); otherwise the iteration nest follows the main layout's physical
// dimensions, so a per-channel [1,C,1,1] operand of an nChw16c activation is a
// 16-wide vector reused along H*W. Code comes from the LLVM JIT when built
// (ACNN_JIT=0 turns it off), else from the portable evaluator. Threads split
// the flat range or the nest's outer range; reductions whose results threads
// would share accumulate into per-thread partials that are combined after.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <limits>

#include "backends/cpu/common.h"
#include "backends/cpu/ew_interp.h"
#include "backends/cpu/ew_lower.h"
#include "compiler/ir/op.h"
#ifdef ACNN_HAVE_LLVM
#include "backends/cpu/jit/jit.h"
#endif

namespace acnn::cpu {

namespace {

using ew::BufKind;

// Physical dims of a oneDNN descriptor over its logical dims; false when it is
// not a plain strided/blocked layout without padding.
bool physical_dims(const md_t& md, std::vector<ew::PhysDim>* out) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.offset0 != 0) return false;
  const int nd = d.ndims;
  for (int i = 0; i < nd; ++i)
    if (d.padded_dims[i] != d.dims[i] || d.padded_offsets[i] != 0) return false;
  const dnnl_blocking_desc_t& bd = d.format_desc.blocking;
  std::vector<int64_t> blk(nd, 1);
  for (int j = 0; j < bd.inner_nblks; ++j) blk[bd.inner_idxs[j]] *= bd.inner_blks[j];
  out->clear();
  for (int i = 0; i < nd; ++i) out->push_back({d.dims[i] / blk[i], i, blk[i], bd.strides[i]});
  for (int j = 0; j < bd.inner_nblks; ++j) {
    int64_t stride = 1, mult = 1;
    for (int k = j + 1; k < bd.inner_nblks; ++k) {
      stride *= bd.inner_blks[k];
      if (bd.inner_idxs[k] == bd.inner_idxs[j]) mult *= bd.inner_blks[k];
    }
    out->push_back({bd.inner_blks[j], static_cast<int>(bd.inner_idxs[j]), mult, stride});
  }
  return true;
}

bool dense(const md_t& md) {
  int64_t n = 1;
  for (int64_t x : md.dims()) n *= x;
  return md.get_size() == static_cast<size_t>(n) * sizeof(float);
}

[[maybe_unused]] bool jit_enabled() {
  static bool on = [] {
    const char* e = std::getenv("ACNN_JIT");
    return !(e && (std::string(e) == "0" || std::string(e) == "off"));
  }();
  return on;
}

class EwKernel final : public Kernel {
 public:
  EwKernel(ew::Lowered L, ew::Spec spec, std::string what, ew::KernelFn fn)
      : L_(std::move(L)), spec_(std::move(spec)), what_(std::move(what)), fn_(fn) {
    const ew::Nest& n = spec_.nest;
    range_ = n.flat ? n.extent[0] : n.outer_size();
    points_ = ew::space_points(L_);
    for (size_t b = 0; b < L_.bufs.size(); ++b) {
      const ew::BufInfo& bi = L_.bufs[b];
      if (bi.kind == BufKind::Constant) constants_.push_back({static_cast<int>(b), bi.values});
      if (bi.kind == BufKind::Scalar) scalars_.push_back({static_cast<int>(b), 0.f});
      if (!bi.reduce) continue;
      Reduction r;
      r.buf = static_cast<int>(b);
      r.count = numel(bi.shape);
      r.identity = bi.red == ew::Red::Max ? -std::numeric_limits<float>::infinity() : 0.f;
      r.max = bi.red == ew::Red::Max;
      r.scale = bi.post_scale;
      // Threads own disjoint parts of the result when every split dimension indexes it.
      r.shared = n.flat;
      if (!n.flat)
        for (int d = 0; d < n.outer; ++d)
          if (n.extent[d] > 1 && n.stride[b][d] == 0) r.shared = true;
      reductions_.push_back(r);
    }
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, ExecContext& ctx) override {
    const int nb = static_cast<int>(L_.bufs.size());
    int T = points_ < 32768 || range_ < 2 ? 1 : std::min<int64_t>(omp_get_max_threads(), range_);
    if (static_cast<int>(ptrs_.size()) < T) ptrs_.resize(T);
    for (int t = 0; t < T; ++t) ptrs_[t].resize(nb);
    std::vector<float*>& p0 = ptrs_[0];
    for (int b = 0; b < nb; ++b) {
      const ew::BufInfo& bi = L_.bufs[b];
      if (bi.kind == BufKind::Input) p0[b] = static_cast<float*>(in[bi.index]->raw());
      else if (bi.kind == BufKind::Output) p0[b] = static_cast<float*>(out[bi.index]->raw());
    }
    for (auto& [b, vals] : constants_) p0[b] = vals.data();
    for (auto& [b, v] : scalars_) {
      v = ctx.scalar(L_.bufs[b].name);
      p0[b] = &v;
    }
    for (int t = 1; t < T; ++t) ptrs_[t] = p0;
    // Reductions: identity-filled outputs, or per-thread partials.
    for (Reduction& r : reductions_) {
      float* dst = p0[r.buf];
      std::fill(dst, dst + r.count, r.identity);
      if (!r.shared || T == 1) continue;
      r.partials.resize(static_cast<size_t>(r.count) * (T - 1));
      std::fill(r.partials.begin(), r.partials.end(), r.identity);
      for (int t = 1; t < T; ++t) ptrs_[t][r.buf] = r.partials.data() + (t - 1) * r.count;
    }
    auto chunk = [&](int t) -> std::pair<int64_t, int64_t> {
      auto at = [&](int k) {
        int64_t x = range_ * k / T;
        if (spec_.nest.flat && k < T) x = std::min(range_, (x + 63) / 64 * 64);
        return x;
      };
      return {at(t), at(t + 1)};
    };
    if (T == 1) {
      call(p0.data(), 0, range_);
    } else {
#pragma omp parallel num_threads(T)
      {
        int t = omp_get_thread_num();
        auto [b, e] = chunk(t);
        if (b < e) call(ptrs_[t].data(), b, e);
      }
    }
    for (Reduction& r : reductions_) {
      float* dst = p0[r.buf];
      if (r.shared && T > 1)
        for (int t = 1; t < T; ++t) {
          const float* part = r.partials.data() + (t - 1) * r.count;
          if (r.max)
            for (int64_t i = 0; i < r.count; ++i) dst[i] = dst[i] < part[i] ? part[i] : dst[i];
          else
            for (int64_t i = 0; i < r.count; ++i) dst[i] += part[i];
        }
      if (r.scale != 1.f)
        for (int64_t i = 0; i < r.count; ++i) dst[i] *= r.scale;
    }
  }

  std::string describe() const override { return (fn_ ? "jit:" : "interp:") + what_; }
  // Output 0 may take a full-size input's buffer when both are walked with the
  // same strides: every point loads its operands before storing its results.
  bool can_overwrite_input(int input) const override {
    int in_buf = -1, out_buf = -1;
    for (size_t b = 0; b < L_.bufs.size(); ++b) {
      const ew::BufInfo& bi = L_.bufs[b];
      if (bi.kind == BufKind::Input && bi.index == input) in_buf = static_cast<int>(b);
      if (bi.kind == BufKind::Output && bi.index == 0) out_buf = static_cast<int>(b);
    }
    if (in_buf < 0 || out_buf < 0 || L_.bufs[out_buf].reduce) return false;
    return spec_.nest.stride[in_buf] == spec_.nest.stride[out_buf] && L_.bufs[in_buf].shape == L_.bufs[out_buf].shape;
  }

 private:
  void call(float* const* bufs, int64_t b, int64_t e) {
    if (fn_) fn_(bufs, b, e);
    else ew::interpret(spec_, bufs, b, e);
  }

  struct Reduction {
    int buf;
    int64_t count;
    float identity, scale;
    bool max, shared;
    std::vector<float> partials;  // (threads - 1) * count
  };
  ew::Lowered L_;
  ew::Spec spec_;
  std::string what_;
  ew::KernelFn fn_;
  int64_t range_ = 0, points_ = 0;
  std::vector<std::pair<int, std::vector<float>>> constants_;
  std::vector<std::pair<int, float>> scalars_;
  std::vector<Reduction> reductions_;
  std::vector<std::vector<float*>> ptrs_;
};

}  // namespace

ew::KernelFn ew_code(const ew::Spec& spec) {
#ifdef ACNN_HAVE_LLVM
  if (jit_enabled()) {
    std::string err;
    if (ew::KernelFn fn = jit::compile(spec, &err)) return fn;
    static bool warned = false;
    if (!warned && std::getenv("ACNN_VERBOSE")) std::fprintf(stderr, "acnn: JIT failed (%s); using the evaluator\n", err.c_str());
    warned = true;
  }
#endif
  (void)spec;
  return nullptr;
}

bool ew_lowerable(const ir::Graph& g, const ir::Node& n, std::string* why) {
  ew::Lowered L;
  if (n.op == ir::OpKind::Fused) return n.body && ew::lower_body(*n.body, n.inputs.size(), &L, why);
  return ew::is_ew_op(n.op) && ew::lower_body(*ew::single_node_body(g, n), n.inputs.size(), &L, why);
}

std::unique_ptr<Kernel> compile_ew(Compile& c, const ir::Graph& body, const std::string& what) {
  ew::Lowered L;
  if (!ew::lower_body(body, c.node().inputs.size(), &L, nullptr)) return nullptr;
  const size_t nb = L.bufs.size();
  auto full = [&](size_t b) {
    const ew::BufInfo& bi = L.bufs[b];
    return (bi.kind == BufKind::Input || bi.kind == BufKind::Output) && !bi.reduce && bi.shape == L.space;
  };
  // The main layout: the first full-size input already in a oneDNN layout.
  const md_t* main = nullptr;
  for (size_t b = 0; b < nb && !main; ++b)
    if (L.bufs[b].kind == BufKind::Input && full(b)) main = c.in_md_any(L.bufs[b].index);
  ew::Spec spec;
  spec.prog = L.prog;
  std::vector<bool> in_main(nb, false);
  bool use_main = false;
  if (main && ew::all_small_single(L) && dense(*main)) {
    spec.nest = ew::flat_nest(L);
    use_main = true;
  } else {
    std::vector<ew::PhysDim> dims;
    if (main && main->dims() == to_dims(L.space) && physical_dims(*main, &dims)) {
      use_main = true;
    } else {
      dims = ew::plain_dims(L.space);
    }
    for (size_t b = 0; b < nb; ++b) in_main[b] = use_main && full(b);
    spec.nest = ew::all_small_single(L) ? ew::flat_nest(L) : ew::make_nest(L, dims, in_main);
  }
  for (size_t b = 0; b < nb; ++b) {
    const ew::BufInfo& bi = L.bufs[b];
    LayoutPtr l = use_main && full(b) ? c.layout(*main) : nullptr;
    if (bi.kind == BufKind::Input) c.req.inputs[bi.index] = l;
    if (bi.kind == BufKind::Output) c.req.outputs[bi.index] = l;
  }
  if (std::getenv("ACNN_EW_DEBUG")) std::fprintf(stderr, "ew %s: %s\n", what.c_str(), spec.serialize().c_str());
  ew::KernelFn fn = ew_code(spec);
  return std::make_unique<EwKernel>(std::move(L), std::move(spec), what, fn);
}

std::unique_ptr<Kernel> compile_ew_node(Compile& c) {
  return compile_ew(c, *ew::single_node_body(c.g(), c.node()), ir::op_name(c.node().op));
}

}  // namespace acnn::cpu
