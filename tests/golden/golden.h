// Golden-file helpers: compare a produced text with a checked-in expected
// file. With ACNN_UPDATE_GOLDEN=1 the expected files are rewritten instead
// (review the diff before committing). Paths under the source tree are
// normalized to "<root>" so that goldens do not depend on the checkout.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/catch.h"
#include "tests/paths.h"

namespace acnn::testing {


inline std::string normalize(std::string text) {
  const std::string root = source_dir();
  for (size_t at; (at = text.find(root)) != std::string::npos;) text.replace(at, root.size(), "<root>");
  return text;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void check_golden(const std::filesystem::path& expected_path, const std::string& actual_raw) {
  std::string actual = normalize(actual_raw);
  const char* update = std::getenv("ACNN_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    std::ofstream(expected_path, std::ios::binary) << actual;
    return;
  }
  INFO("golden file: " << expected_path.string() << " (set ACNN_UPDATE_GOLDEN=1 to rewrite)");
  REQUIRE(std::filesystem::exists(expected_path));
  CHECK(read_file(expected_path) == actual);
}

// The .acnn files of a golden directory, sorted, relative to the source root.
inline std::vector<std::string> golden_inputs(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() + "/" + dir))
    if (e.path().extension() == ".acnn") files.push_back(dir + "/" + e.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace acnn::testing
