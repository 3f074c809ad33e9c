// The acnn command as a user runs it: exit codes, help, output, errors.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "tests/catch.h"
#include "tests/paths.h"

namespace {

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
};

Result run_acnn(const std::string& args) {
  std::string cmd = acnn::testing::acnn_binary() + " " + args + " 2>&1";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool has(const Result& r, const std::string& s) { return r.out.find(s) != std::string::npos; }

}  // namespace

TEST_CASE("acnn check reports parameters, MACs and stages", "[cli]") {
  Result r = run_acnn("check models/resnet50.acnn");
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(has(r, "25,557,032"));
  CHECK(has(r, "4.09 G"));
  CHECK(has(r, "layer4"));
  CHECK(has(r, "[1,2048,7,7]"));
}

TEST_CASE("user errors exit 1 with a located message; usage errors exit 2", "[cli]") {
  Result bad = run_acnn("check tests/golden/diagnostics/shape_mismatch.acnn");
  INFO(bad.out);
  CHECK(bad.code == 1);
  CHECK(has(bad, "shape_mismatch.acnn:5:12: error:"));
  Result missing = run_acnn("check no/such/file.acnn");
  CHECK(missing.code == 1);
  CHECK(has(missing, "no such file"));
  Result usage = run_acnn("check");
  CHECK(usage.code == 2);
  Result unknown = run_acnn("frobnicate");
  CHECK(unknown.code == 2);
  Result dir = run_acnn("check models");
  CHECK(dir.code == 1);
  CHECK(has(dir, "is a directory"));
}

TEST_CASE("every command has --help", "[cli]") {
  for (const char* cmd : {"", "check", "dump", "run", "train", "eval"}) {
    Result r = run_acnn(std::string(cmd) + " --help");
    INFO(cmd << ": " << r.out);
    CHECK(r.code == 0);
    CHECK(has(r, "Usage"));
  }
}

TEST_CASE("acnn dump prints the AST and the IR in every format", "[cli]") {
  Result ast = run_acnn("dump tests/golden/ir/se_block.acnn --stage ast");
  CHECK(ast.code == 0);
  CHECK(has(ast, "(network net"));
  Result text = run_acnn("dump tests/golden/ir/se_block.acnn");
  CHECK(text.code == 0);
  CHECK(has(text, "param \"y.fc1.weight\""));
  Result dot = run_acnn("dump tests/golden/ir/se_block.acnn --format dot");
  CHECK(dot.code == 0);
  CHECK(has(dot, "digraph"));
  Result json = run_acnn("dump tests/golden/ir/se_block.acnn --format json");
  CHECK(json.code == 0);
  CHECK(has(json, "\"op\": \"conv2d\""));
  Result bad = run_acnn("dump tests/golden/ir/se_block.acnn --format pdf");
  CHECK(bad.code == 2);
}

TEST_CASE("acnn dump and check pass --model-arg to the distillation teacher, as train does", "[cli]") {
  // Assemble-ResNet-50 distills from Assemble-ResNet-152 (its file builds
  // 256 px): at 64 px the teacher must follow, or the graphs disagree.
  Result dump = run_acnn("dump models/assemble_resnet50.acnn --stage train --batch 2 --model-arg size=64");
  CHECK(dump.code == 0);
  CHECK(has(dump, "f32[2,3,64,64]"));
  Result check = run_acnn("check models/assemble_resnet50.acnn --train --batch 2 --model-arg size=64");
  CHECK(check.code == 0);
}

TEST_CASE("acnn run does a reference forward pass", "[cli]") {
  Result r = run_acnn("run models/fashion/assemble.acnn --batch 2");
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(has(r, "output f32[2,10]"));
}

TEST_CASE("recipe overrides are checked like the language", "[cli]") {
  Result r = run_acnn("train models/fashion/baseline.acnn --set optimizer.momentun=0.5 --max-steps 1");
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK(has(r, "did you mean `momentum`?"));
}

TEST_CASE("acnn --remat-min-mib sets which activations are recomputed", "[cli]") {
  // At batch 8 every Fashion activation is under the default 4 MiB: none is
  // recomputed; with a threshold of 0 the conv -> BN -> ReLU outputs are.
  auto recomputed = [](const std::string& extra) {
    Result r = run_acnn("dump models/fashion/baseline.acnn --stage fused --batch 8" + extra);
    INFO(r.out.substr(0, 2000));
    REQUIRE(r.code == 0);
    size_t n = 0;
    for (size_t at = 0; (at = r.out.find("= batch_norm_infer(", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  CHECK(recomputed("") == 0);
  CHECK(recomputed(" --remat-min-mib 0") > 5);
  Result bad = run_acnn("bench models/fashion/baseline.acnn --remat-min-mib -1");
  CHECK(bad.code != 0);
  CHECK(has(bad, "--remat-min-mib"));
}
