// What the CUDA backend's device code shares: error checks that turn CUDA,
// cuDNN and cuBLAS status codes into exceptions naming the call, the Device
// (one GPU: its properties, the compute and copy streams, the cuDNN and
// cuBLASLt handles), DevTensor (a tensor in device memory: pointer, logical
// shape, storage format) and the DevKernel interface every compiled unit
// implements. Only files in backends/cuda include this header.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/device_abi.h"
#include "backends/cuda/lowering.h"
#include "runtime/tensor.h"

namespace acnn::cuda {

[[noreturn]] void fail(const std::string& what, const std::string& why);
inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(what, std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e));
}
inline void check(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) fail(what, cudnnGetErrorString(s));
}
void check(cublasStatus_t s, const char* what);
#define ACNN_CUDA(call) ::acnn::cuda::check((call), #call)

class Device {
 public:
  explicit Device(int id);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  int id = 0;
  int arch = 0;  // 90 for sm_90
  int sms = 0;
  std::string name;
  size_t total_memory = 0;
  cudaStream_t compute = nullptr, copy = nullptr;
  cudaStream_t side = nullptr;  // a second compute stream (streams.h)
  cudnnHandle_t cudnn = nullptr;  // on `compute`
  cublasLtHandle_t lt = nullptr;

  // A cuDNN handle on `side`, created on first use.
  cudnnHandle_t side_cudnn();

  // Threads' blocks for a grid-stride loop over n elements (256 threads each).
  unsigned int blocks_for(int64_t n) const;

 private:
  cudnnHandle_t cudnn_side_ = nullptr;
};

// The process's Device for GPU `id`, created on first use and shared by all
// runners (cuDNN and cuBLASLt handles are costly to create; runners on one
// device share its streams, so their steps serialize).
std::shared_ptr<Device> shared_device(int id = 0);

// A tensor in device memory as kernels see it.
struct DevTensor {
  void* ptr = nullptr;
  Shape shape;  // logical (NCHW order)
  Format fmt;
  int64_t numel() const { return acnn::numel(shape); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(fmt.dtype); }
  bool nhwc() const { return canonical(fmt.layout, shape) == DevLayout::NHWC; }
};

// What a kernel gets besides its operands.
struct LaunchCtx {
  Device& dev;
  cudaStream_t stream;
  const AcnnParams* params;  // device memory
  AcnnStatus* status;        // device memory
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  ExecContext* host = nullptr;  // the run's context (host fallback kernels)
  cudnnHandle_t cudnn = nullptr;  // bound to `stream`
};

class DevKernel {
 public:
  virtual ~DevKernel() = default;
  // Enqueues the kernel on c.stream. Outputs no one reads may be null.
  virtual void launch(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) = 0;
  virtual std::string describe() const = 0;
  // Shared scratch needed during launch().
  virtual size_t workspace_bytes() const { return 0; }
  // Device memory the kernel keeps between launches (e.g. max-pool argmax
  // maps, multi-tensor tables); bound once before the first launch.
  virtual size_t state_bytes() const { return 0; }
  virtual void bind_state(void* p) {}
  // Called once the operands' addresses are final (before any launch).
  virtual void prepare(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, Device& d) {}
  // Synchronizes with the host: cannot be captured in a CUDA graph.
  virtual bool host_sync() const { return false; }
  // Memory a launch touches besides its operands, its own state and the
  // workspace, which the runner must know to run kernels side by side
  // (streams.h): the status block (read or written), another kernel's state.
  virtual bool uses_status() const { return false; }
  virtual const DevKernel* reads_state_of() const { return nullptr; }
};

// cuDNN / CUDA element types of a storage dtype.
cudnnDataType_t cudnn_type(DType t);
cudaDataType_t cuda_type(DType t);

}  // namespace acnn::cuda
