// Smoke test of every row of Table 7 (models/ablation/e*.acnn) on ImageNet's
// folder layout: a tiny JPEG tree (4 classes, 3 training and 2 validation
// images each), each row trained for 2 steps at 64x64 with
// `--model-arg size=64 --model-arg classes=4` and matching recipe overrides,
// then evaluated from its checkpoint; one row also through the corruption
// suite (normalized by AlexNet's ImageNet-C errors). Rows run two at a time
// (one process each, one compute thread each). E7 compiles its in-graph
// teacher (Assemble-ResNet-152, resolved relative to the row's file, rebuilt
// at the student's 64 px) without a checkpoint: it runs with initial weights
// and the trainer warns. E8-E12 inherit E7's distillation; to keep the test
// short they distill from a file of precomputed logits (distill.logits, with
// mixup partners gathered by example index) instead of compiling the teacher
// five more times.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <regex>
#include <thread>

#include "runtime/data/corruptions.h"
#include "runtime/train/teacher_logits.h"
#include "tests/catch.h"
#include "tests/e2e/e2e_util.h"
#include "tests/unit/train_test_util.h"
#include "tests/paths.h"

using namespace acnn;
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> ablation_rows() {
  std::vector<std::pair<int, fs::path>> rows;
  std::regex name("e([0-9]+)\\.acnn");
  for (const auto& e : fs::directory_iterator(fs::path(acnn::testing::source_dir()) / "models" / "ablation")) {
    std::smatch m;
    std::string f = e.path().filename().string();
    if (std::regex_match(f, m, name)) rows.emplace_back(std::stoi(m[1]), e.path());
  }
  std::sort(rows.begin(), rows.end());
  std::vector<fs::path> out;
  for (auto& [i, p] : rows) out.push_back(p);
  return out;
}

std::string small_imagenet_args(const fs::path& data) {
  return "--model-arg size=64 --model-arg classes=4 --data " + e2e::quoted(data.string()) +
         " --set data.classes=4 --set data.size=64 --set data.eval_resize=73 --set data.eval_crop=64"
         " --set data.workers=1 --batch 2 --threads 1";
}

struct RowResult {
  std::string file;
  e2e::CommandResult train, eval;
  bool checkpoint = false;
};

}  // namespace

TEST_CASE("every Table 7 row trains two steps and evaluates on a tiny ImageNet tree", "[e2e]") {
  if (!data::jpeg_supported()) {
    WARN("built without libjpeg-turbo: ImageNet rows skipped");
    return;
  }
  test::TempDir tmp;
  fs::path data = tmp.path / "imagenet";
  e2e::write_jpeg_tree(data, {"train"}, 4, 3, 80, 96);
  e2e::write_jpeg_tree(data, {"val"}, 4, 2, 96, 80);
  std::vector<fs::path> rows = ablation_rows();
  REQUIRE(rows.size() == 13);
  fs::path logits = tmp.path / "teacher_logits.safetensors";
  Tensor t(DType::F32, {12, 4});
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, 0.25 * static_cast<double>((i * 7) % 5));
  train::save_teacher_logits(logits.string(), t);

  std::vector<RowResult> results(rows.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next++) < rows.size();) {
      RowResult& r = results[i];
      r.file = rows[i].filename().string();
      std::string name = rows[i].stem().string();
      std::string common = e2e::quoted(rows[i].string()) + " " + small_imagenet_args(data);
      int row = std::stoi(name.substr(1));
      std::string distill = row >= 8 ? " --set 'distill.logits=\"" + logits.string() + "\"'" : "";
      // --epochs 10: the warm-up (5 epochs) must be shorter than the run; --max-steps ends it.
      r.train = e2e::run_acnn("train " + common + distill + " --max-steps 2 --epochs 10 --no-progress --name " + name +
                              " --runs " + e2e::quoted((tmp.path / "runs").string()));
      fs::path ckpt = tmp.path / "runs" / name / "last.safetensors";
      r.checkpoint = fs::exists(ckpt);
      if (r.checkpoint) r.eval = e2e::run_acnn("eval " + common + " --checkpoint " + e2e::quoted(ckpt.string()));
    }
  };
  std::thread a(worker), b(worker);
  a.join();
  b.join();
  for (const RowResult& r : results) {
    INFO(r.file << " train:\n" << r.train.output << "\neval:\n" << r.eval.output);
    CHECK(r.train.status == 0);
    CHECK(r.checkpoint);
    CHECK(r.eval.status == 0);
    CHECK(test::contains(r.eval.output, "top-1"));
    CHECK(test::contains(r.eval.output, "(8 examples"));
    bool distills = r.file == "e7.acnn" || r.file == "e8.acnn" || r.file == "e9.acnn" || r.file == "e10.acnn" ||
                    r.file == "e11.acnn" || r.file == "e12.acnn";
    CHECK(test::contains(r.train.output, "distillation T=1") == distills);
    CHECK(test::contains(r.train.output, "teacher has no checkpoint") == (r.file == "e7.acnn"));
  }

  // Robustness on the same tree: generated corruptions, AlexNet normalization.
  fs::path ckpt = tmp.path / "runs" / "e0" / "last.safetensors";
  fs::path report = tmp.path / "e0.json";
  e2e::CommandResult rob = e2e::run_acnn("eval " + e2e::quoted(rows[0].string()) + " " + small_imagenet_args(data) +
                                         " --checkpoint " + e2e::quoted(ckpt.string()) +
                                         " --corruptions --severities 2 --corruption-limit 2 --report " +
                                         e2e::quoted(report.string()));
  INFO(rob.output);
  CHECK(rob.status == 0);
  CHECK(test::contains(rob.output, "AlexNet"));
  CHECK(test::contains(rob.output, "jpeg_compression"));
  CHECK(fs::exists(report));

  // An ImageNet-C tree (<root>/<corruption>/<severity>/<class>/*) at the crop
  // size is read instead of generating the corruptions.
  fs::path c_root = tmp.path / "imagenet-c";
  std::vector<std::string> names;
  for (data::Corruption c : data::all_corruptions()) names.push_back(std::string(data::corruption_name(c)) + "/3");
  e2e::write_jpeg_tree(c_root, names, 4, 1, 64, 64);
  std::string from_folders = "eval " + e2e::quoted(rows[0].string()) + " " + small_imagenet_args(data) +
                             " --checkpoint " + e2e::quoted(ckpt.string()) + " --corruptions" +
                             " --report " + e2e::quoted((tmp.path / "c.json").string()) + " --imagenet-c ";
  e2e::CommandResult folders = e2e::run_acnn(from_folders + e2e::quoted(c_root.string()) + " --severities 3");
  INFO(folders.output);
  CHECK(folders.status == 0);
  CHECK(test::contains(test::read_bytes((tmp.path / "c.json").string()), "imagenet-c:"));
  // A severity the tree lacks is named in the error.
  e2e::CommandResult missing = e2e::run_acnn(from_folders + e2e::quoted(c_root.string()) + " --severities 3,4");
  CHECK(missing.status == 1);
  CHECK(test::contains(missing.output, "gaussian_noise/4"));
}
