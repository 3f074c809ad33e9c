// Argument binding for built-in functions and primitive-op calls: a built-in
// declares its parameters by name (required or optional), and BoundArgs gives
// checked, typed access to what the call passed. Shared by builtins.cpp and
// op_calls.cpp only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compiler/elaborate/impl.h"

namespace acnn::elab {

struct ParamSpec {
  const char* name;
  bool required;
};

class BoundArgs {
 public:
  // Binds positional arguments in order, then keywords; reports too many
  // arguments, unknown keywords (with a hint) and missing required ones.
  BoundArgs(const std::string& fn, const CallArgs& args, std::vector<ParamSpec> params);

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  const ValuePtr& get(const std::string& name) const;  // asserts presence
  SourceLoc loc(const std::string& name) const;
  SourceLoc call_loc() const { return call_loc_; }
  const std::string& fn() const { return fn_; }

  int64_t i(const std::string& name, int64_t dflt) const;
  double f(const std::string& name, double dflt) const;
  bool b(const std::string& name, bool dflt) const;
  std::string s(const std::string& name, const std::string& dflt) const;
  // A tensor argument; a number is accepted when `numbers_as` is set (made into
  // a scalar constant of that tensor's dtype by the caller).
  ir::ValueId tensor(const std::string& name) const;
  std::vector<int64_t> ints(const std::string& name, std::vector<int64_t> dflt) const;
  // An int, [a, b] -> a 2-vector (int x -> [x, x]).
  std::vector<int64_t> pair(const std::string& name, std::vector<int64_t> dflt) const;
  // Padding of the spatial dims: int p, [h, w] or [top, left, bottom, right].
  std::vector<int64_t> pad4(const std::string& name) const;

 private:
  std::string fn_;
  SourceLoc call_loc_;
  std::map<std::string, ValuePtr> values_;
  std::map<std::string, SourceLoc> locs_;
};

}  // namespace acnn::elab
