// ir::Builder appends nodes to a Graph, inferring output types through the op
// table and throwing ShapeError with a user-facing message when inference
// fails (the elaborator turns it into a diagnostic at the DSL line). It also
// offers one-line helpers for the ops that gradient rules, the training-graph
// builder and passes use most. GradContext is what a gradient rule sees.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace acnn::ir {

struct ShapeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Builder {
 public:
  explicit Builder(Graph& g) : g_(g) {}
  Graph& graph() { return g_; }
  const ValueType& type(ValueId v) const { return g_.type(v); }
  const Shape& shape(ValueId v) const { return g_.type(v).shape; }

  // Scope path and DSL location stamped on every node emitted from now on.
  std::string scope;
  SourceLoc loc;

  std::vector<ValueId> emit(OpKind op, std::vector<ValueId> inputs, Attrs attrs = {});
  ValueId emit1(OpKind op, std::vector<ValueId> inputs, Attrs attrs = {}) {
    return emit(op, std::move(inputs), std::move(attrs))[0];
  }

  // Sources.
  ValueId input(const std::string& name, ValueType t);
  ValueId param(const std::string& name, ValueType t, const std::string& init, bool decay);
  ValueId state(const std::string& name, ValueType t, const std::string& init);
  ValueId constant(const Shape& shape, std::vector<double> values, DType dt = DType::F32);
  ValueId fill(const Shape& shape, double value, DType dt = DType::F32);
  ValueId scalar(double value, DType dt = DType::F32) { return fill({}, value, dt); }
  ValueId runtime_scalar(const std::string& name);

  // Elementwise and shape helpers.
  ValueId add(ValueId a, ValueId b) { return emit1(OpKind::Add, {a, b}); }
  ValueId sub(ValueId a, ValueId b) { return emit1(OpKind::Sub, {a, b}); }
  ValueId mul(ValueId a, ValueId b) { return emit1(OpKind::Mul, {a, b}); }
  ValueId div(ValueId a, ValueId b) { return emit1(OpKind::Div, {a, b}); }
  ValueId neg(ValueId a) { return emit1(OpKind::Neg, {a}); }
  ValueId scale(ValueId a, double alpha, double beta = 0.0);
  ValueId reduce_sum(ValueId x, std::vector<int64_t> axes, bool keepdims);
  ValueId reduce_mean(ValueId x, std::vector<int64_t> axes, bool keepdims);
  ValueId broadcast_to(ValueId x, const Shape& shape);
  ValueId reshape(ValueId x, const Shape& shape);
  // Sums a gradient of a broadcast result back to `target` (numpy rules).
  ValueId unbroadcast(ValueId grad, const Shape& target);

 private:
  Graph& g_;
};

class GradContext {
 public:
  GradContext(Builder& b, const Graph& g, const Node& node, std::vector<ValueId> out_grads,
              std::vector<bool> needs)
      : b(b), g(g), node(node), out_grads_(std::move(out_grads)), needs_(std::move(needs)),
        in_grads_(node.inputs.size(), kNoValue) {}

  Builder& b;
  const Graph& g;
  const Node& node;

  ValueId in(int i) const { return node.inputs[i]; }
  ValueId out(int i) const { return node.outputs[i]; }
  const Shape& in_shape(int i) const { return g.type(node.inputs[i]).shape; }
  const Attrs& attrs() const { return node.attrs; }
  // Gradient flowing into output i, or kNoValue when none does.
  ValueId dout(int i) const { return out_grads_[i]; }
  // Same, but a zero tensor when none does.
  ValueId dout_or_zero(int i);
  // Whether input i needs a gradient (it depends on a parameter).
  bool needs(int i) const { return needs_[i]; }
  void set_din(int i, ValueId grad) { in_grads_[i] = grad; }
  const std::vector<ValueId>& in_grads() const { return in_grads_; }

 private:
  std::vector<ValueId> out_grads_;
  std::vector<bool> needs_;
  std::vector<ValueId> in_grads_;
};

}  // namespace acnn::ir
