// Checkpoints: the training state round-trips exactly, a resumed toy training
// run ends bit-identical to an uninterrupted one, and the run directory keeps
// last.safetensors plus the newest K epoch files.
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>

#include "runtime/train/checkpoint.h"
#include "tests/catch.h"
#include "tests/unit/train_test_util.h"

using namespace acnn;
using namespace acnn::train;
using acnn::test::contains;
using acnn::test::error_of;
using acnn::test::TempDir;

namespace {

bool bit_equal(const TensorMap& a, const TensorMap& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.shape() != t.shape() || it->second.dtype() != t.dtype() ||
        std::memcmp(it->second.raw(), t.raw(), t.bytes()) != 0)
      return false;
  }
  return true;
}

// A toy "training run": SGD with momentum on noisy targets, where the noise
// comes from an mt19937 whose state is part of the checkpoint.
struct ToyRun {
  TensorMap tensors;
  TrainState state;
  std::mt19937_64 rng;
  static constexpr int64_t kSteps = 7;

  explicit ToyRun(uint64_t seed) : rng(seed) {
    Tensor w(DType::F32, {5}), m(DType::F32, {5}), rm(DType::F64, {5});
    tensors["layer1.0.conv1.weight"] = w;
    tensors[momentum_name("layer1.0.conv1.weight")] = m;
    tensors["layer1.0.bn1.running_mean"] = rm;
    state.seed = seed;
  }
  void step() {
    auto* w = tensors["layer1.0.conv1.weight"].data<float>();
    auto* m = tensors["layer1.0.conv1.weight.momentum"].data<float>();
    auto* rm = tensors["layer1.0.bn1.running_mean"].data<double>();
    std::normal_distribution<float> noise(0.0f, 1.0f);
    for (int i = 0; i < 5; ++i) {
      float g = w[i] - (static_cast<float>(i) + noise(rng));
      m[i] = 0.9f * m[i] + g;
      w[i] -= 0.05f * m[i];
      rm[i] = 0.9 * rm[i] + 0.1 * w[i];
    }
    ++state.global_step;
    state.data_position += 32;
    if (++state.step_in_epoch == kSteps) {
      ++state.epoch;
      state.step_in_epoch = 0;
      state.data_position = 0;
    }
  }
  void save(const std::string& path) {
    std::ostringstream os;
    os << rng;
    state.rng_state = os.str();
    save_checkpoint(path, tensors, state);
  }
  void load(const std::string& path) {
    auto c = load_checkpoint(path);
    REQUIRE(c.state);
    tensors = c.tensors;
    state = *c.state;
    std::istringstream is(state.rng_state);
    is >> rng;
    REQUIRE(!is.fail());
  }
};

}  // namespace

TEST_CASE("checkpoint state round-trips exactly through the metadata", "[unit]") {
  TempDir dir;
  TrainState s;
  s.epoch = 12;
  s.step_in_epoch = 345;
  s.global_step = 12 * 5005 + 345;
  s.seed = std::numeric_limits<uint64_t>::max();
  s.data_position = 345 * 256;
  std::ostringstream rng;
  rng << std::mt19937(42);
  s.rng_state = rng.str();
  s.best_metric = 0.1 + 0.2;  // not representable in few digits
  s.best_metric_name = "val_top1";
  s.recipe_hash = "sha256:0123abcd";
  s.extra = {{"note", "resumed twice"}, {"host", "node7"}};
  TensorMap t{{"fc.weight", Tensor(DType::F32, {3, 2})}};
  t["fc.weight"].fill(0.25);
  std::string path = dir.file("c.safetensors");
  save_checkpoint(path, t, s);

  auto c = load_checkpoint(path);
  REQUIRE(c.state);
  const TrainState& r = *c.state;
  CHECK(r.epoch == s.epoch);
  CHECK(r.step_in_epoch == s.step_in_epoch);
  CHECK(r.global_step == s.global_step);
  CHECK(r.seed == s.seed);
  CHECK(r.data_position == s.data_position);
  CHECK(r.rng_state == s.rng_state);
  CHECK(r.best_metric == s.best_metric);  // bit-exact
  CHECK(r.best_metric_name == s.best_metric_name);
  CHECK(r.recipe_hash == s.recipe_hash);
  CHECK(r.acnn_version == acnn_version());
  CHECK(r.extra == s.extra);
  CHECK(bit_equal(c.tensors, t));

  // Doubles that need all 17 digits, subnormals and NaN survive.
  for (double v : {1.0 / 3.0, 4.9e-324, -0.0, 1e300, std::numeric_limits<double>::quiet_NaN()}) {
    TrainState x;
    x.best_metric = v;
    auto back = state_from_metadata(state_to_metadata(x));
    REQUIRE(back);
    if (std::isnan(v))
      CHECK(std::isnan(back->best_metric));
    else
      CHECK(std::memcmp(&back->best_metric, &v, sizeof v) == 0);
  }
}

TEST_CASE("checkpoint loads plain safetensors and rejects malformed state", "[unit]") {
  TempDir dir;
  std::string path = dir.file("plain.safetensors");
  save_safetensors(path, {{"w", Tensor(DType::F32, {2})}}, {{"format", "pt"}});
  auto c = load_checkpoint(path);
  CHECK(!c.state);
  CHECK(c.tensors.count("w"));

  Metadata m = state_to_metadata(TrainState{});
  auto broken = [&](const std::string& key, const std::string* value) {
    Metadata x = m;
    if (value)
      x[key] = *value;
    else
      x.erase(key);
    save_safetensors(path, {}, x);
    return error_of([&] { load_checkpoint(path); });
  };
  std::string v2 = "checkpoint/2", junk = "12abc", neg = "-1";
  std::string e = broken("acnn.format", &v2);
  CHECK(contains(e, path));
  CHECK(contains(e, "unsupported checkpoint format"));
  CHECK(contains(broken("acnn.epoch", nullptr), "lacks 'acnn.epoch'"));
  CHECK(contains(broken("acnn.global_step", &junk), "'acnn.global_step' is not a number"));
  CHECK(contains(broken("acnn.step_in_epoch", &neg), "negative"));
}

TEST_CASE("resuming from a checkpoint continues bit for bit", "[unit]") {
  TempDir dir;
  const int64_t total = 3 * ToyRun::kSteps + 2;
  ToyRun straight(2024);
  for (int64_t i = 0; i < total; ++i) straight.step();

  for (int64_t cut : {int64_t{1}, ToyRun::kSteps, int64_t{10}, total - 1}) {
    INFO("interrupted after step " << cut);
    ToyRun first(2024);
    for (int64_t i = 0; i < cut; ++i) first.step();
    first.save(dir.file("last.safetensors"));
    ToyRun resumed(999);  // a different seed: everything must come from the file
    resumed.load(dir.file("last.safetensors"));
    CHECK(resumed.state.global_step == cut);
    CHECK(resumed.state.epoch * ToyRun::kSteps + resumed.state.step_in_epoch == cut);
    for (int64_t i = cut; i < total; ++i) resumed.step();
    CHECK(bit_equal(resumed.tensors, straight.tensors));
    CHECK(resumed.state.global_step == straight.state.global_step);
    CHECK(resumed.rng == straight.rng);
  }
}

TEST_CASE("run directory keeps last plus the newest K epoch checkpoints", "[unit]") {
  TempDir dir;
  auto root = dir.path / "runs" / "fashion";
  // A temporary left by a dead process is swept; ours is not.
  std::filesystem::create_directories(root);
  acnn::test::write_bytes((root / "last.safetensors.tmp.999999999").string(), "torn");
  std::string mine = (root / ("x.tmp." + std::to_string(::getpid()))).string();
  acnn::test::write_bytes(mine, "in flight");
  RunDirectory run(root, 2);
  CHECK(!std::filesystem::exists(root / "last.safetensors.tmp.999999999"));
  CHECK(std::filesystem::exists(mine));
  std::filesystem::remove(mine);
  CHECK(!run.resume_path());

  TensorMap t{{"w", Tensor(DType::F32, {4})}};
  for (int64_t e = 1; e <= 5; ++e) {
    t["w"].fill(static_cast<double>(e));
    TrainState s;
    s.epoch = e;
    s.global_step = e * 100;
    run.save_epoch(e, t, s);
  }
  CHECK(run.saved_epochs() == std::vector<int64_t>{4, 5});
  REQUIRE(run.resume_path());
  auto last = load_checkpoint(run.resume_path()->string());
  CHECK(last.state->epoch == 5);
  CHECK(last.tensors.at("w").at(0) == 5.0);
  CHECK(load_checkpoint(run.epoch_path(4).string()).tensors.at("w").at(0) == 4.0);

  // A mid-epoch save replaces last only; the epoch file it was linked to stays.
  t["w"].fill(5.5);
  TrainState mid;
  mid.epoch = 5;
  mid.step_in_epoch = 17;
  run.save_last(t, mid);
  CHECK(load_checkpoint(run.last_path().string()).state->step_in_epoch == 17);
  CHECK(load_checkpoint(run.epoch_path(5).string()).tensors.at("w").at(0) == 5.0);

  // Keeping no epoch files writes last only.
  RunDirectory lean(dir.path / "runs" / "lean", 0);
  lean.save_epoch(1, t, mid);
  lean.save_epoch(2, t, mid);
  CHECK(lean.saved_epochs().empty());
  CHECK(lean.resume_path());
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(root)) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 3);  // last + epoch4 + epoch5, no temporaries
}
