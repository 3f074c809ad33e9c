// Built-in functions: compile-time helpers (len, range, min, max, abs, str,
// int, float, sum) and the graph built-ins that create sources (param, state,
// constant, runtime_scalar, random_uniform) or select by mode (if_training).

#include "compiler/elaborate/builtins.h"

#include <cmath>
#include <functional>

namespace acnn::elab {

// ---------------------------------------------------------------- BoundArgs

BoundArgs::BoundArgs(const std::string& fn, const CallArgs& args, std::vector<ParamSpec> params)
    : fn_(fn), call_loc_(args.loc) {
  if (args.pos.size() > params.size())
    fail(args.pos_locs[params.size()], "`" + fn + "` takes at most " + std::to_string(params.size()) +
                                           " argument" + (params.size() == 1 ? "" : "s") + ", got " +
                                           std::to_string(args.pos.size()));
  for (size_t i = 0; i < args.pos.size(); ++i) {
    values_[params[i].name] = args.pos[i];
    locs_[params[i].name] = args.pos_locs[i];
  }
  std::vector<std::string> names;
  for (const auto& p : params) names.push_back(p.name);
  for (size_t i = 0; i < args.kw.size(); ++i) {
    const std::string& k = args.kw[i].first;
    if (std::find(names.begin(), names.end(), k) == names.end())
      fail(args.kw_locs[i], "`" + fn + "` has no parameter `" + k + "`", did_you_mean(k, names));
    if (values_.count(k)) fail(args.kw_locs[i], "parameter `" + k + "` of `" + fn + "` is given twice");
    values_[k] = args.kw[i].second;
    locs_[k] = args.kw_locs[i];
  }
  for (const auto& p : params)
    if (p.required && !values_.count(p.name))
      fail(args.loc, "`" + fn + "` needs argument `" + p.name + "`");
}

const ValuePtr& BoundArgs::get(const std::string& name) const {
  auto it = values_.find(name);
  assert(it != values_.end());
  return it->second;
}

SourceLoc BoundArgs::loc(const std::string& name) const {
  auto it = locs_.find(name);
  return it == locs_.end() ? call_loc_ : it->second;
}

static std::string arg_what(const BoundArgs& a, const std::string& name) {
  return "argument `" + name + "` of `" + a.fn() + "`";
}

int64_t BoundArgs::i(const std::string& name, int64_t dflt) const {
  return has(name) ? as_int(get(name), loc(name), arg_what(*this, name)) : dflt;
}
double BoundArgs::f(const std::string& name, double dflt) const {
  return has(name) ? as_float(get(name), loc(name), arg_what(*this, name)) : dflt;
}
bool BoundArgs::b(const std::string& name, bool dflt) const {
  return has(name) ? as_bool(get(name), loc(name), arg_what(*this, name)) : dflt;
}
std::string BoundArgs::s(const std::string& name, const std::string& dflt) const {
  return has(name) ? as_string(get(name), loc(name), arg_what(*this, name)) : dflt;
}

ir::ValueId BoundArgs::tensor(const std::string& name) const {
  const ValuePtr& v = get(name);
  if (v->kind != ValueKind::Tensor) fail(loc(name), arg_what(*this, name) + " must be a tensor, got " + describe(*v));
  return v->tensor;
}

std::vector<int64_t> BoundArgs::ints(const std::string& name, std::vector<int64_t> dflt) const {
  return has(name) ? as_int_list(get(name), loc(name), arg_what(*this, name)) : dflt;
}

std::vector<int64_t> BoundArgs::pair(const std::string& name, std::vector<int64_t> dflt) const {
  if (!has(name)) return dflt;
  std::vector<int64_t> v = as_int_list(get(name), loc(name), arg_what(*this, name));
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() != 2) fail(loc(name), arg_what(*this, name) + " must be an int or [height, width]");
  return v;
}

std::vector<int64_t> BoundArgs::pad4(const std::string& name) const {
  if (!has(name)) return {0, 0, 0, 0};
  std::vector<int64_t> v = as_int_list(get(name), loc(name), arg_what(*this, name));
  if (v.size() == 1) return {v[0], v[0], v[0], v[0]};
  if (v.size() == 2) return {v[0], v[1], v[0], v[1]};
  if (v.size() == 4) return v;
  fail(loc(name), arg_what(*this, name) + " must be an int, [h, w] or [top, left, bottom, right]");
}

// ---------------------------------------------------------------- helpers

namespace {

using Impl = Elaborator::Impl;

ValuePtr number_fold(const CallArgs& args, const std::string& fn, bool take_max) {
  std::vector<ValuePtr> xs = args.pos;
  if (xs.size() == 1 && xs[0]->kind == ValueKind::List) xs = xs[0]->items;
  if (xs.empty()) fail(args.loc, "`" + fn + "` needs at least one value");
  ValuePtr best = xs[0];
  for (const auto& x : xs) {
    double a = as_float(x, args.loc, "an argument of `" + fn + "`"), b = as_float(best, args.loc, "");
    if (take_max ? a > b : a < b) best = x;
  }
  if (!args.kw.empty()) fail(args.kw_locs[0], "`" + fn + "` takes no keyword arguments");
  return best;
}

std::string persistent_name(Impl& I, Frame& f, const BoundArgs& a) {
  std::string name = I.join_scope(f.scope_path, I.naming_name);
  if (I.graph->find_persistent(name) >= 0)
    fail(a.call_loc(), "a parameter named `" + name + "` already exists", "name the call with `as \"...\"`");
  return name;
}

Shape positive_shape(const BoundArgs& a, const std::string& arg) {
  Shape s = a.ints(arg, {});
  for (int64_t d : s)
    if (d <= 0) fail(a.loc(arg), "`" + a.fn() + "` needs positive dimensions, got " + shape_str(s));
  return s;
}

void flatten_numbers(const ValuePtr& v, SourceLoc loc, std::vector<double>& out) {
  if (v->kind == ValueKind::List) {
    for (const auto& item : v->items) flatten_numbers(item, loc, out);
    return;
  }
  out.push_back(as_float(v, loc, "a constant's value"));
}

const std::map<std::string, BuiltinFn>& builtins() {
  static const std::map<std::string, BuiltinFn> table = {
      {"len", [](Impl&, Frame&, CallArgs& c) -> ValuePtr {
         BoundArgs a("len", c, {{"x", true}});
         const ValuePtr& x = a.get("x");
         if (x->kind == ValueKind::List) return make_int(static_cast<int64_t>(x->items.size()));
         if (x->kind == ValueKind::String) return make_int(static_cast<int64_t>(x->s.size()));
         fail(a.loc("x"), "len() needs a list or a string, got " + describe(*x));
       }},
      {"range", [](Impl&, Frame&, CallArgs& c) -> ValuePtr {
         BoundArgs a("range", c, {{"a", true}, {"b", false}, {"step", false}});
         int64_t lo = 0, hi, step = a.i("step", 1);
         if (a.has("b")) lo = a.i("a", 0), hi = a.i("b", 0);
         else hi = a.i("a", 0);
         if (step == 0) fail(a.loc("step"), "range() step must not be zero");
         std::vector<ValuePtr> items;
         for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) {
           if (items.size() >= 1'000'000) fail(c.loc, "range() of more than 1,000,000 values");
           items.push_back(make_int(i));
         }
         return make_list(std::move(items));
       }},
      {"min", [](Impl&, Frame&, CallArgs& c) { return number_fold(c, "min", false); }},
      {"max", [](Impl&, Frame&, CallArgs& c) { return number_fold(c, "max", true); }},
      {"abs", [](Impl& I, Frame&, CallArgs& c) -> ValuePtr {
         BoundArgs a("abs", c, {{"x", true}});
         const ValuePtr& x = a.get("x");
         if (x->kind == ValueKind::Int) {
           if (x->i == INT64_MIN) fail(a.loc("x"), "integer overflow in abs()");
           return make_int(x->i < 0 ? -x->i : x->i);
         }
         if (x->kind == ValueKind::Tensor) return make_tensor(I.emit1(ir::OpKind::Abs, {x->tensor}, {}, c.loc));
         return make_float(std::fabs(as_float(x, a.loc("x"), "the argument of abs()")));
       }},
      {"str", [](Impl&, Frame&, CallArgs& c) -> ValuePtr {
         BoundArgs a("str", c, {{"x", true}});
         const ValuePtr& x = a.get("x");
         if (x->kind == ValueKind::String) return x;
         if (x->kind == ValueKind::Enum) return make_string(x->enum_type->members[x->enum_index]);
         if (x->kind == ValueKind::Tensor) fail(a.loc("x"), "str() of a tensor", "use x.shape for its shape");
         return make_string(to_text(*x));
       }},
      {"int", [](Impl&, Frame&, CallArgs& c) -> ValuePtr {
         BoundArgs a("int", c, {{"x", true}});
         const ValuePtr& x = a.get("x");
         if (x->kind == ValueKind::Int) return x;
         if (x->kind == ValueKind::Bool) return make_int(x->b ? 1 : 0);
         double d = as_float(x, a.loc("x"), "the argument of int()");
         if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) fail(a.loc("x"), "int() of " + to_text(*x) + " does not fit in 64 bits");
         return make_int(static_cast<int64_t>(d));
       }},
      {"pow", [](Impl&, Frame&, CallArgs& c) -> ValuePtr {
         BoundArgs a("pow", c, {{"base", true}, {"exponent", true}});
         const ValuePtr &b = a.get("base"), &e = a.get("exponent");
         if (b->kind == ValueKind::Int && e->kind == ValueKind::Int && e->i >= 0) {
           int64_t r = 1;
           for (int64_t k = 0; k < e->i; ++k)
             if (__builtin_mul_overflow(r, b->i, &r)) fail(c.loc, "integer overflow in pow()");
           return make_int(r);
         }
         return make_float(std::pow(a.f("base", 0), a.f("exponent", 0)));
       }},
      {"float", [](Impl&, Frame&, CallArgs& c) -> ValuePtr {
         BoundArgs a("float", c, {{"x", true}});
         return make_float(a.f("x", 0));
       }},
      {"sum", [](Impl&, Frame&, CallArgs& c) -> ValuePtr {
         BoundArgs a("sum", c, {{"xs", true}});
         const ValuePtr& xs = a.get("xs");
         if (xs->kind != ValueKind::List) fail(a.loc("xs"), "sum() needs a list, got " + describe(*xs));
         bool all_int = true;
         int64_t si = 0;
         double sf = 0;
         for (const auto& x : xs->items) {
           if (x->kind == ValueKind::Int) {
             if (__builtin_add_overflow(si, x->i, &si)) fail(a.loc("xs"), "integer overflow in sum()");
           } else {
             all_int = false;
           }
           sf += as_float(x, a.loc("xs"), "an element of sum()");
         }
         return all_int ? make_int(si) : make_float(sf);
       }},
      {"param", [](Impl& I, Frame& f, CallArgs& c) -> ValuePtr {
         BoundArgs a("param", c, {{"shape", true}, {"init", false}, {"decay", false}});
         ir::Builder& b = I.need_graph(c.loc, "param()");
         std::string name = persistent_name(I, f, a);
         std::string init = a.s("init", "kaiming_normal");
         static const std::vector<std::string> inits = {"kaiming_normal", "kaiming_uniform", "zeros", "ones", "zero_gamma"};
         if (std::find(inits.begin(), inits.end(), init) == inits.end() && init.rfind("normal:", 0) != 0 &&
             init.rfind("uniform:", 0) != 0)
           fail(a.loc("init"), "unknown initializer \"" + init + "\"",
                "use kaiming_normal, kaiming_uniform, zeros, ones, zero_gamma, \"normal:<std>\" or \"uniform:<bound>\"");
         b.loc = c.loc;
         b.scope = f.scope_path;
         return make_tensor(b.param(name, ir::ValueType{DType::F32, positive_shape(a, "shape")}, init, a.b("decay", true)));
       }},
      {"state", [](Impl& I, Frame& f, CallArgs& c) -> ValuePtr {
         BoundArgs a("state", c, {{"shape", true}, {"init", false}});
         ir::Builder& b = I.need_graph(c.loc, "state()");
         std::string name = persistent_name(I, f, a);
         std::string init = a.s("init", "zeros");
         if (init != "zeros" && init != "ones") fail(a.loc("init"), "state() starts from \"zeros\" or \"ones\"");
         b.loc = c.loc;
         b.scope = f.scope_path;
         return make_tensor(b.state(name, ir::ValueType{DType::F32, positive_shape(a, "shape")}, init));
       }},
      {"constant", [](Impl& I, Frame& f, CallArgs& c) -> ValuePtr {
         BoundArgs a("constant", c, {{"values", true}, {"shape", false}});
         ir::Builder& b = I.need_graph(c.loc, "constant()");
         std::vector<double> values;
         flatten_numbers(a.get("values"), a.loc("values"), values);
         Shape shape = a.has("shape") ? positive_shape(a, "shape") : Shape{static_cast<int64_t>(values.size())};
         if (numel(shape) != static_cast<int64_t>(values.size()))
           fail(c.loc, "constant() has " + std::to_string(values.size()) + " values for shape " + shape_str(shape));
         b.loc = c.loc;
         b.scope = f.scope_path;
         return make_tensor(b.constant(shape, std::move(values)));
       }},
      {"runtime_scalar", [](Impl& I, Frame& f, CallArgs& c) -> ValuePtr {
         BoundArgs a("runtime_scalar", c, {{"name", true}});
         return make_tensor(I.emit1(ir::OpKind::RuntimeScalar, {}, Attrs{{"name", a.s("name", "")}}, c.loc));
       }},
      {"random_uniform", [](Impl& I, Frame& f, CallArgs& c) -> ValuePtr {
         BoundArgs a("random_uniform", c, {{"shape", true}});
         ir::Builder& b = I.need_graph(c.loc, "random_uniform()");
         // Each random node draws its own stream, stable across recompiles.
         std::string key = I.join_scope(f.scope_path, I.unique_in_scope(f.scope_path, "#random"));
         uint64_t h = 1469598103934665603ull;  // FNV-1a: the same on every platform
         for (unsigned char ch : key) h = (h ^ ch) * 1099511628211ull;
         int64_t stream = static_cast<int64_t>(h & 0x7fffffffffffffffull);
         (void)b;
         return make_tensor(I.emit1(ir::OpKind::RandomUniform, {},
                                    Attrs{{"shape", positive_shape(a, "shape")}, {"dtype", std::string("f32")}, {"stream", stream}},
                                    c.loc));
       }},
      {"if_training", [](Impl& I, Frame&, CallArgs& c) -> ValuePtr {
         BoundArgs a("if_training", c, {{"train", true}, {"eval", true}});
         return make_tensor(I.emit1(ir::OpKind::IfTraining, {a.tensor("train"), a.tensor("eval")}, {}, c.loc));
       }},
  };
  return table;
}

}  // namespace

const BuiltinFn* Elaborator::Impl::find_builtin(const std::string& name) const {
  auto it = builtins().find(name);
  return it == builtins().end() ? nullptr : &it->second;
}

std::vector<std::string> Elaborator::Impl::builtin_names() const {
  std::vector<std::string> names;
  for (const auto& [n, fn] : builtins()) names.push_back(n);
  return names;
}

}  // namespace acnn::elab
