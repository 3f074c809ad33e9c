// IfTraining (train_value, eval_value): the mode pass keeps one operand. Fused:
// a kernel made by the fusion pass; its types come from its body, so inference
// is never asked for (the verifier skips it) and it has no gradient (autodiff
// runs before fusion).
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

}  // namespace acnn::ops
