// The CUDA emulator's core, shared by its stand-ins for the CUDA runtime,
// cuDNN, cuBLASLt and NVRTC (tests/sim/emulator/): device memory is host
// memory, and every stream operation runs on the calling thread in the
// order it is enqueued (one legal schedule of what a GPU may overlap),
// unless its stream is being captured into a CUDA graph: then it is
// recorded, and runs each time the graph is launched. Calls that a GPU
// refuses during capture (allocation, synchronous copies, synchronization)
// fail here too, with cudaErrorStreamCaptureUnsupported.
#pragma once

#include <cuda_runtime.h>

#include <functional>

namespace acnn::sim {

// Runs op on `stream` now, or records it when the stream is capturing.
void enqueue(cudaStream_t stream, std::function<void()> op);

}  // namespace acnn::sim
