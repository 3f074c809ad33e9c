// `acnn bench FILE`: training or inference throughput of a model on a device.
// Builds the training step (the recipe's loss, regularizers and SGD; without
// a distillation teacher) or the inference graph at --batch, compiles it for
// the device (after the same pass pipeline training and evaluation run:
// --passes/--no-fuse change it), runs --warmup steps that are not timed (on the GPU they include
// CUDA graph capture), then --steps timed steps with two steps in flight
// (CUDA events on the GPU, a steady clock on the CPU), and reports images/s,
// time per step, compile time and peak memory (device memory on the GPU from
// cudaMemGetInfo, peak RSS on the CPU); --json writes the same as one object,
// --plan the compiled step (Runner::dump_plan()).
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "compiler/ir/op.h"
#include "compiler/train/recipe.h"
#include "compiler/train/train_graph.h"
#include "runtime/runner.h"
#include "runtime/train/evaluator.h"
#ifdef ACNN_HAVE_CUDA
#include "backends/cuda/plan_report.h"
#endif

namespace acnn::cli {

namespace {

struct BenchOptions {
  int64_t batch = 32;
  std::string mode = "train", precision, device = "auto", json, plan;
  int steps = 0, warmup = 0, threads = 0;
  bool profile = false, no_graphs = false, no_fuse = false;
  std::string passes = "all";
  double remat_min_mib = -1;
  std::vector<std::string> backends;
};

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Deterministic feeds for every Input of the graph: images uniform in
// [-1, 1), labels cycling through the classes.
std::map<std::string, Tensor> make_feeds(const ir::Graph& g, int64_t classes) {
  std::map<std::string, Tensor> f;
  for (const ir::Node& n : g.nodes()) {
    if (n.dead || n.op != ir::OpKind::Input) continue;
    const ir::ValueType& t = g.type(n.outputs[0]);
    Tensor x(t.dtype, t.shape);
    if (t.dtype == DType::I32) {
      for (int64_t i = 0; i < x.numel(); ++i) x.data<int32_t>()[i] = static_cast<int32_t>((i * 7 + 3) % classes);
    } else {
      float* p = x.data<float>();
      for (int64_t i = 0; i < x.numel(); ++i) p[i] = 2.0f * uniform01(counter_hash(17, 0, 5, static_cast<uint64_t>(i))) - 1.0f;
    }
    f[n.attrs.s("name")] = std::move(x);
  }
  return f;
}

int64_t parameter_count(const ir::Graph& g) {
  int64_t n = 0;
  for (const ir::Node& node : g.nodes())
    if (!node.dead && node.op == ir::OpKind::Param) n += numel(g.type(node.outputs[0]).shape);
  return n;
}

}  // namespace

Command register_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure training or inference throughput (images/s) on a device");
  auto m = std::make_shared<ModelOptions>();
  auto o = std::make_shared<BenchOptions>();
  add_model_options(cmd, *m);
  cmd->add_option("--batch", o->batch, "batch size")->default_val(32);
  cmd->add_option("--mode", o->mode, "train (forward, backward, SGD step) or infer")
      ->default_val("train")
      ->check(CLI::IsMember({"train", "infer"}));
  cmd->add_option("--precision", o->precision, "fp32, mixed_bf16 or mixed_fp16 (default: the recipe's; GPU only)")
      ->check(CLI::IsMember({"fp32", "mixed_bf16", "mixed_fp16"}));
  cmd->add_option("--device", o->device, "auto, cpu or cuda")->default_val("auto")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->add_option("--steps", o->steps, "timed steps (default: 30 on a GPU, 3 on the CPU)");
  cmd->add_option("--warmup", o->warmup, "untimed steps first (default: 5 on a GPU, 1 on the CPU)");
  cmd->add_option("--threads", o->threads, "CPU compute threads (default: all cores)");
  cmd->add_option("--backend", o->backends, "CPU executor backends in priority order (onednn, reference)");
  add_pass_options(cmd, o->passes, o->no_fuse, o->remat_min_mib);
  cmd->add_option("--json", o->json, "also write the results to this JSON file");
  cmd->add_option("--plan", o->plan,
                  "write the compiled step to this file: its kernels in launch order with their operands' memory "
                  "(and, on the GPU, their streams)");
  cmd->add_flag("--profile", o->profile, "print the most expensive kernels (GPU: synchronizes per kernel, no CUDA graphs)");
  cmd->add_flag("--no-graphs", o->no_graphs, "GPU: launch kernel by kernel instead of replaying a CUDA graph");
  return [m, o]() -> int {
    auto t_compile = Clock::now();
    ModelFile mf(compile_options(*m));
    if (!load(mf, *m)) return 1;
    Recipe r;
    bool has_recipe = false;
    if (elab::ValuePtr rv = mf.recipe()) {
      r = recipe_from_value(*rv);
      has_recipe = true;
    }
    if (mf.diags().has_errors()) return 1;
    const std::string device = resolve_device(o->device);
    const std::string precision = !o->precision.empty() ? o->precision : has_recipe ? r.precision : "fp32";
    auto fwd = mf.build(o->batch);
    if (!fwd) return 1;
    ir::ValueId logits = fwd->output("output");
    if (logits == ir::kNoValue || fwd->type(logits).shape.size() != 2) {
      std::cerr << "acnn: error: bench needs a network that outputs logits [N, classes]\n";
      return 1;
    }
    const int64_t classes = fwd->type(logits).shape[1];
    std::unique_ptr<ir::Graph> g;
    if (o->mode == "train") {
      TrainGraphOptions go = TrainGraphOptions::from(r);
      go.classes = classes;
      if (go.distill) std::cerr << "acnn: note: bench trains without the recipe's distillation teacher\n";
      go.distill = false;
      go.loss_scaling = device == "cuda" && precision == "mixed_fp16";
      g = build_train_graph(*fwd, go);
    } else {
      g = build_eval_graph(*fwd, /*with_loss=*/false, r.zero_gamma);
    }
    const double graph_s = since(t_compile);
    train::RunSetup setup;
    setup.device = device;
    setup.backends = o->backends;
    setup.passes = o->passes;
    setup.no_fuse = o->no_fuse;
    setup.remat_min_mib = o->remat_min_mib;
    train::optimize_graph(*g, setup, o->mode == "train" ? passes::Mode::Train : passes::Mode::Eval);
    RunnerOptions ro;
    ro.device = device;
    ro.backends = o->backends;
    ro.seed = static_cast<uint64_t>(r.seed);
    ro.precision = precision;
    ro.profile = o->profile;
    ro.cuda_graphs = !o->no_graphs;
    std::unique_ptr<Runner> runner = make_runner(*g, ro);
    const double compile_s = since(t_compile);
    const bool gpu = runner->on_gpu();
    const int warmup = o->warmup > 0 ? o->warmup : gpu ? 5 : 1;
    const int steps = o->steps > 0 ? o->steps : gpu ? 30 : 3;

    std::map<std::string, Tensor> feeds = make_feeds(*g, classes);
    ExecContext ctx;
    ctx.seed = static_cast<uint64_t>(r.seed);
    ctx.threads = o->threads;
    ctx.training = o->mode == "train";
    ctx.scalars = {{"lr", 0.01f}, {"dropblock_keep", static_cast<float>(r.dropblock_keep)}, {"mixup_lambda", 0.7f}};
    double first_loss = NAN, last_loss = NAN;
    auto note_loss = [&](const std::map<std::string, Tensor>& out) {
      auto it = out.find("loss");
      if (it == out.end()) return;
      last_loss = it->second.at(0);
      if (std::isnan(first_loss)) first_loss = last_loss;
    };
    int64_t step = 0;
    for (int i = 0; i < warmup; ++i) {
      ctx.step = step++;
      note_loss(runner->run(feeds, ctx));
    }
    runner->start_timer();
    for (int i = 0; i < steps; ++i) {
      ctx.step = step++;
      runner->submit(feeds, ctx);
      if (i > 0) note_loss(runner->wait());
    }
    note_loss(runner->wait());
    const double seconds = runner->stop_timer();
    const MemoryReport mem = runner->memory();
    const double img_s = static_cast<double>(o->batch) * steps / seconds;
    // On the GPU: the plan's floor (acnn dump --stage device), to see how far
    // the measured step is from it.
    double floor_ms = NAN, floor_bandwidth = NAN;
#ifdef ACNN_HAVE_CUDA
    if (gpu) {
      cuda::Precision cp = cuda::Precision::FP32;
      cuda::parse_precision(precision, &cp);
      cuda::PlanReportOptions po = cuda::report_options_for(runner->device());
      po.units = false;
      cuda::PlanTotals totals;
      cuda::plan_report(cuda::plan_device(*g, cp), po, &totals);
      floor_ms = 1e3 * totals.floor_s;
      floor_bandwidth = po.bandwidth_gbs;
    }
#endif
    const double gib = 1024.0 * 1024.0 * 1024.0;

    std::printf("%s: %s %s, batch %lld, %s on %s\n", fwd->name.c_str(), o->mode.c_str(), m->file.c_str(),
                static_cast<long long>(o->batch), gpu ? precision.c_str() : "fp32", runner->device().c_str());
    std::printf("  %.1f img/s  (%.2f ms/step over %d steps after %d warm-up)\n", img_s, 1e3 * seconds / steps, steps, warmup);
    std::printf("  compile %.2f s (graphs %.2f s)  peak memory %.2f GiB (%s)  params %.2f M\n", compile_s, graph_s,
                mem.peak / gib, mem.peak_source.c_str(), parameter_count(*fwd) / 1e6);
    std::printf("  arena %.1f MiB  persistent %.1f MiB  dedicated %.1f MiB  workspace %.1f MiB\n", mem.arena / 1048576.0,
                mem.persistent / 1048576.0, mem.dedicated / 1048576.0, mem.workspace / 1048576.0);
    if (const std::string cr = runner->compile_report(); !cr.empty()) std::printf("  %s\n", cr.c_str());
    if (!std::isnan(floor_ms))
      std::printf("  floor %.2f ms per step (acnn dump --stage device's model at %.2f TB/s): measured %.2fx of it\n",
                  floor_ms, floor_bandwidth / 1000, 1e3 * seconds / steps / floor_ms);
    if (!std::isnan(last_loss)) std::printf("  loss %.4f -> %.4f\n", first_loss, last_loss);
    if (o->profile) std::printf("%s", runner->time_report(25).c_str());
    if (!o->json.empty()) {
      nlohmann::json j = {{"model", fwd->name},
                          {"file", m->file},
                          {"mode", o->mode},
                          {"batch", o->batch},
                          {"precision", gpu ? precision : std::string("fp32")},
                          {"device", runner->device()},
                          {"img_s", img_s},
                          {"ms_iter", 1e3 * seconds / steps},
                          {"steps", steps},
                          {"warmup", warmup},
                          {"compile_s", compile_s},
                          {"compile_report", runner->compile_report()},
                          {"graph_build_s", graph_s},
                          {"params_M", parameter_count(*fwd) / 1e6},
                          {"peak_bytes", mem.peak},
                          {"peak_GiB", mem.peak / gib},
                          {"peak_source", mem.peak_source},
                          {"arena_bytes", mem.arena},
                          {"persistent_bytes", mem.persistent},
                          {"dedicated_bytes", mem.dedicated},
                          {"workspace_bytes", mem.workspace},
                          {"passes", o->no_fuse ? o->passes + " -fusion" : o->passes},
                          {"remat_min_mib", o->remat_min_mib >= 0 ? o->remat_min_mib
                                            : static_cast<double>((gpu ? passes::kRematMinBytesCuda : passes::kRematMinBytes) >> 20)},
                          {"cuda_graphs", gpu && !o->no_graphs && !o->profile},
                          {"timer", gpu ? "cuda events" : "steady clock"}};
      if (!std::isnan(last_loss)) j["loss_first"] = first_loss, j["loss_last"] = last_loss;
      if (!std::isnan(floor_ms)) {
        j["floor_ms"] = floor_ms;
        j["floor_bandwidth_gbs"] = floor_bandwidth;
      }
      std::ofstream out(o->json);
      if (!out) {
        std::cerr << "acnn: error: cannot write " << o->json << "\n";
        return 1;
      }
      out << j.dump(1) << "\n";
    }
    if (!o->plan.empty()) {
      std::ofstream out(o->plan);
      if (!(out << runner->dump_plan())) {
        std::cerr << "acnn: error: cannot write " << o->plan << "\n";
        return 1;
      }
    }
    if (!std::isnan(last_loss) && !std::isfinite(last_loss)) {
      std::cerr << "acnn: error: the loss is not finite (" << last_loss << ")\n";
      return 1;
    }
    return 0;
  };
}

}  // namespace acnn::cli
