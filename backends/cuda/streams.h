// Which kernels of a step may run at the same time: the step's kernels are
// spread over a few compute streams, and a kernel waits (an event recorded
// after the other kernel) for every earlier kernel on another stream that it
// conflicts with: one of the two writes memory the other reads or writes.
// Memory is compared as byte ranges of the runner's blocks (arena,
// persistent tensors, kernel state, the status block), so that an arena
// range the memory plan reuses for a later value orders its readers before
// the new writer, exactly as the single-stream order did. A kernel goes on
// the stream of its latest conflict when that conflict is the stream's last
// kernel (a chain goes on), and otherwise on the stream that has been idle
// longest, where it overlaps the kernels it does not depend on: a
// convolution's weight gradient with its data gradient, a downsampling
// branch with the main path, the independent small kernels of attention and
// DropBlock with each other. Captured in a CUDA graph, the waits become the
// graph's edges. Pure bookkeeping, tested without a GPU.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace acnn::cuda {

// Bytes [begin, end) of memory block `block`, read or written by a kernel.
struct MemRange {
  int block = 0;
  uint64_t begin = 0, end = 0;
  bool write = false;
};

struct StreamPlan {
  int streams = 1;                      // compute streams used (1: the step runs in order)
  std::vector<int> stream;              // per step: its stream; -1 for a step that is not launched
  std::vector<std::vector<int>> waits;  // per step: earlier steps, on other streams, to wait for
  std::vector<bool> record;             // per step: an event is recorded after it (someone waits for it)

  int steps_on(int s) const;
  int cross_waits() const;
};

// Plans `touches.size()` steps on at most `max_streams` streams; steps with
// launched[i] false are skipped (they run outside the step).
StreamPlan plan_streams(const std::vector<std::vector<MemRange>>& touches, const std::vector<bool>& launched,
                        int max_streams);

// Whether the plan orders every conflicting pair of launched steps (by
// stream order, waits, or a chain of both); otherwise false with the first
// unordered pair in `why`. Quadratic: for tests.
bool plan_orders_conflicts(const StreamPlan& p, const std::vector<std::vector<MemRange>>& touches,
                           const std::vector<bool>& launched, std::string* why);

}  // namespace acnn::cuda
