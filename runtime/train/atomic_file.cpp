#include "runtime/train/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace acnn::train {

namespace {

AtomicFaultHook& fault_hook() {
  static AtomicFaultHook hook;
  return hook;
}

void stage(std::string_view name, const std::string& path) {
  if (auto& h = fault_hook()) h(name, path);
}

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  throw std::runtime_error(path + ": " + what + ": " + std::strerror(err));
}

std::string parent_dir(const std::string& path) {
  std::filesystem::path p(path);
  auto d = p.parent_path();
  return d.empty() ? std::string(".") : d.string();
}

}  // namespace

void set_atomic_fault_hook(AtomicFaultHook hook) { fault_hook() = std::move(hook); }

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
  stage("open", path_);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot create temporary " + tmp_, path_, errno);
}

AtomicFile::~AtomicFile() { abort(); }

void AtomicFile::write(const void* data, size_t n) {
  if (done_ || fd_ < 0) throw std::logic_error(path_ + ": write after commit/abort");
  try {
    stage("write", path_);
  } catch (...) {
    abort();
    throw;
  }
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      abort();
      fail("write failed", path_, err);
    }
    p += w;
    n -= static_cast<size_t>(w);
    written_ += static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  if (done_ || fd_ < 0) throw std::logic_error(path_ + ": commit after commit/abort");
  try {
    stage("fsync", path_);
    if (::fsync(fd_) != 0) fail("fsync failed", path_, errno);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("close failed", path_, errno);
    stage("rename", path_);
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("rename from " + tmp_ + " failed", path_, errno);
  } catch (...) {
    abort();
    throw;
  }
  done_ = true;
  // The data is in place; a failing directory fsync means the rename may not
  // survive a power loss, which is still reported.
  stage("fsync_dir", path_);
  fsync_directory(parent_dir(path_));
}

void fsync_directory(const std::string& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail("cannot open directory to fsync", dir, errno);
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  // Some file systems refuse fsync on directories (EINVAL); that is not an error.
  if (rc != 0 && err != EINVAL) fail("fsync of directory failed", dir, err);
}

void AtomicFile::abort() noexcept {
  if (done_) return;
  done_ = true;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  ::unlink(tmp_.c_str());
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

}  // namespace acnn::train
