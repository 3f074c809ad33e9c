#include "compiler/ir/attrs.h"

#include <algorithm>
#include <cstdio>
#include <functional>

namespace acnn {

Attrs& Attrs::set(const std::string& key, AttrValue value) {
  auto it = std::lower_bound(items_.begin(), items_.end(), key,
                             [](const auto& item, const std::string& k) { return item.first < k; });
  if (it != items_.end() && it->first == key)
    it->second = std::move(value);
  else
    items_.insert(it, {key, std::move(value)});
  return *this;
}

const AttrValue* Attrs::find(const std::string& key) const {
  auto it = std::lower_bound(items_.begin(), items_.end(), key,
                             [](const auto& item, const std::string& k) { return item.first < k; });
  return it != items_.end() && it->first == key ? &it->second : nullptr;
}

void Attrs::erase(const std::string& key) {
  items_.erase(std::remove_if(items_.begin(), items_.end(), [&](const auto& i) { return i.first == key; }),
               items_.end());
}

int64_t Attrs::i(const std::string& key, int64_t dflt) const {
  const AttrValue* v = find(key);
  if (!v) return dflt;
  assert(std::holds_alternative<int64_t>(*v));
  return std::get<int64_t>(*v);
}

double Attrs::f(const std::string& key, double dflt) const {
  const AttrValue* v = find(key);
  if (!v) return dflt;
  if (auto* i = std::get_if<int64_t>(v)) return static_cast<double>(*i);
  assert(std::holds_alternative<double>(*v));
  return std::get<double>(*v);
}

const std::string& Attrs::s(const std::string& key) const {
  static const std::string empty;
  const AttrValue* v = find(key);
  if (!v) return empty;
  assert(std::holds_alternative<std::string>(*v));
  return std::get<std::string>(*v);
}

std::vector<int64_t> Attrs::ints(const std::string& key, std::vector<int64_t> dflt) const {
  const AttrValue* v = find(key);
  if (!v) return dflt;
  assert(std::holds_alternative<std::vector<int64_t>>(*v));
  return std::get<std::vector<int64_t>>(*v);
}

std::vector<double> Attrs::floats(const std::string& key, std::vector<double> dflt) const {
  const AttrValue* v = find(key);
  if (!v) return dflt;
  if (auto* is = std::get_if<std::vector<int64_t>>(v)) return std::vector<double>(is->begin(), is->end());
  assert(std::holds_alternative<std::vector<double>>(*v));
  return std::get<std::vector<double>>(*v);
}

size_t Attrs::hash() const {
  size_t h = 1469598103934665603ull;
  auto mix = [&](size_t x) { h = (h ^ x) * 1099511628211ull; };
  for (const auto& [k, v] : items_) {
    mix(std::hash<std::string>{}(k));
    mix(std::hash<std::string>{}(attr_to_string(v)));
  }
  return h;
}

static std::string fmt_double(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", d);
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string attr_to_string(const AttrValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) return fmt_double(*d);
  if (auto* s = std::get_if<std::string>(&v)) return "\"" + *s + "\"";
  std::string out = "[";
  if (auto* is = std::get_if<std::vector<int64_t>>(&v)) {
    for (size_t k = 0; k < is->size(); ++k) out += (k ? "," : "") + std::to_string((*is)[k]);
  } else {
    const auto& ds = std::get<std::vector<double>>(v);
    // Long constant tables print abbreviated; the JSON form has them whole.
    size_t shown = std::min<size_t>(ds.size(), 16);
    for (size_t k = 0; k < shown; ++k) out += (k ? "," : "") + fmt_double(ds[k]);
    if (shown < ds.size()) out += ",...(" + std::to_string(ds.size()) + ")";
  }
  return out + "]";
}

}  // namespace acnn
