// Helpers shared by the tests that build graphs: a forward graph from model
// text, a model file's training graph (without its distillation teacher),
// random feeds for a graph's inputs, and kTinyNet (a conv-BN stem and a
// 3-class classifier on 2x6x6 images) with its batches.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "compiler/elaborate/model_file.h"
#include "compiler/train/recipe.h"
#include "compiler/train/train_graph.h"
#include "runtime/tensor.h"
#include "tests/catch.h"
#include "tests/paths.h"

namespace acnn::test {

inline std::unique_ptr<ir::Graph> forward_of(const std::string& text, int64_t batch) {
  ModelFile mf;
  REQUIRE(mf.load_text("net.acnn", text));
  auto g = mf.build(batch);
  REQUIRE(g);
  return g;
}

// The training graph of models/<rel> at `batch`, distillation off; the
// recipe into *recipe_out when given.
inline std::unique_ptr<ir::Graph> model_train_graph(const std::string& rel, int64_t batch, Recipe* recipe_out = nullptr) {
  ModelFile mf;
  REQUIRE(mf.load(acnn::testing::source_dir() + "/models/" + rel));
  auto fwd = mf.build(batch);
  REQUIRE(fwd);
  Recipe r = recipe_from_value(*mf.recipe());
  if (recipe_out) *recipe_out = r;
  TrainGraphOptions o = TrainGraphOptions::from(r);
  o.distill = false;
  return build_train_graph(*fwd, o);
}

// Every Input of g: integer labels i % classes, floats uniform in [-1, 1).
inline std::map<std::string, Tensor> input_feeds(const ir::Graph& g, int64_t classes, uint64_t seed) {
  std::map<std::string, Tensor> f;
  for (const ir::Node& n : g.nodes()) {
    if (n.dead || n.op != ir::OpKind::Input) continue;
    const ir::ValueType& t = g.type(n.outputs[0]);
    Tensor x(t.dtype, t.shape);
    for (int64_t i = 0; i < x.numel(); ++i)
      x.set(i, t.dtype == DType::I32 ? static_cast<double>(i % classes) : 2.0 * uniform01(counter_hash(seed, 0, 3, i)) - 1.0);
    f[n.attrs.s("name")] = x;
  }
  return f;
}

inline const char* kTinyNet = R"(
network net() {
  input image: f32[N, 2, 6, 6]
  c = conv_bn(image, 4, 3, zero_init: true) as "stem"
  fc = linear(flatten(global_avg_pool(c)), 3)
  return fc
}
model = net()
)";

// A batch for kTinyNet: `image` uniform in [-1, 1), `labels` (i + offset) % 3.
inline std::map<std::string, Tensor> tiny_batch(int64_t n, uint64_t seed, int label_offset = 0) {
  Tensor x(DType::F32, {n, 2, 6, 6}), y(DType::I32, {n});
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, 2.0 * uniform01(counter_hash(seed, 0, 1, i)) - 1.0);
  for (int64_t i = 0; i < n; ++i) y.set(i, static_cast<double>((i + label_offset) % 3));
  return {{"image", x}, {"labels", y}};
}

}  // namespace acnn::test
