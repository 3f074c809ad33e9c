// The CUDA runner: a graph compiled for one GPU and run step after step.
// Compilation (runner.cpp) plans the graph without the device (lowering.h),
// makes one DevKernel per unit, inserts format conversions where a kernel
// wants an input in another format (cached when the source never changes),
// writes state updates in place when no later kernel reads the old value
// (else copies them at the end of the step), computes units that depend only
// on unchanging tensors (static units: an inference graph's batch-norm
// folding, casts of its weights) once, outside the step and again only
// when such a tensor is set, packs every temporary into one
// device arena by liveness (one cudaMalloc), and compiles the generated
// kernels in one NVRTC call. Running (runner_run.cpp): feeds are copied into
// pinned buffers and uploaded on a copy stream while the previous step may
// still compute (two steps in flight, double-buffered feeds, parameters and
// outputs); the step's kernels are spread over two compute streams where
// they do not conflict (streams.h; ACNN_CUDA_STREAMS=1: one); the step itself is captured once per buffer parity as a CUDA
// graph and replayed; outputs come back through pinned memory. Persistent
// tensors live on the device in their storage format and are converted on
// the host when read or written through the Runner API.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/ops.h"
#include "backends/cuda/streams.h"
#include "runtime/runner.h"

namespace acnn::cuda {

class CudaRunner final : public Runner {
 public:
  CudaRunner(const ir::Graph& g, const RunnerOptions& o);
  ~CudaRunner() override;

  std::string device() const override;
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& feeds, ExecContext& ctx) override;
  void submit(const std::map<std::string, Tensor>& feeds, ExecContext& ctx) override;
  std::map<std::string, Tensor> wait() override;
  void synchronize() override;
  void start_timer() override;
  double stop_timer() override;

  std::vector<std::string> persistent_names() const override;
  bool has_persistent(const std::string& name) const override;
  Tensor get_persistent(const std::string& name) const override;
  void set_persistent(const std::string& name, const Tensor& value) override;

  MemoryReport memory() const override;
  std::string dump_plan() const override;
  std::string time_report(int top) const override;
  std::string compile_report() const override;

 private:
  enum class Home : uint8_t { Arena, Dedicated, Persistent, Feed, Constant, Alias };
  struct Slot {
    ir::ValueId value = ir::kNoValue;
    Shape shape;
    Format fmt;
    size_t bytes = 0;
    Home home = Home::Arena;
    int alias_of = -1;   // Alias: the root slot
    size_t offset = 0;   // Arena, Dedicated, Persistent, Feed: byte offset in its block
    int first = -1, last = -1;
    int index = -1;      // Persistent: index in persistent_; Feed: index in feeds_
    std::vector<int> depends;  // Dedicated: the persistent tensors (indices) its value derives from
  };
  struct Step {
    std::unique_ptr<DevKernel> kernel;
    std::vector<int> in, out;  // slots (-1: an output nobody reads)
    bool cached = false;       // reads only unchanging tensors: runs when one of them changes
    std::vector<int> depends;  // cached: the persistent tensors (indices) it derives from
    int64_t cached_version = -1;
    std::string scope;
    bool optimizer = false;    // writes a parameter's update (skipped on fp16 overflow)
    bool cast = false;         // a conversion of the element type only
    int unit = -1;             // the plan's unit it runs (-1: a conversion the runner added)
    size_t workspace = 0, workspace_at = 0;  // its scratch (workspace_bytes()), in the arena
    double seconds = 0;
    int64_t calls = 0;
  };
  struct Persistent {
    std::string name;
    ir::ValueType type;
    Format fmt;
    int slot = -1;
    int64_t version = 0;
    bool updated = false;
  };
  struct Io {
    std::string name;
    ir::ValueType type;
    int slot = -1;
    size_t offset = 0;  // in the pinned (and, for feeds, device) staging buffer
    size_t bytes = 0;
  };

  // runner.cpp: compilation
  void compile(const ir::Graph& g);
  int new_slot(ir::ValueId v, const Format& f, Home h);
  // The slot owning the memory (an alias may alias an alias: a reshape of a
  // value that place_updates() later writes in place into its state).
  int root(int s) const {
    while (slots_[s].home == Home::Alias) s = slots_[s].alias_of;
    return s;
  }
  int get_slot(ir::ValueId v, const Format& want);
  // Whether slot s holds a value that never changes between steps (a
  // constant, a persistent tensor the graph does not update, a cached
  // step's result); adds the persistent tensors it derives from to deps.
  bool unchanging(int s, std::vector<int>* deps) const;
  void add_unit(int ui);
  void add_gradient_check();
  void group_weight_casts();
  void place_updates();
  void liveness();
  void allocate();
  void plan_step_streams();
  void bind();
  void upload_initial_values();

  // runner_run.cpp
  void* slot_ptr(int s, int parity) const;
  void enqueue_steps(int parity, bool timed);
  void run_cached_steps();
  void launch_step_graph(int parity);

  RunnerOptions opts_;
  Precision precision_ = Precision::FP32;
  std::shared_ptr<Device> dev_;
  DevicePlan plan_;
  Program program_;
  ScalarIndex scalars_;
  bool loss_scaling_ = false;
  bool host_steps_ = false;  // a host fallback runs: no graph capture
  bool graphs_ok_ = true;
  std::vector<Slot> slots_;
  std::vector<std::vector<int>> value_slots_;
  std::vector<bool> used_;  // per value: read by a needed node, an output or an update
  std::vector<Step> steps_;
  std::vector<DevKernel*> node_kernel_;
  std::vector<Persistent> persistent_;
  std::map<std::string, int> persistent_index_;
  std::vector<Io> feeds_, outputs_;
  struct Update {
    int persistent, source;
  };
  std::vector<Update> updates_;
  int inplace_updates_ = 0, copied_updates_ = 0;

  // Device memory: one block each, sizes in bytes.
  // workspace_: the scratch of steps run outside the step (cached); a
  // launched step's scratch is a temporary of the arena, live during it.
  char *arena_ = nullptr, *persist_ = nullptr, *dedicated_ = nullptr, *workspace_ = nullptr;
  std::vector<size_t> state_at_;  // per step: its state's offset in dedicated_
  // The step's kernels on two compute streams (streams.h): the plan, an
  // event per step another stream waits for, the fork and the join.
  StreamPlan streams_;
  std::vector<cudaEvent_t> stream_events_;
  cudaEvent_t fork_ = nullptr, join_ = nullptr;
  char* feed_dev_[2] = {nullptr, nullptr};
  AcnnParams* params_dev_[2] = {nullptr, nullptr};
  AcnnStatus* status_dev_ = nullptr;
  size_t arena_bytes_ = 0, persist_bytes_ = 0, dedicated_bytes_ = 0, workspace_bytes_ = 0, feed_bytes_ = 0, out_bytes_ = 0;
  // Pinned host staging.
  char* pinned_in_[2] = {nullptr, nullptr};
  char* pinned_out_[2] = {nullptr, nullptr};
  AcnnParams* pinned_params_[2] = {nullptr, nullptr};
  AcnnStatus* pinned_status_[2] = {nullptr, nullptr};
  cudaEvent_t copied_[2] = {}, consumed_[2] = {}, done_[2] = {}, timer_[2] = {};
  std::vector<cudaEvent_t> step_events_;  // profiling: one before the first step, one after each
  cudaGraphExec_t exec_[2] = {nullptr, nullptr};
  int runs_[2] = {0, 0};
  int parity_ = 0;
  std::deque<int> inflight_;
  std::vector<std::vector<DevTensor>> step_in_[2], step_out_[2];
  ExecContext host_ctx_;

  size_t free_at_start_ = 0;
  mutable size_t min_free_ = ~size_t{0};
  double compile_seconds_ = 0, plan_seconds_ = 0;
  ConvSearchStats conv_search_;  // this runner's share of the process's convolution algorithm choices
  std::chrono::steady_clock::time_point created_;
};

}  // namespace acnn::cuda
