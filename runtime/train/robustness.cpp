#include "runtime/train/robustness.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "runtime/data/corruptions.h"
#include "runtime/data/image_folder.h"
#include "runtime/train/atomic_file.h"
#include "runtime/train/data_setup.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace acnn::train {

namespace {

// `limit` evenly spaced examples of `ds` (all when limit is 0 or too large).
std::shared_ptr<const data::Dataset> spread(std::shared_ptr<const data::Dataset> ds, int64_t limit) {
  const size_t n = ds->size();
  if (limit <= 0 || static_cast<size_t>(limit) >= n) return ds;
  std::vector<size_t> idx(static_cast<size_t>(limit));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i * n / idx.size();
  return std::make_shared<data::Subset>(std::move(ds), std::move(idx));
}

std::vector<std::string> benchmark_corruptions() {
  std::vector<std::string> out;
  for (data::Corruption c : data::all_corruptions()) out.push_back(data::corruption_name(c));
  return out;
}

}  // namespace

std::vector<int> parse_severities(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    size_t used = 0;
    int s = 0;
    try {
      s = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || s < 1 || s > 5)
      throw std::invalid_argument("severities are integers 1..5 separated by commas, got `" + text + "`");
    for (int t : out)
      if (t == s) throw std::invalid_argument("severity " + item + " is listed twice in `" + text + "`");
    out.push_back(s);
  }
  if (out.empty()) throw std::invalid_argument("no severities in `" + text + "`");
  return out;
}

RobustnessReport evaluate_robustness(Evaluator& ev, const Recipe& r, const RobustnessOptions& o) {
  RobustnessReport rep;
  rep.severities = o.severities;
  rep.limit = o.limit;
  rep.data = r.data.set;
  DataSets data = load_datasets(r);
  rep.clean = o.clean ? *o.clean : ev.run(data.eval, eval_pipeline(r));
  if (o.progress) o.progress("clean", 0, 1.0 - rep.clean.top1);
  std::vector<std::string> names = o.corruptions.empty() ? benchmark_corruptions() : o.corruptions;
  if (o.imagenet_c.empty()) {
    for (const std::string& c : names) data::corruption_by_name(c);  // validates the name
    auto subset = spread(data.eval, o.limit);
    for (const std::string& c : names)
      for (int s : o.severities) {
        EvalResult e = ev.run(subset, eval_pipeline(r, c, s));
        rep.errors[c][s] = 1.0 - e.top1;
        if (o.progress) o.progress(c, s, 1.0 - e.top1);
      }
  } else {
    rep.source = "imagenet-c:" + o.imagenet_c;
    data::ImageFolderOptions fo;
    fo.channels = static_cast<int>(r.data.channels);
    fo.classes = data.train->class_names();  // the model's class indices
    data::ImageNetC ic(o.imagenet_c, fo);
    std::string missing;
    for (const std::string& c : names)
      for (int s : o.severities)
        if (!ic.has(c, s)) missing += (missing.empty() ? "" : ", ") + c + "/" + std::to_string(s);
    if (!missing.empty())
      throw std::runtime_error(o.imagenet_c + " lacks the ImageNet-C folders " + missing +
                               " (expected <root>/<corruption>/<severity>/<class>/*)");
    for (const std::string& c : names)
      for (int s : o.severities) {
        EvalResult e = ev.run(spread(ic.open(c, s), o.limit), precropped_pipeline(r));
        rep.errors[c][s] = 1.0 - e.top1;
        if (o.progress) o.progress(c, s, 1.0 - e.top1);
      }
  }
  normalize_report(rep, r.data.set, o.baseline);
  return rep;
}

void normalize_report(RobustnessReport& rep, const std::string& data_set, const std::string& baseline_path) {
  rep.ce.clear();
  rep.mce = rep.mean_error = 0;
  rep.baseline.clear();
  if (rep.errors.empty()) return;
  std::optional<RobustnessReport> base;
  bool alexnet = false;
  if (!baseline_path.empty()) {
    base = read_report(baseline_path);
    rep.normalization = "baseline";
    rep.baseline = baseline_path;
  } else if (data_set == "imagenet") {
    alexnet = true;
    for (const auto& [c, errs] : rep.errors) alexnet = alexnet && data::alexnet_error(c).has_value();
    rep.normalization = alexnet ? "alexnet" : "none";
  } else {
    rep.normalization = "none";
  }
  double total = 0;
  int64_t count = 0;
  for (const auto& [c, errs] : rep.errors) {
    double num = 0, den = 0;
    for (const auto& [s, e] : errs) {
      num += e;
      total += e;
      ++count;
      if (base) {
        auto bc = base->errors.find(c);
        if (bc == base->errors.end() || !bc->second.count(s))
          throw std::runtime_error("the baseline " + baseline_path + " has no error for " + c + " at severity " +
                                   std::to_string(s) + "; evaluate it with the same corruptions and severities");
        den += bc->second.at(s);
      } else if (alexnet) {
        den += *data::alexnet_error(c);
      } else {
        den += 1.0;
      }
    }
    if (!(den > 0)) throw std::runtime_error("the baseline's errors for " + c + " sum to zero: cannot normalize by them");
    rep.ce[c] = num / den;
    rep.mce += num / den;
  }
  rep.mce /= static_cast<double>(rep.ce.size());
  rep.mean_error = count ? total / static_cast<double>(count) : 0;
}

std::string report_json(const RobustnessReport& rep) {
  json j;
  j["model"] = rep.model;
  j["checkpoint"] = rep.checkpoint;
  j["data"] = rep.data;
  j["source"] = rep.source;
  j["clean"] = {{"top1", rep.clean.top1}, {"top5", rep.clean.top5}, {"error", rep.clean_error()},
                {"loss", rep.clean.loss}, {"examples", rep.clean.examples}};
  j["severities"] = rep.severities;
  j["limit"] = rep.limit;
  json errs = json::object();
  for (const auto& [c, by_s] : rep.errors) {
    json e = json::object();
    for (const auto& [s, v] : by_s) e[std::to_string(s)] = v;
    errs[c] = e;
  }
  j["errors"] = errs;
  j["normalization"] = rep.normalization;
  if (!rep.baseline.empty()) j["baseline"] = rep.baseline;
  j["ce"] = rep.ce;
  j["mce"] = rep.mce;
  j["mean_error"] = rep.mean_error;
  return j.dump(2) + "\n";
}

RobustnessReport read_report(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the robustness report " + path);
  RobustnessReport rep;
  try {
    json j = json::parse(in);
    rep.model = j.value("model", "");
    rep.checkpoint = j.value("checkpoint", "");
    rep.data = j.value("data", "");
    rep.source = j.value("source", "generated");
    const json& c = j.at("clean");
    rep.clean.top1 = c.at("top1").get<double>();
    rep.clean.top5 = c.value("top5", 0.0);
    rep.clean.loss = c.value("loss", 0.0);
    rep.clean.examples = c.value("examples", int64_t{0});
    rep.severities = j.at("severities").get<std::vector<int>>();
    rep.limit = j.value("limit", int64_t{0});
    for (const auto& [name, by_s] : j.at("errors").items())
      for (const auto& [s, v] : by_s.items()) rep.errors[name][std::stoi(s)] = v.get<double>();
    rep.normalization = j.value("normalization", "none");
    rep.baseline = j.value("baseline", "");
    rep.ce = j.value("ce", std::map<std::string, double>{});
    rep.mce = j.value("mce", 0.0);
    rep.mean_error = j.value("mean_error", 0.0);
  } catch (const json::exception& e) {
    throw std::runtime_error(path + " is not a robustness report: " + e.what());
  }
  return rep;
}

void save_report(const std::string& path, const RobustnessReport& rep) { write_file_atomic(path, report_json(rep)); }

std::string format_report(const RobustnessReport& rep) {
  std::ostringstream out;
  char buf[160];
  out << "corruption          ";
  for (int s : rep.severities) {
    std::snprintf(buf, sizeof buf, "   s%d", s);
    out << buf;
  }
  out << (rep.normalization == "none" ? "   mean err\n" : "       CE\n");
  for (const auto& [c, by_s] : rep.errors) {
    std::snprintf(buf, sizeof buf, "%-20s", c.c_str());
    out << buf;
    for (int s : rep.severities) {
      auto it = by_s.find(s);
      std::snprintf(buf, sizeof buf, " %5.1f", it == by_s.end() ? NAN : 100 * it->second);
      out << buf;
    }
    auto ce = rep.ce.find(c);
    std::snprintf(buf, sizeof buf, "  %8.2f\n", ce == rep.ce.end() ? NAN : 100 * ce->second);
    out << buf;
  }
  std::snprintf(buf, sizeof buf, "clean error %.2f%% (top-1 %.2f%%, %lld examples); mean corruption error %.2f%%\n",
                100 * rep.clean_error(), 100 * rep.clean.top1, static_cast<long long>(rep.clean.examples),
                100 * rep.mean_error);
  out << buf;
  if (rep.normalization == "baseline") {
    std::snprintf(buf, sizeof buf, "mCE %.2f (normalized by the baseline %s)\n", 100 * rep.mce, rep.baseline.c_str());
  } else if (rep.normalization == "alexnet") {
    std::snprintf(buf, sizeof buf, "mCE %.2f (normalized by AlexNet's published ImageNet-C errors)\n", 100 * rep.mce);
  } else {
    std::snprintf(buf, sizeof buf,
                  "mCE %.2f UNNORMALIZED: the mean corruption error, not comparable to published mCE; pass --baseline "
                  "RUN.json (a baseline model's report) to normalize\n",
                  100 * rep.mce);
  }
  out << buf;
  return out.str();
}

std::string report_path_for(const std::string& checkpoint) {
  fs::path p(checkpoint);
  return (p.parent_path() / (p.stem().string() + ".robustness.json")).string();
}

}  // namespace acnn::train
