// `acnn teacher-logits FILE --checkpoint C -o logits.safetensors`: runs a
// trained model in inference mode over its recipe's training set (evaluation
// transform, no augmentation) and writes the logits, row i for training
// example i, for a student's `distill.logits`.
#include <cstdio>
#include <iostream>

#include "cli/training.h"
#include "runtime/train/teacher_logits.h"

namespace acnn::cli {

Command register_teacher_logits(CLI::App& app) {
  auto* cmd = app.add_subcommand("teacher-logits",
                                 "Write a trained model's logits on every training example, for distillation "
                                 "(recipe.distill.logits)");
  auto m = std::make_shared<ModelOptions>();
  auto o = std::make_shared<RecipeOverrides>();
  auto t = std::make_shared<train::TrainOptions>();
  auto checkpoint = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  add_model_options(cmd, *m);
  add_recipe_options(cmd, *o);
  add_run_options(cmd, *t);
  cmd->add_option("--checkpoint", *checkpoint, "the teacher's weights (a safetensors file)")->required();
  cmd->add_option("-o,--output", *out, "the logits file to write (safetensors, tensor `logits`)")->required();
  return [m, o, t, checkpoint, out]() -> int {
    ModelFile mf(compile_options(*m));
    std::optional<Recipe> r = load_with_recipe(mf, *m, *o);
    if (!r) return 1;
    train::TeacherLogitsOptions lo;
    lo.checkpoint = *checkpoint;
    static_cast<train::RunSetup&>(lo) = *t;
    int64_t next_report = 0;
    lo.progress = [&next_report](int64_t done, int64_t total) {
      if (done < next_report && done < total) return;
      std::fprintf(stderr, "\racnn: %lld / %lld examples", static_cast<long long>(done), static_cast<long long>(total));
      next_report = done + std::max<int64_t>(1, total / 20);
      if (done >= total) std::fprintf(stderr, "\n");
    };
    train::TeacherLogitsResult res = train::compute_teacher_logits(mf, *r, lo);
    train::Metadata meta = {{"acnn.teacher", m->file},
                            {"acnn.teacher_checkpoint", *checkpoint},
                            {"acnn.data", res.description},
                            {"acnn.transform", "evaluation (no augmentation)"},
                            {"acnn.train_top1", std::to_string(res.top1)}};
    train::save_teacher_logits(*out, res.logits, meta);
    std::fprintf(stderr, "acnn: wrote %s: logits f32[%lld, %lld] in %.1f s; the teacher's training-set top-1 is %.2f%%\n",
                 out->c_str(), static_cast<long long>(res.logits.dim(0)), static_cast<long long>(res.logits.dim(1)),
                 res.seconds, 100 * res.top1);
    return 0;
  };
}

}  // namespace acnn::cli
