// The training graph: SGD update math, weight-decay exclusions, zero-gamma,
// mixup and distillation wiring, and a loss that falls when a tiny network
// overfits one batch on the reference interpreter.
#include <cmath>

#include "compiler/autodiff/autodiff.h"
#include "compiler/elaborate/model_file.h"
#include "compiler/ir/builder.h"
#include "compiler/train/train_graph.h"
#include "runtime/interpreter.h"
#include "tests/catch.h"
#include "tests/graph_test_util.h"

using namespace acnn;
using test::forward_of;
using test::kTinyNet;
using test::tiny_batch;

TEST_CASE("the training graph verifies and names its state", "[unit]") {
  auto fwd = forward_of(kTinyNet, 4);
  TrainGraphOptions o;
  o.classes = 3;
  o.optimizer.momentum = 0.9;
  auto g = build_train_graph(*fwd, o);
  CHECK(ir::verify(*g).empty());
  CHECK(g->output("loss") != ir::kNoValue);
  CHECK(g->output("logits") != ir::kNoValue);
  // Every parameter gets a momentum buffer and an update; BN statistics update too.
  int params = 0, buffers = 0;
  for (ir::NodeId id : g->persistent_nodes()) {
    const ir::Node& n = g->node(id);
    if (n.op == ir::OpKind::Param) ++params;
    if (n.attrs.s("name").size() > 9 && n.attrs.s("name").substr(n.attrs.s("name").size() - 9) == ".momentum") ++buffers;
  }
  CHECK(params == 5);   // conv weight, bn weight+bias, fc weight+bias
  CHECK(buffers == 5);
  CHECK(g->updates.size() == 5 + 5 + 2);
  // zero_gamma resolved
  ir::NodeId gamma = g->find_persistent("stem.bn.weight");
  REQUIRE(gamma >= 0);
  CHECK(g->node(gamma).attrs.s("init") == "zeros");
  o.zero_gamma = false;
  auto g2 = build_train_graph(*fwd, o);
  CHECK(g2->node(g2->find_persistent("stem.bn.weight")).attrs.s("init") == "ones");
}

TEST_CASE("one SGD step matches the update rule, with decay only on weights", "[unit]") {
  auto fwd = forward_of(kTinyNet, 4);
  TrainGraphOptions o;
  o.classes = 3;
  o.optimizer.momentum = 0;
  o.optimizer.weight_decay = 0.01;
  auto g = build_train_graph(*fwd, o);
  ExecContext ctx;
  ctx.seed = 3;
  ctx.scalars = {{"lr", 0.5f}, {"dropblock_keep", 1.0f}};
  auto feeds = tiny_batch(4, 9);
  InterpreterResult r = interpret(*g, feeds, ctx);
  // Parameters start from their initializers (same seed), so w0/b0 are the
  // values before the step.
  Tensor w0 = init_persistent(g->node(g->find_persistent("fc.weight")), DType::F32, ctx.seed);
  Tensor b0 = init_persistent(g->node(g->find_persistent("fc.bias")), DType::F32, ctx.seed);
  const Tensor& w1 = r.updated_state.at("fc.weight");
  const Tensor& b1 = r.updated_state.at("fc.bias");
  // The gradient of the bias of a softmax classifier is the batch mean of
  // softmax(logits) - onehot; the bias is zero-initialized, so check it directly.
  const Tensor& logits = r.outputs.at("logits");
  for (int64_t k = 0; k < 3; ++k) {
    double gsum = 0;
    for (int64_t i = 0; i < 4; ++i) {
      double mx = -1e30, z = 0;
      for (int64_t j = 0; j < 3; ++j) mx = std::max(mx, logits.at(i * 3 + j));
      for (int64_t j = 0; j < 3; ++j) z += std::exp(logits.at(i * 3 + j) - mx);
      double p = std::exp(logits.at(i * 3 + k) - mx) / z;
      gsum += p - (i % 3 == k ? 1.0 : 0.0);
    }
    double expected = b0.at(k) - 0.5 * (gsum / 4.0);  // no decay on biases
    CHECK(std::abs(b1.at(k) - expected) < 1e-5);
  }
  // Weights decay: w1 = w0 - lr (g + wd w0); with the same data the gradient
  // part equals what a zero-decay run removes.
  TrainGraphOptions nodecay = o;
  nodecay.optimizer.weight_decay = 0;
  auto g0 = build_train_graph(*fwd, nodecay);
  InterpreterResult r0 = interpret(*g0, feeds, ctx);
  const Tensor& w1_nodecay = r0.updated_state.at("fc.weight");
  for (int64_t i = 0; i < w0.numel(); ++i) CHECK(std::abs(w1.at(i) - (w1_nodecay.at(i) - 0.5 * 0.01 * w0.at(i))) < 1e-6);
  const Tensor& bn1 = r.updated_state.at("stem.bn.bias");
  const Tensor& bn1_nodecay = r0.updated_state.at("stem.bn.bias");
  for (int64_t i = 0; i < bn1.numel(); ++i) CHECK(bn1.at(i) == bn1_nodecay.at(i));
}

TEST_CASE("a tiny network overfits one batch: the loss falls", "[unit]") {
  auto fwd = forward_of(kTinyNet, 6);
  TrainGraphOptions o;
  o.classes = 3;
  o.optimizer.momentum = 0.9;
  o.optimizer.nesterov = true;
  o.zero_gamma = false;
  auto g = build_train_graph(*fwd, o);
  ExecContext ctx;
  ctx.scalars = {{"lr", 0.2f}};
  auto feeds = tiny_batch(6, 5);
  // Persistent tensors start from their initializers and carry over steps.
  std::map<std::string, Tensor> state;
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    std::map<std::string, Tensor> in = feeds;
    for (auto& [k, v] : state) in[k] = v;
    ctx.step = step;
    InterpreterResult r = interpret(*g, in, ctx);
    double loss = r.outputs.at("loss").at(0);
    if (step == 0) first = loss;
    last = loss;
    for (auto& [k, v] : r.updated_state) state[k] = v;
  }
  INFO("first " << first << " last " << last);
  CHECK(first > 0.9);
  CHECK(last < 0.2 * first);
}

TEST_CASE("mixup with lambda 1 trains exactly like no mixup", "[unit]") {
  auto fwd = forward_of(kTinyNet, 4);
  TrainGraphOptions plain;
  plain.classes = 3;
  plain.label_smoothing = 0.1;
  plain.zero_gamma = false;  // else the logits start constant and the loss ignores the data
  TrainGraphOptions mixed = plain;
  mixed.mixup = true;
  auto g1 = build_train_graph(*fwd, plain);
  auto g2 = build_train_graph(*fwd, mixed);
  CHECK(ir::verify(*g2).empty());
  ExecContext ctx;
  ctx.scalars = {{"lr", 0.1f}, {"mixup_lambda", 1.0f}};
  auto feeds = tiny_batch(4, 1);
  auto other = tiny_batch(4, 2);
  std::map<std::string, Tensor> feeds2 = feeds;
  feeds2["image_b"] = other["image"];
  Tensor lb(DType::I32, {4});
  for (int i = 0; i < 4; ++i) lb.set(i, (i + 1) % 3);
  feeds2["labels_b"] = lb;
  double l1 = interpret(*g1, feeds, ctx).outputs.at("loss").at(0);
  double l2 = interpret(*g2, feeds2, ctx).outputs.at("loss").at(0);
  CHECK(std::abs(l1 - l2) < 1e-6);
  ctx.scalars["mixup_lambda"] = 0.3f;
  double l3 = interpret(*g2, feeds2, ctx).outputs.at("loss").at(0);
  CHECK(std::abs(l3 - l1) > 1e-4);
}

TEST_CASE("distillation adds T^2 times the soft cross entropy", "[unit]") {
  auto fwd = forward_of(kTinyNet, 4);
  TrainGraphOptions o;
  o.classes = 3;
  o.zero_gamma = false;
  auto plain = build_train_graph(*fwd, o);
  o.distill = true;
  o.kd_temperature = 2.0;
  o.kd_weight = 1.0;
  auto kd = build_train_graph(*fwd, o);
  ExecContext ctx;
  ctx.scalars = {{"lr", 0.0f}};
  auto feeds = tiny_batch(4, 4);
  InterpreterResult base = interpret(*plain, feeds, ctx);
  const Tensor& logits = base.outputs.at("logits");
  Tensor teacher(DType::F32, {4, 3});
  for (int64_t i = 0; i < 12; ++i) teacher.set(i, 0.5 * static_cast<double>(i % 5) - 1.0);
  feeds["teacher_logits"] = teacher;
  double with_kd = interpret(*kd, feeds, ctx).outputs.at("loss").at(0);
  // Hand computation of T^2 * mean_i CE(softmax(t_i / T), softmax(s_i / T)).
  double T = 2.0, expected = 0;
  for (int64_t i = 0; i < 4; ++i) {
    double ts[3], ss[3], mt = -1e30, ms = -1e30, zt = 0, zs = 0;
    for (int j = 0; j < 3; ++j) ts[j] = teacher.at(i * 3 + j) / T, ss[j] = logits.at(i * 3 + j) / T;
    for (int j = 0; j < 3; ++j) mt = std::max(mt, ts[j]), ms = std::max(ms, ss[j]);
    for (int j = 0; j < 3; ++j) zt += std::exp(ts[j] - mt), zs += std::exp(ss[j] - ms);
    for (int j = 0; j < 3; ++j) expected -= std::exp(ts[j] - mt) / zt * ((ss[j] - ms) - std::log(zs));
  }
  expected = expected / 4.0 * T * T;
  CHECK(std::abs((with_kd - base.outputs.at("loss").at(0)) - expected) < 1e-5);
}
