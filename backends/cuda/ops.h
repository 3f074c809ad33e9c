// Turning units into DevKernels. Program collects the generated kernels of a
// graph (equal code shares one function), compiles them with NVRTC (in parts,
// in parallel) and loads the cubins with the runtime API (cudaLibraryLoadData). make_kernel()
// picks the implementation of a unit: generated code for regions, update
// groups and gathers; cuDNN for convolutions (conv.cpp); cuBLASLt for matmul
// (matmul.cpp); the hand-written kernels of kernels.cu for batch-norm
// statistics, reductions, softmax and losses, pooling; and, for the rare node
// nothing else takes, a host fallback that copies its operands to the CPU and
// runs the reference kernel (it synchronizes, so such a graph is not captured).
// The request says which formats the inputs have; the kernel answers which it
// wants them in (the runner converts) and which it writes.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/codegen.h"
#include "backends/cuda/common.h"

namespace acnn::cuda {

struct GenFn {
  std::string name;
  cudaKernel_t fn = nullptr;
  bool uses_status = false;  // reads or writes the status block (S->...)
};

class Program {
 public:
  // Registers a generated kernel (before compile()); returns its handle.
  GenFn* add(const GenKernel& k);
  // Compiles every registered kernel and resolves the handles: the kernels
  // are split into parts of similar source size, compiled on all cores at
  // once (nvrtc_compile_all; each part cached on disk) and loaded as one
  // library per part.
  void compile(int arch);
  size_t kernels() const { return fns_.size(); }
  double compile_seconds() const { return seconds_; }
  bool from_cache() const { return cached_; }
  const std::string& source() const { return source_; }
  ~Program();

 private:
  std::deque<GenFn> fns_;
  std::vector<std::string> sources_;  // per function
  std::map<std::string, GenFn*> by_code_;
  std::string source_;
  std::vector<cudaLibrary_t> libs_;   // one per compiled part
  double seconds_ = 0;
  bool cached_ = false;
};

struct KernelRequest {
  const ir::Graph& g;
  const Unit& unit;
  Device& dev;
  Precision precision;
  std::vector<Format> in;   // in: formats the inputs have; out: formats the kernel wants
  std::vector<Format> out;  // in: preferred formats; out: formats the kernel writes
  Program& program;
  const ScalarIndex& scalars;
  bool skip_on_overflow = false;  // fp16 loss scaling: an optimizer unit
  std::function<DevKernel*(ir::NodeId)> kernel_of;  // kernels of earlier nodes (max-pool backward)
};

std::unique_ptr<DevKernel> make_kernel(KernelRequest& r);
std::unique_ptr<DevKernel> make_convert(Program& p, const Shape& s, const Format& from, const Format& to);
// A device-to-device copy of `bytes` (state updates that cannot run in place);
// `unless_overflow`: skipped when the fp16 gradient check found an overflow.
std::unique_ptr<DevKernel> make_copy(size_t bytes, bool unless_overflow = false);
// fp16 loss scaling: clear the overflow flag; test the gradients; update the scale.
std::unique_ptr<DevKernel> make_clear_overflow();
// Over all of its inputs, of these element counts.
std::unique_ptr<DevKernel> make_nonfinite_check(const std::vector<int64_t>& numels);
// Input i cast to output i's element type (same element order), for every
// pair of these element counts, in one launch.
std::unique_ptr<DevKernel> make_cast_group(const std::vector<int64_t>& numels);
// Generated code for a region, update group or gather unit.
std::unique_ptr<DevKernel> make_generated(KernelRequest& r);
std::unique_ptr<DevKernel> make_loss_scale_update();
// Whether kernel k reads input i at exactly the element it writes to output j
// (then output j may alias input i: in-place state updates).
bool reads_in_place(const DevKernel& k, int i, int j);

// conv.cpp / matmul.cpp
std::unique_ptr<DevKernel> make_conv(KernelRequest& r);
// Convolution problems whose algorithm this process chose so far: measured
// (or asked of the heuristics) and the seconds that took, read from the
// disk cache, or found in the process's own cache.
struct ConvSearchStats {
  int searched = 0, from_disk = 0, in_process = 0, heuristic = 0;
  double seconds = 0;
};
ConvSearchStats conv_search_stats();
std::unique_ptr<DevKernel> make_matmul(KernelRequest& r);
// ops.cpp: the reference kernel on the host.
std::unique_ptr<DevKernel> make_host_fallback(KernelRequest& r);

}  // namespace acnn::cuda
