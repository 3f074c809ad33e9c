// Expression evaluation: literals, names, operators (compile-time arithmetic
// with overflow checks, tensor arithmetic that emits IR), member access,
// indexing and record update with `with`.

#include <cmath>
#include <set>

#include "compiler/elaborate/impl.h"

namespace acnn::elab {

bool is_poison(const ValuePtr& v) { return v && v->kind == ValueKind::Poison; }

int64_t as_int(const ValuePtr& v, SourceLoc loc, const std::string& what) {
  if (v->kind == ValueKind::Int) return v->i;
  std::string hint = v->kind == ValueKind::Float ? "use int(x) to truncate, or `/` of two ints for floor division" : "";
  fail(loc, what + " must be an int, got " + describe(*v), hint);
}

double as_float(const ValuePtr& v, SourceLoc loc, const std::string& what) {
  if (v->kind == ValueKind::Float) return v->f;
  if (v->kind == ValueKind::Int) return static_cast<double>(v->i);
  fail(loc, what + " must be a number, got " + describe(*v));
}

bool as_bool(const ValuePtr& v, SourceLoc loc, const std::string& what) {
  if (v->kind == ValueKind::Bool) return v->b;
  fail(loc, what + " must be a bool, got " + describe(*v), "compare explicitly, e.g. `n > 0`");
}

const std::string& as_string(const ValuePtr& v, SourceLoc loc, const std::string& what) {
  if (v->kind == ValueKind::String) return v->s;
  fail(loc, what + " must be a string, got " + describe(*v), v->kind == ValueKind::Int ? "use str(x)" : "");
}

std::vector<int64_t> as_int_list(const ValuePtr& v, SourceLoc loc, const std::string& what) {
  if (v->kind == ValueKind::Int) return {v->i};
  if (v->kind != ValueKind::List) fail(loc, what + " must be a list of ints, got " + describe(*v));
  std::vector<int64_t> out;
  for (const auto& item : v->items) out.push_back(as_int(item, loc, what + " element"));
  return out;
}

ValuePtr Elaborator::Impl::eval(const ast::Expr& e, Frame& f) {
  switch (e.kind) {
    case ast::ExprKind::Int: return make_int(e.int_value);
    case ast::ExprKind::Float: return make_float(e.float_value);
    case ast::ExprKind::Bool: return make_bool(e.bool_value);
    case ast::ExprKind::String: return make_string(e.text);
    case ast::ExprKind::None: return make_none();
    case ast::ExprKind::Name: {
      if (ValuePtr v = lookup(f, e.text)) return v;
      if (e.text == "N" && !builder)
        fail(e.loc, "`N` (the batch size) is only defined inside a network");
      fail(e.loc, "unknown name `" + e.text + "`", did_you_mean(e.text, visible_names(f)));
    }
    case ast::ExprKind::List: {
      std::vector<ValuePtr> items;
      for (const auto& item : e.items) {
        ValuePtr v = eval(*item, f);
        if (is_poison(v)) return v;
        items.push_back(v);
      }
      return make_list(std::move(items));
    }
    case ast::ExprKind::Record: {
      auto r = std::make_shared<Value>();
      r->kind = ValueKind::Record;
      r->loc = e.loc;
      std::set<std::string> seen;
      for (const auto& fi : e.fields) {
        if (!seen.insert(fi.name).second) fail(fi.loc, "field `" + fi.name + "` is given twice");
        ValuePtr v = eval(*fi.value, f);
        if (is_poison(v)) return v;
        r->fields.push_back({fi.name, v});
      }
      return r;
    }
    case ast::ExprKind::Unary: return eval_unary(e, f);
    case ast::ExprKind::Binary: return eval_binary(e, f);
    case ast::ExprKind::Conditional: {
      ValuePtr c = eval(*e.b, f);
      if (is_poison(c)) return c;
      return as_bool(c, e.b->loc, "the condition of `if ... else`") ? eval(*e.a, f) : eval(*e.c, f);
    }
    case ast::ExprKind::Call: return eval_call(e, f);
    case ast::ExprKind::Member: return eval_member(e, f);
    case ast::ExprKind::Index: return eval_index(e, f);
    case ast::ExprKind::With: return eval_with(e, f);
  }
  fail(e.loc, "internal: unknown expression");
}

ValuePtr Elaborator::Impl::eval_unary(const ast::Expr& e, Frame& f) {
  ValuePtr a = eval(*e.a, f);
  if (is_poison(a)) return a;
  if (e.unary_op == ast::UnaryOp::Not) return make_bool(!as_bool(a, e.a->loc, "the operand of `not`"));
  switch (a->kind) {
    case ValueKind::Int:
      if (a->i == INT64_MIN) fail(e.loc, "integer overflow in negation");
      return make_int(-a->i);
    case ValueKind::Float: return make_float(-a->f);
    case ValueKind::Tensor: return make_tensor(emit1(ir::OpKind::Neg, {a->tensor}, {}, e.loc));
    default: fail(e.loc, "cannot negate " + describe(*a, graph));
  }
}

static bool is_number(const Value& v) { return v.kind == ValueKind::Int || v.kind == ValueKind::Float; }

static bool values_equal(const Value& a, const Value& b) {
  if (is_number(a) && is_number(b)) {
    if (a.kind == ValueKind::Int && b.kind == ValueKind::Int) return a.i == b.i;
    return (a.kind == ValueKind::Int ? static_cast<double>(a.i) : a.f) == (b.kind == ValueKind::Int ? static_cast<double>(b.i) : b.f);
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case ValueKind::None: return true;
    case ValueKind::Bool: return a.b == b.b;
    case ValueKind::String: return a.s == b.s;
    case ValueKind::Enum: return a.enum_type == b.enum_type && a.enum_index == b.enum_index;
    case ValueKind::List:
      if (a.items.size() != b.items.size()) return false;
      for (size_t i = 0; i < a.items.size(); ++i)
        if (!values_equal(*a.items[i], *b.items[i])) return false;
      return true;
    case ValueKind::Record:
      if (a.record_type != b.record_type || a.fields.size() != b.fields.size()) return false;
      for (size_t i = 0; i < a.fields.size(); ++i)
        if (a.fields[i].first != b.fields[i].first || !values_equal(*a.fields[i].second, *b.fields[i].second)) return false;
      return true;
    default: return &a == &b;
  }
}

ValuePtr Elaborator::Impl::eval_binary(const ast::Expr& e, Frame& f) {
  using ast::BinaryOp;
  if (e.binary_op == BinaryOp::And || e.binary_op == BinaryOp::Or) {
    ValuePtr a = eval(*e.a, f);
    if (is_poison(a)) return a;
    bool av = as_bool(a, e.a->loc, std::string("the left operand of `") + ast::to_string(e.binary_op) + "`");
    if (e.binary_op == BinaryOp::And ? !av : av) return make_bool(av);
    ValuePtr b = eval(*e.b, f);
    if (is_poison(b)) return b;
    return make_bool(as_bool(b, e.b->loc, std::string("the right operand of `") + ast::to_string(e.binary_op) + "`"));
  }
  ValuePtr a = eval(*e.a, f);
  if (is_poison(a)) return a;
  ValuePtr b = eval(*e.b, f);
  if (is_poison(b)) return b;
  const char* sym = ast::to_string(e.binary_op);
  if (a->kind == ValueKind::Tensor || b->kind == ValueKind::Tensor) return tensor_arith(e.binary_op, a, b, e.loc);

  switch (e.binary_op) {
    case BinaryOp::In: {
      if (b->kind == ValueKind::List) {
        for (const auto& item : b->items)
          if (values_equal(*a, *item)) return make_bool(true);
        return make_bool(false);
      }
      if (b->kind == ValueKind::String && a->kind == ValueKind::String) return make_bool(b->s.find(a->s) != std::string::npos);
      fail(e.loc, "`in` needs a list (or a string) on the right, got " + describe(*b));
    }
    case BinaryOp::Eq: return make_bool(values_equal(*a, *b));
    case BinaryOp::Ne: return make_bool(!values_equal(*a, *b));
    case BinaryOp::Lt: case BinaryOp::Le: case BinaryOp::Gt: case BinaryOp::Ge: {
      int cmp;
      if (is_number(*a) && is_number(*b)) {
        if (a->kind == ValueKind::Int && b->kind == ValueKind::Int)
          cmp = a->i < b->i ? -1 : a->i > b->i;
        else {
          double x = as_float(a, e.a->loc, ""), y = as_float(b, e.b->loc, "");
          cmp = x < y ? -1 : x > y;
        }
      } else if (a->kind == ValueKind::String && b->kind == ValueKind::String) {
        cmp = a->s < b->s ? -1 : a->s > b->s;
      } else {
        fail(e.loc, std::string("cannot compare ") + describe(*a) + " and " + describe(*b) + " with `" + sym + "`");
      }
      bool r = e.binary_op == BinaryOp::Lt ? cmp < 0 : e.binary_op == BinaryOp::Le ? cmp <= 0
             : e.binary_op == BinaryOp::Gt ? cmp > 0 : cmp >= 0;
      return make_bool(r);
    }
    default: break;
  }
  if (e.binary_op == BinaryOp::Add && a->kind == ValueKind::String && b->kind == ValueKind::String)
    return make_string(a->s + b->s);
  if (e.binary_op == BinaryOp::Add && a->kind == ValueKind::List && b->kind == ValueKind::List) {
    std::vector<ValuePtr> items = a->items;
    items.insert(items.end(), b->items.begin(), b->items.end());
    return make_list(std::move(items));
  }
  if (!is_number(*a) || !is_number(*b)) {
    std::string hint;
    if ((a->kind == ValueKind::String) != (b->kind == ValueKind::String) && e.binary_op == BinaryOp::Add)
      hint = "convert with str(x) to concatenate";
    fail(e.loc, std::string("unsupported operands for `") + sym + "`: " + describe(*a) + " and " + describe(*b), hint);
  }
  if (a->kind == ValueKind::Int && b->kind == ValueKind::Int) {
    int64_t x = a->i, y = b->i, r = 0;
    bool overflow = false;
    switch (e.binary_op) {
      case BinaryOp::Add: overflow = __builtin_add_overflow(x, y, &r); break;
      case BinaryOp::Sub: overflow = __builtin_sub_overflow(x, y, &r); break;
      case BinaryOp::Mul: overflow = __builtin_mul_overflow(x, y, &r); break;
      case BinaryOp::Div: case BinaryOp::Mod: {
        if (y == 0) fail(e.loc, e.binary_op == BinaryOp::Div ? "division by zero" : "modulo by zero");
        if (x == INT64_MIN && y == -1) overflow = true;
        else {
          int64_t q = x / y, m = x % y;
          if (m != 0 && ((m < 0) != (y < 0))) --q, m += y;  // floor semantics
          r = e.binary_op == BinaryOp::Div ? q : m;
        }
        break;
      }
      default: break;
    }
    if (overflow) fail(e.loc, std::string("integer overflow in `") + sym + "`", "the result does not fit in 64 bits");
    return make_int(r);
  }
  double x = as_float(a, e.a->loc, ""), y = as_float(b, e.b->loc, "");
  switch (e.binary_op) {
    case BinaryOp::Add: return make_float(x + y);
    case BinaryOp::Sub: return make_float(x - y);
    case BinaryOp::Mul: return make_float(x * y);
    case BinaryOp::Div:
      if (y == 0) fail(e.loc, "division by zero");
      return make_float(x / y);
    case BinaryOp::Mod:
      if (y == 0) fail(e.loc, "modulo by zero");
      return make_float(x - y * std::floor(x / y));
    default: break;
  }
  fail(e.loc, "internal: unhandled operator");
}

// Tensor arithmetic: tensor (op) tensor emits a broadcasting binary op;
// tensor (op) number folds into one `scale` op where it can.
ValuePtr Elaborator::Impl::tensor_arith(ast::BinaryOp op, const ValuePtr& a, const ValuePtr& b, SourceLoc loc) {
  using ast::BinaryOp;
  using ir::OpKind;
  bool ta = a->kind == ValueKind::Tensor, tb = b->kind == ValueKind::Tensor;
  if (ta && tb) {
    OpKind k;
    std::vector<ir::ValueId> in = {a->tensor, b->tensor};
    switch (op) {
      case BinaryOp::Add: k = OpKind::Add; break;
      case BinaryOp::Sub: k = OpKind::Sub; break;
      case BinaryOp::Mul: k = OpKind::Mul; break;
      case BinaryOp::Div: k = OpKind::Div; break;
      case BinaryOp::Lt: k = OpKind::Less; break;
      case BinaryOp::Gt: k = OpKind::Less, in = {b->tensor, a->tensor}; break;
      default:
        fail(loc, std::string("operator `") + ast::to_string(op) + "` is not defined on tensors",
             "tensors support + - * / < >; use maximum()/minimum() for elementwise extremes");
    }
    return make_tensor(emit1(k, in, {}, loc));
  }
  const ValuePtr& num = ta ? b : a;
  const ValuePtr& ten = ta ? a : b;
  if (!is_number(*num))
    fail(loc, std::string("unsupported operands for `") + ast::to_string(op) + "`: " + describe(*a, graph) + " and " +
                  describe(*b, graph));
  double c = as_float(num, loc, "");
  auto scale = [&](double alpha, double beta) {
    return make_tensor(emit1(OpKind::Scale, {ten->tensor}, Attrs{{"alpha", alpha}, {"beta", beta}}, loc));
  };
  switch (op) {
    case BinaryOp::Add: return scale(1.0, c);
    case BinaryOp::Sub: return ta ? scale(1.0, -c) : scale(-1.0, c);
    case BinaryOp::Mul: return scale(c, 0.0);
    case BinaryOp::Div:
      if (ta) {
        if (c == 0) fail(loc, "division of a tensor by zero");
        return scale(1.0 / c, 0.0);
      } else {
        const ir::ValueType& t = ttype(*ten);
        ir::Builder& bld = need_graph(loc, "division");
        bld.loc = loc;
        ir::ValueId k = bld.fill({}, c, t.dtype);
        return make_tensor(emit1(OpKind::Div, {k, ten->tensor}, {}, loc));
      }
    case BinaryOp::Lt: case BinaryOp::Gt: {
      const ir::ValueType& t = ttype(*ten);
      ir::Builder& bld = need_graph(loc, "comparison");
      bld.loc = loc;
      ir::ValueId k = bld.fill({}, c, t.dtype);
      bool tensor_left = ta;
      bool less = op == BinaryOp::Lt;
      // a < b with a the tensor: less(t, k); with b the tensor: less(k, t).
      std::vector<ir::ValueId> in = (less == tensor_left) ? std::vector<ir::ValueId>{ten->tensor, k}
                                                          : std::vector<ir::ValueId>{k, ten->tensor};
      return make_tensor(emit1(OpKind::Less, in, {}, loc));
    }
    default:
      fail(loc, std::string("operator `") + ast::to_string(op) + "` is not defined between a tensor and a number");
  }
}

ValuePtr Elaborator::Impl::eval_member(const ast::Expr& e, Frame& f) {
  // `op.name` names a primitive op even where `name` is shadowed.
  if (e.a->kind == ast::ExprKind::Name && e.a->text == "op" && !lookup(f, "op")) {
    if (!find_op_call(e.text)) fail(e.loc, "unknown primitive op `" + e.text + "`", did_you_mean(e.text, op_call_names()));
    auto v = std::make_shared<Value>();
    v->kind = ValueKind::Builtin;
    v->s = "op." + e.text;
    return v;
  }
  ValuePtr a = eval(*e.a, f);
  if (is_poison(a)) return a;
  const std::string& m = e.text;
  switch (a->kind) {
    case ValueKind::Tensor: {
      const Shape& s = ttype(*a).shape;
      auto dim = [&](size_t i, const char* what) -> ValuePtr {
        if (s.size() <= i)
          fail(e.loc, "`" + m + "` is dimension " + std::to_string(i) + ", but the tensor is " + shape_str(s), what);
        return make_int(s[i]);
      };
      if (m == "shape") {
        std::vector<ValuePtr> items;
        for (int64_t d : s) items.push_back(make_int(d));
        return make_list(std::move(items));
      }
      if (m == "rank") return make_int(static_cast<int64_t>(s.size()));
      if (m == "batch") return dim(0, "");
      if (m == "channels") return dim(1, "");
      if (m == "height") return dim(2, "height and width need an [N,C,H,W] tensor");
      if (m == "width") return dim(3, "height and width need an [N,C,H,W] tensor");
      if (m == "dtype") return make_string(dtype_name(ttype(*a).dtype));
      fail(e.loc, "tensors have no attribute `" + m + "`",
           did_you_mean(m, {"shape", "rank", "batch", "channels", "height", "width", "dtype"}));
    }
    case ValueKind::Record: {
      if (const ValuePtr* v = a->field(m)) return *v;
      std::vector<std::string> names;
      for (const auto& [n, v] : a->fields) names.push_back(n);
      std::string hint = did_you_mean(m, names);
      if (hint.empty() && !names.empty()) {
        hint = "fields are:";
        for (const auto& n : names) hint += " " + n;
      }
      fail(e.loc, (a->record_type ? "record " + a->record_type->name : std::string("this record")) + " has no field `" + m + "`", hint);
    }
    case ValueKind::Module: {
      if (ValuePtr v = lookup_module(*a->module, m)) return v;
      std::vector<std::string> names;
      for (const auto& [n, v] : a->module->bindings) names.push_back(n);
      fail(e.loc, "module `" + a->s + "` has no `" + m + "`", did_you_mean(m, names));
    }
    case ValueKind::EnumType: {
      int idx = a->enum_type->index(m);
      if (idx < 0) fail(e.loc, "enum " + a->enum_type->name + " has no member `" + m + "`", did_you_mean(m, a->enum_type->members));
      auto v = std::make_shared<Value>();
      v->kind = ValueKind::Enum;
      v->enum_type = a->enum_type;
      v->enum_index = idx;
      return v;
    }
    case ValueKind::Network: {
      // Arguments a network value was made with: `model.t`, `base.depths`.
      if (const ValuePtr* v = a->field(m)) return *v;
      fail(e.loc, "network `" + a->decl->name + "` has no parameter `" + m + "`");
    }
    default:
      fail(e.loc, "cannot take `." + m + "` of " + describe(*a, graph));
  }
}

ValuePtr Elaborator::Impl::eval_index(const ast::Expr& e, Frame& f) {
  ValuePtr a = eval(*e.a, f);
  if (is_poison(a)) return a;
  ValuePtr i = eval(*e.b, f);
  if (is_poison(i)) return i;
  if (a->kind != ValueKind::List) {
    std::string hint = a->kind == ValueKind::Tensor ? "use x.shape[i] for a dimension, or slice()/split() for data" : "";
    fail(e.loc, "cannot index " + describe(*a, graph), hint);
  }
  int64_t n = static_cast<int64_t>(a->items.size());
  int64_t k = as_int(i, e.b->loc, "a list index");
  int64_t idx = k < 0 ? k + n : k;
  if (idx < 0 || idx >= n)
    fail(e.b->loc, "index " + std::to_string(k) + " is out of range for a list of " + std::to_string(n));
  return a->items[idx];
}

ValuePtr Elaborator::Impl::eval_with(const ast::Expr& e, Frame& f) {
  ValuePtr base = eval(*e.a, f);
  if (is_poison(base)) return base;
  std::vector<std::pair<std::string, ValuePtr>> over;
  std::vector<SourceLoc> locs;
  std::set<std::string> seen;
  for (const auto& fi : e.fields) {
    if (!seen.insert(fi.name).second) fail(fi.loc, "field `" + fi.name + "` is given twice");
    ValuePtr v = eval(*fi.value, f);
    if (is_poison(v)) return v;
    over.push_back({fi.name, v});
    locs.push_back(fi.loc);
  }
  if (base->kind == ValueKind::Network) return rebind_network(*base, over, locs, e.loc);
  if (base->kind != ValueKind::Record)
    fail(e.loc, "`with` updates a record or a network's arguments, but the left side is " + describe(*base, graph));
  return merge_record(base, over, locs, e.loc);
}

}  // namespace acnn::elab

namespace acnn::elab {

// `net with { t: { resnet_d: true }, size: 256 }`: a network value with some
// arguments replaced (record arguments merge deeply), checked like a call.
ValuePtr Elaborator::Impl::rebind_network(const Value& net, const std::vector<std::pair<std::string, ValuePtr>>& over,
                                          const std::vector<SourceLoc>& locs, SourceLoc loc) {
  std::map<std::string, ValuePtr> args;
  if (net.b) {
    for (const auto& [n, v] : net.fields) args[n] = v;
  }
  CallArgs call;
  call.loc = loc;
  for (size_t i = 0; i < over.size(); ++i) {
    const auto& [name, value] = over[i];
    ValuePtr v = value;
    auto it = args.find(name);
    if (it != args.end() && it->second->kind == ValueKind::Record && value->kind == ValueKind::Record && !value->record_type) {
      std::vector<SourceLoc> inner(value->fields.size(), locs[i]);
      v = merge_record(it->second, value->fields, inner, locs[i]);
    }
    call.kw.push_back({name, v});
    call.kw_locs.push_back(locs[i]);
  }
  // Arguments not overridden keep their values.
  for (const auto& [name, value] : args)
    if (!call.find(name)) {
      call.kw.push_back({name, value});
      call.kw_locs.push_back(loc);
    }
  Frame top;
  top.module = net.module;
  return make_network(net, call, top);
}

}  // namespace acnn::elab
