// The registry of backends built into this binary.
#include <stdexcept>

#include "backends/backend.h"
#ifdef ACNN_HAVE_ONEDNN
#include "backends/cpu/onednn.h"
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

}  // namespace acnn
