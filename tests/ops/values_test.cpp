// Reference kernels against hand-computed values and, for convolution, a
// naive seven-loop oracle: the sweep checks gradients against the kernels,
// these check the kernels against the semantics documented in the families.
#include <cmath>

#include "compiler/ir/builder.h"
#include "runtime/interpreter.h"
#include "tests/catch.h"

using namespace acnn;
using ir::OpKind;
using Ints = std::vector<int64_t>;

namespace {

Tensor T(const Shape& s, const std::vector<double>& v, DType dt = DType::F64) {
  Tensor t(dt, s);
  REQUIRE(static_cast<int64_t>(v.size()) == t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, v[i]);
  return t;
}

// Runs one op on the given tensors with the reference interpreter.
std::vector<Tensor> eval(OpKind k, const std::vector<Tensor>& ins, const Attrs& a = {}, ExecContext ctx = {}) {
  ir::Graph g;
  ir::Builder b(g);
  std::map<std::string, Tensor> feeds;
  std::vector<ir::ValueId> ids;
  for (size_t i = 0; i < ins.size(); ++i) {
    std::string name = "x" + std::to_string(i);
    ids.push_back(b.input(name, {ins[i].dtype(), ins[i].shape()}));
    feeds[name] = ins[i];
  }
  std::vector<ir::ValueId> outs = b.emit(k, ids, a);
  for (size_t j = 0; j < outs.size(); ++j) g.outputs.push_back({"y" + std::to_string(j), outs[j]});
  auto r = interpret(g, feeds, ctx);
  std::vector<Tensor> ys;
  for (size_t j = 0; j < outs.size(); ++j) ys.push_back(r.outputs.at("y" + std::to_string(j)));
  return ys;
}

Tensor eval1(OpKind k, const std::vector<Tensor>& ins, const Attrs& a = {}, ExecContext ctx = {}) {
  return eval(k, ins, a, ctx)[0];
}

void expect(const Tensor& t, const Shape& shape, const std::vector<double>& v, double tol = 1e-9) {
  REQUIRE(t.shape() == shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    INFO("element " << i << ": got " << t.at(i) << ", expected " << v[i]);
    CHECK(std::abs(t.at(i) - v[i]) <= tol);
  }
}

std::vector<double> iota(int64_t n, double start = 0) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i);
  return v;
}

}  // namespace

TEST_CASE("conv2d on hand-computed values", "[ops]") {
  Tensor x = T({1, 1, 3, 3}, iota(9, 1));
  // 2x2 kernel, no padding: each output is a weighted 2x2 window.
  expect(eval1(OpKind::Conv2d, {x, T({1, 1, 2, 2}, {1, 2, 3, 4})}), {1, 1, 2, 2}, {37, 47, 67, 77});
  // 3x3 ones with padding 1 and bias 1: neighbourhood sums plus one.
  Attrs pad1{{"pad", Ints{1, 1, 1, 1}}};
  expect(eval1(OpKind::Conv2d, {x, T({1, 1, 3, 3}, std::vector<double>(9, 1.0)), T({1}, {1})}, pad1), {1, 1, 3, 3},
         {13, 22, 17, 28, 46, 34, 25, 40, 29});
  // Stride 2 with padding picks the corners' neighbourhoods.
  Attrs s2{{"pad", Ints{1, 1, 1, 1}}, {"stride", Ints{2, 2}}};
  expect(eval1(OpKind::Conv2d, {x, T({1, 1, 3, 3}, std::vector<double>(9, 1.0))}, s2), {1, 1, 2, 2}, {12, 16, 24, 28});
  // Groups: two channels, each convolved with its own 1x1 weight.
  Tensor x2 = T({1, 2, 1, 2}, {1, 2, 3, 4});
  expect(eval1(OpKind::Conv2d, {x2, T({2, 1, 1, 1}, {10, -1})}, Attrs{{"groups", int64_t{2}}}), {1, 2, 1, 2}, {10, 20, -3, -4});
}

TEST_CASE("conv2d matches a naive oracle over strides, padding, dilation and groups", "[ops]") {
  struct G {
    Shape x, w;
    Ints stride, pad, dil;
    int64_t groups;
  };
  std::vector<G> gs = {{{2, 3, 7, 6}, {4, 3, 3, 3}, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1},
                       {{1, 4, 8, 9}, {6, 2, 3, 2}, {2, 3}, {1, 0, 2, 1}, {1, 2}, 2},
                       {{2, 4, 6, 6}, {4, 1, 3, 3}, {1, 1}, {2, 1, 0, 2}, {2, 2}, 4},
                       {{1, 2, 5, 5}, {3, 2, 1, 1}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 1}};
  uint64_t seed = 1;
  for (const G& gm : gs) {
    Tensor x(DType::F64, gm.x), w(DType::F64, gm.w), b(DType::F64, {gm.w[0]});
    for (Tensor* t : {&x, &w, &b})
      for (int64_t i = 0; i < t->numel(); ++i) t->set(i, 2.0 * uniform01(counter_hash(seed, 0, 0, i)) - 1.0), ++seed;
    Attrs a{{"stride", gm.stride}, {"pad", gm.pad}, {"dilation", gm.dil}, {"groups", gm.groups}};
    Tensor y = eval1(OpKind::Conv2d, {x, w, b}, a);
    const int64_t O = gm.w[0], Cg = gm.w[1], Og = O / gm.groups;
    const int64_t H = gm.x[2], W = gm.x[3], OH = y.dim(2), OW = y.dim(3);
    int mismatches = 0;
    for (int64_t n = 0; n < gm.x[0]; ++n)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            double acc = b.at(o);
            for (int64_t cl = 0; cl < Cg; ++cl)
              for (int64_t ki = 0; ki < gm.w[2]; ++ki)
                for (int64_t kj = 0; kj < gm.w[3]; ++kj) {
                  int64_t ih = oh * gm.stride[0] - gm.pad[0] + ki * gm.dil[0];
                  int64_t iw = ow * gm.stride[1] - gm.pad[1] + kj * gm.dil[1];
                  if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                  int64_t c = (o / Og) * Cg + cl;
                  acc += x.at(((n * gm.x[1] + c) * H + ih) * W + iw) * w.at(((o * Cg + cl) * gm.w[2] + ki) * gm.w[3] + kj);
                }
            if (std::abs(acc - y.at(((n * O + o) * OH + oh) * OW + ow)) > 1e-12) ++mismatches;
          }
    INFO("conv " << shape_str(gm.x) << " * " << shape_str(gm.w) << " groups " << gm.groups);
    CHECK(mismatches == 0);
  }
}

TEST_CASE("matmul with transposes", "[ops]") {
  Tensor a = T({2, 2}, {1, 2, 3, 4}), b = T({2, 2}, {5, 6, 7, 8});
  auto mm = [&](int64_t ta, int64_t tb) { return eval1(OpKind::Matmul, {a, b}, Attrs{{"transpose_a", ta}, {"transpose_b", tb}}); };
  expect(mm(0, 0), {2, 2}, {19, 22, 43, 50});
  expect(mm(1, 0), {2, 2}, {26, 30, 38, 44});
  expect(mm(0, 1), {2, 2}, {17, 23, 39, 53});
  expect(mm(1, 1), {2, 2}, {23, 31, 34, 46});
  expect(eval1(OpKind::Matmul, {T({1, 3}, {1, 2, 3}), T({3, 2}, {1, 0, 0, 1, 1, 1})}), {1, 2}, {4, 5});
}

TEST_CASE("pooling on hand-computed values", "[ops]") {
  Tensor x = T({1, 1, 4, 4}, iota(16));
  expect(eval1(OpKind::MaxPool2d, {x}, Attrs{{"kernel", Ints{2, 2}}}), {1, 1, 2, 2}, {5, 7, 13, 15});
  Attrs k3{{"kernel", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1, 1, 1}}};
  expect(eval1(OpKind::MaxPool2d, {T({1, 1, 4, 4}, iota(16, -20))}, k3), {1, 1, 2, 2}, {-15, -13, -7, -5});
  // Average pooling: the corner window holds 0, 1, 4, 5 (sum 10) and 5 pads.
  Attrs incl = k3, excl = k3;
  incl.set("count_include_pad", int64_t{1});
  excl.set("count_include_pad", int64_t{0});
  Tensor inc = eval1(OpKind::AvgPool2d, {x}, incl), exc = eval1(OpKind::AvgPool2d, {x}, excl);
  CHECK(std::abs(inc.at(0) - 10.0 / 9) < 1e-12);
  CHECK(std::abs(exc.at(0) - 2.5) < 1e-12);
  CHECK(std::abs(exc.at(3) - (5 + 6 + 7 + 9 + 10 + 11 + 13 + 14 + 15) / 9.0) < 1e-12);
  // Max pooling's backward: ties go to the first maximum of each window.
  Tensor dx = eval1(OpKind::MaxPool2dBackward, {T({1, 1, 1, 2}, {3, 7}), T({1, 1, 2, 4}, std::vector<double>(8, 1.0))},
                    Attrs{{"kernel", Ints{2, 2}}});
  expect(dx, {1, 1, 2, 4}, {3, 0, 7, 0, 0, 0, 0, 0});
  // Average pooling's backward spreads dy / count over the window.
  expect(eval1(OpKind::AvgPool2dBackward, {T({1, 1, 1, 1}, {8})},
               Attrs{{"kernel", Ints{2, 2}}, {"input_shape", Ints{1, 1, 2, 2}}}),
         {1, 1, 2, 2}, {2, 2, 2, 2});
}

TEST_CASE("upsampling on hand-computed values", "[ops]") {
  Tensor x = T({1, 1, 2, 2}, {1, 2, 3, 4});
  expect(eval1(OpKind::UpsampleNearest, {x}, Attrs{{"scale", int64_t{2}}}), {1, 1, 4, 4},
         {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // PyTorch: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False).
  expect(eval1(OpKind::UpsampleBilinear, {x}, Attrs{{"scale", int64_t{2}}}), {1, 1, 4, 4},
         {1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0});
  // The backward of nearest sums each block; bilinear's spreads each output
  // over its (at most four) sources, so the total is preserved.
  expect(eval1(OpKind::UpsampleNearestBackward, {T({1, 1, 2, 4}, iota(8))}, Attrs{{"scale", int64_t{2}}}), {1, 1, 1, 2},
         {0 + 1 + 4 + 5, 2 + 3 + 6 + 7});
  Tensor gb = eval1(OpKind::UpsampleBilinearBackward, {T({1, 1, 4, 4}, std::vector<double>(16, 1.0))},
                    Attrs{{"scale", int64_t{2}}, {"input_shape", Ints{1, 1, 2, 2}}});
  expect(gb, {1, 1, 2, 2}, {4, 4, 4, 4});
}

TEST_CASE("softmax, log_softmax, one_hot and the cross-entropy loss", "[ops]") {
  expect(eval1(OpKind::Softmax, {T({3}, {1, 2, 3})}), {3}, {0.09003057317038046, 0.24472847105479764, 0.6652409557748219}, 1e-12);
  expect(eval1(OpKind::LogSoftmax, {T({3}, {1, 2, 3})}), {3}, {-2.4076059644443806, -1.4076059644443806, -0.4076059644443806},
         1e-12);
  // Large logits stay finite.
  expect(eval1(OpKind::Softmax, {T({2}, {1000, 1000})}), {2}, {0.5, 0.5});
  // Softmax over axis 0 of a [2,2].
  expect(eval1(OpKind::Softmax, {T({2, 2}, {0, 5, 0, 5})}, Attrs{{"axis", int64_t{0}}}), {2, 2}, {0.5, 0.5, 0.5, 0.5});
  Tensor labels = T({2}, {2, 0}, DType::I32);
  Tensor oh = eval1(OpKind::OneHot, {labels}, Attrs{{"classes", int64_t{3}}, {"smoothing", 0.1}});
  CHECK(oh.dtype() == DType::F32);
  const double on = 0.9 + 0.1 / 3, off = 0.1 / 3;
  expect(oh, {2, 3}, {off, off, on, on, off, off}, 1e-6);
  CHECK_THROWS(eval1(OpKind::OneHot, {T({1}, {3}, DType::I32)}, Attrs{{"classes", int64_t{3}}}));
  // -sum(target * log_softmax): uniform logits over two classes give log 2.
  Tensor logits = T({2, 2}, {0, 0, 1, 3}), target = T({2, 2}, {1, 0, 0.25, 0.75});
  Tensor loss = eval1(OpKind::SoftmaxCrossEntropy, {logits, target});
  const double lse = std::log(std::exp(1.0) + std::exp(3.0));
  expect(loss, {2}, {std::log(2.0), -(0.25 * (1 - lse) + 0.75 * (3 - lse))}, 1e-12);
  // Backward: dloss * (softmax - target).
  const double p1 = std::exp(1 - lse);
  expect(eval1(OpKind::SoftmaxCrossEntropyBackward, {T({2}, {2, 1}), logits, target}), {2, 2},
         {2 * (0.5 - 1), 2 * 0.5, p1 - 0.25, (1 - p1) - 0.75}, 1e-12);
  // A zero target beside a -inf log-probability contributes 0, not NaN.
  Tensor far = eval1(OpKind::SoftmaxCrossEntropy, {T({1, 2}, {0, -1e308}), T({1, 2}, {1, 0})});
  CHECK(std::abs(far.at(0)) < 1e-12);
}

TEST_CASE("batch norm: biased batch variance, inference and backward", "[ops]") {
  // Channel 0 holds 1 and 3 (mean 2, biased variance 1), channel 1 holds 5 and 5.
  Tensor x = T({2, 2}, {1, 5, 3, 5}), gamma = T({2}, {2, 1}), beta = T({2}, {0.5, -1});
  Attrs eps{{"eps", 1e-5}};
  auto ys = eval(OpKind::BatchNormTrain, {x, gamma, beta}, eps);
  expect(ys[1], {2}, {2, 5});
  expect(ys[2], {2}, {1, 0});
  const double k = 2 / std::sqrt(1 + 1e-5);
  expect(ys[0], {2, 2}, {-k + 0.5, -1, k + 0.5, -1}, 1e-12);
  // Inference mode (and the mode-neutral form) use the given statistics.
  Tensor mean = T({2}, {0, 1}), var = T({2}, {4, 0.25});
  std::vector<double> expected = {1 / std::sqrt(4 + 1e-5) * 2 + 0.5, 4 / std::sqrt(0.25 + 1e-5) - 1,
                                  3 / std::sqrt(4 + 1e-5) * 2 + 0.5, 4 / std::sqrt(0.25 + 1e-5) - 1};
  expect(eval1(OpKind::BatchNormInfer, {x, gamma, beta, mean, var}, eps), {2, 2}, expected, 1e-12);
  Attrs neutral{{"eps", 1e-5}, {"momentum", 0.9}};
  expect(eval1(OpKind::BatchNorm, {x, gamma, beta, mean, var}, neutral), {2, 2}, expected, 1e-12);
  // Backward with dy = 1 everywhere: dbeta counts, dgamma = sum(xhat) = 0, dx = 0.
  auto g = eval(OpKind::BatchNormBackward, {T({2, 2}, {1, 1, 1, 1}), x, gamma, ys[1], ys[2]}, eps);
  expect(g[0], {2, 2}, {0, 0, 0, 0}, 1e-9);
  expect(g[1], {2}, {0, 0}, 1e-9);
  expect(g[2], {2}, {2, 2});
}

TEST_CASE("data movement on hand-computed values", "[ops]") {
  Attrs reflect{{"pads", Ints{2, 2}}, {"mode", std::string("reflect")}};
  expect(eval1(OpKind::Pad, {T({3}, {1, 2, 3})}, reflect), {7}, {3, 2, 1, 2, 3, 2, 1});
  // Its adjoint counts how often each source element was read.
  expect(eval1(OpKind::PadBackward, {T({7}, std::vector<double>(7, 1.0))}, reflect), {3}, {2, 3, 2});
  Attrs zeros{{"pads", Ints{0, 1, 1, 0}}, {"mode", std::string("zeros")}};
  expect(eval1(OpKind::Pad, {T({2, 2}, {1, 2, 3, 4})}, zeros), {3, 3}, {0, 1, 2, 0, 3, 4, 0, 0, 0});
  expect(eval1(OpKind::PadBackward, {T({3, 3}, iota(9))}, zeros), {2, 2}, {1, 2, 4, 5});
  expect(eval1(OpKind::Transpose, {T({2, 3}, iota(6))}, Attrs{{"perm", Ints{1, 0}}}), {3, 2}, {0, 3, 1, 4, 2, 5});
  expect(eval1(OpKind::Concat, {T({2, 1}, {1, 2}), T({2, 2}, {3, 4, 5, 6})}, Attrs{{"axis", int64_t{1}}}), {2, 3},
         {1, 3, 4, 2, 5, 6});
  expect(eval1(OpKind::Slice, {T({2, 3}, iota(6))}, Attrs{{"axis", int64_t{1}}, {"begin", int64_t{1}}, {"end", int64_t{3}}}),
         {2, 2}, {1, 2, 4, 5});
  expect(eval1(OpKind::BroadcastTo, {T({2, 1}, {1, 2})}, Attrs{{"shape", Ints{2, 3}}}), {2, 3}, {1, 1, 1, 2, 2, 2});
  // Concat and slice move bytes, so integers work too.
  Tensor ic = eval1(OpKind::Concat, {T({1}, {7}, DType::I32), T({2}, {-1, 9}, DType::I32)}, Attrs{{"axis", int64_t{0}}});
  CHECK(ic.dtype() == DType::I32);
  expect(ic, {3}, {7, -1, 9});
}

TEST_CASE("reductions and elementwise ops on hand-computed values", "[ops]") {
  Tensor x = T({2, 3}, {1, 5, 2, 4, 0, 6});
  expect(eval1(OpKind::ReduceSum, {x}, Attrs{{"axes", Ints{1}}}), {2}, {8, 10});
  expect(eval1(OpKind::ReduceMean, {x}, Attrs{{"axes", Ints{0}}, {"keepdims", int64_t{1}}}), {1, 3}, {2.5, 2.5, 4});
  expect(eval1(OpKind::ReduceMax, {x}, Attrs{{"axes", Ints{0, 1}}}), {}, {6});
  expect(eval1(OpKind::ReduceMax, {T({2, 2}, {-3, -1, -7, -2})}, Attrs{{"axes", Ints{-1}}}), {2}, {-1, -2});
  expect(eval1(OpKind::Add, {x, T({3}, {10, 20, 30})}), {2, 3}, {11, 25, 32, 14, 20, 36});
  expect(eval1(OpKind::Div, {T({2, 1}, {1, 2}), T({2}, {2, 4})}), {2, 2}, {0.5, 0.25, 1, 0.5});
  expect(eval1(OpKind::Less, {T({3}, {1, 2, 3}), T({}, {2})}), {3}, {1, 0, 0});
  expect(eval1(OpKind::Maximum, {T({3}, {1, 2, 3}), T({}, {2})}), {3}, {2, 2, 3});
  expect(eval1(OpKind::Minimum, {T({3}, {1, 2, 3}), T({}, {2})}), {3}, {1, 2, 2});
  expect(eval1(OpKind::Relu, {T({3}, {-1, 0, 2})}), {3}, {0, 0, 2});
  expect(eval1(OpKind::ReluBackward, {T({3}, {5, 5, 5}), T({3}, {-1, 0, 2})}), {3}, {0, 0, 5});
  expect(eval1(OpKind::Scale, {T({2}, {1, -2})}, Attrs{{"alpha", 3.0}, {"beta", 1.0}}), {2}, {4, -5});
  expect(eval1(OpKind::Sigmoid, {T({1}, {0})}), {1}, {0.5});
  Tensor c = eval1(OpKind::Cast, {T({3}, {-1.7, 2.9, 3}, DType::F32)}, Attrs{{"dtype", std::string("i32")}});
  CHECK(c.dtype() == DType::I32);
  expect(c, {3}, {-1, 2, 3});
  expect(eval1(OpKind::Cast, {T({2}, {-4, 9}, DType::I32)}, Attrs{{"dtype", std::string("f64")}}), {2}, {-4, 9});
}

TEST_CASE("sources, randomness and mode selection", "[ops]") {
  ExecContext ctx;
  ctx.seed = 42, ctx.step = 3;
  Attrs ra{{"shape", Ints{64}}, {"stream", int64_t{5}}};
  Tensor r1 = eval1(OpKind::RandomUniform, {}, ra, ctx), r2 = eval1(OpKind::RandomUniform, {}, ra, ctx);
  for (int64_t i = 0; i < 64; ++i) {
    CHECK(r1.at(i) == r2.at(i));
    CHECK(r1.at(i) == uniform01(counter_hash(42, 3, 5, i)));
    CHECK((r1.at(i) >= 0 && r1.at(i) < 1));
  }
  ctx.step = 4;
  Tensor r3 = eval1(OpKind::RandomUniform, {}, ra, ctx);
  int same = 0;
  for (int64_t i = 0; i < 64; ++i) same += r1.at(i) == r3.at(i);
  CHECK(same < 4);
  ctx.scalars["lr"] = 0.5f;
  expect(eval1(OpKind::RuntimeScalar, {}, Attrs{{"name", std::string("lr")}}, ctx), {}, {0.5});
  Tensor k = eval1(OpKind::Constant, {}, Attrs{{"shape", Ints{2}}, {"dtype", std::string("i32")}, {"values", std::vector<double>{3, -4}}});
  CHECK(k.dtype() == DType::I32);
  expect(k, {2}, {3, -4});
  expect(eval1(OpKind::Constant, {}, Attrs{{"shape", Ints{2}}, {"dtype", std::string("f64")}, {"fill", 1.5}}), {2}, {1.5, 1.5});
  Tensor a = T({2}, {1, 2}), b = T({2}, {3, 4});
  ctx.training = true;
  expect(eval1(OpKind::IfTraining, {a, b}, {}, ctx), {2}, {1, 2});
  ctx.training = false;
  expect(eval1(OpKind::IfTraining, {a, b}, {}, ctx), {2}, {3, 4});
}
