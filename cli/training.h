// What `acnn train`, `acnn eval` and `acnn ablate` share: the recipe options
// of the command line (--epochs, --batch, --lr, --data, --set KEY=VALUE, ...)
// and loading a model file with its recipe after those overrides. Overrides
// go through the language (`recipe with { ... }`), so they are type-checked
// and misspelled keys get the same hints as in a file.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "compiler/train/recipe.h"
#include "runtime/train/trainer.h"

namespace acnn::cli {

struct RecipeOverrides {
  std::optional<int64_t> epochs, batch, seed, limit_train, limit_eval;
  std::optional<double> lr;
  std::optional<std::string> data;
  std::vector<std::string> sets;  // "optimizer.momentum=0.95"
};

void add_recipe_options(CLI::App* cmd, RecipeOverrides& o);
void add_run_options(CLI::App* cmd, train::TrainOptions& o);

// Loads the model file (default: the bundled Fashion-MNIST Assemble model),
// applies the overrides and returns its recipe; null after printing errors.
std::optional<Recipe> load_with_recipe(ModelFile& mf, ModelOptions& m, const RecipeOverrides& o);

}  // namespace acnn::cli
