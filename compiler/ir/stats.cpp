#include "compiler/ir/stats.h"

#include <map>

namespace acnn::ir {

int64_t node_macs(const Graph& g, const Node& n) {
  switch (n.op) {
    case OpKind::Conv2d: {
      const Shape& w = g.type(n.inputs[1]).shape;
      return numel(g.type(n.outputs[0]).shape) * w[1] * w[2] * w[3];
    }
    case OpKind::Matmul: {
      const Shape& a = g.type(n.inputs[0]).shape;
      int64_t k = n.attrs.i("transpose_a", 0) ? a[0] : a[1];
      return numel(g.type(n.outputs[0]).shape) * k;
    }
    case OpKind::Conv2dBackwardData: {
      const Shape& w = g.type(n.inputs[1]).shape;
      return numel(g.type(n.inputs[0]).shape) * w[1] * w[2] * w[3];
    }
    case OpKind::Conv2dBackwardWeight: {
      const Shape& w = n.attrs.ints("weight_shape");
      return numel(g.type(n.inputs[1]).shape) * w[1] * w[2] * w[3];
    }
    case OpKind::Fused: {
      int64_t total = 0;
      if (n.body)
        for (const Node& inner : n.body->nodes())
          if (!inner.dead) total += node_macs(*n.body, inner);
      return total;
    }
    default: return 0;
  }
}

GraphStats graph_stats(const Graph& g) {
  GraphStats s;
  std::map<std::string, size_t> index;
  for (const Node& n : g.nodes()) {
    if (n.dead) continue;
    ++s.nodes;
    std::string top;
    if (n.op == OpKind::Param || n.op == OpKind::State) {
      const std::string& name = n.attrs.s("name");
      top = name.substr(0, name.find('.'));
      int64_t count = numel(g.type(n.outputs[0]).shape);
      (n.op == OpKind::Param ? s.params : s.state) += count;
      if (n.op == OpKind::State) continue;
    } else {
      top = n.scope.substr(0, n.scope.find('.'));
    }
    if (n.op == OpKind::Input || n.op == OpKind::Constant || n.op == OpKind::RuntimeScalar) continue;
    auto it = index.find(top);
    if (it == index.end()) {
      it = index.emplace(top, s.scopes.size()).first;
      s.scopes.push_back(ScopeStats{top, 0, 0, {}});
    }
    ScopeStats& sc = s.scopes[it->second];
    if (n.op == OpKind::Param) {
      sc.params += numel(g.type(n.outputs[0]).shape);
      continue;
    }
    int64_t m = node_macs(g, n);
    sc.macs += m;
    s.macs += m;
    if (!n.outputs.empty()) sc.output = g.type(n.outputs[0]).shape;
  }
  return s;
}

}  // namespace acnn::ir
