// backends/cuda/kernels.cu and kernels_bn.cu compiled as host C++ (one
// translation unit): tests/sim/include/ is first on this target's include
// path, so <cuda_runtime.h>, <cuda_fp16.h> and <cuda_bf16.h> are the
// stand-ins there and every launch runs on the simulated threads of threads.h. The launchers are the real ones: grid
// shapes, row splits and workspace sizes are tested along with the kernels.
#include "backends/cuda/kernels.cu"
#include "backends/cuda/kernels_bn.cu"
