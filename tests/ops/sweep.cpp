// The op sweep: one row per op in ops.def (a test fails when an op has no
// row). Each row lists variants (shapes and attributes) that build a small
// graph around the op. For every variant the sweep runs the graph in fp32 and
// fp64 and compares them, and for every differentiable op it checks the
// gradient rule in fp64 against central finite differences of
// loss = sum(output * fixed random weights). Ops without a gradient say why,
// and are checked to produce none. Hand-computed values: values_test.cpp.
#include <functional>
#include <cmath>

#include "compiler/autodiff/autodiff.h"
#include "tests/catch.h"
#include "tests/ops/harness.h"

using namespace acnn;
using namespace acnn::testing;
using ir::OpKind;
using ir::ValueId;
using Ints = std::vector<int64_t>;

namespace {

struct Variant {
  std::string name;
  std::function<std::vector<ValueId>(Case&)> build;  // returns the op's outputs
};

struct Row {
  OpKind op;
  const char* no_grad;  // nullptr: differentiable; otherwise why it has no gradient
  std::vector<Variant> variants;
};

constexpr Grad kNone = Grad::None;

// One op applied to the given inputs.
std::vector<ValueId> op(Case& c, OpKind k, std::vector<ValueId> in, Attrs a = {}) { return c.b.emit(k, std::move(in), std::move(a)); }

// Conv geometries shared by conv2d and its two backward forms.
std::vector<ConvGeom> conv_cases() {
  return {
      {"3x3", {2, 3, 5, 5}, {4, 3, 3, 3}, conv_attrs({1, 1}, {0, 0, 0, 0}, {1, 1}, 1), false},
      {"stride2 pad1 bias", {1, 3, 6, 7}, {4, 3, 3, 3}, conv_attrs({2, 2}, {1, 1, 1, 1}, {1, 1}, 1), true},
      {"asymmetric pad, dilation, stride", {1, 2, 7, 6}, {3, 2, 3, 2}, conv_attrs({1, 2}, {2, 0, 1, 1}, {2, 1}, 1), false},
      {"groups 2", {2, 4, 5, 5}, {6, 2, 3, 3}, conv_attrs({1, 1}, {1, 1, 1, 1}, {1, 1}, 2), true},
      {"depthwise", {1, 4, 5, 5}, {4, 1, 3, 3}, conv_attrs({2, 1}, {1, 1, 1, 1}, {1, 1}, 4), true},
      {"1x1 stride 2", {2, 3, 5, 5}, {2, 3, 1, 1}, conv_attrs({2, 2}, {0, 0, 0, 0}, {1, 1}, 1), false},
  };
}

std::vector<Variant> conv_variants(OpKind k) {
  std::vector<Variant> v;
  for (const ConvGeom& cc : conv_cases())
    v.push_back({cc.name, [cc, k](Case& c) {
                   Shape y = conv_out(cc);
                   Attrs a = cc.a;
                   if (k == OpKind::Conv2d) {
                     std::vector<ValueId> in{c.in(cc.x), c.in(cc.w)};
                     if (cc.bias) in.push_back(c.in({cc.w[0]}));
                     return op(c, k, in, a);
                   }
                   if (k == OpKind::Conv2dBackwardData) {
                     a.set("input_shape", cc.x);
                     return op(c, k, {c.in(y), c.in(cc.w)}, a);
                   }
                   a.set("weight_shape", cc.w);
                   return op(c, k, {c.in(cc.x), c.in(y)}, a);
                 }});
  return v;
}

std::vector<Variant> unary(OpKind k, double lo = -2, double hi = 2) {
  return {{"[2,3,4]", [=](Case& c) { return op(c, k, {c.in({2, 3, 4}, lo, hi)}); }},
          {"scalar", [=](Case& c) { return op(c, k, {c.in({}, lo, hi)}); }}};
}

// Broadcasting shape pairs for the binary ops; b drawn from [blo, bhi).
std::vector<Variant> binary(OpKind k, double blo = -2, double bhi = 2) {
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3}, {2, 3}}, {{2, 3, 4}, {3, 1}}, {{2, 3}, {}}, {{2, 1, 4}, {3, 1}}, {{1}, {2, 2}}};
  std::vector<Variant> v;
  for (auto [sa, sb] : shapes)
    v.push_back({shape_str(sa) + " " + shape_str(sb),
                 [=](Case& c) { return op(c, k, {c.in(sa), c.in(sb, blo, bhi)}); }});
  return v;
}

std::vector<Variant> reduce(OpKind k) {
  std::vector<std::pair<Ints, int64_t>> cases = {{{1}, 0}, {{0, 2}, 1}, {{-1}, 0}, {{0, 1, 2}, 0}, {{}, 0}};
  std::vector<Variant> v;
  for (auto [axes, keep] : cases)
    v.push_back({"axes " + shape_str(axes) + (keep ? " keepdims" : ""), [=](Case& c) {
                   return op(c, k, {c.in({2, 3, 4})}, Attrs{{"axes", axes}, {"keepdims", keep}});
                 }});
  return v;
}

Attrs pool_attrs(Ints k, Ints s, Ints p, int64_t include_pad = -1) {
  Attrs a{{"kernel", k}, {"stride", s}, {"pad", p}};
  if (include_pad >= 0) a.set("count_include_pad", include_pad);
  return a;
}

struct PoolCase {
  std::string name;
  Shape x;
  Attrs a;
};

std::vector<PoolCase> pool_cases(bool avg) {
  std::vector<PoolCase> v = {
      {"2x2", {1, 2, 4, 4}, pool_attrs({2, 2}, {2, 2}, {0, 0, 0, 0}, avg ? 0 : -1)},
      {"3x3 s2 p1", {2, 2, 5, 5}, pool_attrs({3, 3}, {2, 2}, {1, 1, 1, 1}, avg ? 0 : -1)},
      {"3x2 s1 asymmetric pad", {1, 2, 4, 5}, pool_attrs({3, 2}, {1, 2}, {1, 0, 2, 1}, avg ? 0 : -1)},
  };
  if (avg) v.push_back({"3x3 s2 p1 count_include_pad", {2, 2, 5, 5}, pool_attrs({3, 3}, {2, 2}, {1, 1, 1, 1}, 1)});
  return v;
}

std::vector<Variant> pool_variants(OpKind k) {
  bool avg = k == OpKind::AvgPool2d || k == OpKind::AvgPool2dBackward;
  std::vector<Variant> v;
  for (const PoolCase& pc : pool_cases(avg))
    v.push_back({pc.name, [pc, k](Case& c) {
                   std::vector<ir::ValueType> t;
                   REQUIRE(ir::op_def(OpKind::MaxPool2d).infer({{DType::F64, pc.x}}, pc.a, t).empty());
                   Shape y = t[0].shape;
                   if (k == OpKind::MaxPool2d || k == OpKind::AvgPool2d) return op(c, k, {c.in(pc.x)}, pc.a);
                   if (k == OpKind::MaxPool2dBackward) return op(c, k, {c.in(y), c.in(pc.x)}, pc.a);
                   Attrs a = pc.a;
                   a.set("input_shape", pc.x);
                   return op(c, k, {c.in(y)}, a);
                 }});
  return v;
}

std::vector<Variant> upsample(OpKind k, bool backward, bool input_shape) {
  std::vector<Variant> v;
  for (int64_t s : {2, 3}) {
    Shape x{1, 2, 3, 4}, y{1, 2, 3 * s, 4 * s};
    v.push_back({"scale " + std::to_string(s), [=](Case& c) {
                   Attrs a{{"scale", s}};
                   if (input_shape) a.set("input_shape", x);
                   return op(c, k, {c.in(backward ? y : x)}, a);
                 }});
  }
  return v;
}

std::vector<Variant> pad_variants(OpKind k) {
  struct P {
    std::string name;
    Shape x;
    Ints pads;
    const char* mode;
  };
  std::vector<P> ps = {{"zeros 3d", {2, 3, 4}, {0, 1, 2, 1, 0, 1}, "zeros"},
                       {"reflect 4d", {1, 2, 4, 5}, {0, 0, 1, 2, 0, 0, 2, 1}, "reflect"},
                       {"reflect 1d", {3}, {2, 2}, "reflect"}};
  std::vector<Variant> v;
  for (const P& p : ps)
    v.push_back({p.name, [p, k](Case& c) {
                   Attrs a{{"pads", p.pads}, {"mode", std::string(p.mode)}};
                   Shape s = p.x;
                   if (k == OpKind::PadBackward)
                     for (size_t d = 0; d < s.size(); ++d) s[d] += p.pads[d] + p.pads[s.size() + d];
                   return op(c, k, {c.in(s)}, a);
                 }});
  return v;
}

std::vector<Variant> softmax_like(OpKind k, bool backward, double ylo, double yhi) {
  std::vector<std::pair<Shape, int64_t>> cases = {{{3, 5}, -1}, {{2, 3, 4}, 1}};
  std::vector<Variant> v;
  for (auto [s, ax] : cases)
    v.push_back({shape_str(s) + " axis " + std::to_string(ax), [=](Case& c) {
                   Attrs a{{"axis", ax}};
                   if (!backward) return op(c, k, {c.in(s, -3, 3)}, a);
                   return op(c, k, {c.in(s), c.in(s, ylo, yhi)}, a);
                 }});
  return v;
}

std::vector<Variant> bn_variants(OpKind k) {
  std::vector<Shape> shapes = {{3, 2, 2, 3}, {4, 3}};
  std::vector<Variant> v;
  for (const Shape& s : shapes)
    v.push_back({shape_str(s), [s, k](Case& c) {
                   const int64_t C = s[1];
                   Attrs a{{"eps", 1e-3}};
                   ValueId x = c.in(s, -2, 2);
                   if (k == OpKind::BatchNormTrain) return op(c, k, {x, c.in({C}, 0.5, 1.5), c.in({C})}, a);
                   if (k == OpKind::BatchNormBackward) {
                     // dy, x, gamma, mean, var: the statistics need not be x's.
                     return op(c, k, {c.in(s), x, c.in({C}, 0.5, 1.5), c.in({C}, -0.5, 0.5), c.in({C}, 0.5, 1.5)}, a);
                   }
                   if (k == OpKind::BatchNormReluBackward) {
                     // dy, x, gamma, beta, mean, var: beta moves the ReLU's kink through the values.
                     return op(c, k, {c.in(s), x, c.in({C}, -1.5, 1.5), c.in({C}, -0.5, 0.5), c.in({C}, -0.5, 0.5),
                                      c.in({C}, 0.5, 1.5)}, a);
                   }
                   Grad stats = k == OpKind::BatchNorm ? kNone : Grad::Check;
                   if (k == OpKind::BatchNorm) a.set("momentum", 0.9);
                   return op(c, k, {x, c.in({C}, 0.5, 1.5), c.in({C}), c.in({C}, -0.5, 0.5, stats), c.in({C}, 0.5, 1.5, stats)}, a);
                 }});
  return v;
}

const std::vector<Row>& rows() {
  static const std::vector<Row> r = [] {
    const char* kSource = "a source has no inputs to send a gradient to";
    const char* kSecondOrder = "second-order gradient: not needed, the rule sets none";
    std::vector<Row> t;
    // ------------------------------------------------------------ sources
    t.push_back({OpKind::Input, kSource, {{"f[2,3]", [](Case& c) { return std::vector<ValueId>{c.in({2, 3})}; }}}});
    t.push_back({OpKind::Param, kSource, {{"uniform init", [](Case& c) {
                                             return std::vector<ValueId>{c.b.param("p", {c.dt, {3, 2}}, "uniform:0.5", true)};
                                           }}}});
    t.push_back({OpKind::State, kSource,
                 {{"ones init", [](Case& c) { return std::vector<ValueId>{c.b.state("s", {c.dt, {4}}, "ones")}; }}}});
    t.push_back({OpKind::Constant, kSource,
                 {{"values", [](Case& c) { return std::vector<ValueId>{c.b.constant({2, 2}, {1, -2, 3.5, 4}, c.dt)}; }},
                  {"fill", [](Case& c) { return std::vector<ValueId>{c.b.fill({3}, 0.25, c.dt)}; }},
                  {"i32", [](Case& c) { return std::vector<ValueId>{c.b.constant({3}, {1, -2, 7}, DType::I32)}; }}}});
    t.push_back({OpKind::RuntimeScalar, kSource, {{"lr", [](Case& c) {
                                                     c.ctx.scalars["lr"] = 0.125f;
                                                     return std::vector<ValueId>{c.b.runtime_scalar("lr")};
                                                   }}}});
    t.push_back({OpKind::RandomUniform, kSource, {{"[3,4]", [](Case& c) {
                                                     return op(c, OpKind::RandomUniform, {},
                                                               Attrs{{"shape", Ints{3, 4}}, {"dtype", std::string(dtype_name(c.dt))}, {"stream", int64_t{7}}});
                                                   }}}});
    // ------------------------------------------------------------ unary
    t.push_back({OpKind::Neg, nullptr, unary(OpKind::Neg)});
    t.push_back({OpKind::Relu, nullptr, unary(OpKind::Relu)});
    t.push_back({OpKind::Sigmoid, nullptr, unary(OpKind::Sigmoid)});
    t.push_back({OpKind::Tanh, nullptr, unary(OpKind::Tanh)});
    t.push_back({OpKind::Exp, nullptr, unary(OpKind::Exp)});
    t.push_back({OpKind::Log, nullptr, unary(OpKind::Log, 0.5, 3)});
    t.push_back({OpKind::Sqrt, nullptr, unary(OpKind::Sqrt, 0.5, 3)});
    t.push_back({OpKind::Square, nullptr, unary(OpKind::Square)});
    t.push_back({OpKind::Abs, nullptr, unary(OpKind::Abs)});
    t.push_back({OpKind::Scale, nullptr, {{"1.5x-0.5", [](Case& c) {
                                             return op(c, OpKind::Scale, {c.in({2, 3})}, Attrs{{"alpha", 1.5}, {"beta", -0.5}});
                                           }}}});
    t.push_back({OpKind::Cast, nullptr,
                 {{"to f64", [](Case& c) { return op(c, OpKind::Cast, {c.in({2, 3})}, Attrs{{"dtype", std::string("f64")}}); }},
                  {"to f32", [](Case& c) {
                     // In the fp64 run a real narrowing cast: a lossy value, so only its absence of gradient errors shows.
                     return op(c, OpKind::Cast, {c.in({2, 3}, -1, 1, c.dt == DType::F64 ? Grad::Free : Grad::Check)},
                               Attrs{{"dtype", std::string("f32")}});
                   }},
                  {"to i32 (truncates, no gradient)", [](Case& c) {
                     return op(c, OpKind::Cast, {c.in({2, 3}, -3, 3, kNone)}, Attrs{{"dtype", std::string("i32")}});
                   }}}});
    t.push_back({OpKind::ReluBackward, nullptr,
                 {{"[2,3,4]", [](Case& c) { return op(c, OpKind::ReluBackward, {c.in({2, 3, 4}), c.in({2, 3, 4}, -1, 1, kNone)}); }}}});
    t.push_back({OpKind::SigmoidBackward, nullptr,
                 {{"[2,3]", [](Case& c) { return op(c, OpKind::SigmoidBackward, {c.in({2, 3}), c.in({2, 3}, 0.05, 0.95)}); }}}});
    t.push_back({OpKind::TanhBackward, nullptr,
                 {{"[2,3]", [](Case& c) { return op(c, OpKind::TanhBackward, {c.in({2, 3}), c.in({2, 3}, -0.95, 0.95)}); }}}});
    // ------------------------------------------------------------ binary
    t.push_back({OpKind::Add, nullptr, binary(OpKind::Add)});
    t.push_back({OpKind::Sub, nullptr, binary(OpKind::Sub)});
    t.push_back({OpKind::Mul, nullptr, binary(OpKind::Mul)});
    t.push_back({OpKind::Div, nullptr, binary(OpKind::Div, 0.5, 2)});
    t.push_back({OpKind::Maximum, nullptr, binary(OpKind::Maximum)});
    t.push_back({OpKind::Minimum, nullptr, binary(OpKind::Minimum)});
    t.push_back({OpKind::Less, "piecewise constant (a mask)", binary(OpKind::Less)});
    // ------------------------------------------------------------ reductions
    t.push_back({OpKind::ReduceSum, nullptr, reduce(OpKind::ReduceSum)});
    t.push_back({OpKind::ReduceMean, nullptr, reduce(OpKind::ReduceMean)});
    t.push_back({OpKind::ReduceMax, nullptr, reduce(OpKind::ReduceMax)});
    t.push_back({OpKind::BroadcastTo, nullptr,
                 {{"[3,1] to [2,3,4]", [](Case& c) { return op(c, OpKind::BroadcastTo, {c.in({3, 1})}, Attrs{{"shape", Ints{2, 3, 4}}}); }},
                  {"[] to [2,2]", [](Case& c) { return op(c, OpKind::BroadcastTo, {c.in({})}, Attrs{{"shape", Ints{2, 2}}}); }}}});
    // ------------------------------------------------------------ data movement
    t.push_back({OpKind::Reshape, nullptr,
                 {{"[2,3,4] to [6,4]", [](Case& c) { return op(c, OpKind::Reshape, {c.in({2, 3, 4})}, Attrs{{"shape", Ints{6, 4}}}); }}}});
    t.push_back({OpKind::Transpose, nullptr,
                 {{"perm 2,0,1", [](Case& c) { return op(c, OpKind::Transpose, {c.in({2, 3, 4})}, Attrs{{"perm", Ints{2, 0, 1}}}); }},
                  {"perm 1,0", [](Case& c) { return op(c, OpKind::Transpose, {c.in({3, 5})}, Attrs{{"perm", Ints{1, 0}}}); }}}});
    t.push_back({OpKind::Concat, nullptr,
                 {{"axis 1, three inputs", [](Case& c) {
                    return op(c, OpKind::Concat, {c.in({2, 1, 3}), c.in({2, 2, 3}), c.in({2, 3, 3})}, Attrs{{"axis", int64_t{1}}});
                  }},
                  {"axis -1", [](Case& c) { return op(c, OpKind::Concat, {c.in({2, 2}), c.in({2, 3})}, Attrs{{"axis", int64_t{-1}}}); }},
                  {"axis 0, one input", [](Case& c) { return op(c, OpKind::Concat, {c.in({2, 2})}, Attrs{{"axis", int64_t{0}}}); }}}});
    t.push_back({OpKind::Slice, nullptr,
                 {{"axis 1 [1,3)", [](Case& c) {
                    return op(c, OpKind::Slice, {c.in({2, 4, 3})}, Attrs{{"axis", int64_t{1}}, {"begin", int64_t{1}}, {"end", int64_t{3}}});
                  }},
                  {"axis -1 [0,2)", [](Case& c) {
                     return op(c, OpKind::Slice, {c.in({2, 4})}, Attrs{{"axis", int64_t{-1}}, {"begin", int64_t{0}}, {"end", int64_t{2}}});
                   }}}});
    t.push_back({OpKind::Pad, nullptr, pad_variants(OpKind::Pad)});
    t.push_back({OpKind::PadBackward, nullptr, pad_variants(OpKind::PadBackward)});
    // ------------------------------------------------------------ convolution
    t.push_back({OpKind::Conv2d, nullptr, conv_variants(OpKind::Conv2d)});
    t.push_back({OpKind::Conv2dBackwardData, nullptr, conv_variants(OpKind::Conv2dBackwardData)});
    t.push_back({OpKind::Conv2dBackwardWeight, nullptr, conv_variants(OpKind::Conv2dBackwardWeight)});
    std::vector<Variant> mm;
    for (int64_t ta : {0, 1})
      for (int64_t tb : {0, 1})
        mm.push_back({"ta " + std::to_string(ta) + " tb " + std::to_string(tb), [=](Case& c) {
                        ValueId a = c.in(ta ? Shape{4, 3} : Shape{3, 4}), b = c.in(tb ? Shape{5, 4} : Shape{4, 5});
                        return op(c, OpKind::Matmul, {a, b}, Attrs{{"transpose_a", ta}, {"transpose_b", tb}});
                      }});
    t.push_back({OpKind::Matmul, nullptr, mm});
    // ------------------------------------------------------------ pooling
    t.push_back({OpKind::MaxPool2d, nullptr, pool_variants(OpKind::MaxPool2d)});
    t.push_back({OpKind::MaxPool2dBackward, kSecondOrder, pool_variants(OpKind::MaxPool2dBackward)});
    t.push_back({OpKind::AvgPool2d, nullptr, pool_variants(OpKind::AvgPool2d)});
    t.push_back({OpKind::AvgPool2dBackward, nullptr, pool_variants(OpKind::AvgPool2dBackward)});
    t.push_back({OpKind::UpsampleNearest, nullptr, upsample(OpKind::UpsampleNearest, false, false)});
    t.push_back({OpKind::UpsampleNearestBackward, nullptr, upsample(OpKind::UpsampleNearestBackward, true, false)});
    t.push_back({OpKind::UpsampleBilinear, nullptr, upsample(OpKind::UpsampleBilinear, false, false)});
    t.push_back({OpKind::UpsampleBilinearBackward, nullptr, upsample(OpKind::UpsampleBilinearBackward, true, true)});
    // ------------------------------------------------------------ normalization
    t.push_back({OpKind::BatchNorm, nullptr, bn_variants(OpKind::BatchNorm)});
    t.push_back({OpKind::BatchNormTrain, nullptr, bn_variants(OpKind::BatchNormTrain)});
    t.push_back({OpKind::BatchNormInfer, nullptr, bn_variants(OpKind::BatchNormInfer)});
    t.push_back({OpKind::BatchNormBackward, kSecondOrder, bn_variants(OpKind::BatchNormBackward)});
    t.push_back({OpKind::BatchNormReluBackward, kSecondOrder, bn_variants(OpKind::BatchNormReluBackward)});
    // ------------------------------------------------------------ softmax and losses
    t.push_back({OpKind::Softmax, nullptr, softmax_like(OpKind::Softmax, false, 0, 0)});
    t.push_back({OpKind::LogSoftmax, nullptr, softmax_like(OpKind::LogSoftmax, false, 0, 0)});
    t.push_back({OpKind::SoftmaxBackward, nullptr, softmax_like(OpKind::SoftmaxBackward, true, 0.05, 0.95)});
    t.push_back({OpKind::LogSoftmaxBackward, nullptr, softmax_like(OpKind::LogSoftmaxBackward, true, -3, -0.1)});
    t.push_back({OpKind::OneHot, "its input is integer labels",
                 {{"plain", [](Case& c) { return op(c, OpKind::OneHot, {c.labels(5, 4)}, Attrs{{"classes", int64_t{4}}}); }},
                  {"smoothing 0.1", [](Case& c) {
                     return op(c, OpKind::OneHot, {c.labels(5, 4)}, Attrs{{"classes", int64_t{4}}, {"smoothing", 0.1}});
                   }}}});
    t.push_back({OpKind::SoftmaxCrossEntropy, nullptr,
                 {{"[3,5]", [](Case& c) { return op(c, OpKind::SoftmaxCrossEntropy, {c.in({3, 5}, -3, 3), c.probs(3, 5)}); }}}});
    t.push_back({OpKind::SoftmaxCrossEntropyBackward, kSecondOrder,
                 {{"[3,5]", [](Case& c) {
                    return op(c, OpKind::SoftmaxCrossEntropyBackward, {c.in({3}), c.in({3, 5}, -3, 3), c.probs(3, 5)});
                  }}}});
    // ------------------------------------------------------------ mode and fusion
    // Each operand receives dy; finite differences see only the selected one.
    t.push_back({OpKind::IfTraining, nullptr,
                 {{"training", [](Case& c) {
                    c.ctx.training = true;
                    return op(c, OpKind::IfTraining, {c.in({2, 3}), c.in({2, 3}, -1, 1, Grad::Free)});
                  }},
                  {"inference", [](Case& c) {
                     c.ctx.training = false;
                     return op(c, OpKind::IfTraining, {c.in({2, 3}, -1, 1, Grad::Free), c.in({2, 3})});
                   }}}});
    t.push_back({OpKind::Fused, "formed after autodiff (no gradient); tests/ops/fused_test.cpp checks its kernels", {}});
    return t;
  }();
  return r;
}

uint64_t seed_of(const std::string& s) { return std::hash<std::string>{}(s) | 1; }

}  // namespace

TEST_CASE("op sweep: every op in ops.def has exactly one row", "[ops]") {
  std::map<OpKind, int> count;
  for (const Row& r : rows()) ++count[r.op];
  for (size_t k = 0; k < static_cast<size_t>(OpKind::kCount); ++k) {
    INFO("op " << ir::op_name(static_cast<OpKind>(k)));
    CHECK(count[static_cast<OpKind>(k)] == 1);
  }
  for (const Row& r : rows()) {
    INFO("op " << ir::op_name(r.op));
    CHECK((r.op == OpKind::Fused || !r.variants.empty()));
  }
}

TEST_CASE("op sweep: fp32 and fp64 kernels agree", "[ops]") {
  int compared = 0;
  for (const Row& r : rows())
    for (const Variant& v : r.variants) {
      const std::string id = std::string(ir::op_name(r.op)) + " / " + v.name;
      INFO(id);
      Case c64(DType::F64, seed_of(id)), c32(DType::F32, seed_of(id));
      std::vector<ValueId> o64 = v.build(c64), o32 = v.build(c32);
      weighted_loss(c64, o64);
      weighted_loss(c32, o32);
      REQUIRE(ir::verify(c64.g).empty());
      REQUIRE(ir::verify(c32.g).empty());
      auto r64 = run(c64.g, c64), r32 = run(c32.g, c32);
      for (size_t i = 0; i < o64.size(); ++i) {
        const Tensor &a = r64.at("out" + std::to_string(i)), &b = r32.at("out" + std::to_string(i));
        REQUIRE(a.shape() == b.shape());
        for (int64_t j = 0; j < a.numel(); ++j) {
          INFO("output " << i << " element " << j << ": f64 " << a.at(j) << ", f32 " << b.at(j));
          CHECK(std::abs(a.at(j) - b.at(j)) <= 1e-4 * (1 + std::abs(a.at(j))));
          CHECK(std::isfinite(a.at(j)));
          ++compared;
        }
      }
    }
  CHECK(compared > 1000);
}

TEST_CASE("op sweep: gradients match finite differences", "[grad]") {
  int compared = 0;
  for (const Row& r : rows()) {
    if (r.no_grad) continue;
    int row_compared = 0;
    for (const Variant& v : r.variants) {
      const std::string id = std::string(ir::op_name(r.op)) + " / " + v.name;
      INFO(id);
      Case c(DType::F64, seed_of(id));
      ValueId loss = weighted_loss(c, v.build(c));
      row_compared += check_gradients(c, loss);
    }
    INFO("op " << ir::op_name(r.op) << " has no gradient-checked input in any variant");
    CHECK(row_compared > 0);
    compared += row_compared;
  }
  CHECK(compared > 1000);
}

TEST_CASE("op sweep: ops without a gradient produce none", "[grad]") {
  for (const Row& r : rows()) {
    if (!r.no_grad) continue;
    for (const Variant& v : r.variants) {
      const std::string id = std::string(ir::op_name(r.op)) + " / " + v.name + " (" + r.no_grad + ")";
      INFO(id);
      Case c(DType::F64, seed_of(id));
      std::vector<ValueId> outs = v.build(c);
      const ir::Node node = c.g.producer(outs[0]);
      REQUIRE(node.op == r.op);
      // Through autodiff: none of the op's float inputs gets a gradient.
      ValueId loss = weighted_loss(c, outs);
      std::vector<ValueId> wrt;
      for (ValueId in : node.inputs)
        if (is_float(c.g.type(in).dtype)) wrt.push_back(in);
      CHECK(autodiff::differentiate(c.g, loss, wrt).grads.empty());
      // The rule itself, asked with every output's gradient present.
      std::vector<ValueId> douts;
      for (ValueId o : node.outputs) douts.push_back(c.b.fill(c.g.type(o).shape, 1.0, c.g.type(o).dtype));
      ir::GradContext ctx(c.b, c.g, node, douts, std::vector<bool>(node.inputs.size(), true));
      ir::op_def(r.op).grad(ctx);
      for (ValueId d : ctx.in_grads()) CHECK(d == ir::kNoValue);
    }
  }
}
