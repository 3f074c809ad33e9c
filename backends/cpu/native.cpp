// Native kernels for data movement that oneDNN has no primitive for: pad
// (zeros and reflect), its adjoint pad_backward, and slice. They work on a
// "view" of the buffer: the logical dims for plain tensors, or for a
// channel-blocked activation (nChw16c / nChw8c, no padding) the physical
// [N, C/b, H, W, b] dims, so blur-pool padding and the channel split of
// selective-kernel attention stay in the convolutions' layout instead of
// being reordered to plain and back. Channel pads and slices must then be
// whole blocks. Pads copy whole rows of the last padded dimension (units of
// the trailing unpadded dims); pad_backward gathers, for each output row, the
// rows that map onto it (reflect adds the mirrored ones), so threads write
// disjoint rows and results do not depend on the thread count.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "backends/cpu/common.h"
#include "compiler/ops/common.h"

namespace acnn::cpu {

namespace {

using Dims = std::vector<int64_t>;

// The view of a 4-d activation layout: logical dims when plain; the 5-d
// physical dims of a single channel block; false for anything else.
bool view_of(const md_t* md, const Shape& logical, Dims* view, int64_t* block) {
  *block = 1;
  if (!md || is_plain(*md)) {
    *view = Dims(logical.begin(), logical.end());
    if (view->empty()) view->push_back(1);
    return true;
  }
  const dnnl_memory_desc_t& d = md->data;
  if (d.format_kind != dnnl_blocked || d.ndims != 4 || d.offset0 != 0) return false;
  const dnnl_blocking_desc_t& bd = d.format_desc.blocking;
  if (bd.inner_nblks != 1 || bd.inner_idxs[0] != 1) return false;
  for (int i = 0; i < 4; ++i)
    if (d.padded_dims[i] != d.dims[i]) return false;
  const int64_t b = bd.inner_blks[0];
  // Canonical nChw<b>c strides.
  const int64_t C = d.dims[1], H = d.dims[2], W = d.dims[3];
  if (bd.strides[3] != b || bd.strides[2] != W * b || bd.strides[1] != H * W * b || bd.strides[0] != C * H * W) return false;
  *block = b;
  *view = {d.dims[0], C / b, H, W, b};
  return true;
}

// Index map of one padded dimension: out position -> in position, -1 for zero.
std::vector<int64_t> dim_map(int64_t in, int64_t before, int64_t out, bool reflect) {
  std::vector<int64_t> m(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t i = o - before;
    if (reflect) {
      while (i < 0 || i >= in) i = i < 0 ? -i : 2 * (in - 1) - i;  // in > pads (checked by inference)
    } else if (i < 0 || i >= in) {
      i = -1;
    }
    m[o] = i;
  }
  return m;
}

struct PadGeom {
  Dims in, out, before;
  bool reflect = false;
  int last = -1;     // last padded dim
  int64_t unit = 1;  // elements per index of `last`
  std::vector<std::vector<int64_t>> maps;
};

bool pad_geom(const ir::Node& n, const Dims& in_view, int64_t block, const Shape& logical, PadGeom* g) {
  std::vector<int64_t> pads = n.attrs.ints("pads");
  const size_t r = logical.size();
  if (pads.size() != 2 * r) return false;
  g->reflect = n.attrs.s("mode") == "reflect";
  g->in = in_view;
  g->before.assign(in_view.size(), 0);
  Dims after(in_view.size(), 0);
  for (size_t d = 0; d < r; ++d) {
    int64_t b = pads[d], a = pads[r + d];
    if (block > 1 && d == 1) {  // channel pads: whole blocks of zeros
      if (b % block || a % block || ((b || a) && g->reflect)) return false;
      b /= block, a /= block;
    }
    g->before[d] = b, after[d] = a;
  }
  g->out = g->in;
  for (size_t d = 0; d < g->in.size(); ++d) g->out[d] += g->before[d] + after[d];
  for (size_t d = 0; d < g->in.size(); ++d)
    if (g->before[d] || after[d]) g->last = static_cast<int>(d);
  for (size_t d = g->last + 1; d < g->in.size(); ++d) g->unit *= g->in[d];
  for (size_t d = 0; d < g->in.size(); ++d) g->maps.push_back(dim_map(g->in[d], g->before[d], g->out[d], g->reflect));
  return true;
}

int64_t prod(const Dims& d, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= d[i];
  return p;
}

class PadKernel final : public Kernel {
 public:
  PadKernel(PadGeom g, bool backward) : g_(std::move(g)), backward_(backward) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, ExecContext&) override {
    const float* x = static_cast<const float*>(in[0]->raw());
    float* y = static_cast<float*>(out[0]->raw());
    if (g_.last < 0) {  // nothing padded
      std::memcpy(y, x, prod(g_.in, 0, static_cast<int>(g_.in.size())) * sizeof(float));
      return;
    }
    backward_ ? adjoint(x, y) : forward(x, y);
  }
  std::string describe() const override {
    return std::string("native:") + (backward_ ? "pad_backward" : "pad") + (g_.reflect ? " reflect" : " zeros");
  }

 private:
  void forward(const float* x, float* y) {
    const int L = g_.last;
    const int64_t rows = prod(g_.out, 0, L), unit = g_.unit, n_out = g_.out[L], n_in = g_.in[L], b = g_.before[L];
    const int T = rows * n_out * unit < 65536 ? 1 : omp_get_max_threads();
#pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      // The input row of this output row, or none (a zero row).
      int64_t rem = r, src = 0, stride = 1;
      bool zero = false;
      for (int d = L - 1; d >= 0; --d) {
        int64_t o = rem % g_.out[d];
        rem /= g_.out[d];
        int64_t i = g_.maps[d][o];
        if (i < 0) zero = true;
        src += i * stride;
        stride *= g_.in[d];
      }
      float* dst = y + r * n_out * unit;
      if (zero) {
        std::memset(dst, 0, n_out * unit * sizeof(float));
        continue;
      }
      const float* s = x + src * n_in * unit;
      std::memcpy(dst + b * unit, s, n_in * unit * sizeof(float));
      for (int64_t o = 0; o < n_out; ++o) {
        if (o == b) o = b + n_in;  // the interior is done
        if (o >= n_out) break;
        int64_t i = g_.maps[L][o];
        if (i < 0) std::memset(dst + o * unit, 0, unit * sizeof(float));
        else std::memcpy(dst + o * unit, s + i * unit, unit * sizeof(float));
      }
    }
  }

  // dx (the unpadded shape) from dy (the padded one).
  void adjoint(const float* dy, float* dx) {
    const int L = g_.last;
    const int64_t rows = prod(g_.in, 0, L), unit = g_.unit, n_out = g_.out[L], n_in = g_.in[L];
    // Inverse maps: for each input index, the output indices reading it.
    std::vector<std::vector<std::vector<int64_t>>> inv(L + 1);
    for (int d = 0; d <= L; ++d) {
      inv[d].assign(g_.in[d], {});
      for (int64_t o = 0; o < g_.out[d]; ++o)
        if (g_.maps[d][o] >= 0) inv[d][g_.maps[d][o]].push_back(o);
    }
    const int T = rows * n_in * unit < 65536 ? 1 : omp_get_max_threads();
#pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<int64_t> idx(L);
      int64_t rem = r;
      for (int d = L - 1; d >= 0; --d) idx[d] = rem % g_.in[d], rem /= g_.in[d];
      float* dst = dx + r * n_in * unit;
      std::memset(dst, 0, n_in * unit * sizeof(float));
      // Every combination of output rows that read this row.
      std::vector<size_t> pick(L, 0);
      while (true) {
        int64_t orow = 0;
        for (int d = 0; d < L; ++d) orow = orow * g_.out[d] + inv[d][idx[d]][pick[d]];
        const float* s = dy + orow * n_out * unit;
        for (int64_t i = 0; i < n_in; ++i)
          for (int64_t o : inv[L][i]) {
            const float* a = s + o * unit;
            float* t = dst + i * unit;
            for (int64_t e = 0; e < unit; ++e) t[e] += a[e];
          }
        int d = L - 1;
        for (; d >= 0; --d) {
          if (++pick[d] < inv[d][idx[d]].size()) break;
          pick[d] = 0;
        }
        if (d < 0) break;
      }
    }
  }

  PadGeom g_;
  bool backward_;
};

class SliceKernel final : public Kernel {
 public:
  SliceKernel(int64_t outer, int64_t in_len, int64_t begin, int64_t len, int64_t inner)
      : outer_(outer), in_len_(in_len), begin_(begin), len_(len), inner_(inner) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, ExecContext&) override {
    const float* x = static_cast<const float*>(in[0]->raw());
    float* y = static_cast<float*>(out[0]->raw());
    const int T = outer_ * len_ * inner_ < 65536 ? 1 : omp_get_max_threads();
#pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t o = 0; o < outer_; ++o)
      std::memcpy(y + o * len_ * inner_, x + (o * in_len_ + begin_) * inner_, len_ * inner_ * sizeof(float));
  }
  std::string describe() const override { return "native:slice"; }

 private:
  int64_t outer_, in_len_, begin_, len_, inner_;
};

}  // namespace

std::unique_ptr<Kernel> compile_pad(Compile& c) {
  const ir::Node& n = c.node();
  // The forward's unpadded shape: the input of pad, the output of pad_backward.
  const bool backward = n.op == ir::OpKind::PadBackward;
  const Shape& small = backward ? c.out_shape(0) : c.in_shape(0);
  const Shape& big = backward ? c.in_shape(0) : c.out_shape(0);
  PadGeom g;
  // A channel-blocked input keeps its layout when whole blocks are padded.
  const md_t* md = c.in_md_any(0);
  if (md && small.size() == 4 && md->dims() == to_dims(c.in_shape(0))) {
    md_t small_md = backward ? same_format(*md, to_dims(small)) : *md;
    md_t big_md = backward ? *md : same_format(*md, to_dims(big));
    Dims sv, bv;
    int64_t sb = 1, bb = 1;
    if (view_of(&small_md, small, &sv, &sb) && view_of(&big_md, big, &bv, &bb) && sb > 1 && sb == bb &&
        pad_geom(n, sv, sb, small, &g) && g.out == bv) {
      c.want_input(0, backward ? big_md : small_md);
      c.set_output(0, backward ? small_md : big_md);
      return std::make_unique<PadKernel>(std::move(g), backward);
    }
  }
  g = PadGeom{};
  Dims view;
  int64_t block = 1;
  if (!view_of(nullptr, small, &view, &block) || !pad_geom(n, view, 1, small, &g)) return nullptr;
  c.req.inputs[0] = nullptr;
  c.req.outputs[0] = nullptr;
  return std::make_unique<PadKernel>(std::move(g), backward);
}

std::unique_ptr<Kernel> compile_native_slice(Compile& c) {
  const ir::Node& n = c.node();
  const Shape& in = c.in_shape(0);
  int64_t axis;
  if (!ops::normalize_axis(n.attrs.i("axis"), in.size(), &axis)) return nullptr;
  int64_t begin = n.attrs.i("begin"), len = n.attrs.i("end") - begin;
  const md_t* md = c.in_md_any(0);
  Dims view;
  int64_t block = 1;
  if (md && axis == 1 && in.size() == 4 && view_of(md, in, &view, &block) && block > 1 && begin % block == 0 &&
      len % block == 0) {
    c.want_input(0, *md);
    c.set_output(0, same_format(*md, to_dims(c.out_shape(0))));
    return std::make_unique<SliceKernel>(view[0], view[1], begin / block, len / block, view[2] * view[3] * block);
  }
  return nullptr;  // plain slices: a oneDNN reorder of the strided view
}

}  // namespace acnn::cpu
