// Crash-safe file replacement. AtomicFile writes to `<path>.tmp.<pid>` in the
// target's directory; commit() fsyncs the data, renames the temporary over the
// target and fsyncs the directory, so a reader (or a machine that loses power)
// sees either the complete old file or the complete new one, never a torn mix.
// Destroying an AtomicFile that was not committed removes the temporary and
// leaves the target untouched. Every failure throws std::runtime_error naming
// the file and the errno text. A process-wide fault hook lets tests make any
// stage fail (write, fsync, rename) to check that the old file survives. The
// temporary's name is per process: two threads must not write the same target
// at the same time.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace acnn::train {

class AtomicFile {
 public:
  // Creates (truncates) the temporary next to `path`; throws if it cannot.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends bytes to the temporary (loops over short writes and EINTR).
  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // fsync + close + rename over the target + fsync of the directory.
  void commit();
  // Closes and removes the temporary; the target is untouched. Idempotent.
  void abort() noexcept;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }
  size_t bytes_written() const { return written_; }

 private:
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  size_t written_ = 0;
  bool done_ = false;
};

// Replaces `path` with `bytes` atomically.
void write_file_atomic(const std::string& path, std::string_view bytes);

// fsyncs a directory so that renames, links and removals in it are durable.
// Throws on failure (file systems that refuse directory fsync are accepted).
void fsync_directory(const std::string& dir);

// Test hook: called at each stage ("open", "write", "fsync", "rename",
// "fsync_dir") with the target path; a hook that throws makes that stage fail
// as an I/O error would. Pass nullptr to remove it. Not thread-safe to change
// while writes are in flight.
using AtomicFaultHook = std::function<void(std::string_view stage, const std::string& path)>;
void set_atomic_fault_hook(AtomicFaultHook hook);

}  // namespace acnn::train
