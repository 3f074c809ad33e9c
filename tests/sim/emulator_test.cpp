// The CUDA emulator's own contract (emulator.h), which the [cuda] tests of
// the emulated backend rely on: stream capture records instead of running,
// replays run what was recorded, calls a GPU refuses during capture fail and
// invalidate it, fresh device memory reads as NaN, generated kernels take
// their arguments by value at launch, and cuBLASLt and cuDNN compute what
// their documentation says.
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nvrtc.h>

#include <cmath>
#include <string>
#include <vector>

#include "tests/catch.h"

namespace {

// y[i] = x[i] * P->scalars[0] + S->good_steps, with the emulator's NVRTC.
const char* kScaleKernel = R"(
struct AcnnParams { unsigned long long seed; long long step; int training; int nscalars; float scalars[60]; };
struct AcnnStatus { int label_error, overflow; float loss_scale; int good_steps, skipped_steps, pad0, pad1, pad2; };
extern "C" __global__ void __launch_bounds__(256) scale(const AcnnParams* P, AcnnStatus* S, const float* x, float* y) {
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < 1000u; i += gridDim.x * blockDim.x)
    y[i] = x[i] * P->scalars[0] + S->good_steps;
}
)";

std::vector<char> compile(const char* source) {
  nvrtcProgram prog;
  REQUIRE(nvrtcCreateProgram(&prog, source, "t.cu", 0, nullptr, nullptr) == NVRTC_SUCCESS);
  REQUIRE(nvrtcCompileProgram(prog, 0, nullptr) == NVRTC_SUCCESS);
  size_t n = 0;
  REQUIRE(nvrtcGetCUBINSize(prog, &n) == NVRTC_SUCCESS);
  std::vector<char> image(n);
  REQUIRE(nvrtcGetCUBIN(prog, image.data()) == NVRTC_SUCCESS);
  nvrtcDestroyProgram(&prog);
  return image;
}

}  // namespace

TEST_CASE("CUDA emulator: capture records, replay runs, refused calls invalidate the capture", "[sim]") {
  cudaStream_t s;
  REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
  float* d = nullptr;
  REQUIRE(cudaMalloc(reinterpret_cast<void**>(&d), 4 * sizeof(float)) == cudaSuccess);
  CHECK(std::isnan(d[0]));  // fresh device memory is not zero
  REQUIRE(cudaMemsetAsync(d, 0, 4 * sizeof(float), s) == cudaSuccess);
  CHECK(std::isnan(d[0]));  // streams are lazy: nothing needed it yet
  REQUIRE(cudaStreamSynchronize(s) == cudaSuccess);
  CHECK(d[0] == 0.f);

  float* pinned = nullptr;
  REQUIRE(cudaMallocHost(reinterpret_cast<void**>(&pinned), 4 * sizeof(float)) == cudaSuccess);
  pinned[0] = 7.f;
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  REQUIRE(cudaMemcpyAsync(d, pinned, sizeof(float), cudaMemcpyHostToDevice, s) == cudaSuccess);
  CHECK(d[0] == 0.f);  // recorded, not run
  cudaGraph_t graph = nullptr;
  REQUIRE(cudaStreamEndCapture(s, &graph) == cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  cudaGraphDestroy(graph);
  pinned[0] = 9.f;
  REQUIRE(cudaGraphLaunch(exec, s) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(s) == cudaSuccess);
  CHECK(d[0] == 9.f);  // the copy reads the source when the graph runs
  cudaGraphExecDestroy(exec);

  // A GPU refuses allocation, synchronization and pageable copies while
  // capturing, and the capture is then invalid.
  float pageable = 1.f;
  for (int refused = 0; refused < 3; ++refused) {
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    void* p = nullptr;
    cudaError_t e = refused == 0   ? cudaMalloc(&p, 16)
                    : refused == 1 ? cudaStreamSynchronize(s)
                                   : cudaMemcpyAsync(d, &pageable, sizeof(float), cudaMemcpyHostToDevice, s);
    CHECK(e == cudaErrorStreamCaptureUnsupported);
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated);
    CHECK(graph == nullptr);
    cudaGetLastError();
  }
  cudaFree(d);
  cudaFreeHost(pinned);
  cudaStreamDestroy(s);
}

TEST_CASE("CUDA emulator: a capture over two streams is a DAG, replayed in the most adversarial order", "[sim]") {
  cudaStream_t a, b;
  cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking);
  cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking);
  cudaEvent_t fork, after, join, outside;
  for (cudaEvent_t* e : {&fork, &after, &join, &outside}) cudaEventCreateWithFlags(e, cudaEventDisableTiming);
  unsigned char* d = nullptr;
  REQUIRE(cudaMalloc(reinterpret_cast<void**>(&d), 1) == cudaSuccess);
  // a writes 1, b (forked from a) writes 2; `ordered`: b waits for a's write.
  auto capture = [&](bool ordered, bool joined, cudaGraph_t* g) {
    REQUIRE(cudaStreamBeginCapture(a, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    cudaEventRecord(fork, a);
    cudaStreamWaitEvent(b, fork, 0);
    cudaMemsetAsync(d, 1, 1, a);
    if (ordered) cudaEventRecord(after, a), cudaStreamWaitEvent(b, after, 0);
    cudaMemsetAsync(d, 2, 1, b);
    if (joined) cudaEventRecord(join, b), cudaStreamWaitEvent(a, join, 0);
    return cudaStreamEndCapture(a, g);
  };
  auto replay = [&](cudaGraph_t g) {
    cudaGraphExec_t x = nullptr;
    REQUIRE(cudaGraphInstantiate(&x, g, 0) == cudaSuccess);
    cudaGraphDestroy(g);
    cudaMemsetAsync(d, 0, 1, a);
    REQUIRE(cudaGraphLaunch(x, a) == cudaSuccess);
    REQUIRE(cudaStreamSynchronize(a) == cudaSuccess);
    cudaGraphExecDestroy(x);
    return static_cast<int>(d[0]);
  };
  cudaGraph_t g = nullptr;
  REQUIRE(capture(true, true, &g) == cudaSuccess);
  CHECK(replay(g) == 2);
  // Without the edge the writes may run in either order: the one captured
  // last runs first.
  REQUIRE(capture(false, true, &g) == cudaSuccess);
  CHECK(replay(g) == 1);
  // b's work must be joined back into a before the capture ends.
  CHECK(capture(true, false, &g) == cudaErrorStreamCaptureUnjoined);
  CHECK(g == nullptr);
  cudaGetLastError();
  // A capturing stream cannot wait for work outside its capture.
  cudaEventRecord(outside, b);
  cudaStreamSynchronize(b);
  REQUIRE(cudaStreamBeginCapture(a, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  CHECK(cudaStreamWaitEvent(a, outside, 0) == cudaErrorStreamCaptureUnsupported);
  CHECK(cudaStreamEndCapture(a, &g) == cudaErrorStreamCaptureInvalidated);
  cudaGetLastError();
  cudaFree(d);
  for (cudaEvent_t e : {fork, after, join, outside}) cudaEventDestroy(e);
  cudaStreamDestroy(a);
  cudaStreamDestroy(b);
}

TEST_CASE("CUDA emulator: NVRTC programs load and launch with arguments copied at the launch", "[sim]") {
  const std::vector<char> image = compile(kScaleKernel);
  cudaLibrary_t lib;
  REQUIRE(cudaLibraryLoadData(&lib, image.data(), nullptr, nullptr, 0, nullptr, nullptr, 0) == cudaSuccess);
  cudaKernel_t k;
  REQUIRE(cudaLibraryGetKernel(&k, lib, "scale") == cudaSuccess);
  CHECK(cudaLibraryGetKernel(&k, lib, "missing") != cudaSuccess);
  char junk[32] = "not an image";
  cudaLibrary_t bad;
  CHECK(cudaLibraryLoadData(&bad, junk, nullptr, nullptr, 0, nullptr, nullptr, 0) == cudaErrorInvalidKernelImage);

  std::vector<float> x(1000), y(1000, -1.f);
  for (int i = 0; i < 1000; ++i) x[i] = static_cast<float>(i);
  struct {
    unsigned long long seed;
    long long step;
    int training, nscalars;
    float scalars[60];
  } params{};
  params.scalars[0] = 2.f;
  struct {
    int label_error, overflow;
    float loss_scale;
    int good_steps, skipped_steps, pad0, pad1, pad2;
  } status{};
  status.good_steps = 1;
  const void* P = &params;
  void* S = &status;
  const float* xp = x.data();
  float* yp = y.data();
  void* args[] = {&P, &S, &xp, &yp};
  cudaStream_t s;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  REQUIRE(cudaLaunchKernel(reinterpret_cast<const void*>(k), dim3(3), dim3(256), args, 0, s) == cudaSuccess);
  yp = nullptr;  // the launch copied the pointer's value
  cudaGraph_t graph;
  REQUIRE(cudaStreamEndCapture(s, &graph) == cudaSuccess);
  cudaGraphExec_t exec;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  REQUIRE(cudaGraphLaunch(exec, s) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(s) == cudaSuccess);
  for (int i : {0, 767, 768, 999}) CHECK(y[i] == 2.f * static_cast<float>(i) + 1.f);
  CHECK(cudaLaunchKernel(reinterpret_cast<const void*>(k), dim3(1), dim3(2048), args, 0, s) ==
        cudaErrorInvalidConfiguration);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);  // the last error, once
  CHECK(cudaGetLastError() == cudaSuccess);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaLibraryUnload(lib);
  cudaStreamDestroy(s);
}

TEST_CASE("CUDA emulator: cuBLASLt computes column-major D = op(A) op(B) and checks shapes", "[sim]") {
  // Row-major A[2,3], B[3,2] are column-major A^T[3,2], B^T[2,3]; C = A B is
  // computed as C^T = B^T A^T, the CUDA backend's trick.
  const float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1};
  float C[4] = {NAN, NAN, NAN, NAN};
  cublasLtHandle_t h;
  cublasLtCreate(&h);
  cublasLtMatmulDesc_t desc;
  REQUIRE(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS);
  cublasLtMatrixLayout_t la, lb, lc, wrong;
  cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, 2, 3, 2);  // B^T: 2 x 3, ld 2
  cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, 3, 2, 3);  // A^T: 3 x 2, ld 3
  cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, 2, 2, 2);
  cublasLtMatrixLayoutCreate(&wrong, CUDA_R_32F, 3, 3, 3);
  cublasLtMatmulPreference_t pref;
  cublasLtMatmulPreferenceCreate(&pref);
  cublasLtMatmulHeuristicResult_t algo;
  int found = 0;
  REQUIRE(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, 1, &algo, &found) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(found == 1);
  CHECK(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, wrong, wrong, pref, 1, &algo, &found) != CUBLAS_STATUS_SUCCESS);
  std::vector<char> ws(algo.workspaceSize);
  const float one = 1.f, zero = 0.f;
  REQUIRE(cublasLtMatmul(h, desc, &one, B, la, A, lb, &zero, C, lc, C, lc, &algo.algo, ws.data(), ws.size(), nullptr) ==
          CUBLAS_STATUS_SUCCESS);
  // A B = [[1*1+2*0+3*1, 1*0+2*1+3*1], [4+0+6, 0+5+6]] = [[4, 5], [10, 11]], row-major.
  CHECK((C[0] == 4.f && C[1] == 5.f && C[2] == 10.f && C[3] == 11.f));
  cublasLtMatmulPreferenceDestroy(pref);
  for (auto* l : {la, lb, lc, wrong}) cublasLtMatrixLayoutDestroy(l);
  cublasLtMatmulDescDestroy(desc);
  cublasLtDestroy(h);
}

TEST_CASE("CUDA emulator: cuDNN convolutions in NHWC with groups, stride and padding", "[sim]") {
  // x [1, 2, 3, 3] NHWC, two groups of one channel, 2x2 filters of ones,
  // stride 2, padding 1: each output sums the covered inputs of its channel.
  cudnnHandle_t h;
  REQUIRE(cudnnCreate(&h) == CUDNN_STATUS_SUCCESS);
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  cudnnCreateTensorDescriptor(&xd);
  cudnnCreateTensorDescriptor(&yd);
  cudnnCreateFilterDescriptor(&wd);
  cudnnCreateConvolutionDescriptor(&cd);
  REQUIRE(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, 2, 3, 3) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 2, 1, 2, 2) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetConvolution2dDescriptor(cd, 1, 1, 2, 2, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT) ==
          CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetConvolutionGroupCount(cd, 2) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, 2, 2, 2) == CUDNN_STATUS_SUCCESS);
  std::vector<float> x(18), w(8, 1.f), y(8, NAN);
  for (int h_ = 0; h_ < 3; ++h_)
    for (int w_ = 0; w_ < 3; ++w_) x[(h_ * 3 + w_) * 2 + 0] = 1.f, x[(h_ * 3 + w_) * 2 + 1] = 10.f;
  const float one = 1.f, zero = 0.f;
  REQUIRE(cudnnConvolutionForward(h, &one, xd, x.data(), wd, w.data(), cd, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                                  nullptr, 0, &zero, yd, y.data()) == CUDNN_STATUS_SUCCESS);
  // Windows start at -1 with stride 2: (0,0) covers 1 input, (0,1) 2, (1,0) 2, (1,1) 4.
  const float count[4] = {1, 2, 2, 4};
  for (int p = 0; p < 4; ++p) CHECK((y[p * 2 + 0] == count[p] && y[p * 2 + 1] == 10.f * count[p]));
  // A y of the wrong size is refused, as cuDNN refuses it.
  cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, 2, 3, 3);
  CHECK(cudnnConvolutionForward(h, &one, xd, x.data(), wd, w.data(), cd, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                                nullptr, 0, &zero, yd, y.data()) == CUDNN_STATUS_BAD_PARAM);
  cudnnDestroyConvolutionDescriptor(cd);
  cudnnDestroyFilterDescriptor(wd);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyTensorDescriptor(xd);
  cudnnDestroy(h);
}

TEST_CASE("CUDA emulator: streams run lazily, in the order their events and waits impose", "[sim]") {
  cudaStream_t copy, compute;
  cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking);
  cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking);
  cudaEvent_t copied;
  cudaEventCreateWithFlags(&copied, cudaEventDisableTiming);
  float *pinned = nullptr, *dev = nullptr, *out = nullptr;
  cudaMallocHost(reinterpret_cast<void**>(&pinned), sizeof(float));
  cudaMalloc(reinterpret_cast<void**>(&dev), sizeof(float));
  cudaMallocHost(reinterpret_cast<void**>(&out), sizeof(float));
  *pinned = 3.f;
  // Upload on one stream, read it back on another after waiting for the upload.
  cudaMemcpyAsync(dev, pinned, sizeof(float), cudaMemcpyHostToDevice, copy);
  cudaEventRecord(copied, copy);
  cudaStreamWaitEvent(compute, copied, 0);
  cudaMemcpyAsync(out, dev, sizeof(float), cudaMemcpyDeviceToHost, compute);
  *pinned = 4.f;  // too early: the upload has not run, and now reads 4
  REQUIRE(cudaStreamSynchronize(compute) == cudaSuccess);  // runs the upload first, as the wait requires
  CHECK(*out == 4.f);
  // Without the wait, the read-back runs before the upload it needed.
  *pinned = 5.f;
  cudaMemcpyAsync(dev, pinned, sizeof(float), cudaMemcpyHostToDevice, copy);
  cudaMemcpyAsync(out, dev, sizeof(float), cudaMemcpyDeviceToHost, compute);
  REQUIRE(cudaStreamSynchronize(compute) == cudaSuccess);
  CHECK(*out == 4.f);
  REQUIRE(cudaStreamSynchronize(copy) == cudaSuccess);
  CHECK(*dev == 5.f);
  // A copy from pageable memory reads it when enqueued.
  float pageable = 6.f;
  cudaMemcpyAsync(dev, &pageable, sizeof(float), cudaMemcpyHostToDevice, copy);
  pageable = 7.f;
  cudaStreamSynchronize(copy);
  CHECK(*dev == 6.f);
  cudaEventDestroy(copied);
  cudaFree(dev);
  cudaFreeHost(pinned);
  cudaFreeHost(out);
  cudaStreamDestroy(copy);
  cudaStreamDestroy(compute);
}
