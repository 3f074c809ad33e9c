// An environment variable set (or unset) for a scope, then restored to what
// it was: tests that switch a backend setting (ACNN_CUDA_STREAMS,
// ACNN_CACHE_DIR, ...) leave the caller's own setting in place for the
// tests after them.
#pragma once

#include <cstdlib>
#include <string>

namespace acnn::testing {

class ScopedEnv {
 public:
  // value nullptr: unset for the scope.
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) ::setenv(name_, old_.c_str(), 1);
    else ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace acnn::testing
