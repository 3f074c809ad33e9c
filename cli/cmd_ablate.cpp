// `acnn ablate FILES...`: trains each model file in turn (or reuses its
// finished run in runs/<name>/ when the recipe and network are unchanged,
// unless --retrain), evaluates it on the clean and the corrupted evaluation
// sets, measures inference throughput, and prints a table like the paper's
// Table 7 (model, regularization, epochs, top-1, mCE, img/s, with deltas to
// the previous row), also written to RUNS/<out>.md and RUNS/<out>.json. mCE is
// normalized by --baseline, else by AlexNet on ImageNet, else by the first
// row (which then reads 100). Distillation teachers are prepared on the way:
// a teacher checkpoint of the form RUNS/<name>/last.safetensors that does not
// exist yet is trained from the teacher's model file, and missing
// precomputed logits (distill.logits) are computed from that teacher.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <sstream>

#include "cli/training.h"
#include "compiler/ir/printer.h"
#include "compiler/train/model_graphs.h"
#include "runtime/train/ablation.h"
#include "runtime/train/atomic_file.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/robustness.h"
#include "runtime/train/teacher_logits.h"

namespace fs = std::filesystem;

namespace acnn::cli {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct AblateOptions {
  std::vector<std::string> files;
  bool retrain = false, quiet = false, remeasure = false;
  std::string out = "ablation", baseline, severities = "1,2,3,4,5";
  int64_t corruption_limit = 1000, throughput_batch = 64;
  double throughput_seconds = 3.0;
};

std::string hex(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// Recipe fingerprint plus a hash of the network's IR: a finished row is
// reused only when both are unchanged.
std::string row_hash(ModelFile& mf, const Recipe& r) {
  std::ostringstream ir;
  auto g = forward_graph(mf, 1);
  ir::print_text(ir, *g);
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : ir.str()) h = (h ^ c) * 1099511628211ull;
  return train::recipe_fingerprint(r) + "-" + hex(h);
}

// The last checkpoint's training state, if any.
std::optional<train::TrainState> last_state(const fs::path& run_dir) {
  fs::path last = run_dir / "last.safetensors";
  if (!fs::exists(last)) return std::nullopt;
  return train::state_from_metadata(train::load_safetensors_metadata(last.string()), last.string());
}

// Trains `file`'s model with `r` into RUNS/<name>, resuming an unfinished run
// of the same recipe; returns the checkpoint. Does nothing when the run is
// already complete.
train::TrainResult train_run(ModelFile& mf, const Recipe& r, const std::string& file, const std::string& name,
                             const train::TrainOptions& base, bool retrain) {
  train::TrainOptions t = base;
  t.run_name = name;
  t.model_path = file;
  fs::path dir = fs::path(t.runs_dir) / name;
  std::optional<train::TrainState> st = retrain ? std::nullopt : last_state(dir);
  train::TrainResult res;
  if (st && st->recipe_hash == train::recipe_fingerprint(r) && st->epoch >= r.epochs) {
    res.checkpoint = (dir / "last.safetensors").string();
    res.epochs_done = st->epoch;
    return res;  // trained, but its evaluation was not finished
  }
  if (st && st->recipe_hash == train::recipe_fingerprint(r)) {
    t.resume = true;
  } else {
    std::error_code ec;  // a stale run of another recipe: its metrics and reports go
    for (const char* f : {"metrics.jsonl", "last.robustness.json", "ablation_row.json"}) fs::remove(dir / f, ec);
  }
  res = train::train(mf, r, t);
  if (res.interrupted) throw std::runtime_error("interrupted; run the same command again to continue");
  return res;
}

// Makes what a distillation recipe needs and does not find: the teacher's
// checkpoint (trained from its model file) and precomputed logits.
void prepare_distillation(const Recipe& r, const std::string& file, const train::TrainOptions& base) {
  if (!r.distill.enabled()) return;
  const auto& d = r.distill;
  if (d.teacher.empty() || d.teacher_checkpoint.empty()) {
    if (!d.logits.empty() && !fs::exists(d.logits))
      throw std::runtime_error(d.logits + " does not exist and the recipe names no teacher (distill.teacher and "
                               "distill.teacher_checkpoint) to compute it from");
    return;
  }
  fs::path ck(d.teacher_checkpoint);
  bool in_run_dir = ck.filename() == "last.safetensors";
  if (!in_run_dir && !fs::exists(ck))
    throw std::runtime_error("the teacher checkpoint " + d.teacher_checkpoint +
                             " does not exist; train the teacher first (ablate trains it only when the path is "
                             "RUNS/<name>/last.safetensors)");
  fs::path tp = resolve_teacher_path(d.teacher, file);
  ModelFile tmf;
  ModelOptions mo;
  mo.file = tp.string();
  std::optional<Recipe> tr = load_with_recipe(tmf, mo, {});
  if (!tr) throw std::runtime_error("cannot load the distillation teacher " + tp.string());
  if (in_run_dir) {
    // Train (or finish training) the teacher unless its run is complete.
    std::optional<train::TrainState> st = last_state(ck.parent_path());
    if (!st || st->recipe_hash != train::recipe_fingerprint(*tr) || st->epoch < tr->epochs) {
      train::TrainOptions t = base;
      t.runs_dir = ck.parent_path().parent_path().string();
      if (t.runs_dir.empty()) t.runs_dir = ".";
      std::cerr << "acnn: ablate: training the distillation teacher " << tp.string() << " into "
                << ck.parent_path().string() << "\n";
      train_run(tmf, *tr, tp.string(), ck.parent_path().filename().string(), t, false);
    }
  }
  // (Re)compute the logits when missing or older than the teacher's weights.
  if (d.logits.empty() || (fs::exists(d.logits) && fs::last_write_time(d.logits) >= fs::last_write_time(ck))) return;
  if (tr->data.set != r.data.set || tr->data.classes != r.data.classes)
    throw std::runtime_error("the teacher " + tp.string() + " is trained on another data set than the student");
  Recipe lr = *tr;
  lr.data.path = r.data.path;  // the student's examples, in the student's order
  lr.data.limit_train = r.data.limit_train;
  train::TeacherLogitsOptions lo;
  lo.checkpoint = d.teacher_checkpoint;
  static_cast<train::RunSetup&>(lo) = base;
  std::cerr << "acnn: ablate: computing teacher logits " << d.logits << "\n";
  train::TeacherLogitsResult res = train::compute_teacher_logits(tmf, lr, lo);
  if (fs::path(d.logits).has_parent_path()) fs::create_directories(fs::path(d.logits).parent_path());
  train::save_teacher_logits(d.logits, res.logits,
                             {{"acnn.teacher", tp.string()}, {"acnn.teacher_checkpoint", d.teacher_checkpoint},
                              {"acnn.data", res.description}, {"acnn.train_top1", std::to_string(res.top1)}});
  std::cerr << "acnn: ablate: teacher training-set top-1 " << 100 * res.top1 << "%\n";
}

void measure_throughput(train::AblationRow& row, ModelFile& mf, const Recipe& r, const AblateOptions& a,
                        const train::TrainOptions& base) {
  train::Evaluator ev(mf, r, a.throughput_batch, base);
  ev.load_checkpoint(row.checkpoint);
  row.images_per_s = ev.throughput(a.throughput_seconds);
  row.throughput_batch = a.throughput_batch;
}

train::AblationRow run_row(const std::string& file, const AblateOptions& a, const train::TrainOptions& base) {
  ModelFile mf;
  ModelOptions mo;
  mo.file = file;
  std::optional<Recipe> r = load_with_recipe(mf, mo, {});
  if (!r) throw FatalError();
  std::string name = r->name.empty() ? fs::path(file).stem().string() : r->name;
  fs::path dir = fs::path(base.runs_dir) / name;
  std::string hash = row_hash(mf, *r);
  if (!a.retrain) {
    std::optional<train::AblationRow> done = train::read_row((dir / "ablation_row.json").string());
    if (done && done->recipe_hash == hash && fs::exists(done->report)) {
      std::cerr << "acnn: ablate: " << file << ": reusing the finished run " << dir.string() << "\n";
      done->reused = true;
      done->file = file;
      if (a.remeasure) {
        measure_throughput(*done, mf, *r, a, base);
        train::write_file_atomic((dir / "ablation_row.json").string(), train::row_json(*done));
      }
      return *done;
    }
  }
  prepare_distillation(*r, file, base);
  std::cerr << "acnn: ablate: " << file << ": training " << name << "\n";
  train::TrainResult tr = train_run(mf, *r, file, name, base, a.retrain);

  train::AblationRow row;
  row.file = file;
  row.name = name;
  row.model = train::network_label(*mf.model());
  row.regularization = train::regularization_label(*r);
  row.epochs = r->epochs;
  row.recipe_hash = hash;
  row.checkpoint = tr.checkpoint;
  row.train_seconds = tr.seconds;
  row.train_images_per_s = tr.images_per_s;
  {
    train::Evaluator ev(mf, *r, r->batch, base);
    ev.load_checkpoint(row.checkpoint);
    train::RobustnessOptions ro;
    ro.severities = train::parse_severities(a.severities);
    ro.limit = a.corruption_limit;
    if (tr.eval.examples > 0) ro.clean = tr.eval;  // the trainer's final evaluation, same weights and set
    train::RobustnessReport rep = train::evaluate_robustness(ev, *r, ro);
    rep.model = file;
    rep.checkpoint = row.checkpoint;
    row.report = train::report_path_for(row.checkpoint);
    train::save_report(row.report, rep);
    row.top1 = rep.clean.top1;
    row.mean_corruption_error = rep.mean_error;
  }
  measure_throughput(row, mf, *r, a, base);
  train::write_file_atomic((dir / "ablation_row.json").string(), train::row_json(row));
  std::fprintf(stderr, "acnn: ablate: %s: top-1 %.2f%%, mean corruption error %.2f%%, %.0f img/s\n", name.c_str(),
               100 * row.top1, 100 * row.mean_corruption_error, row.images_per_s);
  return row;
}

}  // namespace

Command register_ablate(CLI::App& app) {
  auto* cmd = app.add_subcommand("ablate", "Train model files in turn and print an ablation table like the paper's "
                                           "Table 7 (top-1, mCE, img/s, deltas to the previous row)");
  auto a = std::make_shared<AblateOptions>();
  auto t = std::make_shared<train::TrainOptions>();
  cmd->add_option("files", a->files, "model files, one table row each, in order")->required();
  add_run_options(cmd, *t);
  cmd->add_option("--runs", t->runs_dir, "directory of runs")->default_val("runs");
  cmd->add_flag("--retrain", a->retrain, "train every row again even when a finished run exists");
  cmd->add_option("--out", a->out, "table name: writes RUNS/OUT.md and RUNS/OUT.json")->default_val("ablation");
  cmd->add_option("--baseline", a->baseline, "normalize mCE by this robustness report (default: the first row)");
  cmd->add_option("--severities", a->severities, "corruption severities")->default_val("1,2,3,4,5");
  cmd->add_option("--corruption-limit", a->corruption_limit,
                  "examples per corruption and severity (0: the whole evaluation set)")->default_val(1000);
  cmd->add_option("--throughput-batch", a->throughput_batch, "batch size of the inference throughput")->default_val(64);
  cmd->add_flag("--remeasure-throughput", a->remeasure,
                "measure the inference throughput of reused rows again (e.g. on a quieter machine)");
  cmd->add_flag("--no-progress", a->quiet, "plain log lines instead of progress bars");
  return [a, t]() -> int {
    auto t0 = Clock::now();
    t->progress = !a->quiet;
    std::vector<train::AblationRow> rows;
    std::string data_set;
    for (const std::string& f : a->files) {
      rows.push_back(run_row(f, *a, *t));
      if (data_set.empty()) data_set = train::read_report(rows.back().report).data;
    }
    // mCE: normalized by the chosen baseline, AlexNet on ImageNet, else the first row.
    std::string baseline = a->baseline;
    if (baseline.empty() && data_set != "imagenet") baseline = rows.front().report;
    std::string note;
    for (train::AblationRow& row : rows) {
      train::RobustnessReport rep = train::read_report(row.report);
      train::normalize_report(rep, data_set, baseline);
      row.mce = rep.mce;
      note = rep.normalization == "baseline" ? "corruption errors relative to " + baseline
             : rep.normalization == "alexnet" ? "AlexNet's ImageNet-C errors"
                                              : "unnormalized mean corruption error";
    }
    double wall = since(t0);
    std::string md = train::ablation_markdown(rows);
    char tail[512];
    std::snprintf(tail, sizeof tail,
                  "\nmCE: %s (%s severities, %lld examples per corruption and severity). img/s: inference, batch "
                  "%lld, fp32 on this machine. Wall time %.0f s.\n",
                  note.c_str(), a->severities.c_str(), static_cast<long long>(a->corruption_limit),
                  static_cast<long long>(a->throughput_batch), wall);
    std::cout << md << tail;
    fs::create_directories(t->runs_dir);
    train::write_file_atomic((fs::path(t->runs_dir) / (a->out + ".md")).string(), md + tail);
    train::write_file_atomic((fs::path(t->runs_dir) / (a->out + ".json")).string(), train::ablation_json(rows, wall, note));
    return 0;
  };
}

}  // namespace acnn::cli
