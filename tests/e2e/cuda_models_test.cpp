// The paper's networks on the CUDA backend, end to end through `acnn bench`
// as a user runs it: ResNet-50 and Assemble-ResNet-50 (selective kernels,
// squeeze-excitation, anti-aliasing, Big-Little) at 64 px and batch 2, where
// the GPU's training steps start from the CPU's loss and follow it, and
// their inference graphs give the CPU's logits. Skipped
// without a CUDA device; the CUDA emulator build (scripts/test.sh) runs it.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "compiler/elaborate/model_file.h"
#include "compiler/ir/op.h"
#include "compiler/train/train_graph.h"
#include "runtime/runner.h"
#include "runtime/train/evaluator.h"
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
    const char* one = std::getenv("ACNN_CUDA_STREAMS");  // =1: a run with one stream on purpose
    if (device == "cuda" && !(one && std::string(one) == "1")) {
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

TEST_CASE("CUDA inference: ResNet-50 and Assemble-ResNet-50 logits match the CPU's (64 px, batch 2)", "[cuda]") {
  std::string why;
  if (!acnn::cuda_usable(&why)) ACNN_SKIP("no CUDA device: " + why);
  // The inference graphs as `acnn bench --mode infer` and `acnn eval` build
  // them (batch norms folded into the convolutions, branches on two streams),
  // with every block's last gamma left nonzero so that every branch counts.
  for (const char* model : {"resnet50.acnn", "assemble_resnet50.acnn"}) {
    INFO(model);
    acnn::ModelFile mf;
    REQUIRE(mf.load(acnn::testing::source_dir() + "/models/" + model));
    REQUIRE(mf.apply_model_args({"size=64"}));
    auto fwd = mf.build(2);
    REQUIRE(fwd);
    // The CPU runs the graph as built; the GPU after the passes `acnn eval`
    // and `acnn bench --mode infer` run for it (batch-norm folding: fused
    // convolutions with bias, residual and ReLU).
    auto g = acnn::build_eval_graph(*fwd, /*with_loss=*/false, /*zero_gamma=*/false);
    auto gg = acnn::build_eval_graph(*fwd, /*with_loss=*/false, /*zero_gamma=*/false);
    acnn::train::RunSetup setup;
    setup.device = "cuda";
    acnn::train::optimize_graph(*gg, setup, acnn::passes::Mode::Eval);
    acnn::RunnerOptions co;
    co.device = "cpu";
    auto cpu = acnn::make_runner(*g, co);
    std::map<std::string, acnn::Tensor> feeds;
    for (const acnn::ir::Node& n : g->nodes()) {
      if (n.dead || n.op != acnn::ir::OpKind::Input) continue;
      acnn::Tensor x(acnn::DType::F32, g->type(n.outputs[0]).shape);
      for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(std::sin(0.37 * i));
      feeds[n.attrs.s("name")] = x;
    }
    acnn::ExecContext ctx;
    const acnn::Tensor want = cpu->run(feeds, ctx).at("logits");
    double scale = 1.0;
    for (int64_t i = 0; i < want.numel(); ++i) scale = std::max(scale, std::fabs(want.at(i)));
    for (const char* precision : {"fp32", "mixed_bf16"}) {
      INFO(precision);
      acnn::RunnerOptions go;
      go.device = "cuda";
      go.precision = precision;
      auto gpu = acnn::make_runner(*gg, go);
      // At 64 px and batch 2 most convolutions are under 100 MFLOP: cuDNN's
      // heuristics choose their algorithms, without a measured search.
      if (std::string(precision) == "fp32" && std::string(model) == "resnet50.acnn")
        CHECK(gpu->compile_report().find(", 0 small ones by heuristics") == std::string::npos);
      for (const std::string& name : cpu->persistent_names()) gpu->set_persistent(name, cpu->get_persistent(name));
      const double tol = std::string(precision) == "fp32" ? 1e-3 : 5e-2;
      for (int run = 0; run < 4; ++run) {  // eager warm-ups, then both buffer parities' graphs
        INFO("run " << run);
        const acnn::Tensor got = gpu->run(feeds, ctx).at("logits");
        REQUIRE(got.numel() == want.numel());
        double worst = 0;
        for (int64_t i = 0; i < want.numel(); ++i) worst = std::max(worst, std::fabs(got.at(i) - want.at(i)));
        CHECK(worst <= tol * scale);
      }
    }
  }
}
