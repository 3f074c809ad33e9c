// User-facing diagnostics. Every user error goes through a Diagnostics object,
// which prints `file:line:col: error: message`, the offending source line, a
// caret under the location, an optional `hint:` and any `note:` lines (for
// example the chain of block calls that led to a shape error). Errors are
// collected so that one run reports several of them; after `max_errors` the
// compilation stops with a FatalError. Internal invariants use assert(), never
// this class.
#pragma once

#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "dsl/source.h"

namespace acnn {

struct Note {
  SourceLoc loc;
  std::string message;
};

struct Diagnostic {
  enum class Severity { Error, Warning };
  Severity severity = Severity::Error;
  SourceLoc loc;
  std::string message;
  std::string hint;  // "did you mean `channels`?"; empty if none
  std::vector<Note> notes;
};

// Thrown to abandon a compilation: too many errors, or an error after which
// continuing would only produce noise. Carries no text: it has been reported.
struct FatalError : std::runtime_error {
  FatalError() : std::runtime_error("compilation failed") {}
};

class Diagnostics {
 public:
  explicit Diagnostics(const SourceManager& sources, int max_errors = 20)
      : sources_(sources), max_errors_(max_errors) {}

  // Records an error; throws FatalError once max_errors have been recorded.
  void error(SourceLoc loc, std::string message, std::string hint = {},
             std::vector<Note> notes = {});
  void warning(SourceLoc loc, std::string message, std::string hint = {});
  // Records and throws FatalError at once.
  [[noreturn]] void fatal(SourceLoc loc, std::string message, std::string hint = {},
                          std::vector<Note> notes = {});

  int error_count() const { return errors_; }
  bool has_errors() const { return errors_ > 0; }
  const std::vector<Diagnostic>& all() const { return diags_; }

  // Renders every diagnostic in order (the format of the golden tests).
  void print(std::ostream& out) const;
  std::string render(const Diagnostic& d) const;
  // Prints each diagnostic as soon as it is recorded (the CLI sets this).
  void set_stream(std::ostream* out) { stream_ = out; }

 private:
  void record(Diagnostic d);
  const SourceManager& sources_;
  int max_errors_;
  int errors_ = 0;
  std::vector<Diagnostic> diags_;
  std::ostream* stream_ = nullptr;
};

// The closest candidate by edit distance, or "" when none is close enough.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);
// "did you mean `x`?" or "" (convenience for hints).
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace acnn
