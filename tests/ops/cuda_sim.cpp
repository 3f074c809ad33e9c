#include "tests/ops/cuda_sim.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace acnn::testing {

namespace {

constexpr unsigned kBlockThreads = 256;  // what the runner launches
constexpr unsigned kGridStrideBlocks = 3;

// What CUDA C needs to compile as C++ with one simulated thread.
const char* kHeader = R"(
#include <cmath>
#include <cstdint>
#include <cstring>
struct acnn_dim3 { unsigned int x, y, z; };
static acnn_dim3 blockIdx, threadIdx, blockDim, gridDim;
extern "C" void acnn_sim_set(unsigned bx, unsigned gx, unsigned tx, unsigned bdx) {
  blockIdx = {bx, 0, 0}; gridDim = {gx, 1, 1}; threadIdx = {tx, 0, 0}; blockDim = {bdx, 1, 1};
}
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline float acnn_host_b2f(unsigned short b) { return __uint_as_float(((unsigned)b) << 16); }
static inline unsigned short acnn_host_f2b(float f) {
  unsigned u; std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}
static inline float acnn_host_h2f(unsigned short h) { _Float16 x; std::memcpy(&x, &h, 2); return (float)x; }
static inline unsigned short acnn_host_f2h(float f) { _Float16 x = (_Float16)f; unsigned short h; std::memcpy(&h, &x, 2); return h; }
)";

}  // namespace

bool HostSim::available(std::string* why) {
  if (std::system("c++ --version > /dev/null 2>&1") != 0) {
    if (why) *why = "no host C++ compiler (`c++`) to run generated kernels on";
    return false;
  }
  return true;
}

HostSim::HostSim(const std::string& source) {
  char tmpl[] = "/tmp/acnn_sim_XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  {
    std::ofstream out(dir_ + "/k.cpp");
    out << kHeader << source;
  }
  std::string cmd = "c++ -std=c++17 -O1 -fno-strict-aliasing -w -shared -fPIC -o " + dir_ + "/k.so " + dir_ + "/k.cpp 2> " + dir_ + "/log";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream log(dir_ + "/log");
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    throw std::runtime_error("the host compiler rejected the generated kernels:\n" + text.substr(0, 4000));
  }
  lib_ = ::dlopen((dir_ + "/k.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib_) throw std::runtime_error(std::string("dlopen: ") + ::dlerror());
}

HostSim::~HostSim() {
  if (lib_) ::dlclose(lib_);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void HostSim::launch(const std::string& name, const std::vector<void*>& a, unsigned blocks) {
  void* f = ::dlsym(lib_, name.c_str());
  auto set = reinterpret_cast<void (*)(unsigned, unsigned, unsigned, unsigned)>(::dlsym(lib_, "acnn_sim_set"));
  if (!f || !set) throw std::runtime_error("no kernel " + name);
  // Every parameter is a pointer: call through a pointer-only signature.
  using P = void*;
  auto call = [&]() {
    switch (a.size()) {
#define ACNN_SIM_CASE(N, ...)                                            \
  case N:                                                                \
    reinterpret_cast<void (*)(__VA_ARGS__)>(f)
      ACNN_SIM_CASE(2, P, P)(a[0], a[1]); break;
      ACNN_SIM_CASE(3, P, P, P)(a[0], a[1], a[2]); break;
      ACNN_SIM_CASE(4, P, P, P, P)(a[0], a[1], a[2], a[3]); break;
      ACNN_SIM_CASE(5, P, P, P, P, P)(a[0], a[1], a[2], a[3], a[4]); break;
      ACNN_SIM_CASE(6, P, P, P, P, P, P)(a[0], a[1], a[2], a[3], a[4], a[5]); break;
      ACNN_SIM_CASE(7, P, P, P, P, P, P, P)(a[0], a[1], a[2], a[3], a[4], a[5], a[6]); break;
      ACNN_SIM_CASE(8, P, P, P, P, P, P, P, P)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]); break;
      ACNN_SIM_CASE(9, P, P, P, P, P, P, P, P, P)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]); break;
      ACNN_SIM_CASE(10, P, P, P, P, P, P, P, P, P, P)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]); break;
      ACNN_SIM_CASE(11, P, P, P, P, P, P, P, P, P, P, P)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]); break;
      ACNN_SIM_CASE(12, P, P, P, P, P, P, P, P, P, P, P, P)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11]); break;
      ACNN_SIM_CASE(13, P, P, P, P, P, P, P, P, P, P, P, P, P)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12]); break;
      ACNN_SIM_CASE(14, P, P, P, P, P, P, P, P, P, P, P, P, P, P)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13]); break;
      ACNN_SIM_CASE(15, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14]); break;
      ACNN_SIM_CASE(16, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]); break;
#undef ACNN_SIM_CASE
      default: throw std::runtime_error("HostSim: too many kernel parameters");
    }
  };
  // Generated kernels never synchronize, so a block's threads can run one
  // after another. A grid-stride kernel gets a grid that does not divide its
  // elements, so that every thread's start, stride and tail are exercised.
  const unsigned grid = blocks == 0 ? kGridStrideBlocks : blocks;
  for (unsigned b = 0; b < grid; ++b)
    for (unsigned t = 0; t < kBlockThreads; ++t) {
      set(b, grid, t, kBlockThreads);
      call();
    }
}

}  // namespace acnn::testing
