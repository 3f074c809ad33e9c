// The oneDNN fused kinds against the reference: "conv" with every post-op
// combination (own or added bias, bn-infer, relu, residual add, relu) on plain
// and blocked inputs; "batchnorm" forward with and without a residual,
// exporting the pre-relu value or not; "batchnorm_backward" in both of its
// forms (reading the forward kernel's relu mask, or relu backward first),
// forward and backward fused together in one training-like graph.
#include <cstring>

#include "runtime/executor.h"
#include "runtime/interpreter.h"
#include "tests/catch.h"
#include "tests/ops/fused_util.h"
#include "tests/ops/harness.h"
#include "tests/ops/parity.h"

using namespace acnn;
using namespace acnn::testing;
using ir::OpKind;
using ir::ValueId;
using Ints = std::vector<int64_t>;

namespace {

std::vector<const Step*> fused_steps(const Executor& ex) {
  std::vector<const Step*> r;
  for (const Step& st : ex.plan().steps)
    if (st.kind == StepKind::Kernel && ex.graph().node(st.node).op == OpKind::Fused) r.push_back(&st);
  return r;
}

// Executor on `fused` vs interpreter on `unfused` (and on `fused`, the reference
// body execution); every fused node runs on oneDNN with a description
// containing each of `expect` (one per fused node, in plan order).
void check(const ir::Graph& unfused, const ir::Graph& fused, Case& c, const std::vector<std::string>& expect,
           Tol tol = Tol{1e-4, 1e-5}) {
  auto want = interpret(unfused, c.feeds, c.ctx).outputs;
  compare_maps(want, interpret(fused, c.feeds, c.ctx).outputs, Tol{1e-6, 1e-7});
  Executor ex(fused);
  INFO(ex.dump_plan());
  auto got = ex.run(c.feeds, c.ctx);
  compare_maps(want, got, tol);
  if (!onednn_built()) return;
  auto steps = fused_steps(ex);
  REQUIRE(steps.size() == expect.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    INFO(steps[i]->kernel->describe());
    CHECK(steps[i]->backend == "onednn");
    CHECK(steps[i]->kernel->describe().find(expect[i]) != std::string::npos);
  }
  auto again = ex.run(c.feeds, c.ctx);
  for (const auto& [name, t] : got) CHECK(std::memcmp(again.at(name).raw(), t.raw(), t.bytes()) == 0);
}

}  // namespace

TEST_CASE("fused conv: every post-op combination, plain and blocked inputs", "[backend]") {
  int variant = 0;
  for (int mask = 0; mask < 32; ++mask) {
    bool bias = mask & 1, own_bias = bias && (mask & 2), bn = mask & 4, relu1 = mask & 8, res = mask & 16;
    for (bool relu2 : {false, true}) {
      if (relu2 && !res) continue;
      if (!bias && (mask & 2)) continue;
      for (bool blocked : {false, true}) {
        Case c(DType::F32, 700 + variant++);
        ValueId x = c.in({2, 16, 7, 7});
        if (blocked) x = c.b.emit1(OpKind::Conv2d, {x, c.in({16, 16, 1, 1}, -0.3, 0.3)});
        ValueId w = c.in({32, 16, 3, 3}, -0.2, 0.2);
        std::vector<ValueId> cin{x, w};
        if (own_bias) cin.push_back(c.in({32}));
        ValueId y = c.b.emit1(OpKind::Conv2d, cin, Attrs{{"pad", Ints{1, 1, 1, 1}}, {"stride", Ints{1, 1}}});
        ir::NodeId conv = c.g.value(y).producer;
        std::vector<ValueId> chain{y};
        if (bias && !own_bias) chain.push_back(y = c.b.add(y, c.in({1, 32, 1, 1})));
        if (bn)
          chain.push_back(y = c.b.emit1(OpKind::BatchNormInfer, {y, c.in({32}, 0.5, 1.5), c.in({32}), c.in({32}),
                                                                c.in({32}, 0.5, 2)}, Attrs{{"eps", 1e-5}}));
        if (relu1) chain.push_back(y = c.b.emit1(OpKind::Relu, {y}));
        if (res) chain.push_back(y = c.b.add(y, c.in({2, 32, 7, 7})));
        if (relu2) chain.push_back(y = c.b.emit1(OpKind::Relu, {y}));
        if (chain.size() < 2) continue;
        c.g.outputs = {{"y", y}};
        auto fused = c.g.clone();
        (void)conv;
        fuse(*fused, producers(*fused, chain), "conv");
        INFO("bias " << bias << " own " << own_bias << " bn " << bn << " relu1 " << relu1 << " res " << res
                     << " relu2 " << relu2 << " blocked " << blocked);
        check(c.g, *fused, c, {"conv fwd"});
      }
    }
  }
}

TEST_CASE("fused batchnorm forward and backward", "[backend]") {
  int variant = 0;
  for (bool residual : {false, true})
    for (bool export_pre : {false, true})
      for (bool blocked : {false, true}) {
        Case c(DType::F32, 800 + variant++);
        const Shape s{4, 32, 6, 6};
        ValueId x = c.in(s, -2, 2);
        if (blocked) x = c.b.emit1(OpKind::Conv2d, {x, c.in({32, 32, 1, 1}, -0.3, 0.3)});
        ValueId gamma = c.in({32}, 0.5, 1.5), beta = c.in({32});
        auto bn = c.b.emit(OpKind::BatchNormTrain, {x, gamma, beta}, Attrs{{"eps", 1e-5}});
        std::vector<ValueId> fwd{bn[0]};
        ValueId pre = bn[0];
        if (residual) fwd.push_back(pre = c.b.add(bn[0], c.in(s)));
        ValueId out = c.b.emit1(OpKind::Relu, {pre});
        fwd.push_back(out);
        // The backward: relu_backward reads the relu input (exported by the
        // forward) or its output (then the forward exports only that).
        ValueId dy = c.in(s);
        ValueId dz = c.b.emit1(OpKind::ReluBackward, {dy, export_pre ? pre : out});
        auto bwd = c.b.emit(OpKind::BatchNormBackward, {dz, x, gamma, bn[1], bn[2]}, Attrs{{"eps", 1e-5}});
        c.g.outputs = {{"out", out}, {"mean", bn[1]}, {"var", bn[2]}, {"dx", bwd[0]}, {"dg", bwd[1]}, {"db", bwd[2]}};
        if (residual) c.g.outputs.push_back({"dres", c.b.mul(dz, c.in(s))});  // the relu gradient flows on
        auto fused = c.g.clone();
        fuse(*fused, producers(*fused, fwd), "batchnorm");
        std::vector<ValueId> bvals{bwd[0]};
        // Node ids changed: find the backward pair again by op.
        std::vector<ir::NodeId> group;
        for (ir::NodeId id : compute_nodes(*fused)) {
          OpKind k = fused->node(id).op;
          if (k == OpKind::ReluBackward || k == OpKind::BatchNormBackward) group.push_back(id);
        }
        fuse(*fused, group, "batchnorm_backward");
        INFO("residual " << residual << " export_pre " << export_pre << " blocked " << blocked);
        std::string fwd_kernel = residual ? "bn fwd+add+relu" : "bn fwd+relu";
        std::string bwd_kernel = (!residual && !export_pre) ? "bn bwd (relu mask)" : "relu bwd+bn bwd";
        check(c.g, *fused, c, {fwd_kernel, bwd_kernel}, Tol{2e-4, 2e-5});
      }
}
