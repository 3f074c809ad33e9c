#include "compiler/ir/builder.h"

#include <algorithm>
#include <cassert>

namespace acnn::ir {

std::vector<ValueId> Builder::emit(OpKind op, std::vector<ValueId> inputs, Attrs attrs) {
  const OpDef& def = op_def(op);
  std::vector<ValueType> in_types;
  in_types.reserve(inputs.size());
  for (ValueId v : inputs) {
    assert(v >= 0 && v < static_cast<ValueId>(g_.num_values()));
    in_types.push_back(g_.type(v));
  }
  int n = static_cast<int>(inputs.size());
  assert(n >= def.min_inputs && (def.max_inputs < 0 || n <= def.max_inputs));
  std::vector<ValueType> out_types;
  std::string err = def.infer(in_types, attrs, out_types);
  if (!err.empty()) throw ShapeError(err);
  NodeId id = g_.add_node(op, std::move(inputs), std::move(out_types), std::move(attrs), scope, loc);
  return g_.node(id).outputs;
}

ValueId Builder::input(const std::string& name, ValueType t) {
  return emit1(OpKind::Input, {}, Attrs{{"name", name}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}});
}

ValueId Builder::param(const std::string& name, ValueType t, const std::string& init, bool decay) {
  return emit1(OpKind::Param, {},
               Attrs{{"name", name}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape},
                     {"init", init}, {"decay", int64_t{decay}}});
}

ValueId Builder::state(const std::string& name, ValueType t, const std::string& init) {
  return emit1(OpKind::State, {},
               Attrs{{"name", name}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"init", init}});
}

ValueId Builder::constant(const Shape& shape, std::vector<double> values, DType dt) {
  assert(static_cast<int64_t>(values.size()) == numel(shape));
  return emit1(OpKind::Constant, {}, Attrs{{"shape", shape}, {"dtype", std::string(dtype_name(dt))}, {"values", std::move(values)}});
}

ValueId Builder::fill(const Shape& shape, double value, DType dt) {
  return emit1(OpKind::Constant, {}, Attrs{{"shape", shape}, {"dtype", std::string(dtype_name(dt))}, {"fill", value}});
}

ValueId Builder::runtime_scalar(const std::string& name) {
  return emit1(OpKind::RuntimeScalar, {}, Attrs{{"name", name}});
}

ValueId Builder::scale(ValueId a, double alpha, double beta) {
  return emit1(OpKind::Scale, {a}, Attrs{{"alpha", alpha}, {"beta", beta}});
}

ValueId Builder::reduce_sum(ValueId x, std::vector<int64_t> axes, bool keepdims) {
  return emit1(OpKind::ReduceSum, {x}, Attrs{{"axes", std::move(axes)}, {"keepdims", int64_t{keepdims}}});
}

ValueId Builder::reduce_mean(ValueId x, std::vector<int64_t> axes, bool keepdims) {
  return emit1(OpKind::ReduceMean, {x}, Attrs{{"axes", std::move(axes)}, {"keepdims", int64_t{keepdims}}});
}

ValueId Builder::broadcast_to(ValueId x, const Shape& shape) {
  if (g_.type(x).shape == shape) return x;
  return emit1(OpKind::BroadcastTo, {x}, Attrs{{"shape", shape}});
}

ValueId Builder::reshape(ValueId x, const Shape& shape) {
  if (g_.type(x).shape == shape) return x;
  return emit1(OpKind::Reshape, {x}, Attrs{{"shape", shape}});
}

ValueId Builder::unbroadcast(ValueId grad, const Shape& target_ref) {
  // Copies: `target_ref` may point into the graph, which emitting nodes grows.
  const Shape target = target_ref, gs = g_.type(grad).shape;
  if (gs == target) return grad;
  // Axes that broadcasting added (leading) or stretched (size 1 in target).
  size_t lead = gs.size() - target.size();
  std::vector<int64_t> axes;
  for (size_t i = 0; i < gs.size(); ++i)
    if (i < lead || (target[i - lead] == 1 && gs[i] != 1)) axes.push_back(static_cast<int64_t>(i));
  ValueId r = axes.empty() ? grad : reduce_sum(grad, axes, /*keepdims=*/true);
  return reshape(r, target);
}

ValueId GradContext::dout_or_zero(int i) {
  if (out_grads_[i] != kNoValue) return out_grads_[i];
  const ValueType& t = g.type(node.outputs[i]);
  return b.fill(t.shape, 0.0, t.dtype);
}

}  // namespace acnn::ir
