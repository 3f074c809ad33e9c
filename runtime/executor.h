// The Executor compiles an ir::Graph once into a Plan and runs it step after
// step. Compilation assigns each node to the first backend in the priority
// list that supports it (the reference backend always last), compiles each
// node's kernel once, inserts layout conversions where a kernel wants an input
// in another layout than it was produced in, and packs the temporary buffers
// into one arena by liveness (an output may take over the buffer of an input
// it reads last when the in-place pass marked it and its kernel allows). Steps
// whose inputs never change between runs (constants, persistent tensors no
// update writes, and what such steps compute: weight conversions, folded
// batch-norm weights) run once and again only after set_persistent of what
// they read. The executor owns the persistent tensors
// (Param/State nodes, by name), initialized with init_persistent() unless set;
// a persistent tensor whose update value a backend produces in a blocked
// layout is kept in that layout between steps (get/set convert). A run binds
// the feeds, runs every step, copies the named outputs out as plain host
// tensors and applies graph.updates (swapping buffers when legal, else copying).
// Steady-state runs allocate nothing but the returned outputs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "compiler/ir/graph.h"
#include "runtime/plan.h"
#include "runtime/tensor.h"

namespace acnn {

struct ExecutorOptions {
  // Backends in priority order ("onednn", "reference"); empty: every backend
  // built in, fastest first. The reference backend is always the fallback.
  std::vector<std::string> backends;
  // Seed of init_persistent() for parameters and state not set explicitly.
  uint64_t seed = 0;
  // Keep persistent tensors in the layout their update is produced in.
  bool persistent_backend_layouts = true;
  // Measure the time of every step (two clock reads per step).
  bool profile = true;
  // Compile the plan only (for reports: `acnn check --train`, `acnn dump
  // --stage plan`): persistent tensors are not initialized and no arena,
  // scratch or dedicated buffer is allocated; run() and the persistent-tensor
  // API throw.
  bool plan_only = false;
  // Debugging reads of memory no kernel wrote: fill the arena and scratch
  // with NaN before every run and stop at the first step whose float output
  // holds a NaN that none of its inputs held (std::runtime_error naming the
  // node). Also switched on by the environment variable ACNN_POISON=1.
  bool poison = false;
  // OpenMP threads to compile and run with (0: leave the process setting).
  // Primitives partition their work, and so order their sums, by the thread
  // count they are created for: the same count for every executor makes
  // runs reproducible within a process. ExecContext::threads overrides it
  // per run.
  int threads = 0;
};

struct KernelTime {
  std::string kernel;   // Kernel::describe()
  std::string op;       // op name ("conv2d"), "reorder" for conversions
  std::string scope;    // the node's scope path
  ir::NodeId node = -1;
  int64_t calls = 0;
  double seconds = 0;   // total over calls
};

class Executor {
 public:
  explicit Executor(const ir::Graph& g, ExecutorOptions opts = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs one step. `feeds` gives every Input node's tensor by name (plain,
  // host, exact type; names the graph lacks are ignored); runtime scalars come
  // from ctx.scalars. Returns the graph's named outputs as plain host tensors.
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& feeds, ExecContext& ctx);

  // Persistent tensors (Param/State) by name, in graph order.
  std::vector<std::string> persistent_names() const;
  bool has_persistent(const std::string& name) const;
  Tensor get_persistent(const std::string& name) const;  // a plain host copy
  void set_persistent(const std::string& name, const Tensor& value);  // exact type, plain
  std::map<std::string, Tensor> persistent() const;  // every one, plain copies

  const ir::Graph& graph() const { return *graph_; }
  const Plan& plan() const { return plan_; }
  std::string dump_plan() const { return plan_.dump(*graph_); }
  // The backend each node runs on ("onednn", "reference"), by node id; "" for
  // nodes the executor handles itself or skips.
  const std::vector<std::string>& node_backends() const { return node_backend_; }

  // Updates applied by copying rather than by exchanging buffers.
  int copied_updates() const;

  // Per-step times accumulated since construction or reset_times(), in plan order.
  std::vector<KernelTime> kernel_times() const;
  void reset_times();
  // A table of the `top` most expensive kernels (0: all) with totals per op.
  std::string time_report(int top = 0) const;

 private:
  struct Compiler;
  void compile();
  void bind_fixed_buffers();
  void bind_run_slots(const std::map<std::string, Tensor>& feeds);
  void run_step(Step& st, ExecContext& ctx);
  void check_poisoned_step(const Step& st) const;
  // Sets the process's OpenMP thread count to `threads` (> 0) if it is not already.
  void use_threads(int threads);
  void apply_updates();
  Tensor to_plain(int slot) const;
  Kernel& api_converter(const std::string& name, bool to_backend) const;

  struct Persistent {
    std::string name;
    ir::NodeId node;
    ir::ValueType type;
    LayoutPtr layout;
    Tensor tensor;        // in `layout`
    int64_t version = 0;  // bumped by set_persistent
    bool updated = false; // some graph update writes it
  };
  struct Update {
    int persistent;  // index into persistent_
    int source;      // slot holding the new value, in the persistent's layout
    bool swap;       // exchange buffers instead of copying
  };

  // A node's kernel from the previous compile pass, reused by the next pass
  // when its backend and the layouts of its inputs are unchanged (compile()
  // repeats while persistent tensors change layouts; most kernels do not).
  struct CachedKernel {
    std::string backend;
    std::vector<LayoutPtr> given, inputs, outputs;
    std::unique_ptr<Kernel> kernel;
    bool reusable = false;  // it did not look at another kernel while compiling
  };

  ExecutorOptions opts_;
  std::unique_ptr<ir::Graph> graph_;
  std::vector<CachedKernel> kernel_cache_;
  std::vector<std::unique_ptr<Backend>> backends_;
  Plan plan_;
  std::vector<std::string> node_backend_;
  std::vector<Persistent> persistent_;
  std::map<std::string, int> persistent_index_;
  std::vector<Update> updates_;
  std::vector<std::pair<std::string, int>> outputs_;  // name -> slot (plain)
  std::vector<Tensor> slot_tensors_;  // one per slot; kernels get pointers into it
  std::vector<std::vector<const Tensor*>> step_inputs_;
  std::vector<std::vector<Tensor*>> step_outputs_;
  std::vector<int> rebind_;  // Feed/Persistent slots and their aliases, bound every run
  std::shared_ptr<Storage> arena_, scratch_;
  std::vector<std::shared_ptr<Storage>> dedicated_;
  mutable std::map<std::pair<std::string, bool>, std::unique_ptr<Kernel>> api_converters_;
  mutable std::vector<std::shared_ptr<Storage>> api_scratch_;
  int threads_set_ = 0;
};

// Allocates a zeroed, 64-byte aligned host buffer for a value in `layout`.
Tensor alloc_tensor(const ir::ValueType& t, const LayoutPtr& layout);

}  // namespace acnn
