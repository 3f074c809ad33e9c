#!/usr/bin/env bash
# Installs everything acnn needs to build, test and train on Debian 12
# (idempotent; run as root or with sudo available). The CUDA toolkit is not
# installed here: where it is present the CUDA backend is built too.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config git
  default-jre-headless antlr4 libantlr4-runtime-dev
  libdnnl-dev ocl-icd-opencl-dev
  llvm-22-dev libzstd-dev
  catch2 libbenchmark-dev
  zlib1g-dev libturbojpeg0-dev libpng-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev
  libopenmpi-dev libonnx-dev libprotobuf-dev
  graphviz
  dataset-fashion-mnist
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "acnn: dependencies installed"
