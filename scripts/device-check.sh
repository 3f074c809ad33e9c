#!/usr/bin/env bash
# The one device check of the CUDA backend, for the lent GPU machine (Ubuntu
# 24.04, CUDA 13 + cuDNN 9, Catch2 v3, no oneDNN/LLVM/Java/network). Run
# scripts/prepare-device.sh here first, then, in one call:
#
#   run(command="scripts/device-check.sh", carry=[".device"], timeout_s=600)
#
# Phases, each bounded so that the whole stays under DEVICE_CHECK_BUDGET_S
# (default 570 s); everything lands in $OUT (default ./device-out):
#   1. unpack the ANTLR runtime (.device/debs) into .device/prefix (dpkg -x)
#   2. take acnn and acnn_tests from .device/prebuilt when they were built from
#      these sources and their libraries are here (NO_PREBUILT=1: never); else
#      configure build-device with oneDNN and LLVM off, CUDA arch 90, the
#      pre-generated parser (.device/antlr) and build them
#   3. acnn_tests "[cuda]", each case its own process -> cuda-tests.txt, cuda-tests/N.txt
#   4. acnn bench ResNet-50 train and infer (batch 256, mixed_bf16) and
#      Assemble-ResNet-50 train (batch 256, 224x224, mixed_bf16), then
#      ResNet-50 train on one compute stream (ACNN_CUDA_STREAMS=1) -> bench_*.json,
#      and each compiled step (kernels, memory, streams) -> plan_*.txt;
#      ResNet-50 train again with --remat-min-mib 4 when time allows
#   4b. a per-kernel profile of the ResNet-50 step against the plan's floor,
#      when time is left -> profile_resnet50_train.txt
#   5. bench/torch_anchors.py in the same call   -> anchors.json
#   5a. acnn train --device cuda, one Fashion epoch (mixed bf16), when time is left
#   6. summary.txt: acnn img/s against PyTorch's from this same run
# Environment knobs: DEVICE_CHECK_BUDGET_S, BENCH_BATCH (256), BENCH_STEPS (30),
# SKIP_TESTS=1, SKIP_BENCH=1 (stop after the tests), SKIP_TORCH=1, TESTS_S (200:
# the test phase's bound, at most 120 s a case), CUDA_TESTS
# (a Catch2 test spec instead of "[cuda]", e.g. "CUDA runner*"), JOBS (nproc),
# BUILD_S (330: the build's time bound).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/device-out}
mkdir -p "$OUT"
T0=$(date +%s)
BUDGET=${DEVICE_CHECK_BUDGET_S:-570}
BATCH=${BENCH_BATCH:-256}
STEPS=${BENCH_STEPS:-30}
JOBS=${JOBS:-$(nproc)}
LOG=$OUT/device-check.log
exec > >(tee -a "$LOG") 2>&1

left() { echo $((BUDGET - ($(date +%s) - T0))); }
phase() { echo; echo "=== [$(($(date +%s) - T0)) s] $*"; }
# Runs a command with at most $1 seconds (and never past the budget).
bounded() {
  local want=$1; shift
  local l; l=$(left)
  if [ "$l" -le 10 ]; then echo "skipped (budget spent): $*"; return 124; fi
  [ "$want" -gt "$l" ] && want=$l
  timeout --kill-after=5 "$want" "$@"
}

phase "environment"
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
  nvcc --version 2>&1 | tail -1
  cmake --version | head -1
  g++ --version | head -1
  python3 -c 'import torch, timm; print("torch", torch.__version__, "timm", timm.__version__, "cudnn", torch.backends.cudnn.version())' 2>&1 || true
  git log --oneline -1 2>/dev/null || true
} | tee "$OUT/env.txt"

phase "1. ANTLR runtime from .device/debs"
PREFIX=$ROOT/.device/prefix
if ! ls .device/debs/*.deb >/dev/null 2>&1 || [ ! -f .device/antlr/AcnnParser.cpp ]; then
  echo "device-check: .device/ is missing or incomplete: run scripts/prepare-device.sh here and carry .device" >&2
  exit 2
fi
mkdir -p "$PREFIX"
for d in .device/debs/*.deb; do dpkg -x "$d" "$PREFIX"; done
ANTLR_LIB=$PREFIX/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$ANTLR_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
ldd "$ANTLR_LIB/libantlr4-runtime.so.4.9" | grep -E "not found|libstdc|libc\.so" || true

# Binaries prepare-device.sh built on the development machine (same options)
# save the device several minutes of compiling; they are used only when the
# sources they were built from are unchanged and every library they need is
# here, and the tree is built otherwise.
PREBUILT=$ROOT/.device/prebuilt
use_prebuilt=0
if [ "${NO_PREBUILT:-0}" != 1 ] && [ -x "$PREBUILT/acnn" ] && [ -x "$PREBUILT/acnn_tests" ] && [ -f "$PREBUILT/sources.sha1" ]; then
  phase "2. prebuilt binaries from .device/prebuilt"
  # The toolkit's libraries, wherever nvcc lives (the binaries' runpath names this machine's).
  nvcc_bin=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  for d in "$(dirname "$nvcc_bin")/../lib64" /usr/local/cuda/lib64; do
    [ -d "$d" ] && export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$d
  done
  if ! sha1sum -c --quiet "$PREBUILT/sources.sha1" > "$OUT/prebuilt-check.txt" 2>&1; then
    echo "prebuilt: the sources changed since prepare-device.sh; building here:"; head -5 "$OUT/prebuilt-check.txt"
  elif ! readelf -d "$PREBUILT/acnn" | grep -q "libcudart.so"; then
    echo "prebuilt: acnn is not linked against the CUDA runtime (an emulator or CPU build?); building here"
  elif ldd "$PREBUILT/acnn" "$PREBUILT/acnn_tests" | grep "not found"; then
    echo "prebuilt: libraries missing (above); building here"
  elif ! "$PREBUILT/acnn" --version > /dev/null 2>&1; then
    echo "prebuilt: acnn --version fails; building here"
  else
    use_prebuilt=1
    ACNN=$PREBUILT/acnn
    TESTS=$PREBUILT/acnn_tests
    # The tests and the binary find the tree and the standard library here,
    # not where they were built.
    export ACNN_SOURCE_DIR=$ROOT ACNN_BINARY=$ACNN ACNN_STDLIB=$ROOT/stdlib
    echo "prebuilt: using $(cat "$PREBUILT/built-from.txt" 2>/dev/null)"
  fi
fi

if [ $use_prebuilt = 0 ]; then
  phase "2. configure and build (oneDNN off, LLVM off, sm_90, generated parser)"
  BUILD=$ROOT/build-device
  . scripts/device-options.sh
  bounded 120 cmake -S . -B "$BUILD" -G Ninja "${DEVICE_CMAKE_OPTIONS[@]}" -DACNN_ANTLR_GENERATED="$ROOT/.device/antlr" \
    -Dantlr4-runtime_DIR="$ANTLR_LIB/cmake/antlr4-runtime" > "$OUT/configure.txt" 2>&1
  rc=$?
  grep -E "acnn:|Error|error" "$OUT/configure.txt" || true
  if [ $rc -ne 0 ]; then echo "configure failed ($rc); see configure.txt"; tail -30 "$OUT/configure.txt"; exit 3; fi
  bounded "${BUILD_S:-330}" cmake --build "$BUILD" -j "$JOBS" --target acnn acnn_tests > "$OUT/build.txt" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then echo "build failed ($rc); see build.txt"; grep -E "error|Error" -A3 "$OUT/build.txt" | head -60; exit 4; fi
  ACNN=$BUILD/acnn
  TESTS=$BUILD/tests/acnn_tests
fi
readelf -d "$ACNN" | grep NEEDED > "$OUT/needed.txt" || true
export ACNN_CACHE_DIR=$ROOT/.device/cache  # nvrtc/ cubins, cudnn/ algorithm choices

if [ "${SKIP_TESTS:-0}" != 1 ]; then
  phase "3. [cuda] tests, one process per test case (a device fault cannot take the others down)"
  # Catch2 v2 (a prebuilt binary) lists names with --list-test-names-only, which
  # v3 (a build here) rejects; v3 with --list-tests --verbosity quiet.
  spec_all=${CUDA_TESTS:-[cuda]}
  if "$TESTS" --help 2>&1 | grep -q -- --list-test-names-only; then
    names=$("$TESTS" "$spec_all" --list-test-names-only 2>/dev/null)  # exits with the count
  else
    names=$("$TESTS" "$spec_all" --list-tests --verbosity quiet 2>/dev/null)
  fi
  names=$(printf '%s\n' "$names" | sed '/^$/d;/matching test case/d')
  : > "$OUT/cuda-tests.txt"
  mkdir -p "$OUT/cuda-tests"
  i=0; failed=0; skipped=0
  tests_t0=$(date +%s)
  while IFS= read -r name; do
    [ -n "$name" ] || continue
    i=$((i + 1))
    # The whole phase gets TESTS_S seconds, so that a slow or hanging case
    # cannot leave the benchmarks no time.
    tests_left=$((${TESTS_S:-200} - ($(date +%s) - tests_t0)))
    if [ "$tests_left" -le 10 ]; then
      skipped=$((skipped + 1))
      printf '%-4s %-10s %s\n' "$i" "not run" "$name (the test phase's TESTS_S is spent)" | tee -a "$OUT/cuda-tests.txt"
      continue
    fi
    [ "$tests_left" -gt 120 ] && tests_left=120
    spec=$(printf '%s' "$name" | sed 's/[],[]/\\&/g')  # commas and brackets are test-spec syntax
    t0=$(date +%s)
    bounded "$tests_left" "$TESTS" "$spec" --durations yes > "$OUT/cuda-tests/$i.txt" 2>&1
    rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 4 ] && failed=$((failed + 1))  # 4: skipped (Catch2 v3, no device)
    printf '%-4s rc=%-3s %4ss  %s\n' "$i" "$rc" "$(($(date +%s) - t0))" "$name" | tee -a "$OUT/cuda-tests.txt"
    [ $rc -ne 0 ] && [ $rc -ne 4 ] && grep -E "FAILED|REQUIRE|CHECK|with expansion|error|what\(\)" -A3 "$OUT/cuda-tests/$i.txt" | head -30
  done <<< "$names"
  echo "[cuda] test cases: $((i - skipped)) run, $failed failed, $skipped not run (per-case output in cuda-tests/)" |
    tee -a "$OUT/cuda-tests.txt"
fi

[ "${SKIP_BENCH:-0}" = 1 ] && { echo "SKIP_BENCH=1: stopping after the tests"; exit 0; }

phase "4. acnn bench (batch $BATCH, mixed_bf16)"
bench() {  # name, model file, mode, extra acnn options...
  local name=$1 file=$2 mode=$3
  shift 3
  # Fastest cuDNN algorithms, deterministic or not, as PyTorch's cudnn.benchmark picks them.
  ACNN_CUDNN_DETERMINISTIC=0 bounded 120 "$ACNN" bench "$file" --batch "$BATCH" --mode "$mode" --precision mixed_bf16 --device cuda \
    --steps "$STEPS" --json "$OUT/bench_$name.json" --plan "$OUT/plan_$name.txt" "$@" 2>&1 | tee "$OUT/bench_$name.txt"
}
bench resnet50_train models/resnet50.acnn train
bench resnet50_infer models/resnet50.acnn infer
# At 224x224, the resolution its PyTorch anchor (skresnet50d) runs at.
bench assemble_resnet50_train models/assemble_resnet50.acnn train --model-arg size=224
# The same step on one compute stream: what running kernels side by side gains.
if [ "$(left)" -gt 450 ]; then
  ACNN_CUDA_STREAMS=1 bench resnet50_train_1stream models/resnet50.acnn train
fi
# More recomputation for less memory than the GPU default of 256 MiB
# (docs/cuda.md: 7.1 instead of 8.9 GB of temporaries, 1.2 ms more floor),
# while the budget leaves PyTorch its time.
if [ "$(left)" -gt 420 ]; then
  bench resnet50_train_remat4 models/resnet50.acnn train --remat-min-mib 4
fi

phase "4b. per-kernel profile of the ResNet-50 training step against the plan's floor (if time is left)"
# Each kernel's GPU time between events (graphs off), per kind of kernel next
# to its floor: where the step loses to the floor. Cached cuDNN choices and
# NVRTC code from 4 make it quick.
if [ "$(left)" -gt 330 ]; then
  ACNN_CUDNN_DETERMINISTIC=0 bounded 45 "$ACNN" bench models/resnet50.acnn --batch "$BATCH" --mode train \
    --precision mixed_bf16 --device cuda --steps 2 --warmup 1 --profile > "$OUT/profile_resnet50_train.txt" 2>&1
  sed -n '/per step/,/slowest/p' "$OUT/profile_resnet50_train.txt"
else
  echo "skipped: $(left) s left"
fi

if [ "${SKIP_TORCH:-0}" != 1 ]; then
  phase "5. PyTorch/timm anchors (same machine, same call)"
  l=$(left)
  if [ "$l" -gt 200 ]; then
    # The targets are torch.compile's numbers: those first (each compiles for
    # 20-110 s), eager ones while the budget lasts; 130 s stay for 5a/5b.
    OUT=$OUT BUDGET_S=$((l - 160)) ANCHOR_CASES=${ANCHOR_CASES:-resnet50:train:compiled,resnet50:infer:compiled,skresnet50d:train:compiled,resnet50:train,resnet50:infer,skresnet50d:train} \
      bounded $((l - 130)) python3 bench/torch_anchors.py > "$OUT/anchors.txt" 2>&1
    tail -20 "$OUT/anchors.txt"
  else
    echo "skipped: $l s left"
  fi
fi

phase "5a. acnn train --device cuda: the Fashion Assemble model, one epoch on real data (if time is left)"
if [ -f .device/fashion-mnist/train-images-idx3-ubyte.gz ] && [ "$(left)" -gt 100 ]; then
  bounded 90 "$ACNN" train models/fashion/assemble.acnn --device cuda --data .device/fashion-mnist --epochs 1 \
    --runs "$OUT/runs" --name gpu_e2e --set 'precision=Precision.mixed_bf16' > "$OUT/train_gpu.txt" 2>&1
  echo "acnn train exit code: $?" | tee -a "$OUT/train_gpu.txt"
  tail -4 "$OUT/train_gpu.txt"
else
  echo "skipped: no .device/fashion-mnist or $(left) s left"
fi


phase "6. summary"
python3 - "$OUT" <<'EOF' | tee "$OUT/summary.txt"
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except Exception:
        return None
anchors = load("anchors.json") or []
def torch_row(model, mode, compiled):
    for r in anchors:
        if (r.get("model") == model and r.get("mode") == mode and bool(r.get("compiled")) == compiled
                and "img_s" in r and r.get("bs") == 256):
            return r
    return None
rows = [("resnet50_train", "resnet50", "train"), ("resnet50_infer", "resnet50", "infer"),
        ("assemble_resnet50_train", "skresnet50d", "train"), ("resnet50_train_1stream", "resnet50", "train"),
        ("resnet50_train_remat4", "resnet50", "train")]
print("%-24s %10s %10s %10s %8s %8s %9s %9s %8s %9s" % ("case", "acnn img/s", "compiled", "eager", "x comp", "x eager",
                                                          "acnn GiB", "torch GiB", "compile s", "x floor"))
for name, tmodel, mode in rows:
    b = load("bench_%s.json" % name)
    c, e = torch_row(tmodel, mode, True), torch_row(tmodel, mode, False)
    if not b:
        ran = os.path.exists(os.path.join(out, "bench_%s.txt" % name))
        print("%-24s %10s" % (name, "failed" if ran else "not run")); continue
    fmt = lambda r: "%.1f" % r["img_s"] if r else "-"
    ratio = lambda r: "%.2f" % (b["img_s"] / r["img_s"]) if r else "-"
    ref = c or e
    floor = "%.2f" % (b["ms_iter"] / b["floor_ms"]) if b.get("floor_ms") else "-"
    print("%-24s %10.1f %10s %10s %8s %8s %9.2f %9s %8.1f %9s" % (name, b["img_s"], fmt(c), fmt(e), ratio(c), ratio(e),
          b["peak_GiB"], "%.2f" % ref["peak_GiB"] if ref else "-", b["compile_s"], floor))
for name, _, _ in rows:
    b = load("bench_%s.json" % name)
    if b and b.get("compile_report"):
        print("%-24s %s" % (name, b["compile_report"]))
print("(torch: timm in bf16 autocast, channels_last, batch 256, 224x224, this call; assemble_resnet50 is compared with "
      "skresnet50d, the closest timm model, at 224x224 too: acnn's network adds Big-Little and anti-aliasing; "
      "x floor: acnn's step time over its plan's floor, acnn dump --stage device)")
EOF
echo "device-check: done in $(($(date +%s) - T0)) s; results in $OUT"
