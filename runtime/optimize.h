// The pass pipeline as the runtime runs it before an Executor plans a graph:
// the passes of compiler/passes/pipeline.h, then every fused node that none
// of the executor's fast backends (all but the reference one) can run is
// expanded back into its ops, so that a kind a backend has no kernel for
// runs op by op on that backend rather than as a whole on the slow reference
// interpreter; layouts and in-place marks are then recomputed. With only the
// reference backend, fused nodes stay (the reference kernel runs any).
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/passes/pipeline.h"

namespace acnn {

struct OptimizeResult {
  int fused = 0;      // fused nodes formed by the fusion pass
  int expanded = 0;   // of those, expanded back (no fast backend runs them)
};

// `backends` as in ExecutorOptions (empty: every backend built in).
OptimizeResult optimize_for_executor(ir::Graph& g, const passes::PipelineOptions& opts,
                                     const std::vector<std::string>& backends);

}  // namespace acnn
