// Internal state of the elaborator, shared by its source files: module
// evaluation and statements (elaborator.cpp), expressions (expressions.cpp),
// calls and instance naming (calls.cpp), types and coercion (types.cpp),
// compile-time and graph built-ins (builtins.cpp) and the DSL forms of the
// primitive ops (op_calls.cpp). Not included outside compiler/elaborate.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <algorithm>
#include <string>
#include <vector>

#include "compiler/elaborate/elaborator.h"

namespace acnn::elab {

// A user error raised while evaluating; caught at statement level, reported
// with the call stack, and replaced by a poison value.
struct EvalError {
  SourceLoc loc;
  std::string message;
  std::string hint;
};

[[noreturn]] inline void fail(SourceLoc loc, std::string message, std::string hint = {}) {
  throw EvalError{loc, std::move(message), std::move(hint)};
}

// One activation of a block, network or module top level.
struct Frame {
  std::map<std::string, ValuePtr> locals;
  const ModuleScope* module = nullptr;
  const ast::Decl* decl = nullptr;   // the block or network; null at module top level
  SourceLoc call_loc;                // where this block was called
  std::string scope_path;            // instance path of this activation ("" at the root)
  Frame* parent = nullptr;           // the caller
  int depth = 0;
};

// Evaluated call arguments with their locations.
struct CallArgs {
  std::vector<ValuePtr> pos;
  std::vector<SourceLoc> pos_locs;
  std::vector<std::pair<std::string, ValuePtr>> kw;
  std::vector<SourceLoc> kw_locs;
  SourceLoc loc;  // the callee

  const ValuePtr* find(const std::string& name) const;
  SourceLoc loc_of(const std::string& name) const;
};

using BuiltinFn = std::function<ValuePtr(Elaborator::Impl&, Frame&, CallArgs&)>;

struct Elaborator::Impl {
  Impl(Elaborator& self, ModuleLoader& loader, Diagnostics& diags, const ElaborateOptions& opts)
      : self(self), loader(loader), diags(diags), opts(opts) {}

  Elaborator& self;
  ModuleLoader& loader;
  Diagnostics& diags;
  const ElaborateOptions& opts;

  std::map<const ast::Module*, std::unique_ptr<ModuleScope>> modules;
  std::set<const ast::Module*> evaluating;
  std::vector<std::unique_ptr<RecordType>> record_types;
  std::vector<std::unique_ptr<EnumType>> enum_types;
  std::set<std::pair<std::string, std::string>> reported;  // (location, message) already shown

  // The graph under construction (only inside build_network).
  ir::Graph* graph = nullptr;
  std::unique_ptr<ir::Builder> builder;
  // Instance names taken per scope, and the next suffix to try per base name.
  std::map<std::string, std::set<std::string>> taken_names;
  std::map<std::string, std::map<std::string, int>> name_counters;
  std::set<std::string> input_names;
  bool saw_input = false;

  // The call whose result an assignment binds, and the instance name it gives.
  const ast::Expr* naming_call = nullptr;
  std::string naming_name;
  bool naming_explicit = false;  // from `as`
  int64_t steps = 0;

  // ---- modules and statements (elaborator.cpp)
  const ModuleScope* evaluate(const ast::Module* m);
  void declare(ModuleScope& scope, const ast::Decl& d);
  // Returns true when a `return` ran; *result holds its value.
  bool exec_block(const std::vector<ast::StmtPtr>& body, Frame& f, ValuePtr* result);
  bool exec(const ast::Stmt& s, Frame& f, ValuePtr* result);
  void report(const EvalError& e, const Frame* f);
  std::vector<Note> call_notes(const Frame* f) const;
  void tick(SourceLoc loc);

  // ---- names
  ValuePtr lookup(const Frame& f, const std::string& name) const;
  ValuePtr lookup_module(const ModuleScope& m, const std::string& name, int depth = 0) const;
  std::vector<std::string> visible_names(const Frame& f) const;

  // ---- expressions (expressions.cpp)
  ValuePtr eval(const ast::Expr& e, Frame& f);
  ValuePtr eval_unary(const ast::Expr& e, Frame& f);
  ValuePtr eval_binary(const ast::Expr& e, Frame& f);
  ValuePtr eval_member(const ast::Expr& e, Frame& f);
  ValuePtr eval_index(const ast::Expr& e, Frame& f);
  ValuePtr eval_with(const ast::Expr& e, Frame& f);
  ValuePtr tensor_arith(ast::BinaryOp op, const ValuePtr& a, const ValuePtr& b, SourceLoc loc);

  // ---- calls (calls.cpp)
  ValuePtr eval_call(const ast::Expr& e, Frame& f);
  ValuePtr call_value(const ValuePtr& callee, CallArgs& args, Frame& f, const ast::Expr* call_expr);
  ValuePtr call_block(const Value& block, CallArgs& args, Frame& f, const ast::Expr* call_expr);
  ValuePtr make_network(const Value& network, CallArgs& args, Frame& f);
  ValuePtr rebind_network(const Value& net, const std::vector<std::pair<std::string, ValuePtr>>& over,
                          const std::vector<SourceLoc>& locs, SourceLoc loc);
  // Binds arguments to a block's parameters (defaults, keywords, coercion).
  std::map<std::string, ValuePtr> bind_params(const ast::Decl& decl, const ModuleScope* module, CallArgs& args,
                                              Frame& caller);
  // The instance name for a call, deduplicated within the caller's scope.
  std::string instance_name(Frame& f, const ast::Expr* call_expr, const std::string& fallback);
  std::string unique_in_scope(const std::string& scope, const std::string& base);
  std::string join_scope(const std::string& scope, const std::string& name) const {
    return scope.empty() ? name : name.empty() ? scope : scope + "." + name;
  }

  // ---- types (types.cpp)
  Type resolve_type(const ast::TypeRef* t, const ModuleScope* scope);
  ValuePtr coerce(const ValuePtr& v, const Type& t, SourceLoc loc, const std::string& what);
  ValuePtr make_record(const RecordType& type, const std::vector<std::pair<std::string, ValuePtr>>& given,
                       const std::vector<SourceLoc>& locs, SourceLoc loc);
  ValuePtr merge_record(const ValuePtr& base, const std::vector<std::pair<std::string, ValuePtr>>& over,
                        const std::vector<SourceLoc>& locs, SourceLoc loc);

  // ---- built-ins (builtins.cpp, op_calls.cpp)
  const BuiltinFn* find_builtin(const std::string& name) const;
  const BuiltinFn* find_op_call(const std::string& name) const;
  std::vector<std::string> builtin_names() const;
  std::vector<std::string> op_call_names() const;

  // ---- graph helpers
  ir::Builder& need_graph(SourceLoc loc, const char* what);
  ir::ValueId emit1(ir::OpKind op, std::vector<ir::ValueId> inputs, Attrs attrs, SourceLoc loc);
  const ir::ValueType& ttype(const Value& v) const { return graph->type(v.tensor); }
};

// Small checked accessors used by built-ins and op calls.
int64_t as_int(const ValuePtr& v, SourceLoc loc, const std::string& what);
double as_float(const ValuePtr& v, SourceLoc loc, const std::string& what);
bool as_bool(const ValuePtr& v, SourceLoc loc, const std::string& what);
const std::string& as_string(const ValuePtr& v, SourceLoc loc, const std::string& what);
std::vector<int64_t> as_int_list(const ValuePtr& v, SourceLoc loc, const std::string& what);
bool is_poison(const ValuePtr& v);

}  // namespace acnn::elab
