// Rematerialization for training graphs (see pass.h). The backward pass is
// every node placed after the loss: autodiff appends it there and later passes
// keep the order stably.
#include <algorithm>
#include <cassert>
#include <tuple>

#include "compiler/passes/pass.h"

namespace acnn::passes {

namespace {

using ir::NodeId;
using ir::OpKind;
using ir::ValueId;

// A node remat() adds: it runs right before the node at `anchor` (an
// original position); `phase` orders the clones anchored at one place
// (a relu recomputation before the slices that read it).
struct Clone {
  NodeId id;
  NodeId anchor;
  int phase;
};

class Remat {
 public:
  Remat(ir::Graph& g, int64_t min_bytes) : g_(g), min_bytes_(min_bytes), users_(g.users()), pinned_(g.num_values(), false) {
    for (const auto& [name, v] : g.outputs) pinned_[v] = true;
    for (const ir::StateUpdate& u : g.updates) pinned_[u.target] = pinned_[u.value] = true;
  }

  bool run() {
    ValueId loss = g_.output("loss");
    if (loss == ir::kNoValue) return false;
    backward_from_ = g_.value(loss).producer + 1;
    original_ = static_cast<NodeId>(g_.num_nodes());
    // Slices first: the relu recomputation below then serves their clones too.
    for (NodeId i = 0; i < original_; ++i)
      if (!g_.node(i).dead && g_.node(i).op == OpKind::Slice) remat_slice(i);
    for (NodeId i = 0; i < original_; ++i)
      if (!g_.node(i).dead && g_.node(i).op == OpKind::Relu) remat_bn_relu(i);
    if (clones_.empty()) return false;
    reorder();
    return true;
  }

 private:
  bool late(NodeId user) const { return anchor_of(user) >= backward_from_; }
  // Clones have the ids after the original nodes, in the order made.
  NodeId anchor_of(NodeId n) const { return n < original_ ? n : clones_[n - original_].anchor; }
  int phase_of(NodeId n) const { return n < original_ ? 2 : clones_[n - original_].phase; }

  // Feature maps (N, C, spatial...) with more than one position (not the
  // pooled vectors of SE/SK attention) of at least min_bytes_.
  bool worth_it(ValueId v) const {
    const ir::ValueType& t = g_.type(v);
    int64_t positions = 1, elements = 1;
    for (size_t i = 0; i < t.shape.size(); ++i) {
      elements *= t.shape[i];
      if (i >= 2) positions *= t.shape[i];
    }
    return t.shape.size() >= 3 && positions > 1 && elements * static_cast<int64_t>(dtype_size(t.dtype)) >= min_bytes_;
  }

  // The users of v in the backward pass, and whether any reads it before.
  std::vector<NodeId> late_users(ValueId v, bool* early) const {
    std::vector<NodeId> r;
    *early = false;
    for (NodeId u : users_[v]) {
      if (late(u)) r.push_back(u);
      else *early = true;
    }
    return r;
  }
  // Where the first of `users` runs: the smallest (anchor, phase).
  std::pair<NodeId, int> first_of(const std::vector<NodeId>& users) const {
    std::pair<NodeId, int> best{static_cast<NodeId>(g_.num_nodes()) + 1, 0};
    for (NodeId u : users) best = std::min(best, std::make_pair(anchor_of(u), phase_of(u)));
    return best;
  }
  // Whether value v is kept (read) at or after position `at` anyway.
  bool kept_until(ValueId v, NodeId at) const {
    for (NodeId u : users_[v])
      if (anchor_of(u) >= at) return true;
    return false;
  }

  // A node computing `op` of `inputs` with the attributes, scope, location
  // and first output type of node `like`; it runs right before `anchor`.
  NodeId add_clone(NodeId like, OpKind op, std::vector<ValueId> inputs, NodeId anchor, int phase) {
    const ir::Node proto = g_.node(like);  // a copy: add_node may move the nodes
    NodeId id = g_.add_node(op, inputs, {g_.type(proto.outputs[0])}, proto.attrs, proto.scope, proto.loc);
    assert(id == original_ + static_cast<NodeId>(clones_.size()));
    clones_.push_back({id, anchor, phase});
    users_.resize(g_.num_values());
    for (ValueId in : inputs) users_[in].push_back(id);
    return id;
  }

  // Points the `users` of `from` at `to` (and keeps users_ current).
  void redirect(ValueId from, ValueId to, const std::vector<NodeId>& users) {
    for (NodeId u : users) {
      for (ValueId& in : g_.node(u).inputs)
        if (in == from) in = to;
      auto& fu = users_[from];
      fu.erase(std::remove(fu.begin(), fu.end(), u), fu.end());
      users_[to].push_back(u);
    }
  }

  // s = slice(x) read by forward and backward nodes: a copy of part of x,
  // recomputed for the backward readers when x is kept until then anyway.
  void remat_slice(NodeId id) {
    const ir::Node& n = g_.node(id);
    ValueId s = n.outputs[0], x = n.inputs[0];
    bool early = false;
    std::vector<NodeId> late = late_users(s, &early);
    if (pinned_[s] || !worth_it(s) || !early || late.empty()) return;
    NodeId at = first_of(late).first;
    if (!kept_until(x, at)) return;
    NodeId c = add_clone(id, OpKind::Slice, {x}, at, 1);
    redirect(s, g_.node(c).outputs[0], late);
  }

  // Whether v is a batch_norm_train output read once, whose input and batch
  // statistics (which the BN gradient keeps) are still kept at `at`.
  bool recomputable_bn(ValueId v, NodeId at) const {
    const ir::Node& bn = g_.producer(v);
    if (bn.op != OpKind::BatchNormTrain || bn.outputs[0] != v || users_[v].size() != 1) return false;
    return kept_until(bn.inputs[0], at) && kept_until(bn.outputs[1], at) && kept_until(bn.outputs[2], at);
  }
  // Recomputes the batch_norm_train output v as batch_norm_infer(x, gamma,
  // beta, mean, var) right before `at`.
  ValueId recompute_bn(ValueId v, NodeId at) {
    NodeId bn = g_.value(v).producer;
    const ir::Node& n = g_.node(bn);
    std::vector<ValueId> in = {n.inputs[0], n.inputs[1], n.inputs[2], n.outputs[1], n.outputs[2]};
    return g_.node(add_clone(bn, OpKind::BatchNormInfer, in, at, 0)).outputs[0];
  }

  // r = relu(y) or relu(y + z), y a batch_norm_train output read once: the
  // backward pass keeps the BN's input, mean and var for its gradient, so r is
  // recomputed from them (batch_norm_infer [+ z] + relu) right before its
  // first backward reader instead of being kept. The residual z must be a
  // value kept until then anyway or itself such a BN output (a projection
  // shortcut). Nodes are visited in forward order, so of two chained residual
  // blocks only the first is recomputed: the second's z is then no longer
  // kept, and recomputing every block output at the start of the backward
  // pass would keep them all alive again.
  void remat_bn_relu(NodeId id) {
    ValueId r = g_.node(id).outputs[0], pre = g_.node(id).inputs[0];
    bool early = false;
    std::vector<NodeId> late = late_users(r, &early);
    if (pinned_[r] || !worth_it(r) || !early || late.empty() || users_[pre].size() != 1) return;
    const NodeId at = first_of(late).first;
    const ir::Node& p = g_.producer(pre);
    const bool sum = p.op == OpKind::Add;
    std::vector<ValueId> operands = sum ? p.inputs : std::vector<ValueId>{pre};
    std::vector<bool> recompute;
    for (ValueId v : operands) {
      recompute.push_back(recomputable_bn(v, at));
      if (!recompute.back() && (!sum || !kept_until(v, at))) return;
    }
    if (std::find(recompute.begin(), recompute.end(), true) == recompute.end()) return;
    const NodeId add = g_.value(pre).producer;
    for (size_t k = 0; k < operands.size(); ++k)
      if (recompute[k]) operands[k] = recompute_bn(operands[k], at);
    ValueId value = sum ? g_.node(add_clone(add, OpKind::Add, operands, at, 0)).outputs[0] : operands[0];
    NodeId c = add_clone(id, OpKind::Relu, {value}, at, 0);
    redirect(r, g_.node(c).outputs[0], late);
  }

  // Original nodes keep their order; each clone runs right before its anchor.
  void reorder() {
    std::stable_sort(clones_.begin(), clones_.end(), [](const Clone& a, const Clone& b) {
      return std::tie(a.anchor, a.phase) < std::tie(b.anchor, b.phase);
    });
    std::vector<NodeId> order;
    order.reserve(g_.num_nodes());
    size_t k = 0;
    for (NodeId i = 0; i < original_; ++i) {
      for (; k < clones_.size() && clones_[k].anchor == i; ++k) order.push_back(clones_[k].id);
      order.push_back(i);
    }
    for (; k < clones_.size(); ++k) order.push_back(clones_[k].id);
    g_.reorder(order);
  }

  ir::Graph& g_;
  const int64_t min_bytes_;
  std::vector<std::vector<NodeId>> users_;
  std::vector<bool> pinned_;
  NodeId backward_from_ = 0;
  NodeId original_ = 0;        // nodes before remat; clones are numbered after them
  std::vector<Clone> clones_;  // by id - original_ until reorder() sorts them
};

}  // namespace

bool remat(ir::Graph& g, int64_t min_bytes) { return Remat(g, min_bytes).run(); }

}  // namespace acnn::passes
