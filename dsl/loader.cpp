// Import resolution: search path, load-once, cycle detection, the prelude.

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dsl/parser.h"

namespace fs = std::filesystem;

namespace acnn {

std::string default_stdlib_dir() {
  if (const char* env = std::getenv("ACNN_STDLIB"); env && *env) return env;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = 0;
    fs::path installed = fs::path(exe).parent_path().parent_path() / "share" / "acnn" / "stdlib";
    if (fs::exists(installed / "prelude.acnn")) return installed.string();
  }
#ifdef ACNN_SOURCE_STDLIB
  return ACNN_SOURCE_STDLIB;
#else
  return "stdlib";
#endif
}

ModuleLoader::ModuleLoader(SourceManager& sources, Diagnostics& diags, std::vector<std::string> search_path)
    : sources_(sources), diags_(diags), search_path_(std::move(search_path)) {
  if (const char* env = std::getenv("ACNN_PATH"); env && *env) {
    std::stringstream ss(env);
    std::string dir;
    while (std::getline(ss, dir, ':'))
      if (!dir.empty()) search_path_.push_back(dir);
  }
  search_path_.push_back(default_stdlib_dir());
}

std::string ModuleLoader::resolve(const std::string& spec, const std::string& from_dir) const {
  std::vector<std::string> names = {spec};
  if (fs::path(spec).extension() != ".acnn") names.push_back(spec + ".acnn");
  // A file never imports itself: `import "dropblock"` inside dropblock.acnn
  // means the library module of that name.
  auto try_dir = [&](const fs::path& dir) -> std::string {
    for (const auto& n : names) {
      fs::path p = dir / n;
      std::error_code ec;
      if (!fs::is_regular_file(p, ec)) continue;
      std::string canonical = fs::weakly_canonical(p, ec).string();
      if (!loading_.empty() && canonical == loading_.back()) continue;
      return canonical;
    }
    return {};
  };
  if (fs::path(spec).is_absolute()) return try_dir("");
  if (!from_dir.empty())
    if (auto r = try_dir(from_dir); !r.empty()) return r;
  for (const auto& dir : search_path_)
    if (auto r = try_dir(dir); !r.empty()) return r;
  return {};
}

void ModuleLoader::load_prelude() {
  if (prelude_attempted_) return;
  prelude_attempted_ = true;
  std::string p = resolve("prelude.acnn", "");
  if (p.empty()) return;
  loading_prelude_ = true;
  prelude_ = load_resolved(p, SourceLoc{});
  loading_prelude_ = false;
}

const ast::Module* ModuleLoader::load_file(const std::string& path) {
  load_prelude();
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    diags_.error(SourceLoc{}, "cannot open `" + path + "`: no such file");
    return nullptr;
  }
  if (fs::is_directory(path, ec)) {
    diags_.error(SourceLoc{}, "`" + path + "` is a directory, not an .acnn file");
    return nullptr;
  }
  return load_resolved(fs::weakly_canonical(path, ec).string(), SourceLoc{});
}

const ast::Module* ModuleLoader::load_text(const std::string& display_path, std::string text) {
  load_prelude();
  uint32_t file = sources_.add(display_path, std::move(text));
  loading_.push_back(display_path);
  auto module = parse(sources_, file, diags_);
  module->path = display_path;
  return finish(std::move(module));
}

const ast::Module* ModuleLoader::load_resolved(const std::string& canonical, SourceLoc import_loc) {
  if (auto it = modules_.find(canonical); it != modules_.end()) return it->second.get();
  for (size_t i = 0; i < loading_.size(); ++i) {
    if (loading_[i] != canonical) continue;
    std::string cycle;
    for (size_t j = i; j < loading_.size(); ++j) cycle += fs::path(loading_[j]).filename().string() + " -> ";
    cycle += fs::path(canonical).filename().string();
    diags_.error(import_loc, "import cycle: " + cycle, "move what both files need into a third file");
    return nullptr;
  }
  std::ifstream in(canonical, std::ios::binary);
  if (!in) {
    diags_.error(import_loc, "cannot read `" + canonical + "`");
    return nullptr;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  // Show paths relative to the working directory when that is shorter.
  std::string display = canonical;
  std::error_code ec;
  fs::path rel = fs::relative(canonical, fs::current_path(ec), ec);
  if (!ec && !rel.empty() && rel.string().rfind("../../", 0) != 0) display = rel.string();
  uint32_t file = sources_.add(display, ss.str());
  loading_.push_back(canonical);
  auto module = parse(sources_, file, diags_);
  module->path = canonical;
  return finish(std::move(module));
}

const ast::Module* ModuleLoader::finish(std::unique_ptr<ast::Module> module) {
  const ast::Module* m = module.get();
  std::string dir = fs::path(m->path).parent_path().string();
  // Imports are loaded depth-first while this module is on the loading stack.
  for (const auto& decl : m->decls) {
    if (decl->kind != ast::DeclKind::Import) continue;
    std::string resolved = resolve(decl->path, dir);
    if (resolved.empty()) {
      std::string hint = "searched next to this file and in: ";
      for (size_t i = 0; i < search_path_.size(); ++i) hint += (i ? ", " : "") + search_path_[i];
      diags_.error(decl->loc, "cannot find import `" + decl->path + "`", hint);
      continue;
    }
    if (const ast::Module* imported = load_resolved(resolved, decl->loc)) imports_[{m, decl.get()}] = imported;
  }
  std::string key = loading_.back();
  loading_.pop_back();
  if (loading_prelude_) prelude_modules_.insert(m);
  modules_[key] = std::move(module);
  return m;
}

const ast::Module* ModuleLoader::imported(const ast::Module& from, const ast::Decl& import) const {
  auto it = imports_.find({&from, &import});
  return it == imports_.end() ? nullptr : it->second;
}

}  // namespace acnn
