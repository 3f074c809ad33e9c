#include "runtime/train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "compiler/passes/pipeline.h"
#include "compiler/train/model_graphs.h"
#include "compiler/train/train_graph.h"
#include "runtime/data/loader.h"
#include "runtime/data/mixup.h"
#include "runtime/eval/metrics.h"
#include "runtime/runner.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/data_setup.h"
#include "runtime/train/interrupt.h"
#include "runtime/train/metrics.h"
#include "runtime/train/progress.h"
#include "runtime/train/safetensors.h"
#include "runtime/train/schedule.h"
#include "runtime/train/teacher_logits.h"

namespace fs = std::filesystem;

namespace acnn::train {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

LrSchedule lr_schedule(const Recipe& r) {
  LrSchedule s;
  if (!parse_lr_kind(r.schedule.kind, &s.kind)) throw std::invalid_argument("unknown schedule `" + r.schedule.kind + "`");
  s.base_lr = r.optimizer.lr;
  s.warmup_epochs = r.schedule.warmup_epochs;
  s.step_epochs = static_cast<double>(r.schedule.step_epochs);
  for (int64_t m : r.schedule.milestones) s.milestones.push_back(static_cast<double>(m));
  s.gamma = r.schedule.gamma;
  s.total_epochs = static_cast<double>(r.epochs);
  s.floor = r.schedule.final_lr;
  s.validate();
  return s;
}

// A permutation of [0, n) drawn from (seed, step): the partner of each example
// in shuffle mixup.
std::vector<int64_t> permutation(int64_t n, uint64_t seed, int64_t step) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(counter_hash(seed, step, 0x5eed, i) % static_cast<uint64_t>(i + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& rows) {
  Tensor out(t.dtype(), t.shape());
  size_t row = t.bytes() / static_cast<size_t>(t.dim(0));
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(static_cast<char*>(out.raw()) + i * row, static_cast<const char*>(t.raw()) + rows[i] * row, row);
  return out;
}

bool is_teacher(const std::string& name) { return name.rfind("teacher.", 0) == 0; }

TensorMap checkpoint_tensors(const Runner& ex) {
  TensorMap out;
  for (auto& [name, t] : ex.persistent())
    if (!is_teacher(name)) out[name] = t;
  return out;
}

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100.0 * x);
  return buf;
}

}  // namespace

// A stable fingerprint of everything in the recipe that changes the math.
std::string recipe_fingerprint(const Recipe& r) {
  std::ostringstream s;
  s.precision(17);
  s << summarize(r) << '|' << r.data.path << '|' << r.data.limit_train << '|' << r.augment.pad_crop << r.augment.flip
    << r.augment.random_resized_crop << '|' << r.schedule.final_lr << '|' << r.schedule.gamma << '|' << r.seed << '|'
    << r.optimizer.decay_bn_and_bias << '|' << r.distill.weight << '|' << r.dropblock_keep << '|' << r.distill.teacher
    << '|' << r.distill.logits << '|' << r.augment.autoaugment_fill;
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s.str()) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

TrainResult train(ModelFile& mf, const Recipe& r, const TrainOptions& opts) {
  auto t_start = Clock::now();
  if (r.batch < 1 || r.epochs < 1) throw std::invalid_argument("the recipe needs batch >= 1 and epochs >= 1");
  const std::string device = resolve_device(opts.device);
  if (r.precision != "fp32" && device == "cpu")
    std::cerr << "acnn: note: precision " << r.precision << " applies on the GPU; the CPU trains in fp32\n";
  const uint64_t seed = static_cast<uint64_t>(r.seed);

  // ---- data
  DataSets data = load_datasets(r);
  data::LoaderConfig lc;
  lc.batch_size = static_cast<int>(r.batch);
  lc.shuffle = true;
  lc.drop_last = true;
  lc.seed = seed;
  lc.threads = static_cast<int>(std::max<int64_t>(0, r.data.workers - 1));
  auto pipe = train_pipeline(r);
  data::DataLoader loader(data.train, pipe, lc);
  std::unique_ptr<data::DataLoader> loader_b;  // the second minibatch of mixup type 1
  if (r.mixup_on() && r.mixup.type == "batches") {
    data::LoaderConfig lb = lc;
    lb.seed = seed ^ 0x9e3779b97f4a7c15ull;
    loader_b = std::make_unique<data::DataLoader>(data.train, pipe, lb);
  }
  const int64_t steps_per_epoch = loader.batches_per_epoch();
  if (steps_per_epoch == 0)
    throw std::invalid_argument("the training set (" + std::to_string(data.train->size()) +
                                " examples) is smaller than one batch of " + std::to_string(r.batch));

  // ---- graphs
  passes::PhaseTimer timer;
  passes::PhaseTimer* t = opts.time_passes ? &timer : nullptr;
  if (t && opts.parse_seconds > 0) t->add("parse", opts.parse_seconds);
  TrainGraphOptions go = TrainGraphOptions::from(r);
  go.loss_scaling = device == "cuda" && r.precision == "mixed_fp16";
  go.timer = t;
  auto fwd = forward_graph(mf, r.batch, t);
  std::optional<TeacherLogits> teacher_logits;
  if (r.distill.enabled() && !r.distill.logits.empty())
    // Precomputed logits win over a teacher model file: no teacher pass per step.
    teacher_logits = TeacherLogits::load(r.distill.logits, r.data.classes, static_cast<int64_t>(data.train->size()));
  Teacher teacher = load_teacher(r, opts.model_path, r.batch, t, opts.model_args, fwd.get());
  go.teacher = teacher.graph.get();
  const ir::Graph* teacher_graph = teacher.graph.get();
  auto train_graph = build_train_graph(*fwd, go);
  optimize_graph(*train_graph, opts, passes::Mode::Train, t);
  std::unique_ptr<Runner> exec_ptr;
  {
    passes::PhaseTimer::Scope time(t, "executor compile");
    exec_ptr = make_runner(*train_graph, runner_options(opts, r.precision, seed));
  }
  Runner& exec = *exec_ptr;
  // Made at the first evaluation (a short smoke run may have none), or now
  // when compile times are reported.
  std::unique_ptr<Evaluator> evaluator;
  if (t) {
    evaluator = std::make_unique<Evaluator>(mf, r, r.batch, opts, t);
    std::cerr << "acnn: compile times:\n";
    timer.print(std::cerr);
    if (const std::string cr = exec.compile_report(); !cr.empty()) std::cerr << "acnn: " << cr << "\n";
  }

  // ---- run directory and state
  std::string name = opts.run_name;
  if (name.empty()) name = r.name.empty() ? fs::path(opts.model_path).stem().string() : r.name;
  RunDirectory run(fs::path(opts.runs_dir) / name);
  TrainState st;
  st.seed = seed;
  st.recipe_hash = recipe_fingerprint(r);
  if (!opts.init_checkpoint.empty()) {
    Checkpoint c = load_checkpoint(opts.init_checkpoint);
    int n = load_tensors(exec, c.tensors, "", opts.init_checkpoint);
    std::cerr << "acnn: initialized " << n << " tensors from " << opts.init_checkpoint << "\n";
  }
  if (teacher_graph) {
    if (r.distill.teacher_checkpoint.empty()) {
      std::cerr << "acnn: warning: the distillation teacher has no checkpoint (distill.teacher_checkpoint): it runs "
                   "with freshly initialized weights\n";
    } else {
      Checkpoint c = load_checkpoint(r.distill.teacher_checkpoint);
      int n = load_tensors(exec, c.tensors, "teacher.", r.distill.teacher_checkpoint);
      int want = 0;
      for (const std::string& t : exec.persistent_names()) want += is_teacher(t);
      if (n != want)
        throw std::runtime_error(r.distill.teacher_checkpoint + " has " + std::to_string(n) + " of the teacher's " +
                                 std::to_string(want) + " tensors; is it a checkpoint of " + r.distill.teacher + "?");
    }
  }
  if (opts.resume) {
    auto path = run.resume_path();
    if (!path) throw std::runtime_error("nothing to resume in " + run.dir().string() + "; start without --resume");
    Checkpoint c = load_checkpoint(path->string());
    if (!c.state) throw std::runtime_error(path->string() + " holds weights but no training state; use --init instead");
    if (c.state->recipe_hash != st.recipe_hash)
      throw std::runtime_error("the recipe changed since " + path->string() +
                               " was written; resume needs the same recipe (or start a new run with --name)");
    for (const std::string& n : exec.persistent_names())
      if (!is_teacher(n) && !c.tensors.count(n)) throw std::runtime_error(path->string() + " lacks `" + n + "`");
    load_tensors(exec, c.tensors, "", path->string());
    st = *c.state;
    std::cerr << "acnn: resuming " << name << " at epoch " << st.epoch + 1 << ", step " << st.step_in_epoch << "\n";
  }
  MetricsWriter metrics(run.metrics_path().string(),
                        opts.resume ? std::optional<int64_t>(st.global_step) : std::optional<int64_t>());

  LrSchedule sched = lr_schedule(r);
  ProgressOptions po;
  po.out = stderr;
  if (!opts.progress) po.tty = false, po.log_every = steps_per_epoch;  // one plain line per epoch
  ProgressBar progress(r.epochs, po);
  progress.print("acnn: training " + fwd->name + " on " + data.description + " (" + exec.device() + ")\n      " + summarize(r) + "\n      " +
                 std::to_string(steps_per_epoch) + " steps per epoch; checkpoints and metrics in " + run.dir().string());
  InterruptHandler interrupt;

  ExecContext ctx;
  ctx.seed = seed;
  ctx.threads = opts.threads;
  TrainResult result;
  result.run_dir = run.dir().string();
  auto save = [&](bool epoch_end) {
    TensorMap t = checkpoint_tensors(exec);
    if (epoch_end) run.save_epoch(st.epoch, t, st);
    else run.save_last(t, st);
    result.checkpoint = run.last_path().string();
  };

  bool stop = false;
  while (st.epoch < r.epochs && !stop) {
    // Resuming mid-epoch starts at the first batch not yet trained on.
    loader.start_epoch(st.epoch, st.step_in_epoch);
    if (loader_b) loader_b->start_epoch(st.epoch, st.step_in_epoch);
    progress.start_epoch(st.epoch, steps_per_epoch, st.step_in_epoch);
    double loss_sum = 0;
    int64_t loss_count = 0;
    auto epoch_t0 = Clock::now();
    for (; st.step_in_epoch < steps_per_epoch; ) {
      std::optional<data::Batch> batch = loader.next();
      if (!batch) break;
      std::map<std::string, Tensor> feeds = {{"image", batch->images}, {"labels", batch->labels}};
      double lr = sched.at(st.epoch, st.step_in_epoch, steps_per_epoch);
      ctx.scalars["lr"] = static_cast<float>(lr);
      double t = fractional_epoch(st.epoch, st.step_in_epoch, steps_per_epoch);
      ctx.scalars["dropblock_keep"] = static_cast<float>(dropblock_keep_prob(t, static_cast<double>(r.epochs), r.dropblock_keep));
      if (teacher_logits) feeds["teacher_logits"] = teacher_logits->gather(batch->indices);
      if (r.mixup_on()) {
        ctx.scalars["mixup_lambda"] = static_cast<float>(data::mixup_lambda(r.mixup.alpha, seed, st.global_step));
        if (loader_b) {
          std::optional<data::Batch> other = loader_b->next();
          feeds["image_b"] = other->images;
          feeds["labels_b"] = other->labels;
          if (teacher_logits) feeds["teacher_logits_b"] = teacher_logits->gather(other->indices);
        } else {
          std::vector<int64_t> perm = permutation(batch->size(), seed, st.global_step);
          feeds["image_b"] = gather_rows(batch->images, perm);
          feeds["labels_b"] = gather_rows(batch->labels, perm);
          if (teacher_logits) feeds["teacher_logits_b"] = gather_rows(feeds["teacher_logits"], perm);
        }
      }
      ctx.step = st.global_step;
      ctx.training = true;
      auto out = exec.run(feeds, ctx);
      double loss = out.at("loss").at(0);
      if (!std::isfinite(loss))
        throw std::runtime_error("the loss became " + std::to_string(loss) + " at epoch " + std::to_string(st.epoch + 1) +
                                 ", step " + std::to_string(st.step_in_epoch + 1) + "; try a lower learning rate");
      loss_sum += loss;
      ++loss_count;
      ++st.step_in_epoch;
      ++st.global_step;
      progress.step(loss, batch->size(), lr);
      if (opts.log_every > 0 && st.global_step % opts.log_every == 0) {
        StepRecord rec{st.epoch + 1, st.step_in_epoch, st.global_step, loss, lr, progress.images_per_second()};
        metrics.log_step(rec);
      }
      if (opts.on_step) opts.on_step(st.global_step);
      if (InterruptHandler::requested()) {
        save(false);
        progress.print(std::string("acnn: interrupted (") + signal_name(InterruptHandler::signal_number()) + "); saved " +
                       run.last_path().string() + "; continue with --resume");
        result.interrupted = true;
        stop = true;
        break;
      }
      if (opts.checkpoint_every > 0 && st.global_step % opts.checkpoint_every == 0) save(false);
      if (opts.max_steps > 0 && st.global_step >= opts.max_steps) {
        save(false);
        stop = true;
        break;
      }
    }
    if (stop && st.step_in_epoch < steps_per_epoch) break;
    // End of the epoch: evaluate and checkpoint.
    EpochRecord er;
    er.epoch = st.epoch + 1;
    er.global_step = st.global_step;
    if (loss_count) er.train_loss = loss_sum / static_cast<double>(loss_count);
    er.epoch_time_s = since(epoch_t0);
    er.images_per_s = progress.images_per_second();
    result.images_per_s = progress.images_per_second();
    std::string summary;
    bool last_epoch = st.epoch + 1 == r.epochs;
    if (last_epoch || (r.eval_every > 0 && (st.epoch + 1) % r.eval_every == 0)) {
      if (!evaluator) evaluator = std::make_unique<Evaluator>(mf, r, r.batch, opts);
      evaluator->copy_weights_from(exec);
      result.eval = evaluator->run(data.eval, eval_pipeline(r));
      er.val_loss = result.eval.loss;
      er.top1 = result.eval.top1;
      er.top5 = result.eval.top5;
      summary = "eval top-1 " + percent(result.eval.top1) + ", top-5 " + percent(result.eval.top5) + ", loss " +
                format_loss(result.eval.loss);
      if (std::isnan(st.best_metric) || result.eval.top1 > st.best_metric) st.best_metric = result.eval.top1;
      st.best_metric_name = "val_top1";
    }
    metrics.log_epoch(er);
    progress.finish_epoch(summary);
    ++st.epoch;  // the checkpoint resumes at the start of the next epoch
    st.step_in_epoch = 0;
    save(true);
    result.epochs_done = st.epoch;
  }
  result.global_step = st.global_step;
  result.seconds = since(t_start);
  if (opts.profile) progress.print(exec.time_report(25));
  return result;
}

EvalResult evaluate(ModelFile& mf, const Recipe& r, const std::string& checkpoint, const TrainOptions& opts,
                    const std::string& corruption, int severity) {
  DataSets data = load_datasets(r);
  Evaluator ev(mf, r, r.batch, opts);
  if (!checkpoint.empty()) ev.load_checkpoint(checkpoint);
  return ev.run(data.eval, eval_pipeline(r, corruption, severity));
}


}  // namespace acnn::train
