// The registry of backends built into this binary, and device selection for
// runners: "auto" takes the CUDA runner when this build has it and a GPU is
// usable, else the CPU runner (the Executor over these backends).
#include <stdexcept>

#include "backends/backend.h"
#include "runtime/runner.h"
#ifdef ACNN_HAVE_ONEDNN
#include "backends/cpu/onednn.h"
#endif
#ifdef ACNN_HAVE_CUDA
#include "backends/cuda/cuda_runner.h"
#endif

namespace acnn {

std::vector<std::string> available_backends() {
  std::vector<std::string> r;
#ifdef ACNN_HAVE_ONEDNN
  r.push_back("onednn");
#endif
  r.push_back("reference");
  return r;
}

std::vector<std::unique_ptr<Backend>> make_backends(const std::vector<std::string>& names) {
  std::vector<std::unique_ptr<Backend>> r;
  bool have_ref = false;
  for (const std::string& n : names) {
    if (n == "reference") {
      if (!have_ref) r.push_back(make_reference_backend());
      have_ref = true;
    } else if (n == "onednn") {
#ifdef ACNN_HAVE_ONEDNN
      r.push_back(make_onednn_backend());
#endif
    } else if (n != "cuda") {
      throw std::runtime_error("unknown backend `" + n + "`");
    }
  }
  if (!have_ref) r.push_back(make_reference_backend());
  return r;
}

bool cuda_built() {
#ifdef ACNN_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_usable(std::string* why) {
#ifdef ACNN_HAVE_CUDA
  std::string reason;
  int n = cuda::device_count(&reason);
  if (n > 0) return true;
  if (why) *why = reason;
  return false;
#else
  if (why) *why = "this acnn was built without the CUDA backend (no CUDA toolkit or cuDNN at configure time)";
  return false;
#endif
}

std::string resolve_device(const std::string& requested) {
  if (requested == "cpu") return "cpu";
  if (requested == "auto" || requested.empty()) return cuda_usable() ? "cuda" : "cpu";
  if (requested == "cuda" || requested.rfind("cuda:", 0) == 0) {
    std::string why;
    if (!cuda_usable(&why)) throw std::runtime_error("no CUDA device: " + why);
    return "cuda";
  }
  throw std::runtime_error("unknown device `" + requested + "` (expected auto, cpu or cuda)");
}

std::unique_ptr<Runner> make_runner(const ir::Graph& g, const RunnerOptions& opts) {
  std::string dev = resolve_device(opts.device);
#ifdef ACNN_HAVE_CUDA
  if (dev == "cuda") return cuda::make_cuda_runner(g, opts);
#endif
  return make_cpu_runner(g, opts);
}

}  // namespace acnn
