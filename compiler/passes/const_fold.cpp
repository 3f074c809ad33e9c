// Constant folding (see pass.h).
#include "compiler/ir/op.h"
#include "compiler/passes/pass.h"
#include "runtime/tensor.h"

namespace acnn::passes {

namespace {

bool foldable(const ir::Node& n) {
  if (n.inputs.empty() || n.outputs.size() != 1) return false;
  switch (ir::op_def(n.op).family) {
    case ir::OpFamily::Source:
    case ir::OpFamily::Mode:
    case ir::OpFamily::Fused:
      return false;
    default:
      return true;
  }
}

Tensor constant_tensor(const ir::Graph& g, const ir::Node& c) {
  const ir::ValueType& t = g.type(c.outputs[0]);
  Tensor r(t.dtype, t.shape);
  std::vector<const Tensor*> in;
  std::vector<Tensor*> out{&r};
  ExecContext ctx;
  ir::op_def(ir::OpKind::Constant).ref(c, in, out, ctx);
  return r;
}

}  // namespace

bool const_fold(ir::Graph& g, int64_t max_elements) {
  bool changed = false;
  for (ir::Node& n : g.nodes()) {
    if (n.dead || !foldable(n)) continue;
    const ir::ValueType t = g.type(n.outputs[0]);
    if (!is_float(t.dtype) || numel(t.shape) > max_elements) continue;
    bool all_constant = true;
    for (ir::ValueId v : n.inputs) all_constant &= g.producer(v).op == ir::OpKind::Constant && is_float(g.type(v).dtype);
    if (!all_constant) continue;
    std::vector<Tensor> ins;
    for (ir::ValueId v : n.inputs) ins.push_back(constant_tensor(g, g.producer(v)));
    std::vector<const Tensor*> in_ptrs;
    for (const Tensor& x : ins) in_ptrs.push_back(&x);
    Tensor y(t.dtype, t.shape);
    std::vector<Tensor*> out{&y};
    ExecContext ctx;
    ctx.training = false;
    ir::op_def(n.op).ref(n, in_ptrs, out, ctx);
    std::vector<double> values(static_cast<size_t>(y.numel()));
    bool uniform = true;
    for (int64_t i = 0; i < y.numel(); ++i) {
      values[i] = y.at(i);
      uniform &= values[i] == values[0];
    }
    Attrs a{{"shape", t.shape}, {"dtype", std::string(dtype_name(t.dtype))}};
    if (uniform && !values.empty()) a.set("fill", values[0]);
    else a.set("values", std::move(values));
    n.op = ir::OpKind::Constant;
    n.inputs.clear();
    n.attrs = std::move(a);
    changed = true;
  }
  if (changed) dce(g);
  return changed;
}

}  // namespace acnn::passes
