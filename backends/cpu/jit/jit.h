// The LLVM ORC JIT for elementwise kernels (ew::Spec, backends/cpu/ew_spec.h).
// compile() generates LLVM IR for a spec (explicit vectors of the host's
// widest float width, masked tails, vector exp/sigmoid/tanh), optimizes it for
// the host CPU (its name and features, e.g. AVX-512) and links it into one
// process-wide LLJIT. Kernels are cached in the process by the spec's text
// form, and on disk as object files under $ACNN_JIT_CACHE or
// ~/.cache/acnn/jit (XDG_CACHE_HOME honoured), keyed by a hash of the spec,
// the host CPU and features, the LLVM version and the code generator's
// version, so a second compile of the same model links cached code instead of
// running LLVM's optimizer. ACNN_JIT_CACHE=off disables the disk cache.
// Only this directory's sources see LLVM headers; this header does not.
#pragma once

#include <cstdint>
#include <string>

#include "backends/cpu/ew_spec.h"

namespace acnn::cpu::jit {

// A compiled kernel for `spec`, or null with a reason (LLVM failed, the host
// target is unknown). `label` names the symbol in profiles and dumps.
ew::KernelFn compile(const ew::Spec& spec, std::string* error = nullptr);

struct Stats {
  int64_t memory_hits = 0;  // found in this process
  int64_t disk_hits = 0;    // loaded from the disk cache
  int64_t compiled = 0;     // generated and optimized by LLVM
  int64_t failures = 0;
  double seconds = 0;       // spent in compile() (all paths)
};
Stats stats();

// The host description kernels are specialized for ("sapphirerapids +avx512f ...").
std::string host_description();
// The disk cache directory ("" when disabled).
std::string cache_dir();
// For tests: forgets the in-process table (code stays mapped), so that the
// next compile() of a known spec goes to the disk cache or LLVM again.
void forget_memory_cache();
// For tests: overrides the disk cache directory ("" disables it).
void set_cache_dir(const std::string& dir);

}  // namespace acnn::cpu::jit
