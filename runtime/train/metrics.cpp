#include "runtime/train/metrics.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "runtime/train/atomic_file.h"

namespace acnn::train {

namespace {

// JSON has no NaN or infinity: those become null.
Json number(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

void put(Json& j, const char* key, const std::optional<double>& v) {
  if (v) j[key] = number(*v);
}

void merge(Json& j, const Json& extra) {
  if (extra.is_null()) return;
  if (!extra.is_object()) throw std::invalid_argument("metrics: extra fields must be a JSON object");
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
}

// Lines of a file; `torn` is set when the last one lacks its newline.
std::vector<std::string> read_lines(const std::string& path, bool* torn) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  *torn = false;
  if (!in) return lines;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  size_t pos = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    if (nl == std::string::npos) {
      lines.push_back(all.substr(pos));
      *torn = true;
      break;
    }
    lines.push_back(all.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

}  // namespace

double unix_time() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

Json to_json(const StepRecord& r) {
  Json j;
  j["type"] = "step";
  j["epoch"] = r.epoch;
  j["step"] = r.step;
  j["global_step"] = r.global_step;
  j["loss"] = number(r.loss);
  put(j, "lr", r.lr);
  put(j, "images_per_s", r.images_per_s);
  return j;
}

Json to_json(const EpochRecord& r) {
  Json j;
  j["type"] = "epoch";
  j["epoch"] = r.epoch;
  j["global_step"] = r.global_step;
  put(j, "train_loss", r.train_loss);
  put(j, "lr", r.lr);
  put(j, "images_per_s", r.images_per_s);
  put(j, "epoch_time_s", r.epoch_time_s);
  put(j, "val_loss", r.val_loss);
  put(j, "top1", r.top1);
  put(j, "top5", r.top5);
  return j;
}

std::vector<Json> read_metrics(const std::string& path) {
  bool torn = false;
  auto lines = read_lines(path, &torn);
  std::vector<Json> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    try {
      out.push_back(Json::parse(lines[i]));
    } catch (const nlohmann::json::exception& ex) {
      if (i + 1 == lines.size() && torn) break;  // the write a crash interrupted
      throw std::runtime_error(path + ":" + std::to_string(i + 1) + ": not a JSON line: " + ex.what());
    }
  }
  return out;
}

MetricsWriter::MetricsWriter(const std::string& path, std::optional<int64_t> resume_global_step) : path_(path) {
  std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  if (ec) throw std::runtime_error(path + ": cannot create directory: " + ec.message());
  if (resume_global_step && std::filesystem::exists(p, ec)) {
    bool torn = false;
    auto lines = read_lines(path, &torn);
    std::string kept;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].empty()) continue;
      Json j;
      try {
        j = Json::parse(lines[i]);
      } catch (const nlohmann::json::exception&) {
        continue;  // a torn line from the crash that made us resume
      }
      if (j.is_object() && j.contains("global_step") && j["global_step"].is_number_integer() &&
          j["global_step"].get<int64_t>() > *resume_global_step)
        continue;
      kept += lines[i] + "\n";
    }
    write_file_atomic(path, kept);
  }
  f_ = std::fopen(path.c_str(), "ae");
  if (!f_) throw std::runtime_error(path + ": cannot open for appending: " + std::strerror(errno));
}

MetricsWriter::~MetricsWriter() {
  if (f_) std::fclose(f_);
}

void MetricsWriter::write(Json record) {
  if (!record.is_object()) throw std::invalid_argument(path_ + ": a metrics record must be a JSON object");
  if (!record.contains("time")) record["time"] = unix_time();
  std::string line;
  try {
    line = record.dump() + "\n";
  } catch (const nlohmann::json::exception& ex) {
    throw std::runtime_error(path_ + ": cannot encode a metrics record: " + ex.what());
  }
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0)
    throw std::runtime_error(path_ + ": write failed: " + std::strerror(errno));
}

void MetricsWriter::log_step(const StepRecord& r, const Json& extra) {
  auto j = to_json(r);
  merge(j, extra);
  write(std::move(j));
}

void MetricsWriter::log_epoch(const EpochRecord& r, const Json& extra) {
  auto j = to_json(r);
  merge(j, extra);
  write(std::move(j));
}

}  // namespace acnn::train
