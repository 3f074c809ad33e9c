// Micro benchmark of the Executor: one training step (forward, autodiff
// backward, momentum SGD, batch-norm statistics) of a small residual network
// built directly with ir::Builder, timed on the default backends and,
// optionally, on the reference backend alone. Prints images/s, the plan's
// memory numbers and the most expensive kernels.
//
//   executor_bench [batch=32] [width=64] [steps=5] [--reference] [--plan] [--threads N]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <new>
#include <cstdlib>
#include <cstring>
#include <string>

#include "compiler/autodiff/autodiff.h"
#include "compiler/ir/builder.h"
#include "runtime/executor.h"

using namespace acnn;
using ir::OpKind;
using ir::ValueId;
using Ints = std::vector<int64_t>;

// Counts C++ heap allocations, to show that a steady-state step makes none
// beyond the returned outputs. (GCC takes the replaced operator delete's
// free() for a mismatch with operator new; both sides are malloc/free here.)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
static std::atomic<long> g_news{0};
void* operator new(std::size_t n) {
  ++g_news;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

struct Net {
  ir::Graph g;
  std::vector<ValueId> params;
};

ValueId conv_bn_relu(ir::Builder& b, Net& n, const std::string& name, ValueId x, int64_t cin, int64_t cout,
                     int64_t k, int64_t stride, bool relu) {
  ValueId w = b.param(name + ".w", {DType::F32, {cout, cin, k, k}}, "kaiming_normal", true);
  ValueId gamma = b.param(name + ".gamma", {DType::F32, {cout}}, "ones", false);
  ValueId beta = b.param(name + ".beta", {DType::F32, {cout}}, "zeros", false);
  ValueId rm = b.state(name + ".rm", {DType::F32, {cout}}, "zeros");
  ValueId rv = b.state(name + ".rv", {DType::F32, {cout}}, "ones");
  n.params.insert(n.params.end(), {w, gamma, beta});
  int64_t p = k / 2;
  ValueId h = b.emit1(OpKind::Conv2d, {x, w}, Attrs{{"stride", Ints{stride, stride}}, {"pad", Ints{p, p, p, p}}});
  auto r = b.emit(OpKind::BatchNormTrain, {h, gamma, beta}, Attrs{{"eps", 1e-5}});
  n.g.updates.push_back({rm, b.add(b.scale(rm, 0.9), b.scale(r[1], 0.1))});
  n.g.updates.push_back({rv, b.add(b.scale(rv, 0.9), b.scale(r[2], 0.1))});
  return relu ? b.emit1(OpKind::Relu, {r[0]}) : r[0];
}

std::unique_ptr<Net> build(int64_t batch, int64_t width) {
  auto n = std::make_unique<Net>();
  ir::Builder b(n->g);
  ValueId x = b.input("image", {DType::F32, {batch, 3, 32, 32}});
  ValueId h = conv_bn_relu(b, *n, "stem", x, 3, width, 3, 1, true);
  h = b.emit1(OpKind::MaxPool2d, {h}, Attrs{{"kernel", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1, 1, 1}}});
  int64_t c = width;
  for (int stage = 0; stage < 3; ++stage) {
    for (int blk = 0; blk < 2; ++blk) {
      std::string name = "s" + std::to_string(stage) + ".b" + std::to_string(blk);
      int64_t stride = (stage > 0 && blk == 0) ? 2 : 1, cout = width << stage;
      ValueId r = conv_bn_relu(b, *n, name + ".c1", h, c, cout, 3, stride, true);
      r = conv_bn_relu(b, *n, name + ".c2", r, cout, cout, 3, 1, false);
      ValueId sc = (stride != 1 || c != cout) ? conv_bn_relu(b, *n, name + ".down", h, c, cout, 1, stride, false) : h;
      h = b.emit1(OpKind::Relu, {b.add(r, sc)});
      c = cout;
    }
  }
  ValueId pooled = b.reduce_mean(h, {2, 3}, false);
  ValueId wfc = b.param("fc.w", {DType::F32, {c, 10}}, "kaiming_uniform", true);
  ValueId bfc = b.param("fc.b", {DType::F32, {10}}, "zeros", false);
  n->params.insert(n->params.end(), {wfc, bfc});
  ValueId logits = b.add(b.emit1(OpKind::Matmul, {pooled, wfc}), bfc);
  ValueId labels = b.input("label", {DType::I32, {batch}});
  ValueId target = b.emit1(OpKind::OneHot, {labels}, Attrs{{"classes", int64_t{10}}, {"smoothing", 0.1}});
  ValueId loss = b.reduce_mean(b.emit1(OpKind::SoftmaxCrossEntropy, {logits, target}), {0}, false);
  n->g.outputs.push_back({"loss", loss});
  auto grads = autodiff::differentiate(n->g, loss, n->params);
  ValueId lr = b.runtime_scalar("lr");
  for (ValueId w : n->params) {
    const ir::Node& pn = n->g.producer(w);
    ValueId gr = grads.grads.at(w);
    if (pn.attrs.i("decay", 0)) gr = b.add(gr, b.scale(w, 5e-5));
    ValueId v = b.state(pn.attrs.s("name") + ".momentum", n->g.type(w), "zeros");
    ValueId v2 = b.add(b.scale(v, 0.9), gr);
    n->g.updates.push_back({v, v2});
    n->g.updates.push_back({w, b.sub(w, b.mul(v2, lr))});
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t nums[3] = {32, 64, 5};
  int nnum = 0, threads = 0;
  bool reference = false, plan = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--reference")) reference = true;
    else if (!std::strcmp(argv[i], "--plan")) plan = true;
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (nnum < 3) nums[nnum++] = std::atoll(argv[i]);
  }
  int64_t batch = nums[0], width = nums[1], steps = nums[2];
  std::unique_ptr<Net> net = build(batch, width);
  std::map<std::string, Tensor> feeds;
  feeds["image"] = Tensor(DType::F32, {batch, 3, 32, 32});
  feeds["label"] = Tensor(DType::I32, {batch});
  for (int64_t i = 0; i < feeds["image"].numel(); ++i) feeds["image"].set(i, uniform01(counter_hash(1, 0, 0, i)) - 0.5);
  for (int64_t i = 0; i < batch; ++i) feeds["label"].set(i, static_cast<double>(i % 10));
  ExecutorOptions opts;
  if (reference) opts.backends = {"reference"};
  auto t0 = std::chrono::steady_clock::now();
  Executor ex(net->g, opts);
  double compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (plan) std::printf("%s\n", ex.dump_plan().c_str());
  ExecContext ctx;
  ctx.threads = threads;
  ctx.scalars["lr"] = 0.01f;
  ex.run(feeds, ctx);  // warm-up
  ex.reset_times();
  t0 = std::chrono::steady_clock::now();
  long news0 = g_news;
  float loss = 0;
  for (int64_t s = 0; s < steps; ++s) {
    ctx.step = s + 1;
    loss = ex.run(feeds, ctx).at("loss").data<float>()[0];
  }
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
  std::printf("heap allocations per step: %.1f (the returned outputs included)\n",
              static_cast<double>(g_news - news0) / steps);
  const Plan& p = ex.plan();
  std::printf("%s: batch %lld width %lld: %zu nodes, %zu steps, compile %.2f s\n", reference ? "reference" : "default",
              (long long)batch, (long long)width, net->g.num_nodes(), p.steps.size(), compile_s);
  std::printf("train step %.1f ms, %.1f img/s, loss %.4f\n", sec * 1e3, batch / sec, loss);
  std::printf("memory: arena %.1f MB, dedicated %.1f MB, scratch %.1f MB, persistent %.1f MB\n", p.arena_bytes / 1e6,
              p.dedicated_bytes / 1e6, p.scratch_bytes / 1e6, p.persistent_bytes / 1e6);
  std::printf("%s", ex.time_report(15).c_str());
  return 0;
}
