// Fused "elementwise" and "optimizer" nodes on the CPU backend against the
// reference execution of the same fused graph (and the unfused graph on the
// interpreter): random elementwise bodies over mixed broadcast shapes
// (full, per-channel [1,C,1,1] and [C,1,1], per-sample [N,1,1,1], spatial
// [N,1,H,W], scalars), ending in stores and trailing reductions, on plain
// inputs and on inputs that arrive in a convolution's blocked layout; single
// broadcasting binaries oneDNN declines; and SGD update chains of several
// parameters (decay, momentum, Nesterov) as one optimizer node, also inside
// a real training step.
#include <cstdlib>
#include <cstring>
#include <random>

#include "compiler/autodiff/autodiff.h"
#include "runtime/executor.h"
#include "runtime/interpreter.h"
#include "tests/catch.h"
#include "tests/ops/fused_util.h"
#include "tests/ops/harness.h"
#include "tests/ops/parity.h"

using namespace acnn;
using namespace acnn::testing;
using ir::OpKind;
using ir::ValueId;
using Ints = std::vector<int64_t>;

namespace {

// Whether elementwise kernels come from the JIT (built, and not turned off
// with ACNN_JIT=0, which runs these tests on the portable evaluator).
bool jit_built() {
#ifdef ACNN_HAVE_LLVM
  const char* e = std::getenv("ACNN_JIT");
  return !(e && (std::string(e) == "0" || std::string(e) == "off"));
#else
  return false;
#endif
}

// The step that runs the graph's Fused node.
const Step* fused_step(const Executor& ex) {
  for (const Step& st : ex.plan().steps)
    if (st.kind == StepKind::Kernel && ex.graph().node(st.node).op == OpKind::Fused) return &st;
  return nullptr;
}

// Runs `fused` on the executor and compares with the interpreter on `unfused`;
// requires the fused node to run whole on oneDNN's backend (when built).
void check_fused(const ir::Graph& unfused, const ir::Graph& fused, Case& c, Tol tol = {}) {
  auto want = interpret(unfused, c.feeds, c.ctx).outputs;
  auto want_fused_ref = interpret(fused, c.feeds, c.ctx).outputs;  // ref_Fused
  compare_maps(want, want_fused_ref, Tol{1e-6, 1e-7});
  Executor ex(fused);
  INFO(ex.dump_plan());
  auto got = ex.run(c.feeds, c.ctx);
  compare_maps(want, got, tol);
  if (onednn_built()) {
    const Step* st = fused_step(ex);
    REQUIRE(st);
    CHECK(st->backend == "onednn");
    if (jit_built()) CHECK(st->kernel->describe().rfind("jit:", 0) == 0);
  }
  auto again = ex.run(c.feeds, c.ctx);
  for (const auto& [name, t] : got) CHECK(std::memcmp(again.at(name).raw(), t.raw(), t.bytes()) == 0);
}

// A random elementwise DAG over inputs of the shapes in `shapes` (the first is
// the full shape); values stay bounded (exp/log/sqrt/div see safe operands).
std::vector<ValueId> random_dag(Case& c, std::mt19937& rng, const std::vector<ValueId>& inputs, int ops) {
  std::vector<ValueId> pool = inputs;
  ir::Builder& b = c.b;
  auto pick = [&]() { return pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)]; };
  auto bounded = [&](ValueId v) { return b.emit1(OpKind::Tanh, {v}); };
  for (int i = 0; i < ops; ++i) {
    int k = std::uniform_int_distribution<int>(0, 19)(rng);
    ValueId x = pick(), y = pick(), r;
    switch (k) {
      case 0: r = b.neg(x); break;
      case 1: r = b.emit1(OpKind::Relu, {x}); break;
      case 2: r = b.emit1(OpKind::Sigmoid, {x}); break;
      case 3: r = bounded(x); break;
      case 4: r = b.emit1(OpKind::Exp, {bounded(x)}); break;
      case 5: r = b.emit1(OpKind::Log, {b.scale(b.emit1(OpKind::Abs, {x}), 1.0, 0.5)}); break;
      case 6: r = b.emit1(OpKind::Sqrt, {b.scale(b.emit1(OpKind::Square, {x}), 1.0, 0.1)}); break;
      case 7: r = b.scale(x, -0.7, 0.3); break;
      case 8: r = b.add(x, y); break;
      case 9: r = b.sub(x, y); break;
      case 10: r = b.mul(bounded(x), y); break;
      case 11: r = b.div(x, b.scale(b.emit1(OpKind::Abs, {y}), 1.0, 0.5)); break;
      case 12: r = b.emit1(OpKind::Maximum, {x, y}); break;
      case 13: r = b.emit1(OpKind::Minimum, {x, y}); break;
      case 14: r = b.emit1(OpKind::Less, {x, y}); break;
      case 15: r = c.g.type(x).shape == c.g.type(y).shape ? b.emit1(OpKind::ReluBackward, {x, y}) : b.add(x, y); break;
      case 16: r = c.g.type(x).shape == c.g.type(y).shape ? b.emit1(OpKind::SigmoidBackward, {x, y}) : b.mul(x, y); break;
      case 17: r = c.g.type(x).shape == c.g.type(y).shape ? b.emit1(OpKind::TanhBackward, {x, y}) : b.sub(x, y); break;
      case 18: r = b.emit1(OpKind::Square, {bounded(x)}); break;
      default: r = b.emit1(OpKind::Abs, {x}); break;
    }
    pool.push_back(r);
  }
  return pool;
}

struct EwCase {
  Shape full;
  std::vector<Shape> others;
  bool blocked;  // the full-size inputs come out of a 1x1 convolution (nChw16c on oneDNN)
  int reduce;    // 0 none, 1 sum over (0,2,3) keepdims, 2 mean over (2,3), 3 max over all, 4 sum over all
};

void run_ew_case(const EwCase& ec, uint64_t seed) {
  Case c(DType::F32, seed);
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::vector<ValueId> ins;
  std::vector<ir::NodeId> outside;
  for (int i = 0; i < 2; ++i) {
    ValueId x = c.in(ec.full);
    if (ec.blocked) {
      int64_t ch = ec.full[1];
      x = c.b.emit1(OpKind::Conv2d, {x, c.in({ch, ch, 1, 1}, -0.5, 0.5)});
      outside.push_back(c.g.value(x).producer);
    }
    ins.push_back(x);
  }
  for (const Shape& s : ec.others) ins.push_back(c.in(s));
  std::vector<ValueId> pool = random_dag(c, rng, ins, 10);
  // Results: the last value combined with a full-size input (full shape for sure) and one more value.
  ValueId out = c.b.add(pool.back(), ins[0]);
  ValueId out2 = c.b.mul(pool[pool.size() / 2 + 1], ins[1]);
  c.g.outputs = {{"out", out}, {"out2", out2}};
  switch (ec.reduce) {
    case 1: c.g.outputs.push_back({"red", c.b.reduce_sum(out, {0, 2, 3}, true)}); break;
    case 2: c.g.outputs.push_back({"red", c.b.reduce_mean(out2, {2, 3}, false)}); break;
    case 3: c.g.outputs.push_back({"red", c.b.emit1(OpKind::ReduceMax, {out}, Attrs{{"axes", Ints{0, 1, 2, 3}}})}); break;  // 4-d only
    case 4: {
      Ints all(ec.full.size());
      for (size_t a = 0; a < all.size(); ++a) all[a] = static_cast<int64_t>(a);
      c.g.outputs.push_back({"red", c.b.reduce_sum(out, all, false)});
      break;
    }
    default: break;
  }
  REQUIRE(ir::verify(c.g).empty());
  auto fused = c.g.clone();
  std::vector<ir::NodeId> group;
  for (ir::NodeId id : compute_nodes(*fused))
    if (fused->node(id).op != OpKind::Conv2d) group.push_back(id);
  fuse(*fused, group, "elementwise");
  check_fused(c.g, *fused, c, Tol{2e-4, 2e-5});
}

}  // namespace

TEST_CASE("fused elementwise: random bodies with broadcasts and reductions", "[backend]") {
  const Shape full{2, 16, 5, 7};
  const std::vector<Shape> others{{1, 16, 1, 1}, {16, 1, 1}, {}, {2, 1, 1, 1}, {2, 1, 5, 7}, {2, 16, 1, 1}, {7}};
  uint64_t seed = 500;
  for (bool blocked : {false, true})
    for (int reduce = 0; reduce <= 4; ++reduce)
      for (int rep = 0; rep < 3; ++rep) {
        std::vector<Shape> pick;
        std::mt19937 rng(static_cast<unsigned>(seed));
        for (int k = 0; k < 3; ++k) pick.push_back(others[rng() % others.size()]);
        INFO("blocked " << blocked << ", reduce " << reduce << ", seed " << seed);
        run_ew_case({full, pick, blocked, reduce}, seed++);
      }
}

TEST_CASE("fused elementwise: large, odd and flat shapes (threads, vector tails)", "[backend]") {
  uint64_t seed = 900;
  for (const Shape& full : std::vector<Shape>{{3, 32, 31, 29}, {1001}, {4, 48, 14, 14}, {5, 3}}) {
    for (int reduce : {0, 1, 4}) {
      if (full.size() < 4 && reduce == 1) continue;
      std::vector<Shape> others{{}};
      if (full.size() == 4) others.push_back({1, full[1], 1, 1});
      bool blocked = full.size() == 4 && full[1] % 16 == 0;
      INFO("shape " << shape_str(full) << ", reduce " << reduce);
      run_ew_case({full, others, blocked, reduce}, seed++);
    }
  }
}

TEST_CASE("elementwise kernels take broadcasting binaries oneDNN declines", "[backend]") {
  // a [N,1] - b [1,K]: both operands broadcast; [C,1,1] / [N,C,H,W]: the first is the small one.
  Case c(DType::F32, 77);
  ValueId a = c.in({6, 1}), b = c.in({1, 5});
  ValueId x = c.in({16, 1, 1}), y = c.in({2, 16, 3, 3}, 0.5, 1.5);
  ValueId r1 = c.b.sub(a, b), r2 = c.b.div(x, y);
  c.g.outputs = {{"r1", r1}, {"r2", r2}};
  check_parity(c.g, c.feeds, c.ctx, {OpKind::Sub, OpKind::Div}, Expect::Onednn, {});
}

TEST_CASE("fused optimizer: SGD chains of several parameters in one kernel", "[backend]") {
  for (int variant = 0; variant < 3; ++variant) {
    bool nesterov = variant == 1, decay_all = variant == 2;
    Case c(DType::F32, 300 + variant);
    ValueId lr = c.b.runtime_scalar("lr");
    c.ctx.scalars["lr"] = 0.05f;
    std::vector<Shape> shapes{{16, 8, 3, 3}, {16}, {16}, {10, 16}, {10}, {40000}};
    for (size_t i = 0; i < shapes.size(); ++i) {
      ValueId p = c.in(shapes[i]), g = c.in(shapes[i]), buf = c.in(shapes[i]);
      ValueId gd = (decay_all || shapes[i].size() > 1) ? c.b.add(g, c.b.scale(p, 1e-4)) : g;
      ValueId nb = c.b.add(c.b.scale(buf, 0.9), gd);
      ValueId step = nesterov ? c.b.add(gd, c.b.scale(nb, 0.9)) : nb;
      ValueId np = c.b.sub(p, c.b.mul(step, lr));
      c.g.outputs.push_back({"p" + std::to_string(i), np});
      c.g.outputs.push_back({"b" + std::to_string(i), nb});
    }
    auto fused = c.g.clone();
    fuse(*fused, compute_nodes(*fused), "optimizer");
    INFO("variant " << variant);
    check_fused(c.g, *fused, c, Tol{1e-5, 1e-6});
    Executor ex(*fused);
    const Step* st = fused_step(ex);
    REQUIRE(st);
    if (onednn_built()) CHECK(st->kernel->describe().find("6 chains") != std::string::npos);
  }
}

TEST_CASE("fused optimizer inside a training step keeps weights in backend layouts", "[backend]") {
  // A conv net's training step: every node of scope optimizer.* fused into one node.
  Case c(DType::F32, 41);
  ir::Builder& b = c.b;
  ValueId x = c.in({4, 3, 8, 8}, -1, 1, Grad::Free);
  ValueId w1 = b.param("w1", {DType::F32, {16, 3, 3, 3}}, "kaiming_normal", true);
  ValueId w2 = b.param("w2", {DType::F32, {16, 16, 3, 3}}, "kaiming_normal", true);
  ValueId bias = b.param("bias", {DType::F32, {16}}, "uniform:0.1", false);
  ValueId h = b.emit1(OpKind::Relu, {b.emit1(OpKind::Conv2d, {x, w1, bias}, Attrs{{"pad", Ints{1, 1, 1, 1}}})});
  h = b.emit1(OpKind::Conv2d, {h, w2}, Attrs{{"pad", Ints{1, 1, 1, 1}}});
  ValueId loss = b.reduce_mean(b.emit1(OpKind::Square, {h}), {0, 1, 2, 3}, false);
  std::vector<ValueId> params{w1, w2, bias};
  auto grads = autodiff::differentiate(c.g, loss, params);
  ValueId lr = b.runtime_scalar("lr");
  c.ctx.scalars["lr"] = 0.1f;
  for (ValueId p : params) {
    std::string name = c.g.producer(p).attrs.s("name");
    b.scope = "optimizer." + name;
    ValueId buf = b.state(name + ".momentum", c.g.type(p), "zeros");
    ValueId nb = b.add(b.scale(buf, 0.9), b.add(grads.grads.at(p), b.scale(p, 1e-4)));
    c.g.updates.push_back({buf, nb});
    c.g.updates.push_back({p, b.sub(p, b.mul(nb, lr))});
  }
  c.g.outputs = {{"loss", loss}};
  auto fused = c.g.clone();
  std::vector<ir::NodeId> group;
  for (ir::NodeId id : compute_nodes(*fused))
    if (fused->node(id).scope.rfind("optimizer.", 0) == 0) group.push_back(id);
  fuse(*fused, group, "optimizer");
  REQUIRE(ir::verify(*fused).empty());

  Executor plain(c.g), fast(*fused);
  for (int step = 0; step < 3; ++step) {
    c.ctx.step = step;
    auto a = plain.run(c.feeds, c.ctx), f = fast.run(c.feeds, c.ctx);
    compare_maps(a, f, Tol{1e-4, 1e-5});
  }
  for (const std::string& n : plain.persistent_names()) {
    INFO(n);
    compare_tensors(n, plain.get_persistent(n), fast.get_persistent(n), Tol{1e-4, 1e-5});
  }
  INFO(fast.dump_plan());
  if (onednn_built()) {
    CHECK(fast.copied_updates() == 0);
    const Step* st = fused_step(fast);
    REQUIRE(st);
    bool blocked = false;  // conv weights stay in oneDNN's blocked format
    for (int s : st->inputs) blocked |= fast.plan().slots[s].layout != nullptr;
    CHECK(blocked);
  }
}
