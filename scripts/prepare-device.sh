#!/usr/bin/env bash
# Run HERE (the development machine) before a device check: fills .device/
# (gitignored, about 47 MB; a call carries at most 64 MiB) with what the lent
# GPU machine lacks and cannot download (it has no network, no Java, no ANTLR):
#   .device/debs/   the ANTLR 4.9 C++ runtime (Debian 12 packages
#                   libantlr4-runtime4.9 and libantlr4-runtime-dev, fetched
#                   with `apt-get download`; device-check.sh unpacks them with
#                   dpkg -x: they need glibc >= 2.32 and libstdc++ >= 12, which
#                   Ubuntu 24.04 has)
#   .device/antlr/  the parser generated from dsl/Acnn.g4 (for -DACNN_ANTLR_GENERATED)
#   .device/fashion-mnist/  the data set, for an end-to-end training run on the GPU
#   .device/prebuilt/  acnn and acnn_tests built here for the device (about 15 MB)
# and checks that the copy of the PyTorch anchor script in bench/ is current.
# Then run scripts/device-check.sh on the device with carry [".device"].
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dev=.device
mkdir -p "$dev/debs" "$dev/antlr"
# What a device run unpacks or caches there does not travel back (it would
# only eat into the 64 MiB a call carries).
rm -rf "$dev/prefix" "$dev/cache" "$dev/nvrtc-cache"

# 1. The ANTLR runtime packages.
if ! ls "$dev"/debs/libantlr4-runtime4.9_*.deb >/dev/null 2>&1 || ! ls "$dev"/debs/libantlr4-runtime-dev_*.deb >/dev/null 2>&1; then
  (cd "$dev/debs" && apt-get download libantlr4-runtime4.9 libantlr4-runtime-dev)
fi

# 2. The generated parser: from the build tree if it has one for this
#    grammar, else from the antlr4 tool (Java), as cmake/antlr.cmake runs it.
gen=""
for b in build build-*; do
  if [ -f "$b/antlr/AcnnParser.cpp" ] && [ "$b/antlr/AcnnParser.cpp" -nt dsl/Acnn.g4 ]; then gen="$b/antlr"; break; fi
done
if [ -n "$gen" ]; then
  cp "$gen"/Acnn*.cpp "$gen"/Acnn*.h "$dev/antlr/"
else
  jar=$(ls /usr/share/java/antlr4.jar /usr/share/java/antlr4-4.7.2.jar 2>/dev/null | head -1)
  [ -n "$jar" ] || { echo "prepare-device: no build tree with a generated parser and no antlr4.jar" >&2; exit 1; }
  cp_path="$jar"
  for j in stringtemplate4.jar antlr4-runtime.jar antlr3-runtime.jar treelayout.jar; do
    [ -f /usr/share/java/$j ] && cp_path="$cp_path:/usr/share/java/$j"
  done
  java -cp "$cp_path" org.antlr.v4.Tool -Dlanguage=Cpp -visitor -no-listener -package acnn_antlr \
    -o "$dev/antlr" -Xexact-output-dir dsl/Acnn.g4
  rm -f "$dev"/antlr/*.interp "$dev"/antlr/*.tokens
fi

# 3. Fashion-MNIST (30 MB, from the Debian package dataset-fashion-mnist) for
#    device-check's end-to-end `acnn train --device cuda`; skipped when absent.
fm=/usr/share/datasets/fashion-mnist
if [ -f "$fm/train-images-idx3-ubyte.gz" ]; then
  mkdir -p "$dev/fashion-mnist"
  cp -u "$fm"/*-ubyte.gz "$dev/fashion-mnist/"
else
  echo "prepare-device: note: no $fm (apt-get install dataset-fashion-mnist): device-check skips its GPU training run" >&2
fi

# 4. The anchor script (committed copy in bench/).
shared_anchors=../shared/bench/torch_anchors.py
if [ -f "$shared_anchors" ] && ! cmp -s "$shared_anchors" bench/torch_anchors.py; then
  echo "prepare-device: note: bench/torch_anchors.py differs from $shared_anchors" >&2
fi

# 5. Prebuilt acnn and acnn_tests, configured as device-check.sh configures
#    its build (oneDNN and LLVM off, CUDA sm_90, Release), so that the lent
#    machine spends its minutes on tests instead of compiling. They run there
#    (glibc and libstdc++ are newer; the CUDA, cuDNN, libjpeg-turbo and png
#    sonames match); device-check.sh uses them only when the sources listed in
#    sources.sha1 are unchanged and ldd finds every library. PREBUILT=0 skips.
if [ "${PREBUILT:-1}" = 1 ]; then
  pb=build-prebuilt
  mkdir -p "$pb"
  . scripts/device-options.sh
  if ! cmake -S . -B "$pb" -G Ninja "${DEVICE_CMAKE_OPTIONS[@]}" > "$pb/configure.log" 2>&1; then
    tail -20 "$pb/configure.log"; exit 1
  fi
  grep -q "CUDA backend ON" "$pb/configure.log" || { echo "prepare-device: the prebuilt configuration has no CUDA backend" >&2; exit 1; }
  cmake --build "$pb" --target acnn acnn_tests
  mkdir -p "$dev/prebuilt"
  strip -o "$dev/prebuilt/acnn" "$pb/acnn"
  strip -o "$dev/prebuilt/acnn_tests" "$pb/tests/acnn_tests"
  git ls-files --cached --others --exclude-standard -- CMakeLists.txt '*.cmake' '*.cpp' '*.h' '*.cu' '*.g4' |
    sort | xargs sha1sum > "$dev/prebuilt/sources.sha1"
  echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo ' with uncommitted changes'), built $(date -u +%FT%TZ)" \
    > "$dev/prebuilt/built-from.txt"
else
  rm -rf "$dev/prebuilt"
fi

# 6. Sanity: the packages unpack and hold the runtime, headers and CMake config.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in "$dev"/debs/*.deb; do dpkg -x "$d" "$tmp"; done
test -f "$tmp/usr/lib/x86_64-linux-gnu/libantlr4-runtime.so.4.9"
test -f "$tmp/usr/include/antlr4-runtime/antlr4-runtime.h"
test -f "$tmp/usr/lib/x86_64-linux-gnu/cmake/antlr4-runtime/antlr4-runtime-config.cmake"
for n in AcnnLexer AcnnParser AcnnBaseVisitor AcnnVisitor; do test -f "$dev/antlr/$n.cpp" -a -f "$dev/antlr/$n.h"; done

echo "prepare-device: $(du -sh "$dev" | cut -f1) in $root/$dev:"
ls -l "$dev/debs" "$dev/antlr"
cat <<'EOF'
Next, on the lent GPU machine (one call, under 10 minutes):
  run(command="scripts/device-check.sh", carry=[".device"], timeout_s=600)
EOF
