#include "runtime/train/checkpoint.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "runtime/train/atomic_file.h"

#ifndef ACNN_VERSION
#define ACNN_VERSION "unknown"
#endif

namespace acnn::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormatKey = "acnn.format";
constexpr const char* kFormat = "checkpoint/1";
constexpr const char* kExtraPrefix = "acnn.extra.";

template <class T>
std::string num(T v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form for doubles
  return std::string(buf, r.ptr);
}

template <class T>
T parse_num(const Metadata& m, const char* key, const std::string& file) {
  auto it = m.find(key);
  if (it == m.end()) throw std::runtime_error(file + ": checkpoint metadata lacks '" + key + "'");
  const std::string& s = it->second;
  T v{};
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || s.empty())
    throw std::runtime_error(file + ": checkpoint metadata '" + key + "' is not a number: '" + s + "'");
  return v;
}

std::string get_str(const Metadata& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

// Temporaries `<name>.tmp.<pid>` left by a process that died mid-write.
bool stale_temp(const std::string& name) {
  auto pos = name.rfind(".tmp.");
  if (pos == std::string::npos) return false;
  std::string pid = name.substr(pos + 5);
  if (pid.empty() || !std::all_of(pid.begin(), pid.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  long p = std::strtol(pid.c_str(), nullptr, 10);
  if (p <= 0 || p == ::getpid()) return false;
  return ::kill(static_cast<pid_t>(p), 0) != 0 && errno == ESRCH;
}

// Makes `dst` another name of `src`, atomically replacing dst. Returns false
// where hard links are not supported (the caller then writes a copy).
bool link_over(const fs::path& src, const fs::path& dst) {
  std::string tmp = dst.string() + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  if (::link(src.c_str(), tmp.c_str()) != 0) return false;
  if (::rename(tmp.c_str(), dst.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error(dst.string() + ": rename failed: " + std::strerror(err));
  }
  return true;
}

}  // namespace

std::string acnn_version() { return ACNN_VERSION; }

Metadata state_to_metadata(const TrainState& s) {
  Metadata m;
  m[kFormatKey] = kFormat;
  m["acnn.epoch"] = num(s.epoch);
  m["acnn.step_in_epoch"] = num(s.step_in_epoch);
  m["acnn.global_step"] = num(s.global_step);
  m["acnn.seed"] = num(s.seed);
  m["acnn.data_position"] = num(s.data_position);
  m["acnn.rng_state"] = s.rng_state;
  // to_chars writes "nan" for NaN, which from_chars reads back.
  m["acnn.best_metric"] = std::isnan(s.best_metric) ? std::string("nan") : num(s.best_metric);
  m["acnn.best_metric_name"] = s.best_metric_name;
  m["acnn.recipe_hash"] = s.recipe_hash;
  m["acnn.version"] = s.acnn_version.empty() ? acnn_version() : s.acnn_version;
  for (const auto& [k, v] : s.extra) m[kExtraPrefix + k] = v;
  return m;
}

std::optional<TrainState> state_from_metadata(const Metadata& m, const std::string& file) {
  auto it = m.find(kFormatKey);
  if (it == m.end()) return std::nullopt;
  if (it->second != kFormat)
    throw std::runtime_error(file + ": unsupported checkpoint format '" + it->second + "' (this acnn reads '" + kFormat +
                             "')");
  TrainState s;
  s.epoch = parse_num<int64_t>(m, "acnn.epoch", file);
  s.step_in_epoch = parse_num<int64_t>(m, "acnn.step_in_epoch", file);
  s.global_step = parse_num<int64_t>(m, "acnn.global_step", file);
  s.seed = parse_num<uint64_t>(m, "acnn.seed", file);
  s.data_position = parse_num<int64_t>(m, "acnn.data_position", file);
  s.best_metric = parse_num<double>(m, "acnn.best_metric", file);
  s.rng_state = get_str(m, "acnn.rng_state");
  s.best_metric_name = get_str(m, "acnn.best_metric_name");
  s.recipe_hash = get_str(m, "acnn.recipe_hash");
  s.acnn_version = get_str(m, "acnn.version");
  if (s.epoch < 0 || s.step_in_epoch < 0 || s.global_step < 0 || s.data_position < 0)
    throw std::runtime_error(file + ": checkpoint metadata has a negative epoch, step or position");
  std::string prefix = kExtraPrefix;
  for (auto e = m.lower_bound(prefix); e != m.end() && e->first.compare(0, prefix.size(), prefix) == 0; ++e)
    s.extra[e->first.substr(prefix.size())] = e->second;
  return s;
}

void save_checkpoint(const std::string& path, const TensorMap& tensors, const TrainState& state) {
  save_safetensors(path, tensors, state_to_metadata(state));
}

Checkpoint load_checkpoint(const std::string& path) {
  auto c = load_safetensors(path);
  Checkpoint out;
  out.state = state_from_metadata(c.metadata, path);
  out.tensors = std::move(c.tensors);
  return out;
}

RunDirectory::RunDirectory(fs::path dir, int keep_epochs) : dir_(std::move(dir)), keep_(std::max(0, keep_epochs)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw std::runtime_error(dir_.string() + ": cannot create run directory: " + ec.message());
  for (const auto& e : fs::directory_iterator(dir_, ec))
    if (e.is_regular_file() && stale_temp(e.path().filename().string())) fs::remove(e.path(), ec);
}

fs::path RunDirectory::epoch_path(int64_t epoch) const {
  return dir_ / ("epoch" + std::to_string(epoch) + ".safetensors");
}

void RunDirectory::save_last(const TensorMap& tensors, const TrainState& state) {
  save_checkpoint(last_path().string(), tensors, state);
}

void RunDirectory::save_epoch(int64_t epoch, const TensorMap& tensors, const TrainState& state) {
  if (keep_ == 0) {
    save_last(tensors, state);
    prune();
    return;
  }
  fs::path ep = epoch_path(epoch);
  save_checkpoint(ep.string(), tensors, state);
  if (!link_over(ep, last_path())) save_last(tensors, state);
  prune();
  fsync_directory(dir_.string());  // makes the link and the removals durable
}

std::vector<int64_t> RunDirectory::saved_epochs() const {
  std::vector<int64_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::string n = e.path().filename().string();
    const std::string pre = "epoch", suf = ".safetensors";
    if (n.size() <= pre.size() + suf.size() || n.compare(0, pre.size(), pre) != 0 ||
        n.compare(n.size() - suf.size(), suf.size(), suf) != 0)
      continue;
    std::string digits = n.substr(pre.size(), n.size() - pre.size() - suf.size());
    int64_t v = 0;
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (r.ec == std::errc() && r.ptr == digits.data() + digits.size() && digits[0] != '-') out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void RunDirectory::prune() const {
  auto epochs = saved_epochs();
  if (static_cast<int64_t>(epochs.size()) <= keep_) return;
  for (size_t i = 0; i + keep_ < epochs.size(); ++i) {
    std::error_code ec;
    fs::remove(epoch_path(epochs[i]), ec);
    if (ec) throw std::runtime_error(epoch_path(epochs[i]).string() + ": cannot remove old checkpoint: " + ec.message());
  }
}

std::optional<fs::path> RunDirectory::resume_path() const {
  std::error_code ec;
  if (fs::is_regular_file(last_path(), ec)) return last_path();
  return std::nullopt;
}

}  // namespace acnn::train
