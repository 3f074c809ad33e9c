// Compiling generated CUDA C with NVRTC. One program per graph holds every
// generated kernel (compiled once, in one NVRTC call); the cubin is cached on
// disk under cache_dir("nvrtc") (disk_cache.h), keyed by a hash of the source, the options and the
// NVRTC version, so recompiling an unchanged model skips NVRTC. Compiling
// needs only libnvrtc, not a GPU (tests compile here); loading the cubin is
// the runner's business (cudaLibraryLoadData, the runtime API).
#pragma once

#include <string>
#include <vector>

namespace acnn::cuda {

struct NvrtcResult {
  std::vector<char> cubin;
  std::string log;          // compiler messages (warnings included)
  bool from_cache = false;
  double seconds = 0;       // time spent compiling (0 when cached)
};

// Compiles `source` for sm_<arch> (e.g. 90). Throws std::runtime_error with
// the log (and the numbered source lines it points at) on errors.
// `refresh`: compile even when the cache has the cubin, and replace it (the
// runner does when a cached cubin does not load).
NvrtcResult nvrtc_compile(const std::string& source, int arch, bool use_cache = true, bool refresh = false);

// Compiles independent translation units at once on up to `threads` threads
// (0: one per core), each as nvrtc_compile() would (cache included); results
// in order. Throws the first failure. NVRTC compiles distinct programs
// concurrently; a big network's kernels split into parts compile several
// times faster than as one program.
std::vector<NvrtcResult> nvrtc_compile_all(const std::vector<std::string>& sources, int arch, bool use_cache = true,
                                           int threads = 0);

// "13.0"
std::string nvrtc_version();

}  // namespace acnn::cuda
