// Whole graphs through the Executor, compared with the reference interpreter:
// a small residual network's training step (conv -> bn -> relu -> maxpool ->
// conv -> bn -> relu -> conv -> add -> relu -> global mean -> matmul ->
// cross-entropy, autodiff, momentum SGD and running-statistics updates) over
// several steps; a graph mixing oneDNN ops with reference-only ones (reflect
// pad, upsample, random mask, one_hot, if_training) so layouts cross backend
// boundaries in both directions; an inference graph whose weight conversions
// are cached until set_persistent; the persistent-tensor API; and the same
// training graph on the reference backend alone, which must match the
// interpreter bit for bit (it runs the same kernels: any difference is an
// executor bug in buffers, aliasing or updates).
#include <cstring>

#include "compiler/autodiff/autodiff.h"
#include "compiler/ir/builder.h"
#include "runtime/executor.h"
#include "runtime/interpreter.h"
#include "tests/catch.h"
#include "tests/ops/parity.h"

using namespace acnn;
using namespace acnn::testing;
using ir::OpKind;
using ir::ValueId;
using Ints = std::vector<int64_t>;

namespace {

Tensor random_tensor(DType dt, const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  Tensor t(dt, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, lo + (hi - lo) * uniform01(counter_hash(seed, 0, 7, i)));
  return t;
}

Tensor random_labels(int64_t n, int64_t k, uint64_t seed) {
  Tensor t(DType::I32, {n});
  for (int64_t i = 0; i < n; ++i) t.set(i, static_cast<double>(counter_hash(seed, 0, 9, i) % k));
  return t;
}

Attrs conv_pad(int64_t p) { return Attrs{{"pad", Ints{p, p, p, p}}}; }

struct Net {
  ir::Graph g;
  std::vector<ValueId> params;
};

// conv + batch norm (+ running statistics) for the small network.
ValueId conv_bn(ir::Builder& b, Net& net, const std::string& name, ValueId x, int64_t cin, int64_t cout, bool train,
                bool relu) {
  ValueId w = b.param(name + ".w", {DType::F32, {cout, cin, 3, 3}}, "kaiming_normal", true);
  ValueId gamma = b.param(name + ".gamma", {DType::F32, {cout}}, "uniform:0.5", false);
  gamma = b.scale(gamma, 1.0, 1.0);  // 0.5 .. 1.5
  ValueId beta = b.param(name + ".beta", {DType::F32, {cout}}, "uniform:0.1", false);
  ValueId rm = b.state(name + ".rm", {DType::F32, {cout}}, "zeros");
  ValueId rv = b.state(name + ".rv", {DType::F32, {cout}}, "ones");
  net.params.insert(net.params.end(), {w, net.g.producer(gamma).inputs[0], beta});
  ValueId h = b.emit1(OpKind::Conv2d, {x, w}, conv_pad(1));
  ValueId y;
  if (train) {
    auto r = b.emit(OpKind::BatchNormTrain, {h, gamma, beta}, Attrs{{"eps", 1e-5}});
    y = r[0];
    net.g.updates.push_back({rm, b.add(b.scale(rm, 0.9), b.scale(r[1], 0.1))});
    net.g.updates.push_back({rv, b.add(b.scale(rv, 0.9), b.scale(r[2], 0.1))});
  } else {
    y = b.emit1(OpKind::BatchNormInfer, {h, gamma, beta, rm, rv}, Attrs{{"eps", 1e-5}});
  }
  return relu ? b.emit1(OpKind::Relu, {y}) : y;
}

// The small residual network; with `train`, the loss, gradients and updates.
std::unique_ptr<Net> small_resnet(bool train, int64_t batch = 4) {
  auto net = std::make_unique<Net>();
  ir::Builder b(net->g);
  ValueId x = b.input("image", {DType::F32, {batch, 3, 12, 12}});
  ValueId h = conv_bn(b, *net, "stem", x, 3, 16, train, true);
  ValueId p = b.emit1(OpKind::MaxPool2d, {h}, Attrs{{"kernel", Ints{2, 2}}});
  ValueId r = conv_bn(b, *net, "block.a", p, 16, 16, train, true);
  ValueId wb = b.param("block.b.w", {DType::F32, {16, 16, 3, 3}}, "kaiming_normal", true);
  ValueId bb = b.param("block.b.bias", {DType::F32, {16}}, "uniform:0.1", false);
  net->params.insert(net->params.end(), {wb, bb});
  r = b.emit1(OpKind::Conv2d, {r, wb, bb}, conv_pad(1));
  ValueId s = b.emit1(OpKind::Relu, {b.add(r, p)});
  ValueId pooled = b.reduce_mean(s, {2, 3}, false);
  ValueId wfc = b.param("fc.w", {DType::F32, {16, 10}}, "kaiming_uniform", true);
  ValueId bfc = b.param("fc.b", {DType::F32, {10}}, "zeros", false);
  net->params.insert(net->params.end(), {wfc, bfc});
  ValueId logits = b.add(b.emit1(OpKind::Matmul, {pooled, wfc}), bfc);
  net->g.outputs.push_back({"logits", logits});
  if (!train) return net;
  ValueId labels = b.input("label", {DType::I32, {batch}});
  ValueId target = b.emit1(OpKind::OneHot, {labels}, Attrs{{"classes", int64_t{10}}, {"smoothing", 0.1}});
  ValueId loss = b.reduce_mean(b.emit1(OpKind::SoftmaxCrossEntropy, {logits, target}), {0}, false);
  net->g.outputs.push_back({"loss", loss});
  autodiff::GradientResult grads = autodiff::differentiate(net->g, loss, net->params);
  ValueId lr = b.runtime_scalar("lr");
  for (ValueId w : net->params) {
    const ir::Node& pn = net->g.producer(w);
    std::string name = pn.attrs.s("name");
    bool decay = pn.attrs.i("decay", 0) != 0;
    ValueId gr = grads.grads.at(w);
    if (decay) gr = b.add(gr, b.scale(w, 1e-3));
    ValueId v = b.state(name + ".momentum", net->g.type(w), "zeros");
    ValueId v2 = b.add(b.scale(v, 0.9), gr);
    net->g.updates.push_back({v, v2});
    net->g.updates.push_back({w, b.sub(w, b.mul(v2, lr))});
  }
  REQUIRE(ir::verify(net->g).empty());
  return net;
}

std::map<std::string, Tensor> batch_feeds(int64_t batch, uint64_t seed) {
  return {{"image", random_tensor(DType::F32, {batch, 3, 12, 12}, seed)}, {"label", random_labels(batch, 10, seed)}};
}

// Trains `steps` steps on the executor and on the interpreter (fed the
// interpreter's own evolving state), comparing outputs each step and the
// persistent tensors at the end.
void train_and_compare(ExecutorOptions opts, int steps, Tol tol, bool exact) {
  std::unique_ptr<Net> net = small_resnet(true);
  Executor ex(net->g, opts);
  INFO(ex.dump_plan());
  std::map<std::string, Tensor> state = ex.persistent();
  ExecContext ctx;
  ctx.scalars["lr"] = 0.05f;
  for (int step = 0; step < steps; ++step) {
    ctx.step = step;
    std::map<std::string, Tensor> feeds = batch_feeds(4, 100 + step);
    std::map<std::string, Tensor> ifeeds = feeds;
    for (auto& [k, v] : state) ifeeds[k] = v;
    InterpreterResult want = interpret(net->g, ifeeds, ctx);
    for (auto& [k, v] : want.updated_state) state[k] = v;
    std::map<std::string, Tensor> got = ex.run(feeds, ctx);
    INFO("step " << step);
    if (exact) {
      for (auto& [k, v] : want.outputs) CHECK(std::memcmp(v.raw(), got.at(k).raw(), v.bytes()) == 0);
    } else {
      compare_maps(want.outputs, got, tol);
    }
  }
  for (const std::string& name : ex.persistent_names()) {
    INFO("persistent " << name);
    Tensor got = ex.get_persistent(name);
    if (exact)
      CHECK(std::memcmp(state.at(name).raw(), got.raw(), got.bytes()) == 0);
    else
      compare_tensors(name, state.at(name), got, tol);
  }
}

}  // namespace

TEST_CASE("executor: training steps match the interpreter", "[backend]") {
  train_and_compare({}, 3, Tol{1e-3, 1e-4}, false);
}

TEST_CASE("executor: reference backend alone matches the interpreter exactly", "[unit]") {
  ExecutorOptions o;
  o.backends = {"reference"};
  train_and_compare(o, 2, {}, true);
}

TEST_CASE("executor: training plan keeps weights in backend layouts and swaps updates", "[backend]") {
  std::unique_ptr<Net> net = small_resnet(true);
  Executor ex(net->g);
  const Plan& p = ex.plan();
  INFO(ex.dump_plan());
  // Conv weights live in the forward convolution's blocked layout; the only
  // per-step reorders of persistent tensors are into the other blocking that
  // backward-data convolutions want, never to or from the plain layout.
  for (const Step& st : p.steps) {
    if (st.kind != StepKind::Convert || st.cached) continue;
    const Slot& src = p.slots[st.inputs[0]];
    if (src.home != SlotHome::Persistent) continue;
    INFO("reorder of " << src.name << " to " << layout_name(p.slots[st.outputs[0]].layout));
    CHECK(ex.graph().node(st.node).op == OpKind::Conv2dBackwardData);
  }
  if (onednn_built()) {
    bool blocked_weight = false;
    for (const Slot& s : p.slots)
      if (s.home == SlotHome::Persistent && s.name == "block.b.w" && s.layout) blocked_weight = true;
    CHECK(blocked_weight);
  }
  CHECK(ex.copied_updates() == 0);  // every update exchanges buffers
  // The arena is smaller than the sum of its slots (buffers are reused).
  size_t sum = 0;
  for (const Slot& s : p.slots)
    if (s.home == SlotHome::Arena) sum += s.bytes;
  CHECK(p.arena_bytes < sum);
  CHECK(p.arena_bytes > 0);
}

TEST_CASE("executor: oneDNN and reference ops mixed, layouts across boundaries", "[backend]") {
  ir::Graph g;
  ir::Builder b(g);
  ValueId x = b.input("x", {DType::F32, {2, 16, 8, 8}});
  ValueId wa = b.param("a.w", {DType::F32, {16, 16, 3, 3}}, "kaiming_normal", true);
  ValueId wb = b.param("b.w", {DType::F32, {16, 16, 3, 3}}, "kaiming_normal", true);
  ValueId h = b.emit1(OpKind::Conv2d, {x, wa}, conv_pad(1));  // blocked
  h = b.emit1(OpKind::Pad, {h}, Attrs{{"pads", Ints{0, 0, 1, 1, 0, 0, 1, 1}}, {"mode", std::string("reflect")}});  // reference
  h = b.emit1(OpKind::Conv2d, {h, wb});  // back to blocked
  // A dropout-like mask: random (reference) < 0.8 (oneDNN binary).
  ValueId keep = b.emit1(OpKind::Less, {b.emit1(OpKind::RandomUniform, {}, Attrs{{"shape", Ints{2, 16, 8, 8}}, {"stream", int64_t{3}}}),
                                        b.scalar(0.8)});
  ValueId dropped = b.scale(b.mul(h, keep), 1.25);
  ValueId hh = b.emit1(OpKind::IfTraining, {dropped, h});  // reference
  ValueId u = b.emit1(OpKind::UpsampleNearest, {b.emit1(OpKind::AvgPool2d, {hh}, Attrs{{"kernel", Ints{2, 2}}})},
                      Attrs{{"scale", int64_t{2}}});  // oneDNN then reference
  ValueId s = b.emit1(OpKind::Sigmoid, {b.add(hh, u)});
  ValueId cat = b.emit1(OpKind::Concat, {s, x}, Attrs{{"axis", int64_t{1}}});
  ValueId feat = b.reshape(b.reduce_sum(cat, {2, 3}, false), {2, 32});
  ValueId t = b.emit1(OpKind::Tanh, {b.emit1(OpKind::Slice, {feat}, Attrs{{"axis", int64_t{1}}, {"begin", int64_t{4}}, {"end", int64_t{20}}})});
  ValueId loss = b.reduce_sum(b.emit1(OpKind::Square, {t}), {0, 1}, false);
  g.outputs.push_back({"feat", feat});
  g.outputs.push_back({"loss", loss});
  autodiff::GradientResult gr = autodiff::differentiate(g, loss, {x, wa, wb});
  g.outputs.push_back({"dx", gr.grads.at(x)});
  g.outputs.push_back({"dwa", gr.grads.at(wa)});
  g.outputs.push_back({"dwb", gr.grads.at(wb)});
  REQUIRE(ir::verify(g).empty());
  std::map<std::string, Tensor> feeds{{"x", random_tensor(DType::F32, {2, 16, 8, 8}, 5)}};
  ExecContext ctx;
  ctx.seed = 42;
  ctx.step = 3;
  // The interpreter initializes parameters from ctx.seed; so does the executor here.
  ExecutorOptions o;
  o.seed = 42;
  std::map<std::string, Tensor> want = interpret(g, feeds, ctx).outputs;
  Executor ex(g, o);
  INFO(ex.dump_plan());
  compare_maps(want, ex.run(feeds, ctx), Tol{1e-4, 1e-5});
  if (onednn_built()) {
    std::map<std::string, int> per_backend;
    for (const std::string& bname : ex.node_backends())
      if (!bname.empty()) ++per_backend[bname];
    CHECK(per_backend["onednn"] > 0);
    CHECK(per_backend["reference"] > 0);
    CHECK(reads_blocked(ex, OpKind::Mul));  // the blocked conv output times the plain mask
  }
  ctx.training = false;  // if_training picks its other operand
  compare_maps(interpret(g, feeds, ctx).outputs, ex.run(feeds, ctx), Tol{1e-4, 1e-5});
}

TEST_CASE("executor: inference caches weight conversions until set_persistent", "[backend]") {
  std::unique_ptr<Net> net = small_resnet(false, 2);
  Executor ex(net->g);
  INFO(ex.dump_plan());
  ExecContext ctx;
  ctx.training = false;
  std::map<std::string, Tensor> feeds{{"image", random_tensor(DType::F32, {2, 3, 12, 12}, 1)}};
  auto check = [&]() {
    std::map<std::string, Tensor> ifeeds = feeds;
    for (auto& [k, v] : ex.persistent()) ifeeds[k] = v;
    compare_maps(interpret(net->g, ifeeds, ctx).outputs, ex.run(feeds, ctx), Tol{1e-4, 1e-5});
  };
  check();
  check();
  for (const Step& st : ex.plan().steps)
    if (st.cached) CHECK(st.calls == 1);
  Tensor w = random_tensor(DType::F32, {16, 16, 3, 3}, 77, -0.2, 0.2);
  ex.set_persistent("block.b.w", w);
  ex.set_persistent("stem.rv", random_tensor(DType::F32, {16}, 78, 0.5, 2.0));
  check();
  int cached = 0;
  for (const Step& st : ex.plan().steps) {
    if (!st.cached) continue;
    ++cached;
    const Slot& src = ex.plan().slots[st.inputs[0]];
    CHECK(st.calls == (src.name == "block.b.w" ? 2 : 1));
  }
  if (onednn_built()) CHECK(cached > 0);
  // Round trip of a tensor through a blocked layout is exact.
  Tensor back = ex.get_persistent("block.b.w");
  CHECK(std::memcmp(back.raw(), w.raw(), w.bytes()) == 0);
}

TEST_CASE("executor: persistent API and feed errors", "[unit]") {
  std::unique_ptr<Net> net = small_resnet(true, 2);
  ExecutorOptions o;
  o.seed = 9;
  Executor ex(net->g, o);
  CHECK(ex.has_persistent("stem.w"));
  CHECK_FALSE(ex.has_persistent("nope"));
  // Initial values are init_persistent's.
  const ir::Node& n = net->g.node(net->g.find_persistent("stem.w"));
  Tensor init = init_persistent(n, DType::F32, 9);
  Tensor got = ex.get_persistent("stem.w");
  CHECK(std::memcmp(init.raw(), got.raw(), init.bytes()) == 0);
  CHECK_THROWS(ex.set_persistent("stem.w", Tensor(DType::F32, {3})));
  CHECK_THROWS(ex.get_persistent("nope"));
  ExecContext ctx;
  ctx.scalars["lr"] = 0.1f;
  std::map<std::string, Tensor> feeds = batch_feeds(2, 1);
  std::map<std::string, Tensor> bad = feeds;
  bad.erase("label");
  CHECK_THROWS(ex.run(bad, ctx));
  bad = feeds;
  bad["image"] = Tensor(DType::F32, {2, 3, 12, 11});
  CHECK_THROWS(ex.run(bad, ctx));
  ExecContext no_lr;
  CHECK_THROWS(ex.run(feeds, no_lr));
  // Profile: every step counted once per run, except cached steps of
  // unchanging inputs (the loss gradient's seed), which ran already.
  ex.reset_times();
  ex.run(feeds, ctx);
  ex.run(feeds, ctx);
  std::vector<KernelTime> times = ex.kernel_times();
  REQUIRE(times.size() == ex.plan().steps.size());
  for (size_t i = 0; i < times.size(); ++i) CHECK(times[i].calls == (ex.plan().steps[i].cached ? 0 : 2));
  CHECK(ex.time_report(5).find("per op:") != std::string::npos);
}

TEST_CASE("executor: steps computed from unchanging tensors run once until set_persistent", "[backend]") {
  // Inference-style: a weight transformed by ops (as batch-norm folding does) feeds a conv.
  ir::Graph g;
  ir::Builder b(g);
  ValueId x = b.input("image", {DType::F32, {2, 3, 6, 6}});
  ValueId w = b.param("w", {DType::F32, {8, 3, 3, 3}}, "kaiming_normal", true);
  ValueId s = b.param("s", {DType::F32, {8, 1, 1, 1}}, "uniform:1", false);
  ValueId folded = b.mul(w, b.scale(s, 2.0, 0.5));
  g.outputs.push_back({"y", b.emit1(OpKind::Conv2d, {x, folded}, conv_pad(1))});
  Executor ex(g);
  ExecContext ctx;
  std::map<std::string, Tensor> feeds{{"image", random_tensor(DType::F32, {2, 3, 6, 6}, 3)}};
  auto check_against_interpreter = [&](const std::map<std::string, Tensor>& got) {
    std::map<std::string, Tensor> ifeeds = feeds;
    for (auto& [k, v] : ex.persistent()) ifeeds[k] = v;
    compare_maps(interpret(g, ifeeds, ctx).outputs, got, Tol{});
  };
  auto cached_calls = [&] {
    int64_t calls = 0, steps = 0;
    for (const Step& st : ex.plan().steps)
      if (st.kind == StepKind::Kernel && st.cached) calls += st.calls, ++steps;
    REQUIRE(steps >= 2);  // the scale and the mul
    return calls / steps;
  };
  check_against_interpreter(ex.run(feeds, ctx));
  check_against_interpreter(ex.run(feeds, ctx));
  CHECK(cached_calls() == 1);
  ex.set_persistent("s", random_tensor(DType::F32, {8, 1, 1, 1}, 4));
  check_against_interpreter(ex.run(feeds, ctx));
  CHECK(cached_calls() == 2);
}
