// Calls: argument evaluation and binding, block activation with instance
// naming, network values, record construction by calling a record type.

#include <set>

#include "compiler/elaborate/impl.h"

namespace acnn::elab {

const ValuePtr* CallArgs::find(const std::string& name) const {
  for (const auto& [n, v] : kw)
    if (n == name) return &v;
  return nullptr;
}

SourceLoc CallArgs::loc_of(const std::string& name) const {
  for (size_t i = 0; i < kw.size(); ++i)
    if (kw[i].first == name) return kw_locs[i];
  return loc;
}

ValuePtr Elaborator::Impl::eval_call(const ast::Expr& e, Frame& f) {
  tick(e.loc);
  ValuePtr callee = eval(*e.a, f);
  if (is_poison(callee)) return callee;
  CallArgs args;
  args.loc = e.loc;
  for (const auto& item : e.items) {
    ValuePtr v = eval(*item, f);
    if (is_poison(v)) return v;
    args.pos.push_back(v);
    args.pos_locs.push_back(item->loc);
  }
  std::set<std::string> seen;
  for (const auto& fi : e.fields) {
    if (!seen.insert(fi.name).second) fail(fi.loc, "argument `" + fi.name + "` is given twice");
    ValuePtr v = eval(*fi.value, f);
    if (is_poison(v)) return v;
    args.kw.push_back({fi.name, v});
    args.kw_locs.push_back(fi.loc);
  }
  return call_value(callee, args, f, &e);
}

ValuePtr Elaborator::Impl::call_value(const ValuePtr& callee, CallArgs& args, Frame& f, const ast::Expr* call_expr) {
  switch (callee->kind) {
    case ValueKind::Block: return call_block(*callee, args, f, call_expr);
    case ValueKind::Network: return make_network(*callee, args, f);
    case ValueKind::RecordType: {
      if (!args.pos.empty())
        fail(args.pos_locs[0], "record " + callee->record_type->name + " is built with named fields",
             "write " + callee->record_type->name + "(field: value, ...)");
      return make_record(*callee->record_type, args.kw, args.kw_locs, args.loc);
    }
    case ValueKind::Builtin: {
      const std::string& name = callee->s;
      const BuiltinFn* fn = nullptr;
      if (name.rfind("op.", 0) == 0) {
        fn = find_op_call(name.substr(3));
      } else {
        fn = find_builtin(name);
        if (!fn) fn = find_op_call(name);
      }
      if (!fn) fail(args.loc, "internal: unknown built-in `" + name + "`");
      // param()/state() take the binding's name; blocks are handled above.
      bool names_instance = name == "param" || name == "state";
      std::string saved = naming_name;
      if (names_instance) naming_name = instance_name(f, call_expr, name);
      ValuePtr r;
      try {
        r = (*fn)(*this, f, args);
      } catch (...) {
        naming_name = saved;
        throw;
      }
      naming_name = saved;
      return r;
    }
    default:
      fail(args.loc, describe(*callee, graph) + " is not callable",
           callee->kind == ValueKind::Record ? "use `r with { field: value }` to change a record" : "");
  }
}

std::string Elaborator::Impl::unique_in_scope(const std::string& scope, const std::string& base) {
  if (base.empty()) return base;  // `as ""`: transparent, names go to the caller's scope
  std::set<std::string>& taken = taken_names[scope];
  std::string name = base;
  int& next = name_counters[scope][base];
  while (taken.count(name)) name = base + "_" + std::to_string(++next);
  taken.insert(name);
  return name;
}

std::string Elaborator::Impl::instance_name(Frame& f, const ast::Expr* call_expr, const std::string& fallback) {
  std::string base = fallback;
  if (call_expr && call_expr == naming_call) {
    base = naming_name;
    naming_call = nullptr;  // consumed: nested calls do not take it
  }
  return unique_in_scope(f.scope_path, base);
}

std::map<std::string, ValuePtr> Elaborator::Impl::bind_params(const ast::Decl& decl, const ModuleScope* module,
                                                              CallArgs& args, Frame& caller) {
  const char* what = decl.is_network ? "network" : "block";
  std::map<std::string, ValuePtr> bound;
  if (args.pos.size() > decl.params.size())
    fail(args.pos_locs[decl.params.size()],
         std::string(what) + " `" + decl.name + "` takes " + std::to_string(decl.params.size()) + " argument" +
             (decl.params.size() == 1 ? "" : "s") + " but " + std::to_string(args.pos.size()) + " were given");
  std::vector<std::string> names;
  for (const auto& p : decl.params) names.push_back(p.name);
  for (size_t i = 0; i < args.kw.size(); ++i) {
    const std::string& k = args.kw[i].first;
    auto it = std::find(names.begin(), names.end(), k);
    if (it == names.end())
      fail(args.kw_locs[i], std::string(what) + " `" + decl.name + "` has no parameter `" + k + "`", did_you_mean(k, names));
    if (static_cast<size_t>(it - names.begin()) < args.pos.size())
      fail(args.kw_locs[i], "parameter `" + k + "` is given both by position and by name");
  }
  // Defaults are evaluated in the block's module, seeing the parameters bound so far.
  Frame dflt;
  dflt.module = module;
  dflt.parent = &caller;
  for (size_t i = 0; i < decl.params.size(); ++i) {
    const ast::Param& p = decl.params[i];
    ValuePtr v;
    SourceLoc at = args.loc;
    if (i < args.pos.size()) {
      v = args.pos[i];
      at = args.pos_locs[i];
    } else if (const ValuePtr* kv = args.find(p.name)) {
      v = *kv;
      at = args.loc_of(p.name);
    } else if (p.default_value) {
      v = eval(*p.default_value, dflt);
      at = p.default_value->loc;
    } else {
      fail(args.loc, std::string(what) + " `" + decl.name + "` needs argument `" + p.name + "`",
           "pass it as `" + p.name + ": value`");
    }
    if (p.type) {
      Type t = resolve_type(p.type.get(), module);
      v = coerce(v, t, at, "argument `" + p.name + "` of `" + decl.name + "`");
    }
    bound[p.name] = v;
    dflt.locals[p.name] = v;
  }
  return bound;
}

ValuePtr Elaborator::Impl::call_block(const Value& block, CallArgs& args, Frame& f, const ast::Expr* call_expr) {
  const ast::Decl& decl = *block.decl;
  if (f.depth + 1 > opts.max_call_depth)
    fail(args.loc, "blocks call each other deeper than " + std::to_string(opts.max_call_depth) + " levels",
         "a block that calls itself needs a condition that ends the recursion");
  std::string name = instance_name(f, call_expr, decl.name);
  Frame callee;
  callee.locals = bind_params(decl, block.module, args, f);
  callee.module = block.module;
  callee.decl = &decl;
  callee.call_loc = args.loc;
  callee.scope_path = join_scope(f.scope_path, name);
  callee.parent = &f;
  callee.depth = f.depth + 1;
  if (builder) callee.locals.emplace("N", make_int(opts.batch));
  ValuePtr result = make_none();
  const ast::Expr* saved_call = naming_call;
  naming_call = nullptr;
  exec_block(decl.body, callee, &result);
  naming_call = saved_call;
  if (builder) builder->scope = f.scope_path;
  return result;
}

ValuePtr Elaborator::Impl::make_network(const Value& network, CallArgs& args, Frame& f) {
  auto v = std::make_shared<Value>();
  v->kind = ValueKind::Network;
  v->decl = network.decl;
  v->module = network.module;
  v->loc = args.loc;
  v->b = true;  // instantiated: its arguments are bound and checked
  for (auto& [name, value] : bind_params(*network.decl, network.module, args, f)) v->fields.push_back({name, value});
  return v;
}

}  // namespace acnn::elab
