// Group formation of the fusion pass (see fusion.h): pattern kinds first
// (conv, batchnorm, batchnorm_backward), then the optimizer, then
// elementwise groups over what is left, merged greedily along dataflow edges
// in graph order. Every candidate group is checked for convexity.
#include <algorithm>
#include <cassert>
#include <numeric>
#include <set>

#include "compiler/passes/fusion.h"

namespace acnn::passes {

using ir::Graph;
using ir::Node;
using ir::NodeId;
using ir::OpKind;
using ir::ValueId;

namespace {

struct Former {
  Graph& g;
  std::vector<std::vector<NodeId>> users;
  std::vector<bool> pinned;
  std::vector<int> claimed;  // group index per node, -1 when free
  std::vector<FusedGroup> groups;
  // Convexity check scratch.
  std::vector<int> stamp;
  int stamp_now = 0;

  explicit Former(Graph& graph) : g(graph) {
    users = g.users();
    pinned = pinned_values(g);
    claimed.assign(g.num_nodes(), -1);
    stamp.assign(g.num_nodes(), 0);
  }

  const Node& node(NodeId i) const { return g.node(i); }
  bool is_free(NodeId i) const { return claimed[i] < 0; }
  NodeId producer(ValueId v) const { return g.value(v).producer; }

  // The only node that reads v, when v is read by exactly one node and is no
  // graph output or update.
  NodeId single_user(ValueId v) const {
    if (pinned[v] || users[v].size() != 1) return -1;
    return users[v][0];
  }

  // No path leaves `members` and re-enters it. Nodes are in topological
  // order, so a path back into the group only visits nodes before its last
  // member; `in_group(n)` says whether node n is a member.
  template <class InGroup>
  bool convex(const std::vector<NodeId>& members, InGroup in_group) {
    NodeId last = *std::max_element(members.begin(), members.end());
    ++stamp_now;
    std::vector<NodeId> stack;
    for (NodeId m : members)
      for (ValueId v : node(m).outputs)
        for (NodeId u : users[v])
          if (!in_group(u) && u < last && stamp[u] != stamp_now) {
            stamp[u] = stamp_now;
            stack.push_back(u);
          }
    while (!stack.empty()) {
      NodeId x = stack.back();
      stack.pop_back();
      for (ValueId v : node(x).outputs)
        for (NodeId u : users[v]) {
          if (in_group(u)) return false;
          if (u < last && stamp[u] != stamp_now) {
            stamp[u] = stamp_now;
            stack.push_back(u);
          }
        }
    }
    return true;
  }

  bool convex_set(const std::vector<NodeId>& members) {
    return convex(members, [&](NodeId n) { return std::find(members.begin(), members.end(), n) != members.end(); });
  }

  void claim(const std::string& kind, std::vector<NodeId> members) {
    std::sort(members.begin(), members.end());
    for (NodeId m : members) claimed[m] = static_cast<int>(groups.size());
    groups.push_back({kind, std::move(members)});
  }

  // ------------------------------------------------------------ conv

  // conv2d -> [+bias] -> [batch_norm_infer] -> [relu] -> [+residual] -> [relu],
  // every intermediate read only by the next op (oneDNN post-ops export
  // nothing but the last value).
  void conv_groups() {
    for (NodeId c = 0; c < static_cast<NodeId>(g.num_nodes()); ++c) {
      const Node& conv = node(c);
      if (conv.op != OpKind::Conv2d || !is_free(c)) continue;
      std::vector<NodeId> chain{c};
      ValueId v = conv.outputs[0];
      const ir::ValueType vt = g.type(v);
      int stage = 0;  // 1 bias, 2 bn, 3 relu, 4 residual, 5 relu
      while (true) {
        NodeId u = single_user(v);
        if (u < 0 || !is_free(u)) break;
        const Node& n = node(u);
        int next = -1;
        if (n.op == OpKind::Add && n.inputs[0] != n.inputs[1] && g.type(n.outputs[0]) == vt) {
          ValueId other = n.inputs[0] == v ? n.inputs[1] : n.inputs[0];
          const Shape& os = g.type(other).shape;
          int64_t ch = vt.shape.size() == 4 ? vt.shape[1] : -1;
          bool bias = stage == 0 && conv.inputs.size() == 2 && g.type(other).dtype == vt.dtype &&
                      (os == Shape{1, ch, 1, 1} || os == Shape{ch, 1, 1});
          if (bias) next = 1;
          else if (stage <= 3 && g.type(other) == vt) next = 4;
        } else if (n.op == OpKind::BatchNormInfer && stage <= 1 && n.inputs[0] == v) {
          next = 2;
        } else if (n.op == OpKind::Relu && (stage <= 2 || stage == 4)) {
          next = stage == 4 ? 5 : 3;
        }
        if (next < 0) break;
        chain.push_back(u);
        stage = next;
        v = n.outputs[0];
        if (stage == 5) break;
      }
      if (chain.size() >= 2 && convex_set(chain)) claim("conv", chain);
    }
  }

  // ------------------------------------------------------------ batch norm

  NodeId free_user(ValueId v, OpKind op) const {
    for (NodeId u : users[v])
      if (node(u).op == op && is_free(u)) return u;
    return -1;
  }

  // batch_norm_train -> [+residual] -> relu.
  void batchnorm_groups() {
    for (NodeId b = 0; b < static_cast<NodeId>(g.num_nodes()); ++b) {
      if (node(b).op != OpKind::BatchNormTrain || !is_free(b)) continue;
      ValueId y = node(b).outputs[0];
      std::vector<NodeId> members;
      if (NodeId r = free_user(y, OpKind::Relu); r >= 0) {
        members = {b, r};
      } else {
        for (NodeId a : users[y]) {
          const Node& add = node(a);
          if (add.op != OpKind::Add || !is_free(a) || add.inputs[0] == add.inputs[1]) continue;
          if (!(g.type(add.inputs[0]) == g.type(add.inputs[1]))) continue;
          NodeId r = free_user(add.outputs[0], OpKind::Relu);
          if (r < 0) continue;
          members = {b, a, r};
          break;
        }
      }
      if (!members.empty() && convex_set(members)) claim("batchnorm", members);
    }
  }

  // relu_backward -> batch_norm_backward (the relu gradient is its dy).
  void batchnorm_backward_groups() {
    for (NodeId b = 0; b < static_cast<NodeId>(g.num_nodes()); ++b) {
      if (node(b).op != OpKind::BatchNormBackward || !is_free(b)) continue;
      NodeId r = producer(node(b).inputs[0]);
      if (r < 0 || node(r).op != OpKind::ReluBackward || !is_free(r)) continue;
      std::vector<NodeId> members{r, b};
      if (convex_set(members)) claim("batchnorm_backward", members);
    }
  }

  // ------------------------------------------------------------ optimizer

  // Every elementwise node that only serves parameter updates: walking back
  // from the updates of Param tensors, a node joins when all readers of its
  // results already joined (or are those updates, or the update of a
  // momentum buffer that the parameter's step also reads), and its results
  // are parameter-sized or scalars, so no activation-sized work moves here.
  void optimizer_group() {
    std::set<Shape> param_shapes;
    std::vector<bool> param_update(g.num_values(), false), state_update(g.num_values(), false);
    for (const ir::StateUpdate& u : g.updates) {
      OpKind k = node(producer(u.target)).op;
      if (k == OpKind::Param) {
        param_update[u.value] = true;
        param_shapes.insert(g.type(u.target).shape);
      } else {
        state_update[u.value] = true;
      }
    }
    if (param_shapes.empty()) return;
    std::vector<bool> in(g.num_nodes(), false);
    std::vector<bool> is_output(g.num_values(), false);
    for (const auto& [name, v] : g.outputs) is_output[v] = true;
    std::vector<NodeId> members;
    for (NodeId i = static_cast<NodeId>(g.num_nodes()) - 1; i >= 0; --i) {
      const Node& n = node(i);
      if (!is_free(i) || !ir::is_elementwise(n.op)) continue;
      bool ok = true;
      for (ValueId v : n.outputs) {
        const Shape& s = g.type(v).shape;
        if (is_output[v] || (numel(s) != 1 && !param_shapes.count(s))) ok = false;
        bool used_inside = !users[v].empty();
        for (NodeId u : users[v])
          if (!in[u]) ok = false;
        if (param_update[v]) continue;
        if (state_update[v]) ok = ok && used_inside;  // a momentum buffer the step reads
        else ok = ok && used_inside && !pinned[v];
      }
      if (!ok) continue;
      in[i] = true;
      members.push_back(i);
    }
    if (members.size() >= 2) claim("optimizer", members);
  }

  // ------------------------------------------------------------ elementwise

  // reduce_sum / reduce_mean over trailing axes (spatial ones of NCHW included).
  bool trailing_reduce(const Node& n) const {
    if (n.op != OpKind::ReduceSum && n.op != OpKind::ReduceMean) return false;
    size_t rank = g.type(n.inputs[0]).shape.size();
    std::vector<int64_t> axes = n.attrs.ints("axes");
    for (int64_t& a : axes)
      if (a < 0) a += static_cast<int64_t>(rank);
    std::sort(axes.begin(), axes.end());
    if (axes.empty()) return false;
    for (size_t k = 0; k < axes.size(); ++k)
      if (axes[k] != static_cast<int64_t>(rank - axes.size() + k)) return false;
    return true;
  }

  void elementwise_groups() {
    const NodeId n = static_cast<NodeId>(g.num_nodes());
    std::vector<bool> reduce(n, false), eligible(n, false);
    for (NodeId i = 0; i < n; ++i) {
      if (!is_free(i)) continue;
      reduce[i] = trailing_reduce(node(i));
      eligible[i] = reduce[i] || ir::is_elementwise(node(i).op);
    }
    // Union-find over eligible nodes; members listed per root.
    std::vector<NodeId> parent(n);
    std::iota(parent.begin(), parent.end(), 0);
    std::vector<std::vector<NodeId>> members(n);
    for (NodeId i = 0; i < n; ++i)
      if (eligible[i]) members[i] = {i};
    auto find = [&](NodeId x) {
      while (parent[x] != x) x = parent[x] = parent[parent[x]];
      return x;
    };
    for (NodeId i = 0; i < n; ++i) {
      if (!eligible[i]) continue;
      for (ValueId v : node(i).inputs) {
        NodeId p = producer(v);
        if (p < 0 || !eligible[p] || reduce[p]) continue;  // a reduction ends its group
        NodeId a = find(p), b = find(i);
        if (a == b) continue;
        std::vector<NodeId> merged = members[a];
        merged.insert(merged.end(), members[b].begin(), members[b].end());
        std::sort(merged.begin(), merged.end());
        auto in_merged = [&](NodeId x) { return std::binary_search(merged.begin(), merged.end(), x); };
        // No member may read a reduction of the same group.
        bool ok = true;
        for (NodeId m : merged) {
          if (!reduce[m]) continue;
          for (NodeId u : users[node(m).outputs[0]])
            if (in_merged(u)) ok = false;
        }
        if (!ok || !convex(merged, in_merged)) continue;
        parent[b] = a;
        members[a] = std::move(merged);
        members[b].clear();
      }
    }
    // Horizontal merges: groups that read outputs of the same producer and
    // compute over one shape (the running mean and variance updates of a
    // batch norm) become one group, connected through what they read.
    auto uniform_shape = [&](const std::vector<NodeId>& ms, Shape* shape) {
      bool first = true;
      for (NodeId m : ms)
        for (ValueId v : node(m).outputs) {
          if (first) *shape = g.type(v).shape, first = false;
          else if (g.type(v).shape != *shape) return false;
        }
      return !first;
    };
    for (NodeId p = 0; p < n; ++p) {
      if (eligible[p]) continue;
      std::vector<NodeId> roots;
      for (ValueId v : node(p).outputs)
        for (NodeId u : users[v])
          if (eligible[u] && std::find(roots.begin(), roots.end(), find(u)) == roots.end()) roots.push_back(find(u));
      for (size_t k = 1; k < roots.size(); ++k)
        for (size_t j = 0; j < k; ++j) {
          NodeId a = find(roots[j]), b = find(roots[k]);
          Shape sa, sb;
          if (a == b || !uniform_shape(members[a], &sa) || !uniform_shape(members[b], &sb) || sa != sb) continue;
          std::vector<NodeId> merged = members[a];
          merged.insert(merged.end(), members[b].begin(), members[b].end());
          std::sort(merged.begin(), merged.end());
          auto in_merged = [&](NodeId x) { return std::binary_search(merged.begin(), merged.end(), x); };
          if (!convex(merged, in_merged)) continue;
          parent[b] = a;
          members[a] = std::move(merged);
          members[b].clear();
          break;
        }
    }
    for (NodeId i = 0; i < n; ++i)
      if (eligible[i] && find(i) == i && members[i].size() >= 2) claim("elementwise", members[i]);
  }
};

}  // namespace

bool fuse(Graph& g, const FusionOptions& opts) {
  g.compact();
  g.toposort();
  Former f(g);
  if (opts.conv) f.conv_groups();
  if (opts.batchnorm) {
    f.batchnorm_groups();
    f.batchnorm_backward_groups();
  }
  if (opts.optimizer) f.optimizer_group();
  if (opts.elementwise) f.elementwise_groups();
  if (f.groups.empty()) return false;
  // Groups in order of their first member, so fused nodes are numbered in graph order.
  std::stable_sort(f.groups.begin(), f.groups.end(),
                   [](const FusedGroup& a, const FusedGroup& b) { return a.members.front() < b.members.front(); });
  apply_groups(g, f.groups);
  return true;
}

}  // namespace acnn::passes
