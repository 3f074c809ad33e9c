// The compile-time language: values, operators, records, naming, limits.
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/elaborate/model_file.h"
#include "compiler/ir/stats.h"
#include "tests/catch.h"
#include "tests/paths.h"

using namespace acnn;

namespace {

struct Compiled {
  std::unique_ptr<ModelFile> mf;
  std::unique_ptr<ir::Graph> graph;
  std::string diags;
};

Compiled compile(const std::string& text, int64_t batch = 1) {
  Compiled c;
  c.mf = std::make_unique<ModelFile>();
  if (c.mf->load_text("test.acnn", text)) c.graph = c.mf->build(batch);
  std::ostringstream out;
  c.mf->diags().print(out);
  c.diags = out.str();
  return c;
}

// Evaluates `expr` at top level and returns the value's text.
std::string value_of(const std::string& expr) {
  ModelFile mf;
  REQUIRE(mf.load_text("value.acnn", "v = " + expr + "\n"));
  return elab::to_text(*mf.binding("v"));
}

std::string error_of(const std::string& text) {
  Compiled c = compile(text);
  REQUIRE(!c.diags.empty());
  return c.diags;
}

}  // namespace

TEST_CASE("compile-time arithmetic follows the documented rules", "[unit]") {
  CHECK(value_of("7 / 2") == "3");
  CHECK(value_of("-7 / 2") == "-4");  // floor division
  CHECK(value_of("-7 % 2") == "1");
  CHECK(value_of("7.0 / 2") == "3.5");
  CHECK(value_of("2 + 3 * 4") == "14");
  CHECK(value_of("[1, 2] + [3]") == "[1, 2, 3]");
  CHECK(value_of("\"a\" + str(3)") == "\"a3\"");
  CHECK(value_of("1 if 2 > 1 else 0") == "1");
  CHECK(value_of("3 in [1, 2, 3]") == "true");
  CHECK(value_of("len(range(2, 10, 3))") == "3");
  CHECK(value_of("max([3, 9, 4])") == "9");
  CHECK(value_of("pow(2, 10)") == "1024");
  CHECK(value_of("not (1 == 1) or 2 != 2") == "false");
  CHECK(value_of("-9223372036854775808") == "-9223372036854775808");
}

TEST_CASE("records take defaults, reject unknown fields and merge deeply with `with`", "[unit]") {
  const std::string decl = "record Opt { lr: float = 0.1, momentum: float = 0.9 }\n"
                           "record R { opt: Opt = {}, epochs: int = 1 }\n";
  ModelFile mf;
  REQUIRE(mf.load_text("r.acnn", decl + "a = R(epochs: 3)\nb = a with { opt: { lr: 0.5 } }\n"));
  CHECK(elab::to_text(*mf.binding("a")) == "R(opt: Opt(lr: 0.1, momentum: 0.9), epochs: 3)");
  CHECK(elab::to_text(*mf.binding("b")) == "R(opt: Opt(lr: 0.5, momentum: 0.9), epochs: 3)");
  std::string err = error_of(decl + "a = R(epoch: 3)\n");
  CHECK(err.find("record R has no field `epoch`") != std::string::npos);
  CHECK(err.find("did you mean `epochs`?") != std::string::npos);
  err = error_of(decl + "a = R(opt: { lr: \"fast\" })\n");
  CHECK(err.find("field `lr` of Opt must be a float, got string \"fast\"") != std::string::npos);
}

TEST_CASE("instance names follow bindings, `as`, loops and deduplication", "[unit]") {
  Compiled c = compile(R"(
block unit(x) {
  conv = conv2d(x, 4, 3)
  return conv
}
network net() {
  input image: f32[N, 2, 8, 8]
  a = unit(image)
  x = unit(a)
  x = unit(x)
  for i in range(2) {
    x = unit(x) as "stage" + str(i)
  }
  y = unit(x) as ""
  return y
}
model = net()
)");
  INFO(c.diags);
  REQUIRE(c.graph);
  std::vector<std::string> names;
  for (ir::NodeId n : c.graph->persistent_nodes()) names.push_back(c.graph->node(n).attrs.s("name"));
  std::vector<std::string> expected = {"a.conv.weight", "x.conv.weight", "x_1.conv.weight", "stage0.conv.weight",
                                       "stage1.conv.weight", "conv.weight"};
  CHECK(names == expected);
}

TEST_CASE("the batch size N and tensor attributes are compile-time values", "[unit]") {
  Compiled c = compile(R"(
network net() {
  input image: f32[N, 3, 10, 12]
  assert image.shape == [N, 3, 10, 12]
  assert image.channels == 3 and image.height == 10 and image.width == 12 and image.rank == 4
  y = reshape(image, [image.batch, -1])
  return y
}
model = net()
)", 5);
  INFO(c.diags);
  REQUIRE(c.graph);
  CHECK(c.graph->type(c.graph->outputs[0].second).shape == Shape{5, 360});
}

TEST_CASE("hostile inputs give errors, not crashes or hangs", "[unit]") {
  SECTION("10,000-deep nesting") {
    std::string deep = "v = " + std::string(10000, '(') + "1" + std::string(10000, ')') + "\n";
    CHECK(error_of(deep).find("nesting deeper than") != std::string::npos);
    std::string lists = "v = " + std::string(10000, '[') + std::string(10000, ']') + "\n";
    CHECK(error_of(lists).find("nesting deeper than") != std::string::npos);
  }
  SECTION("a 10,000-term expression") {
    std::string chain = "v = 1";
    for (int i = 0; i < 10000; ++i) chain += " + 1";
    ModelFile mf;
    REQUIRE(mf.load_text("chain.acnn", chain + "\n"));
    CHECK(elab::to_text(*mf.binding("v")) == "10001");
  }
  SECTION("an endless loop is cut off") {
    std::string err = error_of("block f(n: int) {\n  for i in range(1000000) {\n    for j in range(1000000) {\n      n = n + 1\n    }\n  }\n  return n\n}\nv = f(0)\n");
    CHECK(err.find("did not finish") != std::string::npos);
  }
  SECTION("random bytes") {
    std::string bytes;
    uint64_t h = 42;
    for (int i = 0; i < 4096; ++i) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      char ch = static_cast<char>(h >> 56);
      bytes += ch == 0 ? '\x01' : ch;
    }
    Compiled c = compile(bytes);
    CHECK(c.mf->diags().error_count() >= 1);
    CHECK(c.mf->diags().error_count() <= 20);  // stops at the error limit
  }
  SECTION("errors in a block called many times are reported once") {
    std::string err = error_of(R"(
block bad(x) {
  return x * missing
}
network net() {
  input image: f32[N, 1, 4, 4]
  x = image
  for i in range(10) {
    x = bad(x)
  }
  return x
}
model = net()
)");
    size_t count = 0;
    for (size_t at = 0; (at = err.find("unknown name `missing`", at)) != std::string::npos; ++at) ++count;
    CHECK(count == 1);
  }
}

TEST_CASE("every model under models/ checks without error", "[unit]") {
  namespace fs = std::filesystem;
  int checked = 0;
  for (const auto& e : fs::recursive_directory_iterator(acnn::testing::source_dir() + "/models")) {
    if (e.path().extension() != ".acnn") continue;
    SECTION(e.path().lexically_relative(acnn::testing::source_dir()).string()) {
      ModelFile mf;
      bool ok = mf.load(e.path().string());
      auto g = ok ? mf.build(1) : nullptr;
      if (g) mf.recipe();
      std::ostringstream out;
      mf.diags().print(out);
      INFO(out.str());
      CHECK(ok);
      REQUIRE(g);
      CHECK(ir::verify(*g).empty());
      CHECK(!mf.diags().has_errors());
    }
    ++checked;
  }
  CHECK(checked >= 23);
}

TEST_CASE("parameter counts of the reference architectures", "[unit]") {
  auto params = [](const std::string& file) {
    ModelFile mf;
    REQUIRE(mf.load(acnn::testing::source_dir() + "/" + file));
    auto g = mf.build(1);
    REQUIRE(g);
    return ir::graph_stats(*g);
  };
  // torchvision / timm reference counts.
  ir::GraphStats r50 = params("models/resnet50.acnn");
  CHECK(r50.params == 25557032);
  CHECK(r50.macs > 4'000'000'000);
  CHECK(r50.macs < 4'200'000'000);
  CHECK(params("models/resnet50d.acnn").params == 25576264);
  CHECK(params("models/resnet18.acnn").params == 11689512);
  CHECK(params("models/resnet34.acnn").params == 21797672);
  CHECK(params("models/resnet101.acnn").params == 44549160);
  CHECK(params("models/resnet152.acnn").params == 60192808);
  // The ablation chain reaches the spelled-out Assemble-ResNet-50 and -152.
  CHECK(params("models/ablation/e11.acnn").params == params("models/assemble_resnet50.acnn").params);
  CHECK(params("models/ablation/e11.acnn").macs == params("models/assemble_resnet50.acnn").macs);
  CHECK(params("models/ablation/e12.acnn").params == params("models/assemble_resnet152.acnn").params);
  CHECK(params("models/ablation/e12.acnn").macs == params("models/assemble_resnet152.acnn").macs);
}

namespace {

struct Built {
  std::unique_ptr<ModelFile> mf;
  std::unique_ptr<ir::Graph> g;
  ir::GraphStats stats;
};

Built build_model(const std::string& file, const std::vector<std::string>& model_args = {}) {
  Built b;
  b.mf = std::make_unique<ModelFile>();
  REQUIRE(b.mf->load(acnn::testing::source_dir() + "/" + file));
  REQUIRE(b.mf->apply_model_args(model_args));
  b.g = b.mf->build(1);
  REQUIRE(b.g);
  b.stats = ir::graph_stats(*b.g);
  return b;
}

// What `acnn check` prints per top-level scope: the scope's output shape.
Shape scope_output(const Built& b, const std::string& scope) {
  for (const ir::ScopeStats& s : b.stats.scopes)
    if (s.scope == scope) return s.output;
  FAIL("no scope " << scope);
  return {};
}

// The last live node under a scope path prefix ("layer1.big" covers big0,
// big1, ...), or nullptr.
const ir::Node* last_node(const ir::Graph& g, const std::string& prefix) {
  const ir::Node* last = nullptr;
  for (const ir::Node& n : g.nodes())
    if (!n.dead && !n.outputs.empty() && n.scope.rfind(prefix, 0) == 0) last = &n;
  return last;
}

Shape branch_output(const Built& b, const std::string& prefix) {
  const ir::Node* n = last_node(*b.g, prefix);
  if (!n) FAIL("no node under " << prefix);
  return b.g->type(n->outputs[0]).shape;
}

std::vector<const ir::Node*> nodes_of(const ir::Graph& g, ir::OpKind op, const std::string& prefix = "") {
  std::vector<const ir::Node*> out;
  for (const ir::Node& n : g.nodes())
    if (!n.dead && n.op == op && n.scope.rfind(prefix, 0) == 0) out.push_back(&n);
  return out;
}

}  // namespace

TEST_CASE("Big-Little ResNet downsamples where the reference implementation does", "[unit]") {
  // clovaai/assembled-cnn (resnet_version 2): the merge blocks of the three
  // Big-Little stages have strides [2, 2, 1] and the plain fourth stage 2.
  SECTION("E9 (R50D+SK+BL) at 256: stage shapes, MACs, shortcut pools") {
    Built e9 = build_model("models/ablation/e9.acnn");
    CHECK(e9.stats.params == 41846440);
    CHECK(e9.stats.macs == 5438737408);  // the paper's Table 12: 5.4 B
    CHECK(scope_output(e9, "stem") == Shape{1, 64, 64, 64});
    CHECK(scope_output(e9, "layer1") == Shape{1, 256, 32, 32});
    CHECK(scope_output(e9, "layer2") == Shape{1, 512, 16, 16});
    CHECK(scope_output(e9, "layer3") == Shape{1, 1024, 16, 16});
    CHECK(scope_output(e9, "layer4") == Shape{1, 2048, 8, 8});
    // Big branches at half the stage input, little ones (width / alpha) at
    // the full input, which is where the branches merge.
    CHECK(branch_output(e9, "layer1.big") == Shape{1, 256, 32, 32});
    CHECK(branch_output(e9, "layer1.little0") == Shape{1, 128, 64, 64});
    CHECK(branch_output(e9, "layer2.big") == Shape{1, 512, 16, 16});
    CHECK(branch_output(e9, "layer2.little0") == Shape{1, 256, 32, 32});
    CHECK(branch_output(e9, "layer3.big") == Shape{1, 1024, 8, 8});
    CHECK(branch_output(e9, "layer3.little0") == Shape{1, 512, 16, 16});
    // Stage 3's merge block runs at stride 1: no pooled shortcut there.
    CHECK(nodes_of(*e9.g, ir::OpKind::AvgPool2d, "layer3.merge").empty());
    // Projection shortcuts pool 3x3 with zero padding 1 counted in the mean.
    auto pools = nodes_of(*e9.g, ir::OpKind::AvgPool2d);
    CHECK(pools.size() == 6);  // big0 of stages 1-3, merge of stages 1-2, layer4.0
    for (const ir::Node* n : pools) {
      INFO(n->scope);
      CHECK(n->attrs.ints("kernel") == std::vector<int64_t>{3, 3});
      CHECK(n->attrs.ints("pad") == std::vector<int64_t>{1, 1, 1, 1});
      CHECK(n->attrs.i("count_include_pad") == 1);
    }
  }
  SECTION("E10/E11 (+AA): the stem is never anti-aliased") {
    Built e10 = build_model("models/ablation/e10.acnn");
    CHECK(e10.stats.params == 41846440);
    CHECK(e10.stats.macs == 7479380992);
    CHECK(build_model("models/ablation/e11.acnn").stats.macs == 7479380992);
    CHECK(last_node(*e10.g, "layer1.big0.blur_pool") != nullptr);  // the stages are
    for (const ir::Node& n : e10.g->nodes()) {
      if (n.dead || n.scope.rfind("stem", 0) != 0) continue;
      INFO(n.scope);
      CHECK(n.scope.find("blur_pool") == std::string::npos);
    }
    int strided = 0;
    for (const ir::Node* n : nodes_of(*e10.g, ir::OpKind::Conv2d, "stem."))
      strided += n->attrs.ints("stride") == std::vector<int64_t>{2, 2};
    CHECK(strided == 2);  // stem.big and stem.little1
    CHECK(scope_output(e10, "stem") == Shape{1, 64, 64, 64});
    CHECK(scope_output(e10, "layer3") == Shape{1, 1024, 16, 16});
  }
  SECTION("E12: Big-Little ResNet-152 has depths [5, 12, 30, 3], alpha 1, beta 2") {
    Built e12 = build_model("models/ablation/e12.acnn");
    CHECK(e12.stats.params == 117004200);
    CHECK(e12.stats.macs == 20473180160);
    CHECK(last_node(*e12.g, "layer3.big28.") != nullptr);
    CHECK(last_node(*e12.g, "layer3.big29.") == nullptr);
    CHECK(last_node(*e12.g, "layer3.little13.") != nullptr);  // 30 / 2 - 1 = 14 blocks
    CHECK(last_node(*e12.g, "layer3.little14.") == nullptr);
    CHECK(branch_output(e12, "layer3.little0") == Shape{1, 1024, 16, 16});  // width / 1
    CHECK(branch_output(e12, "stem.little0") == Shape{1, 64, 128, 128});
    CHECK(scope_output(e12, "layer4") == Shape{1, 2048, 8, 8});
  }
  SECTION("a single-block big branch keeps its last ReLU (reference), not in the Fashion variant") {
    Built two = build_model("models/ablation/e9.acnn", {"depths=[2, 2, 2, 2]", "size=64"});
    CHECK(last_node(*two.g, "layer1.big")->op == ir::OpKind::Relu);
    Built three = build_model("models/ablation/e9.acnn", {"size=64"});
    CHECK(last_node(*three.g, "layer1.big")->op == ir::OpKind::Add);
    Built fashion = build_model("models/fashion/ablation/e9.acnn");  // depths [2, 2, 2, 1]
    CHECK(last_node(*fashion.g, "layer1.big")->op == ir::OpKind::Add);
  }
  SECTION("the small stem (Fashion rows) keeps strides [1, 2, 2, 2] and pools without the padding") {
    Built e9 = build_model("models/fashion/ablation/e9.acnn");
    CHECK(e9.stats.params == 273786);
    CHECK(e9.stats.macs == 22382496);
    CHECK(scope_output(e9, "layer1") == Shape{1, 32, 28, 28});
    CHECK(scope_output(e9, "layer2") == Shape{1, 64, 14, 14});
    CHECK(scope_output(e9, "layer3") == Shape{1, 128, 7, 7});
    CHECK(scope_output(e9, "layer4") == Shape{1, 256, 4, 4});
    CHECK(branch_output(e9, "layer1.big") == Shape{1, 32, 14, 14});
    auto pools = nodes_of(*e9.g, ir::OpKind::AvgPool2d);
    CHECK(!pools.empty());
    for (const ir::Node* n : pools) CHECK(n->attrs.i("count_include_pad") == 0);
    CHECK(build_model("models/fashion/ablation/e10.acnn").stats.macs == 36438912);
  }
}
