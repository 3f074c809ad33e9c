// The fused graphs compute what the unfused ones do.
//  - Exactly, on the reference interpreter (which runs fused nodes by
//    interpreting their bodies), for the Fashion models at their real size and
//    the full Assemble-ResNet-50 network (ablation e10: ResNet-D, SK, Big-Little,
//    anti-aliasing, DropBlock) at 32x32, batch 2: the inference graph (logits,
//    loss; batch norm is folded into convolutions there, so within rounding)
//    and one training step (loss, logits and every updated parameter and state
//    tensor, bit for bit: the same kernels run in the same order).
//  - For every model under models/ (ImageNet ones at 32x32, batch 2), through
//    the Executor as the trainer runs them: the unfused graph against the
//    optimized one (passes, fused kernels of the CPU backend, the rest
//    expanded), within float rounding.
// Also: fusion forms the kinds the contract names, is deterministic, keeps
// graphs verifiable, and unfuse() undoes it.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "compiler/elaborate/model_file.h"
#include "compiler/ir/printer.h"
#include "compiler/passes/fusion.h"
#include "compiler/passes/pipeline.h"
#include "compiler/train/model_graphs.h"
#include "compiler/train/train_graph.h"
#include "runtime/executor.h"
#include "runtime/interpreter.h"
#include "runtime/optimize.h"
#include "tests/catch.h"
#include "tests/paths.h"

using namespace acnn;

namespace {

std::string root() { return acnn::testing::source_dir(); }

// The model files under models/, sorted.
std::vector<std::string> model_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root() + "/models"))
    if (e.path().extension() == ".acnn") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// A model file rewritten for a quick test: ImageNet models at 32x32, no
// distillation teacher (it would expect its own input size).
struct TestModel {
  ModelFile mf;
  std::optional<Recipe> recipe;
  std::unique_ptr<ir::Graph> forward;
};

std::unique_ptr<TestModel> load_small(const std::string& path, int64_t batch) {
  auto m = std::make_unique<TestModel>();
  bool fashion = path.find("/fashion/") != std::string::npos;
  std::string text = "import \"" + path + "\" as m\n" +
                     (fashion ? std::string("model = m.model\n") : std::string("model = m.model with { size: 32 }\n")) +
                     "recipe = m.recipe with { distill: { teacher: \"\" } }\n";
  if (!m->mf.load_text(root() + "/models/test_wrapper.acnn", text)) return nullptr;
  m->forward = m->mf.build(batch);
  elab::ValuePtr r = m->mf.recipe();
  if (!m->forward || !r) return nullptr;
  m->recipe = recipe_from_value(*r);
  return m;
}

Tensor random_tensor(const ir::ValueType& t, uint64_t seed) {
  Tensor x(t.dtype, t.shape);
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, 2.0 * uniform01(counter_hash(seed, 0, 3, i)) - 1.0);
  return x;
}

// Feeds for every Input of g (images random, labels 0..classes-1) and every
// persistent tensor (initialized once here rather than in every interpret()).
std::map<std::string, Tensor> feeds_for(const ir::Graph& g, int64_t classes, bool persistent = true) {
  std::map<std::string, Tensor> f;
  for (const ir::Node& n : g.nodes()) {
    if (persistent && !n.dead && (n.op == ir::OpKind::Param || n.op == ir::OpKind::State))
      f[n.attrs.s("name")] = init_persistent(n, g.type(n.outputs[0]).dtype, 11);
    if (n.dead || n.op != ir::OpKind::Input) continue;
    const ir::ValueType& t = g.type(n.outputs[0]);
    const std::string& name = n.attrs.s("name");
    if (t.dtype == DType::I32) {
      Tensor l(DType::I32, t.shape);
      for (int64_t i = 0; i < l.numel(); ++i) l.set(i, static_cast<double>((i * 7 + name.size()) % classes));
      f[name] = l;
    } else {
      f[name] = random_tensor(t, std::hash<std::string>{}(name));
      if (t.shape.size() == 4) {
        // Per-example contrast and brightness, as real batches have. I.i.d.
        // noise images all pool to nearly the same features, so the batch
        // norms of SE/SK attention (over N x C x 1 x 1: N values per channel)
        // divide by a variance near zero, and the step amplifies rounding
        // differences (the order of a sum) by 10^4 or more.
        Tensor& x = f[name];
        int64_t per = x.numel() / t.shape[0];
        for (int64_t i = 0; i < x.numel(); ++i) {
          int64_t e = i / per;
          double scale = 0.25 + 1.5 * uniform01(counter_hash(7, e, 1, 0));
          double shift = 2 * uniform01(counter_hash(7, e, 2, 0)) - 1;
          x.set(i, scale * x.at(i) + shift);
        }
      }
    }
  }
  return f;
}

ExecContext context(bool training) {
  ExecContext ctx;
  ctx.seed = 5;
  ctx.step = 3;
  ctx.training = training;
  ctx.threads = 1;  // no OpenMP spinning on a shared machine; results do not depend on it
  ctx.scalars = {{"lr", 0.1f}, {"dropblock_keep", 0.9f}, {"mixup_lambda", 0.7f}};
  return ctx;
}

// max |a - b| / max(1, max |b|)
double rel_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double d = 0, m = 1;
  for (int64_t i = 0; i < a.numel(); ++i) {
    d = std::max(d, std::fabs(a.at(i) - b.at(i)));
    m = std::max(m, std::fabs(b.at(i)));
  }
  return d / m;
}

std::map<std::string, int> kinds_of(const ir::Graph& g) {
  std::map<std::string, int> k;
  for (const ir::Node& n : g.nodes())
    if (!n.dead && n.op == ir::OpKind::Fused) ++k[n.attrs.s("kind")];
  return k;
}

void optimize(ir::Graph& g, passes::Mode mode) {
  passes::PipelineOptions po;
  po.mode = mode;
  po.verify = true;
  po.remat_min_bytes = 0;  // recompute even these small tensors
  passes::run_pipeline(g, po);
}

void compare(const InterpreterResult& ref, const InterpreterResult& got, double tol) {
  for (const auto& [name, t] : ref.outputs) {
    INFO("output " << name);
    REQUIRE(got.outputs.count(name));
    CHECK(rel_diff(got.outputs.at(name), t) <= tol);
  }
  REQUIRE(got.updated_state.size() == ref.updated_state.size());
  int differing = 0;
  std::string first;
  double worst = 0;
  for (const auto& [name, t] : ref.updated_state) {
    REQUIRE(got.updated_state.count(name));
    double d = rel_diff(got.updated_state.at(name), t);
    worst = std::max(worst, d);
    if (d > tol) {
      if (!differing) first = name;
      ++differing;
    }
  }
  INFO("first differing update: " << first << " (worst relative difference " << worst << ")");
  CHECK(differing == 0);
}

}  // namespace

namespace {

// Builds the inference and training graphs of a test model.
struct Graphs {
  std::unique_ptr<ir::Graph> eval, train;
};

Graphs graphs_of(const TestModel& m) {
  Graphs r;
  r.eval = build_eval_graph(*m.forward, true, m.recipe->zero_gamma);
  r.train = build_train_graph(*m.forward, TrainGraphOptions::from(*m.recipe));
  return r;
}

}  // namespace

TEST_CASE("fused graphs compute exactly what the unfused ones do on the interpreter", "[unit][fusion]") {
  for (const char* name : {"fashion/baseline.acnn", "fashion/assemble.acnn", "ablation/e10.acnn"}) {
    SECTION(name) {
      auto m = load_small(root() + "/models/" + name, 2);
      REQUIRE(m);
      const int64_t classes = m->recipe->data.classes;
      Graphs g = graphs_of(*m);
      auto eval_opt = g.eval->clone();
      optimize(*eval_opt, passes::Mode::Eval);
      CHECK(kinds_of(*eval_opt)["conv"] > 0);
      auto feeds = feeds_for(*g.eval, classes);
      ExecContext ectx = context(false);
      compare(interpret(*g.eval, feeds, ectx), interpret(*eval_opt, feeds, ectx), 2e-4);
      auto train_opt = g.train->clone();
      optimize(*train_opt, passes::Mode::Train);
      std::map<std::string, int> kinds = kinds_of(*train_opt);
      CHECK(kinds["batchnorm"] > 0);
      CHECK(kinds["batchnorm_backward"] > 0);
      CHECK(kinds["optimizer"] == 1);
      CHECK(kinds["elementwise"] > 0);
      auto tfeeds = feeds_for(*g.train, classes);
      ExecContext tctx = context(true);
      compare(interpret(*g.train, tfeeds, tctx), interpret(*train_opt, tfeeds, tctx), 0);
    }
  }
}

namespace {

// One run of `g` on an executor with the default backends, after the
// trainer's optimization when `optimized`: the outputs and every persistent
// tensor afterwards.
InterpreterResult run_executor(const ir::Graph& graph, passes::Mode mode, bool optimized,
                               const std::map<std::string, Tensor>& feeds, ExecContext ctx, bool poison = false) {
  auto g = graph.clone();
  if (optimized) {
    passes::PipelineOptions po;
    po.mode = mode;
    po.verify = true;
    po.remat_min_bytes = 0;  // recompute even these small tensors
    optimize_for_executor(*g, po, {});
  }
  ExecutorOptions eo;
  eo.seed = 11;
  eo.profile = false;
  eo.poison = poison;
  eo.threads = ctx.threads;
  Executor ex(*g, eo);
  InterpreterResult r;
  r.outputs = ex.run(feeds, ctx);
  for (const ir::StateUpdate& u : g->updates) {
    const std::string& name = g->producer(u.target).attrs.s("name");
    r.updated_state[name] = ex.get_persistent(name);
  }
  return r;
}

}  // namespace

namespace {

// One training step, unfused against optimized. At batch 2 the batch norms of
// SK attention see two values per channel (x_hat = +-d / sqrt(d^2 + eps)),
// which makes the step ill-conditioned enough that rounding differences (a
// fused reduction sums in another order) moved updates by up to 14% (Fashion
// row e9); at batch 4 with varied inputs, random relative input noise of 1e-6
// moves them by at most 1e-5 for the Fashion rows, and fused and unfused
// steps agree within 1e-5.
void compare_train_step(const std::string& file) {
  auto mb = load_small(file, 4);
  REQUIRE(mb);
  auto train = build_train_graph(*mb->forward, TrainGraphOptions::from(*mb->recipe));
  auto tfeeds = feeds_for(*train, mb->recipe->data.classes, false);
  compare(run_executor(*train, passes::Mode::Train, false, tfeeds, context(true)),
          run_executor(*train, passes::Mode::Train, true, tfeeds, context(true)), 1e-4);
}

}  // namespace

TEST_CASE("for every model, the executor computes the same with and without the passes", "[unit][fusion]") {
  std::vector<std::string> files = model_files();
  REQUIRE(files.size() >= 20);
  for (const std::string& file : files) {
    const std::string rel = file.substr(root().size() + 1);
    SECTION(rel) {
      auto m = load_small(file, 2);
      if (!m) FAIL("does not compile");
      const int64_t classes = m->recipe->data.classes;
      Graphs g = graphs_of(*m);
      // Ablation rows that change only what these graphs do not see (epochs,
      // augmentation, ...) give the same graphs: test each pair once.
      static std::set<std::string> seen;
      std::ostringstream both;
      ir::print_text(both, *g.eval);
      ir::print_text(both, *g.train);
      if (!seen.insert(both.str()).second) {
        SUCCEED("the same graphs as a model tested before");
        return;
      }
      auto feeds = feeds_for(*g.eval, classes, false);  // persistent tensors: the executors' own (same seed)
      compare(run_executor(*g.eval, passes::Mode::Eval, false, feeds, context(false)),
              run_executor(*g.eval, passes::Mode::Eval, true, feeds, context(false)), 1e-3);
      compare_train_step(file);
    }
  }
}

TEST_CASE("no kernel of a fused training step reads memory that no kernel wrote", "[unit][fusion]") {
  // The arena and scratch start as NaN (ExecutorOptions::poison): a kernel
  // reading a stale or unwritten buffer, or leaving part of its output
  // unwritten, throws; and the results equal those of a zeroed arena.
  for (const char* name : {"fashion/assemble.acnn", "ablation/e10.acnn"}) {
    SECTION(name) {
      auto m = load_small(root() + "/models/" + name, 2);
      REQUIRE(m);
      auto train = build_train_graph(*m->forward, TrainGraphOptions::from(*m->recipe));
      auto feeds = feeds_for(*train, m->recipe->data.classes, false);
      InterpreterResult poisoned = run_executor(*train, passes::Mode::Train, true, feeds, context(true), true);
      compare(run_executor(*train, passes::Mode::Train, true, feeds, context(true)), poisoned, 0);
    }
  }
}

TEST_CASE("an in-graph distillation teacher fuses as inference code inside the training step", "[unit][fusion]") {
  auto m = load_small(root() + "/models/fashion/assemble.acnn", 2);
  REQUIRE(m);
  auto t = load_small(root() + "/models/fashion/baseline.acnn", 2);
  REQUIRE(t);
  auto teacher = build_eval_graph(*t->forward, false, true);
  TrainGraphOptions go = TrainGraphOptions::from(*m->recipe);
  go.distill = true;
  go.teacher = teacher.get();
  auto train = build_train_graph(*m->forward, go);
  auto fused = train->clone();
  optimize(*fused, passes::Mode::Train);
  CHECK(kinds_of(*fused)["conv"] > 0);  // the teacher's conv -> bn_infer -> relu chains
  // The teacher runs before the student's forward pass, so its activations
  // are gone before the student's saved ones pile up.
  ir::NodeId last_teacher = -1, first_student_conv = static_cast<ir::NodeId>(fused->num_nodes());
  for (ir::NodeId i = 0; i < static_cast<ir::NodeId>(fused->num_nodes()); ++i) {
    const ir::Node& n = fused->node(i);
    if (n.scope == "teacher" || n.scope.rfind("teacher.", 0) == 0) last_teacher = i;  // fused: common scope
    else if (n.op == ir::OpKind::Conv2d || (n.op == ir::OpKind::Fused && n.attrs.s("kind") == "conv"))
      first_student_conv = std::min(first_student_conv, i);
  }
  CHECK(last_teacher >= 0);
  CHECK(last_teacher < first_student_conv);
  auto feeds = feeds_for(*train, 10);
  ExecContext ctx = context(true);
  compare(interpret(*train, feeds, ctx), interpret(*fused, feeds, ctx), 1e-6);
}

TEST_CASE("fusion is deterministic and unfuse restores an equivalent graph", "[unit][fusion]") {
  auto m = load_small(root() + "/models/fashion/assemble.acnn", 2);
  REQUIRE(m);
  TrainGraphOptions go = TrainGraphOptions::from(*m->recipe);
  auto train = build_train_graph(*m->forward, go);
  auto a = train->clone(), b = train->clone();
  REQUIRE(passes::fuse(*a));
  REQUIRE(passes::fuse(*b));
  std::ostringstream ta, tb;
  ir::print_text(ta, *a);
  ir::print_text(tb, *b);
  CHECK(ta.str() == tb.str());
  CHECK(ir::verify(*a).empty());
  // The contract: body inputs are named and indexed in order, outputs numbered.
  for (const ir::Node& n : a->nodes()) {
    if (n.op != ir::OpKind::Fused) continue;
    REQUIRE(n.body);
    CHECK(!n.attrs.s("label").empty());
    int64_t inputs = 0;
    for (const ir::Node& bn : n.body->nodes()) {
      CHECK(bn.op != ir::OpKind::Param);
      CHECK(bn.op != ir::OpKind::State);
      CHECK(bn.op != ir::OpKind::Fused);
      if (bn.op != ir::OpKind::Input) continue;
      CHECK(bn.attrs.i("index") == inputs);
      CHECK(bn.attrs.s("name") == "in" + std::to_string(inputs));
      CHECK(n.body->type(bn.outputs[0]) == a->type(n.inputs[inputs]));
      ++inputs;
    }
    CHECK(inputs == static_cast<int64_t>(n.inputs.size()));
    REQUIRE(n.body->outputs.size() == n.outputs.size());
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      CHECK(n.body->outputs[k].first == "out" + std::to_string(k));
      CHECK(n.body->type(n.body->outputs[k].second) == a->type(n.outputs[k]));
    }
  }
  REQUIRE(passes::unfuse(*a));
  CHECK(ir::verify(*a).empty());
  auto live = [](const ir::Graph& g) {
    size_t n = 0;
    for (const ir::Node& x : g.nodes()) n += !x.dead;
    return n;
  };
  CHECK(live(*a) == live(*train));
  for (const ir::Node& n : a->nodes()) CHECK(n.op != ir::OpKind::Fused);
  auto feeds = feeds_for(*train, 10);
  ExecContext ctx = context(true);
  compare(interpret(*train, feeds, ctx), interpret(*a, feeds, ctx), 0);
}

