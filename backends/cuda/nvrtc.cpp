// NVRTC compilation with an on-disk cubin cache (see nvrtc.h).
#include "backends/cuda/nvrtc.h"

#include "backends/cuda/disk_cache.h"

#include <nvrtc.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace acnn::cuda {

namespace fs = std::filesystem;

namespace {

void check(nvrtcResult r, const char* what) {
  if (r != NVRTC_SUCCESS) throw std::runtime_error(std::string("NVRTC: ") + what + ": " + nvrtcGetErrorString(r));
}

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// The log with the source lines it names ("prog.cu(12): error ...") quoted.
std::string explain(const std::string& log, const std::string& source) {
  std::vector<std::string> lines;
  std::istringstream is(source);
  for (std::string l; std::getline(is, l);) lines.push_back(l);
  std::ostringstream os;
  std::istringstream ls(log);
  for (std::string l; std::getline(ls, l);) {
    os << l << "\n";
    size_t a = l.find("acnn.cu("), b = l.find(')', a);
    if (a == std::string::npos || b == std::string::npos) continue;
    size_t n = std::strtoul(l.c_str() + a + 8, nullptr, 10);
    if (n >= 1 && n <= lines.size()) os << "    | " << lines[n - 1] << "\n";
  }
  return os.str();
}

}  // namespace

std::string nvrtc_version() {
  int major = 0, minor = 0;
  check(nvrtcVersion(&major, &minor), "nvrtcVersion");
  return std::to_string(major) + "." + std::to_string(minor);
}

NvrtcResult nvrtc_compile(const std::string& source, int arch, bool use_cache, bool refresh) {
  NvrtcResult res;
  const std::string arch_opt = "--gpu-architecture=sm_" + std::to_string(arch);
  std::vector<const char*> opts = {arch_opt.c_str(), "--std=c++17", "-default-device", "--fmad=true",
                                   "--extra-device-vectorization"};
  std::string key_text = source + "|" + nvrtc_version();
  for (const char* o : opts) key_text += std::string("|") + o;
  char key[17];
  std::snprintf(key, sizeof key, "%016llx", static_cast<unsigned long long>(fnv1a(key_text)));
  fs::path dir = use_cache ? cache_dir("nvrtc") : fs::path();
  fs::path file = dir.empty() ? fs::path() : dir / (std::string(key) + ".cubin");
  if (!file.empty() && !refresh) {
    std::ifstream in(file, std::ios::binary);
    if (in) {
      res.cubin.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (!res.cubin.empty()) {
        res.from_cache = true;
        return res;
      }
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  nvrtcProgram prog;
  check(nvrtcCreateProgram(&prog, source.c_str(), "acnn.cu", 0, nullptr, nullptr), "nvrtcCreateProgram");
  nvrtcResult r = nvrtcCompileProgram(prog, static_cast<int>(opts.size()), opts.data());
  size_t log_size = 0;
  nvrtcGetProgramLogSize(prog, &log_size);
  if (log_size > 1) {
    res.log.resize(log_size);
    nvrtcGetProgramLog(prog, res.log.data());
    res.log.resize(log_size - 1);
  }
  if (r != NVRTC_SUCCESS) {
    nvrtcDestroyProgram(&prog);
    throw std::runtime_error("NVRTC could not compile the generated kernels (" + std::string(nvrtcGetErrorString(r)) +
                             "):\n" + explain(res.log, source));
  }
  size_t n = 0;
  check(nvrtcGetCUBINSize(prog, &n), "nvrtcGetCUBINSize");
  res.cubin.resize(n);
  check(nvrtcGetCUBIN(prog, res.cubin.data()), "nvrtcGetCUBIN");
  nvrtcDestroyProgram(&prog);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!file.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    fs::path tmp = dir / (std::string(key) + ".tmp" + std::to_string(::getpid()));
    {
      std::ofstream out(tmp, std::ios::binary);
      out.write(res.cubin.data(), static_cast<std::streamsize>(res.cubin.size()));
    }
    fs::rename(tmp, file, ec);
    if (ec) fs::remove(tmp, ec);
  }
  return res;
}

std::vector<NvrtcResult> nvrtc_compile_all(const std::vector<std::string>& sources, int arch, bool use_cache,
                                           int threads) {
  std::vector<NvrtcResult> results(sources.size());
  std::vector<std::exception_ptr> errors(sources.size());
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t workers = std::min<size_t>(sources.size(), threads > 0 ? static_cast<size_t>(threads) : hw);
  std::atomic<size_t> next{0};
  auto work = [&]() {
    for (size_t i; (i = next++) < sources.size();) {
      try {
        results[i] = nvrtc_compile(sources[i], arch, use_cache);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  return results;
}

}  // namespace acnn::cuda
