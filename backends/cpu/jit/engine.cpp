// The process-wide JIT (see jit.h): one LLJIT for the host, a table of
// compiled kernels by spec text, and the on-disk object cache. Objects are
// produced by our own codegen -> O3 -> TargetMachine pipeline and always
// linked through LLJIT::addObjectFile, so a kernel loaded from disk is the
// same code a fresh compile makes.
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include <unistd.h>

#include "backends/cpu/jit/codegen.h"
#include "backends/cpu/jit/jit.h"

namespace acnn::cpu::jit {

namespace {

namespace fs = std::filesystem;
// Bump when generated code changes, so stale disk caches are not used.
constexpr const char* kCodegenVersion = "ew-3";

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string default_cache_dir() {
  const char* e = std::getenv("ACNN_JIT_CACHE");
  if (e) return std::string(e) == "off" ? "" : std::string(e);
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/acnn/jit";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/acnn/jit";
  return "";
}

std::string error_text(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return s;
}

struct Engine {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::unique_ptr<llvm::TargetMachine> tm;
  llvm::orc::JITDylib* jd = nullptr;  // where kernels are linked (a new one after forget_memory_cache)
  int generation = 0;
  std::string host;  // cpu + features
  int vf = 4;
  std::string dir = default_cache_dir();
  std::unordered_map<std::string, ew::KernelFn> table;
  Stats stats;
  std::string init_error;
};

std::mutex g_mu;

Engine& engine() {
  static Engine* e = [] {
    auto* en = new Engine;
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!jtmb) {
      en->init_error = error_text(jtmb.takeError());
      return en;
    }
    jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
    std::string features = jtmb->getFeatures().getString();
    en->host = jtmb->getCPU() + " " + features;
    if (features.find("+avx512f") != std::string::npos) en->vf = 16;
    else if (features.find("+avx") != std::string::npos) en->vf = 8;
    auto tm = jtmb->createTargetMachine();
    if (!tm) {
      en->init_error = error_text(tm.takeError());
      return en;
    }
    en->tm = std::move(*tm);
    auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*jtmb).create();
    if (!jit) {
      en->init_error = error_text(jit.takeError());
      return en;
    }
    en->jit = std::move(*jit);
    auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(en->jit->getDataLayout().getGlobalPrefix());
    if (!gen) {
      en->init_error = error_text(gen.takeError());
      en->jit.reset();
      return en;
    }
    en->jit->getMainJITDylib().addGenerator(std::move(*gen));
    en->jd = &en->jit->getMainJITDylib();
    return en;
  }();
  return *e;
}

// Generates and optimizes the kernel, returning its object file.
bool emit_object(Engine& en, const ew::Spec& spec, const std::string& name, llvm::SmallVector<char, 0>* obj,
                 std::string* err) {
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = generate(ctx, spec, name, en.vf);
  m->setDataLayout(en.tm->createDataLayout());
  m->setTargetTriple(en.tm->getTargetTriple());
  for (llvm::Function& f : *m) {
    f.addFnAttr("target-cpu", en.tm->getTargetCPU());
    f.addFnAttr("target-features", en.tm->getTargetFeatureString());
  }
  std::string verr;
  llvm::raw_string_ostream vos(verr);
  if (llvm::verifyModule(*m, &vos)) {
    *err = "invalid IR: " + verr;
    return false;
  }
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(en.tm.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(*m, mam);
  }
  llvm::raw_svector_ostream os(*obj);
  llvm::legacy::PassManager pm;
  if (en.tm->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    *err = "the target cannot emit object files";
    return false;
  }
  pm.run(*m);
  return true;
}

bool read_file(const fs::path& p, std::string* out) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

void write_atomic(const fs::path& p, const char* data, size_t n) {
  std::error_code ec;
  fs::path tmp = p;
  tmp += ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) return;
    f.write(data, static_cast<std::streamsize>(n));
    if (!f) return;
  }
  fs::rename(tmp, p, ec);
  if (ec) fs::remove(tmp, ec);
}

ew::KernelFn link(Engine& en, std::unique_ptr<llvm::MemoryBuffer> obj, const std::string& name, std::string* err) {
  if (llvm::Error e = en.jit->addObjectFile(*en.jd, std::move(obj))) {
    *err = error_text(std::move(e));
    return nullptr;
  }
  auto sym = en.jit->lookup(*en.jd, name);
  if (!sym) {
    *err = error_text(sym.takeError());
    return nullptr;
  }
  return sym->toPtr<ew::KernelFn>();
}

}  // namespace

ew::KernelFn compile(const ew::Spec& spec, std::string* error) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto t0 = std::chrono::steady_clock::now();
  Engine& en = engine();
  std::string dummy;
  std::string& err = error ? *error : dummy;
  struct Timer {
    Engine& en;
    std::chrono::steady_clock::time_point t0;
    ~Timer() { en.stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  } timer{en, t0};
  if (!en.jit || !en.tm) {
    err = "no JIT for this host: " + en.init_error;
    ++en.stats.failures;
    return nullptr;
  }
  const std::string text = spec.serialize();
  if (auto it = en.table.find(text); it != en.table.end()) {
    ++en.stats.memory_hits;
    return it->second;
  }
  const std::string key = text + "|" + en.host + "|llvm " + LLVM_VERSION_STRING + "|" + kCodegenVersion +
                          "|vf " + std::to_string(en.vf);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(key)));
  const std::string name = std::string("acnn_ew_") + hex;
  ew::KernelFn fn = nullptr;
  // The disk cache.
  fs::path obj_path, key_path;
  if (!en.dir.empty()) {
    obj_path = fs::path(en.dir) / (std::string(hex) + ".o");
    key_path = fs::path(en.dir) / (std::string(hex) + ".key");
    std::string stored, bytes;
    if (read_file(key_path, &stored) && stored == key && read_file(obj_path, &bytes)) {
      fn = link(en, llvm::MemoryBuffer::getMemBufferCopy(bytes, name), name, &err);
      if (fn) {
        ++en.stats.disk_hits;
        en.table[text] = fn;
        return fn;
      }
    }
  }
  llvm::SmallVector<char, 0> obj;
  if (!emit_object(en, spec, name, &obj, &err)) {
    ++en.stats.failures;
    return nullptr;
  }
  if (!en.dir.empty()) {
    std::error_code ec;
    fs::create_directories(en.dir, ec);
    if (!ec) {
      write_atomic(obj_path, obj.data(), obj.size());
      write_atomic(key_path, key.data(), key.size());
    }
  }
  fn = link(en, llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(obj.data(), obj.size()), name), name, &err);
  if (!fn) {
    ++en.stats.failures;
    return nullptr;
  }
  ++en.stats.compiled;
  en.table[text] = fn;
  return fn;
}

Stats stats() {
  std::lock_guard<std::mutex> lock(g_mu);
  return engine().stats;
}

std::string host_description() {
  std::lock_guard<std::mutex> lock(g_mu);
  Engine& en = engine();
  return en.host + " (vector width " + std::to_string(en.vf) + ")";
}

std::string cache_dir() {
  std::lock_guard<std::mutex> lock(g_mu);
  return engine().dir;
}

void forget_memory_cache() {
  std::lock_guard<std::mutex> lock(g_mu);
  Engine& en = engine();
  en.table.clear();
  if (!en.jit) return;
  // Later kernels link into a fresh dylib, so known symbols can be linked again.
  auto jd = en.jit->createJITDylib("acnn_gen" + std::to_string(++en.generation));
  if (!jd) {
    llvm::consumeError(jd.takeError());
    return;
  }
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(en.jit->getDataLayout().getGlobalPrefix());
  if (!gen) {
    llvm::consumeError(gen.takeError());
    return;
  }
  jd->addGenerator(std::move(*gen));
  en.jd = &*jd;
}

void set_cache_dir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(g_mu);
  engine().dir = dir;
}

}  // namespace acnn::cpu::jit
