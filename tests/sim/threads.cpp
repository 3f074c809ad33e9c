#include "tests/sim/threads.h"

#include <cassert>
#include <cstdint>
#if !defined(__x86_64__) || defined(ACNN_SIM_UCONTEXT)
#include <ucontext.h>
#endif
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace acnn::sim {

Dim3 thread_idx, block_idx, block_dim, grid_dim;

namespace {

// Switching between the scheduler and a simulated thread. On x86-64, a few
// instructions save the callee-saved registers and swap stacks (ucontext's
// swapcontext makes a system call per switch, which took a third of the
// emulator's time); elsewhere, ucontext.
#if defined(__x86_64__) && !defined(ACNN_SIM_UCONTEXT)
extern "C" void acnn_sim_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .globl acnn_sim_switch
  .type acnn_sim_switch, @function
acnn_sim_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size acnn_sim_switch, .-acnn_sim_switch
)");

struct Context {
  void* sp = nullptr;
};
// Makes `c` start `entry` (which must never return) on the given stack.
void start(Context& c, char* stack, size_t bytes, void (*entry)()) {
  void** sp = reinterpret_cast<void**>((reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t{15});
  *--sp = nullptr;                          // entry's return address (as if called: rsp = 8 mod 16)
  *--sp = reinterpret_cast<void*>(entry);   // where acnn_sim_switch's ret goes
  for (int i = 0; i < 6; ++i) *--sp = nullptr;  // rbp, rbx, r12-r15
  c.sp = sp;
}
void switch_to(Context& from, Context& to) { acnn_sim_switch(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc;
};
void start(Context& c, char* stack, size_t bytes, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = bytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
void switch_to(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

constexpr size_t kStackBytes = 64 * 1024;
constexpr unsigned int kWarp = 32;

enum class Wait { Ready, Barrier, Shuffle, Done };

struct Thread {
  Context context;
  std::unique_ptr<char[]> stack;
  Dim3 idx;
  Wait wait = Wait::Ready;
  float posted = 0.f;  // a shuffle's value
  int lane_mask = 0;   // a shuffle's xor
  int predicate = 0;   // __syncthreads_or's argument
  const char* file = nullptr;  // which barrier: its source position
  int line = 0;
  float shuffled = 0.f;
  int any = 0;
};

struct Block {
  std::vector<Thread> threads;
  Context scheduler;
  Thread* current = nullptr;
  const std::function<void()>* body = nullptr;
};

Block* running = nullptr;

// A simulated thread: runs the kernel body, then returns to the scheduler for good.
[[noreturn]] void thread_main() {
  (*running->body)();
  running->current->wait = Wait::Done;
  switch_to(running->current->context, running->scheduler);
  __builtin_unreachable();
}

Thread& current_thread() {
  assert(running && running->current && "a synchronization primitive called outside a simulated kernel");
  return *running->current;
}

void wait_for(Wait w) {
  Thread& t = current_thread();
  t.wait = w;
  switch_to(t.context, running->scheduler);
}

std::string where() {
  return "block (" + std::to_string(block_idx.x) + "," + std::to_string(block_idx.y) + "," +
         std::to_string(block_idx.z) + ")";
}

// Releases every warp whose live lanes all wait at a shuffle; true if any.
bool release_shuffles(std::vector<Thread>& ts) {
  bool released = false;
  for (size_t w = 0; w < ts.size(); w += kWarp) {
    const size_t end = std::min(ts.size(), w + kWarp);
    bool all = true, some = false;
    for (size_t i = w; i < end; ++i) {
      if (ts[i].wait == Wait::Done) continue;
      all = all && ts[i].wait == Wait::Shuffle;
      some = true;
    }
    if (!all || !some) continue;
    for (size_t i = w; i < end; ++i) {
      if (ts[i].wait != Wait::Shuffle) continue;
      const size_t p = w + ((i - w) ^ static_cast<size_t>(ts[i].lane_mask));
      if (p >= end || ts[p].wait != Wait::Shuffle)
        throw std::runtime_error("simulated CUDA: in " + where() + ", lane " + std::to_string(i - w) + " of warp " +
                                 std::to_string(w / kWarp) + " shuffles with lane " + std::to_string(p - w) +
                                 ", which has exited or does not exist");
      if (ts[p].lane_mask != ts[i].lane_mask)
        throw std::runtime_error("simulated CUDA: in " + where() + ", the lanes of warp " + std::to_string(w / kWarp) +
                                 " shuffle with different lane masks");
      ts[i].shuffled = ts[p].posted;
    }
    for (size_t i = w; i < end; ++i)
      if (ts[i].wait == Wait::Shuffle) ts[i].wait = Wait::Ready;
    released = true;
  }
  return released;
}

// Releases the block's barrier when every live thread waits at it, the
// same one: threads at different __syncthreads calls are divergence, which
// CUDA leaves undefined.
bool release_barrier(std::vector<Thread>& ts) {
  int any = 0;
  const Thread* first = nullptr;
  for (const Thread& t : ts) {
    if (t.wait == Wait::Done) continue;
    if (t.wait != Wait::Barrier) return false;
    if (first && (t.line != first->line || std::strcmp(t.file, first->file) != 0)) return false;
    first = first ? first : &t;
    any = any || t.predicate;
  }
  for (Thread& t : ts)
    if (t.wait == Wait::Barrier) t.wait = Wait::Ready, t.any = any;
  return true;
}

void run_block(Block& b) {
  const unsigned int bx = block_dim.x, by = block_dim.y;
  for (size_t i = 0; i < b.threads.size(); ++i) {
    Thread& t = b.threads[i];
    const unsigned int li = static_cast<unsigned int>(i);
    t.idx = Dim3(li % bx, (li / bx) % by, li / (bx * by));
    t.wait = Wait::Ready;
    t.predicate = 0;
    start(t.context, t.stack.get(), kStackBytes, thread_main);
  }
  for (;;) {
    bool live = false;
    for (Thread& t : b.threads) {
      if (t.wait != Wait::Ready) continue;
      b.current = &t;
      thread_idx = t.idx;
      switch_to(b.scheduler, t.context);
      b.current = nullptr;
    }
    for (const Thread& t : b.threads) live = live || t.wait != Wait::Done;
    if (!live) return;
    if (release_shuffles(b.threads)) continue;
    if (release_barrier(b.threads)) continue;
    throw std::runtime_error("simulated CUDA: the threads of " + where() +
                             " wait at different synchronization points (a __syncthreads or shuffle that not every "
                             "thread reaches)");
  }
}

}  // namespace

void run_grid(Dim3 grid, Dim3 block, const std::function<void()>& body) {
  if (running) throw std::logic_error("simulated CUDA: a launch inside a launch");
  if (block.x * block.y * block.z == 0 || grid.x * grid.y * grid.z == 0)
    throw std::runtime_error("simulated CUDA: a launch with an empty grid or block (invalid configuration)");
  if (block.x * block.y * block.z > 1024) throw std::runtime_error("simulated CUDA: more than 1024 threads per block");
  if (grid.y > 65535 || grid.z > 65535) throw std::runtime_error("simulated CUDA: grid.y or grid.z above 65535");
  Block b;
  b.body = &body;
  b.threads.resize(block.x * block.y * block.z);
  for (Thread& t : b.threads) t.stack.reset(new char[kStackBytes]);
  grid_dim = grid;
  block_dim = block;
  running = &b;
  try {
    for (unsigned int z = 0; z < grid.z; ++z)
      for (unsigned int y = 0; y < grid.y; ++y)
        for (unsigned int x = 0; x < grid.x; ++x) {
          block_idx = Dim3(x, y, z);
          run_block(b);
        }
  } catch (...) {
    running = nullptr;
    throw;
  }
  running = nullptr;
}

void sync_threads(const char* file, int line) {
  Thread& t = current_thread();
  t.file = file, t.line = line;
  wait_for(Wait::Barrier);
}

int sync_threads_or(int predicate, const char* file, int line) {
  Thread& t = current_thread();
  t.file = file, t.line = line, t.predicate = predicate;
  wait_for(Wait::Barrier);
  Thread& u = current_thread();
  u.predicate = 0;
  return u.any;
}

float shfl_xor(float value, int lane_mask) {
  Thread& t = current_thread();
  t.posted = value;
  t.lane_mask = lane_mask;
  wait_for(Wait::Shuffle);
  return current_thread().shuffled;
}

}  // namespace acnn::sim
