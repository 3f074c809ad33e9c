#include "cli/training.h"

#include <omp.h>

#include <cstdlib>
#include <iostream>
#include <sstream>


namespace acnn::cli {

namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

void add_recipe_options(CLI::App* cmd, RecipeOverrides& o) {
  cmd->add_option("--epochs", o.epochs, "override recipe.epochs");
  cmd->add_option("--batch", o.batch, "override recipe.batch");
  cmd->add_option("--lr", o.lr, "override recipe.optimizer.lr");
  cmd->add_option("--seed", o.seed, "override recipe.seed");
  cmd->add_option("--data", o.data, "data directory (recipe.data.path)");
  cmd->add_option("--limit-train", o.limit_train, "use the first N training examples (recipe.data.limit_train)");
  cmd->add_option("--limit-eval", o.limit_eval, "use the first N evaluation examples (recipe.data.limit_eval)");
  cmd->add_option("--set", o.sets, "override any recipe field: --set optimizer.momentum=0.95 (repeatable; the value "
                                   "is an .acnn expression)");
}

void add_run_options(CLI::App* cmd, train::TrainOptions& o) {
  // The limit holds for the whole process (parameter initialization and
  // kernel setup run OpenMP regions too), not only for the executor's steps.
  cmd->add_option("--threads", o.threads, "compute threads (default: all cores, or OMP_NUM_THREADS)")
      ->each([](const std::string& v) {
        int n = std::atoi(v.c_str());
        if (n > 0) omp_set_num_threads(n);
      });
  cmd->add_option("--backend", o.backends, "CPU executor backends in priority order (onednn, reference)");
  cmd->add_option("--device", o.device, "where to run: auto (a GPU when one is usable), cpu or cuda")
      ->default_val("auto")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  add_pass_options(cmd, o.passes, o.no_fuse, o.remat_min_mib);
  cmd->add_flag("--time-passes", o.time_passes, "print the compile time of every stage");
}

std::optional<Recipe> load_with_recipe(ModelFile& mf, ModelOptions& m, const RecipeOverrides& o) {
  if (m.file.empty()) m.file = default_model_file();
  if (!load(mf, m)) return std::nullopt;
  elab::ValuePtr base = mf.recipe();
  if (mf.diags().has_errors()) return std::nullopt;
  if (!base) {
    mf.diags().error(SourceLoc{mf.module()->file, 1, 1, 1}, "this file defines no `recipe`",
                     "add one, e.g. `recipe = fashion_recipe with { epochs: 5 }`");
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> t;
  if (o.epochs) t.emplace_back("epochs", std::to_string(*o.epochs));
  if (o.batch) t.emplace_back("batch", std::to_string(*o.batch));
  if (o.seed) t.emplace_back("seed", std::to_string(*o.seed));
  if (o.lr) {
    std::ostringstream s;
    s.precision(17);
    s << *o.lr;
    std::string v = s.str();
    if (v.find_first_of(".eE") == std::string::npos) v += ".0";
    t.emplace_back("optimizer.lr", v);
  }
  if (o.data) t.emplace_back("data.path", quote(*o.data));
  if (o.limit_train) t.emplace_back("data.limit_train", std::to_string(*o.limit_train));
  if (o.limit_eval) t.emplace_back("data.limit_eval", std::to_string(*o.limit_eval));
  for (const std::string& kv : o.sets) t.push_back(split_key_value(kv, "--set"));
  if (!t.empty()) {
    elab::ValuePtr over = mf.evaluate_expression("file.recipe with " + record_literal(t));
    if (!over) return std::nullopt;
    mf.set_recipe(over);
    base = mf.recipe();
    if (!base) return std::nullopt;
  }
  return recipe_from_value(*base);
}

}  // namespace acnn::cli
