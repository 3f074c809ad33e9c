// CUDA's execution model on the host, for testing hand-written kernels
// without a GPU. A launch runs its blocks one after another; each block's
// threads are cooperative fibers (ucontext) on the calling thread, so
// `__syncthreads`, `__syncthreads_or` and warp shuffles behave as on a GPU:
// a thread waits at a barrier until every live thread of its block arrives,
// at a shuffle until every live lane of its warp does. Barrier divergence
// (threads waiting at different barriers) and shuffles that read an exited
// lane are reported as errors instead of hanging. `__shared__` variables are
// function statics, which is exact because blocks never overlap.
// tests/sim/include/ maps the CUDA C names onto this.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>

struct CUstream_st;  // cudaStream_t points to one

namespace acnn::sim {

struct Dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr Dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

// What the running simulated thread sees (threadIdx, blockIdx, ...).
extern Dim3 thread_idx, block_idx, block_dim, grid_dim;

// Runs body once per thread of every block of the grid; throws
// std::runtime_error on barrier divergence or a shuffle with an exited lane.
void run_grid(Dim3 grid, Dim3 block, const std::function<void()>& body);

// Synchronization inside a kernel body. A barrier is known by its source
// position: threads waiting at two different __syncthreads are divergence.
void sync_threads(const char* file, int line);
int sync_threads_or(int predicate, const char* file, int line);
float shfl_xor(float value, int lane_mask);

// Runs op on a stream of the CUDA emulator (emulator.h): now, or recorded
// when the stream is being captured into a graph.
void enqueue(CUstream_st* stream, std::function<void()> op);

// `kernel<<<grid, block, 0, stream>>>(args...)` as
// Launch(grid, block, stream, kernel)(args...): the arguments are copied at
// the launch, as CUDA copies them, and the grid runs when the stream gets to it.
template <class Kernel>
class Launch {
 public:
  Launch(Dim3 grid, Dim3 block, CUstream_st* stream, Kernel* kernel)
      : grid_(grid), block_(block), stream_(stream), kernel_(kernel) {}
  template <class... Args>
  void operator()(Args&&... args) const {
    enqueue(stream_, [k = kernel_, g = grid_, b = block_, ... a = std::decay_t<Args>(args)] {
      run_grid(g, b, [&] { k(a...); });
    });
  }

 private:
  Dim3 grid_, block_;
  CUstream_st* stream_;
  Kernel* kernel_;
};

}  // namespace acnn::sim
