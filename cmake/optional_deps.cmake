# Optional backends. Each block either finds its dependency and adds sources,
# definitions and libraries to ACNN_BACKEND_*, or says why it is off.
set(ACNN_BACKEND_SOURCES)
set(ACNN_BACKEND_DEFS)
set(ACNN_BACKEND_LIBS)
set(ACNN_BACKEND_INCLUDES)

if(ACNN_WITH_ONEDNN)
  find_package(dnnl CONFIG QUIET)
  if(dnnl_FOUND)
    file(GLOB _cpu CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/backends/cpu/*.cpp)
    list(APPEND ACNN_BACKEND_SOURCES ${_cpu})
    # The portable elementwise evaluator is tight loops over blocks: let GCC vectorize them.
    set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/backends/cpu/ew_interp.cpp PROPERTIES COMPILE_OPTIONS "-O3")
    list(APPEND ACNN_BACKEND_DEFS ACNN_HAVE_ONEDNN=1)
    list(APPEND ACNN_BACKEND_LIBS DNNL::dnnl)
    message(STATUS "acnn: oneDNN CPU backend ON (${dnnl_VERSION})")
  else()
    message(STATUS "acnn: oneDNN not found: the CPU backend is off (reference kernels only)")
  endif()
endif()

if(ACNN_WITH_LLVM)
  find_package(LLVM 22.1 CONFIG QUIET)
  file(GLOB _jit CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/backends/cpu/jit/*.cpp)
  if(LLVM_FOUND AND _jit)
    file(GLOB _jit CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/backends/cpu/jit/*.cpp)
    # LLVM headers stay inside backends/cpu/jit: nothing else includes them.
    add_library(acnn_jit STATIC ${_jit})
    target_include_directories(acnn_jit SYSTEM PRIVATE ${LLVM_INCLUDE_DIRS})
    target_include_directories(acnn_jit PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
    target_compile_definitions(acnn_jit PRIVATE ${LLVM_DEFINITIONS})
    target_link_libraries(acnn_jit PRIVATE LLVM)
    list(APPEND ACNN_BACKEND_DEFS ACNN_HAVE_LLVM=1)
    list(APPEND ACNN_BACKEND_LIBS acnn_jit)
    message(STATUS "acnn: LLVM ORC JIT ON (${LLVM_PACKAGE_VERSION})")
  else()
    message(STATUS "acnn: LLVM 22 not found (or no JIT sources): fused loops run interpreted")
  endif()
endif()

if(ACNN_CUDA_EMULATOR)
  # The backend on the host emulator (cmake/cuda_emulator.cmake).
  file(GLOB _cuda CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/backends/cuda/*.cpp)
  list(APPEND ACNN_BACKEND_SOURCES ${_cuda})  # kernels.cu: in acnn_cuda_emulator
  list(APPEND ACNN_BACKEND_DEFS ACNN_HAVE_CUDA=1 ACNN_CUDA_EMULATED=1)
  list(APPEND ACNN_BACKEND_LIBS acnn_cuda_emulator)
  message(STATUS "acnn: CUDA backend ON, on the host emulator (tests/sim): for tests, not for GPUs")
elseif(ACNN_WITH_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
    # kernels.cu needs C++17 only (CMake 3.25 does not know nvcc's C++20 flag).
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    # Where toolkits keep their libraries differs between installs and CMake
    # versions (lib64, lib, targets/<arch>/lib; CMake 4 may report cudart's
    # directory outside the toolkit): look in all of them. CUDNN_ROOT (cache
    # or environment) points at a cuDNN installed elsewhere.
    set(_cuda_lib_dirs ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}/lib64 ${CUDAToolkit_LIBRARY_ROOT}/lib
        ${CUDAToolkit_TARGET_DIR}/lib ${CUDAToolkit_BIN_DIR}/../lib64 ${CUDAToolkit_BIN_DIR}/../lib)
    set(_cuda_inc_dirs ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}/include ${CUDAToolkit_BIN_DIR}/../include)
    find_library(CUDNN_LIBRARY cudnn HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} PATH_SUFFIXES lib64 lib
                 PATHS ${_cuda_lib_dirs} /usr/lib/x86_64-linux-gnu)
    find_path(CUDNN_INCLUDE cudnn.h HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} PATH_SUFFIXES include
              PATHS ${_cuda_inc_dirs} /usr/include/x86_64-linux-gnu)
    # NVRTC by path: the CUDA::nvrtc target drags in the driver stub (libcuda),
    # and the program must start on machines without a driver. Its location
    # is still the best hint.
    set(_nvrtc_hint "")
    if(TARGET CUDA::nvrtc)
      get_target_property(_nvrtc_loc CUDA::nvrtc IMPORTED_LOCATION)
      if(_nvrtc_loc)
        get_filename_component(_nvrtc_hint "${_nvrtc_loc}" DIRECTORY)
      endif()
    endif()
    find_library(NVRTC_LIBRARY nvrtc HINTS ${_nvrtc_hint} ${_cuda_lib_dirs})
    if(CUDNN_LIBRARY AND CUDNN_INCLUDE AND NVRTC_LIBRARY)
      file(GLOB _cuda CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/backends/cuda/*.cpp
                                        ${CMAKE_CURRENT_SOURCE_DIR}/backends/cuda/*.cu)
      list(APPEND ACNN_BACKEND_SOURCES ${_cuda})
      list(APPEND ACNN_BACKEND_DEFS ACNN_HAVE_CUDA=1)
      # Runtime API only (shared cudart): libcuda is never linked directly.
      list(APPEND ACNN_BACKEND_LIBS CUDA::cudart CUDA::cublasLt ${NVRTC_LIBRARY} ${CUDNN_LIBRARY})
      list(APPEND ACNN_BACKEND_INCLUDES ${CUDNN_INCLUDE} ${CUDAToolkit_INCLUDE_DIRS})
      message(STATUS "acnn: CUDA backend ON (toolkit ${CUDAToolkit_VERSION}, cuDNN ${CUDNN_LIBRARY})")
    else()
      message(STATUS "acnn: the CUDA backend is off: cuDNN library '${CUDNN_LIBRARY}', cudnn.h in '${CUDNN_INCLUDE}', "
                     "NVRTC '${NVRTC_LIBRARY}' (set CUDNN_ROOT to a cuDNN install)")
    endif()
  else()
    message(STATUS "acnn: no CUDA toolkit: the CUDA backend is off")
  endif()
endif()
