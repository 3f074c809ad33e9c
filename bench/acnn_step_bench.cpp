// One model, one configuration, one process: compiles a model file's network
// into its training step (forward, loss, backward, SGD update) or its
// inference graph at a given batch, with or without the pass pipeline
// (fusion), runs warm-up steps and timed steps on random data, and prints one
// JSON object: times, images/s, compile time, the plan's memory, the kernel
// mix, JIT cache use and the process's peak RSS. bench/run_bench.py runs it
// (and the PyTorch counterpart, bench/torch_step.py) in subprocesses and
// compares. The training step is the recipe's, minus what is not part of the
// network (mixup and distillation are off: the teacher would dominate).
//
//   acnn_step_bench --model models/resnet50.acnn --mode train --batch 32 [--fused 1]
//                   [--steps 3] [--warmup 2] [--threads 2] [--profile] [--disable remat]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "compiler/elaborate/model_file.h"
#include "compiler/passes/pipeline.h"
#include "compiler/train/recipe.h"
#include "compiler/train/train_graph.h"
#include "runtime/executor.h"
#include "runtime/optimize.h"
#ifdef ACNN_HAVE_LLVM
#include "backends/cpu/jit/jit.h"
#endif

using namespace acnn;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

long maxrss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

int usage() {
  std::fprintf(stderr,
               "usage: acnn_step_bench --model FILE [--mode train|eval] [--batch N] [--fused 0|1] [--steps S]\n"
               "                       [--warmup W] [--threads T] [--profile] [--disable PASS,...]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, mode = "train";
  int64_t batch = 0;
  int fused = 1, steps = 3, warmup = 2, threads = 2;
  bool profile = false;
  std::string disabled;  // passes not to run, comma-separated (e.g. remat)
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") model = next();
    else if (a == "--mode") mode = next();
    else if (a == "--batch") batch = std::stoll(next());
    else if (a == "--fused") fused = std::stoi(next());
    else if (a == "--steps") steps = std::stoi(next());
    else if (a == "--warmup") warmup = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--profile") profile = true;
    else if (a == "--disable") disabled = next();
    else return usage();
  }
  if (model.empty() || (mode != "train" && mode != "eval")) return usage();

  auto t0 = Clock::now();
  ModelFile mf;
  mf.diags().set_stream(&std::cerr);
  if (!mf.load(model)) return 1;
  Recipe r;
  if (auto rv = mf.recipe()) r = recipe_from_value(*rv);
  if (batch <= 0) batch = r.batch;
  auto fwd = mf.build(batch);
  if (!fwd) return 1;
  std::unique_ptr<ir::Graph> g;
  if (mode == "train") {
    TrainGraphOptions go = TrainGraphOptions::from(r);
    go.mixup = false;
    go.distill = false;
    g = build_train_graph(*fwd, go);
  } else {
    g = build_eval_graph(*fwd, false, r.zero_gamma);
  }
  OptimizeResult opt;
  if (fused) {
    passes::PipelineOptions po;
    po.mode = mode == "train" ? passes::Mode::Train : passes::Mode::Eval;
    std::stringstream names(disabled);
    for (std::string name; std::getline(names, name, ',');)
      if (!name.empty()) po.disabled.insert(name);
    opt = optimize_for_executor(*g, po, {});
  }
  ExecutorOptions eo;
  eo.profile = profile;
  Executor ex(*g, eo);
  const double compile_s = since(t0);

  // Random inputs of the graph's input types (labels in range).
  std::map<std::string, Tensor> feeds;
  std::mt19937 rng(1);
  for (const ir::Node& n : ex.graph().nodes()) {
    if (n.dead || n.op != ir::OpKind::Input) continue;
    const ir::ValueType& t = ex.graph().type(n.outputs[0]);
    Tensor x(t.dtype, t.shape);
    if (t.dtype == DType::I32) {
      for (int64_t i = 0; i < x.numel(); ++i) x.data<int32_t>()[i] = static_cast<int32_t>(rng() % r.data.classes);
    } else {
      std::normal_distribution<float> nd(0.f, 1.f);
      for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = nd(rng);
    }
    feeds[n.attrs.s("name")] = std::move(x);
  }
  ExecContext ctx;
  ctx.threads = threads;
  ctx.training = mode == "train";
  ctx.scalars["lr"] = 0.01f;
  ctx.scalars["dropblock_keep"] = static_cast<float>(r.dropblock_keep);
  ctx.scalars["mixup_lambda"] = 1.f;
  std::vector<double> times;
  for (int s = 0; s < warmup + steps; ++s) {
    ctx.step = s;
    if (s == warmup) ex.reset_times();
    auto t = Clock::now();
    ex.run(feeds, ctx);
    if (s >= warmup) times.push_back(since(t) * 1e3);
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.empty() ? 0 : sorted[sorted.size() / 2];
  int kernels = 0, reorders = 0, fused_nodes = 0;
  for (const Step& st : ex.plan().steps) {
    kernels += st.kind == StepKind::Kernel;
    reorders += st.kind == StepKind::Convert && !st.cached;
  }
  for (const ir::Node& n : ex.graph().nodes()) fused_nodes += !n.dead && n.op == ir::OpKind::Fused;
  nlohmann::json j;
  j["engine"] = "acnn";
  j["model"] = model;
  j["mode"] = mode;
  j["fused"] = fused != 0;
  j["batch"] = batch;
  j["threads"] = threads;
  j["compile_s"] = compile_s;
  j["step_ms"] = times;
  j["median_ms"] = median;
  j["img_s"] = median > 0 ? batch * 1e3 / median : 0.0;
  j["plan_peak_bytes"] = ex.plan().peak_bytes();
  j["arena_bytes"] = ex.plan().arena_bytes;
  j["persistent_bytes"] = ex.plan().persistent_bytes;
  j["kernels"] = kernels;
  j["reorders_per_step"] = reorders;
  j["fused_nodes"] = fused_nodes;
  j["expanded_fused"] = opt.expanded;
#ifdef ACNN_HAVE_LLVM
  cpu::jit::Stats js = cpu::jit::stats();
  j["jit"] = {{"compiled", js.compiled}, {"disk_hits", js.disk_hits}, {"memory_hits", js.memory_hits},
              {"seconds", js.seconds}};
#endif
  j["maxrss_kb"] = maxrss_kb();
  std::cout << j.dump() << std::endl;
  if (profile) std::cerr << ex.time_report(30);
  return 0;
}
