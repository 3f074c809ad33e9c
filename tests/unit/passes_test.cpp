// The graph passes one by one (CSE, constant folding, BN folding,
// rematerialization, fusion kinds, layout and in-place marking), the pipeline's options, the plan-only
// executor and the executor's in-place reuse.
#include <cmath>
#include <sstream>

#include "compiler/elaborate/model_file.h"
#include "compiler/ir/builder.h"
#include "compiler/ir/printer.h"
#include "compiler/passes/fusion.h"
#include "compiler/passes/pipeline.h"
#include "compiler/train/train_graph.h"
#include "runtime/executor.h"
#include "runtime/interpreter.h"
#include "tests/catch.h"
#include "tests/graph_test_util.h"

using namespace acnn;
using ir::OpKind;
using ir::ValueId;
using test::forward_of;

namespace {

int count_op(const ir::Graph& g, OpKind k) {
  int n = 0;
  for (const ir::Node& x : g.nodes()) n += !x.dead && x.op == k;
  return n;
}

std::map<std::string, int> kinds_of(const ir::Graph& g) {
  std::map<std::string, int> k;
  for (const ir::Node& n : g.nodes())
    if (!n.dead && n.op == OpKind::Fused) ++k[n.attrs.s("kind")];
  return k;
}

Tensor ramp(const Shape& s, double scale = 0.1) {
  Tensor t(DType::F32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, scale * static_cast<double>((i * 37) % 23 - 11));
  return t;
}

double max_diff(const Tensor& a, const Tensor& b) {
  double d = 0;
  for (int64_t i = 0; i < a.numel(); ++i) d = std::max(d, std::fabs(a.at(i) - b.at(i)));
  return d;
}

const char* kBlock = R"(
import "resnet"
network net() {
  input image: f32[N, 8, 8, 8]
  y = bottleneck(image, 4, 2, Tweaks(resnet_d: true, attention: "sk", sk_min: 4, anti_alias: true), true) as "block"
  fc = linear(flatten(global_avg_pool(y)), 3)
  return fc
}
model = net()
)";

}  // namespace

TEST_CASE("cse merges equal nodes, commutative operands included, but never random sources", "[unit]") {
  ir::Graph g;
  ir::Builder b(g);
  ValueId x = b.input("x", {DType::F32, {4}});
  ValueId y = b.input("y", {DType::F32, {4}});
  ValueId a1 = b.add(x, y), a2 = b.add(y, x), s1 = b.scale(x, 2.0), s2 = b.scale(x, 2.0), s3 = b.scale(x, 3.0);
  ValueId r1 = b.emit1(OpKind::RandomUniform, {}, Attrs{{"shape", Shape{4}}, {"stream", int64_t{1}}});
  ValueId r2 = b.emit1(OpKind::RandomUniform, {}, Attrs{{"shape", Shape{4}}, {"stream", int64_t{1}}});
  ValueId out = b.add(b.add(b.mul(a1, a2), b.mul(s1, s2)), b.add(s3, b.add(r1, r2)));
  g.outputs.push_back({"out", out});
  size_t before = g.num_nodes();
  REQUIRE(passes::cse(g));
  CHECK(g.num_nodes() == before - 2);  // a2 and s2
  CHECK(count_op(g, OpKind::RandomUniform) == 2);
  CHECK(ir::verify(g).empty());
  CHECK_FALSE(passes::cse(g));
}

TEST_CASE("constant folding evaluates the blur filter at compile time", "[unit]") {
  ir::Graph g;
  ir::Builder b(g);
  ValueId x = b.input("x", {DType::F32, {1, 3, 6, 6}});
  ValueId f = b.broadcast_to(b.constant({1, 1, 2, 2}, {0.25, 0.5, 0.125, 1.0}), {3, 1, 2, 2});
  ValueId y = b.emit1(OpKind::Conv2d, {x, f}, Attrs{{"groups", int64_t{3}}});
  g.outputs.push_back({"y", y});
  auto ref = g.clone();
  REQUIRE(passes::const_fold(g));
  CHECK(count_op(g, OpKind::BroadcastTo) == 0);
  REQUIRE(count_op(g, OpKind::Constant) == 1);
  const ir::Node& c = g.producer(g.producer(g.output("y")).inputs[1]);
  CHECK(c.attrs.floats("values").size() == 12);
  CHECK(c.attrs.floats("values")[5] == 0.5);
  ExecContext ctx;
  auto feeds = std::map<std::string, Tensor>{{"x", ramp({1, 3, 6, 6})}};
  CHECK(max_diff(interpret(g, feeds, ctx).outputs["y"], interpret(*ref, feeds, ctx).outputs["y"]) == 0);
}

TEST_CASE("batch norm folds into the convolution before it at inference", "[unit]") {
  auto fwd = forward_of(kBlock, 2);
  auto eval = build_eval_graph(*fwd, false);
  auto folded = eval->clone();
  int bns = count_op(*eval, OpKind::BatchNormInfer);
  REQUIRE(bns > 0);
  REQUIRE(passes::bn_fold(*folded));
  CHECK(count_op(*folded, OpKind::BatchNormInfer) == 0);
  CHECK(ir::verify(*folded).empty());
  // Non-trivial statistics so that folding matters.
  std::map<std::string, Tensor> feeds{{"image", ramp({2, 8, 8, 8})}};
  for (ir::NodeId id : eval->persistent_nodes()) {
    const ir::Node& n = eval->node(id);
    const std::string& name = n.attrs.s("name");
    Shape s = eval->type(n.outputs[0]).shape;
    if (name.find("running_var") != std::string::npos) {
      Tensor v = ramp(s, 0.05);
      for (int64_t i = 0; i < v.numel(); ++i) v.set(i, 0.5 + std::fabs(v.at(i)));
      feeds[name] = v;
    } else if (name.find("running_mean") != std::string::npos || name.find("bn") != std::string::npos) {
      feeds[name] = ramp(s, 0.03);
    }
  }
  ExecContext ctx;
  ctx.training = false;
  Tensor a = interpret(*eval, feeds, ctx).outputs["logits"], b = interpret(*folded, feeds, ctx).outputs["logits"];
  CHECK(max_diff(a, b) < 1e-4);
  // The persistent tensors (checkpoint names) are the same.
  CHECK(folded->persistent_nodes().size() == eval->persistent_nodes().size());
}

TEST_CASE("fusion forms each kind of the contract on a bottleneck with SK and anti-aliasing", "[unit]") {
  auto fwd = forward_of(kBlock, 2);
  TrainGraphOptions go;
  go.classes = 3;
  auto train = build_train_graph(*fwd, go);
  passes::PipelineOptions po;
  po.verify = true;
  passes::run_pipeline(*train, po);
  std::map<std::string, int> k = kinds_of(*train);
  CHECK(k["batchnorm"] >= 3);
  CHECK(k["batchnorm_backward"] >= 3);
  CHECK(k["optimizer"] == 1);
  CHECK(k["elementwise"] >= 2);
  // Every parameter update comes from the optimizer node.
  for (const ir::StateUpdate& u : train->updates)
    if (train->producer(u.target).op == OpKind::Param) {
      const ir::Node& p = train->producer(u.value);
      CHECK(p.op == OpKind::Fused);
      CHECK(p.attrs.s("kind") == "optimizer");
    }
  auto eval = build_eval_graph(*fwd, false);
  po.mode = passes::Mode::Eval;
  passes::run_pipeline(*eval, po);
  k = kinds_of(*eval);
  CHECK(k["conv"] >= 4);
  CHECK(count_op(*eval, OpKind::BatchNormInfer) == 0);
  bool residual = false;
  for (const ir::Node& n : eval->nodes())
    residual |= n.op == OpKind::Fused && n.attrs.s("label") == "conv2d+add+relu";
  CHECK(residual);
}

TEST_CASE("the pipeline prints after passes, skips disabled ones and rejects unknown names", "[unit]") {
  auto fwd = forward_of(kBlock, 1);
  auto g = build_eval_graph(*fwd, false);
  std::ostringstream printed;
  passes::PipelineOptions po;
  po.mode = passes::Mode::Eval;
  po.print_after = {"bn_fold"};
  po.print_to = &printed;
  po.disabled = passes::disabled_from_list("dce,cse,bn_fold");
  passes::PhaseTimer timer;
  po.timer = &timer;
  std::vector<passes::PassRun> runs = passes::run_pipeline(*g, po);
  CHECK(printed.str().find("// after bn_fold\ngraph") == 0);
  CHECK(count_op(*g, OpKind::Fused) == 0);
  std::vector<std::string> ran;
  for (const auto& r : runs) ran.push_back(r.name);
  CHECK(ran == std::vector<std::string>{"dce", "cse", "bn_fold", "dce"});
  CHECK(timer.entries().size() == 4);
  CHECK(passes::disabled_from_list("none").size() == passes::pass_names().size());
  CHECK(passes::disabled_from_list("all").empty());
  CHECK_THROWS_AS(passes::disabled_from_list("dce,fuse"), std::invalid_argument);
  po.print_after = {"nope"};
  CHECK_THROWS_AS(passes::run_pipeline(*g, po), std::invalid_argument);
}

TEST_CASE("in-place marks reach the planner, which reuses buffers without changing results", "[unit]") {
  ir::Graph g;
  ir::Builder b(g);
  ValueId x = b.input("x", {DType::F32, {2, 8, 4, 4}});
  ValueId w = b.param("w", {DType::F32, {8, 8, 3, 3}}, "kaiming_normal", true);
  ValueId c = b.emit1(OpKind::Conv2d, {x, w}, Attrs{{"pad", std::vector<int64_t>{1, 1, 1, 1}}});
  ValueId e = b.emit1(OpKind::Sigmoid, {b.scale(c, 0.5, 0.1)});  // c dies here
  ValueId y = b.emit1(OpKind::Tanh, {b.add(e, x)});
  g.outputs.push_back({"y", y});
  ExecutorOptions eo;
  eo.backends = {"reference"};
  Executor plain(g, eo);
  REQUIRE(passes::mark_inplace(g));
  int marked = 0;
  for (const ir::Node& n : g.nodes()) marked += n.attrs.has("inplace");
  CHECK(marked >= 3);
  Executor reuse(g, eo);
  CHECK(reuse.plan().inplace_reuses >= 3);
  CHECK(reuse.plan().arena_bytes < plain.plan().arena_bytes);
  ExecContext ctx;
  std::map<std::string, Tensor> feeds{{"x", ramp({2, 8, 4, 4})}};
  CHECK(max_diff(reuse.run(feeds, ctx)["y"], plain.run(feeds, ctx)["y"]) == 0);
}

TEST_CASE("remat recomputes ReLU(BN) outputs and SK slices in backward: same step, smaller peak", "[unit]") {
  auto fwd = forward_of(kBlock, 4);
  TrainGraphOptions go;
  go.classes = 3;
  auto train = build_train_graph(*fwd, go);
  auto before = train->clone(), after = train->clone();
  CHECK(!passes::remat(*after));  // everything here is under the default's 4 MiB
  REQUIRE(passes::remat(*after, 0));
  CHECK(ir::verify(*after).empty());
  CHECK(!passes::remat(*build_eval_graph(*fwd, false)));  // no loss, no backward pass
  // conv1 -> bn1 -> relu, the SK unit's conv -> bn -> relu and its two
  // slices, and the block output relu(bn3 + downsample BN) (the projection
  // shortcut's BN is recomputed too); the attention's pooled BN -> relu
  // ([4, C, 1, 1]) is not worth a kernel.
  CHECK(count_op(*after, OpKind::BatchNormInfer) == count_op(*before, OpKind::BatchNormInfer) + 4);
  CHECK(count_op(*after, OpKind::Add) == count_op(*before, OpKind::Add) + 1);
  CHECK(count_op(*after, OpKind::Slice) == count_op(*before, OpKind::Slice) + 2);
  // No forward relu(BN) or relu(BN + z) of a feature map is read after the loss.
  const ir::NodeId loss = after->value(after->output("loss")).producer;
  auto users = after->users();
  auto from_bn = [&](ValueId v) {
    const ir::Node& p = after->producer(v);
    if (p.op == OpKind::BatchNormTrain) return true;
    if (p.op != OpKind::Add) return false;
    for (ValueId in : p.inputs)
      if (after->producer(in).op == OpKind::BatchNormTrain) return true;
    return false;
  };
  int checked = 0;
  for (ir::NodeId i = 0; i < loss; ++i) {
    const ir::Node& n = after->node(i);
    if (n.op != OpKind::Relu || !from_bn(n.inputs[0]) || after->type(n.outputs[0]).shape[2] == 1) continue;
    ++checked;
    for (ir::NodeId u : users[n.outputs[0]]) CHECK(u < loss);
  }
  CHECK(checked == 3);
  // Each recomputation runs right before what reads it (a chain of at most
  // BN, BN, add, relu).
  for (ir::NodeId i = 0; i < static_cast<ir::NodeId>(after->num_nodes()); ++i)
    if (after->node(i).op == OpKind::BatchNormInfer) {
      CHECK(i > loss);
      REQUIRE(users[after->node(i).outputs[0]].size() == 1);
      ir::NodeId u = users[after->node(i).outputs[0]][0];
      CHECK((u > i && u <= i + 2));
    }
  // Bit for bit the same step on the reference interpreter.
  std::map<std::string, Tensor> feeds{{"image", ramp({4, 8, 8, 8})}};
  Tensor labels(DType::I32, {4});
  for (int64_t i = 0; i < 4; ++i) labels.set(i, static_cast<double>(i % 3));
  feeds["labels"] = labels;
  ExecContext ctx;
  ctx.scalars = {{"lr", 0.1f}};
  InterpreterResult a = interpret(*before, feeds, ctx), b = interpret(*after, feeds, ctx);
  CHECK(max_diff(a.outputs["loss"], b.outputs["loss"]) == 0);
  REQUIRE(a.updated_state.size() == b.updated_state.size());
  for (const auto& [name, t] : a.updated_state) {
    INFO(name);
    CHECK(max_diff(t, b.updated_state.at(name)) == 0);
  }
  // And the optimized plan keeps fewer bytes live at its peak.
  auto peak = [&](bool with_remat) {
    auto g = train->clone();
    passes::PipelineOptions po;
    if (!with_remat) po.disabled = {"remat"};
    po.remat_min_bytes = 0;
    passes::run_pipeline(*g, po);
    ExecutorOptions eo;
    eo.plan_only = true;
    return Executor(*g, eo).plan().live_peak_bytes();
  };
  CHECK(peak(true) < peak(false));
}

TEST_CASE("a plan-only executor reports the plan without allocating or running", "[unit]") {
  auto fwd = forward_of(kBlock, 2);
  TrainGraphOptions go;
  go.classes = 3;
  auto train = build_train_graph(*fwd, go);
  ExecutorOptions eo;
  Executor full(*train, eo);
  eo.plan_only = true;
  Executor plan(*train, eo);
  CHECK(plan.plan().arena_bytes == full.plan().arena_bytes);
  CHECK(plan.plan().persistent_bytes == full.plan().persistent_bytes);
  CHECK(plan.plan().peak_bytes() == full.plan().peak_bytes());
  CHECK(plan.plan().live_peak_bytes() <= plan.plan().arena_bytes);
  CHECK(plan.dump_plan().find("totals: ") != std::string::npos);
  ExecContext ctx;
  CHECK_THROWS(plan.run({}, ctx));
}

TEST_CASE("folded batch-norm weights are computed once per set_persistent, not every step", "[unit]") {
  auto fwd = forward_of(kBlock, 2);
  auto eval = build_eval_graph(*fwd, false);
  auto folded = eval->clone();
  REQUIRE(passes::bn_fold(*folded));
  ExecutorOptions eo;
  eo.seed = 3;
  Executor ex(*folded, eo);
  int cached_kernels = 0;
  for (const Step& st : ex.plan().steps) cached_kernels += st.cached && st.kind == StepKind::Kernel;
  CHECK(cached_kernels >= 5 * 6);  // scale, sqrt, div, mul, sub, mul per folded BN
  std::map<std::string, Tensor> feeds{{"image", ramp({2, 8, 8, 8})}};
  ExecContext ctx;
  ctx.training = false;
  ex.run(feeds, ctx);
  ex.run(feeds, ctx);
  for (const KernelTime& t : ex.kernel_times())
    if (t.op == "sqrt") CHECK(t.calls == 1);
  // A new gamma reaches the folded weight on the next run.
  Tensor gamma = ramp({4}, 0.2);
  ex.set_persistent("block.bn1.weight", gamma);
  Tensor got = ex.run(feeds, ctx)["logits"];
  std::map<std::string, Tensor> ifeeds = feeds;
  for (const std::string& name : ex.persistent_names()) ifeeds[name] = ex.get_persistent(name);
  Tensor want = interpret(*eval, ifeeds, ctx).outputs["logits"];
  CHECK(max_diff(got, want) < 1e-4);
  int sqrt_calls = 0, div_calls = 0;
  for (const KernelTime& t : ex.kernel_times()) {
    if (t.op == "sqrt") sqrt_calls += static_cast<int>(t.calls);
    if (t.op == "div") div_calls += static_cast<int>(t.calls);
  }
  CHECK(sqrt_calls == 5);  // sqrt(var + eps) of the five folded BNs: var did not change
  CHECK(div_calls == 6);   // gamma / sqrt(..): again for the BN whose gamma changed
}
