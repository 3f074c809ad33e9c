#include "dsl/diagnostics.h"

#include <algorithm>
#include <sstream>

namespace acnn {

void Diagnostics::record(Diagnostic d) {
  if (stream_) *stream_ << render(d) << std::flush;
  diags_.push_back(std::move(d));
}

void Diagnostics::error(SourceLoc loc, std::string message, std::string hint, std::vector<Note> notes) {
  record(Diagnostic{Diagnostic::Severity::Error, loc, std::move(message), std::move(hint), std::move(notes)});
  if (++errors_ >= max_errors_) {
    if (stream_) *stream_ << "acnn: too many errors (" << errors_ << "), stopping\n";
    throw FatalError();
  }
}

void Diagnostics::warning(SourceLoc loc, std::string message, std::string hint) {
  record(Diagnostic{Diagnostic::Severity::Warning, loc, std::move(message), std::move(hint), {}});
}

void Diagnostics::fatal(SourceLoc loc, std::string message, std::string hint, std::vector<Note> notes) {
  record(Diagnostic{Diagnostic::Severity::Error, loc, std::move(message), std::move(hint), std::move(notes)});
  ++errors_;
  throw FatalError();
}

// Prints the source line with tabs kept (so the caret lines up) and a caret
// plus tildes under the located span.
static void render_excerpt(std::ostream& out, const SourceManager& sources, const SourceLoc& loc) {
  std::string_view line = sources.line(loc.file, loc.line);
  if (line.empty() && loc.col <= 1) return;
  out << "  " << line << "\n  ";
  uint32_t col = std::max<uint32_t>(loc.col, 1);
  for (uint32_t i = 1; i < col; ++i) out << (i - 1 < line.size() && line[i - 1] == '\t' ? '\t' : ' ');
  out << '^';
  uint32_t len = std::max<uint32_t>(loc.len, 1);
  uint32_t room = line.size() >= col ? static_cast<uint32_t>(line.size()) - col + 1 : 1;
  for (uint32_t i = 1; i < std::min(len, room); ++i) out << '~';
  out << "\n";
}

std::string Diagnostics::render(const Diagnostic& d) const {
  std::ostringstream out;
  const char* sev = d.severity == Diagnostic::Severity::Error ? "error" : "warning";
  if (d.loc.valid())
    out << sources_.describe(d.loc) << ": " << sev << ": " << d.message << "\n";
  else
    out << "acnn: " << sev << ": " << d.message << "\n";
  if (d.loc.valid()) render_excerpt(out, sources_, d.loc);
  if (!d.hint.empty()) out << "  hint: " << d.hint << "\n";
  for (const Note& n : d.notes) {
    if (n.loc.valid())
      out << sources_.describe(n.loc) << ": note: " << n.message << "\n";
    else
      out << "note: " << n.message << "\n";
  }
  return out.str();
}

void Diagnostics::print(std::ostream& out) const {
  for (const Diagnostic& d : diags_) out << render(d);
}

static size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  size_t limit = std::max<size_t>(1, word.size() / 3);
  for (const auto& c : candidates) {
    if (c == word) continue;
    size_t d = edit_distance(word, c);
    if (d < best_d || (d == best_d && c < best)) best_d = d, best = c;
  }
  return best_d <= limit ? best : std::string();
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string m = closest_match(word, candidates);
  return m.empty() ? std::string() : "did you mean `" + m + "`?";
}

}  // namespace acnn
