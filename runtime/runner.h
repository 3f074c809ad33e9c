// A Runner executes one compiled graph step after step on one device: the CPU
// (the Executor with its backends: oneDNN, reference) or a CUDA GPU (the cuDNN
// backend in backends/cuda, which owns the whole step: device memory, kernels,
// CUDA graph replay). The trainer, the evaluator and `acnn bench` talk to this
// interface only, so they run unchanged on either device. make_runner() picks
// the device from RunnerOptions::device ("auto" takes a GPU when one exists);
// resolve_device() says what "auto" means here and explains a missing GPU.
// Besides the synchronous run(), submit()/wait() let a caller keep a second
// step queued on the GPU while it prepares the next batch (the CPU runs
// submit() synchronously). Persistent tensors (parameters, optimizer and BN
// state) are read and written as plain host tensors on every device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "runtime/tensor.h"

namespace acnn {

struct RunnerOptions {
  std::string device = "auto";        // auto | cpu | cuda
  std::vector<std::string> backends;  // CPU: executor backends in priority order (empty: all built in)
  uint64_t seed = 0;                  // init_persistent() seed
  // fp32 | mixed_bf16 | mixed_fp16. The GPU stores activations in bf16/fp16
  // (fp32 master weights, fp32 accumulation); the CPU always computes in fp32.
  std::string precision = "fp32";
  bool profile = false;               // per-kernel times (the CPU times every step; the GPU runs eagerly)
  bool cuda_graphs = true;            // GPU: capture the step once and replay it
};

// Memory a runner holds, in bytes. `peak` is what the process (CPU: peak
// resident set) or the device (GPU: cudaMemGetInfo delta since construction
// began, or the sum of the parts where that is not available) used at most.
struct MemoryReport {
  size_t arena = 0, persistent = 0, dedicated = 0, workspace = 0, io = 0;
  size_t peak = 0;
  std::string peak_source;  // "rss", "cudaMemGetInfo", "sum"
};

class Runner {
 public:
  virtual ~Runner() = default;
  // "cpu (onednn)", "cuda:0 NVIDIA H100 80GB HBM3 (sm_90, mixed_bf16)".
  virtual std::string device() const = 0;
  bool on_gpu() const { return device().rfind("cuda", 0) == 0; }

  // One step: feeds every Input by name (plain host tensors of the exact
  // type), runtime scalars from ctx.scalars; returns the named outputs as
  // plain host f32/i32 tensors and applies the graph's updates.
  virtual std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& feeds, ExecContext& ctx) = 0;
  // Queues one step (at most two are in flight); wait() returns the outputs
  // of the oldest queued step. The feeds are copied before submit() returns.
  virtual void submit(const std::map<std::string, Tensor>& feeds, ExecContext& ctx);
  virtual std::map<std::string, Tensor> wait();
  // Waits for every queued step.
  virtual void synchronize() {}
  // Device time between the two calls (GPU: CUDA events on the compute
  // stream; CPU: a steady clock). stop_timer() synchronizes.
  virtual void start_timer();
  virtual double stop_timer();

  // Persistent tensors (Param/State) by name, in graph order; plain host copies.
  virtual std::vector<std::string> persistent_names() const = 0;
  virtual bool has_persistent(const std::string& name) const = 0;
  virtual Tensor get_persistent(const std::string& name) const = 0;
  virtual void set_persistent(const std::string& name, const Tensor& value) = 0;
  std::map<std::string, Tensor> persistent() const;

  virtual MemoryReport memory() const = 0;
  // The execution plan and a table of the most expensive kernels.
  virtual std::string dump_plan() const = 0;
  virtual std::string time_report(int top = 0) const = 0;
  // Where compilation's time went, one line ("" when the backend has nothing
  // to say), e.g. the CUDA backend's plan, NVRTC and cuDNN algorithm search.
  virtual std::string compile_report() const { return ""; }

 protected:
  std::deque<std::map<std::string, Tensor>> pending_;  // default submit(): finished steps' outputs
  double timer_start_ = 0;
};

// The device "auto" stands for on this machine ("cuda" when a GPU is usable,
// else "cpu"); "cpu" and "cuda" pass through, except that "cuda" without a
// usable GPU throws std::runtime_error("no CUDA device: cudaGetDeviceCount
// says ...") and "cuda" in a build without the CUDA backend says so.
std::string resolve_device(const std::string& requested);
// Whether this build has the CUDA backend, and whether a GPU is usable now;
// `why` receives the reason when not.
bool cuda_built();
bool cuda_usable(std::string* why = nullptr);

std::unique_ptr<Runner> make_runner(const ir::Graph& g, const RunnerOptions& opts);
// The CPU runner (the Executor), whatever opts.device says.
std::unique_ptr<Runner> make_cpu_runner(const ir::Graph& g, const RunnerOptions& opts);

// Peak resident set size of this process in bytes (0 if unknown).
size_t peak_rss_bytes();

}  // namespace acnn
