#include "tests/sim/emulator/kernel_image.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace acnn::sim {

namespace {

constexpr char kTag[8] = {'A', 'C', 'N', 'N', 'S', 'I', 'M', '1'};

// What CUDA C needs to compile as host C++: the indices are the library's
// own variables, set before each thread's call.
const char* kHostHeader = R"(
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

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\n"), e = s.find_last_not_of(" \t\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Host wrappers for every `extern "C" __global__` kernel of the source.
std::string wrappers(const std::string& source) {
  static const std::regex kernel(R"(extern "C" __global__ void(?: __launch_bounds__\(\d+\))? (\w+)\(([^)]*)\))");
  std::ostringstream os;
  for (std::sregex_iterator it(source.begin(), source.end(), kernel), end; it != end; ++it) {
    const std::string name = (*it)[1];
    std::vector<std::string> types;
    std::stringstream params((*it)[2].str());
    for (std::string p; std::getline(params, p, ',');) {
      p = trim(p);
      const size_t cut = p.find_last_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
      types.push_back(trim(p.substr(0, cut + 1)));
    }
    os << "extern \"C\" int acnn_nparams_" << name << "() { return " << types.size() << "; }\n";
    os << "extern \"C\" void acnn_sizes_" << name << "(unsigned* s) {";
    for (size_t i = 0; i < types.size(); ++i) os << " s[" << i << "] = sizeof(" << types[i] << ");";
    os << " }\nextern \"C\" void acnn_call_" << name << "(void** a) { " << name << "(";
    for (size_t i = 0; i < types.size(); ++i) os << (i ? ", " : "") << "*(" << types[i] << "*)a[" << i << "]";
    os << "); }\n";
  }
  return os.str();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string make_temp_dir() {
  char tmpl[] = "/tmp/acnn_emu_XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("CUDA emulator: mkdtemp failed");
  return tmpl;
}

}  // namespace

bool compile_kernel_image(const std::string& source, std::vector<char>* image, std::string* log) {
  const std::string dir = make_temp_dir();
  {
    std::ofstream out(dir + "/k.cpp");
    out << kHostHeader << source << "\n" << wrappers(source);
  }
  // A GPU faults on a misaligned vector access where x86 would not: the
  // alignment sanitizer stops the process there instead.
  const std::string cmd =
      "c++ -std=c++17 -O1 -fno-strict-aliasing -fsanitize=alignment -fno-sanitize-recover=alignment -w -shared -fPIC "
      "-o " + dir + "/k.so " + dir + "/k.cpp > " + dir + "/log 2>&1";
  const bool ok = std::system(cmd.c_str()) == 0;
  *log = read_file(dir + "/log");
  if (ok) {
    const std::string so = read_file(dir + "/k.so");
    const uint64_t n = so.size();
    image->assign(kTag, kTag + 8);
    image->insert(image->end(), reinterpret_cast<const char*>(&n), reinterpret_cast<const char*>(&n) + 8);
    image->insert(image->end(), so.begin(), so.end());
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return ok;
}

void* load_kernel_image(const void* code, std::string* dir) {
  const char* p = static_cast<const char*>(code);
  if (!p || std::memcmp(p, kTag, 8) != 0) return nullptr;
  uint64_t n;
  std::memcpy(&n, p + 8, 8);
  *dir = make_temp_dir();
  {
    std::ofstream out(*dir + "/k.so", std::ios::binary);
    out.write(p + 16, static_cast<std::streamsize>(n));
  }
  void* so = ::dlopen((*dir + "/k.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!so) {
    std::error_code ec;
    std::filesystem::remove_all(*dir, ec);
  }
  return so;
}

void unload_kernel_image(void* so, const std::string& dir) {
  ::dlclose(so);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

bool find_kernel(void* so, const char* name, KernelEntry* e) {
  const std::string n = name;
  auto nparams = reinterpret_cast<int (*)()>(::dlsym(so, ("acnn_nparams_" + n).c_str()));
  auto sizes = reinterpret_cast<void (*)(unsigned*)>(::dlsym(so, ("acnn_sizes_" + n).c_str()));
  e->call = reinterpret_cast<void (*)(void**)>(::dlsym(so, ("acnn_call_" + n).c_str()));
  e->set = reinterpret_cast<void (*)(unsigned, unsigned, unsigned, unsigned)>(::dlsym(so, "acnn_sim_set"));
  if (!nparams || !sizes || !e->call || !e->set) return false;
  e->sizes.assign(static_cast<size_t>(nparams()), 0);
  sizes(e->sizes.data());
  return true;
}

void run_kernel(const KernelEntry& k, unsigned grid, unsigned block, void** args) {
  for (unsigned b = 0; b < grid; ++b)
    for (unsigned t = 0; t < block; ++t) {
      k.set(b, grid, t, block);
      k.call(args);
    }
}

}  // namespace acnn::sim
