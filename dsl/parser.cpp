// The only file that includes ANTLR: lexes and parses one file, reports lexical
// and syntax errors as diagnostics, and converts the parse tree into the AST.

#include "dsl/parser.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>

#include "AcnnLexer.h"
#include "AcnnParser.h"
#include "antlr4-runtime.h"

namespace acnn {
namespace {

using P = acnn_antlr::AcnnParser;
constexpr int kMaxNesting = 200;

const std::vector<std::string>& keywords() {
  static const std::vector<std::string> k = {"import", "as", "block", "network", "enum", "record",
                                             "input", "return", "if", "else", "for", "in", "and",
                                             "or", "not", "true", "false", "none", "with", "assert"};
  return k;
}

SourceLoc loc_of(uint32_t file, antlr4::Token* t) {
  SourceLoc l;
  l.file = file;
  l.line = static_cast<uint32_t>(t->getLine());
  l.col = static_cast<uint32_t>(t->getCharPositionInLine()) + 1;
  size_t start = t->getStartIndex(), stop = t->getStopIndex();
  l.len = stop >= start && stop != static_cast<size_t>(-1) ? static_cast<uint32_t>(stop - start + 1) : 1;
  return l;
}

std::string describe_token(antlr4::Token* t) {
  if (t->getType() == antlr4::Token::EOF) return "end of file";
  std::string text = t->getText();
  if (text.size() > 24) text = text.substr(0, 21) + "...";
  return "`" + text + "`";
}

// Turns ANTLR's syntax errors into diagnostics with a plain-language message.
// After an error, further errors are suppressed until a new top-level
// declaration starts (a declaration keyword or a binding at column 1): the
// rest are almost always the parser's recovery, not the user's mistakes.
class ErrorListener : public antlr4::BaseErrorListener {
 public:
  ErrorListener(uint32_t file, Diagnostics& diags) : file_(file), diags_(diags) {}

  void syntaxError(antlr4::Recognizer* recognizer, antlr4::Token* bad, size_t line, size_t col,
                   const std::string& msg, std::exception_ptr) override {
    SourceLoc loc{file_, static_cast<uint32_t>(line), static_cast<uint32_t>(col) + 1, 1};
    auto* parser = dynamic_cast<antlr4::Parser*>(recognizer);
    if (!bad || !parser) {
      diags_.error(loc, msg);
      return;
    }
    antlr4::TokenStream* tokens = parser->getTokenStream();
    size_t index = bad->getTokenIndex();
    if (last_index_ != SIZE_MAX && !declaration_between(tokens, last_index_, index)) return;
    last_index_ = index;

    loc = loc_of(file_, bad);
    std::string expected = expected_tokens(parser);
    std::string message = "unexpected " + describe_token(bad) + (expected.empty() ? "" : "; expected " + expected);
    std::string hint;
    antlr4::Token* prev = index > 0 ? previous_visible(tokens, index) : nullptr;
    // A token missing at the end of a line is reported where it is missing.
    if (prev && prev->getLine() < bad->getLine() && !expected.empty()) {
      loc = loc_of(file_, prev);
      loc.col += loc.len;
      loc.len = 1;
      message = "expected " + expected + " after " + describe_token(prev) + ", found " + describe_token(bad) +
                " on line " + std::to_string(bad->getLine());
    }
    // `blok name(...)`: a misspelled declaration keyword.
    if (prev && prev->getType() == P::ID && prev->getCharPositionInLine() == 0)
      hint = did_you_mean(prev->getText(), keywords());
    if (hint.empty() && bad->getType() == P::ID) hint = did_you_mean(bad->getText(), keywords());
    if (hint.empty() && bad->getText() == "==") hint = "a statement binds with `=`; `==` compares";
    diags_.error(loc, message, hint);
  }

 private:
  static antlr4::Token* previous_visible(antlr4::TokenStream* tokens, size_t index) {
    for (size_t i = index; i-- > 0;) {
      antlr4::Token* t = tokens->get(i);
      if (t->getChannel() == antlr4::Token::DEFAULT_CHANNEL) return t;
    }
    return nullptr;
  }

  static bool declaration_between(antlr4::TokenStream* tokens, size_t from, size_t to) {
    for (size_t i = from + 1; i <= to && i < tokens->size(); ++i) {
      antlr4::Token* t = tokens->get(i);
      if (t->getChannel() != antlr4::Token::DEFAULT_CHANNEL || t->getCharPositionInLine() != 0) continue;
      std::string text = t->getText();
      if (text == "block" || text == "network" || text == "record" || text == "enum" || text == "import" ||
          t->getType() == P::ID)
        return true;
    }
    return false;
  }

 private:
  static std::string expected_tokens(antlr4::Parser* parser) {
    antlr4::misc::IntervalSet set = parser->getExpectedTokens();
    std::vector<std::string> names;
    const antlr4::dfa::Vocabulary& vocab = parser->getVocabulary();
    for (size_t t : set.toList()) {
      if (t == antlr4::Token::EOF) { names.push_back("end of file"); continue; }
      std::string lit = vocab.getLiteralName(t);
      if (!lit.empty()) names.push_back("`" + lit.substr(1, lit.size() - 2) + "`");
      else if (t == P::ID) names.push_back("a name");
      else if (t == P::INT || t == P::FLOAT || t == P::STRING) {
        if (std::find(names.begin(), names.end(), "a value") == names.end()) names.push_back("a value");
      }
    }
    if (names.empty() || names.size() > 6) return "";
    std::string s;
    for (size_t i = 0; i < names.size(); ++i) s += (i ? (i + 1 == names.size() ? " or " : ", ") : "") + names[i];
    return s;
  }
  uint32_t file_;
  Diagnostics& diags_;
  size_t last_index_ = SIZE_MAX;
};

// Converts parse-tree contexts into AST nodes.
class Builder {
 public:
  Builder(uint32_t file, Diagnostics& diags, antlr4::CommonTokenStream& tokens)
      : file_(file), diags_(diags), tokens_(tokens) {}

  std::unique_ptr<ast::Module> module(P::Module_Context* ctx) {
    auto m = std::make_unique<ast::Module>();
    m->file = file_;
    for (auto* d : ctx->decl())
      if (auto decl = declaration(d)) m->decls.push_back(std::move(decl));
    return m;
  }

 private:
  SourceLoc loc(antlr4::Token* t) { return loc_of(file_, t); }
  SourceLoc loc(antlr4::tree::TerminalNode* n) { return loc_of(file_, n->getSymbol()); }
  SourceLoc loc(antlr4::ParserRuleContext* c) {
    SourceLoc l = loc_of(file_, c->getStart());
    antlr4::Token* stop = c->getStop();
    if (stop && stop->getLine() == c->getStart()->getLine() && stop->getStopIndex() >= c->getStart()->getStartIndex())
      l.len = static_cast<uint32_t>(stop->getStopIndex() - c->getStart()->getStartIndex() + 1);
    return l;
  }

  std::string doc_before(antlr4::ParserRuleContext* c) {
    std::string doc;
    auto hidden = tokens_.getHiddenTokensToLeft(c->getStart()->getTokenIndex(), 2);
    for (antlr4::Token* t : hidden) {
      std::string text = t->getText().substr(3);
      if (!text.empty() && text[0] == ' ') text.erase(0, 1);
      doc += (doc.empty() ? "" : "\n") + text;
    }
    return doc;
  }

  std::string unescape(antlr4::Token* t) {
    std::string raw = t->getText();
    std::string out;
    for (size_t i = 1; i + 1 < raw.size(); ++i) {
      char c = raw[i];
      if (c != '\\') { out += c; continue; }
      char e = raw[++i];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        default: {
          SourceLoc l = loc(t);
          l.col += static_cast<uint32_t>(i - 1);
          l.len = 2;
          diags_.error(l, std::string("unknown escape sequence `\\") + e + "` in string",
                       "the escapes are \\\" \\\\ \\n \\t");
          out += e;
        }
      }
    }
    return out;
  }

  std::unique_ptr<ast::TypeRef> type(P::TypeContext* ctx) {
    auto t = std::make_unique<ast::TypeRef>();
    t->loc = loc(ctx);
    if (auto* l = dynamic_cast<P::ListTypeContext*>(ctx)) {
      t->name = "list";
      t->elem = type(l->type());
    } else if (auto* n = dynamic_cast<P::NamedTypeContext*>(ctx)) {
      t->name = n->ID()->getText();
    }
    return t;
  }

  std::unique_ptr<ast::Decl> declaration(P::DeclContext* ctx) {
    using ast::Decl;
    using ast::DeclKind;
    if (auto* c = dynamic_cast<P::ImportDeclContext*>(ctx)) {
      auto d = std::make_unique<Decl>(DeclKind::Import, loc(c));
      d->path = unescape(c->STRING()->getSymbol());
      if (c->ID()) d->name = c->ID()->getText();
      return d;
    }
    if (auto* c = dynamic_cast<P::EnumDeclContext*>(ctx)) {
      auto d = std::make_unique<Decl>(DeclKind::Enum, loc(c->ID()));
      d->name = c->ID()->getText();
      d->doc = doc_before(c);
      for (auto* m : c->memberName()) {
        d->members.push_back(m->getText());
        d->member_locs.push_back(loc(m));
      }
      return d;
    }
    if (auto* c = dynamic_cast<P::RecordDeclContext*>(ctx)) {
      auto d = std::make_unique<Decl>(DeclKind::Record, loc(c->ID()));
      d->name = c->ID()->getText();
      d->doc = doc_before(c);
      for (auto* f : c->recordField()) {
        ast::RecordField rf;
        rf.loc = loc(f->ID());
        rf.name = f->ID()->getText();
        rf.type = type(f->type());
        if (f->expr()) rf.default_value = expr(f->expr());
        rf.doc = doc_before(f);
        d->fields.push_back(std::move(rf));
      }
      return d;
    }
    if (auto* c = dynamic_cast<P::BlockDeclContext*>(ctx)) {
      auto d = std::make_unique<Decl>(DeclKind::Block, loc(c->ID()));
      d->name = c->ID()->getText();
      d->is_network = c->kind->getText() == "network";
      d->doc = doc_before(c);
      if (c->paramList())
        for (auto* p : c->paramList()->param()) {
          ast::Param param;
          param.loc = loc(p->ID());
          param.name = p->ID()->getText();
          if (p->type()) param.type = type(p->type());
          if (p->expr()) param.default_value = expr(p->expr());
          d->params.push_back(std::move(param));
        }
      d->body = body(c->body());
      return d;
    }
    if (auto* c = dynamic_cast<P::BindingDeclContext*>(ctx)) {
      auto d = std::make_unique<Decl>(DeclKind::Binding, loc(c->ID()));
      d->name = c->ID()->getText();
      d->doc = doc_before(c);
      d->value = expr(c->expr());
      return d;
    }
    return nullptr;  // a decl that failed to parse
  }

  std::vector<ast::StmtPtr> body(P::BodyContext* ctx) {
    std::vector<ast::StmtPtr> out;
    if (!ctx) return out;
    for (auto* s : ctx->stmt())
      if (auto st = statement(s)) out.push_back(std::move(st));
    return out;
  }

  ast::StmtPtr if_statement(P::IfStmtContext* c) {
    auto s = std::make_unique<ast::Stmt>(ast::StmtKind::If, loc(c->getStart()));
    s->cond = expr(c->expr());
    auto bodies = c->body();
    s->body = body(bodies.empty() ? nullptr : bodies[0]);
    if (c->ifStmt()) {
      if (auto nested = if_statement(c->ifStmt())) s->orelse.push_back(std::move(nested));
    } else if (bodies.size() > 1) {
      s->orelse = body(bodies[1]);
    }
    return s;
  }

  ast::StmtPtr statement(P::StmtContext* ctx) {
    using ast::Stmt;
    using ast::StmtKind;
    if (auto* c = dynamic_cast<P::AssignStmtContext*>(ctx)) {
      auto s = std::make_unique<Stmt>(StmtKind::Assign, loc(c->ID()));
      s->target = c->ID()->getText();
      auto es = c->expr();
      if (es.empty()) return nullptr;
      s->value = expr(es[0]);
      if (es.size() > 1) s->as_name = expr(es[1]);
      return s;
    }
    if (auto* c = dynamic_cast<P::IfStmtAltContext*>(ctx)) return if_statement(c->ifStmt());
    if (auto* c = dynamic_cast<P::ForStmtContext*>(ctx)) {
      auto s = std::make_unique<Stmt>(StmtKind::For, loc(c->getStart()));
      s->target = c->ID()->getText();
      s->value = expr(c->expr());
      s->body = body(c->body());
      return s;
    }
    if (auto* c = dynamic_cast<P::ReturnStmtContext*>(ctx)) {
      auto s = std::make_unique<Stmt>(StmtKind::Return, loc(c->getStart()));
      s->value = expr(c->expr());
      return s;
    }
    if (auto* c = dynamic_cast<P::AssertStmtContext*>(ctx)) {
      auto s = std::make_unique<Stmt>(StmtKind::Assert, loc(c->getStart()));
      auto es = c->expr();
      if (es.empty()) return nullptr;
      s->cond = expr(es[0]);
      if (es.size() > 1) s->message = expr(es[1]);
      return s;
    }
    if (auto* c = dynamic_cast<P::InputStmtContext*>(ctx)) {
      auto ids = c->ID();
      if (ids.size() < 2) return nullptr;
      auto s = std::make_unique<Stmt>(StmtKind::Input, loc(ids[0]));
      s->target = ids[0]->getText();
      s->text = ids[1]->getText();
      for (auto* e : c->expr()) s->dims.push_back(expr(e));
      return s;
    }
    return nullptr;
  }

  ast::ExprPtr binary(antlr4::ParserRuleContext* c, ast::BinaryOp op, std::vector<P::ExprContext*> es,
                      antlr4::Token* op_token) {
    auto e = std::make_unique<ast::Expr>(ast::ExprKind::Binary, op_token ? loc(op_token) : loc(c));
    e->binary_op = op;
    if (es.size() == 2) {
      e->a = expr(es[0]);
      e->b = expr(es[1]);
    }
    return e;
  }

  ast::ExprPtr expr(P::ExprContext* ctx) {
    using ast::Expr;
    using ast::ExprKind;
    using ast::BinaryOp;
    if (!ctx) return std::make_unique<Expr>(ExprKind::None, SourceLoc{});
    if (auto* c = dynamic_cast<P::IntExprContext*>(ctx)) {
      auto e = std::make_unique<Expr>(ExprKind::Int, loc(c));
      std::string digits;
      for (char ch : c->getText()) if (ch != '_') digits += ch;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), e->int_value);
      if (ec != std::errc())
        diags_.error(e->loc, "integer literal `" + c->getText() + "` does not fit in 64 bits",
                     "the largest int is 9223372036854775807; use a float (`1e30`) for big magnitudes");
      return e;
    }
    if (auto* c = dynamic_cast<P::FloatExprContext*>(ctx)) {
      auto e = std::make_unique<Expr>(ExprKind::Float, loc(c));
      std::string digits;
      for (char ch : c->getText()) if (ch != '_') digits += ch;
      errno = 0;
      e->float_value = std::strtod(digits.c_str(), nullptr);
      if (errno == ERANGE && std::abs(e->float_value) > 1.0)
        diags_.error(e->loc, "float literal `" + c->getText() + "` is out of range");
      return e;
    }
    if (auto* c = dynamic_cast<P::StringExprContext*>(ctx)) {
      auto e = std::make_unique<Expr>(ExprKind::String, loc(c));
      e->text = unescape(c->STRING()->getSymbol());
      return e;
    }
    if (auto* c = dynamic_cast<P::BoolExprContext*>(ctx)) {
      auto e = std::make_unique<Expr>(ExprKind::Bool, loc(c));
      e->bool_value = c->getText() == "true";
      return e;
    }
    if (auto* c = dynamic_cast<P::NoneExprContext*>(ctx)) return std::make_unique<Expr>(ExprKind::None, loc(c));
    if (auto* c = dynamic_cast<P::NameExprContext*>(ctx)) {
      auto e = std::make_unique<Expr>(ExprKind::Name, loc(c));
      e->text = c->ID()->getText();
      return e;
    }
    if (auto* c = dynamic_cast<P::ListExprContext*>(ctx)) {
      auto e = std::make_unique<Expr>(ExprKind::List, loc(c->getStart()));
      for (auto* item : c->expr()) e->items.push_back(expr(item));
      return e;
    }
    if (auto* c = dynamic_cast<P::RecordExprContext*>(ctx)) {
      auto e = std::make_unique<Expr>(ExprKind::Record, loc(c->getStart()));
      fields(c->fieldList(), e->fields);
      return e;
    }
    if (auto* c = dynamic_cast<P::ParenExprContext*>(ctx)) return expr(c->expr());
    if (auto* c = dynamic_cast<P::CallExprContext*>(ctx)) {
      auto e = std::make_unique<Expr>(ExprKind::Call, loc(c));
      e->a = expr(c->expr());
      e->loc = e->a->loc;  // point at the callee
      if (c->argList())
        for (auto* a : c->argList()->arg()) {
          if (a->ID()) {
            e->fields.push_back(ast::FieldInit{loc(a->ID()), a->ID()->getText(), expr(a->expr())});
          } else {
            if (!e->fields.empty())
              diags_.error(loc(a), "positional argument after a keyword argument",
                           "put positional arguments first, or name this one");
            e->items.push_back(expr(a->expr()));
          }
        }
      return e;
    }
    if (auto* c = dynamic_cast<P::MemberExprContext*>(ctx)) {
      auto e = std::make_unique<Expr>(ExprKind::Member, loc(c->memberName()));
      e->a = expr(c->expr());
      e->text = c->memberName()->getText();
      return e;
    }
    if (auto* c = dynamic_cast<P::IndexExprContext*>(ctx)) {
      auto es = c->expr();
      auto e = std::make_unique<Expr>(ExprKind::Index, loc(c));
      if (es.size() == 2) {
        e->a = expr(es[0]);
        e->b = expr(es[1]);
      }
      return e;
    }
    if (auto* c = dynamic_cast<P::WithExprContext*>(ctx)) {
      auto e = std::make_unique<Expr>(ExprKind::With, loc(c->getStart()));
      e->a = expr(c->expr());
      fields(c->fieldList(), e->fields);
      return e;
    }
    if (auto* c = dynamic_cast<P::NegExprContext*>(ctx)) {
      // Fold `-<literal>` so that the most negative int is representable.
      if (auto* lit = dynamic_cast<P::IntExprContext*>(c->expr())) {
        std::string digits = "-";
        for (char ch : lit->getText()) if (ch != '_') digits += ch;
        auto e = std::make_unique<Expr>(ExprKind::Int, loc(c));
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), e->int_value);
        if (ec != std::errc())
          diags_.error(e->loc, "integer literal `" + c->getText() + "` does not fit in 64 bits");
        return e;
      }
      auto e = std::make_unique<Expr>(ExprKind::Unary, loc(c->getStart()));
      e->unary_op = ast::UnaryOp::Neg;
      e->a = expr(c->expr());
      return e;
    }
    if (auto* c = dynamic_cast<P::NotExprContext*>(ctx)) {
      auto e = std::make_unique<Expr>(ExprKind::Unary, loc(c->getStart()));
      e->unary_op = ast::UnaryOp::Not;
      e->a = expr(c->expr());
      return e;
    }
    if (auto* c = dynamic_cast<P::MulExprContext*>(ctx)) {
      std::string op = c->op->getText();
      return binary(c, op == "*" ? BinaryOp::Mul : op == "/" ? BinaryOp::Div : BinaryOp::Mod, c->expr(), c->op);
    }
    if (auto* c = dynamic_cast<P::AddExprContext*>(ctx))
      return binary(c, c->op->getText() == "+" ? BinaryOp::Add : BinaryOp::Sub, c->expr(), c->op);
    if (auto* c = dynamic_cast<P::CompareExprContext*>(ctx)) {
      std::string op = c->op->getText();
      BinaryOp b = op == "==" ? BinaryOp::Eq : op == "!=" ? BinaryOp::Ne : op == "<" ? BinaryOp::Lt
                 : op == "<=" ? BinaryOp::Le : op == ">" ? BinaryOp::Gt : op == "in" ? BinaryOp::In : BinaryOp::Ge;
      return binary(c, b, c->expr(), c->op);
    }
    if (auto* c = dynamic_cast<P::AndExprContext*>(ctx)) return binary(c, BinaryOp::And, c->expr(), nullptr);
    if (auto* c = dynamic_cast<P::OrExprContext*>(ctx)) return binary(c, BinaryOp::Or, c->expr(), nullptr);
    if (auto* c = dynamic_cast<P::CondExprContext*>(ctx)) {
      auto es = c->expr();
      auto e = std::make_unique<Expr>(ExprKind::Conditional, loc(c));
      if (es.size() == 3) {
        e->a = expr(es[0]);
        e->b = expr(es[1]);
        e->c = expr(es[2]);
      }
      return e;
    }
    return std::make_unique<Expr>(ExprKind::None, loc(ctx));
  }

  void fields(P::FieldListContext* ctx, std::vector<ast::FieldInit>& out) {
    if (!ctx) return;
    for (auto* f : ctx->field())
      out.push_back(ast::FieldInit{loc(f->ID()), f->ID()->getText(), expr(f->expr())});
  }

  uint32_t file_;
  Diagnostics& diags_;
  antlr4::CommonTokenStream& tokens_;
};

// Checks the token stream before parsing: bad characters, unterminated strings
// and comments, and nesting deeper than the parser's recursion can take.
// Returns false when parsing should not be attempted.
bool prescan(uint32_t file, antlr4::CommonTokenStream& tokens, Diagnostics& diags) {
  using L = acnn_antlr::AcnnLexer;
  bool ok = true;
  int depth = 0;
  size_t last_bad_line = 0, last_bad_col = static_cast<size_t>(-2);
  for (antlr4::Token* t : tokens.getTokens()) {
    switch (t->getType()) {
      case L::UNTERMINATED_STRING:
        diags.error(loc_of(file, t), "unterminated string literal", "close the string with `\"` on the same line");
        ok = false;
        break;
      case L::UNTERMINATED_COMMENT: {
        SourceLoc l = loc_of(file, t);
        l.len = 2;
        diags.error(l, "unterminated comment", "close it with `*/`");
        ok = false;
        break;
      }
      case L::BAD_CHAR: {
        // One report per run of adjacent bad characters.
        bool adjacent = t->getLine() == last_bad_line && t->getCharPositionInLine() == last_bad_col + 1;
        last_bad_line = t->getLine(), last_bad_col = t->getCharPositionInLine();
        if (!adjacent) {
          unsigned char c = static_cast<unsigned char>(t->getText().empty() ? 0 : t->getText()[0]);
          std::string shown = (c >= 32 && c < 127) ? "`" + t->getText() + "`" : "byte " + std::to_string(c);
          diags.error(loc_of(file, t), "unexpected character " + shown,
                      c == '\'' ? "strings use double quotes" : c == '#' ? "comments start with `//`" : "");
        }
        ok = false;
        break;
      }
      default: {
        std::string text = t->getText();
        if (text == "(" || text == "[" || text == "{") {
          if (++depth > kMaxNesting) {
            diags.error(loc_of(file, t), "nesting deeper than " + std::to_string(kMaxNesting) + " levels",
                        "split the expression into named bindings");
            return false;
          }
        } else if (text == ")" || text == "]" || text == "}") {
          if (depth > 0) --depth;
        }
      }
    }
  }
  return ok;
}

// The offset of the first byte that is not part of valid UTF-8, or npos.
size_t invalid_utf8_at(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return i;
    if (len == 2 && c < 0xC2) return i;  // overlong
    i += len;
  }
  return std::string::npos;
}

}  // namespace

std::unique_ptr<ast::Module> parse(const SourceManager& sources, uint32_t file, Diagnostics& diags) {
  const std::string& text = sources.text(file);
  if (text.find('\0') != std::string::npos) {
    diags.error(SourceLoc{file, 1, 1, 1}, "`" + sources.path(file) + "` is not a text file (it contains NUL bytes)");
    auto m = std::make_unique<ast::Module>();
    m->file = file;
    return m;
  }
  if (size_t bad = invalid_utf8_at(text); bad != std::string::npos) {
    uint32_t line = 1, col = 1;
    for (size_t i = 0; i < bad; ++i) {
      if (text[i] == '\n') ++line, col = 1;
      else ++col;
    }
    diags.error(SourceLoc{file, line, col, 1}, "`" + sources.path(file) + "` is not UTF-8 text (bad byte " +
                                                 std::to_string(static_cast<unsigned char>(text[bad])) + ")",
                "save the file as UTF-8");
    auto m = std::make_unique<ast::Module>();
    m->file = file;
    return m;
  }
  antlr4::ANTLRInputStream input(text);
  acnn_antlr::AcnnLexer lexer(&input);
  lexer.removeErrorListeners();
  antlr4::CommonTokenStream tokens(&lexer);
  tokens.fill();
  if (!prescan(file, tokens, diags)) {
    auto m = std::make_unique<ast::Module>();
    m->file = file;
    return m;
  }
  acnn_antlr::AcnnParser parser(&tokens);
  parser.removeErrorListeners();
  ErrorListener listener(file, diags);
  parser.addErrorListener(&listener);
  int errors_before = diags.error_count();
  P::Module_Context* tree = parser.module_();
  // After a syntax error the tree has holes; the errors are what the user needs.
  if (diags.error_count() > errors_before) {
    auto m = std::make_unique<ast::Module>();
    m->file = file;
    m->path = sources.path(file);
    return m;
  }
  Builder builder(file, diags, tokens);
  auto m = builder.module(tree);
  m->path = sources.path(file);
  return m;
}

}  // namespace acnn
