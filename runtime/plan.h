// The execution plan the Executor compiles a graph into: a list of steps
// (compiled kernels, layout conversions, built-ins) over slots. A slot is one
// physical buffer holding one IR value in one layout; a value consumed in two
// layouts has two slots. Slots live in a single arena at byte offsets packed by
// liveness (plan_arena), except those that must outlive a step: persistent
// tensors, fed inputs, constants, views (reshape aliases) and dedicated buffers
// (update sources swapped with their persistent tensor, cached conversions of
// unchanging tensors). The plan reports its peak bytes; its text dump is what
// `acnn dump --stage plan` prints.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "compiler/ir/graph.h"

namespace acnn {

enum class SlotHome : uint8_t {
  Arena,       // arena + offset, reused by liveness
  Dedicated,   // own buffer, survives between steps
  Persistent,  // a Param/State tensor owned by the executor (bound every run)
  Feed,        // an Input value: the caller's tensor (bound every run)
  Constant,    // computed at compile time
  Alias,       // a view of another slot's storage with another shape
};

struct Slot {
  ir::ValueId value = ir::kNoValue;
  ir::ValueType type;
  LayoutPtr layout;  // null: plain
  size_t bytes = 0;
  SlotHome home = SlotHome::Arena;
  int alias_of = -1;     // Alias: the viewed slot (never itself an alias)
  size_t offset = 0;     // Arena: byte offset into the arena
  int first = -1, last = -1;  // Arena: live range in step indices (inclusive)
  std::string name;      // Persistent/Feed: the tensor's name
};

enum class StepKind : uint8_t {
  Kernel,         // a backend kernel for a node
  Convert,        // a layout conversion
  RuntimeScalar,  // writes ctx.scalars[name] into its output
};

struct Step {
  StepKind kind = StepKind::Kernel;
  ir::NodeId node = -1;  // the node run (Kernel, RuntimeScalar) or served (Convert)
  std::string backend;
  std::unique_ptr<Kernel> kernel;
  std::vector<int> inputs, outputs;  // slot indices
  // Steps computed from unchanging tensors only (persistent tensors no
  // update writes, constants, and what cached steps computed from them: layout
  // conversions of weights, folded batch-norm weights): rerun only when one of
  // those persistent tensors is set (the sum of their versions changes).
  bool cached = false;
  std::vector<int> versions_of;  // cached: the persistent tensors read (none: constants only)
  int64_t cached_version = -1;
  std::string scalar_name;  // RuntimeScalar
  // Profile.
  double seconds = 0;
  int64_t calls = 0;
};

struct Plan {
  std::vector<Slot> slots;
  std::vector<Step> steps;
  std::vector<int> value_slot;  // the slot each value is produced in (-1: not computed)
  size_t arena_bytes = 0;       // peak bytes of the arena
  size_t dedicated_bytes = 0;   // dedicated + constant buffers
  size_t scratch_bytes = 0;     // shared kernel scratch
  size_t persistent_bytes = 0;  // params and state
  int inplace_reuses = 0;       // outputs placed in the buffer of an input (attr inplace)

  // Packs the arena slots by live range into arena_bytes (first fit, largest
  // first); slots whose ranges overlap never overlap in memory.
  void plan_arena();
  // One line per step: kernel, backend, the ops a fused kernel runs, slots
  // with layouts, arena offsets and live ranges; then totals (kernels,
  // reorders, MACs, bytes by home, peak).
  std::string dump(const ir::Graph& g) const;

  // Bytes of everything the plan keeps at once at its peak: the packed arena
  // plus dedicated, scratch and persistent buffers (fed inputs excluded).
  size_t peak_bytes() const { return arena_bytes + dedicated_bytes + scratch_bytes + persistent_bytes; }
  // The most arena bytes live at one step (a lower bound of arena_bytes: the
  // packing is optimal when they are equal) and the step where that happens.
  size_t live_peak_bytes(int* at_step = nullptr) const;
  // Live intervals of the arena slots, one per line, by first step:
  // "%v f32[..] 4096 B [first, last] @offset".
  std::string liveness_report(const ir::Graph& g) const;
  // What fills the arena at its live peak: the live slots grouped by what
  // produced them ("conv2d", "fused batchnorm: batch_norm_train+relu",
  // "reorder", ...), largest first.
  struct LiveGroup {
    std::string producer;
    int count = 0;
    size_t bytes = 0;
  };
  std::vector<LiveGroup> live_at_peak(const ir::Graph& g) const;
  int kernel_steps() const;   // Kernel steps
  int convert_steps() const;  // layout conversions (reorders)
};

// Bytes of a buffer holding a value of type `t` in `layout`, rounded up to 64.
size_t slot_bytes(const ir::ValueType& t, const LayoutPtr& layout);

}  // namespace acnn
