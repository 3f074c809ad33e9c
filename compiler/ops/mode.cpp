// IfTraining (train_value, eval_value): the mode pass keeps one operand. Fused:
// a kernel made by the fusion pass; its types come from its body, so inference
// is never asked for (the verifier skips it) and it has no gradient (autodiff
// runs before fusion). Its reference kernel interprets the body node by node
// on fresh temporaries and copies the body's outputs out at the end, so an
// output may share its buffer with an input (in-place reuse).
//
// IfTraining's kernel copies input 0 when ctx.training, else input 1; its
// gradient goes to both operands (each gets dy: the mode pass removes the
// branch that is not taken, and with it that gradient).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "compiler/ir/graph.h"
#include "compiler/ops/common.h"
#include "runtime/tensor.h"

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

void ref_Fused(const Node& n, const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, ExecContext& ctx) {
  if (!n.body) kernel_not_callable(n, "a fused node without a body");
  const ir::Graph& body = *n.body;
  std::vector<Tensor> values(body.num_values());
  for (const Node& m : body.nodes()) {
    if (m.dead) continue;
    if (m.op == ir::OpKind::Input) {
      values[m.outputs[0]] = *in[m.attrs.i("index")];  // shares the storage
      continue;
    }
    std::vector<const Tensor*> ins;
    for (ValueId v : m.inputs) ins.push_back(&values[v]);
    std::vector<Tensor> outs;
    for (ValueId v : m.outputs) outs.emplace_back(body.type(v).dtype, body.type(v).shape);
    std::vector<Tensor*> out_ptrs;
    for (Tensor& t : outs) out_ptrs.push_back(&t);
    ir::op_def(m.op).ref(m, ins, out_ptrs, ctx);
    for (size_t k = 0; k < m.outputs.size(); ++k) values[m.outputs[k]] = std::move(outs[k]);
  }
  for (size_t k = 0; k < out.size(); ++k) {
    const Tensor& src = values[body.outputs[k].second];
    std::memmove(out[k]->raw(), src.raw(), src.bytes());
  }
}

}  // namespace acnn::ops
