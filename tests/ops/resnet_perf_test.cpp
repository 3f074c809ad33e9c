// Timing of the reference kernels on a ResNet-50 forward pass at 224x224
// (hidden: run with `acnn_tests "[perf]"`). It guards the promise that the
// reference backend, the oracle of every test, stays usable at full size.
#include <chrono>
#include <cstdio>

#include "compiler/ir/builder.h"
#include "runtime/interpreter.h"
#include "tests/catch.h"

using namespace acnn;
using ir::OpKind;
using ir::ValueId;
using Ints = std::vector<int64_t>;

namespace {

struct Net {
  ir::Builder& b;
  int count = 0;
  ValueId conv_bn(ValueId x, int64_t out, int64_t k, int64_t stride, bool relu) {
    const std::string p = "c" + std::to_string(count++);
    const int64_t in = b.shape(x)[1], pad = k / 2;
    ValueId w = b.param(p + ".w", {DType::F32, {out, in, k, k}}, "kaiming_normal", true);
    ValueId y = b.emit1(OpKind::Conv2d, {x, w}, Attrs{{"stride", Ints{stride, stride}}, {"pad", Ints{pad, pad, pad, pad}}});
    ValueId g = b.param(p + ".g", {DType::F32, {out}}, "ones", false), be = b.param(p + ".b", {DType::F32, {out}}, "zeros", false);
    ValueId m = b.state(p + ".m", {DType::F32, {out}}, "zeros"), v = b.state(p + ".v", {DType::F32, {out}}, "ones");
    y = b.emit1(OpKind::BatchNormInfer, {y, g, be, m, v}, Attrs{{"eps", 1e-5}});
    return relu ? b.emit1(OpKind::Relu, {y}) : y;
  }
  ValueId bottleneck(ValueId x, int64_t mid, int64_t stride) {
    ValueId h = conv_bn(x, mid, 1, 1, true);
    h = conv_bn(h, mid, 3, stride, true);
    h = conv_bn(h, mid * 4, 1, 1, false);
    ValueId skip = (stride != 1 || b.shape(x)[1] != mid * 4) ? conv_bn(x, mid * 4, 1, stride, false) : x;
    return b.emit1(OpKind::Relu, {b.add(h, skip)});
  }
};

}  // namespace

TEST_CASE("reference ResNet-50 forward at 224", "[.][perf]") {
  ir::Graph g;
  ir::Builder b(g);
  Net net{b};
  ValueId x = b.input("image", {DType::F32, {1, 3, 224, 224}});
  ValueId h = net.conv_bn(x, 64, 7, 2, true);
  h = b.emit1(OpKind::MaxPool2d, {h}, Attrs{{"kernel", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1, 1, 1}}});
  const int64_t depths[] = {3, 4, 6, 3}, mids[] = {64, 128, 256, 512};
  for (int s = 0; s < 4; ++s)
    for (int64_t i = 0; i < depths[s]; ++i) h = net.bottleneck(h, mids[s], i == 0 && s > 0 ? 2 : 1);
  h = b.reduce_mean(h, {2, 3}, false);
  ValueId fc = b.param("fc.w", {DType::F32, {2048, 1000}}, "kaiming_uniform", true);
  g.outputs.push_back({"logits", b.emit1(OpKind::Matmul, {h, fc})});
  Tensor img(DType::F32, {1, 3, 224, 224});
  for (int64_t i = 0; i < img.numel(); ++i) img.set(i, uniform01(counter_hash(1, 0, 0, i)));
  ExecContext ctx;
  // Initialize the parameters once, outside the timed run.
  std::map<std::string, Tensor> feeds{{"image", img}};
  for (ir::NodeId n : g.persistent_nodes()) {
    const ir::Node& node = g.node(n);
    feeds[node.attrs.s("name")] = init_persistent(node, DType::F32, 0);
  }
  auto t0 = std::chrono::steady_clock::now();
  auto r = interpret(g, feeds, ctx);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("reference ResNet-50 forward, batch 1, 224x224: %.2f s\n", s);
  CHECK(r.outputs.at("logits").shape() == Shape{1, 1000});
  CHECK(s < 30);
}
