#!/usr/bin/env bash
# Configures (once) and builds acnn into ./build with Ninja. Extra arguments go
# to the first configure (e.g. -DACNN_WITH_CUDA=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
fi
cmake --build build -j "$(nproc)"
