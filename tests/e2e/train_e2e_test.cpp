// End-to-end training on real Fashion-MNIST data (Debian's
// dataset-fashion-mnist): the loss falls, and an interrupted run resumed from
// its checkpoint ends with exactly the weights of an uninterrupted run.
#include <csignal>
#include <filesystem>

#include "compiler/elaborate/model_file.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/interrupt.h"
#include "runtime/train/metrics.h"
#include "runtime/train/trainer.h"
#include "tests/catch.h"

using namespace acnn;
namespace fs = std::filesystem;

namespace {

const char* kModel = R"(
import "resnet"
model = resnet([1, 1], t: { stem: "small", width: 16, resnet_d: true }, kind: "basic", classes: 10, size: 28, in_channels: 1)
recipe = fashion_recipe with {
  name: "e2e", batch: 32, epochs: 2, label_smoothing: 0.1,
  data: { limit_train: 1024, limit_eval: 512, workers: 2 },
  optimizer: { lr: 0.05 },
  schedule: { warmup_epochs: 0.1 },
}
)";

struct Run {
  std::unique_ptr<ModelFile> mf;
  Recipe recipe;
};

Run load() {
  Run r;
  r.mf = std::make_unique<ModelFile>();
  REQUIRE(r.mf->load_text("e2e.acnn", kModel));
  auto v = r.mf->recipe();
  REQUIRE(v);
  r.recipe = recipe_from_value(*v);
  return r;
}

train::TrainOptions options(const fs::path& runs, const std::string& name) {
  train::TrainOptions o;
  o.runs_dir = runs.string();
  o.run_name = name;
  o.progress = false;
  o.threads = 2;
  o.log_every = 4;
  return o;
}

bool fashion_available() { return fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"); }

}  // namespace

TEST_CASE("training on Fashion-MNIST lowers the loss and learns", "[e2e]") {
  REQUIRE(fashion_available());  // scripts/setup.sh installs dataset-fashion-mnist
  fs::path runs = fs::temp_directory_path() / ("acnn_e2e_" + std::to_string(::getpid()));
  fs::remove_all(runs);
  Run r = load();
  train::TrainResult res = train::train(*r.mf, r.recipe, options(runs, "learn"));
  CHECK(res.epochs_done == 2);
  CHECK(res.global_step == 2 * (1024 / 32));
  auto records = train::read_metrics((runs / "learn" / "metrics.jsonl").string());
  double first = -1, last = -1;
  for (const auto& rec : records)
    if (rec["type"] == "step") {
      if (first < 0) first = rec["loss"].get<double>();
      last = rec["loss"].get<double>();
    }
  INFO("first logged loss " << first << ", last " << last << ", top-1 " << res.eval.top1);
  CHECK(first > 0);
  CHECK(last < first);
  CHECK(res.eval.examples == 512);
  CHECK(res.eval.top1 > 0.3);  // 10 classes: chance is 0.1; these 64 small steps reach about 0.45
  CHECK(fs::exists(runs / "learn" / "last.safetensors"));
  fs::remove_all(runs);
}

TEST_CASE("an interrupted run resumes bit for bit", "[e2e]") {
  REQUIRE(fashion_available());
  fs::path runs = fs::temp_directory_path() / ("acnn_resume_" + std::to_string(::getpid()));
  fs::remove_all(runs);
  Run r = load();
  r.recipe.data.limit_train = 128;  // 4 steps per epoch, 2 epochs
  r.recipe.data.limit_eval = 64;
  r.recipe.mixup.type = "shuffle";  // exercise the mixup draws across the restart too
  r.recipe.mixup.alpha = 0.2;

  train::train(*r.mf, r.recipe, options(runs, "straight"));

  // Stop after step 6 (mid-epoch 2) as Ctrl-C would, then resume.
  train::TrainOptions o = options(runs, "resumed");
  o.on_step = [](int64_t step) {
    if (step == 6) train::InterruptHandler::request(SIGINT);
  };
  train::TrainResult first = train::train(*r.mf, r.recipe, o);
  train::InterruptHandler::clear();
  CHECK(first.interrupted);
  CHECK(first.global_step == 6);
  o.on_step = nullptr;
  o.resume = true;
  Run again = load();  // a fresh process would recompile
  again.recipe = r.recipe;
  train::TrainResult second = train::train(*again.mf, again.recipe, o);
  CHECK(!second.interrupted);
  CHECK(second.global_step == 8);

  auto a = train::load_checkpoint((runs / "straight" / "last.safetensors").string());
  auto b = train::load_checkpoint((runs / "resumed" / "last.safetensors").string());
  REQUIRE(a.tensors.size() == b.tensors.size());
  REQUIRE(a.tensors.size() > 10);
  for (const auto& [name, t] : a.tensors) {
    INFO(name);
    REQUIRE(b.tensors.count(name));
    const Tensor& u = b.tensors.at(name);
    REQUIRE(u.bytes() == t.bytes());
    CHECK(std::memcmp(u.raw(), t.raw(), t.bytes()) == 0);
  }
  fs::remove_all(runs);
}
