// The pass pipeline: one ordered list of named graph passes run after the
// training (or inference) graph is built and before the executor plans it.
// Order: dce, cse, const_fold, bn_fold (inference only), dce — the "opt"
// stage — then remat (training only), fusion, layout, inplace — the "fused"
// stage. Each pass
// reports whether it changed the graph; the pipeline can print the IR after
// a named pass or after all of them, time each pass, skip disabled passes
// and stop after a stage. PhaseTimer collects the compile time of every
// stage of `acnn` (parse, elaborate, train graph, autodiff, each pass,
// executor compile) for --time-passes.
#pragma once

#include <chrono>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/passes/pass.h"

namespace acnn::passes {

// Wall-clock times of named compile stages, in the order they ran.
class PhaseTimer {
 public:
  void add(const std::string& name, double seconds);
  const std::vector<std::pair<std::string, double>>& entries() const { return entries_; }
  double total() const;
  // "  parse         12.3 ms" lines and a total.
  void print(std::ostream& out) const;

  // Times the enclosing scope into `timer` (which may be null).
  class Scope {
   public:
    Scope(PhaseTimer* timer, std::string name) : timer_(timer), name_(std::move(name)), t0_(clock::now()) {}
    ~Scope() {
      if (timer_) timer_->add(name_, std::chrono::duration<double>(clock::now() - t0_).count());
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    using clock = std::chrono::steady_clock;
    PhaseTimer* timer_;
    std::string name_;
    clock::time_point t0_;
  };

 private:
  std::vector<std::pair<std::string, double>> entries_;
};

struct PassInfo {
  const char* name;
  const char* summary;
  bool fusion_stage;  // runs after the "opt" stage
};

// Every pass of the pipeline, in order (dce appears twice).
const std::vector<PassInfo>& pipeline_passes();
// Unique pass names, in pipeline order ("dce", "cse", ...).
std::vector<std::string> pass_names();

struct PipelineOptions {
  Mode mode = Mode::Train;
  std::set<std::string> print_after;  // print the graph after these passes
  bool print_after_all = false;
  std::ostream* print_to = nullptr;    // where printing goes (required to print)
  std::string print_scope;             // print only this scope (ir::PrintOptions::scope)
  std::set<std::string> disabled;      // passes that do not run
  bool stop_before_fusion = false;     // the "opt" stage only
  bool verify = false;                 // run ir::verify after each pass (throws on problems)
  int64_t remat_min_bytes = kRematMinBytes;  // remat: smallest value worth recomputing
  PhaseTimer* timer = nullptr;         // each pass as "pass <name>"

  // remat_min_bytes from a --remat-min-mib value; a negative one keeps the default.
  void set_remat_min_mib(double mib) {
    if (mib >= 0) remat_min_bytes = static_cast<int64_t>(mib * 1048576.0);
  }
};

struct PassRun {
  std::string name;
  bool changed = false;
  double seconds = 0;
  size_t nodes_after = 0;
};

// Throws std::invalid_argument for unknown names in print_after/disabled.
std::vector<PassRun> run_pipeline(ir::Graph& g, const PipelineOptions& opts);

// Parses a --passes list ("dce,cse,fusion", "none", "all") into the set of
// disabled passes; throws std::invalid_argument naming an unknown pass.
std::set<std::string> disabled_from_list(const std::string& list);

}  // namespace acnn::passes
