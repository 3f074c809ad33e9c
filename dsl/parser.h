// Parsing and loading of .acnn files. parse() turns one file's text into an AST,
// reporting syntax errors through Diagnostics (several per run; never throws
// ANTLR exceptions, never crashes on garbage). ModuleLoader resolves `import`
// declarations along a search path that always ends with the stdlib directory,
// loads each file once, and reports import cycles and missing files at the
// import's location. This header does not expose ANTLR: parser.cpp is the only
// file that includes its headers.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dsl/ast.h"
#include "dsl/diagnostics.h"

namespace acnn {

// Parses the text of `file` (already registered in `sources`). Returns a module
// even after syntax errors (with the declarations that parsed) so that callers
// can decide; check diags.has_errors().
std::unique_ptr<ast::Module> parse(const SourceManager& sources, uint32_t file, Diagnostics& diags);

// The stdlib directory: $ACNN_STDLIB if set, else the installed location next
// to the executable (../share/acnn/stdlib), else the source tree's stdlib/.
std::string default_stdlib_dir();

class ModuleLoader {
 public:
  ModuleLoader(SourceManager& sources, Diagnostics& diags, std::vector<std::string> search_path = {});

  // Loads a file and, recursively, everything it imports (including the
  // prelude). Returns null if the file cannot be read (reported).
  const ast::Module* load_file(const std::string& path);
  // Same for text held in memory (tests, `-e`), registered under `display_path`.
  const ast::Module* load_text(const std::string& display_path, std::string text);

  // The module an import declaration in `from` refers to (already loaded by
  // load_file); null if it failed to load.
  const ast::Module* imported(const ast::Module& from, const ast::Decl& import) const;
  // stdlib/prelude.acnn, implicitly imported by every module; null if absent.
  const ast::Module* prelude() const { return prelude_; }
  const std::vector<std::string>& search_path() const { return search_path_; }
  // Whether the prelude's names are in scope in `m` (not in the prelude and the
  // stdlib files it imports, which import what they need explicitly).
  bool sees_prelude(const ast::Module* m) const { return prelude_modules_.count(m) == 0; }

 private:
  void load_prelude();
  const ast::Module* load_resolved(const std::string& canonical, SourceLoc import_loc);
  const ast::Module* finish(std::unique_ptr<ast::Module> module);
  std::string resolve(const std::string& spec, const std::string& from_dir) const;

  SourceManager& sources_;
  Diagnostics& diags_;
  std::vector<std::string> search_path_;
  std::map<std::string, std::unique_ptr<ast::Module>> modules_;  // by canonical path
  std::map<std::pair<const ast::Module*, const ast::Decl*>, const ast::Module*> imports_;
  std::vector<std::string> loading_;  // stack for cycle detection
  const ast::Module* prelude_ = nullptr;
  bool prelude_attempted_ = false, loading_prelude_ = false;
  std::set<const ast::Module*> prelude_modules_;
};

}  // namespace acnn
