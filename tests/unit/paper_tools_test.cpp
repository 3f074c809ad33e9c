// The paper tooling without training: Table 7 labels derived from the
// ablation model files (ImageNet and Fashion rows), CE/mCE normalization
// (baseline reports with severity subsets, AlexNet), robustness reports
// through JSON, the ablation table's deltas, --model-arg record literals and
// precomputed teacher logits gathered by example index.
#include <cmath>
#include <filesystem>

#include "compiler/elaborate/model_file.h"
#include "compiler/train/recipe.h"
#include "runtime/data/corruptions.h"
#include "runtime/train/ablation.h"
#include "runtime/train/robustness.h"
#include "runtime/train/teacher_logits.h"
#include "tests/catch.h"
#include "tests/unit/train_test_util.h"
#include "tests/paths.h"

using namespace acnn;
namespace fs = std::filesystem;

namespace {

struct Labels {
  std::string model, regularization;
  int64_t epochs;
};

Labels labels_of(const fs::path& file, const std::vector<std::string>& model_args = {}) {
  ModelFile mf;
  REQUIRE(mf.load(file.string()));
  REQUIRE(mf.apply_model_args(model_args));
  elab::ValuePtr m = mf.model();
  REQUIRE(m);
  elab::ValuePtr r = mf.recipe();
  REQUIRE(r);
  Recipe rec = recipe_from_value(*r);
  return {train::network_label(*m), train::regularization_label(rec), rec.epochs};
}

fs::path models() { return fs::path(acnn::testing::source_dir()) / "models"; }

}  // namespace

TEST_CASE("Table 7 rows: labels derived from the model files match the paper", "[unit]") {
  // model, regularization, epochs of E0..E12 (PAPER.md).
  const std::vector<Labels> table = {
      {"R50", "-", 120},
      {"R50D", "-", 120},
      {"R50D", "LS", 120},
      {"R50D", "LS+Mixup", 200},
      {"R50D+SE", "LS+Mixup", 200},
      {"R50D+SE", "LS+Mixup+DropBlock", 270},
      {"R50D+SK", "LS+Mixup+DropBlock", 270},
      {"R50D+SK", "LS+Mixup+DropBlock+KD", 270},
      {"R50D+SK", "LS+Mixup+DropBlock+KD", 600},
      {"R50D+SK+BL", "LS+Mixup+DropBlock+KD", 600},
      {"R50D+SK+BL+AA", "LS+Mixup+DropBlock+KD", 600},
      {"R50D+SK+BL+AA", "LS+Mixup+DropBlock+KD+AutoAugment", 600},
      {"R152D+SK+BL+AA", "LS+Mixup+DropBlock+KD+AutoAugment", 600},
  };
  for (size_t i = 0; i < table.size(); ++i) {
    Labels l = labels_of(models() / "ablation" / ("e" + std::to_string(i) + ".acnn"));
    INFO("E" << i);
    CHECK(l.model == table[i].model);
    CHECK(l.regularization == table[i].regularization);
    CHECK(l.epochs == table[i].epochs);
  }
  // --model-arg rebinding keeps the tweaks.
  CHECK(labels_of(models() / "ablation" / "e9.acnn", {"size=64", "classes=4"}).model == "R50D+SK+BL");
}

TEST_CASE("Fashion Table 7 rows build and add what the paper's rows add", "[unit]") {
  const std::vector<Labels> table = {
      {"R23 w8", "-", 2},
      {"R23D w8", "-", 2},
      {"R23D w8", "LS", 2},
      {"R23D w8", "LS+Mixup", 3},
      {"R23D+SE w8", "LS+Mixup", 3},
      {"R23D+SE w8", "LS+Mixup+DropBlock", 4},
      {"R23D+SK w8", "LS+Mixup+DropBlock", 4},
      {"R23D+SK w8", "LS+Mixup+DropBlock+KD", 4},
      {"R23D+SK w8", "LS+Mixup+DropBlock+KD", 8},
      {"R23D+SK+BL w8", "LS+Mixup+DropBlock+KD", 8},
      {"R23D+SK+BL+AA w8", "LS+Mixup+DropBlock+KD", 8},
      {"R23D+SK+BL+AA w8", "LS+Mixup+DropBlock+KD+AutoAugment", 8},
  };
  for (size_t i = 0; i < table.size(); ++i) {
    fs::path f = models() / "fashion" / "ablation" / ("e" + std::to_string(i) + ".acnn");
    Labels l = labels_of(f);
    INFO("Fashion E" << i);
    CHECK(l.model == table[i].model);
    CHECK(l.regularization == table[i].regularization);
    CHECK(l.epochs == table[i].epochs);
    ModelFile mf;
    REQUIRE(mf.load(f.string()));
    auto g = mf.build(2);  // odd map sizes (7 -> 4) must line up in every variant
    CHECK(g);
  }
  ModelFile teacher;
  REQUIRE(teacher.load((models() / "fashion" / "ablation" / "teacher.acnn").string()));
  CHECK(teacher.build(2));
}

TEST_CASE("CE is normalized per corruption over the evaluated severities", "[unit]") {
  test::TempDir tmp;
  train::RobustnessReport base;
  base.severities = {1, 3};
  base.clean.top1 = 0.9;
  base.errors["gaussian_noise"] = {{1, 0.2}, {3, 0.6}};
  base.errors["fog"] = {{1, 0.1}, {3, 0.3}};
  train::normalize_report(base, "fashion_mnist", "");
  CHECK(base.normalization == "none");
  CHECK(test::near(base.mce, (0.4 + 0.2) / 2));  // unnormalized: mean error per corruption
  std::string path = tmp.file("base.json");
  train::save_report(path, base);
  train::RobustnessReport back = train::read_report(path);
  CHECK(back.errors == base.errors);
  CHECK(back.severities == base.severities);
  CHECK(test::near(back.clean.top1, 0.9));

  train::RobustnessReport model = base;
  model.errors["gaussian_noise"] = {{1, 0.1}, {3, 0.3}};  // half the baseline's errors
  model.errors["fog"] = {{1, 0.1}, {3, 0.5}};             // 0.6 / 0.4
  train::normalize_report(model, "fashion_mnist", path);
  CHECK(model.normalization == "baseline");
  CHECK(test::near(model.ce.at("gaussian_noise"), 0.5));
  CHECK(test::near(model.ce.at("fog"), 1.5));
  CHECK(test::near(model.mce, 1.0));
  CHECK(test::near(model.mean_error, (0.1 + 0.3 + 0.1 + 0.5) / 4));
  // A severity the baseline lacks cannot be normalized.
  model.errors["fog"][5] = 0.7;
  CHECK(test::contains(test::error_of([&] { train::normalize_report(model, "fashion_mnist", path); }), "severity 5"));

  // ImageNet: AlexNet's published errors; errors equal to them give mCE 1.
  train::RobustnessReport alex;
  for (data::Corruption c : data::all_corruptions()) {
    std::string n = data::corruption_name(c);
    for (int s = 1; s <= 5; ++s) alex.errors[n][s] = *data::alexnet_error(n);
  }
  train::normalize_report(alex, "imagenet", "");
  CHECK(alex.normalization == "alexnet");
  CHECK(test::near(alex.mce, 1.0, 1e-9));
  CHECK(test::contains(train::format_report(alex), "AlexNet"));
  CHECK(test::contains(train::format_report(base), "UNNORMALIZED"));
}

TEST_CASE("severity lists and report paths", "[unit]") {
  CHECK(train::parse_severities("1,2,3,4,5") == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(train::parse_severities("3") == std::vector<int>{3});
  CHECK(test::contains(test::error_of([] { train::parse_severities("0,1"); }), "1..5"));
  CHECK(test::contains(test::error_of([] { train::parse_severities("2,2"); }), "twice"));
  CHECK(test::contains(test::error_of([] { train::parse_severities("x"); }), "1..5"));
  CHECK(train::report_path_for("runs/x/last.safetensors") == "runs/x/last.robustness.json");
}

TEST_CASE("the ablation table shows deltas to the previous row and round-trips rows", "[unit]") {
  train::AblationRow a, b;
  a.file = "models/e0.acnn", a.name = "e0", a.model = "R50", a.regularization = "-", a.epochs = 2;
  a.top1 = 0.80, a.mce = 1.0, a.images_per_s = 500, a.recipe_hash = "h0";
  b = a;
  b.file = "models/e1.acnn", b.name = "e1", b.model = "R50D", b.top1 = 0.8125, b.mce = 0.95;
  std::string md = train::ablation_markdown({a, b});
  CHECK(test::contains(md, "| e0 | R50 | - | 2 | 80.00 | 100.00 | 500 |"));
  CHECK(test::contains(md, "| e1 | R50D | - | 2 | 81.25 (+1.25) | 95.00 (-5.00) | 500 |"));
  test::TempDir tmp;
  test::write_bytes(tmp.file("row.json"), train::row_json(b));
  auto back = train::read_row(tmp.file("row.json"));
  REQUIRE(back);
  CHECK(back->model == "R50D");
  CHECK(test::near(back->top1, 0.8125));
  CHECK(test::near(back->mce, 0.95));
  CHECK(!train::read_row(tmp.file("missing.json")));
  a.mce = NAN;  // not evaluated: written as null, read back as NaN
  test::write_bytes(tmp.file("nan.json"), train::row_json(a));
  CHECK(std::isnan(train::read_row(tmp.file("nan.json"))->mce));
}

TEST_CASE("--model-arg record literals nest dotted keys", "[unit]") {
  CHECK(record_literal({{"size", "64"}, {"classes", "4"}}) == "{classes: 4, size: 64}");
  CHECK(record_literal({{"t.resnet_d", "true"}, {"t.attention", "\"se\""}, {"size", "32"}}) ==
        "{size: 32, t: {attention: \"se\", resnet_d: true}}");
  CHECK(split_key_value("a.b=c=d", "--x") == std::pair<std::string, std::string>{"a.b", "c=d"});
  CHECK(test::contains(test::error_of([] { split_key_value("novalue", "--model-arg"); }), "--model-arg needs KEY=VALUE"));
  // Overrides accumulate and are checked like the file.
  ModelFile mf;
  REQUIRE(mf.load((models() / "resnet50.acnn").string()));
  REQUIRE(mf.apply_model_args({"size=64"}));
  REQUIRE(mf.apply_model_args({"classes=7"}));
  auto g = mf.build(1);
  REQUIRE(g);
  CHECK(g->type(g->outputs[0].second).shape == Shape{1, 7});
  CHECK(mf.model_has_parameter("size"));
  CHECK(!mf.model_has_parameter("sizes"));
  mf.diags().set_stream(nullptr);
  CHECK(!mf.apply_model_args({"sizes=64"}));
}

TEST_CASE("teacher logits are gathered by dataset index and checked against the data set", "[unit]") {
  test::TempDir tmp;
  Tensor t(DType::F32, {5, 3});
  for (int64_t i = 0; i < 15; ++i) t.set(i, static_cast<double>(i));
  train::save_teacher_logits(tmp.file("l.safetensors"), t, {{"acnn.teacher", "x"}});
  train::TeacherLogits l = train::TeacherLogits::load(tmp.file("l.safetensors"), 3, 4);
  Tensor g = l.gather({4, 0, 4});
  CHECK(g.shape() == Shape{3, 3});
  CHECK(g.at(0) == 12.0);
  CHECK(g.at(3) == 0.0);
  CHECK(g.at(8) == 14.0);
  CHECK(test::contains(test::error_of([&] { l.gather({5}); }), "outside"));
  CHECK(test::contains(test::error_of([&] { train::TeacherLogits::load(tmp.file("l.safetensors"), 4, 4); }), "3 classes"));
  CHECK(test::contains(test::error_of([&] { train::TeacherLogits::load(tmp.file("l.safetensors"), 3, 6); }),
                       "for 5 examples"));
  CHECK(test::contains(test::error_of([&] { train::TeacherLogits::load(tmp.file("none.safetensors"), 3, 6); }),
                       "acnn teacher-logits"));
}
