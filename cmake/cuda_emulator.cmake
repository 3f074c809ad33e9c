# The CUDA emulator (tests/sim/): host stand-ins for the CUDA runtime, cuDNN,
# cuBLASLt and NVRTC, and CUDA's thread model for hand-written kernels. The
# kernel simulation tests always use it; with -DACNN_CUDA_EMULATOR=ON the CUDA
# backend itself is built against it instead of the toolkit, so that the
# [cuda] tests run on machines without a GPU (slowly: for tests only).
option(ACNN_CUDA_EMULATOR "Build the CUDA backend on the host emulator of tests/sim (tests without a GPU)" OFF)

set(_emu ${CMAKE_CURRENT_SOURCE_DIR}/tests/sim)
# Generated kernels compiled by the host compiler and run thread by thread:
# the emulator's NVRTC and the codegen tests (tests/ops/cuda_sim.h) share it.
add_library(acnn_kernel_image STATIC ${_emu}/emulator/kernel_image.cpp)
target_include_directories(acnn_kernel_image PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(acnn_kernel_image PUBLIC ${CMAKE_DL_LIBS})

# The emulator, with backends/cuda/kernels.cu compiled as host C++ on its
# simulated threads (kernels_host.cpp includes it).
add_library(acnn_cuda_emulator STATIC ${_emu}/threads.cpp ${_emu}/kernels_host.cpp ${_emu}/emulator/runtime.cpp
                                      ${_emu}/emulator/nvrtc.cpp ${_emu}/emulator/cublaslt.cpp ${_emu}/emulator/cudnn.cpp)
target_include_directories(acnn_cuda_emulator BEFORE PUBLIC ${_emu}/include)
target_include_directories(acnn_cuda_emulator PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(acnn_cuda_emulator PUBLIC acnn_kernel_image acnn_core)
# A GPU faults on misaligned vector accesses (uint4 loads of half-precision
# rows) where x86 would not: the alignment sanitizer stops there instead.
set_source_files_properties(${_emu}/kernels_host.cpp PROPERTIES COMPILE_OPTIONS
                            "-Wno-unknown-pragmas;-fno-strict-aliasing;-fsanitize=alignment;-fno-sanitize-recover=alignment")
target_link_options(acnn_cuda_emulator PUBLIC -fsanitize=alignment)
