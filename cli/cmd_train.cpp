// `acnn train [FILE]` and `acnn eval FILE --checkpoint C [--corruptions ...]`.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/training.h"
#include "runtime/train/robustness.h"

namespace acnn::cli {

Command register_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a model with its recipe (default: the bundled Fashion-MNIST Assemble model)");
  auto m = std::make_shared<ModelOptions>();
  auto o = std::make_shared<RecipeOverrides>();
  auto t = std::make_shared<train::TrainOptions>();
  auto quiet = std::make_shared<bool>(false);
  add_model_options(cmd, *m, /*file_required=*/false);
  add_recipe_options(cmd, *o);
  add_run_options(cmd, *t);
  cmd->add_option("--name", t->run_name, "run name: files go to RUNS/NAME (default: the recipe's name)");
  cmd->add_option("--runs", t->runs_dir, "directory of runs")->default_val("runs");
  cmd->add_flag("--resume", t->resume, "continue the run from its last checkpoint");
  cmd->add_option("--init", t->init_checkpoint, "start from the weights in this safetensors file");
  cmd->add_option("--max-steps", t->max_steps, "stop after this many steps (for smoke tests)");
  cmd->add_option("--checkpoint-every", t->checkpoint_every, "also checkpoint every N steps");
  cmd->add_option("--log-every", t->log_every, "write a metrics.jsonl step record every N steps")->default_val(50);
  cmd->add_flag("--no-progress", *quiet, "one plain log line per epoch instead of a progress bar");
  cmd->add_flag("--profile", t->profile, "print the time of the most expensive kernels at the end");
  return [m, o, t, quiet]() -> int {
    ModelFile mf(compile_options(*m));
    auto t0 = std::chrono::steady_clock::now();
    std::optional<Recipe> r = load_with_recipe(mf, *m, *o);
    if (!r) return 1;
    t->parse_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t->model_path = m->file;
    t->model_args = m->model_args;
    t->progress = !*quiet;
    train::TrainResult res = train::train(mf, *r, *t);
    if (res.interrupted) return 130;
    std::fprintf(stderr, "acnn: done in %.1f s: %lld steps, top-1 %.2f%%, top-5 %.2f%% on %lld examples; %s\n",
                 res.seconds, static_cast<long long>(res.global_step), 100 * res.eval.top1, 100 * res.eval.top5,
                 static_cast<long long>(res.eval.examples), res.checkpoint.c_str());
    return 0;
  };
}

Command register_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate a model: top-1/top-5 on the recipe's evaluation set, and with "
                                         "--corruptions its robustness (errors under 15 corruptions x 5 severities, mCE)");
  auto m = std::make_shared<ModelOptions>();
  auto o = std::make_shared<RecipeOverrides>();
  auto t = std::make_shared<train::TrainOptions>();
  struct Opts {
    std::string checkpoint, severities = "1,2,3,4,5", baseline, imagenet_c, report;
    bool corruptions = false;
    int64_t limit = 0;
  };
  auto e = std::make_shared<Opts>();
  add_model_options(cmd, *m, /*file_required=*/false);
  add_recipe_options(cmd, *o);
  add_run_options(cmd, *t);
  cmd->add_option("--checkpoint", e->checkpoint, "weights to evaluate (a safetensors file)")->required();
  cmd->add_flag("--corruptions", e->corruptions,
                "also evaluate under the 15 ImageNet-C corruptions (generated from the evaluation set, or read with "
                "--imagenet-c) and report per-corruption errors and mCE; writes CHECKPOINT-STEM.robustness.json "
                "next to the checkpoint");
  cmd->add_option("--severities", e->severities, "corruption severities, e.g. 1,2,3,4,5")->default_val("1,2,3,4,5");
  cmd->add_option("--baseline", e->baseline,
                  "normalize CE by this baseline's report (a .robustness.json of another model); default: AlexNet's "
                  "published errors on ImageNet, unnormalized elsewhere");
  cmd->add_option("--imagenet-c", e->imagenet_c, "read corrupted images from DIR/<corruption>/<severity>/<class>/*");
  cmd->add_option("--corruption-limit", e->limit,
                  "evaluate N evenly spaced examples per corruption and severity (0: all)")->default_val(0);
  cmd->add_option("--report", e->report, "where to write the robustness JSON (default: next to the checkpoint)");
  return [m, o, t, e]() -> int {
    ModelFile mf(compile_options(*m));
    std::optional<Recipe> r = load_with_recipe(mf, *m, *o);
    if (!r) return 1;
    t->model_path = m->file;
    if (!e->corruptions) {
      if (!e->baseline.empty() || !e->imagenet_c.empty() || e->limit)
        std::cerr << "acnn: note: --baseline, --imagenet-c and --corruption-limit apply with --corruptions only\n";
      train::EvalResult res = train::evaluate(mf, *r, e->checkpoint, *t);
      std::printf("top-1 %.2f%%  top-5 %.2f%%  loss %.4f  (%lld examples, %.1f s)\n", 100 * res.top1, 100 * res.top5,
                  res.loss, static_cast<long long>(res.examples), res.seconds);
      return 0;
    }
    train::RobustnessOptions ro;
    ro.severities = train::parse_severities(e->severities);
    ro.limit = e->limit;
    ro.imagenet_c = e->imagenet_c;
    ro.baseline = e->baseline;
    ro.progress = [](const std::string& c, int s, double err) {
      if (s == 0) std::fprintf(stderr, "acnn: %-18s      error %6.2f%%\n", c.c_str(), 100 * err);
      else std::fprintf(stderr, "acnn: %-18s s%d   error %6.2f%%\n", c.c_str(), s, 100 * err);
    };
    train::Evaluator ev(mf, *r, r->batch, *t);
    ev.load_checkpoint(e->checkpoint);
    train::RobustnessReport rep = train::evaluate_robustness(ev, *r, ro);
    rep.model = m->file;
    rep.checkpoint = e->checkpoint;
    std::string path = e->report.empty() ? train::report_path_for(e->checkpoint) : e->report;
    train::save_report(path, rep);
    std::cout << train::format_report(rep) << "report: " << path << "\n";
    return 0;
  };
}

}  // namespace acnn::cli
