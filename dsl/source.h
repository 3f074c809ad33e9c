// Source files and locations. A SourceManager owns the text of every file the
// compiler has read (model files, imports, the stdlib); a SourceLoc names a
// file by its index there plus a 1-based line and column and a length in bytes,
// which is all the diagnostics printer needs to show the line and a caret.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace acnn {

struct SourceLoc {
  uint32_t file = 0;  // index in SourceManager; 0 = no location
  uint32_t line = 0;  // 1-based
  uint32_t col = 0;   // 1-based, in bytes
  uint32_t len = 1;   // bytes to underline

  bool valid() const { return file != 0 && line != 0; }
};

class SourceManager {
 public:
  SourceManager();

  // Registers text under a display path; returns its file id (>= 1).
  uint32_t add(std::string path, std::string text);
  const std::string& path(uint32_t file) const;
  const std::string& text(uint32_t file) const;
  // The text of one line without its newline; empty when out of range.
  std::string_view line(uint32_t file, uint32_t line) const;
  // "path:line:col" for messages.
  std::string describe(const SourceLoc& loc) const;
  size_t size() const { return files_.size(); }

 private:
  struct File {
    std::string path, text;
    std::vector<uint32_t> line_starts;
  };
  std::vector<File> files_;
};

}  // namespace acnn
