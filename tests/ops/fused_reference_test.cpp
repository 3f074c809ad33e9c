// The reference execution of Fused nodes: a graph with a group of its nodes
// fused (tests/ops/fused_util.h) must give bit-identical results to the same
// graph unfused on the reference interpreter, for every fused kind's shape of
// body (elementwise with broadcasts and trailing reductions, conv post-op
// chains, batch norm with residual and relu, its backward, SGD updates).
#include <cstring>

#include "compiler/ops/fused.h"
#include "runtime/interpreter.h"
#include "tests/catch.h"
#include "tests/ops/fused_util.h"
#include "tests/ops/harness.h"

using namespace acnn;
using namespace acnn::testing;
using ir::OpKind;
using ir::ValueId;
using Ints = std::vector<int64_t>;

namespace {

// Input i of the node producing v.
ValueId arg(Case& c, ValueId v, int i) { return c.g.node(c.g.value(v).producer).inputs[i]; }

// Interprets c.g unfused, fuses `group` (as values whose producers form it),
// checks the fused graph and compares bit for bit.
void check_fused_reference(Case& c, const std::vector<ValueId>& group_values, const std::string& kind) {
  auto want = interpret(c.g, c.feeds, c.ctx);
  auto fused = c.g.clone();
  ir::NodeId f = fuse(*fused, producers(*fused, group_values), kind);
  REQUIRE(ir::verify(*fused).empty());
  REQUIRE(ops::verify_fused(*fused, fused->node(f)).empty());
  int count = 0;
  for (const ir::Node& n : fused->nodes()) count += !n.dead && n.op == OpKind::Fused;
  REQUIRE(count == 1);
  auto got = interpret(*fused, c.feeds, c.ctx);
  REQUIRE(got.outputs.size() == want.outputs.size());
  for (const auto& [name, t] : want.outputs) {
    INFO("output " << name);
    const Tensor& g = got.outputs.at(name);
    REQUIRE(g.shape() == t.shape());
    CHECK(std::memcmp(g.raw(), t.raw(), t.bytes()) == 0);
  }
  for (const auto& [name, t] : want.updated_state) {
    INFO("update " << name);
    const Tensor& g = got.updated_state.at(name);
    CHECK(std::memcmp(g.raw(), t.raw(), t.bytes()) == 0);
  }
}

}  // namespace

TEST_CASE("fused reference: elementwise chain with broadcasts and a reduction", "[unit]") {
  for (DType dt : {DType::F32, DType::F64}) {
    Case c(dt, 11);
    ValueId x = c.in({2, 8, 3, 3}), ch = c.in({1, 8, 1, 1}), s = c.in({}), y = c.in({2, 8, 3, 3});
    ValueId a = c.b.mul(c.b.add(x, ch), s);
    ValueId r = c.b.emit1(OpKind::Relu, {a});
    ValueId m = c.b.emit1(OpKind::Maximum, {r, c.b.emit1(OpKind::Sigmoid, {y})});
    ValueId red = c.b.reduce_sum(m, {0, 2, 3}, false);
    c.g.outputs = {{"m", m}, {"red", red}};
    check_fused_reference(c, {arg(c, a, 0), a, r, arg(c, m, 1), m, red}, "elementwise");
  }
}

TEST_CASE("fused reference: conv with bias, bn-infer, relu, residual add, relu", "[unit]") {
  Case c(DType::F32, 12);
  ValueId x = c.in({2, 4, 6, 6}), w = c.in({8, 4, 3, 3}), bias = c.in({1, 8, 1, 1});
  ValueId gamma = c.in({8}), beta = c.in({8}), mean = c.in({8}), var = c.in({8}, 0.5, 2), res = c.in({2, 8, 6, 6});
  ValueId y = c.b.emit1(OpKind::Conv2d, {x, w}, Attrs{{"pad", Ints{1, 1, 1, 1}}});
  ValueId yb = c.b.add(y, bias);
  ValueId z = c.b.emit1(OpKind::BatchNormInfer, {yb, gamma, beta, mean, var}, Attrs{{"eps", 1e-5}});
  ValueId r1 = c.b.emit1(OpKind::Relu, {z});
  ValueId s = c.b.add(r1, res);
  ValueId out = c.b.emit1(OpKind::Relu, {s});
  c.g.outputs = {{"out", out}};
  check_fused_reference(c, {y, yb, z, r1, s, out}, "conv");
}

TEST_CASE("fused reference: batchnorm train with residual and relu, and its backward", "[unit]") {
  Case c(DType::F32, 13);
  ValueId x = c.in({4, 3, 5, 5}), gamma = c.in({3}), beta = c.in({3}), res = c.in({4, 3, 5, 5});
  auto bn = c.b.emit(OpKind::BatchNormTrain, {x, gamma, beta}, Attrs{{"eps", 1e-5}});
  ValueId s = c.b.add(bn[0], res);
  ValueId y = c.b.emit1(OpKind::Relu, {s});
  ValueId dy = c.in({4, 3, 5, 5});
  ValueId ds = c.b.emit1(OpKind::ReluBackward, {dy, s});
  auto bwd = c.b.emit(OpKind::BatchNormBackward, {ds, x, gamma, bn[1], bn[2]}, Attrs{{"eps", 1e-5}});
  c.g.outputs = {{"y", y}, {"mean", bn[1]}, {"var", bn[2]}, {"ds", ds}, {"dx", bwd[0]}, {"dg", bwd[1]}, {"db", bwd[2]}};
  check_fused_reference(c, {bn[0], s, y}, "batchnorm");
  check_fused_reference(c, {ds, bwd[0]}, "batchnorm_backward");
}

TEST_CASE("fused reference: SGD updates of several parameters in one node", "[unit]") {
  Case c(DType::F32, 14);
  ValueId lr = c.b.runtime_scalar("lr");
  c.ctx.scalars["lr"] = 0.1f;
  std::vector<ValueId> group;
  std::vector<std::pair<std::string, ValueId>> outs;
  for (int i = 0; i < 3; ++i) {
    Shape s = i == 0 ? Shape{4, 3, 3, 3} : Shape{4};
    ValueId p = c.in(s), g = c.in(s), buf = c.in(s);
    ValueId gd = i == 0 ? c.b.add(g, c.b.scale(p, 1e-4)) : g;
    ValueId nb = c.b.add(c.b.scale(buf, 0.9), gd);
    ValueId step = c.b.add(gd, c.b.scale(nb, 0.9));
    ValueId np = c.b.sub(p, c.b.mul(step, lr));
    for (ValueId v : {nb, step, np}) group.push_back(v);
    if (i == 0) group.push_back(gd);
    if (i == 0) group.push_back(arg(c, gd, 1));
    for (ValueId v : {arg(c, nb, 0), arg(c, step, 1), arg(c, np, 1)}) group.push_back(v);
    outs.push_back({"p" + std::to_string(i), np});
    outs.push_back({"b" + std::to_string(i), nb});
  }
  c.g.outputs = outs;
  check_fused_reference(c, group, "optimizer");
}
