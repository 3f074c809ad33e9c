// Op attributes: a small ordered map from name to a value that is an integer, a
// float, a string, or a list of integers or floats. One generic representation
// keeps the printer, the JSON writer, CSE and the verifier free of per-op code;
// each op family documents and checks the attributes it uses.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace acnn {

using AttrValue = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>>;

class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<std::string, AttrValue>> init) {
    for (auto& [k, v] : init) set(k, v);
  }

  Attrs& set(const std::string& key, AttrValue value);
  bool has(const std::string& key) const { return find(key) != nullptr; }
  const AttrValue* find(const std::string& key) const;
  void erase(const std::string& key);

  // Typed getters: assert the type when present; return the default when absent.
  int64_t i(const std::string& key, int64_t dflt = 0) const;
  double f(const std::string& key, double dflt = 0) const;  // accepts an int too
  const std::string& s(const std::string& key) const;        // "" when absent
  std::vector<int64_t> ints(const std::string& key, std::vector<int64_t> dflt = {}) const;
  std::vector<double> floats(const std::string& key, std::vector<double> dflt = {}) const;

  const std::vector<std::pair<std::string, AttrValue>>& items() const { return items_; }
  bool operator==(const Attrs& o) const { return items_ == o.items_; }
  size_t hash() const;

 private:
  std::vector<std::pair<std::string, AttrValue>> items_;  // sorted by key
};

// "[1,2]", "0.5", "\"kaiming\"" — the IR text form of one value.
std::string attr_to_string(const AttrValue& v);

}  // namespace acnn
