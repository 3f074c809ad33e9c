// Fused: types come from the body (inference is never asked for: the verifier
// skips fused nodes), there is no gradient (autodiff runs before fusion), and
// the reference kernel interprets the body node by node on the reference
// kernels (see fused.h), in temporaries, copying the body's outputs out at the
// end so that an output may share its buffer with an input.
#include "compiler/ops/fused.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "compiler/ir/op.h"
#include "compiler/ops/common.h"

namespace acnn::ops {

std::string infer_Fused(const std::vector<ValueType>&, const Attrs&, std::vector<ValueType>&) {
  return "fused nodes carry their own types";
}

void grad_Fused(GradContext& g) {
  std::fprintf(stderr, "internal error: autodiff reached a fused node (autodiff runs before fusion)\n");
  std::abort();
}

std::vector<ir::NodeId> body_inputs(const ir::Graph& body, size_t num_inputs) {
  std::vector<ir::NodeId> r(num_inputs, -1);
  for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(body.num_nodes()); ++id) {
    const Node& n = body.node(id);
    if (n.dead || n.op != ir::OpKind::Input) continue;
    int64_t i = n.attrs.i("index", -1);
    if (i >= 0 && i < static_cast<int64_t>(num_inputs)) r[i] = id;
  }
  return r;
}

std::vector<std::string> verify_fused(const ir::Graph& outer, const ir::Node& f) {
  std::vector<std::string> p;
  if (!f.body) return {"fused node without a body"};
  const ir::Graph& b = *f.body;
  std::vector<ir::NodeId> ins = body_inputs(b, f.inputs.size());
  for (size_t i = 0; i < ins.size(); ++i) {
    if (ins[i] < 0) {
      p.push_back("fused input " + std::to_string(i) + " has no body Input");
      continue;
    }
    if (!(b.type(b.node(ins[i]).outputs[0]) == outer.type(f.inputs[i])))
      p.push_back("fused input " + std::to_string(i) + " differs in type from its body Input");
  }
  if (b.outputs.size() != f.outputs.size()) p.push_back("the body has another number of outputs than the node");
  for (size_t k = 0; k < b.outputs.size() && k < f.outputs.size(); ++k)
    if (!(b.type(b.outputs[k].second) == outer.type(f.outputs[k])))
      p.push_back("fused output " + std::to_string(k) + " differs in type from body output `" + b.outputs[k].first + "`");
  for (const Node& n : b.nodes()) {
    if (n.dead) continue;
    if (n.op == ir::OpKind::Param || n.op == ir::OpKind::State) p.push_back("a body holds a parameter or state");
    if (n.op == ir::OpKind::Fused) p.push_back("fused nodes nest");
  }
  for (std::string& s : ir::verify(b)) p.push_back("body: " + s);
  return p;
}

void run_body_reference(const ir::Graph& body, const std::vector<const Tensor*>& inputs,
                        const std::vector<Tensor*>& outputs, ExecContext& ctx) {
  const size_t nv = body.num_values();
  std::vector<Tensor> values(nv);  // inputs share the caller's storage; the rest are temporaries
  std::vector<int> uses(nv, 0);
  for (const Node& n : body.nodes())
    if (!n.dead)
      for (ir::ValueId v : n.inputs) ++uses[v];
  for (const auto& [name, v] : body.outputs) uses[v] += 1 << 20;
  for (const Node& n : body.nodes()) {
    if (n.dead) continue;
    if (n.op == ir::OpKind::Input) {
      int64_t i = n.attrs.i("index", -1);
      if (i < 0 || i >= static_cast<int64_t>(inputs.size())) kernel_not_callable(n, "a body Input has no fused input");
      values[n.outputs[0]] = *inputs[i];
      continue;
    }
    std::vector<const Tensor*> ins;
    for (ir::ValueId v : n.inputs) ins.push_back(&values[v]);
    std::vector<Tensor> outs;
    for (ir::ValueId v : n.outputs) outs.emplace_back(body.type(v).dtype, body.type(v).shape);
    std::vector<Tensor*> out_ptrs;
    for (Tensor& t : outs) out_ptrs.push_back(&t);
    ir::op_def(n.op).ref(n, ins, out_ptrs, ctx);
    for (size_t k = 0; k < n.outputs.size(); ++k) values[n.outputs[k]] = std::move(outs[k]);
    for (ir::ValueId v : n.inputs)
      if (--uses[v] == 0) values[v] = Tensor();
  }
  // Outputs are written only now, after every read of the inputs: an output
  // may share its buffer with an input (the executor's in-place reuse).
  for (size_t k = 0; k < body.outputs.size(); ++k) {
    const Tensor& src = values[body.outputs[k].second];
    std::memmove(outputs[k]->raw(), src.raw(), outputs[k]->bytes());
  }
}

void ref_Fused(const Node& n, const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, ExecContext& ctx) {
  if (!n.body) kernel_not_callable(n, "a fused node without a body");
  run_body_reference(*n.body, in, out, ctx);
}

}  // namespace acnn::ops
