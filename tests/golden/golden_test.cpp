// Golden tests: the diagnostics of every malformed file under
// tests/golden/diagnostics, and the IR text of every file under tests/golden/ir.
#include <functional>
#include <sstream>

#include "compiler/elaborate/model_file.h"
#include "compiler/ir/printer.h"
#include "compiler/passes/pipeline.h"
#include "compiler/train/model_graphs.h"
#include "compiler/train/train_graph.h"
#include "tests/golden/golden.h"
#ifdef ACNN_HAVE_CUDA
#include "backends/cuda/plan_report.h"
#endif

using namespace acnn;

namespace {

// Runs what `acnn check` runs and returns the rendered diagnostics.
std::string check_output(const std::string& file) {
  ModelFile mf;
  if (mf.load(file)) {
    mf.build(1);
    mf.recipe();
  }
  std::ostringstream out;
  mf.diags().print(out);
  return out.str();
}

}  // namespace

TEST_CASE("malformed files give their expected diagnostics", "[golden]") {
  auto files = testing::golden_inputs("tests/golden/diagnostics");
  REQUIRE(files.size() >= 20);
  for (const std::string& file : files) {
    SECTION(file) {
      std::string out = check_output(file);
      INFO(out);
      CHECK(out.find(": error: ") != std::string::npos);  // every file here is wrong
      testing::check_golden(testing::source_dir() + "/" + file.substr(0, file.size() - 5) + ".expected", out);
    }
  }
}

TEST_CASE("IR dumps of stdlib blocks match their goldens", "[golden]") {
  auto files = testing::golden_inputs("tests/golden/ir");
  REQUIRE(files.size() >= 4);
  for (const std::string& file : files) {
    SECTION(file) {
      ModelFile mf;
      REQUIRE(mf.load(file));
      auto g = mf.build(1);
      std::ostringstream diags;
      mf.diags().print(diags);
      INFO(diags.str());
      REQUIRE(g);
      CHECK(ir::verify(*g).empty());
      std::ostringstream text;
      ir::print_text(text, *g);
      testing::check_golden(testing::source_dir() + "/" + file.substr(0, file.size() - 5) + ".expected", text.str());
    }
  }
}

// Each golden model of `dir` at batch 2, its training step (mode "train") or
// inference graph ("eval") after the pass pipeline (every value
// rematerialized, to show remat on small blocks), rendered by `render`
// against <file>.<mode>.expected.
static void check_stage_goldens(const std::string& dir, const std::function<std::string(const ir::Graph&, bool)>& render) {
  auto files = testing::golden_inputs(dir);
  REQUIRE(!files.empty());
  for (const std::string& file : files) {
    for (std::string mode : {"train", "eval"}) {
      SECTION(file + " " + mode) {
        ModelFile mf;
        REQUIRE(mf.load(file));
        auto fwd = mf.build(2);
        REQUIRE(fwd);
        const bool train = mode == "train";
        std::unique_ptr<ir::Graph> g = train ? build_train_graph(*fwd, default_train_options(*fwd)) : build_eval_graph(*fwd, false);
        passes::PipelineOptions po;
        po.mode = train ? passes::Mode::Train : passes::Mode::Eval;
        po.verify = true;
        po.remat_min_bytes = 0;
        passes::run_pipeline(*g, po);
        testing::check_golden(testing::source_dir() + "/" + file.substr(0, file.size() - 5) + "." + mode + ".expected",
                              render(*g, train));
      }
    }
  }
}

TEST_CASE("fused-stage dumps match their goldens (training and inference)", "[golden]") {
  check_stage_goldens("tests/golden/fused", [](const ir::Graph& g, bool) {
    std::ostringstream text;
    ir::print_text(text, g);
    return text.str();
  });
}

#ifdef ACNN_HAVE_CUDA
TEST_CASE("device-stage dumps (the CUDA backend's kernels) match their goldens", "[golden]") {
  check_stage_goldens("tests/golden/device", [](const ir::Graph& g, bool train) {
    return cuda::plan_report(cuda::plan_device(g, train ? cuda::Precision::BF16 : cuda::Precision::FP32));
  });
}
#endif
