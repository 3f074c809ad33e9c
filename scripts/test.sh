#!/usr/bin/env bash
# Builds and runs the whole test suite (what CI runs after scripts/setup.sh):
# the build in ./build and every test; then the CUDA backend built against the
# host emulator (tests/sim, ./build-emu) and its [cuda] tests, which no GPU
# machine is needed for. SKIP_EMULATOR=1 skips the second part.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
if [ "${SKIP_EMULATOR:-0}" != 1 ]; then
  if [ ! -f build-emu/build.ninja ]; then
    cmake -S . -B build-emu -G Ninja -DCMAKE_BUILD_TYPE=Release -DACNN_CUDA_EMULATOR=ON -DACNN_WITH_ONEDNN=OFF \
      -DACNN_WITH_LLVM=OFF -DACNN_BUILD_BENCH=OFF
  fi
  cmake --build build-emu -j "$(nproc)" --target acnn_tests
  ACNN_CACHE_DIR=$PWD/build-emu/cache ctest --test-dir build-emu --output-on-failure -R '^cuda'
fi
