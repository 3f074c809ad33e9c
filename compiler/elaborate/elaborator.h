// The elaborator evaluates an .acnn program at compile time. It turns each
// loaded module into a ModuleScope (its declarations and top-level bindings),
// and turns a network value into an ir::Graph by running the network's body:
// compile-time values (ints, lists, records, ...) are computed, tensor
// operations become IR nodes with static shapes, `param(...)`/`state(...)`
// become named persistent tensors. User errors become diagnostics at the DSL
// line that caused them, with the chain of block calls as notes; after an
// error the offending value turns into a poison value so that one run reports
// several independent errors without cascades.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/elaborate/value.h"
#include "compiler/ir/builder.h"
#include "dsl/diagnostics.h"
#include "dsl/parser.h"

namespace acnn::elab {

// The evaluated top level of one module.
struct ModuleScope {
  const ast::Module* module = nullptr;
  std::map<std::string, ValuePtr> bindings;      // declarations and top-level bindings
  std::vector<const ModuleScope*> star_imports;  // `import "x"`: their names are visible here
  bool sees_prelude = true;
};

struct ElaborateOptions {
  int64_t batch = 1;  // the value of `N` in input shapes
  int max_call_depth = 64;
  int64_t max_steps = 20'000'000;  // statements + calls, a guard against runaway loops
};

class Elaborator {
 public:
  Elaborator(ModuleLoader& loader, Diagnostics& diags, ElaborateOptions opts = {});
  ~Elaborator();

  // Evaluates a loaded module (and, first, everything it imports). Returns
  // null only if the module is null.
  const ModuleScope* evaluate(const ast::Module* module);
  // A top-level name of a module (its own or imported); null if absent.
  ValuePtr lookup(const ModuleScope& scope, const std::string& name) const;

  // Elaborates a network value (a call of a `network` declaration) into a
  // graph whose output "output" is the network's return value. Returns null
  // after reporting errors.
  std::unique_ptr<ir::Graph> build_network(const Value& network);

  // The record type `Recipe` of the stdlib (null if the prelude lacks it).
  const RecordType* recipe_type() const;

  const ElaborateOptions& options() const { return opts_; }
  void set_batch(int64_t batch) { opts_.batch = batch; }
  Diagnostics& diags() { return diags_; }

  struct Impl;  // compiler/elaborate/impl.h

 private:
  std::unique_ptr<Impl> impl_;
  ModuleLoader& loader_;
  Diagnostics& diags_;
  ElaborateOptions opts_;
};

}  // namespace acnn::elab
