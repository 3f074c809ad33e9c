// `acnn train [FILE]` and `acnn eval FILE --checkpoint C`.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/training.h"

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
  cmd->add_flag("--no-progress", *quiet, "plain log lines instead of a progress bar");
  cmd->add_flag("--profile", t->profile, "print the time of the most expensive kernels at the end");
  return [m, o, t, quiet]() -> int {
    ModelFile mf(compile_options(*m));
    auto t0 = std::chrono::steady_clock::now();
    std::optional<Recipe> r = load_with_recipe(mf, *m, *o);
    if (!r) return 1;
    t->parse_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t->model_path = m->file;
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
  auto* cmd = app.add_subcommand("eval", "Evaluate a model: top-1/top-5 on the recipe's evaluation set");
  auto m = std::make_shared<ModelOptions>();
  auto o = std::make_shared<RecipeOverrides>();
  auto t = std::make_shared<train::TrainOptions>();
  auto checkpoint = std::make_shared<std::string>();
  add_model_options(cmd, *m, /*file_required=*/false);
  add_recipe_options(cmd, *o);
  add_run_options(cmd, *t);
  cmd->add_option("--checkpoint", *checkpoint, "weights to evaluate (a safetensors file)")->required();
  return [m, o, t, checkpoint]() -> int {
    ModelFile mf(compile_options(*m));
    std::optional<Recipe> r = load_with_recipe(mf, *m, *o);
    if (!r) return 1;
    t->model_path = m->file;
    train::EvalResult e = train::evaluate(mf, *r, *checkpoint, *t);
    std::printf("top-1 %.2f%%  top-5 %.2f%%  loss %.4f  (%lld examples, %.1f s)\n", 100 * e.top1, 100 * e.top5, e.loss,
                static_cast<long long>(e.examples), e.seconds);
    return 0;
  };
}

}  // namespace acnn::cli
