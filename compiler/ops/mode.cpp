// IfTraining (train_value, eval_value): the mode pass keeps one operand. Fused:
// a kernel made by the fusion pass; its types come from its body, so inference
// is never asked for (the verifier skips it) and it has no gradient (autodiff
// runs before fusion). The reference backend never runs a fused node: the
// interpreter sees graphs before fusion, and backends that fuse run their own
// kernels (its reference kernel aborts).
//
// IfTraining's kernel copies input 0 when ctx.training, else input 1; its
// gradient goes to both operands (each gets dy: the mode pass removes the
// branch that is not taken, and with it that gradient).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "compiler/ops/common.h"

namespace acnn::ops {

std::string infer_IfTraining(const std::vector<ValueType>& in, const Attrs&, std::vector<ValueType>& out) {
  if (!(in[0] == in[1])) return "if_training: the training value " + str(in[0]) + " and the inference value " + str(in[1]) + " differ";
  out = {in[0]};
  return "";
}

std::string infer_Fused(const std::vector<ValueType>&, const Attrs&, std::vector<ValueType>&) {
  return "fused nodes carry their own types";
}

void grad_IfTraining(GradContext& g) {
  g.set_din(0, g.dout(0));
  g.set_din(1, g.dout(0));
}

void grad_Fused(GradContext& g) {
  std::fprintf(stderr, "internal error: autodiff reached a fused node (autodiff runs before fusion)\n");
  std::abort();
}

void ref_IfTraining(const Node&, const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, ExecContext& ctx) {
  const Tensor& src = *in[ctx.training ? 0 : 1];
  std::memcpy(out[0]->raw(), src.raw(), src.bytes());
}

void ref_Fused(const Node& n, const std::vector<const Tensor*>&, const std::vector<Tensor*>&, ExecContext&) {
  kernel_not_callable(n, "fused nodes are run by the backend that formed them");
}

}  // namespace acnn::ops
