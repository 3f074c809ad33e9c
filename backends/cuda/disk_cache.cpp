#include "backends/cuda/disk_cache.h"

#include <cstdlib>
#include <fstream>

namespace acnn::cuda {

namespace fs = std::filesystem;

fs::path cache_dir(const std::string& kind) {
  if (const char* d = std::getenv("ACNN_CACHE_DIR"); d && *d) return fs::path(d) / kind;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return fs::path(d) / "acnn" / kind;
  if (const char* d = std::getenv("HOME"); d && *d) return fs::path(d) / ".cache" / "acnn" / kind;
  return {};
}

DiskTable::DiskTable(fs::path file) : file_(std::move(file)) {}

void DiskTable::load() {
  loaded_ = true;
  if (file_.empty()) return;
  std::ifstream in(file_);
  for (std::string line; std::getline(in, line);) {
    const size_t tab = line.find('\t');
    if (tab == std::string::npos || tab == 0 || tab + 1 == line.size()) continue;  // damaged
    entries_[line.substr(0, tab)] = line.substr(tab + 1);
  }
}

std::optional<std::string> DiskTable::get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!loaded_) load();
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void DiskTable::put(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!loaded_) load();
  entries_[key] = value;
  if (file_.empty() || key.find_first_of("\t\n") != std::string::npos || value.find_first_of("\t\n") != std::string::npos)
    return;
  std::error_code ec;
  fs::create_directories(file_.parent_path(), ec);
  // One short line per append: concurrent writers interleave whole lines.
  std::ofstream out(file_, std::ios::app);
  out << key << '\t' << value << '\n';
}

}  // namespace acnn::cuda
