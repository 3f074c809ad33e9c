#include "compiler/train/model_graphs.h"

#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "dsl/diagnostics.h"

namespace acnn {

namespace fs = std::filesystem;

namespace {

Shape input_shape(const ir::Graph& g) {
  for (const ir::Node& n : g.nodes())
    if (!n.dead && n.op == ir::OpKind::Input) return g.type(n.outputs[0]).shape;
  return Shape{};
}

}  // namespace

fs::path resolve_teacher_path(const std::string& teacher, const std::string& model_path) {
  fs::path p(teacher);
  if (p.is_absolute()) return p;
  fs::path base = model_path.empty() ? fs::path(".") : fs::path(model_path).parent_path();
  return base / p;
}

Teacher load_teacher(const Recipe& r, const std::string& model_path, int64_t batch, passes::PhaseTimer* timer,
                     const std::vector<std::string>& model_args, const ir::Graph* student) {
  Teacher t;
  if (!r.distill.enabled() || !r.distill.logits.empty()) return t;
  if (r.distill.teacher.empty())
    throw std::invalid_argument("distillation needs distill.teacher (a model file) or distill.logits (precomputed logits)");
  passes::PhaseTimer::Scope time(timer, "teacher (parse, elaborate)");
  const std::string path = resolve_teacher_path(r.distill.teacher, model_path).string();
  t.file = std::make_unique<ModelFile>();
  t.file->diags().set_stream(&std::cerr);
  if (!t.file->load(path)) throw std::runtime_error("cannot compile the distillation teacher " + path);
  if (!t.file->apply_model_args(model_args))
    throw std::runtime_error("the --model-arg overrides do not apply to the distillation teacher " + path);
  auto fwd = t.file->build(batch);
  if (!fwd) throw FatalError();
  if (student) {
    const Shape want = input_shape(*student), have = input_shape(*fwd);
    if (have != want && want.size() == 4 && have.size() == 4 && have[1] == want[1] && want[2] == want[3] &&
        t.file->model_has_parameter("size")) {
      std::cerr << "acnn: note: the distillation teacher " << path << " runs at the student's input size " << want[2]
                << " (its file builds " << have[2] << ")\n";
      if (!t.file->apply_model_args({"size=" + std::to_string(want[2])})) throw FatalError();
      fwd = t.file->build(batch);
      if (!fwd) throw FatalError();
    }
  }
  t.graph = build_eval_graph(*fwd, false, true);
  const Shape& out = t.graph->type(t.graph->output("logits")).shape;
  if (out.size() != 2 || out[1] != r.data.classes)
    throw std::invalid_argument("the distillation teacher " + path + " outputs " + shape_str(out) +
                                " but the student's data set has " + std::to_string(r.data.classes) + " classes");
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
