// Softmax and log-softmax over one axis, forward and backward (softmax_v2
// primitive with softmax_accurate / softmax_log), on plain tensors: they sit
// at the classifier head where everything is a plain [N, K] matrix.
#include "backends/cpu/common.h"
#include "compiler/ops/common.h"

namespace acnn::cpu {

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
using SmFwd = dnnl::softmax_v2_forward;
using SmBwd = dnnl::softmax_v2_backward;

}  // namespace

std::unique_ptr<Kernel> compile_softmax(Compile& c) {
  using ir::OpKind;
  const ir::Node& n = c.node();
  bool log = n.op == OpKind::LogSoftmax || n.op == OpKind::LogSoftmaxBackward;
  bool backward = n.op == OpKind::SoftmaxBackward || n.op == OpKind::LogSoftmaxBackward;
  const Shape& s = c.in_shape(0);
  int64_t axis;
  if (!ops::normalize_axis(n.attrs.i("axis", -1), s.size(), &axis)) return nullptr;
  dims_t d = to_dims(s);
  if (s.empty()) axis = 0;
  md_t md = plain_md(d);
  algorithm alg = log ? algorithm::softmax_log : algorithm::softmax_accurate;
  for (LayoutPtr& l : c.req.inputs) l = nullptr;
  c.req.outputs = {nullptr};
  SmFwd::primitive_desc fwd(SmFwd::desc(prop_kind::forward_training, alg, md, md, static_cast<int>(axis)),
                            backward ? dnnl::primitive_attr() : scratch_attr(), engine());
  if (!backward) {
    auto k = std::make_unique<OnednnKernel>(log ? "log_softmax" : "softmax");
    k->add_primitive(SmFwd(fwd), fwd);
    k->arg_input(DNNL_ARG_SRC, 0, md);
    k->arg_output(DNNL_ARG_DST, 0, md);
    return k;
  }
  // (dy, y) -> dx
  SmBwd::primitive_desc pd(SmBwd::desc(alg, md, md, md, static_cast<int>(axis)), scratch_attr(), engine(), fwd);
  auto k = std::make_unique<OnednnKernel>(log ? "log_softmax bwd" : "softmax bwd");
  k->add_primitive(SmBwd(pd), pd);
  k->arg_input(DNNL_ARG_DIFF_DST, 0, md);
  k->arg_input(DNNL_ARG_DST, 1, md);
  k->arg_output(DNNL_ARG_DIFF_SRC, 0, md);
  return k;
}

}  // namespace acnn::cpu
