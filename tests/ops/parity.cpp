#include "tests/ops/parity.h"

#include <cmath>
#include <cstring>

#include "runtime/interpreter.h"
#include "tests/catch.h"

namespace acnn::testing {

bool onednn_built() {
#ifdef ACNN_HAVE_ONEDNN
  return true;
#else
  return false;
#endif
}

void compare_tensors(const std::string& what, const Tensor& want, const Tensor& got, Tol tol) {
  INFO(what << ": want " << type_str(want.dtype(), want.shape()) << ", got " << type_str(got.dtype(), got.shape()));
  REQUIRE(want.dtype() == got.dtype());
  REQUIRE(want.shape() == got.shape());
  REQUIRE(got.layout() == Layout::Plain);
  double scale = 1;
  for (int64_t i = 0; i < want.numel(); ++i) scale = std::max(scale, std::abs(want.at(i)));
  double worst = 0;
  int64_t worst_i = -1;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double w = want.at(i), g = got.at(i);
    double bound = tol.atol * scale + tol.rtol * std::abs(w);
    // A zero tolerance asks for equality (no 0 / 0).
    double r = !std::isfinite(g) ? INFINITY : g == w ? 0.0 : bound > 0 ? std::abs(g - w) / bound : INFINITY;
    if (!(r <= worst)) worst = r, worst_i = i;
  }
  if (worst_i >= 0 && worst > 1) {
    INFO("worst element " << worst_i << ": want " << want.at(worst_i) << ", got " << got.at(worst_i) << " ("
                          << worst << "x the tolerance)");
    CHECK(worst <= 1);
  } else {
    CHECK(worst <= 1);
  }
}

void compare_maps(const std::map<std::string, Tensor>& want, const std::map<std::string, Tensor>& got, Tol tol) {
  REQUIRE(want.size() == got.size());
  for (const auto& [name, t] : want) {
    auto it = got.find(name);
    INFO("output " << name);
    REQUIRE(it != got.end());
    compare_tensors(name, t, it->second, tol);
  }
}

void check_parity(const ir::Graph& g, const std::map<std::string, Tensor>& feeds, ExecContext ctx,
                  const std::set<ir::OpKind>& ops, Expect expect, Tol tol, bool blocked_input) {
  std::map<std::string, Tensor> want = interpret(g, feeds, ctx).outputs;
  Executor ex(g);
  INFO(ex.dump_plan());
  std::map<std::string, Tensor> got = ex.run(feeds, ctx);
  compare_maps(want, got, tol);
  if (onednn_built() && expect != Expect::Any) {
    const char* expected = expect == Expect::Onednn ? "onednn" : "reference";
    for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(g.num_nodes()); ++id) {
      const ir::Node& n = g.node(id);
      if (n.dead || !ops.count(n.op)) continue;
      INFO("node " << id << " (" << ir::op_name(n.op) << ")");
      CHECK(ex.node_backends()[id] == expected);
    }
    if (blocked_input)
      for (ir::OpKind k : ops) {
        INFO(ir::op_name(k) << " should read a blocked input");
        CHECK(reads_blocked(ex, k));
      }
  }
  std::map<std::string, Tensor> again = ex.run(feeds, ctx);
  for (const auto& [name, t] : got) {
    const Tensor& a = again.at(name);
    INFO("second run, output " << name);
    CHECK(std::memcmp(a.raw(), t.raw(), t.bytes()) == 0);
  }
}

bool reads_blocked(const Executor& ex, ir::OpKind op) {
  const Plan& p = ex.plan();
  for (const Step& st : p.steps) {
    if (st.kind != StepKind::Kernel || ex.graph().node(st.node).op != op) continue;
    for (int s : st.inputs)
      if (p.slots[s].layout) return true;
  }
  return false;
}

}  // namespace acnn::testing
