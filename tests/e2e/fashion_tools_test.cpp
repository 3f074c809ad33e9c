// End-to-end checks of the paper tooling on small Fashion-MNIST slices:
// precomputed teacher logits (`acnn teacher-logits`, then a student trained
// with distill.logits, with and without mixup), robustness evaluation
// (`acnn eval --corruptions`, unnormalized and normalized by a baseline
// report), and `acnn ablate` (rows trained, a distillation teacher and its
// logits prepared on the way, finished rows reused).
#include <cmath>
#include <filesystem>
#include <regex>

#include "compiler/elaborate/model_file.h"
#include "compiler/train/recipe.h"
#include "runtime/data/idx.h"
#include "runtime/train/data_setup.h"
#include "runtime/train/evaluator.h"
#include "runtime/train/robustness.h"
#include "runtime/train/teacher_logits.h"
#include "tests/catch.h"
#include "tests/e2e/e2e_util.h"
#include "tests/unit/train_test_util.h"
#include "tests/paths.h"

using namespace acnn;
namespace fs = std::filesystem;

namespace {

bool have_fashion() { return fs::exists(fs::path(data::kFashionMnistDir) / "train-images-idx3-ubyte.gz"); }

std::string model(const std::string& rel) { return e2e::quoted((fs::path(acnn::testing::source_dir()) / "models" / rel).string()); }

}  // namespace

TEST_CASE("teacher logits: written per training example, fed to a distilling student", "[e2e]") {
  if (!have_fashion()) {
    WARN("Fashion-MNIST not installed (dataset-fashion-mnist): skipped");
    return;
  }
  test::TempDir tmp;
  std::string runs = " --runs " + e2e::quoted((tmp.path / "runs").string());
  std::string slice = " --limit-train 256 --limit-eval 64 --batch 32 --epochs 1 --threads 1 --no-progress";
  e2e::CommandResult teacher = e2e::run_acnn("train " + model("fashion/baseline.acnn") + slice + runs + " --name teacher");
  INFO(teacher.output);
  REQUIRE(teacher.status == 0);
  fs::path ckpt = tmp.path / "runs" / "teacher" / "last.safetensors";
  fs::path logits = tmp.path / "logits.safetensors";
  e2e::CommandResult made = e2e::run_acnn("teacher-logits " + model("fashion/baseline.acnn") + " --checkpoint " +
                                          e2e::quoted(ckpt.string()) + " -o " + e2e::quoted(logits.string()) +
                                          " --limit-train 256 --batch 50 --threads 1");
  INFO(made.output);
  REQUIRE(made.status == 0);
  CHECK(test::contains(made.output, "f32[256, 10]"));

  // Row i is the teacher's inference output for training example i (the last
  // batch of 6 was padded to 50 and cut).
  train::TeacherLogits t = train::TeacherLogits::load(logits.string(), 10, 256);
  REQUIRE(t.rows() == 256);
  ModelFile mf;
  REQUIRE(mf.load((fs::path(acnn::testing::source_dir()) / "models" / "fashion" / "baseline.acnn").string()));
  Recipe r = recipe_from_value(*mf.recipe());
  r.data.limit_train = 256;
  train::RunSetup setup;
  setup.threads = 1;
  train::Evaluator ev(mf, r, 1, setup);
  ev.load_checkpoint(ckpt.string());
  auto train_set = train::load_datasets(r).train;
  for (size_t i : {size_t{7}, size_t{255}}) {
    auto one = std::make_shared<data::Subset>(train_set, std::vector<size_t>{i});
    Tensor row;
    ev.run(one, train::eval_pipeline(r), [&](const data::Batch&, const Tensor& l) { row = l.clone(); });
    Tensor want = t.gather({static_cast<int64_t>(i)});
    for (int64_t j = 0; j < 10; ++j) CHECK(std::abs(row.at(j) - want.at(j)) < 1e-4);
  }

  // A student distilling from the file: its first loss includes the KD term.
  std::string student = "train " + model("fashion/baseline.acnn") + slice + runs + " --max-steps 3 --log-every 1";
  std::string kd = " --set 'distill.logits=\"" + logits.string() + "\"'";
  e2e::CommandResult plain = e2e::run_acnn(student + " --name plain");
  e2e::CommandResult with_kd = e2e::run_acnn(student + kd + " --name kd");
  e2e::CommandResult mixed = e2e::run_acnn(student + kd + " --name kd_mix --set 'mixup={alpha: 0.4, type: \"batches\"}'");
  e2e::CommandResult shuffled = e2e::run_acnn(student + kd + " --name kd_shuffle --set 'mixup={type: \"shuffle\"}'");
  INFO(plain.output << with_kd.output << mixed.output << shuffled.output);
  REQUIRE(plain.status == 0);
  REQUIRE(with_kd.status == 0);
  CHECK(mixed.status == 0);
  CHECK(shuffled.status == 0);
  auto lp = e2e::step_losses((tmp.path / "runs" / "plain" / "metrics.jsonl").string());
  auto lk = e2e::step_losses((tmp.path / "runs" / "kd" / "metrics.jsonl").string());
  REQUIRE(lp.size() == 3);
  REQUIRE(lk.size() == 3);
  CHECK(lk[0] > lp[0] + 0.05);  // + T^2 CE(softmax(teacher), softmax(student)) > 0
  for (double l : e2e::step_losses((tmp.path / "runs" / "kd_mix" / "metrics.jsonl").string())) CHECK(std::isfinite(l));

  // A file for fewer examples than the training set is refused.
  e2e::CommandResult bad = e2e::run_acnn("train " + model("fashion/baseline.acnn") + runs +
                                         " --limit-train 512 --batch 32 --max-steps 1 --threads 1 --no-progress" + kd);
  CHECK(bad.status == 1);
  CHECK(test::contains(bad.output, "holds logits for 256 examples"));

  // Robustness: unnormalized first, then normalized by its own report (mCE 100).
  std::string rob = "eval " + model("fashion/baseline.acnn") + " --checkpoint " + e2e::quoted(ckpt.string()) +
                    " --limit-eval 64 --threads 1 --corruptions --severities 1,3 --corruption-limit 16";
  e2e::CommandResult unnorm = e2e::run_acnn(rob);
  INFO(unnorm.output);
  REQUIRE(unnorm.status == 0);
  CHECK(test::contains(unnorm.output, "UNNORMALIZED"));
  fs::path report = tmp.path / "runs" / "teacher" / "last.robustness.json";
  REQUIRE(fs::exists(report));
  train::RobustnessReport rep = train::read_report(report.string());
  CHECK(rep.errors.size() == 15);
  CHECK(rep.errors.at("gaussian_noise").size() == 2);
  CHECK(rep.clean.examples == 64);
  e2e::CommandResult norm = e2e::run_acnn(rob + " --baseline " + e2e::quoted(report.string()) + " --report " +
                                          e2e::quoted((tmp.path / "self.json").string()));
  INFO(norm.output);
  CHECK(norm.status == 0);
  CHECK(test::contains(norm.output, "mCE 100.00 (normalized by the baseline"));
}

TEST_CASE("acnn ablate trains rows, prepares a teacher, prints the table and reuses finished runs", "[e2e]") {
  if (!have_fashion()) {
    WARN("Fashion-MNIST not installed (dataset-fashion-mnist): skipped");
    return;
  }
  test::TempDir tmp;
  fs::path runs = tmp.path / "runs";
  const std::string base =
      "import \"resnet\"\n"
      "model = resnet([1, 1], t: { stem: \"small\", width: 8 }, classes: 10, size: 28, in_channels: 1)\n"
      "recipe = fashion_recipe with { name: \"NAME\", epochs: 1, batch: 32, data: { limit_train: 128, limit_eval: 64, "
      "workers: 1 } }\n";
  auto write = [&](const std::string& file, const std::string& text) {
    test::write_bytes((tmp.path / file).string(), text);
    return e2e::quoted((tmp.path / file).string());
  };
  std::string f0 = write("a0.acnn", std::regex_replace(base, std::regex("NAME"), "a0"));
  write("teacher.acnn", std::regex_replace(base, std::regex("NAME"), "t"));
  std::string f1 = write("a1.acnn", "import \"a0.acnn\" as prev\nmodel = prev.model with { t: { resnet_d: true } }\n"
                                    "recipe = prev.recipe with { name: \"a1\", label_smoothing: 0.1, distill: { "
                                    "teacher: \"teacher.acnn\", teacher_checkpoint: \"" +
                                        (runs / "t" / "last.safetensors").string() + "\", logits: \"" +
                                        (runs / "t" / "logits.safetensors").string() + "\" } }\n");
  std::string cmd = "ablate " + f0 + " " + f1 + " --runs " + e2e::quoted(runs.string()) +
                    " --corruption-limit 8 --severities 2 --threads 1 --no-progress --out table";
  e2e::CommandResult first = e2e::run_acnn(cmd);
  INFO(first.output);
  REQUIRE(first.status == 0);
  CHECK(test::contains(first.output, "training the distillation teacher"));
  CHECK(test::contains(first.output, "computing teacher logits"));
  CHECK(test::contains(first.output, "| a0 | R8 w8 | - | 1 |"));
  CHECK(test::contains(first.output, "| a1 | R8D w8 | LS+KD | 1 |"));
  CHECK(test::contains(first.output, "| 100.00 |"));  // the first row normalizes mCE
  CHECK(fs::exists(runs / "table.md"));
  CHECK(fs::exists(runs / "table.json"));
  CHECK(fs::exists(runs / "t" / "logits.safetensors"));
  e2e::CommandResult again = e2e::run_acnn(cmd);
  INFO(again.output);
  CHECK(again.status == 0);
  CHECK(test::contains(again.output, "reusing the finished run"));
  CHECK(!test::contains(again.output, "training the distillation teacher"));
}
