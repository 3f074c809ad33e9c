// The pass pipeline (see pipeline.h).
#include "compiler/passes/pipeline.h"

#include <cstdio>
#include <stdexcept>

#include "compiler/ir/printer.h"
#include "compiler/passes/fusion.h"

namespace acnn::passes {

void PhaseTimer::add(const std::string& name, double seconds) { entries_.emplace_back(name, seconds); }

double PhaseTimer::total() const {
  double t = 0;
  for (const auto& [name, s] : entries_) t += s;
  return t;
}

void PhaseTimer::print(std::ostream& out) const {
  char buf[160];
  for (const auto& [name, s] : entries_) {
    std::snprintf(buf, sizeof buf, "  %-28s %9.1f ms\n", name.c_str(), s * 1e3);
    out << buf;
  }
  std::snprintf(buf, sizeof buf, "  %-28s %9.1f ms\n", "total", total() * 1e3);
  out << buf;
}

const std::vector<PassInfo>& pipeline_passes() {
  static const std::vector<PassInfo> passes = {
      {"dce", "dead-code elimination", false},
      {"cse", "common-subexpression elimination", false},
      {"const_fold", "constant folding", false},
      {"bn_fold", "batch-norm folding into conv (inference)", false},
      {"dce", "dead-code elimination", false},
      {"remat", "recompute cheap activations in backward (training)", true},
      {"fusion", "fused kernels: conv, batchnorm, elementwise, optimizer", true},
      {"layout", "layout assignment: values that must be plain", true},
      {"inplace", "in-place reuse of last-use inputs", true},
  };
  return passes;
}

std::vector<std::string> pass_names() {
  std::vector<std::string> names;
  for (const PassInfo& p : pipeline_passes()) {
    bool seen = false;
    for (const std::string& n : names) seen |= n == p.name;
    if (!seen) names.push_back(p.name);
  }
  return names;
}

namespace {

void check_names(const std::set<std::string>& names, const char* what) {
  std::vector<std::string> known = pass_names();
  for (const std::string& n : names) {
    bool ok = false;
    for (const std::string& k : known) ok |= k == n;
    if (!ok) {
      std::string list;
      for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
      throw std::invalid_argument(std::string(what) + ": unknown pass `" + n + "` (passes: " + list + ")");
    }
  }
}

bool run_pass(const std::string& name, ir::Graph& g, const PipelineOptions& opts) {
  const Mode mode = opts.mode;
  if (name == "dce") return dce(g);
  if (name == "cse") return cse(g);
  if (name == "const_fold") return const_fold(g);
  if (name == "bn_fold") return mode == Mode::Eval && bn_fold(g);
  if (name == "remat") return mode == Mode::Train && remat(g, opts.remat_min_bytes);
  if (name == "fusion") return fuse(g);
  if (name == "layout") return assign_layouts(g);
  if (name == "inplace") return mark_inplace(g);
  throw std::logic_error("pass without an implementation: " + name);
}

}  // namespace

std::vector<PassRun> run_pipeline(ir::Graph& g, const PipelineOptions& opts) {
  check_names(opts.print_after, "--print-after");
  check_names(opts.disabled, "--passes");
  std::vector<PassRun> runs;
  for (const PassInfo& p : pipeline_passes()) {
    if (opts.stop_before_fusion && p.fusion_stage) break;
    if (opts.disabled.count(p.name)) continue;
    PassRun r;
    r.name = p.name;
    auto t0 = std::chrono::steady_clock::now();
    r.changed = run_pass(p.name, g, opts);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.nodes_after = g.num_nodes();
    if (opts.timer) opts.timer->add("pass " + r.name, r.seconds);
    if (opts.verify) {
      std::vector<std::string> problems = ir::verify(g);
      if (!problems.empty()) throw std::logic_error("after pass " + r.name + ": " + problems[0]);
    }
    if (opts.print_to && (opts.print_after_all || opts.print_after.count(p.name))) {
      *opts.print_to << "// after " << p.name << (r.changed ? "" : " (unchanged)") << "\n";
      ir::PrintOptions print;
      print.scope = opts.print_scope;
      ir::print_text(*opts.print_to, g, print);
    }
    runs.push_back(std::move(r));
  }
  return runs;
}

std::set<std::string> disabled_from_list(const std::string& list) {
  std::vector<std::string> known = pass_names();
  std::set<std::string> disabled(known.begin(), known.end());
  if (list == "all" || list.empty()) return {};
  if (list == "none") return disabled;
  size_t start = 0;
  std::set<std::string> enabled;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string name = list.substr(start, comma - start);
    if (!name.empty()) enabled.insert(name);
    start = comma + 1;
  }
  check_names(enabled, "--passes");
  for (const std::string& n : enabled) disabled.erase(n);
  return disabled;
}

}  // namespace acnn::passes
