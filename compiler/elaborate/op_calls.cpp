// The DSL forms of the primitive ops: how `relu(x)`, `op.conv2d(x, w, stride:
// 2)` or `pad(x, 1, mode: "reflect")` turn into IR nodes. Convenience forms
// (an int for a pair, `-1` in reshape, `split`, `global_avg_pool`, `flatten`,
// `upsample`) are expanded here; everything else maps one to one onto ops.def.

#include "compiler/elaborate/builtins.h"

namespace acnn::elab {

namespace {

using Impl = Elaborator::Impl;
using ir::OpKind;

// A tensor operand, or a number promoted to a scalar constant of `like`'s dtype.
ir::ValueId operand(Impl& I, const BoundArgs& a, const std::string& name, DType like) {
  const ValuePtr& v = a.get(name);
  if (v->kind == ValueKind::Tensor) return v->tensor;
  if (v->kind == ValueKind::Int || v->kind == ValueKind::Float) {
    ir::Builder& b = I.need_graph(a.call_loc(), a.fn().c_str());
    b.loc = a.call_loc();
    return b.fill({}, as_float(v, a.loc(name), ""), like);
  }
  fail(a.loc(name), "argument `" + name + "` of `" + a.fn() + "` must be a tensor or a number, got " + describe(*v));
}

BuiltinFn unary(OpKind k) {
  return [k](Impl& I, Frame&, CallArgs& c) -> ValuePtr {
    BoundArgs a(ir::op_name(k), c, {{"x", true}});
    return make_tensor(I.emit1(k, {a.tensor("x")}, {}, c.loc));
  };
}

BuiltinFn binary(OpKind k) {
  return [k](Impl& I, Frame&, CallArgs& c) -> ValuePtr {
    BoundArgs a(ir::op_name(k), c, {{"a", true}, {"b", true}});
    const ValuePtr &va = a.get("a"), &vb = a.get("b");
    if (va->kind != ValueKind::Tensor && vb->kind != ValueKind::Tensor)
      fail(c.loc, std::string("`") + ir::op_name(k) + "` needs at least one tensor operand");
    DType dt = I.ttype(va->kind == ValueKind::Tensor ? *va : *vb).dtype;
    return make_tensor(I.emit1(k, {operand(I, a, "a", dt), operand(I, a, "b", dt)}, {}, c.loc));
  };
}

BuiltinFn reduction(OpKind k) {
  return [k](Impl& I, Frame&, CallArgs& c) -> ValuePtr {
    BoundArgs a(ir::op_name(k), c, {{"x", true}, {"axes", true}, {"keepdims", false}});
    return make_tensor(I.emit1(k, {a.tensor("x")},
                               Attrs{{"axes", a.ints("axes", {})}, {"keepdims", int64_t{a.b("keepdims", false)}}}, c.loc));
  };
}

ValuePtr conv2d(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("conv2d", c, {{"x", true}, {"w", true}, {"b", false}, {"stride", false}, {"pad", false},
                            {"dilation", false}, {"groups", false}});
  std::vector<ir::ValueId> in = {a.tensor("x"), a.tensor("w")};
  if (a.has("b") && a.get("b")->kind != ValueKind::None) in.push_back(a.tensor("b"));
  Attrs attrs{{"stride", a.pair("stride", {1, 1})}, {"pad", a.pad4("pad")}, {"dilation", a.pair("dilation", {1, 1})},
              {"groups", a.i("groups", 1)}};
  return make_tensor(I.emit1(OpKind::Conv2d, in, attrs, c.loc));
}

ValuePtr matmul(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("matmul", c, {{"a", true}, {"b", true}, {"transpose_a", false}, {"transpose_b", false}});
  return make_tensor(I.emit1(OpKind::Matmul, {a.tensor("a"), a.tensor("b")},
                             Attrs{{"transpose_a", int64_t{a.b("transpose_a", false)}},
                                   {"transpose_b", int64_t{a.b("transpose_b", false)}}},
                             c.loc));
}

BuiltinFn pool(OpKind k) {
  return [k](Impl& I, Frame&, CallArgs& c) -> ValuePtr {
    bool avg = k == OpKind::AvgPool2d;
    std::vector<ParamSpec> ps = {{"x", true}, {"kernel", true}, {"stride", false}, {"pad", false}};
    if (avg) ps.push_back({"count_include_pad", false});
    BoundArgs a(ir::op_name(k), c, ps);
    std::vector<int64_t> kernel = a.pair("kernel", {});
    Attrs attrs{{"kernel", kernel}, {"stride", a.pair("stride", kernel)}, {"pad", a.pad4("pad")}};
    if (avg) attrs.set("count_include_pad", int64_t{a.b("count_include_pad", true)});
    return make_tensor(I.emit1(k, {a.tensor("x")}, attrs, c.loc));
  };
}

ValuePtr global_avg_pool(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("global_avg_pool", c, {{"x", true}});
  ir::ValueId x = a.tensor("x");
  if (I.graph->type(x).shape.size() != 4)
    fail(a.loc("x"), "global_avg_pool needs an [N,C,H,W] tensor, got " + shape_str(I.graph->type(x).shape));
  return make_tensor(I.emit1(OpKind::ReduceMean, {x}, Attrs{{"axes", std::vector<int64_t>{2, 3}}, {"keepdims", int64_t{1}}}, c.loc));
}

ValuePtr upsample(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("upsample", c, {{"x", true}, {"scale", false}, {"mode", false}});
  std::string mode = a.s("mode", "nearest");
  if (mode != "nearest" && mode != "bilinear")
    fail(a.loc("mode"), "upsample mode must be \"nearest\" or \"bilinear\"", did_you_mean(mode, {"nearest", "bilinear"}));
  OpKind k = mode == "nearest" ? OpKind::UpsampleNearest : OpKind::UpsampleBilinear;
  return make_tensor(I.emit1(k, {a.tensor("x")}, Attrs{{"scale", a.i("scale", 2)}}, c.loc));
}

ValuePtr reshape(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("reshape", c, {{"x", true}, {"shape", true}});
  ir::ValueId x = a.tensor("x");
  Shape s = a.ints("shape", {});
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer_at >= 0) fail(a.loc("shape"), "reshape() allows one -1");
      infer_at = static_cast<int64_t>(i);
    } else {
      if (s[i] <= 0) fail(a.loc("shape"), "reshape() dimensions must be positive or -1");
      known *= s[i];
    }
  }
  int64_t total = numel(I.graph->type(x).shape);
  if (infer_at >= 0) {
    if (total % known) fail(a.loc("shape"), "cannot reshape " + shape_str(I.graph->type(x).shape) + " to " + shape_str(s));
    s[infer_at] = total / known;
  }
  return make_tensor(I.emit1(OpKind::Reshape, {x}, Attrs{{"shape", s}}, c.loc));
}

ValuePtr flatten(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("flatten", c, {{"x", true}});
  ir::ValueId x = a.tensor("x");
  const Shape& s = I.graph->type(x).shape;
  if (s.empty()) fail(a.loc("x"), "flatten() needs a tensor with a batch axis");
  return make_tensor(I.emit1(OpKind::Reshape, {x}, Attrs{{"shape", Shape{s[0], numel(s) / s[0]}}}, c.loc));
}

ValuePtr concat(Impl& I, Frame&, CallArgs& c) {
  // concat([a, b], axis: 1) or concat(a, b, axis: 1)
  std::vector<ir::ValueId> in;
  auto add = [&](const ValuePtr& v, SourceLoc loc) {
    if (v->kind != ValueKind::Tensor) fail(loc, "concat() takes tensors, got " + describe(*v));
    in.push_back(v->tensor);
  };
  for (size_t i = 0; i < c.pos.size(); ++i) {
    if (c.pos[i]->kind == ValueKind::List)
      for (const auto& item : c.pos[i]->items) add(item, c.pos_locs[i]);
    else
      add(c.pos[i], c.pos_locs[i]);
  }
  int64_t axis = 1;
  for (size_t i = 0; i < c.kw.size(); ++i) {
    if (c.kw[i].first != "axis") fail(c.kw_locs[i], "`concat` has no parameter `" + c.kw[i].first + "`", did_you_mean(c.kw[i].first, {"axis"}));
    axis = as_int(c.kw[i].second, c.kw_locs[i], "axis");
  }
  if (in.empty()) fail(c.loc, "concat() needs at least one tensor");
  return make_tensor(I.emit1(OpKind::Concat, in, Attrs{{"axis", axis}}, c.loc));
}

ValuePtr slice(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("slice", c, {{"x", true}, {"axis", true}, {"begin", true}, {"end", true}});
  return make_tensor(I.emit1(OpKind::Slice, {a.tensor("x")},
                             Attrs{{"axis", a.i("axis", 0)}, {"begin", a.i("begin", 0)}, {"end", a.i("end", 0)}}, c.loc));
}

ValuePtr split(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("split", c, {{"x", true}, {"parts", true}, {"axis", false}});
  ir::ValueId x = a.tensor("x");
  const Shape& s = I.graph->type(x).shape;
  int64_t axis = a.i("axis", 1), parts = a.i("parts", 2);
  int64_t ax = axis < 0 ? axis + static_cast<int64_t>(s.size()) : axis;
  if (ax < 0 || ax >= static_cast<int64_t>(s.size())) fail(a.loc("axis"), "split() axis out of range for " + shape_str(s));
  if (parts < 1 || s[ax] % parts)
    fail(a.loc("parts"), "split() cannot cut axis " + std::to_string(ax) + " of size " + std::to_string(s[ax]) + " into " +
                             std::to_string(parts) + " equal parts");
  int64_t step = s[ax] / parts;
  std::vector<ValuePtr> items;
  for (int64_t p = 0; p < parts; ++p)
    items.push_back(make_tensor(I.emit1(OpKind::Slice, {x},
                                        Attrs{{"axis", ax}, {"begin", p * step}, {"end", (p + 1) * step}}, c.loc)));
  return make_list(std::move(items));
}

ValuePtr pad(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("pad", c, {{"x", true}, {"pads", true}, {"mode", false}});
  ir::ValueId x = a.tensor("x");
  size_t rank = I.graph->type(x).shape.size();
  std::vector<int64_t> p = a.ints("pads", {});
  std::vector<int64_t> full(2 * rank, 0);
  if (p.size() == 2 * rank) {
    full = p;
  } else if (rank == 4 && (p.size() == 1 || p.size() == 2 || p.size() == 4)) {
    std::vector<int64_t> q = a.pad4("pads");  // top, left, bottom, right
    full = {0, 0, q[0], q[1], 0, 0, q[2], q[3]};
  } else {
    fail(a.loc("pads"), "pad() needs an int, [h, w], [top, left, bottom, right] or " + std::to_string(2 * rank) + " values");
  }
  std::string mode = a.s("mode", "zeros");
  if (mode != "zeros" && mode != "reflect") fail(a.loc("mode"), "pad mode must be \"zeros\" or \"reflect\"", did_you_mean(mode, {"zeros", "reflect"}));
  return make_tensor(I.emit1(OpKind::Pad, {x}, Attrs{{"pads", full}, {"mode", mode}}, c.loc));
}

ValuePtr transpose(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("transpose", c, {{"x", true}, {"perm", true}});
  return make_tensor(I.emit1(OpKind::Transpose, {a.tensor("x")}, Attrs{{"perm", a.ints("perm", {})}}, c.loc));
}

ValuePtr broadcast_to(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("broadcast_to", c, {{"x", true}, {"shape", true}});
  return make_tensor(I.emit1(OpKind::BroadcastTo, {a.tensor("x")}, Attrs{{"shape", a.ints("shape", {})}}, c.loc));
}

ValuePtr scale(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("scale", c, {{"x", true}, {"alpha", false}, {"beta", false}});
  return make_tensor(I.emit1(OpKind::Scale, {a.tensor("x")}, Attrs{{"alpha", a.f("alpha", 1.0)}, {"beta", a.f("beta", 0.0)}}, c.loc));
}

ValuePtr cast(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("cast", c, {{"x", true}, {"dtype", true}});
  return make_tensor(I.emit1(OpKind::Cast, {a.tensor("x")}, Attrs{{"dtype", a.s("dtype", "f32")}}, c.loc));
}

BuiltinFn softmax_like(OpKind k) {
  return [k](Impl& I, Frame&, CallArgs& c) -> ValuePtr {
    BoundArgs a(ir::op_name(k), c, {{"x", true}, {"axis", false}});
    return make_tensor(I.emit1(k, {a.tensor("x")}, Attrs{{"axis", a.i("axis", -1)}}, c.loc));
  };
}

ValuePtr batch_norm(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("batch_norm", c, {{"x", true}, {"weight", true}, {"bias", true}, {"mean", true}, {"var", true},
                                {"momentum", false}, {"eps", false}});
  double m = a.f("momentum", 0.9), eps = a.f("eps", 1e-5);
  if (m < 0 || m >= 1) fail(a.loc("momentum"), "batch_norm momentum is the weight of the old running value and must be in [0, 1)");
  if (eps <= 0) fail(a.loc("eps"), "batch_norm eps must be positive");
  return make_tensor(I.emit1(OpKind::BatchNorm,
                             {a.tensor("x"), a.tensor("weight"), a.tensor("bias"), a.tensor("mean"), a.tensor("var")},
                             Attrs{{"momentum", m}, {"eps", eps}}, c.loc));
}

ValuePtr one_hot(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("one_hot", c, {{"labels", true}, {"classes", true}, {"smoothing", false}});
  return make_tensor(I.emit1(OpKind::OneHot, {a.tensor("labels")},
                             Attrs{{"classes", a.i("classes", 0)}, {"smoothing", a.f("smoothing", 0.0)}}, c.loc));
}

ValuePtr cross_entropy(Impl& I, Frame&, CallArgs& c) {
  BoundArgs a("softmax_cross_entropy", c, {{"logits", true}, {"target", true}});
  return make_tensor(I.emit1(OpKind::SoftmaxCrossEntropy, {a.tensor("logits"), a.tensor("target")}, {}, c.loc));
}

const std::map<std::string, BuiltinFn>& op_calls() {
  static const std::map<std::string, BuiltinFn> table = {
      {"neg", unary(OpKind::Neg)}, {"relu", unary(OpKind::Relu)}, {"sigmoid", unary(OpKind::Sigmoid)},
      {"tanh", unary(OpKind::Tanh)}, {"exp", unary(OpKind::Exp)}, {"log", unary(OpKind::Log)},
      {"sqrt", unary(OpKind::Sqrt)}, {"square", unary(OpKind::Square)},
      {"add", binary(OpKind::Add)}, {"sub", binary(OpKind::Sub)}, {"mul", binary(OpKind::Mul)},
      {"div", binary(OpKind::Div)}, {"maximum", binary(OpKind::Maximum)}, {"minimum", binary(OpKind::Minimum)},
      {"less", binary(OpKind::Less)},
      {"reduce_sum", reduction(OpKind::ReduceSum)}, {"reduce_mean", reduction(OpKind::ReduceMean)},
      {"reduce_max", reduction(OpKind::ReduceMax)},
      {"conv2d", conv2d}, {"matmul", matmul},
      {"max_pool2d", pool(OpKind::MaxPool2d)}, {"avg_pool2d", pool(OpKind::AvgPool2d)},
      {"global_avg_pool", global_avg_pool}, {"upsample", upsample},
      {"reshape", reshape}, {"flatten", flatten}, {"concat", concat}, {"slice", slice}, {"split", split},
      {"pad", pad}, {"transpose", transpose}, {"broadcast_to", broadcast_to}, {"scale", scale}, {"cast", cast},
      {"softmax", softmax_like(OpKind::Softmax)}, {"log_softmax", softmax_like(OpKind::LogSoftmax)},
      {"batch_norm", batch_norm}, {"one_hot", one_hot}, {"softmax_cross_entropy", cross_entropy},
  };
  return table;
}

}  // namespace

const BuiltinFn* Elaborator::Impl::find_op_call(const std::string& name) const {
  auto it = op_calls().find(name);
  return it == op_calls().end() ? nullptr : &it->second;
}

std::vector<std::string> Elaborator::Impl::op_call_names() const {
  std::vector<std::string> names;
  for (const auto& [n, fn] : op_calls()) names.push_back(n);
  return names;
}

}  // namespace acnn::elab
