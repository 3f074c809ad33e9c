#include "runtime/optimize.h"

#include "backends/backend.h"
#include "compiler/passes/fusion.h"

namespace acnn {

OptimizeResult optimize_for_executor(ir::Graph& g, const passes::PipelineOptions& opts,
                                     const std::vector<std::string>& backends) {
  OptimizeResult r;
  passes::run_pipeline(g, opts);
  for (const ir::Node& n : g.nodes()) r.fused += !n.dead && n.op == ir::OpKind::Fused;
  if (r.fused == 0) return r;
  passes::PhaseTimer::Scope time(opts.timer, "expand unsupported fused");
  std::vector<std::unique_ptr<Backend>> bs = make_backends(backends.empty() ? available_backends() : backends);
  bool any_fast = false;
  for (auto& b : bs) any_fast |= b->name() != "reference";
  if (!any_fast) return r;
  auto unsupported = [&](const ir::Node& n) {
    for (auto& b : bs)
      if (b->name() != "reference" && b->supports(g, n)) return false;
    ++r.expanded;
    return true;
  };
  if (!passes::unfuse(g, unsupported)) return r;
  if (!opts.disabled.count("layout")) passes::assign_layouts(g);
  if (!opts.disabled.count("inplace")) passes::mark_inplace(g);
  return r;
}

}  // namespace acnn
