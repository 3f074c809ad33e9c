# Sourced by prepare-device.sh (the prebuilt binaries) and device-check.sh (a
# build on the lent machine): the CMake options of a build for the GPU
# machine, so that both build the same thing. It has no oneDNN or LLVM, and
# H100/H200 are sm_90.
DEVICE_CMAKE_OPTIONS=(-DCMAKE_BUILD_TYPE=Release -DACNN_WITH_ONEDNN=OFF -DACNN_WITH_LLVM=OFF -DACNN_WITH_CUDA=ON
                      -DCMAKE_CUDA_ARCHITECTURES=90 -DACNN_BUILD_BENCH=OFF)
