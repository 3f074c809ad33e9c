// Runs the CUDA backend's generated kernels on the CPU, so that their
// semantics are tested on machines without a GPU: the same source NVRTC
// compiles is compiled by the host C++ compiler (the prelude's conversions
// have host versions; a header maps __global__, blockIdx and friends to
// plain C++), loaded with dlopen, and each kernel is called once per thread
// of 256-thread blocks, as the runner launches them (generated kernels never
// synchronize; tests/sim/ runs the hand-written ones, which do).
// The test executes every generated unit of a plan on inputs the reference
// interpreter computed and compares the unit's outputs with the reference.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace acnn::testing {

class HostSim {
 public:
  // False (with the reason) when no host compiler is found.
  static bool available(std::string* why);
  // Compiles `source` (the prelude and kernels) into a shared library.
  explicit HostSim(const std::string& source);
  ~HostSim();
  // Calls kernel `name` with (params, status, pointers...) once per thread
  // of `blocks` blocks of 256 threads; blocks == 0: a grid-stride kernel,
  // run on 3 blocks.
  void launch(const std::string& name, const std::vector<void*>& args, unsigned blocks = 0);

 private:
  void* lib_ = nullptr;
  std::string dir_;
};

}  // namespace acnn::testing
