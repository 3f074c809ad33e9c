// Batch normalization: training forward (batch statistics as outputs, biased
// variance as oneDNN computes it), inference forward with given statistics,
// and backward (dx, dgamma, dbeta). Scale and shift are separate [C] tensors
// (oneDNN 2.6 use_scale / use_shift). The data operands keep the layout they
// arrive in (blocked after a convolution); statistics are plain.
#include "backends/cpu/common.h"

namespace acnn::cpu {

namespace {

using dnnl::normalization_flags;
using dnnl::prop_kind;
using BnFwd = dnnl::batch_normalization_forward;
using BnBwd = dnnl::batch_normalization_backward;

float eps_of(const ir::Node& n) { return static_cast<float>(n.attrs.f("eps", 1e-5)); }

std::unique_ptr<Kernel> bn_forward(Compile& c, bool training) {
  const ir::Node& n = c.node();
  dims_t d = to_dims(c.in_shape(0));
  md_t data = c.current(0, d);
  md_t chan = plain_md({d[1]});
  auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
  if (!training) flags = flags | normalization_flags::use_global_stats;
  BnFwd::primitive_desc pd(BnFwd::desc(training ? prop_kind::forward_training : prop_kind::forward_inference, data,
                                       eps_of(n), flags),
                           scratch_attr(), engine());
  c.want_input(0, pd.src_desc());
  for (size_t i = 1; i < n.inputs.size(); ++i) c.req.inputs[i] = nullptr;
  c.set_output(0, pd.dst_desc());
  auto k = std::make_unique<OnednnKernel>(training ? "bn fwd train" : "bn fwd infer");
  k->add_primitive(BnFwd(pd), pd);
  k->arg_input(DNNL_ARG_SRC, 0, pd.src_desc());
  k->arg_input(DNNL_ARG_SCALE, 1, chan);
  k->arg_input(DNNL_ARG_SHIFT, 2, chan);
  k->arg_output(DNNL_ARG_DST, 0, pd.dst_desc());
  if (training) {
    c.req.outputs[1] = c.req.outputs[2] = nullptr;
    k->arg_output(DNNL_ARG_MEAN, 1, pd.mean_desc());
    k->arg_output(DNNL_ARG_VARIANCE, 2, pd.variance_desc());
  } else {
    k->arg_input(DNNL_ARG_MEAN, 3, pd.mean_desc());
    k->arg_input(DNNL_ARG_VARIANCE, 4, pd.variance_desc());
  }
  return k;
}

// (dy, x, gamma, mean, var) -> (dx, dgamma, dbeta)
std::unique_ptr<Kernel> bn_backward(Compile& c) {
  const ir::Node& n = c.node();
  dims_t d = to_dims(c.in_shape(0));
  const md_t* x = c.in_md(1, d);
  const md_t* dy = c.in_md(0, d);
  md_t data = x ? *x : dy ? *dy : plain_md(d);
  md_t chan = plain_md({d[1]});
  auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
  BnFwd::primitive_desc hint(BnFwd::desc(prop_kind::forward_training, data, eps_of(n), flags), engine());
  BnBwd::primitive_desc pd(BnBwd::desc(prop_kind::backward, data, data, eps_of(n), flags), scratch_attr(), engine(),
                           hint);
  c.want_input(0, pd.diff_dst_desc());
  c.want_input(1, pd.src_desc());
  c.req.inputs[2] = c.req.inputs[3] = c.req.inputs[4] = nullptr;
  c.set_output(0, pd.diff_src_desc());
  c.req.outputs[1] = c.req.outputs[2] = nullptr;
  auto k = std::make_unique<OnednnKernel>("bn bwd");
  k->add_primitive(BnBwd(pd), pd);
  k->arg_input(DNNL_ARG_DIFF_DST, 0, pd.diff_dst_desc());
  k->arg_input(DNNL_ARG_SRC, 1, pd.src_desc());
  k->arg_input(DNNL_ARG_SCALE, 2, chan);
  k->arg_owned(DNNL_ARG_SHIFT, chan);  // unread, but oneDNN 2.6 refuses to execute without it
  k->arg_input(DNNL_ARG_MEAN, 3, pd.mean_desc());
  k->arg_input(DNNL_ARG_VARIANCE, 4, pd.variance_desc());
  k->arg_output(DNNL_ARG_DIFF_SRC, 0, pd.diff_src_desc());
  k->arg_output(DNNL_ARG_DIFF_SCALE, 1, chan);
  k->arg_output(DNNL_ARG_DIFF_SHIFT, 2, chan);
  return k;
}

}  // namespace

std::unique_ptr<Kernel> compile_norm(Compile& c) {
  switch (c.node().op) {
    case ir::OpKind::BatchNormTrain: return bn_forward(c, true);
    case ir::OpKind::BatchNormInfer: return bn_forward(c, false);
    case ir::OpKind::BatchNormBackward: return bn_backward(c);
    default: assert(false); return nullptr;
  }
}

}  // namespace acnn::cpu
