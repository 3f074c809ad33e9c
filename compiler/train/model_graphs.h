// The graphs a model file trains and evaluates with, built the way `acnn
// train` builds them: the forward graph at a batch size, the distillation
// teacher (a model file the recipe names, compiled and lowered for
// inference, run inside the training step), the training graph and the
// inference graph. `acnn train`, `acnn dump` and `acnn check --train` share
// this, so what they print is what the trainer runs. Compile stages are timed
// into an optional PhaseTimer.
#pragma once

#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "compiler/elaborate/model_file.h"
#include "compiler/ir/graph.h"
#include "compiler/passes/pipeline.h"
#include "compiler/train/recipe.h"
#include "compiler/train/train_graph.h"

namespace acnn {

// A distillation teacher: its compilation session (diagnostics, sources) and
// its inference graph.
struct Teacher {
  std::unique_ptr<ModelFile> file;
  std::unique_ptr<ir::Graph> graph;
};

// The teacher of a recipe that distills from a model file (path relative to
// `model_path`'s directory), or an empty Teacher when the recipe has none or
// distills from precomputed logits (distill.logits, fed as inputs). The
// student's --model-arg overrides apply to the teacher too, and the teacher
// sees the student's input: when its file builds another input size and its
// network has a `size` parameter, it is rebuilt at the student's size.
// Throws std::runtime_error / std::invalid_argument / FatalError
// (diagnostics printed to stderr) when it does not compile or does not fit.
Teacher load_teacher(const Recipe& r, const std::string& model_path, int64_t batch,
                     passes::PhaseTimer* timer = nullptr, const std::vector<std::string>& model_args = {},
                     const ir::Graph* student = nullptr);

// A distillation teacher's model file: absolute, or relative to the
// directory of the student's model file.
std::filesystem::path resolve_teacher_path(const std::string& teacher, const std::string& model_path);

// The forward graph of the model file at `batch` (FatalError after
// diagnostics, which the model file has printed).
std::unique_ptr<ir::Graph> forward_graph(ModelFile& mf, int64_t batch, passes::PhaseTimer* timer = nullptr);

// Training options for a model without a recipe: the logits' width as the
// class count, defaults elsewhere.
TrainGraphOptions default_train_options(const ir::Graph& forward);

}  // namespace acnn
