#include "runtime/train/ablation.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "dsl/ast.h"

using json = nlohmann::json;

namespace acnn::train {

namespace {

// A network argument by name: keyword first, then positional.
const elab::Value* network_arg(const elab::Value& net, const std::string& name) {
  for (const auto& [k, v] : net.fields)
    if (k == name) return v.get();
  if (!net.decl) return nullptr;
  for (size_t i = 0; i < net.decl->params.size() && i < net.items.size(); ++i)
    if (net.decl->params[i].name == name) return net.items[i].get();
  return nullptr;
}

bool record_flag(const elab::Value& rec, const char* name) {
  const elab::ValuePtr* v = rec.field(name);
  return v && (*v)->kind == elab::ValueKind::Bool && (*v)->b;
}

std::string record_text(const elab::Value& rec, const char* name) {
  const elab::ValuePtr* v = rec.field(name);
  if (!v) return "";
  if ((*v)->kind == elab::ValueKind::Enum) return elab::to_text(**v).substr(elab::to_text(**v).rfind('.') + 1);
  return (*v)->kind == elab::ValueKind::String ? (*v)->s : "";
}

double or_null(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? NAN : it->get<double>();
}

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::string fixed(double v, int digits = 2) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string delta(double now, double before) {
  if (!std::isfinite(now) || !std::isfinite(before)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, " (%+.2f)", now - before);
  return buf;
}

}  // namespace

std::string regularization_label(const Recipe& r) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : "+") + part; };
  if (r.label_smoothing > 0) add("LS");
  if (r.mixup_on()) add("Mixup");
  if (r.dropblock_keep < 1) add("DropBlock");
  if (r.distill.enabled()) add("KD");
  if (r.augment.autoaugment != "none" && !r.augment.autoaugment.empty()) add("AutoAugment");
  return s.empty() ? "-" : s;
}

std::string network_label(const elab::Value& model) {
  if (model.kind != elab::ValueKind::Network || !model.decl) return "?";
  const elab::Value* depths = network_arg(model, "depths");
  const elab::Value* t = network_arg(model, "t");
  if (!depths || depths->kind != elab::ValueKind::List || !t || t->kind != elab::ValueKind::Record)
    return model.decl->name;
  const elab::Value* kind = network_arg(model, "kind");
  bool basic = kind && kind->kind == elab::ValueKind::String && kind->s == "basic";
  int64_t blocks = 0;
  for (const auto& d : depths->items) blocks += d->kind == elab::ValueKind::Int ? d->i : 0;
  std::string s = "R" + std::to_string((basic ? 2 : 3) * blocks + 2);
  if (record_flag(*t, "resnet_d")) s += "D";
  std::string attention = record_text(*t, "attention");
  if (attention == "se") s += "+SE";
  if (attention == "sk") s += "+SK";
  if (attention == "sk_3x3_5x5") s += "+SK(3x3+5x5)";
  if (record_flag(*t, "big_little")) s += "+BL";
  if (record_flag(*t, "anti_alias")) s += "+AA";
  const elab::ValuePtr* width = t->field("width");
  if (width && (*width)->kind == elab::ValueKind::Int && (*width)->i != 64) s += " w" + std::to_string((*width)->i);
  return s;
}

std::string row_json(const AblationRow& r) {
  json j = {{"file", r.file},
            {"name", r.name},
            {"model", r.model},
            {"regularization", r.regularization},
            {"epochs", r.epochs},
            {"top1", r.top1},
            {"mce", number(r.mce)},
            {"mean_corruption_error", number(r.mean_corruption_error)},
            {"images_per_s", r.images_per_s},
            {"throughput_batch", r.throughput_batch},
            {"train_seconds", r.train_seconds},
            {"train_images_per_s", r.train_images_per_s},
            {"recipe_hash", r.recipe_hash},
            {"checkpoint", r.checkpoint},
            {"report", r.report}};
  return j.dump(2) + "\n";
}

std::optional<AblationRow> read_row(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    json j = json::parse(in);
    AblationRow r;
    r.file = j.at("file").get<std::string>();
    r.name = j.at("name").get<std::string>();
    r.model = j.at("model").get<std::string>();
    r.regularization = j.at("regularization").get<std::string>();
    r.epochs = j.at("epochs").get<int64_t>();
    r.top1 = j.at("top1").get<double>();
    r.mce = or_null(j, "mce");
    r.mean_corruption_error = or_null(j, "mean_corruption_error");
    r.images_per_s = j.at("images_per_s").get<double>();
    r.throughput_batch = j.value("throughput_batch", int64_t{0});
    r.train_seconds = j.value("train_seconds", 0.0);
    r.train_images_per_s = j.value("train_images_per_s", 0.0);
    r.recipe_hash = j.at("recipe_hash").get<std::string>();
    r.checkpoint = j.value("checkpoint", "");
    r.report = j.value("report", "");
    return r;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::string ablation_markdown(const std::vector<AblationRow>& rows) {
  std::string s =
      "| # | model | regularization | epochs | top-1 (%) | mCE | img/s |\n|---|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const AblationRow& r = rows[i];
    const AblationRow* p = i ? &rows[i - 1] : nullptr;
    std::string stem = std::filesystem::path(r.file).stem().string();
    s += "| " + (stem.empty() ? r.name : stem) + " | " + r.model + " | " + r.regularization + " | " + std::to_string(r.epochs) + " | " +
         fixed(100 * r.top1) + (p ? delta(100 * r.top1, 100 * p->top1) : "") + " | " + fixed(100 * r.mce) +
         (p ? delta(100 * r.mce, 100 * p->mce) : "") + " | " + fixed(r.images_per_s, 0) + " |\n";
  }
  return s;
}

std::string ablation_json(const std::vector<AblationRow>& rows, double wall_seconds, const std::string& mce_note) {
  json j;
  j["wall_seconds"] = wall_seconds;
  j["mce_normalization"] = mce_note;
  j["rows"] = json::array();
  for (const AblationRow& r : rows) j["rows"].push_back(json::parse(row_json(r)));
  return j.dump(2) + "\n";
}

}  // namespace acnn::train
