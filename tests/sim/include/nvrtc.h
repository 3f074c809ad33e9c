// Host stand-in for <nvrtc.h> (see cuda_runtime.h here): the NVRTC calls
// backends/cuda/nvrtc.cpp makes, implemented by tests/sim/emulator/nvrtc.cpp,
// which compiles the program with the host C++ compiler into an image that
// the emulator's cudaLibraryLoadData loads.
#pragma once

#include <cstddef>

typedef struct _nvrtcProgram* nvrtcProgram;
enum nvrtcResult {
  NVRTC_SUCCESS = 0,
  NVRTC_ERROR_OUT_OF_MEMORY = 1,
  NVRTC_ERROR_INVALID_INPUT = 3,
  NVRTC_ERROR_INVALID_PROGRAM = 4,
  NVRTC_ERROR_COMPILATION = 6,
};

extern "C" {
const char* nvrtcGetErrorString(nvrtcResult result);
nvrtcResult nvrtcVersion(int* major, int* minor);
nvrtcResult nvrtcCreateProgram(nvrtcProgram* prog, const char* source, const char* name, int num_headers,
                               const char* const* headers, const char* const* include_names);
nvrtcResult nvrtcDestroyProgram(nvrtcProgram* prog);
nvrtcResult nvrtcCompileProgram(nvrtcProgram prog, int num_options, const char* const* options);
nvrtcResult nvrtcGetCUBINSize(nvrtcProgram prog, size_t* size);
nvrtcResult nvrtcGetCUBIN(nvrtcProgram prog, char* cubin);
nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram prog, size_t* size);
nvrtcResult nvrtcGetProgramLog(nvrtcProgram prog, char* log);
}
