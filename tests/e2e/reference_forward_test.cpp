// The reference backend runs whole networks: ResNet-50 at 224x224 and the
// Fashion-MNIST models, with finite outputs of the right shape.
#include <cmath>

#include "compiler/elaborate/model_file.h"
#include "compiler/train/train_graph.h"
#include "runtime/interpreter.h"
#include "tests/catch.h"
#include "tests/paths.h"

using namespace acnn;

static void forward_completes(const std::string& file, int64_t batch) {
  ModelFile mf;
  REQUIRE(mf.load(acnn::testing::source_dir() + "/" + file));
  auto fwd = mf.build(batch);
  REQUIRE(fwd);
  auto g = build_eval_graph(*fwd, false);
  const ir::Node* input = nullptr;
  for (const ir::Node& n : g->nodes())
    if (n.op == ir::OpKind::Input) input = &n;
  REQUIRE(input);
  const ir::ValueType& t = g->type(input->outputs[0]);
  Tensor x(t.dtype, t.shape);
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, uniform01(counter_hash(1, 2, 3, i)) - 0.5);
  ExecContext ctx;
  ctx.training = false;
  InterpreterResult r = interpret(*g, {{input->attrs.s("name"), x}}, ctx);
  const Tensor& y = r.outputs.at("logits");
  CHECK(y.dim(0) == batch);
  bool finite = true;
  double spread = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    finite &= std::isfinite(y.at(i));
    spread = std::max(spread, std::abs(y.at(i) - y.at(0)));
  }
  CHECK(finite);
  CHECK(spread > 0);  // not a constant output
}

TEST_CASE("reference forward of ResNet-50 at 224x224", "[e2e]") {
  forward_completes("models/resnet50.acnn", 1);
}

TEST_CASE("reference forward of the Fashion-MNIST models", "[e2e]") {
  forward_completes("models/fashion/baseline.acnn", 4);
  forward_completes("models/fashion/assemble.acnn", 4);
}
