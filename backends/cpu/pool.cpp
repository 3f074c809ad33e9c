// Max and average pooling, forward and backward, in the layout the input
// arrives in. Max pooling backward needs the forward's workspace (the argmax
// of each window): a forward max pool whose input also feeds a matching
// max_pool2d_backward runs in training mode and keeps the workspace in a
// buffer it owns (a hidden output); the backward kernel finds that forward
// kernel through CompileRequest::kernel_of and reads the buffer. When there is
// no such forward earlier in the plan, the backward kernel recomputes the
// forward into buffers of its own before its backward primitive.
#include "backends/cpu/common.h"

namespace acnn::cpu {

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
using PoolFwd = dnnl::pooling_forward;
using PoolBwd = dnnl::pooling_backward;

struct PoolDims {
  dims_t src, dst, kernel, strides, pad_l, pad_r;
  algorithm alg;
};

PoolDims pool_dims(const ir::Node& n, const Shape& x, const Shape& y, bool max) {
  auto k = n.attrs.ints("kernel"), s = n.attrs.ints("stride", k), p = n.attrs.ints("pad", {0, 0, 0, 0});
  PoolDims d;
  d.src = to_dims(x);
  d.dst = to_dims(y);
  d.kernel = {k[0], k[1]};
  d.strides = {s[0], s[1]};
  d.pad_l = {p[0], p[1]};
  d.pad_r = {p[2], p[3]};
  d.alg = max ? algorithm::pooling_max
              : n.attrs.i("count_include_pad", 0) ? algorithm::pooling_avg_include_padding
                                                   : algorithm::pooling_avg_exclude_padding;
  return d;
}

bool same_window(const ir::Node& a, const ir::Node& b) {
  auto k = a.attrs.ints("kernel");
  return k == b.attrs.ints("kernel") && a.attrs.ints("stride", k) == b.attrs.ints("stride", k) &&
         a.attrs.ints("pad", {0, 0, 0, 0}) == b.attrs.ints("pad", {0, 0, 0, 0});
}

PoolFwd::primitive_desc fwd_pd(const PoolDims& d, prop_kind prop, const md_t& src, const dnnl::primitive_attr& attr) {
  return PoolFwd::primitive_desc(PoolFwd::desc(prop, d.alg, src, any_md(d.dst), d.strides, d.kernel, d.pad_l, d.pad_r),
                                 attr, engine());
}

class PoolFwdKernel final : public OnednnKernel {
 public:
  using OnednnKernel::OnednnKernel;
  PoolFwd::primitive_desc pd;
  void* workspace = nullptr;  // max pooling in training mode
};

std::unique_ptr<Kernel> pool_forward(Compile& c, bool max) {
  const ir::Node& n = c.node();
  PoolDims d = pool_dims(n, c.in_shape(0), c.out_shape(0), max);
  bool keep_ws = false;
  if (max)
    for (const ir::Node& o : c.g().nodes())
      if (!o.dead && o.op == ir::OpKind::MaxPool2dBackward && o.inputs[1] == n.inputs[0] && same_window(o, n))
        keep_ws = true;
  auto k = std::make_unique<PoolFwdKernel>(max ? "max pool fwd" : "avg pool fwd");
  k->pd = fwd_pd(d, keep_ws ? prop_kind::forward_training : prop_kind::forward_inference, c.current(0, d.src),
                 scratch_attr());
  c.want_input(0, k->pd.src_desc());
  c.set_output(0, k->pd.dst_desc());
  k->add_primitive(PoolFwd(k->pd), k->pd);
  k->arg_input(DNNL_ARG_SRC, 0, k->pd.src_desc());
  k->arg_output(DNNL_ARG_DST, 0, k->pd.dst_desc());
  if (keep_ws) k->workspace = k->arg_owned(DNNL_ARG_WORKSPACE, k->pd.workspace_desc());
  return k;
}

// (dy, x) -> dx
std::unique_ptr<Kernel> max_pool_backward(Compile& c) {
  const ir::Node& n = c.node();
  PoolDims d = pool_dims(n, c.in_shape(1), c.in_shape(0), true);
  md_t x = c.current(1, d.src);
  PoolFwdKernel* fwd = nullptr;
  for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(c.g().num_nodes()) && !fwd; ++id) {
    const ir::Node& o = c.g().node(id);
    if (o.dead || o.op != ir::OpKind::MaxPool2d || o.inputs[0] != n.inputs[1] || !same_window(o, n)) continue;
    auto* k = dynamic_cast<PoolFwdKernel*>(c.req.kernel_of(id));
    if (k && k->workspace && k->pd.src_desc() == x) fwd = k;
  }
  auto k = std::make_unique<OnednnKernel>(fwd ? "max pool bwd" : "max pool bwd (recompute)");
  c.want_input(1, x);
  PoolFwd::primitive_desc hint = fwd ? fwd->pd : fwd_pd(d, prop_kind::forward_training, x, scratch_attr());
  void* ws = fwd ? fwd->workspace : nullptr;
  if (!fwd) {
    k->add_primitive(PoolFwd(hint), hint);
    k->arg_input(DNNL_ARG_SRC, 1, hint.src_desc());
    k->arg_owned(DNNL_ARG_DST, hint.dst_desc());
    ws = k->arg_owned(DNNL_ARG_WORKSPACE, hint.workspace_desc());
  }
  PoolBwd::primitive_desc pd(PoolBwd::desc(d.alg, hint.src_desc(), hint.dst_desc(), d.strides, d.kernel, d.pad_l, d.pad_r),
                             scratch_attr(), engine(), hint);
  c.want_input(0, pd.diff_dst_desc());
  c.set_output(0, pd.diff_src_desc());
  k->add_primitive(PoolBwd(pd), pd);
  k->arg_input(DNNL_ARG_DIFF_DST, 0, pd.diff_dst_desc());
  k->arg_fixed(DNNL_ARG_WORKSPACE, pd.workspace_desc(), ws);
  k->arg_output(DNNL_ARG_DIFF_SRC, 0, pd.diff_src_desc());
  return k;
}

// (dy) + input_shape -> dx
std::unique_ptr<Kernel> avg_pool_backward(Compile& c) {
  const ir::Node& n = c.node();
  PoolDims d = pool_dims(n, n.attrs.ints("input_shape"), c.in_shape(0), false);
  md_t ddst = c.current(0, d.dst);
  md_t dsrc = same_format(ddst, d.src);
  PoolFwd::primitive_desc hint(
      PoolFwd::desc(prop_kind::forward_training, d.alg, dsrc, ddst, d.strides, d.kernel, d.pad_l, d.pad_r), engine());
  PoolBwd::primitive_desc pd(PoolBwd::desc(d.alg, dsrc, ddst, d.strides, d.kernel, d.pad_l, d.pad_r), scratch_attr(),
                             engine(), hint);
  c.want_input(0, pd.diff_dst_desc());
  c.set_output(0, pd.diff_src_desc());
  auto k = std::make_unique<OnednnKernel>("avg pool bwd");
  k->add_primitive(PoolBwd(pd), pd);
  k->arg_input(DNNL_ARG_DIFF_DST, 0, pd.diff_dst_desc());
  k->arg_output(DNNL_ARG_DIFF_SRC, 0, pd.diff_src_desc());
  return k;
}

}  // namespace

std::unique_ptr<Kernel> compile_pool(Compile& c) {
  switch (c.node().op) {
    case ir::OpKind::MaxPool2d: return pool_forward(c, true);
    case ir::OpKind::AvgPool2d: return pool_forward(c, false);
    case ir::OpKind::MaxPool2dBackward: return max_pool_backward(c);
    case ir::OpKind::AvgPool2dBackward: return avg_pool_backward(c);
    default: assert(false); return nullptr;
  }
}

}  // namespace acnn::cpu
