#include "dsl/ast.h"

#include <sstream>

namespace acnn::ast {

const char* to_string(UnaryOp op) { return op == UnaryOp::Neg ? "-" : "not"; }

const char* to_string(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "+";
    case BinaryOp::Sub: return "-";
    case BinaryOp::Mul: return "*";
    case BinaryOp::Div: return "/";
    case BinaryOp::Mod: return "%";
    case BinaryOp::Eq: return "==";
    case BinaryOp::Ne: return "!=";
    case BinaryOp::Lt: return "<";
    case BinaryOp::Le: return "<=";
    case BinaryOp::Gt: return ">";
    case BinaryOp::Ge: return ">=";
    case BinaryOp::In: return "in";
    case BinaryOp::And: return "and";
    case BinaryOp::Or: return "or";
  }
  return "?";
}

static std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  return out + "\"";
}

static std::string type_source(const TypeRef* t) {
  if (!t) return "";
  if (t->name == "list") return "[" + type_source(t->elem.get()) + "]";
  return t->name;
}

static std::string format_float(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  std::string s = os.str();
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string to_source(const Expr& e) {
  auto fields = [](const std::vector<FieldInit>& fs) {
    std::string s;
    for (size_t i = 0; i < fs.size(); ++i) s += (i ? ", " : "") + fs[i].name + ": " + to_source(*fs[i].value);
    return s;
  };
  switch (e.kind) {
    case ExprKind::Int: return std::to_string(e.int_value);
    case ExprKind::Float: return format_float(e.float_value);
    case ExprKind::Bool: return e.bool_value ? "true" : "false";
    case ExprKind::String: return quote(e.text);
    case ExprKind::None: return "none";
    case ExprKind::Name: return e.text;
    case ExprKind::List: {
      std::string s = "[";
      for (size_t i = 0; i < e.items.size(); ++i) s += (i ? ", " : "") + to_source(*e.items[i]);
      return s + "]";
    }
    case ExprKind::Record: return "{" + fields(e.fields) + "}";
    case ExprKind::Unary:
      return e.unary_op == UnaryOp::Neg ? "-" + to_source(*e.a) : "not " + to_source(*e.a);
    case ExprKind::Binary:
      return "(" + to_source(*e.a) + " " + to_string(e.binary_op) + " " + to_source(*e.b) + ")";
    case ExprKind::Conditional:
      return "(" + to_source(*e.a) + " if " + to_source(*e.b) + " else " + to_source(*e.c) + ")";
    case ExprKind::Call: {
      std::string s = to_source(*e.a) + "(";
      for (size_t i = 0; i < e.items.size(); ++i) s += (i ? ", " : "") + to_source(*e.items[i]);
      if (!e.fields.empty()) s += (e.items.empty() ? "" : ", ") + fields(e.fields);
      return s + ")";
    }
    case ExprKind::Member: return to_source(*e.a) + "." + e.text;
    case ExprKind::Index: return to_source(*e.a) + "[" + to_source(*e.b) + "]";
    case ExprKind::With: return to_source(*e.a) + " with {" + fields(e.fields) + "}";
  }
  return "?";
}

namespace {

void print_stmts(std::ostream& out, const std::vector<StmtPtr>& stmts, int indent);

void print_stmt(std::ostream& out, const Stmt& s, int indent) {
  std::string pad(indent * 2, ' ');
  switch (s.kind) {
    case StmtKind::Assign:
      out << pad << "(assign " << s.target << " " << to_source(*s.value);
      if (s.as_name) out << " as " << to_source(*s.as_name);
      out << ")  ; line " << s.loc.line << "\n";
      break;
    case StmtKind::If:
      out << pad << "(if " << to_source(*s.cond) << "\n";
      print_stmts(out, s.body, indent + 1);
      if (!s.orelse.empty()) {
        out << pad << " else\n";
        print_stmts(out, s.orelse, indent + 1);
      }
      out << pad << ")\n";
      break;
    case StmtKind::For:
      out << pad << "(for " << s.target << " in " << to_source(*s.value) << "\n";
      print_stmts(out, s.body, indent + 1);
      out << pad << ")\n";
      break;
    case StmtKind::Return: out << pad << "(return " << to_source(*s.value) << ")\n"; break;
    case StmtKind::Assert:
      out << pad << "(assert " << to_source(*s.cond);
      if (s.message) out << " " << to_source(*s.message);
      out << ")\n";
      break;
    case StmtKind::Input: {
      out << pad << "(input " << s.target << " " << s.text << "[";
      for (size_t i = 0; i < s.dims.size(); ++i) out << (i ? ", " : "") << to_source(*s.dims[i]);
      out << "])\n";
      break;
    }
  }
}

void print_stmts(std::ostream& out, const std::vector<StmtPtr>& stmts, int indent) {
  for (const auto& s : stmts) print_stmt(out, *s, indent);
}

}  // namespace

void print(std::ostream& out, const Module& m) {
  out << "(module " << quote(m.path) << "\n";
  for (const auto& d : m.decls) {
    switch (d->kind) {
      case DeclKind::Import:
        out << "  (import " << quote(d->path);
        if (!d->name.empty()) out << " as " << d->name;
        out << ")\n";
        break;
      case DeclKind::Enum: {
        out << "  (enum " << d->name;
        for (const auto& m2 : d->members) out << " " << m2;
        out << ")\n";
        break;
      }
      case DeclKind::Record:
        out << "  (record " << d->name << "\n";
        for (const auto& f : d->fields) {
          out << "    (" << f.name << ": " << type_source(f.type.get());
          if (f.default_value) out << " = " << to_source(*f.default_value);
          out << ")\n";
        }
        out << "  )\n";
        break;
      case DeclKind::Block:
        out << "  (" << (d->is_network ? "network " : "block ") << d->name << " (";
        for (size_t i = 0; i < d->params.size(); ++i) {
          const Param& p = d->params[i];
          out << (i ? ", " : "") << p.name;
          if (p.type) out << ": " << type_source(p.type.get());
          if (p.default_value) out << " = " << to_source(*p.default_value);
        }
        out << ")\n";
        print_stmts(out, d->body, 2);
        out << "  )\n";
        break;
      case DeclKind::Binding:
        out << "  (let " << d->name << " " << to_source(*d->value) << ")\n";
        break;
    }
  }
  out << ")\n";
}

}  // namespace acnn::ast
