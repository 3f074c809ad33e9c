// The paper's networks on the CUDA backend, end to end through `acnn bench`
// as a user runs it: ResNet-50 and Assemble-ResNet-50 (selective kernels,
// squeeze-excitation, anti-aliasing, Big-Little) at 64 px and batch 2, where
// the GPU's training steps start from the CPU's loss and follow it. Skipped
// without a CUDA device; the CUDA emulator build (scripts/test.sh) runs it.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/runner.h"
#include "tests/catch.h"
#include "tests/e2e/e2e_util.h"

namespace {

nlohmann::json bench(const std::string& model, const std::string& device, const std::string& precision) {
  const std::string base =
      (std::filesystem::temp_directory_path() / ("acnn_cuda_models_" + std::to_string(::getpid()))).string();
  const std::string json = base + ".json", plan = base + ".plan";
  const auto r = acnn::e2e::run_acnn("bench " + acnn::e2e::quoted(acnn::testing::source_dir() + "/models/" + model) +
                                     " --device " + device + " --batch 2 --mode train --precision " + precision +
                                     " --steps 2 --warmup 1 --model-arg size=64 --json " + json + " --plan " + plan);
  INFO(r.output);
  REQUIRE(r.status == 0);
  {
    // The compiled step as --plan writes it: on the GPU, kernels on two
    // streams, waiting for each other where they conflict.
    std::ifstream p(plan);
    const std::string text((std::istreambuf_iterator<char>(p)), std::istreambuf_iterator<char>());
    std::remove(plan.c_str());
    CHECK(text.find("#0 ") != std::string::npos);
    if (device == "cuda") {
      CHECK(text.find("compute streams 2") != std::string::npos);
      CHECK(text.find("[stream 1, after #") != std::string::npos);
    }
  }
  std::ifstream in(json);
  nlohmann::json j = nlohmann::json::parse(in);
  std::remove(json.c_str());
  REQUIRE(j.contains("loss_first"));  // absent when the loss was not finite
  REQUIRE(j.contains("loss_last"));
  return j;
}

}  // namespace

TEST_CASE("CUDA training: ResNet-50 and Assemble-ResNet-50 steps follow the CPU's (64 px, batch 2)", "[cuda]") {
  std::string why;
  if (!acnn::cuda_usable(&why)) ACNN_SKIP("no CUDA device: " + why);
  for (const char* model : {"resnet50.acnn", "assemble_resnet50.acnn"}) {
    INFO(model);
    const nlohmann::json cpu = bench(model, "cpu", "fp32"), gpu = bench(model, "cuda", "fp32"),
                         half = bench(model, "cuda", "mixed_bf16");
    const double first = cpu["loss_first"], last = cpu["loss_last"];
    INFO("cpu " << first << " -> " << last << ", cuda fp32 " << gpu["loss_first"] << " -> " << gpu["loss_last"]
                << ", cuda bf16 " << half["loss_first"] << " -> " << half["loss_last"]);
    // The same initial weights and batch: the first loss agrees to rounding;
    // three SGD steps later, to what rounding grows into.
    CHECK(std::fabs(gpu["loss_first"].get<double>() - first) <= 1e-4 * first);
    CHECK(std::fabs(gpu["loss_last"].get<double>() - last) <= 2e-2 * first);
    CHECK(std::fabs(half["loss_first"].get<double>() - first) <= 1e-2 * first);
    CHECK(half["loss_last"].get<double>() < 0.6 * first);
  }
}
