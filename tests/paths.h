// Where tests find the project's files (models, golden outputs, the standard
// library) and the acnn binary: the values the build compiled in, unless the
// environment's ACNN_SOURCE_DIR or ACNN_BINARY names others. The device check
// runs test binaries built on another machine, whose source tree is elsewhere.
#pragma once

#include <cstdlib>
#include <string>

namespace acnn::testing {

inline std::string source_dir() {
  const char* env = std::getenv("ACNN_SOURCE_DIR");
  return env && *env ? env : ACNN_SOURCE_DIR;
}

#ifdef ACNN_BINARY
inline std::string acnn_binary() {
  const char* env = std::getenv("ACNN_BINARY");
  return env && *env ? env : ACNN_BINARY;
}
#endif

}  // namespace acnn::testing
