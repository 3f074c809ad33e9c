// autodiff::differentiate on multi-op graphs: a small conv net end to end
// against finite differences, gradient accumulation over several uses,
// reduce_max ties, values the loss does not reach, and argument checks.
#include <cmath>

#include "compiler/autodiff/autodiff.h"
#include "tests/catch.h"
#include "tests/ops/harness.h"

using namespace acnn;
using namespace acnn::testing;
using ir::OpKind;
using Ints = std::vector<int64_t>;

TEST_CASE("differentiate: conv -> bn_train -> relu -> mean -> matmul -> cross-entropy", "[grad]") {
  Case c(DType::F64, 7);
  ir::Builder& b = c.b;
  ValueId x = c.in({2, 3, 5, 5}), w = c.in({4, 3, 3, 3}, -0.5, 0.5);
  ValueId gamma = c.in({4}, 0.5, 1.5), beta = c.in({4}), fc = c.in({4, 3});
  ValueId labels = c.labels(2, 3);
  b.scope = "stem";
  ValueId h = b.emit1(OpKind::Conv2d, {x, w}, Attrs{{"stride", Ints{2, 2}}, {"pad", Ints{1, 1, 1, 1}}});
  h = b.emit(OpKind::BatchNormTrain, {h, gamma, beta}, Attrs{{"eps", 1e-5}})[0];
  h = b.emit1(OpKind::Relu, {h});
  h = b.add(h, b.scale(h, 0.5));  // two uses of h: contributions accumulate
  b.scope = "head";
  ValueId pooled = b.reduce_mean(h, {2, 3}, false);
  ValueId logits = b.emit1(OpKind::Matmul, {pooled, fc});
  ValueId target = b.emit1(OpKind::OneHot, {labels}, Attrs{{"classes", int64_t{3}}, {"smoothing", 0.1}});
  target = b.emit1(OpKind::Cast, {target}, Attrs{{"dtype", std::string("f64")}});
  ValueId loss = b.reduce_mean(b.emit1(OpKind::SoftmaxCrossEntropy, {logits, target}), {0}, false);
  c.g.outputs.push_back({"loss", loss});
  const size_t forward_nodes = c.g.num_nodes();
  CHECK(check_gradients(c, loss) == 150 + 108 + 4 + 4 + 12);
  // Backward nodes keep the scope of the forward node they differentiate.
  bool stem = false, head = false;
  for (size_t n = forward_nodes; n < c.g.num_nodes(); ++n) {
    const ir::Node& node = c.g.node(static_cast<ir::NodeId>(n));
    if (node.op == OpKind::Conv2dBackwardWeight) stem = node.scope == "stem";
    if (node.op == OpKind::SoftmaxCrossEntropyBackward) head = node.scope == "head";
  }
  CHECK(stem);
  CHECK(head);
}

TEST_CASE("differentiate: a value used several times sums its gradients", "[grad]") {
  Case c(DType::F64, 3);
  ValueId x = c.in({3});
  // loss = sum(x*x + 3x) => d/dx = 2x + 3
  ValueId loss = c.b.reduce_sum(c.b.add(c.b.mul(x, x), c.b.scale(x, 3.0)), {0}, false);
  c.g.outputs.push_back({"loss", loss});
  auto r = autodiff::differentiate(c.g, loss, {x});
  REQUIRE(r.grads.count(x) == 1);
  c.g.outputs.push_back({"dx", r.grads[x]});
  auto out = run(c.g, c);
  for (int64_t i = 0; i < 3; ++i) CHECK(std::abs(out.at("dx").at(i) - (2 * c.feeds.at("in0").at(i) + 3)) < 1e-12);
}

TEST_CASE("differentiate: reduce_max shares the gradient among tied maxima", "[grad]") {
  Case c(DType::F64, 1);
  ValueId x = c.in_values({2, 3}, {1, 3, 3, 5, 2, -1});
  ValueId loss = c.b.reduce_sum(c.b.emit1(OpKind::ReduceMax, {x}, Attrs{{"axes", Ints{1}}}), {0}, false);
  auto r = autodiff::differentiate(c.g, loss, {x});
  c.g.outputs.push_back({"dx", r.grads.at(x)});
  Tensor dx = run(c.g, c).at("dx");
  std::vector<double> expected = {0, 0.5, 0.5, 1, 0, 0};
  for (int64_t i = 0; i < 6; ++i) CHECK(std::abs(dx.at(i) - expected[i]) < 1e-12);
}

TEST_CASE("differentiate: unreached values get no entry; bad losses are rejected", "[grad]") {
  Case c(DType::F64, 5);
  ValueId x = c.in({2}), unused = c.in({2}), masked = c.in({2});
  // `masked` only reaches the loss through less (no gradient).
  ValueId mask = c.b.emit1(OpKind::Less, {masked, x});
  ValueId loss = c.b.reduce_sum(c.b.mul(c.b.emit1(OpKind::Exp, {x}), mask), {0}, false);
  auto r = autodiff::differentiate(c.g, loss, {x, unused, masked});
  CHECK(r.grads.count(x) == 1);
  CHECK(r.grads.count(unused) == 0);
  CHECK(r.grads.count(masked) == 0);
  CHECK(ir::verify(c.g).empty());
  CHECK_THROWS_AS(autodiff::differentiate(c.g, x, {x}), std::invalid_argument);
  ValueId as_int = c.b.emit1(OpKind::Cast, {loss}, Attrs{{"dtype", std::string("i32")}});
  CHECK_THROWS_AS(autodiff::differentiate(c.g, as_int, {x}), std::invalid_argument);
}

TEST_CASE("differentiate: fp32 graphs get fp32 gradients", "[grad]") {
  Case c(DType::F32, 9);
  ValueId x = c.in({2, 2}), w = c.in({2, 2});
  ValueId loss = c.b.reduce_sum(c.b.emit1(OpKind::Tanh, {c.b.emit1(OpKind::Matmul, {x, w})}), {0, 1}, false);
  auto r = autodiff::differentiate(c.g, loss, {x, w});
  REQUIRE(r.grads.size() == 2);
  CHECK(c.g.type(r.grads[w]).dtype == DType::F32);
  CHECK(c.g.type(c.g.producer(r.grads[w]).inputs[0]).dtype == DType::F32);
  CHECK(ir::verify(c.g).empty());
}
