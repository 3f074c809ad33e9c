#include "compiler/train/model_graphs.h"

#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "dsl/diagnostics.h"

namespace acnn {

namespace fs = std::filesystem;

Teacher load_teacher(const Recipe& r, const std::string& model_path, int64_t batch, passes::PhaseTimer* timer) {
  Teacher t;
  if (!r.distill.enabled()) return t;
  if (r.distill.teacher.empty())
    throw std::invalid_argument(
        "distillation from precomputed logits (distill.logits) is not supported by the trainer yet; "
        "set distill.teacher to a model file");
  passes::PhaseTimer::Scope time(timer, "teacher (parse, elaborate)");
  fs::path base = model_path.empty() ? fs::path(".") : fs::path(model_path).parent_path();
  fs::path tp = fs::path(r.distill.teacher).is_absolute() ? fs::path(r.distill.teacher) : base / r.distill.teacher;
  t.file = std::make_unique<ModelFile>();
  t.file->diags().set_stream(&std::cerr);
  if (!t.file->load(tp.string())) throw std::runtime_error("cannot compile the distillation teacher " + tp.string());
  auto fwd = t.file->build(batch);
  if (!fwd) throw FatalError();
  t.graph = build_eval_graph(*fwd, false, true);
  return t;
}

std::unique_ptr<ir::Graph> forward_graph(ModelFile& mf, int64_t batch, passes::PhaseTimer* timer) {
  passes::PhaseTimer::Scope time(timer, "elaborate");
  auto g = mf.build(batch);
  if (!g) throw FatalError();  // the diagnostics are already printed
  return g;
}

TrainGraphOptions default_train_options(const ir::Graph& forward) {
  TrainGraphOptions o;
  ir::ValueId out = forward.output("output");
  if (out != ir::kNoValue && forward.type(out).shape.size() == 2) o.classes = forward.type(out).shape[1];
  return o;
}

}  // namespace acnn
