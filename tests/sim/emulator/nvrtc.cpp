// NVRTC in the CUDA emulator: programs compile with the host C++ compiler
// (kernel_image.h); the "cubin" is the emulator's kernel image.
#include <nvrtc.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/sim/emulator/kernel_image.h"

struct _nvrtcProgram {
  std::string source;
  std::vector<char> image;
  std::string log;
};

extern "C" {

const char* nvrtcGetErrorString(nvrtcResult r) {
  switch (r) {
    case NVRTC_SUCCESS: return "NVRTC_SUCCESS";
    case NVRTC_ERROR_COMPILATION: return "NVRTC_ERROR_COMPILATION";
    case NVRTC_ERROR_INVALID_INPUT: return "NVRTC_ERROR_INVALID_INPUT";
    case NVRTC_ERROR_INVALID_PROGRAM: return "NVRTC_ERROR_INVALID_PROGRAM";
    default: return "NVRTC_ERROR";
  }
}
nvrtcResult nvrtcVersion(int* major, int* minor) {
  *major = 0;  // not a real NVRTC: cached cubins of a real one never mix with these
  *minor = 1;
  return NVRTC_SUCCESS;
}
nvrtcResult nvrtcCreateProgram(nvrtcProgram* prog, const char* source, const char*, int num_headers,
                               const char* const*, const char* const*) {
  if (!prog || !source || num_headers != 0) return NVRTC_ERROR_INVALID_INPUT;
  *prog = new _nvrtcProgram{source, {}, {}};
  return NVRTC_SUCCESS;
}
nvrtcResult nvrtcDestroyProgram(nvrtcProgram* prog) {
  if (!prog || !*prog) return NVRTC_ERROR_INVALID_PROGRAM;
  delete *prog;
  *prog = nullptr;
  return NVRTC_SUCCESS;
}
nvrtcResult nvrtcCompileProgram(nvrtcProgram prog, int, const char* const*) {
  if (!prog) return NVRTC_ERROR_INVALID_PROGRAM;
  return acnn::sim::compile_kernel_image(prog->source, &prog->image, &prog->log) ? NVRTC_SUCCESS
                                                                                  : NVRTC_ERROR_COMPILATION;
}
nvrtcResult nvrtcGetCUBINSize(nvrtcProgram prog, size_t* size) {
  if (!prog || prog->image.empty()) return NVRTC_ERROR_INVALID_PROGRAM;
  *size = prog->image.size();
  return NVRTC_SUCCESS;
}
nvrtcResult nvrtcGetCUBIN(nvrtcProgram prog, char* cubin) {
  if (!prog || prog->image.empty()) return NVRTC_ERROR_INVALID_PROGRAM;
  std::memcpy(cubin, prog->image.data(), prog->image.size());
  return NVRTC_SUCCESS;
}
nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram prog, size_t* size) {
  if (!prog) return NVRTC_ERROR_INVALID_PROGRAM;
  *size = prog->log.size() + 1;
  return NVRTC_SUCCESS;
}
nvrtcResult nvrtcGetProgramLog(nvrtcProgram prog, char* log) {
  if (!prog) return NVRTC_ERROR_INVALID_PROGRAM;
  std::memcpy(log, prog->log.c_str(), prog->log.size() + 1);
  return NVRTC_SUCCESS;
}

}  // extern "C"
