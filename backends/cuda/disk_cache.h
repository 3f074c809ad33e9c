// Where the CUDA backend keeps what it learns once per machine, and a small
// persistent key -> value table for it. Files live under $ACNN_CACHE_DIR/<kind>,
// else $XDG_CACHE_HOME/acnn/<kind>, else ~/.cache/acnn/<kind> (kinds: "nvrtc"
// for cubins, "cudnn" for convolution algorithm choices). A DiskTable is one
// text file of tab-separated key/value lines, read once and appended to; a
// damaged line is skipped, a later line for the same key wins, and a table
// that cannot be written only costs the next run the work again. Pure C++
// (no CUDA), so tests run it anywhere.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace acnn::cuda {

// The cache directory for `kind`, or empty when there is no place for one.
std::filesystem::path cache_dir(const std::string& kind);

class DiskTable {
 public:
  // An empty path: an in-memory table.
  explicit DiskTable(std::filesystem::path file);
  std::optional<std::string> get(const std::string& key);
  // Records key -> value (keys and values may not hold tabs or newlines).
  void put(const std::string& key, const std::string& value);
  const std::filesystem::path& file() const { return file_; }

 private:
  void load();
  std::filesystem::path file_;
  std::map<std::string, std::string> entries_;
  bool loaded_ = false;
  std::mutex mutex_;
};

}  // namespace acnn::cuda
