#include "runtime/train/evaluator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "compiler/train/model_graphs.h"
#include "compiler/train/train_graph.h"
#include "runtime/eval/metrics.h"
#include "runtime/optimize.h"
#include "runtime/train/checkpoint.h"

namespace acnn::train {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Softmax cross entropy of row i of logits [n, k] against `label`.
double row_loss(const Tensor& logits, int64_t i, int64_t label) {
  int64_t k = logits.dim(1);
  double mx = -1e300, z = 0;
  for (int64_t j = 0; j < k; ++j) mx = std::max(mx, logits.at(i * k + j));
  for (int64_t j = 0; j < k; ++j) z += std::exp(logits.at(i * k + j) - mx);
  return std::log(z) + mx - logits.at(i * k + label);
}

}  // namespace

void optimize_graph(ir::Graph& g, const RunSetup& s, passes::Mode mode, passes::PhaseTimer* timer) {
  passes::PipelineOptions po;
  po.mode = mode;
  po.disabled = passes::disabled_from_list(s.passes);
  if (s.no_fuse) po.disabled.insert("fusion");
  po.set_remat_min_mib(s.remat_min_mib);
  po.timer = timer;
  // On the GPU the CUDA lowering takes every fused kind (or inlines it);
  // on the CPU, kinds no fast backend runs are expanded back.
  if (resolve_device(s.device) == "cuda") {
    if (s.remat_min_mib < 0) po.remat_min_bytes = passes::kRematMinBytesCuda;
    passes::run_pipeline(g, po);
  } else {
    optimize_for_executor(g, po, s.backends);
  }
}

RunnerOptions runner_options(const RunSetup& s, const std::string& precision, uint64_t seed) {
  RunnerOptions e;
  e.device = s.device;
  e.backends = s.backends;
  e.seed = seed;
  e.precision = precision;
  e.profile = s.profile;
  return e;
}

int load_tensors(Runner& ex, const TensorMap& tensors, const std::string& prefix, const std::string& file) {
  int loaded = 0;
  for (const std::string& name : ex.persistent_names()) {
    if (name.rfind(prefix, 0) != 0) continue;
    auto it = tensors.find(name.substr(prefix.size()));
    if (it == tensors.end()) continue;
    Tensor want = ex.get_persistent(name);
    if (it->second.shape() != want.shape() || it->second.dtype() != want.dtype())
      throw std::runtime_error(file + ": `" + it->first + "` is " + type_str(it->second.dtype(), it->second.shape()) +
                               " but the model needs " + type_str(want.dtype(), want.shape()));
    ex.set_persistent(name, it->second);
    ++loaded;
  }
  return loaded;
}

Tensor pad_rows(const Tensor& t, int64_t n) {
  if (t.dim(0) == n) return t;
  Shape s = t.shape();
  s[0] = n;
  Tensor out(t.dtype(), s);
  std::memset(out.raw(), 0, out.bytes());
  std::memcpy(out.raw(), t.raw(), t.bytes());
  return out;
}

Evaluator::Evaluator(ModelFile& mf, const Recipe& r, int64_t batch, const RunSetup& setup, passes::PhaseTimer* timer)
    : batch_(batch), seed_(static_cast<uint64_t>(r.seed)), workers_(static_cast<int>(std::max<int64_t>(0, r.data.workers - 1))),
      threads_(setup.threads) {
  auto fwd = forward_graph(mf, batch, timer);
  graph_ = build_eval_graph(*fwd, /*with_loss=*/false, r.zero_gamma);
  const Shape& out = graph_->type(graph_->output("logits")).shape;
  if (out.size() != 2) throw std::invalid_argument("evaluation needs logits [N, classes], got " + shape_str(out));
  classes_ = out[1];
  optimize_graph(*graph_, setup, passes::Mode::Eval, timer);
  passes::PhaseTimer::Scope time(timer, "executor compile (eval)");
  exec_ = make_runner(*graph_, runner_options(setup, r.precision, seed_));
}

void Evaluator::copy_weights_from(const Runner& train) {
  for (const std::string& name : exec_->persistent_names())
    if (train.has_persistent(name)) exec_->set_persistent(name, train.get_persistent(name));
}

void Evaluator::load_checkpoint(const std::string& path) {
  Checkpoint c = train::load_checkpoint(path);
  load_tensors(*exec_, c.tensors, "", path);
  std::vector<std::string> missing;
  for (const std::string& name : exec_->persistent_names())
    if (!c.tensors.count(name)) missing.push_back(name);
  if (!missing.empty())
    throw std::runtime_error(path + " lacks " + std::to_string(missing.size()) + " of the model's tensors (first: `" +
                             missing[0] + "`); is it a checkpoint of this model?");
}

EvalResult Evaluator::run(std::shared_ptr<const data::Dataset> ds, std::shared_ptr<const data::Pipeline> pipe,
                          const LogitsSink& sink) {
  auto t0 = Clock::now();
  data::LoaderConfig lc;
  lc.batch_size = static_cast<int>(batch_);
  lc.shuffle = false;
  lc.drop_last = false;
  lc.seed = seed_;
  lc.threads = workers_;
  data::DataLoader loader(std::move(ds), std::move(pipe), lc);
  loader.start_epoch(0);
  eval::AccuracyMeter meter;
  double loss_sum = 0;
  ExecContext ctx;
  ctx.training = false;
  ctx.threads = threads_;
  ctx.seed = seed_;
  while (auto b = loader.next()) {
    const int64_t n = b->size();
    auto out = exec_->run({{"image", pad_rows(b->images, batch_)}}, ctx);
    const Tensor& logits = out.at("logits");
    Tensor valid = logits;
    if (n < batch_) {
      valid = Tensor(DType::F32, {n, logits.dim(1)});
      std::memcpy(valid.raw(), logits.raw(), valid.bytes());
    }
    meter.add(valid, b->labels);
    for (int64_t i = 0; i < n; ++i) loss_sum += row_loss(valid, i, static_cast<int64_t>(b->labels.at(i)));
    if (sink) sink(*b, valid);
  }
  EvalResult res;
  res.examples = meter.counts().count;
  res.top1 = meter.top1();
  res.top5 = meter.top5();
  res.loss = res.examples ? loss_sum / static_cast<double>(res.examples) : 0;
  res.seconds = since(t0);
  return res;
}

double Evaluator::throughput(double seconds) {
  const ir::ValueType* in = nullptr;
  for (const ir::Node& n : graph_->nodes())
    if (!n.dead && n.op == ir::OpKind::Input && n.attrs.s("name") == "image") in = &graph_->type(n.outputs[0]);
  if (!in) throw std::invalid_argument("the network has no input `image`");
  Tensor x(DType::F32, in->shape);
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, 2.0 * uniform01(counter_hash(seed_, 0, 0x7e57, i)) - 1.0);
  ExecContext ctx;
  ctx.training = false;
  ctx.threads = threads_;
  exec_->run({{"image", x}}, ctx);  // warm-up: first-run allocations and primitive creation
  // The fastest of the runs in the window: on a shared machine the others
  // measure the neighbours as much as the network.
  int64_t runs = 0;
  double best = 1e300;
  auto t0 = Clock::now();
  do {
    auto t = Clock::now();
    exec_->run({{"image", x}}, ctx);
    best = std::min(best, since(t));
    ++runs;
  } while (since(t0) < seconds || runs < 3);
  return static_cast<double>(batch_) / best;
}

}  // namespace acnn::train
