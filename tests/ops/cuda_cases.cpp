#include "tests/ops/cuda_cases.h"

#include <set>

#include "compiler/autodiff/autodiff.h"
#include "compiler/elaborate/model_file.h"
#include "compiler/ir/op.h"
#include "compiler/train/train_graph.h"
#include "tests/catch.h"

namespace acnn::testing {

using ir::OpKind;
using ir::ValueId;
using Ints = std::vector<int64_t>;

namespace {

std::vector<ValueId> op(Case& c, OpKind k, std::vector<ValueId> in, Attrs a = {}) { return c.b.emit(k, std::move(in), std::move(a)); }

}  // namespace

std::vector<OpCase> op_cases() {
  std::vector<OpCase> v;
  const Shape x4{2, 3, 4, 5};
  for (OpKind k : {OpKind::Neg, OpKind::Relu, OpKind::Sigmoid, OpKind::Tanh, OpKind::Exp, OpKind::Square, OpKind::Abs})
    v.push_back({ir::op_name(k), [=](Case& c) { return op(c, k, {c.in(x4)}); }});
  v.push_back({"log", [=](Case& c) { return op(c, OpKind::Log, {c.in(x4, 0.5, 2)}); }});
  v.push_back({"sqrt", [=](Case& c) { return op(c, OpKind::Sqrt, {c.in({7, 3}, 0.5, 2)}); }});
  v.push_back({"scale", [=](Case& c) { return op(c, OpKind::Scale, {c.in(x4)}, Attrs{{"alpha", 1.5}, {"beta", -0.5}}); }});
  v.push_back({"cast i32", [=](Case& c) {
                 ValueId i = c.b.emit1(OpKind::Cast, {c.in({2, 3}, -3, 3, Grad::None)}, Attrs{{"dtype", std::string("i32")}});
                 return op(c, OpKind::Cast, {i}, Attrs{{"dtype", std::string("f32")}});
               }, false});
  v.push_back({"relu_backward", [=](Case& c) { return op(c, OpKind::ReluBackward, {c.in(x4), c.in(x4, -1, 1, Grad::None)}); }});
  v.push_back({"sigmoid_backward", [=](Case& c) { return op(c, OpKind::SigmoidBackward, {c.in(x4), c.in(x4, 0.1, 0.9)}); }});
  v.push_back({"tanh_backward", [=](Case& c) { return op(c, OpKind::TanhBackward, {c.in(x4), c.in(x4, -0.9, 0.9)}); }});
  std::vector<std::pair<Shape, Shape>> bshapes = {{x4, x4}, {x4, {1, 3, 1, 1}}, {x4, {5}}, {{3, 1}, {1, 4}}, {{2, 3}, {}}};
  for (OpKind k : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div, OpKind::Maximum, OpKind::Minimum, OpKind::Less})
    for (const auto& shapes : bshapes) {
      const Shape sa = shapes.first, sb = shapes.second;
      v.push_back({std::string(ir::op_name(k)) + " " + shape_str(sa) + shape_str(sb),
                   [=](Case& c) {
                     bool div = k == OpKind::Div;
                     return op(c, k, {c.in(sa), c.in(sb, div ? 0.5 : -2, 2)});
                   },
                   k != OpKind::Less});
    }
  for (OpKind k : {OpKind::ReduceSum, OpKind::ReduceMean, OpKind::ReduceMax})
    for (const auto& ak : std::vector<std::pair<Ints, int64_t>>{{{0, 2, 3}, 0}, {{2, 3}, 1}, {{1}, 0}, {{0}, 0}, {{1, 3}, 0}}) {
      const Ints axes = ak.first;
      const int64_t keep = ak.second;
      v.push_back({std::string(ir::op_name(k)) + " " + shape_str(axes), [=](Case& c) {
                     return op(c, k, {c.in(x4)}, Attrs{{"axes", axes}, {"keepdims", keep}});
                   }});
    }
  v.push_back({"broadcast_to", [=](Case& c) { return op(c, OpKind::BroadcastTo, {c.in({3, 1})}, Attrs{{"shape", Ints{2, 3, 4}}}); }});
  v.push_back({"reshape", [=](Case& c) { return op(c, OpKind::Reshape, {c.in(x4)}, Attrs{{"shape", Ints{6, 20}}}); }});
  v.push_back({"transpose 4d", [=](Case& c) { return op(c, OpKind::Transpose, {c.in(x4)}, Attrs{{"perm", Ints{0, 2, 3, 1}}}); }});
  v.push_back({"transpose 2d", [=](Case& c) { return op(c, OpKind::Transpose, {c.in({3, 4})}, Attrs{{"perm", Ints{1, 0}}}); }});
  v.push_back({"concat axis 1", [=](Case& c) {
                 return op(c, OpKind::Concat, {c.in(x4), c.in({2, 2, 4, 5})}, Attrs{{"axis", int64_t{1}}});
               }});
  v.push_back({"concat axis 0", [=](Case& c) { return op(c, OpKind::Concat, {c.in({2, 3}), c.in({1, 3})}, Attrs{{"axis", int64_t{0}}}); }});
  v.push_back({"slice", [=](Case& c) {
                 return op(c, OpKind::Slice, {c.in(x4)}, Attrs{{"axis", int64_t{1}}, {"begin", int64_t{1}}, {"end", int64_t{3}}});
               }});
  for (const char* mode : {"zeros", "reflect"}) {
    Ints pads{0, 0, 1, 2, 0, 0, 2, 1};
    v.push_back({std::string("pad ") + mode, [=](Case& c) {
                   return op(c, OpKind::Pad, {c.in(x4)}, Attrs{{"pads", pads}, {"mode", std::string(mode)}});
                 }});
    v.push_back({std::string("pad_backward ") + mode, [=](Case& c) {
                   return op(c, OpKind::PadBackward, {c.in({2, 3, 7, 8})}, Attrs{{"pads", pads}, {"mode", std::string(mode)}});
                 }});
  }
  for (const ConvGeom& cv : std::vector<ConvGeom>{
           {"3x3", {2, 3, 5, 5}, {4, 3, 3, 3}, conv_attrs({1, 1}, {0, 0, 0, 0}, {1, 1}, 1), false},
           {"stride2 pad1 bias", {1, 3, 6, 7}, {4, 3, 3, 3}, conv_attrs({2, 2}, {1, 1, 1, 1}, {1, 1}, 1), true},
           {"asymmetric pad, dilation", {1, 2, 7, 6}, {3, 2, 3, 2}, conv_attrs({1, 2}, {2, 0, 1, 1}, {2, 1}, 1), false},
           {"groups 2", {2, 4, 5, 5}, {6, 2, 3, 3}, conv_attrs({1, 1}, {1, 1, 1, 1}, {1, 1}, 2), true},
           {"depthwise", {1, 4, 5, 5}, {4, 1, 3, 3}, conv_attrs({2, 1}, {1, 1, 1, 1}, {1, 1}, 4), false},
           {"1x1 stride 2", {2, 8, 6, 6}, {16, 8, 1, 1}, conv_attrs({2, 2}, {0, 0, 0, 0}, {1, 1}, 1), false}}) {
    v.push_back({"conv2d " + cv.name, [=](Case& c) {
                   std::vector<ValueId> in{c.in(cv.x), c.in(cv.w)};
                   if (cv.bias) in.push_back(c.in({cv.w[0]}));
                   return op(c, OpKind::Conv2d, in, cv.a);
                 }});
  }
  // relu(conv + bias (+ z)): one fused convolution unit (lowering.h,
  // fused_conv()); 16 channels for the tensor-core paths, 6 for the others.
  // An average pool reads the relu (an elementwise reader would join its
  // region, which then is no epilogue).
  for (bool residual : {false, true})
    for (int64_t k : {6, 16})
      v.push_back({std::string("conv2d + bias") + (residual ? " + z" : "") + " + relu, pooled, k" + std::to_string(k),
                   [=](Case& c) {
                     ValueId y = op(c, OpKind::Conv2d, {c.in({2, 8, 6, 6}), c.in({k, 8, 3, 3}), c.in({k})},
                                    conv_attrs({1, 1}, {1, 1, 1, 1}, {1, 1}, 1))[0];
                     if (residual) y = op(c, OpKind::Add, {y, c.in({2, k, 6, 6})})[0];
                     y = op(c, OpKind::Relu, {y})[0];
                     Attrs a{{"kernel", Ints{2, 2}}, {"stride", Ints{2, 2}}, {"pad", Ints{0, 0, 0, 0}}};
                     return op(c, OpKind::AvgPool2d, {y}, a);
                   },
                   true, 1.5});
  // A projection block's relu(conv + b + conv' + b'): one fused unit, conv'
  // its z and the biases summed. (With 4 channels into conv' these inputs put
  // one pre-activation within 5e-4 of the ReLU's kink, where the fp16-rounded
  // bias sum flips its gradient: a tie, not an error.)
  v.push_back({"conv2d + bias + conv2d + bias + relu, pooled",
               [=](Case& c) {
                 const Attrs a = conv_attrs({1, 1}, {1, 1, 1, 1}, {1, 1}, 1);
                 ValueId y = op(c, OpKind::Conv2d, {c.in({2, 8, 6, 6}), c.in({16, 8, 3, 3}), c.in({16})}, a)[0];
                 ValueId s = op(c, OpKind::Conv2d, {c.in({2, 5, 6, 6}), c.in({16, 5, 3, 3}), c.in({16})}, a)[0];
                 y = op(c, OpKind::Relu, {op(c, OpKind::Add, {y, s})[0]})[0];
                 Attrs p{{"kernel", Ints{2, 2}}, {"stride", Ints{2, 2}}, {"pad", Ints{0, 0, 0, 0}}};
                 return op(c, OpKind::AvgPool2d, {y}, p);
               },
               true, 1.5});
  v.push_back({"matmul", [=](Case& c) { return op(c, OpKind::Matmul, {c.in({4, 6}), c.in({6, 5})}); }});
  v.push_back({"matmul transposed", [=](Case& c) {
                 return op(c, OpKind::Matmul, {c.in({6, 4}), c.in({5, 6})}, Attrs{{"transpose_a", int64_t{1}}, {"transpose_b", int64_t{1}}});
               }});
  auto pool = [](Ints k, Ints s, Ints p, int64_t inc) {
    Attrs a{{"kernel", k}, {"stride", s}, {"pad", p}};
    if (inc >= 0) a.set("count_include_pad", inc);
    return a;
  };
  v.push_back({"max_pool 3x3 s2 p1", [=](Case& c) { return op(c, OpKind::MaxPool2d, {c.in({2, 3, 7, 7})}, pool({3, 3}, {2, 2}, {1, 1, 1, 1}, -1)); }});
  v.push_back({"max_pool asymmetric", [=](Case& c) { return op(c, OpKind::MaxPool2d, {c.in({1, 2, 4, 5})}, pool({3, 2}, {1, 2}, {1, 0, 2, 1}, -1)); }});
  v.push_back({"avg_pool", [=](Case& c) { return op(c, OpKind::AvgPool2d, {c.in({2, 3, 7, 7})}, pool({3, 3}, {2, 2}, {1, 1, 1, 1}, 0)); }});
  v.push_back({"avg_pool include pad", [=](Case& c) { return op(c, OpKind::AvgPool2d, {c.in({2, 3, 7, 7})}, pool({3, 3}, {2, 2}, {1, 1, 1, 1}, 1)); }});
  v.push_back({"avg_pool global", [=](Case& c) { return op(c, OpKind::AvgPool2d, {c.in({2, 8, 4, 4})}, pool({4, 4}, {4, 4}, {0, 0, 0, 0}, 0)); }});
  for (int64_t s : {2, 3}) {
    v.push_back({"upsample_nearest " + std::to_string(s), [=](Case& c) { return op(c, OpKind::UpsampleNearest, {c.in({1, 2, 3, 4})}, Attrs{{"scale", s}}); }});
    v.push_back({"upsample_bilinear " + std::to_string(s), [=](Case& c) { return op(c, OpKind::UpsampleBilinear, {c.in({1, 2, 3, 4})}, Attrs{{"scale", s}}); }});
  }
  v.push_back({"batch_norm_train 4d", [=](Case& c) {
                 return op(c, OpKind::BatchNormTrain, {c.in({4, 6, 5, 5}, -1, 3), c.in({6}, 0.5, 1.5), c.in({6})}, Attrs{{"eps", 1e-3}});
               }});
  // 16 and 80 channels: the 16-byte channel vectors of the statistics and
  // backward-sum kernels (8 bf16/fp16 or 4 fp32 per thread; 80 leaves the
  // last block of lanes partly idle), with many rows per row group.
  for (int64_t ch : {16, 80})
    v.push_back({"batch_norm_train 4d c" + std::to_string(ch), [=](Case& c) {
                   return op(c, OpKind::BatchNormTrain, {c.in({8, ch, 6, 6}, -1, 3), c.in({ch}, 0.5, 1.5), c.in({ch})},
                             Attrs{{"eps", 1e-5}});
                 }});
  // A global average pool of an elementwise result runs in the region's
  // kernel (a ReducingRegion): 3x3 rows in one chunk, 6x6 in several; the
  // pooled value also an output (then stored as well) or not.
  for (int64_t hw : {3, 6})
    for (bool stored : {false, true})
      v.push_back({"relu(a + b) pooled " + std::to_string(hw) + "x" + std::to_string(hw) + (stored ? ", relu stored" : ""),
                   [=](Case& c) {
                     const Shape s{2, 16, hw, hw};
                     const ValueId r = op(c, OpKind::Relu, op(c, OpKind::Add, {c.in(s), c.in(s)}))[0];
                     const ValueId m = op(c, OpKind::ReduceMean, {r}, Attrs{{"axes", Ints{2, 3}}, {"keepdims", int64_t{1}}})[0];
                     return stored ? std::vector<ValueId>{m, r} : std::vector<ValueId>{m};
                   }});
  // A region reading through a nearest upsampling (Big-Little's merge): with
  // 16-byte vectors along the channels (NHWC, 1152 elements) and scalar.
  for (int64_t ch : {16, 3})
    v.push_back({"relu(upsample_nearest(a) + b) c" + std::to_string(ch), [=](Case& c) {
                   const int64_t hw = ch == 16 ? 3 : 2;
                   const ValueId up = op(c, OpKind::UpsampleNearest, {c.in({2, ch, hw, hw})}, Attrs{{"scale", int64_t{2}}})[0];
                   return op(c, OpKind::Relu, op(c, OpKind::Add, {up, c.in({2, ch, 2 * hw, 2 * hw})}));
                 }});
  // relu(batch_norm_train(x)): its backward becomes batch_norm_relu_backward
  // (the mask recomputed from x), on the plain and the channel-vector paths.
  for (int64_t ch : {6, 16})
    v.push_back({"batch_norm_train + relu c" + std::to_string(ch), [=](Case& c) {
                   auto bn = op(c, OpKind::BatchNormTrain, {c.in({4, ch, 5, 5}, -1, 3), c.in({ch}, -1.5, 1.5), c.in({ch})},
                                Attrs{{"eps", 1e-5}});
                   return op(c, OpKind::Relu, {bn[0]});
                 }});
  v.push_back({"batch_norm_train 2d", [=](Case& c) {
                 return op(c, OpKind::BatchNormTrain, {c.in({8, 6}), c.in({6}, 0.5, 1.5), c.in({6})}, Attrs{{"eps", 1e-5}});
               }});
  v.push_back({"batch_norm_infer", [=](Case& c) {
                 return op(c, OpKind::BatchNormInfer, {c.in({2, 6, 4, 4}), c.in({6}), c.in({6}), c.in({6}), c.in({6}, 0.5, 2)},
                           Attrs{{"eps", 1e-5}});
               }});
  v.push_back({"softmax", [=](Case& c) { return op(c, OpKind::Softmax, {c.in({4, 10}, -3, 3)}, Attrs{{"axis", int64_t{-1}}}); }});
  v.push_back({"softmax axis 1", [=](Case& c) { return op(c, OpKind::Softmax, {c.in({2, 3, 4}, -3, 3)}, Attrs{{"axis", int64_t{1}}}); }});
  v.push_back({"log_softmax", [=](Case& c) { return op(c, OpKind::LogSoftmax, {c.in({4, 10}, -3, 3)}, Attrs{{"axis", int64_t{-1}}}); }});
  v.push_back({"one_hot", [=](Case& c) {
                 return op(c, OpKind::OneHot, {c.labels(6, 5)}, Attrs{{"classes", int64_t{5}}, {"smoothing", 0.1}});
               }, false});
  v.push_back({"softmax_cross_entropy", [=](Case& c) {
                 return op(c, OpKind::SoftmaxCrossEntropy, {c.in({6, 5}, -3, 3), c.probs(6, 5)});
               }});
  v.push_back({"random_uniform", [=](Case& c) {
                 return std::vector<ValueId>{c.b.emit1(OpKind::RandomUniform, {},
                                                       Attrs{{"shape", Ints{2, 3, 4, 5}}, {"dtype", std::string("f32")}, {"stream", int64_t{7}}})};
               }, false});
  v.push_back({"runtime_scalar", [=](Case& c) { return std::vector<ValueId>{c.b.mul(c.in({3, 4}), c.b.runtime_scalar("lr"))}; }});
  v.push_back({"if_training", [=](Case& c) { return op(c, OpKind::IfTraining, {c.in({3, 4}), c.in({3, 4})}); }});
  return v;
}

void build_case(Case& c, const OpCase& oc) {
  std::vector<ValueId> outs = oc.build(c);
  ValueId loss = weighted_loss(c, outs);
  if (!oc.grad) return;
  std::vector<ValueId> wrt;
  for (const Case::Input& in : c.inputs)
    if (in.grad == Grad::Check) wrt.push_back(in.v);
  autodiff::GradientResult r = autodiff::differentiate(c.g, loss, wrt);
  for (size_t i = 0; i < wrt.size(); ++i)
    if (r.grads.count(wrt[i])) c.g.outputs.push_back({"d" + std::to_string(i), r.grads.at(wrt[i])});
}


void fuse(ir::Graph& g, const std::vector<ir::NodeId>& ids, const std::string& kind) {
  std::set<ir::NodeId> inside(ids.begin(), ids.end());
  auto body = std::make_shared<ir::Graph>();
  ir::Builder bb(*body);
  std::map<ValueId, ValueId> map;
  std::vector<ValueId> ins, outs;
  for (ir::NodeId id : ids)
    for (ValueId v : g.node(id).inputs)
      if (!inside.count(g.value(v).producer) && !map.count(v)) {
        map[v] = bb.emit1(OpKind::Input, {}, Attrs{{"name", "in" + std::to_string(ins.size())},
                                                   {"index", static_cast<int64_t>(ins.size())},
                                                   {"dtype", std::string(dtype_name(g.type(v).dtype))},
                                                   {"shape", g.type(v).shape}});
        ins.push_back(v);
      }
  std::vector<std::vector<ir::NodeId>> users = g.users();
  std::set<ValueId> exported;
  for (const auto& [n, v] : g.outputs) exported.insert(v);
  for (const ir::StateUpdate& u : g.updates) exported.insert(u.value);
  for (ir::NodeId id : ids) {
    const ir::Node n = g.node(id);
    std::vector<ValueId> bi;
    for (ValueId v : n.inputs) bi.push_back(map.at(v));
    std::vector<ValueId> bo = bb.emit(n.op, bi, n.attrs);
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      map[n.outputs[k]] = bo[k];
      bool out = exported.count(n.outputs[k]) != 0;
      for (ir::NodeId u : users[n.outputs[k]]) out = out || !inside.count(u);
      if (out) outs.push_back(n.outputs[k]);
    }
  }
  std::vector<ir::ValueType> types;
  for (size_t k = 0; k < outs.size(); ++k) {
    body->outputs.push_back({"out" + std::to_string(k), map.at(outs[k])});
    types.push_back(g.type(outs[k]));
  }
  ir::NodeId f = g.add_node(OpKind::Fused, ins, types, Attrs{{"kind", kind}, {"label", kind + "_test"}});
  g.node(f).body = body;
  for (size_t k = 0; k < outs.size(); ++k) g.replace_uses(outs[k], g.node(f).outputs[k]);
  for (ir::NodeId id : ids) g.node(id).dead = true;
  g.toposort();
  g.compact();
}

// A conv -> BN -> add -> relu block with a training step, in fp32.
std::unique_ptr<ir::Graph> small_train_graph() {
  const char* text = R"(
network net() {
  input image: f32[N, 3, 8, 8]
  c = conv_bn(image, 8, 3) as "a"
  d = conv_bn(c, 8, 3, zero_init: false) as "b"
  r = relu(c + d)
  return linear(flatten(global_avg_pool(r)), 4)
}
model = net()
)";
  ModelFile mf;
  REQUIRE(mf.load_text("net.acnn", text));
  auto fwd = mf.build(4);
  REQUIRE(fwd);
  TrainGraphOptions o;
  o.classes = 4;
  o.optimizer.lr = 0.1;
  o.optimizer.nesterov = true;
  return build_train_graph(*fwd, o);
}

std::map<std::string, Tensor> small_feeds() {
  Tensor x(DType::F32, {4, 3, 8, 8}), y(DType::I32, {4});
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, 2.0 * uniform01(counter_hash(9, 0, 1, i)) - 1.0);
  for (int64_t i = 0; i < 4; ++i) y.set(i, static_cast<double>(i % 4));
  return {{"image", x}, {"labels", y}};
}


}  // namespace acnn::testing
