// In-place reuse marking (see pass.h).
#include <functional>

#include "compiler/passes/pass.h"

namespace acnn::passes {

namespace {

bool has_op(const ir::Graph& body, std::initializer_list<ir::OpKind> ops) {
  for (const ir::Node& m : body.nodes())
    for (ir::OpKind k : ops)
      if (!m.dead && m.op == k) return true;
  return false;
}

// Which inputs output 0 of n may overwrite: every input of an elementwise op;
// of an elementwise fused node without reductions (a reduction may still read
// an input while it accumulates into the output); of a conv fused node only
// the residual operand of its sum (never what the convolution reads).
std::vector<bool> overwritable(const ir::Node& n) {
  std::vector<bool> ok(n.inputs.size(), false);
  if (n.outputs.size() != 1) return ok;
  if (ir::is_elementwise(n.op)) return std::vector<bool>(n.inputs.size(), true);
  if (n.op != ir::OpKind::Fused || !n.body) return ok;
  const ir::Graph& body = *n.body;
  const std::string& kind = n.attrs.s("kind");
  if (kind == "elementwise" && !has_op(body, {ir::OpKind::ReduceSum, ir::OpKind::ReduceMean, ir::OpKind::ReduceMax}))
    return std::vector<bool>(n.inputs.size(), true);
  if (kind != "conv") return ok;
  std::vector<bool> conv_operand(body.num_values(), false);
  for (const ir::Node& m : body.nodes())
    if (!m.dead && m.op == ir::OpKind::Conv2d)
      for (ir::ValueId v : m.inputs) conv_operand[v] = true;
  for (const ir::Node& m : body.nodes()) {
    if (m.dead || m.op != ir::OpKind::Add) continue;
    for (ir::ValueId v : m.inputs) {
      const ir::Node& p = body.producer(v);
      if (p.op == ir::OpKind::Input && !conv_operand[v]) ok[p.attrs.i("index")] = true;
    }
  }
  return ok;
}

}  // namespace

bool mark_inplace(ir::Graph& g) {
  const ir::NodeId count = static_cast<ir::NodeId>(g.num_nodes());
  std::vector<std::vector<ir::NodeId>> users = g.users();
  std::vector<bool> pinned(g.num_values(), false);
  for (const auto& [name, v] : g.outputs) pinned[v] = true;
  for (const ir::StateUpdate& u : g.updates) pinned[u.value] = pinned[u.target] = true;
  // The last node that reads a value, directly or through reshape views;
  // count (past every node) when a graph output or update keeps it.
  std::vector<ir::NodeId> last(g.num_values(), -2);
  std::function<ir::NodeId(ir::ValueId)> last_use = [&](ir::ValueId v) -> ir::NodeId {
    if (last[v] != -2) return last[v];
    ir::NodeId r = pinned[v] ? count : -1;
    for (ir::NodeId u : users[v]) {
      const ir::Node& n = g.node(u);
      r = std::max(r, n.op == ir::OpKind::Reshape ? last_use(n.outputs[0]) : u);
    }
    return last[v] = r;
  };
  bool changed = false;
  for (ir::NodeId i = 0; i < count; ++i) {
    ir::Node& n = g.node(i);
    if (n.dead) continue;
    std::vector<bool> may = overwritable(n);
    int64_t chosen = -1;
    const ir::ValueType& out = g.type(n.outputs[0]);
    for (size_t k = 0; k < n.inputs.size() && chosen < 0; ++k) {
      ir::ValueId v = n.inputs[k];
      if (!may[k] || !(g.type(v) == out) || pinned[v]) continue;
      // Only buffers the executor allocates per step: not fed, persistent or constant.
      ir::ValueId root = v;
      while (g.producer(root).op == ir::OpKind::Reshape) root = g.producer(root).inputs[0];
      if (ir::op_def(g.producer(root).op).family == ir::OpFamily::Source || pinned[root]) continue;
      bool repeated = false;
      for (size_t j = 0; j < n.inputs.size(); ++j) repeated |= j != k && n.inputs[j] == v;
      if (repeated || last_use(root) != i) continue;
      chosen = static_cast<int64_t>(k);
    }
    bool had = n.attrs.has("inplace");
    if (chosen < 0) {
      if (had) n.attrs.erase("inplace"), changed = true;
      continue;
    }
    if (had && n.attrs.i("inplace") == chosen) continue;
    n.attrs.set("inplace", chosen);
    changed = true;
  }
  return changed;
}

}  // namespace acnn::passes
