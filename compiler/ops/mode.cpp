// IfTraining (train_value, eval_value): the mode pass keeps one operand (Fused,
// the other op without a family of its own here, is in fused.cpp).
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

void grad_IfTraining(GradContext& g) {
  g.set_din(0, g.dout(0));
  g.set_din(1, g.dout(0));
}

void ref_IfTraining(const Node&, const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, ExecContext& ctx) {
  const Tensor& src = *in[ctx.training ? 0 : 1];
  std::memcpy(out[0]->raw(), src.raw(), src.bytes());
}

}  // namespace acnn::ops
