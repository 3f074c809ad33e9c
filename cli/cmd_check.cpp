// `acnn check FILE`: parse, elaborate and type-check; print parameters,
// multiply-accumulates and the output shape of each stage. With --train, also
// compile the training step as the trainer does (teacher, passes, executor
// plan, at the recipe's batch or --batch) without running it, and report its
// peak memory; --time-passes prints the compile time of every stage.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "compiler/ir/stats.h"
#include "compiler/train/recipe.h"
#include "compiler/train/model_graphs.h"
#include "runtime/executor.h"
#include "runtime/optimize.h"

namespace acnn::cli {

Command register_check(CLI::App& app) {
  auto* cmd = app.add_subcommand("check", "Check a model file: parameters, MACs and shapes per stage");
  auto o = std::make_shared<ModelOptions>();
  auto batch = std::make_shared<int64_t>(1);
  struct TrainCheck {
    bool train = false, time_passes = false;
    std::string passes;
    std::vector<std::string> backends;
    CLI::Option* batch_opt = nullptr;
  };
  auto tc = std::make_shared<TrainCheck>();
  add_model_options(cmd, *o);
  tc->batch_opt = cmd->add_option("--batch", *batch, "batch size N for the shapes (--train: default the recipe's)")->default_val(1);
  cmd->add_flag("--train", tc->train, "compile the training step and report its peak memory");
  cmd->add_flag("--time-passes", tc->time_passes, "print the compile time of every stage");
  cmd->add_option("--passes", tc->passes, "--train: run only these passes (comma list; `none`, `all`)");
  cmd->add_option("--backend", tc->backends, "--train: executor backends in priority order");
  return [o, batch, tc]() -> int {
    passes::PhaseTimer timer;
    passes::PhaseTimer* t = tc->time_passes ? &timer : nullptr;
    ModelFile mf(compile_options(*o));
    {
      passes::PhaseTimer::Scope time(t, "parse");
      if (!load(mf, *o)) return 1;
    }
    std::unique_ptr<ir::Graph> g;
    {
      passes::PhaseTimer::Scope time(t, "elaborate");
      g = mf.build(*batch);
    }
    if (!g) return 1;
    elab::ValuePtr recipe = mf.recipe();
    if (mf.diags().has_errors()) return 1;
    ir::GraphStats s = ir::graph_stats(*g);
    std::cout << o->file << ": network `" << g->name << "`";
    for (const ir::Node& n : g->nodes())
      if (n.op == ir::OpKind::Input)
        std::cout << ", input " << n.attrs.s("name") << " " << type_str(g->type(n.outputs[0]).dtype, g->type(n.outputs[0]).shape);
    std::cout << "\n\n";
    std::printf("  %-14s %-20s %14s %12s\n", "stage", "output", "params", "MACs");
    for (const auto& sc : s.scopes)
      std::printf("  %-14s %-20s %14s %12s\n", sc.scope.empty() ? "(network)" : sc.scope.c_str(), shape_str(sc.output).c_str(),
                  with_commas(sc.params).c_str(), human(static_cast<double>(sc.macs)).c_str());
    std::printf("  %-14s %-20s %14s %12s\n", "total", shape_str(g->type(g->outputs[0].second).shape).c_str(),
                with_commas(s.params).c_str(), human(static_cast<double>(s.macs)).c_str());
    std::cout << "\n  parameters: " << with_commas(s.params) << " trainable, " << with_commas(s.state)
              << " state (batch-norm statistics)\n";
    std::cout << "  multiply-accumulates: " << with_commas(s.macs) << " at batch " << *batch << " ("
              << human(static_cast<double>(s.macs) / static_cast<double>(*batch)) << " per image)\n";
    std::cout << "  graph: " << s.nodes << " nodes\n";
    if (recipe) std::cout << "  recipe " << summarize(recipe_from_value(*recipe)) << "\n";
    if (tc->train) {
      std::optional<Recipe> r;
      if (recipe) r = recipe_from_value(*recipe);
      int64_t b = tc->batch_opt->count() ? *batch : r ? r->batch : 1;
      auto fwd = b == *batch ? std::move(g) : forward_graph(mf, b, t);
      TrainGraphOptions go = r ? TrainGraphOptions::from(*r) : default_train_options(*fwd);
      Teacher teacher;
      if (r) {
        teacher = load_teacher(*r, o->file, b, t, o->model_args, fwd.get());
        go.teacher = teacher.graph.get();
      }
      go.timer = t;
      auto train = build_train_graph(*fwd, go);
      passes::PipelineOptions po;
      po.mode = passes::Mode::Train;
      po.disabled = passes::disabled_from_list(tc->passes);
      po.timer = t;
      OptimizeResult opt = optimize_for_executor(*train, po, tc->backends);
      ExecutorOptions eo;
      eo.backends = tc->backends;
      eo.plan_only = true;
      std::unique_ptr<Executor> ex;
      {
        passes::PhaseTimer::Scope time(t, "executor compile");
        ex = std::make_unique<Executor>(*train, eo);
      }
      const Plan& p = ex->plan();
      auto mib = [](size_t bytes) {
        char buf[32];
        double m = static_cast<double>(bytes) / (1 << 20);
        if (m >= 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", m / 1024);
        else std::snprintf(buf, sizeof buf, "%.1f MiB", m);
        return std::string(buf);
      };
      std::cout << "\n  training step at batch " << b << (teacher.graph ? " (with the distillation teacher)" : "") << ":\n"
                << "    peak memory: " << mib(p.peak_bytes()) << " (" << with_commas(static_cast<int64_t>(p.peak_bytes()))
                << " bytes): activations arena " << mib(p.arena_bytes) << ", parameters and state "
                << mib(p.persistent_bytes) << ", dedicated " << mib(p.dedicated_bytes) << ", scratch "
                << mib(p.scratch_bytes) << "\n"
                << "    plan: " << p.kernel_steps() << " kernels (" << opt.fused - opt.expanded << " fused"
                << (opt.expanded ? ", " + std::to_string(opt.expanded) + " expanded for the backends" : "") << "), "
                << p.convert_steps() << " reorders, " << p.inplace_reuses << " in-place outputs\n";
      int at = 0;
      size_t live = p.live_peak_bytes(&at);
      const Step& peak_step = p.steps[std::min<size_t>(at, p.steps.size() - 1)];
      std::cout << "    arena peak: " << mib(live) << " live at step #" << at
                << (peak_step.node >= 0 ? " (" + ex->graph().node(peak_step.node).scope + ")" : "") << ", held by:\n";
      std::vector<Plan::LiveGroup> groups = p.live_at_peak(ex->graph());
      for (size_t i = 0; i < groups.size() && i < 8; ++i)
        std::printf("      %10s  %4d x %s\n", mib(groups[i].bytes).c_str(), groups[i].count, groups[i].producer.c_str());
    }
    if (t) {
      std::cout << "\n  compile times:\n";
      timer.print(std::cout);
    }
    return 0;
  };
}

}  // namespace acnn::cli
