// `acnn dump FILE --stage ast|ir|train|opt|fused|plan --format text|dot|svg|json
// [-o OUT] [--mode train|eval] [--scope S]`: any compilation stage.
//   ir     the forward graph as elaborated (mode-neutral)
//   train  the graph the trainer builds: the training step (--mode train:
//          loss, backward, optimizer) or the inference graph (--mode eval)
//   opt    after the optimization passes, before fusion
//   fused  after fusion, layout and in-place marking
//   plan   the executor's plan: kernels, backends, buffers, arena offsets
//   device the CUDA backend's kernel units, storage formats and the bytes and
//          FLOPs per kind of kernel (--precision; needs no GPU, only a build
//          with the CUDA backend)
// --print-after / --print-after-all print the IR after passes (to the same
// output), --time-passes the compile time of every stage (to stderr).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "compiler/ir/printer.h"
#include "compiler/passes/pipeline.h"
#include "compiler/train/model_graphs.h"
#include "runtime/executor.h"
#include "runtime/optimize.h"
#ifdef ACNN_HAVE_CUDA
#include "backends/cuda/plan_report.h"
#endif

namespace acnn::cli {

namespace {

struct DumpOptions {
  std::string stage = "ir", format = "text", out, mode = "train", scope, passes, precision;
  int64_t batch = 1;
  bool locations = false, print_after_all = false, time_passes = false, sources = false, summary = false;
  double remat_min_mib = -1;
  std::vector<std::string> print_after, backends;
};

// Graphviz's `dot` on PATH, or "".
std::string find_dot() {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t colon = p.find(':', start);
    if (colon == std::string::npos) colon = p.size();
    std::filesystem::path cand = std::filesystem::path(p.substr(start, colon - start)) / "dot";
    if (::access(cand.c_str(), X_OK) == 0) return cand.string();
    start = colon + 1;
  }
  return "";
}

std::string shell_quote(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

// Renders DOT source to SVG with Graphviz (to `out_path`, or stdout).
int render_svg(const std::string& dot_source, const std::string& out_path) {
  std::string dot = find_dot();
  if (dot.empty()) {
    std::cerr << "acnn: error: --format svg needs Graphviz's `dot` on PATH (Debian: apt-get install graphviz); "
                 "--format dot writes the source to render elsewhere\n";
    return 1;
  }
  std::string cmd = shell_quote(dot) + " -Tsvg" + (out_path.empty() ? "" : " -o " + shell_quote(out_path));
  std::fflush(stdout);
  FILE* pipe = ::popen(cmd.c_str(), "w");
  if (!pipe) {
    std::cerr << "acnn: error: cannot run " << dot << "\n";
    return 1;
  }
  std::fwrite(dot_source.data(), 1, dot_source.size(), pipe);
  int rc = ::pclose(pipe);
  if (rc != 0) {
    std::cerr << "acnn: error: dot failed (exit status " << rc << ")\n";
    return 1;
  }
  return 0;
}

nlohmann::json plan_json(const Executor& ex) {
  const Plan& p = ex.plan();
  const ir::Graph& g = ex.graph();
  nlohmann::json steps = nlohmann::json::array();
  auto slot = [&](int s) {
    const Slot& sl = p.slots[s];
    nlohmann::json j{{"value", sl.value}, {"type", type_str(sl.type.dtype, sl.type.shape)},
                     {"layout", layout_name(sl.layout)}, {"bytes", sl.bytes}};
    static const char* homes[] = {"arena", "dedicated", "persistent", "feed", "constant", "alias"};
    j["home"] = homes[static_cast<int>(sl.home)];
    if (sl.home == SlotHome::Arena) j["offset"] = sl.offset, j["live"] = {sl.first, sl.last};
    if (!sl.name.empty()) j["name"] = sl.name;
    return j;
  };
  for (const Step& st : p.steps) {
    nlohmann::json j;
    j["kind"] = st.kind == StepKind::Kernel ? "kernel" : st.kind == StepKind::Convert ? "reorder" : "scalar";
    j["kernel"] = st.kind == StepKind::RuntimeScalar ? "scalar:" + st.scalar_name : st.kernel->describe();
    j["backend"] = st.backend;
    if (st.node >= 0) {
      const ir::Node& n = g.node(st.node);
      j["op"] = ir::op_name(n.op);
      j["scope"] = n.scope;
      if (n.op == ir::OpKind::Fused) j["fused"] = {{"kind", n.attrs.s("kind")}, {"label", n.attrs.s("label")}};
    }
    for (int s : st.inputs) j["inputs"].push_back(slot(s));
    for (int s : st.outputs) j["outputs"].push_back(slot(s));
    steps.push_back(j);
  }
  return {{"steps", steps},
          {"kernels", p.kernel_steps()},
          {"reorders", p.convert_steps()},
          {"arena_bytes", p.arena_bytes},
          {"live_peak_bytes", p.live_peak_bytes()},
          {"dedicated_bytes", p.dedicated_bytes},
          {"scratch_bytes", p.scratch_bytes},
          {"persistent_bytes", p.persistent_bytes},
          {"peak_bytes", p.peak_bytes()},
          {"inplace_reuses", p.inplace_reuses}};
}

}  // namespace

Command register_dump(CLI::App& app) {
  auto* cmd = app.add_subcommand("dump", "Print a compilation stage (AST, IR, training graph, optimized, fused, plan)");
  auto o = std::make_shared<ModelOptions>();
  auto d = std::make_shared<DumpOptions>();
  add_model_options(cmd, *o);
  cmd->add_option("--stage", d->stage,
                  "ast; ir: the forward graph; train: the training (or, with --mode eval, inference) graph; opt: after "
                  "the optimization passes; fused: after fusion; plan: the executor's plan; device: the CUDA backend's kernels "
                  "(no GPU needed)")
      ->check(CLI::IsMember({"ast", "ir", "train", "eval", "opt", "fused", "plan", "device"}))
      ->default_val("ir");
  cmd->add_option("--format", d->format, "text, dot, svg (Graphviz) or json")
      ->check(CLI::IsMember({"text", "dot", "svg", "json"}))
      ->default_val("text");
  cmd->add_option("--mode", d->mode, "train: the training step; eval: the inference graph")
      ->check(CLI::IsMember({"train", "eval"}))
      ->default_val("train");
  cmd->add_option("-o,--output", d->out, "write to this file instead of stdout");
  cmd->add_option("--batch", d->batch, "batch size N")->default_val(1);
  cmd->add_option("--scope", d->scope, "only this stage or block, e.g. layer2.0");
  cmd->add_option("--print-after", d->print_after, "print the IR after this pass (repeatable)");
  cmd->add_flag("--print-after-all", d->print_after_all, "print the IR after every pass");
  cmd->add_flag("--time-passes", d->time_passes, "print the compile time of every stage to stderr");
  cmd->add_option("--passes", d->passes, "run only these passes (comma list; `none`, `all`)");
  add_remat_option(cmd, d->remat_min_mib);
  cmd->add_option("--backend", d->backends, "plan: executor backends in priority order");
  cmd->add_option("--precision", d->precision, "device: fp32, mixed_bf16 or mixed_fp16 (default: the recipe's)")
      ->check(CLI::IsMember({"fp32", "mixed_bf16", "mixed_fp16"}));
  cmd->add_flag("--summary", d->summary, "device: the table per kind of kernel only");
  cmd->add_flag("--sources", d->sources, "dot/svg: draw parameters, state and constants too");
  cmd->add_flag("--locations", d->locations, "annotate IR nodes with their DSL file:line");
  return [o, d]() -> int {
    passes::PhaseTimer timer;
    passes::PhaseTimer* t = d->time_passes ? &timer : nullptr;
    ModelFile mf(compile_options(*o));
    {
      passes::PhaseTimer::Scope time(t, "parse");
      if (!load(mf, *o)) return 1;
    }
    std::ofstream file;
    bool svg_to_file = d->format == "svg" && !d->out.empty();
    if (!d->out.empty() && !svg_to_file) {
      file.open(d->out);
      if (!file) {
        std::cerr << "acnn: error: cannot write `" << d->out << "`\n";
        return 1;
      }
    }
    std::ostream& out = d->out.empty() || svg_to_file ? std::cout : file;
    if (d->stage == "ast") {
      if (d->format != "text") {
        std::cerr << "acnn: error: the AST dumps as text only\n";
        return 2;
      }
      ast::print(out, *mf.module());
      return 0;
    }
    if (d->stage == "eval") d->stage = "train", d->mode = "eval";  // the older spelling
    if (d->stage == "device") {
#ifndef ACNN_HAVE_CUDA
      std::cerr << "acnn: error: --stage device needs the CUDA backend, and this acnn was built without it (no CUDA "
                   "toolkit or cuDNN at configure time)\n";
      return 2;
#endif
      if (d->format != "text") {
        std::cerr << "acnn: error: --stage device dumps as text only\n";
        return 2;
      }
    }
    std::string precision = d->precision;  // device: the option, else the recipe's
    auto fwd = forward_graph(mf, d->batch, t);
    std::unique_ptr<ir::Graph> g;
    std::unique_ptr<Executor> ex;
    Teacher teacher;
    std::ostringstream printed;  // --print-after output comes before the stage itself
    if (d->stage == "ir") {
      g = std::move(fwd);
    } else {
      elab::ValuePtr rv = mf.recipe();
      if (mf.diags().has_errors()) return 1;
      std::optional<Recipe> recipe;
      if (rv) recipe = recipe_from_value(*rv);
      if (precision.empty()) precision = recipe ? recipe->precision : "fp32";
      if (d->mode == "train") {
        TrainGraphOptions go = recipe ? TrainGraphOptions::from(*recipe) : default_train_options(*fwd);
        if (recipe) {
          teacher = load_teacher(*recipe, o->file, d->batch, t, o->model_args, fwd.get());
          go.teacher = teacher.graph.get();
        }
        go.timer = t;
        g = build_train_graph(*fwd, go);
      } else {
        passes::PhaseTimer::Scope time(t, "inference graph");
        ir::ValueId logits = fwd->output("output");
        bool classifier = logits != ir::kNoValue && fwd->type(logits).shape.size() == 2;
        g = build_eval_graph(*fwd, classifier, recipe ? recipe->zero_gamma : true);
      }
      if (d->stage != "train") {
        passes::PipelineOptions po;
        po.mode = d->mode == "train" ? passes::Mode::Train : passes::Mode::Eval;
        po.print_after = {d->print_after.begin(), d->print_after.end()};
        po.print_after_all = d->print_after_all;
        po.print_to = &printed;
        po.print_scope = d->scope;
        po.disabled = passes::disabled_from_list(d->passes);
        // The device stage shows what the GPU runs, with the GPU's remat default.
        if (d->stage == "device" && d->remat_min_mib < 0) po.remat_min_bytes = passes::kRematMinBytesCuda;
        po.set_remat_min_mib(d->remat_min_mib);
        po.stop_before_fusion = d->stage == "opt";
        po.timer = t;
        if (d->stage == "plan") {
          optimize_for_executor(*g, po, d->backends);
          ExecutorOptions eo;
          eo.backends = d->backends;
          eo.plan_only = true;
          passes::PhaseTimer::Scope time(t, "executor compile");
          ex = std::make_unique<Executor>(*g, eo);
        } else {
          passes::run_pipeline(*g, po);
        }
      }
    }
    if (d->format != "svg") out << printed.str();
    else std::cerr << printed.str();
    if (d->stage == "device") {
#ifdef ACNN_HAVE_CUDA
      cuda::Precision p = cuda::Precision::FP32;
      if (!cuda::parse_precision(precision, &p)) {
        std::cerr << "acnn: error: unknown precision `" << precision << "` (expected fp32, mixed_bf16 or mixed_fp16)\n";
        return 2;
      }
      cuda::DevicePlan plan;
      {
        passes::PhaseTimer::Scope time(t, "device plan");
        plan = cuda::plan_device(*g, p);
      }
      cuda::PlanReportOptions ro;
      ro.units = !d->summary;
      ro.scope = d->scope;
      out << cuda::plan_report(plan, ro);
#endif
    } else if (d->stage == "plan" && (d->format == "text" || d->format == "json")) {
      if (d->format == "json") out << plan_json(*ex).dump(1) << "\n";
      else out << ex->dump_plan();
    } else if (d->format == "text") {
      ir::PrintOptions po;
      po.locations = d->locations;
      po.sources = &mf.sources();
      po.scope = d->scope;
      ir::print_text(out, *g, po);
    } else if (d->format == "json") {
      ir::print_json(out, *g);
    } else {
      ir::DotOptions dopt;
      dopt.scope = d->scope;
      dopt.sources = d->sources;
      std::map<ir::NodeId, std::string> kernels;  // plan: each node's kernel
      if (ex)
        for (const Step& st : ex->plan().steps)
          if (st.kind == StepKind::Kernel && st.node >= 0) kernels[st.node] = st.kernel->describe() + (st.cached ? " (cached)" : "");
      if (ex) dopt.note = [&kernels](ir::NodeId id) {
        auto it = kernels.find(id);
        return it == kernels.end() ? std::string() : it->second;
      };
      std::ostringstream dot;
      ir::print_dot(dot, ex ? ex->graph() : *g, dopt);
      if (d->format == "dot") out << dot.str();
      else if (int rc = render_svg(dot.str(), d->out); rc != 0) return rc;
    }
    if (t) {
      std::cerr << "compile times (" << o->file << ", stage " << d->stage << ", mode " << d->mode << ", batch "
                << d->batch << "):\n";
      timer.print(std::cerr);
    }
    return 0;
  };
}

}  // namespace acnn::cli
