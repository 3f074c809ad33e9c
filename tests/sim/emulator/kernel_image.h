// Generated kernels in the CUDA emulator: the fake NVRTC compiles a
// program's CUDA C with the host C++ compiler into a shared library and
// hands it out as the "cubin" (an image: a tag, the size, the library's
// bytes); cudaLibraryLoadData loads an image with dlopen, and a launch calls
// the kernel once per thread of its grid (generated kernels never
// synchronize, so a block's threads can run one after another). Each kernel
// gets a host wrapper that takes its arguments as CUDA does, an array of
// pointers to the values, and reports the values' sizes. The kernel tests of
// tests/ops/cuda_sim.h use the same machinery without the emulator.
#pragma once

#include <string>
#include <vector>

namespace acnn::sim {

// Compiles `source` (CUDA C as NVRTC gets it) into an image; false with the
// compiler's messages in `log`.
bool compile_kernel_image(const std::string& source, std::vector<char>* image, std::string* log);

// dlopen()s an image (null if `code` is not one); `dir` receives the
// temporary directory to remove at unload.
void* load_kernel_image(const void* code, std::string* dir);
void unload_kernel_image(void* so, const std::string& dir);

struct KernelEntry {
  void (*call)(void** args) = nullptr;
  void (*set)(unsigned block, unsigned grid, unsigned thread, unsigned block_dim) = nullptr;
  std::vector<unsigned> sizes;  // of each parameter, in bytes
};
bool find_kernel(void* so, const char* name, KernelEntry* entry);

// Runs the kernel over a one-dimensional grid of one-dimensional blocks.
void run_kernel(const KernelEntry& k, unsigned grid, unsigned block, void** args);

}  // namespace acnn::sim
