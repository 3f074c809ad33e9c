// The "batchnorm" and "batchnorm_backward" fused kinds on oneDNN. Forward:
// without a residual and with only the relu output exported, one batch-norm
// primitive with fuse_norm_relu, which also leaves a relu mask (workspace) in
// the kernel; otherwise batch norm into the first exported buffer, then the
// residual add as a binary primitive with a relu post-op (in place), then a
// relu where the pre-relu value is exported too. Backward: when the relu mask
// operand is the output of such a forward kernel (found through the plan) and
// the relu gradient is not exported, one batch-norm backward primitive with
// fuse_norm_relu reading that workspace; otherwise the relu backward into the
// exported relu gradient (or the dx buffer) and batch-norm backward from it
// (in place when it is the dx buffer). Activations keep the layout they
// arrive in; statistics and channel vectors are plain.
#include "backends/cpu/common.h"
#include "backends/cpu/fused_match.h"

namespace acnn::cpu {

namespace {

using dnnl::algorithm;
using dnnl::normalization_flags;
using dnnl::prop_kind;
using BnFwd = dnnl::batch_normalization_forward;
using BnBwd = dnnl::batch_normalization_backward;

class FusedBnKernel final : public OnednnKernel {
 public:
  FusedBnKernel(std::string what, const BnMatch& m) : OnednnKernel(std::move(what)), m(m) {}
  BnMatch m;
  // With fuse_norm_relu: the relu mask the backward reads, and the data layout.
  void* workspace = nullptr;
  md_t data;
};

md_t data_md(Compile& c, std::initializer_list<int> inputs, const dims_t& d) {
  for (int i : inputs)
    if (const md_t* m = c.in_md(i, d)) return *m;
  return plain_md(d);
}

}  // namespace

bool bn_fusable(const ir::Graph& g, const ir::Node& n) {
  BnMatch m;
  return match_bn(g, n, &m) && m.out >= 0;
}

std::unique_ptr<Kernel> compile_fused_bn(Compile& c) {
  BnMatch m;
  if (!match_bn(c.g(), c.node(), &m) || m.out < 0) return nullptr;
  const ir::Graph& body = *c.node().body;
  (void)body;
  dims_t d = to_dims(c.g().type(c.node().inputs[m.x]).shape);
  md_t data = data_md(c, {m.x}, d);
  md_t chan = plain_md({d[1]});
  const bool fuse_relu = m.residual < 0 && m.pre_relu < 0;
  auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
  if (fuse_relu) flags = flags | normalization_flags::fuse_norm_relu;
  float eps = static_cast<float>(m.eps);
  BnFwd::primitive_desc pd(BnFwd::desc(prop_kind::forward_training, data, eps, flags), scratch_attr(), engine());
  for (LayoutPtr& l : c.req.inputs) l = nullptr;
  for (LayoutPtr& l : c.req.outputs) l = nullptr;
  c.want_input(m.x, pd.src_desc());
  if (m.residual >= 0) c.want_input(m.residual, pd.dst_desc());
  c.set_output(m.out, pd.dst_desc());
  if (m.pre_relu >= 0) c.set_output(m.pre_relu, pd.dst_desc());

  std::string what = m.residual >= 0 ? "bn fwd+add+relu" : "bn fwd+relu";
  auto k = std::make_unique<FusedBnKernel>(what, m);
  k->data = pd.dst_desc();
  // Batch norm writes the pre-relu buffer when exported, else the output.
  int bn_dst = m.pre_relu >= 0 ? m.pre_relu : m.out;
  k->add_primitive(BnFwd(pd), pd);
  k->arg_input(DNNL_ARG_SRC, m.x, pd.src_desc());
  k->arg_input(DNNL_ARG_SCALE, m.gamma, chan);
  k->arg_input(DNNL_ARG_SHIFT, m.beta, chan);
  k->arg_output(DNNL_ARG_DST, bn_dst, pd.dst_desc());
  if (m.mean >= 0) k->arg_output(DNNL_ARG_MEAN, m.mean, pd.mean_desc());
  else k->arg_owned(DNNL_ARG_MEAN, pd.mean_desc());
  if (m.var >= 0) k->arg_output(DNNL_ARG_VARIANCE, m.var, pd.variance_desc());
  else k->arg_owned(DNNL_ARG_VARIANCE, pd.variance_desc());
  if (fuse_relu) k->workspace = k->arg_owned(DNNL_ARG_WORKSPACE, pd.workspace_desc());
  md_t flat = flat_if_dense(pd.dst_desc());
  if (m.residual >= 0) {
    // bn_dst += residual (then relu when the sum itself is not exported): in place.
    dnnl::primitive_attr a = scratch_attr();
    if (m.pre_relu < 0) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
      a.set_post_ops(po);
    }
    dnnl::binary::primitive_desc add(dnnl::binary::desc(algorithm::binary_add, flat, flat, flat), a, engine());
    k->add_primitive(dnnl::binary(add), add);
    k->arg_output(DNNL_ARG_SRC_0, bn_dst, flat);
    k->arg_input(DNNL_ARG_SRC_1, m.residual, flat);
    k->arg_output(DNNL_ARG_DST, bn_dst, flat);
  }
  if (m.pre_relu >= 0) {
    using EltFwd = dnnl::eltwise_forward;
    EltFwd::primitive_desc relu(EltFwd::desc(prop_kind::forward_training, algorithm::eltwise_relu, flat, 0.f, 0.f),
                                scratch_attr(), engine());
    k->add_primitive(EltFwd(relu), relu);
    k->arg_output(DNNL_ARG_SRC, m.pre_relu, flat);
    k->arg_output(DNNL_ARG_DST, m.out, flat);
  }
  return k;
}

bool bn_backward_fusable(const ir::Graph& g, const ir::Node& n) {
  BnBwdMatch m;
  return match_bn_backward(g, n, &m) && m.dx >= 0;
}

std::unique_ptr<Kernel> compile_fused_bn_backward(Compile& c) {
  BnBwdMatch m;
  if (!match_bn_backward(c.g(), c.node(), &m) || m.dx < 0) return nullptr;
  const ir::Node& n = c.node();
  dims_t d = to_dims(c.g().type(n.inputs[m.x]).shape);
  md_t data = data_md(c, {m.x, m.dy, m.mask}, d);
  md_t chan = plain_md({d[1]});
  float eps = static_cast<float>(m.eps);

  // The forward kernel whose relu mask this is, when it kept one.
  FusedBnKernel* fwd = nullptr;
  if (m.dz < 0 && c.req.kernel_of) {
    ir::ValueId mask = n.inputs[m.mask];
    ir::NodeId p = c.g().value(mask).producer;
    const ir::Node& pn = c.g().node(p);
    if (auto* k = dynamic_cast<FusedBnKernel*>(c.req.kernel_of(p)))
      if (k->workspace && pn.outputs[k->m.out] == mask && pn.inputs[k->m.x] == n.inputs[m.x] && k->data == data)
        fwd = k;
  }
  auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
  if (fwd) flags = flags | normalization_flags::fuse_norm_relu;
  BnFwd::primitive_desc hint(BnFwd::desc(prop_kind::forward_training, data, eps, flags), engine());
  BnBwd::primitive_desc pd(BnBwd::desc(prop_kind::backward, data, data, eps, flags), scratch_attr(), engine(), hint);
  for (LayoutPtr& l : c.req.inputs) l = nullptr;
  for (LayoutPtr& l : c.req.outputs) l = nullptr;
  c.want_input(m.dy, pd.diff_dst_desc());
  c.want_input(m.mask, pd.diff_dst_desc());
  c.want_input(m.x, pd.src_desc());
  c.set_output(m.dx, pd.diff_src_desc());
  if (m.dz >= 0) c.set_output(m.dz, pd.diff_dst_desc());

  auto k = std::make_unique<OnednnKernel>(fwd ? "bn bwd (relu mask)" : "relu bwd+bn bwd");
  int dz_out = m.dz >= 0 ? m.dz : m.dx;  // where the relu gradient goes
  if (!fwd) {
    md_t flat = flat_if_dense(data);
    using EltFwd = dnnl::eltwise_forward;
    using EltBwd = dnnl::eltwise_backward;
    EltFwd::primitive_desc ehint(EltFwd::desc(prop_kind::forward_training, algorithm::eltwise_relu, flat, 0.f, 0.f), engine());
    EltBwd::primitive_desc rb(EltBwd::desc(algorithm::eltwise_relu, flat, flat, 0.f, 0.f), scratch_attr(), engine(), ehint);
    k->add_primitive(EltBwd(rb), rb);
    k->arg_input(DNNL_ARG_DIFF_DST, m.dy, flat);
    k->arg_input(DNNL_ARG_SRC, m.mask, flat);
    k->arg_output(DNNL_ARG_DIFF_SRC, dz_out, flat);
  }
  k->add_primitive(BnBwd(pd), pd);
  if (fwd) k->arg_input(DNNL_ARG_DIFF_DST, m.dy, pd.diff_dst_desc());
  else k->arg_output(DNNL_ARG_DIFF_DST, dz_out, pd.diff_dst_desc());
  k->arg_input(DNNL_ARG_SRC, m.x, pd.src_desc());
  k->arg_input(DNNL_ARG_SCALE, m.gamma, chan);
  k->arg_owned(DNNL_ARG_SHIFT, chan);  // unread, but oneDNN 2.6 refuses to execute without it
  k->arg_input(DNNL_ARG_MEAN, m.mean, pd.mean_desc());
  k->arg_input(DNNL_ARG_VARIANCE, m.var, pd.variance_desc());
  if (fwd) k->arg_fixed(DNNL_ARG_WORKSPACE, pd.workspace_desc(), fwd->workspace);
  k->arg_output(DNNL_ARG_DIFF_SRC, m.dx, pd.diff_src_desc());
  if (m.dgamma >= 0) k->arg_output(DNNL_ARG_DIFF_SCALE, m.dgamma, chan);
  else k->arg_owned(DNNL_ARG_DIFF_SCALE, chan);
  if (m.dbeta >= 0) k->arg_output(DNNL_ARG_DIFF_SHIFT, m.dbeta, chan);
  else k->arg_owned(DNNL_ARG_DIFF_SHIFT, chan);
  return k;
}

}  // namespace acnn::cpu
