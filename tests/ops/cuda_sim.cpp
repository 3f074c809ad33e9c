#include "tests/ops/cuda_sim.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "tests/sim/emulator/kernel_image.h"

namespace acnn::testing {

namespace {

constexpr unsigned kBlockThreads = 256;  // what the runner launches
constexpr unsigned kGridStrideBlocks = 3;

}  // namespace

bool HostSim::available(std::string* why) {
  if (std::system("c++ --version > /dev/null 2>&1") != 0) {
    if (why) *why = "no host C++ compiler (`c++`) to run generated kernels on";
    return false;
  }
  return true;
}

HostSim::HostSim(const std::string& source) {
  std::vector<char> image;
  std::string log;
  if (!sim::compile_kernel_image(source, &image, &log))
    throw std::runtime_error("the host compiler rejected the generated kernels:\n" + log.substr(0, 4000));
  lib_ = sim::load_kernel_image(image.data(), &dir_);
  if (!lib_) throw std::runtime_error("HostSim: the compiled kernels do not load");
}

HostSim::~HostSim() {
  if (lib_) sim::unload_kernel_image(lib_, dir_);
}

void HostSim::launch(const std::string& name, const std::vector<void*>& a, unsigned blocks) {
  sim::KernelEntry k;
  if (!sim::find_kernel(lib_, name.c_str(), &k)) throw std::runtime_error("no kernel " + name);
  if (k.sizes.size() != a.size()) throw std::runtime_error("HostSim: " + name + " takes " +
                                                           std::to_string(k.sizes.size()) + " arguments");
  // CUDA's convention: an array of pointers to the argument values.
  std::vector<void*> values(a), args;
  for (void*& v : values) args.push_back(&v);
  // Generated kernels never synchronize, so a block's threads can run one
  // after another. A grid-stride kernel gets a grid that does not divide its
  // elements, so that every thread's start, stride and tail are exercised.
  sim::run_kernel(k, blocks == 0 ? kGridStrideBlocks : blocks, kBlockThreads, args.data());
}

}  // namespace acnn::testing
