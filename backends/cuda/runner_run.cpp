// CudaRunner at run time: staging feeds and outputs, CUDA graph capture and
// replay, the persistent-tensor API, timers, the per-kernel profile against
// the plan's floor, memory and the plan dump.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "backends/cuda/nvrtc.h"
#include "backends/cuda/plan_report.h"
#include "backends/cuda/runner.h"
#include "compiler/ir/op.h"

namespace acnn::cuda {

void* CudaRunner::slot_ptr(int s, int parity) const {
  const Slot& r = slots_[root(s)];
  switch (r.home) {
    case Home::Arena: return arena_ + r.offset;
    case Home::Persistent: return persist_ + r.offset;
    case Home::Constant:
    case Home::Dedicated: return dedicated_ + r.offset;
    case Home::Feed: return feed_dev_[parity] + r.offset;
    case Home::Alias: break;
  }
  throw std::logic_error("CUDA runner: an unresolved alias");
}

void CudaRunner::enqueue_steps(int parity, bool timed) {
  LaunchCtx c{*dev_, dev_->compute, params_dev_[parity], status_dev_, workspace_, workspace_bytes_, &host_ctx_, dev_->cudnn};
  ACNN_CUDA(cudaMemsetAsync(&status_dev_->label_error, 0, sizeof(int), dev_->compute));
  // Two streams (streams.h), except when profiling: the second forks from
  // the compute stream here and joins it at the end, so that steps never
  // overlap each other; kernels wait for their conflicts on the other one.
  const bool two = streams_.streams > 1 && !timed;
  LaunchCtx side{*dev_, dev_->side, params_dev_[parity], status_dev_, nullptr, 0, &host_ctx_,
                 two ? dev_->side_cudnn() : nullptr};
  LaunchCtx* ctx[2] = {&c, &side};
  if (two) {
    ACNN_CUDA(cudaEventRecord(fork_, dev_->compute));
    ACNN_CUDA(cudaStreamWaitEvent(dev_->side, fork_, 0));
  }
  // Profiling: an event after each kernel, read once the step is done, so
  // that each step's time is the GPU's between its neighbours (launches
  // queue ahead as usual; no synchronization per kernel).
  if (timed && step_events_.empty()) {
    step_events_.resize(steps_.size() + 1);
    for (cudaEvent_t& e : step_events_) ACNN_CUDA(cudaEventCreate(&e));
  }
  if (timed) ACNN_CUDA(cudaEventRecord(step_events_[0], dev_->compute));
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& st = steps_[i];
    if (st.cached) continue;
    LaunchCtx& on = two ? *ctx[streams_.stream[i]] : c;
    on.workspace = st.workspace ? arena_ + st.workspace_at : nullptr;
    on.workspace_bytes = st.workspace;
    if (two)
      for (int w : streams_.waits[i]) ACNN_CUDA(cudaStreamWaitEvent(on.stream, stream_events_[w], 0));
    st.kernel->launch(step_in_[parity][i], step_out_[parity][i], on);
    if (two && streams_.record[i]) ACNN_CUDA(cudaEventRecord(stream_events_[i], on.stream));
    if (timed) ACNN_CUDA(cudaEventRecord(step_events_[i + 1], dev_->compute));
  }
  if (two) {
    ACNN_CUDA(cudaEventRecord(join_, dev_->side));
    ACNN_CUDA(cudaStreamWaitEvent(dev_->compute, join_, 0));
  }
  if (!timed) return;
  ACNN_CUDA(cudaStreamSynchronize(dev_->compute));
  cudaEvent_t before = step_events_[0];
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& st = steps_[i];
    if (st.cached) continue;
    float ms = 0;
    ACNN_CUDA(cudaEventElapsedTime(&ms, before, step_events_[i + 1]));
    st.seconds += ms * 1e-3;
    ++st.calls;
    before = step_events_[i + 1];
  }
}

// Steps over unchanging tensors (casts of weights, an inference graph's
// batch-norm folding) run again only when a tensor they derive from was set
// (versions only grow, so their sum changes exactly then).
void CudaRunner::run_cached_steps() {
  LaunchCtx c{*dev_, dev_->compute, params_dev_[0], status_dev_, workspace_, workspace_bytes_, &host_ctx_, dev_->cudnn};
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& st = steps_[i];
    if (!st.cached) continue;
    int64_t v = 0;
    for (int d : st.depends) v += persistent_[d].version;
    if (v == st.cached_version) continue;
    st.kernel->launch(step_in_[0][i], step_out_[0][i], c);
    st.cached_version = v;
  }
}

void CudaRunner::launch_step_graph(int p) {
  const bool graphs = opts_.cuda_graphs && graphs_ok_ && !host_steps_ && !opts_.profile;
  if (!graphs || runs_[p] == 0) {  // the first run per parity warms up (lazy loading, cuDNN plans)
    enqueue_steps(p, opts_.profile && runs_[p] > 0);  // (not the warm-up)
    ++runs_[p];
    return;
  }
  if (!exec_[p]) {
    cudaGraph_t graph = nullptr;
    ACNN_CUDA(cudaStreamBeginCapture(dev_->compute, cudaStreamCaptureModeThreadLocal));
    // A failed capture (a launch that throws, or a call that invalidates the
    // capture without an error of its own) falls back to eager launches.
    auto give_up = [&](const std::string& why) {
      if (graph) cudaGraphDestroy(graph);
      cudaGetLastError();
      graphs_ok_ = false;
      std::cerr << "acnn: warning: capturing the step as a CUDA graph failed (" << why << "); running it kernel by kernel\n";
      enqueue_steps(p, false);
      ++runs_[p];
    };
    try {
      enqueue_steps(p, false);
    } catch (const std::exception& ex) {
      cudaStreamEndCapture(dev_->compute, &graph);
      give_up(ex.what());
      return;
    }
    if (cudaError_t ec = cudaStreamEndCapture(dev_->compute, &graph); ec != cudaSuccess || !graph) {
      give_up(cudaGetErrorString(ec));
      return;
    }
    cudaError_t e = cudaGraphInstantiate(&exec_[p], graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
      cudaGetLastError();
      exec_[p] = nullptr;
      graphs_ok_ = false;
      std::cerr << "acnn: warning: instantiating the CUDA graph failed (" << cudaGetErrorString(e)
                << "); running kernel by kernel\n";
      enqueue_steps(p, false);
      ++runs_[p];
      return;
    }
  }
  ACNN_CUDA(cudaGraphLaunch(exec_[p], dev_->compute));
  ++runs_[p];
}

namespace {

// Copies a feed into pinned memory, big ones on all cores: one thread copies
// about 10 GB/s, so a batch of 256 fp32 ImageNet images (154 MB) would take
// some 15 ms of host time per step, longer than a ResNet-50 inference step
// on an H100, which would then wait for its input.
void stage(char* dst, const void* src, size_t bytes) {
  constexpr size_t kChunk = size_t{4} << 20;
  const char* from = static_cast<const char*>(src);
  if (bytes < 4 * kChunk) {
    std::memcpy(dst, from, bytes);
    return;
  }
  const int64_t chunks = static_cast<int64_t>((bytes + kChunk - 1) / kChunk);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const size_t at = static_cast<size_t>(c) * kChunk;
    std::memcpy(dst + at, from + at, std::min(kChunk, bytes - at));
  }
}

}  // namespace

void CudaRunner::submit(const std::map<std::string, Tensor>& feeds, ExecContext& ctx) {
  if (inflight_.size() >= 2) throw std::logic_error("CudaRunner::submit: two steps in flight; call wait() first");
  const int p = parity_;  // flipped once the inputs are checked and staged
  host_ctx_ = ctx;
  // Per-step parameters.
  AcnnParams& P = *pinned_params_[p];
  P.seed = ctx.seed;
  P.step = ctx.step;
  P.training = ctx.training ? 1 : 0;
  P.nscalars = static_cast<int>(scalars_.size());
  for (const auto& [name, idx] : scalars_) {
    auto it = ctx.scalars.find(name);
    if (it == ctx.scalars.end()) throw std::runtime_error("runtime scalar `" + name + "` not given");
    P.scalars[idx] = it->second;
  }
  // Feeds into pinned memory (the same checks as the CPU executor).
  for (const Io& f : feeds_) {
    auto it = feeds.find(f.name);
    if (it == feeds.end()) throw std::runtime_error("no value fed for input `" + f.name + "`");
    const Tensor& t = it->second;
    if (t.dtype() != f.type.dtype || t.shape() != f.type.shape)
      throw std::runtime_error("feed `" + f.name + "` is " + type_str(t.dtype(), t.shape()) + " but the graph expects " +
                               type_str(f.type.dtype, f.type.shape));
    if (!t.defined() || t.layout() != Layout::Plain || t.storage()->device)
      throw std::runtime_error("feed `" + f.name + "` must be a plain host tensor");
    stage(pinned_in_[p] + f.offset, t.raw(), f.bytes);
  }
  parity_ ^= 1;
  // Upload on the copy stream once the step that last used these buffers has read them.
  cudaStream_t cs = dev_->copy, ks = dev_->compute;
  ACNN_CUDA(cudaStreamWaitEvent(cs, consumed_[p], 0));
  if (feed_bytes_) ACNN_CUDA(cudaMemcpyAsync(feed_dev_[p], pinned_in_[p], feed_bytes_, cudaMemcpyHostToDevice, cs));
  ACNN_CUDA(cudaMemcpyAsync(params_dev_[p], pinned_params_[p], sizeof(AcnnParams), cudaMemcpyHostToDevice, cs));
  ACNN_CUDA(cudaEventRecord(copied_[p], cs));
  ACNN_CUDA(cudaStreamWaitEvent(ks, copied_[p], 0));
  run_cached_steps();
  launch_step_graph(p);
  ACNN_CUDA(cudaEventRecord(consumed_[p], ks));
  for (const Io& o : outputs_)
    ACNN_CUDA(cudaMemcpyAsync(pinned_out_[p] + o.offset, slot_ptr(o.slot, p), o.bytes, cudaMemcpyDeviceToHost, ks));
  ACNN_CUDA(cudaMemcpyAsync(pinned_status_[p], status_dev_, sizeof(AcnnStatus), cudaMemcpyDeviceToHost, ks));
  ACNN_CUDA(cudaEventRecord(done_[p], ks));
  inflight_.push_back(p);
}

std::map<std::string, Tensor> CudaRunner::wait() {
  if (inflight_.empty()) throw std::logic_error("CudaRunner::wait: no step submitted");
  const int p = inflight_.front();
  inflight_.pop_front();
  ACNN_CUDA(cudaEventSynchronize(done_[p]));
  if (runs_[0] + runs_[1] <= 4) {  // device memory settles after the first steps
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) == cudaSuccess) min_free_ = std::min(min_free_, free);
  }
  if (pinned_status_[p]->label_error)
    throw std::out_of_range("one_hot: a label is outside [0, classes) (detected on the GPU)");
  std::map<std::string, Tensor> out;
  for (const Io& o : outputs_) {
    Tensor t(o.type.dtype, o.type.shape);
    std::memcpy(t.raw(), pinned_out_[p] + o.offset, o.bytes);
    out[o.name] = std::move(t);
  }
  return out;
}

std::map<std::string, Tensor> CudaRunner::run(const std::map<std::string, Tensor>& feeds, ExecContext& ctx) {
  while (!inflight_.empty()) wait();
  submit(feeds, ctx);
  return wait();
}

void CudaRunner::synchronize() {
  ACNN_CUDA(cudaStreamSynchronize(dev_->compute));
  ACNN_CUDA(cudaStreamSynchronize(dev_->copy));
}

void CudaRunner::start_timer() { ACNN_CUDA(cudaEventRecord(timer_[0], dev_->compute)); }

double CudaRunner::stop_timer() {
  ACNN_CUDA(cudaEventRecord(timer_[1], dev_->compute));
  ACNN_CUDA(cudaEventSynchronize(timer_[1]));
  float ms = 0;
  ACNN_CUDA(cudaEventElapsedTime(&ms, timer_[0], timer_[1]));
  return ms / 1000.0;
}

// ---------------------------------------------------------------- persistent tensors

std::vector<std::string> CudaRunner::persistent_names() const {
  std::vector<std::string> r;
  for (const Persistent& p : persistent_) r.push_back(p.name);
  return r;
}

bool CudaRunner::has_persistent(const std::string& name) const { return persistent_index_.count(name) != 0; }

Tensor CudaRunner::get_persistent(const std::string& name) const {
  auto it = persistent_index_.find(name);
  if (it == persistent_index_.end()) throw std::runtime_error("no parameter or state named `" + name + "`");
  const Persistent& p = persistent_[it->second];
  std::vector<uint8_t> bytes(format_bytes(p.type.shape, p.fmt));
  ACNN_CUDA(cudaStreamSynchronize(dev_->compute));
  ACNN_CUDA(cudaMemcpy(bytes.data(), slot_ptr(p.slot, 0), bytes.size(), cudaMemcpyDeviceToHost));
  return host_to_plain(bytes.data(), p.type.shape, p.fmt, p.type.dtype);
}

void CudaRunner::set_persistent(const std::string& name, const Tensor& value) {
  auto it = persistent_index_.find(name);
  if (it == persistent_index_.end()) throw std::runtime_error("no parameter or state named `" + name + "`");
  Persistent& p = persistent_[it->second];
  if (value.dtype() != p.type.dtype || value.shape() != p.type.shape)
    throw std::runtime_error("`" + name + "` is " + type_str(p.type.dtype, p.type.shape) + ", got " +
                             type_str(value.dtype(), value.shape()));
  if (value.layout() != Layout::Plain) throw std::runtime_error("set_persistent: `" + name + "` must be plain");
  std::vector<uint8_t> bytes = host_from_plain(value, p.fmt);
  ACNN_CUDA(cudaStreamSynchronize(dev_->compute));
  ACNN_CUDA(cudaMemcpyAsync(slot_ptr(p.slot, 0), bytes.data(), bytes.size(), cudaMemcpyHostToDevice, dev_->compute));
  ACNN_CUDA(cudaStreamSynchronize(dev_->compute));
  ++p.version;
}

// ---------------------------------------------------------------- reports

std::string CudaRunner::device() const {
  const char* prec = precision_ == Precision::FP32 ? "fp32" : precision_ == Precision::BF16 ? "mixed_bf16" : "mixed_fp16";
  return "cuda:" + std::to_string(dev_->id) + " " + dev_->name + " (sm_" + std::to_string(dev_->arch) + ", " + prec + ")";
}

MemoryReport CudaRunner::memory() const {
  MemoryReport m;
  m.arena = arena_bytes_;
  m.persistent = persist_bytes_;
  m.dedicated = dedicated_bytes_;
  m.workspace = workspace_bytes_;
  m.io = 2 * (feed_bytes_ + sizeof(AcnnParams)) + sizeof(AcnnStatus);
  size_t free = 0, total = 0;
  if (cudaMemGetInfo(&free, &total) == cudaSuccess) min_free_ = std::min(min_free_, free);
  if (min_free_ != ~size_t{0} && free_at_start_ > min_free_) {
    m.peak = free_at_start_ - min_free_;
    m.peak_source = "cudaMemGetInfo";
  } else {
    m.peak = m.arena + m.persistent + m.dedicated + m.workspace + m.io;
    m.peak_source = "sum";
  }
  return m;
}

std::string CudaRunner::dump_plan() const {
  const ir::Graph& g = *plan_.graph;
  std::ostringstream os;
  auto home = [](Home h) {
    switch (h) {
      case Home::Arena: return "arena";
      case Home::Dedicated: return "dedicated";
      case Home::Persistent: return "persistent";
      case Home::Feed: return "feed";
      case Home::Constant: return "constant";
      case Home::Alias: return "alias";
    }
    return "?";
  };
  auto slot = [&](int s) {
    if (s < 0) return std::string("-");
    const Slot& sl = slots_[s];
    std::ostringstream o;
    o << "%" << sl.value << ":" << shape_str(sl.shape) << "/" << format_str(sl.fmt);
    const Slot& r = slots_[root(s)];
    o << "[" << home(sl.home);
    if (sl.home == Home::Alias) o << " of %" << r.value;
    if (r.home == Home::Arena) o << " @" << r.offset;
    o << "]";
    return o.str();
  };
  int regions = 0, groups = 0, nodes = 0;
  for (const Unit& u : plan_.units.units)
    regions += u.kind == UnitKind::Region || u.kind == UnitKind::FusedRegion || u.kind == UnitKind::ReducingRegion,
        groups += u.kind == UnitKind::UpdateGroup,
        nodes += u.kind == UnitKind::Node;
  os << "cuda plan: " << steps_.size() << " steps (" << regions << " generated regions, " << groups << " update groups, "
     << nodes << " node kernels, " << program_.kernels() << " distinct NVRTC kernels"
     << (program_.from_cache() ? ", cubin from cache" : "") << "), " << plan_.fused_expanded << " fused nodes expanded, "
     << plan_.rewrites << " rewrites, " << plan_.formats.activations << " half-precision values\n"
     << "memory: arena " << arena_bytes_ << " B, persistent " << persist_bytes_ << " B, dedicated " << dedicated_bytes_
     << " B, workspace (steps run once) " << workspace_bytes_ << " B; updates: " << inplace_updates_ << " in place, " << copied_updates_
     << " copied; CUDA graphs " << (host_steps_ ? "off (host fallback steps)" : opts_.cuda_graphs ? "on" : "off")
     << "; compute streams " << streams_.streams << "\n";
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& st = steps_[i];
    os << "  #" << i << " " << st.kernel->describe() << (st.scope.empty() ? "" : " (" + st.scope + ")")
       << (st.cached ? " cached" : "");
    if (st.workspace) os << " (workspace " << st.workspace << " B @" << st.workspace_at << ")";
    // The stream, when there are two, and the steps waited for on the other.
    if (streams_.streams > 1 && !st.cached) {
      os << " [stream " << streams_.stream[i];
      for (size_t w = 0; w < streams_.waits[i].size(); ++w) os << (w ? ", #" : ", after #") << streams_.waits[i][w];
      os << "]";
    }
    os << "\n     in:";
    for (int s : st.in) os << " " << slot(s);
    os << "\n     out:";
    for (int s : st.out) os << " " << slot(s);
    os << "\n";
  }
  (void)g;
  return os.str();
}

std::string CudaRunner::time_report(int top) const {
  double total = 0;
  int64_t calls = 0;
  for (const Step& st : steps_) total += st.seconds, calls = std::max(calls, st.calls);
  std::ostringstream os;
  os << std::fixed << std::setprecision(3);
  if (total == 0 || calls == 0) {
    os << "no per-kernel times: run with profiling (RunnerOptions::profile, `--profile`) to time each kernel "
          "(CUDA graphs off; each kernel's GPU time between events)\n";
    return os.str();
  }
  // Per step of the plan: its kind and floor (plan_report.h's model; the
  // runner's conversions and weight casts by their bytes).
  const PlanReportOptions card = report_options_for(dev_->name);
  const std::vector<UnitCost> costs = unit_costs(plan_, card);
  const double bandwidth = card.bandwidth_gbs * 1e9;
  auto cost_of = [&](const Step& st) {
    if (st.unit >= 0) return costs[st.unit];
    UnitCost c;
    const std::string d = st.kernel->describe();
    c.kind = st.scope == "weight casts"          ? kWeightCastsRow
             : d.rfind("nvrtc:convert", 0) == 0 ? kConversionRow
                                                : "runner: " + d.substr(0, d.find(' '));
    for (int s : st.in) c.read += static_cast<double>(slots_[s].bytes);
    for (int s : st.out) c.written += s >= 0 ? static_cast<double>(slots_[s].bytes) : 0;
    c.floor_s = (c.read + c.written) / bandwidth;
    return c;
  };
  struct Kind {
    int kernels = 0;
    double seconds = 0, floor_s = 0;
  };
  std::map<std::string, Kind> kinds;
  std::vector<std::pair<const Step*, UnitCost>> v;
  for (const Step& st : steps_) {
    if (st.calls == 0) continue;
    UnitCost c = cost_of(st);
    Kind& k = kinds[c.kind];
    ++k.kernels, k.seconds += st.seconds / static_cast<double>(st.calls), k.floor_s += c.floor_s;
    v.emplace_back(&st, std::move(c));
  }
  os << "per step " << 1e3 * total / static_cast<double>(calls) << " ms of GPU time over " << v.size()
     << " kernels (each timed between events, CUDA graphs off), against the plan's floor at "
     << card.bandwidth_gbs / 1000 << " TB/s:\n";
  char line[200];
  std::snprintf(line, sizeof line, "  %-36s %8s %12s %10s %9s\n", "kernel kind", "kernels", "measured ms", "floor ms",
                "x floor");
  os << line;
  std::vector<std::pair<std::string, Kind>> rows(kinds.begin(), kinds.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  for (const auto& [name, k] : rows) {
    std::snprintf(line, sizeof line, "  %-36s %8d %12.3f %10.3f %9.2f\n", name.substr(0, 36).c_str(), k.kernels,
                  1e3 * k.seconds, 1e3 * k.floor_s, k.floor_s > 0 ? k.seconds / k.floor_s : 0.0);
    os << line;
  }
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first->seconds > b.first->seconds; });
  const int n = top > 0 ? std::min<int>(top, static_cast<int>(v.size())) : static_cast<int>(v.size());
  os << "slowest kernels (ms per step, share, x floor):\n";
  for (int i = 0; i < n; ++i) {
    const Step& st = *v[i].first;
    const double per = st.seconds / static_cast<double>(st.calls);
    os << std::setw(10) << per * 1e3 << " ms " << std::setw(6) << 100 * st.seconds / total << "% " << std::setw(7)
       << (v[i].second.floor_s > 0 ? per / v[i].second.floor_s : 0.0) << "x  " << st.kernel->describe()
       << (st.scope.empty() ? "" : "  " + st.scope) << "\n";
  }
  return os.str();
}

}  // namespace acnn::cuda
