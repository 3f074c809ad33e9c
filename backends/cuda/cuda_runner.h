// Entry points of the CUDA backend for the rest of the program (only
// runtime/backends.cpp includes this header; it pulls in no CUDA headers).
// device_count() asks the CUDA runtime how many GPUs are usable and, when
// none is, why (cudaGetDeviceCount's error string: no driver, no device);
// it never fails hard, so the program starts on machines without a GPU or
// without libcuda. make_cuda_runner() compiles a graph for the first GPU: the
// whole step runs there (cuDNN, cuBLASLt, NVRTC kernels) from one device
// arena, captured once as a CUDA graph and replayed (runner.cpp).
#pragma once

#include <memory>
#include <string>

#include "compiler/ir/graph.h"
#include "runtime/runner.h"

namespace acnn::cuda {

// Number of usable CUDA devices; 0 with `why` set when there is none.
int device_count(std::string* why);

std::unique_ptr<Runner> make_cuda_runner(const ir::Graph& g, const RunnerOptions& opts);

}  // namespace acnn::cuda
