// The CUDA runtime API of the emulator (see tests/sim/emulator.h): memory,
// streams, events, graphs and generated-kernel libraries on the host.
//
// Streams are adversarial: an operation on a created stream runs only when
// something needs it (a synchronization of its stream or of an event after
// it, or another stream's wait on such an event), so work that a GPU may
// overlap runs as late as a missing wait would let it. With
// ACNN_EMULATOR_SCHEDULE=hurried, every stream but the first one created
// instead runs each operation as soon as it is enqueued (after what it
// waits for), so that a producer stream overtakes its consumer as far as a
// missing wait would let it. The legacy stream (null) runs at once. A copy from pageable
// host memory snapshots its source when it is enqueued and a copy to
// pageable memory waits for its stream, as CUDA's do; freeing memory waits
// for every stream, as cudaFree does.
//
// Capture follows CUDA's rules for several streams: a stream joins the
// capture by waiting on an event recorded in it, its operations depend on
// what it waited for, and ending the capture fails unless the origin stream
// has waited for everything captured (cudaErrorStreamCaptureUnjoined). The
// graph is a DAG; a launch runs its operations in the most adversarial
// order the edges allow: of the operations ready to run, the one captured
// last first, so that a missing edge shows as a kernel running before one
// it depends on.
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/sim/emulator.h"
#include "tests/sim/emulator/kernel_image.h"

struct CUstream_st {
  bool capturing = false;
  std::vector<int> tips;                      // capturing: the captured nodes its next operation depends on
  std::deque<std::function<void()>> pending;  // enqueued, not yet run
  uint64_t enqueued = 0, done = 0;            // operations so far
};
struct CUevent_st {
  bool timing = true;
  bool recorded = false;
  CUstream_st* stream = nullptr;  // the last record: `stream` after `position` operations
  uint64_t position = 0;
  std::chrono::steady_clock::time_point at;
  uint64_t capture = 0;   // recorded in the capture with this serial number (0: outside any)
  std::vector<int> tips;  // then: the nodes it stands for
};
struct CUgraph_st {
  std::vector<std::function<void()>> ops;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> ops;
};
struct CUlib_st {
  void* so = nullptr;
  std::string dir;
};
struct CUkern_st {
  acnn::sim::KernelEntry entry;
  CUlib_st* library;  // unloading it invalidates the kernel
};

namespace {

constexpr size_t kDeviceBytes = size_t{80} << 30;  // what the emulated GPU reports

cudaError_t last_error = cudaSuccess;
std::map<void*, size_t> device_blocks;
std::map<void*, size_t> pinned_blocks;  // start -> bytes
size_t device_in_use = 0;
std::set<CUstream_st*> streams;
CUstream_st* first_stream = nullptr;  // the one a hurried schedule leaves lazy
std::set<CUkern_st*> kernels;

// The capture under way: its origin stream, the streams that joined it and
// the operations captured so far, each with the nodes it depends on.
struct CaptureNode {
  std::function<void()> op;
  std::vector<int> deps;
};
struct Capture {
  CUstream_st* origin = nullptr;
  uint64_t serial = 0;
  bool invalidated = false;
  std::set<CUstream_st*> streams;
  std::vector<CaptureNode> nodes;
};
Capture capture;
uint64_t captures = 0;

// Whether some stream is being captured (a synchronizing call then fails).
bool capturing() { return capture.origin != nullptr; }

// The captured operations in a launch's order: of those whose dependencies
// have run, the one captured last.
std::vector<std::function<void()>> adversarial_order(std::vector<CaptureNode>& nodes) {
  std::vector<int> waiting(nodes.size());
  std::vector<std::vector<int>> users(nodes.size());
  std::set<int> ready;
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    std::set<int> deps(nodes[i].deps.begin(), nodes[i].deps.end());
    waiting[i] = static_cast<int>(deps.size());
    for (int d : deps) users[d].push_back(i);
    if (deps.empty()) ready.insert(i);
  }
  std::vector<std::function<void()>> ops;
  while (!ready.empty()) {
    const int i = *ready.rbegin();
    ready.erase(i);
    ops.push_back(std::move(nodes[i].op));
    for (int u : users[i])
      if (--waiting[u] == 0) ready.insert(u);
  }
  return ops;
}

cudaError_t fail(cudaError_t e) {
  last_error = e;
  return e;
}

// A call a GPU refuses while a stream is capturing: it invalidates the capture.
cudaError_t refused_during_capture() {
  if (capturing()) capture.invalidated = true;
  return fail(cudaErrorStreamCaptureUnsupported);
}

void* allocate(size_t bytes) {
  void* p = std::aligned_alloc(256, std::max<size_t>(256, (bytes + 255) / 256 * 256));
  // Uninitialized device memory reads as NaN (0xff bytes) rather than zeros.
  if (p) std::memset(p, 0xff, bytes);
  return p;
}

bool pinned(const void* p) {
  auto it = pinned_blocks.upper_bound(const_cast<void*>(p));
  if (it == pinned_blocks.begin()) return false;
  --it;
  return static_cast<const char*>(p) < static_cast<const char*>(it->first) + it->second;
}

// Runs `stream`'s operations until `position` of them have run.
void drain(CUstream_st* stream, uint64_t position) {
  while (stream && stream->done < position && !stream->pending.empty()) {
    std::function<void()> op = std::move(stream->pending.front());
    stream->pending.pop_front();
    ++stream->done;
    op();
  }
}

void drain_all() {
  for (CUstream_st* s : streams) drain(s, s->enqueued);
}

}  // namespace

namespace acnn::sim {

void enqueue(CUstream_st* stream, std::function<void()> op) {
  if (!stream) {
    op();
  } else if (stream->capturing) {
    capture.nodes.push_back(CaptureNode{std::move(op), stream->tips});
    stream->tips = {static_cast<int>(capture.nodes.size()) - 1};
  } else {
    stream->pending.push_back(std::move(op));
    ++stream->enqueued;
    static const bool hurried = [] {
      const char* e = std::getenv("ACNN_EMULATOR_SCHEDULE");
      return e && std::string(e) == "hurried";
    }();
    if (hurried && stream != first_stream) drain(stream, stream->enqueued);
  }
}

}  // namespace acnn::sim

extern "C" {

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof *prop);
  std::snprintf(prop->name, sizeof prop->name, "acnn CUDA emulator (host)");
  prop->totalGlobalMem = kDeviceBytes;
  prop->major = 9, prop->minor = 0;
  prop->multiProcessorCount = 4;  // few SMs: small grids, partial waves
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  if (capturing()) return refused_during_capture();
  drain_all();
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorInvalidKernelImage: return "cudaErrorInvalidKernelImage";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnjoined: return "cudaErrorStreamCaptureUnjoined";
    default: return "cudaErrorUnknown";
  }
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorInvalidKernelImage: return "device kernel image is invalid";
    default: return cudaGetErrorName(e);
  }
}
cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  *total = kDeviceBytes;
  *free = kDeviceBytes - std::min(kDeviceBytes, device_in_use);
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (capturing()) return refused_during_capture();
  *ptr = allocate(bytes);
  if (!*ptr) return fail(cudaErrorMemoryAllocation);
  device_blocks[*ptr] = bytes;
  device_in_use += bytes;
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  if (capturing()) return refused_during_capture();
  *ptr = allocate(bytes);
  if (!*ptr) return fail(cudaErrorMemoryAllocation);
  pinned_blocks[*ptr] = bytes;
  return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  if (capturing()) return refused_during_capture();
  drain_all();  // cudaFree waits for the device
  auto it = device_blocks.find(ptr);
  if (it == device_blocks.end()) return fail(cudaErrorInvalidValue);
  device_in_use -= it->second;
  device_blocks.erase(it);
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  drain_all();
  if (!pinned_blocks.erase(ptr)) return fail(cudaErrorInvalidValue);
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  if (capturing()) return refused_during_capture();
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  const bool from_pageable = kind == cudaMemcpyHostToDevice && !pinned(src);
  const bool to_pageable = kind == cudaMemcpyDeviceToHost && !pinned(dst);
  // A captured copy to or from pageable host memory is refused.
  if (stream && stream->capturing && (from_pageable || to_pageable)) return refused_during_capture();
  if (from_pageable) {  // staged now: the caller may reuse its buffer at once
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src), static_cast<const char*>(src) + bytes);
    acnn::sim::enqueue(stream, [=] { std::memcpy(dst, staged->data(), bytes); });
  } else {
    acnn::sim::enqueue(stream, [=] { std::memmove(dst, src, bytes); });
  }
  if (to_pageable && stream) drain(stream, stream->enqueued);  // returns once the copy is done
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  acnn::sim::enqueue(stream, [=] { std::memset(ptr, value, bytes); });
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  *stream = new CUstream_st;
  streams.insert(*stream);
  if (!first_stream) first_stream = *stream;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!streams.count(stream)) return fail(cudaErrorInvalidResourceHandle);
  drain(stream, stream->enqueued);  // its work completes
  streams.erase(stream);
  if (first_stream == stream) first_stream = nullptr;
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (capturing()) return refused_during_capture();
  if (stream) drain(stream, stream->enqueued);
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  if (capturing() && event->capture == capture.serial) {  // an edge; the stream joins the capture
    if (!stream) return refused_during_capture();
    if (!stream->capturing) {
      stream->capturing = true;
      stream->tips.clear();
      capture.streams.insert(stream);
    }
    stream->tips.insert(stream->tips.end(), event->tips.begin(), event->tips.end());
    return cudaSuccess;
  }
  // A capturing stream cannot wait for work outside its capture.
  if (stream && stream->capturing) return refused_during_capture();
  // Later work on `stream` runs after what preceded the event's record.
  if (CUstream_st* from = event->stream; from && from != stream)
    acnn::sim::enqueue(stream, [from, at = event->position] { drain(from, at); });
  return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  if (!stream || capturing()) return fail(cudaErrorStreamCaptureUnsupported);  // the legacy stream cannot capture
  capture = Capture{};
  capture.origin = stream;
  capture.serial = ++captures;
  capture.streams.insert(stream);
  stream->capturing = true;
  stream->tips.clear();
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (!stream || stream != capture.origin) return fail(cudaErrorIllegalAddress);
  *graph = nullptr;
  // Every captured operation must come before the origin's last ones.
  std::vector<bool> joined(capture.nodes.size(), false);
  std::vector<int> todo = stream->tips;
  while (!todo.empty()) {
    const int i = todo.back();
    todo.pop_back();
    if (joined[i]) continue;
    joined[i] = true;
    todo.insert(todo.end(), capture.nodes[i].deps.begin(), capture.nodes[i].deps.end());
  }
  const bool unjoined = std::find(joined.begin(), joined.end(), false) != joined.end();
  for (CUstream_st* s : capture.streams) s->capturing = false, s->tips.clear();
  Capture done = std::move(capture);
  capture = Capture{};
  if (done.invalidated) return fail(cudaErrorStreamCaptureInvalidated);
  if (unjoined) return fail(cudaErrorStreamCaptureUnjoined);
  *graph = new CUgraph_st{adversarial_order(done.nodes)};
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  *event = new CUevent_st;
  (*event)->timing = (flags & cudaEventDisableTiming) == 0;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  acnn::sim::enqueue(stream, [event] {
    event->recorded = true;
    event->at = std::chrono::steady_clock::now();
  });
  event->capture = 0;
  if (!stream) event->stream = nullptr, event->position = 0;
  else if (!stream->capturing) event->stream = stream, event->position = stream->enqueued;
  else event->capture = capture.serial, event->tips = stream->tips;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (capturing()) return refused_during_capture();
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  drain(event->stream, event->position);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!start || !end || !start->timing || !end->timing || !start->recorded || !end->recorded)
    return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  drain_all();  // a pending record or wait may still name it
  delete event;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!graph) return fail(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->ops};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!exec) return fail(cudaErrorInvalidResourceHandle);
  for (const auto& op : exec->ops) acnn::sim::enqueue(stream, op);
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

cudaError_t cudaLibraryLoadData(cudaLibrary_t* library, const void* code, cudaJitOption*, void**, unsigned int,
                                cudaLibraryOption*, void**, unsigned int) {
  std::string dir;
  void* so = acnn::sim::load_kernel_image(code, &dir);
  if (!so) return fail(cudaErrorInvalidKernelImage);
  *library = new CUlib_st{so, dir};
  return cudaSuccess;
}
cudaError_t cudaLibraryGetKernel(cudaKernel_t* kernel, cudaLibrary_t library, const char* name) {
  acnn::sim::KernelEntry e;
  if (!library || !acnn::sim::find_kernel(library->so, name, &e)) return fail(cudaErrorInvalidValue);
  *kernel = new CUkern_st{e, library};
  kernels.insert(*kernel);
  return cudaSuccess;
}
cudaError_t cudaLibraryUnload(cudaLibrary_t library) {
  if (!library) return fail(cudaErrorInvalidResourceHandle);
  drain_all();  // pending launches of its kernels run first
  for (auto it = kernels.begin(); it != kernels.end();)
    if ((*it)->library == library) delete *it, it = kernels.erase(it);
    else ++it;
  acnn::sim::unload_kernel_image(library->so, library->dir);
  delete library;
  return cudaSuccess;
}
cudaError_t cudaLaunchKernel(const void* func, dim3 grid, dim3 block, void** args, size_t, cudaStream_t stream) {
  auto* k = static_cast<CUkern_st*>(const_cast<void*>(func));
  if (!kernels.count(k)) return fail(cudaErrorInvalidResourceHandle);
  if (grid.x * grid.y * grid.z == 0 || block.x * block.y * block.z == 0 || block.x * block.y * block.z > 1024)
    return fail(cudaErrorInvalidConfiguration);
  if (grid.y != 1 || grid.z != 1 || block.y != 1 || block.z != 1)
    throw std::runtime_error("CUDA emulator: generated kernels take one-dimensional grids");
  // The argument values, copied now as CUDA copies them.
  std::vector<std::vector<char>> values;
  for (unsigned i = 0; i < k->entry.sizes.size(); ++i) {
    const char* a = static_cast<const char*>(args[i]);
    values.emplace_back(a, a + k->entry.sizes[i]);
  }
  acnn::sim::KernelEntry e = k->entry;
  acnn::sim::enqueue(stream, [e, grid, block, values]() mutable {
    std::vector<void*> ptrs;
    for (auto& v : values) ptrs.push_back(v.data());
    acnn::sim::run_kernel(e, grid.x, block.x, ptrs.data());
  });
  return cudaSuccess;
}

}  // extern "C"
