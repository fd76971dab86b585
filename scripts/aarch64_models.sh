#!/usr/bin/env bash
# End-to-end check of the aarch64 runtime under qemu: the bundled models (tests/data/models: cnn_small,
# vit_tiny, vit_tiny_clipped, vit_tiny_gated, gpt_tiny) quantized on x86-64 by the host build's
# squint run on the cross-built runtime (tools/sqnt_run) on every aarch64 path, and their raw codes
# must be byte-identical to the x86-64 reference kernels' on the same .sqnt and input: the outputs,
# and every op's outputs in execution order (sqnt_run --trace), so a difference names its layer.
#
# Usage: scripts/aarch64_models.sh [HOST_BUILD [AARCH64_BUILD]]   (default: build, build-aarch64)
#   HOST_BUILD     an x86-64 build with cli/squint and tools/sqnt_run (scripts/build.sh release)
#   AARCH64_BUILD  the cross-build (scripts/build.sh aarch64)
# Paths on aarch64: reference, neon, neondot (qemu -cpu max has the dot-product extension), neondot
# with 2 threads, and neondot in the C API's heapless mode (sqnt_run --heapless; first input only).
# Then on a CPU model without dotprod (cortex-a53, armv8.0-a): auto picks neon,
# forcing neondot is an error, and so is an x86-64 set on aarch64. Any difference or missing
# piece fails the script (exit 1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
host=${1:-$root/build}
arm=${2:-$root/build-aarch64}
squint=$host/cli/squint
host_run=$host/tools/sqnt_run/sqnt_run
arm_run=$arm/tools/sqnt_run/sqnt_run
python=$root/.venv/bin/python
sysroot=/usr/aarch64-linux-gnu
for f in "$squint" "$host_run" "$arm_run" "$python"; do
  [ -x "$f" ] || { echo "aarch64_models.sh: missing $f (build it first: scripts/build.sh release / aarch64)" >&2; exit 1; }
done
command -v qemu-aarch64 >/dev/null || { echo "aarch64_models.sh: qemu-aarch64 not installed (scripts/setup.sh)" >&2; exit 1; }
[ "$(od -An -j18 -N2 -tx1 "$arm_run" | tr -d ' ')" = b700 ] ||  # ELF e_machine EM_AARCH64
  { echo "aarch64_models.sh: $arm_run is not an aarch64 program" >&2; exit 1; }
qemu() { local cpu=$1; shift; qemu-aarch64 -L "$sysroot" -cpu "$cpu" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
models=$root/tests/data/models
fmnist=$models/fashion_mnist
gpt=$models/gpt_tiny
compared=0
# model, calibration folder, input dtype for the runner (float32 values or int32 token ids), and
# optionally a variant: "w4", 4-bit weights per channel (packed int4, unpacked into the GEMM's
# panels at prepare); "w4g32", 4-bit weights with group scales of 32 (the portable group-scaled
# kernels); "sulq", the SULQ log-grid softmax (its codes and the log-grid P·V after it); "a16",
# int16 activations around GELU, the residual Adds and the LayerNorms (the portable int16
# FULLY_CONNECTED, REQUANTIZE tables)
for spec in "cnn_small/cnn_small_op17 $fmnist float32" "vit_tiny/vit_tiny_op17 $fmnist float32" \
            "vit_tiny_clipped/vit_tiny_clipped_op17 $fmnist float32" "vit_tiny_gated/vit_tiny_gated_op17 $fmnist float32" \
            "gpt_tiny/gpt_tiny_op17 $gpt int32" "vit_tiny/vit_tiny_op17 $fmnist float32 w4" \
            "cnn_small/cnn_small_op17 $fmnist float32 w4g32" "gpt_tiny/gpt_tiny_op17 $gpt int32 sulq" \
            "vit_tiny/vit_tiny_op17 $fmnist float32 a16"; do
  read -r model data dtype variant <<<"$spec"
  name=${model%%/*}${variant:+_$variant}
  bits=()
  case "$variant" in
    w4) bits=(--weight-bits 4) ;;
    w4g32) bits=(--weight-bits 4 --group-size 32) ;;
    sulq) bits=(--softmax-quant sulq) ;;
    a16) bits=(--a16 Gelu --a16 Add --a16 LayerNormalization) ;;
  esac
  sqnt=$work/$name.sqnt
  if ! SQUINT_ISA=reference "$squint" quantize "$models/$model.onnx" -o "$sqnt" --calib "$data/calib_x.npy" \
      --calib-samples 16 --val-samples 4 --accumulated-only "${bits[@]}" >"$work/quantize.log" 2>&1; then
    cat "$work/quantize.log" >&2
    echo "aarch64_models.sh: quantizing $model failed" >&2
    exit 1
  fi
  "$python" - "$data/val_x.npy" "$work/$name" "$dtype" <<'PY'
import sys
import numpy as np
val = np.load(sys.argv[1])
for i in (0, 1, 7):  # batch-1 models: one row per run
    np.save(f"{sys.argv[2]}_x{i}.npy", val[i:i + 1].astype(sys.argv[3]))
PY
  for i in 0 1 7; do
    x=$work/${name}_x$i.npy
    want=$work/$name.$i.x86-reference
    "$host_run" -q --isa reference -o "$want" --trace "$want.trace" "$sqnt" "$x"
    distinct=$(od -An -v -tx1 "$want" | tr -s ' ' '\n' | sed '/^$/d' | sort -u | wc -l)
    [ "$distinct" -gt 1 ] || { echo "$name row $i: degenerate reference output ($distinct distinct byte): the comparison would prove nothing" >&2; exit 1; }
    runs=("reference 1" "neon 1" "neondot 1" "neondot 2")
    [ "$i" = 0 ] && runs+=("neondot 1 --heapless")  # the C API's heapless mode, once per model
    for run in "${runs[@]}"; do
      read -r isa threads mode <<<"$run"
      got=$work/$name.$i.aarch64-$isa-$threads$mode
      # shellcheck disable=SC2086  # $mode: no flag or one
      used=$(qemu max "$arm_run" --isa "$isa" --threads "$threads" $mode -o "$got" --trace "$got.trace" "$sqnt" "$x" |
             sed -n 's/^isa //p')
      [ "$used" = "$isa" ] || { echo "$name: asked for $isa, ran on '$used'" >&2; exit 1; }
      if ! cmp -s "$want" "$got"; then
        echo "$name row $i: aarch64 $isa ($threads thread(s)$mode) codes differ from the x86-64 reference: $(cmp "$want" "$got" | head -1)" >&2
        exit 1
      fi
      if ! cmp -s "$want.trace" "$got.trace"; then
        echo "$name row $i: aarch64 $isa ($threads thread(s)$mode) intermediate codes differ from the x86-64 reference: $(cmp "$want.trace" "$got.trace" | head -1)" >&2
        exit 1
      fi
      compared=$((compared + 1))
    done
  done
  echo "$name: x86-64 reference = aarch64 reference, neon, neondot, neondot --threads 2 on 3 inputs, neondot --heapless on 1" \
       "($(stat -c %s "$want") output bytes, $(stat -c %s "$want.trace") bytes of op outputs each)"
done

# A CPU without the dot-product extension: auto is neon, neondot is refused, x86-64 sets too.
sqnt=$work/cnn_small.sqnt
x=$work/cnn_small_x0.npy
used=$(SQUINT_ISA= qemu cortex-a53 "$arm_run" "$sqnt" "$x" | sed -n 's/^isa //p')
[ "$used" = neon ] || { echo "cortex-a53: auto picked '$used', expected neon" >&2; exit 1; }
expect_refused() {  # cpu isa message
  local out rc=0
  out=$(qemu "$1" "$arm_run" --isa "$2" "$sqnt" "$x" 2>&1) || rc=$?
  if [ $rc -ne 1 ] || ! grep -qF "$3" <<<"$out"; then
    echo "-cpu $1 --isa $2: expected exit 1 and '$3', got exit $rc: $out" >&2
    exit 1
  fi
}
expect_refused cortex-a53 neondot "instruction set 'neondot' (requested) is not available: this CPU lacks it"
expect_refused max avx2 "instruction set 'avx2' (requested) is not available: this build has no x86-64 kernels"
echo "cortex-a53 (no dotprod): auto = neon, neondot refused; avx2 refused on aarch64"
echo "aarch64_models: $compared passed, 0 failed"
