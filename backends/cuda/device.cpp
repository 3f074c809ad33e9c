// The Device (streams, cuDNN and cuBLASLt handles), error reporting and
// device_count(), which must work on machines without a driver or GPU.
#include <map>
#include <mutex>
#include <stdexcept>

#include "backends/cuda/common.h"
#include "backends/cuda/cuda_runner.h"

namespace acnn::cuda {

void fail(const std::string& what, const std::string& why) {
  throw std::runtime_error("CUDA backend: " + what + " failed: " + why);
}

void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) fail(what, "cuBLAS status " + std::to_string(static_cast<int>(s)));
}

int device_count(std::string* why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = std::string("cudaGetDeviceCount says ") + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ")";
    cudaGetLastError();  // clear the sticky-free error state
    return 0;
  }
  if (n == 0 && why) *why = "cudaGetDeviceCount says there are 0 devices";
  return n;
}

Device::Device(int dev) : id(dev) {
  ACNN_CUDA(cudaSetDevice(dev));
  cudaDeviceProp p;
  ACNN_CUDA(cudaGetDeviceProperties(&p, dev));
  name = p.name;
  arch = p.major * 10 + p.minor;
  sms = p.multiProcessorCount;
  total_memory = p.totalGlobalMem;
  if (arch < 80)
    throw std::runtime_error("the CUDA backend needs compute capability 8.0 or newer (bf16 conversions); " + name +
                             " has " + std::to_string(p.major) + "." + std::to_string(p.minor));
  ACNN_CUDA(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking));
  ACNN_CUDA(cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking));
  ACNN_CUDA(cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking));
  ACNN_CUDA(cudnnCreate(&cudnn));
  ACNN_CUDA(cudnnSetStream(cudnn, compute));
  ACNN_CUDA(cublasLtCreate(&lt));
}

cudnnHandle_t Device::side_cudnn() {
  if (!cudnn_side_) {
    ACNN_CUDA(cudnnCreate(&cudnn_side_));
    ACNN_CUDA(cudnnSetStream(cudnn_side_, side));
  }
  return cudnn_side_;
}

Device::~Device() {
  if (lt) cublasLtDestroy(lt);
  if (cudnn) cudnnDestroy(cudnn);
  if (cudnn_side_) cudnnDestroy(cudnn_side_);
  if (side) cudaStreamDestroy(side);
  if (copy) cudaStreamDestroy(copy);
  if (compute) cudaStreamDestroy(compute);
}

std::shared_ptr<Device> shared_device(int id) {
  // Kept for the life of the process (creating cuDNN and cuBLASLt handles
  // costs a good part of a second; test cases and evaluators come and go) and
  // deliberately never destroyed: at exit the CUDA runtime may be gone first.
  static std::mutex m;
  static auto* devices = new std::map<int, std::shared_ptr<Device>>();
  std::lock_guard<std::mutex> lock(m);
  std::shared_ptr<Device>& d = (*devices)[id];
  if (!d) d = std::make_shared<Device>(id);
  return d;
}

unsigned int Device::blocks_for(int64_t n) const {
  int64_t b = (n + 255) / 256;
  int64_t cap = static_cast<int64_t>(sms) * 32;
  if (b > cap) b = cap;
  return static_cast<unsigned int>(b < 1 ? 1 : b);
}

cudnnDataType_t cudnn_type(DType t) {
  switch (t) {
    case DType::F32: return CUDNN_DATA_FLOAT;
    case DType::F16: return CUDNN_DATA_HALF;
    case DType::BF16: return CUDNN_DATA_BFLOAT16;
    case DType::F64: return CUDNN_DATA_DOUBLE;
    case DType::I32: return CUDNN_DATA_INT32;
    default: break;
  }
  throw std::runtime_error(std::string("cuDNN has no type for ") + dtype_name(t));
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F32: return CUDA_R_32F;
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::F64: return CUDA_R_64F;
    default: break;
  }
  throw std::runtime_error(std::string("cuBLAS has no type for ") + dtype_name(t));
}

}  // namespace acnn::cuda
