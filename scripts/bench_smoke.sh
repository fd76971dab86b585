#!/usr/bin/env bash
# Smoke runs of the benchmarks (part of scripts/test.sh --full): each benchmark driver runs once on
# a small setting, so that a benchmark that no longer builds, starts or parses its tools' output is
# found before someone needs its figures. The figures printed here are not measurements (too short,
# and the machine is busy with the tests); docs/benchmarks.md records real runs with their commands.
# Usage: scripts/bench_smoke.sh [BUILD_DIR]   (a release build configured with --bench; default build/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
py="$root/.venv/bin/python"
models="$root/tests/data/models"
fm="$models/fashion_mnist"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" - "$fm/calib_x.npy" "$tmp/calib.npy" <<'PY'
import sys, numpy as np
np.save(sys.argv[2], np.load(sys.argv[1])[:32])
PY
run() { echo "-- $*"; "$@"; }
run "$build/bench/squint_kernels_bench" --benchmark_min_time=0.01 >/dev/null
run "$py" "$root/bench/hadamard_cost.py" --bench "$build/bench/squint_kernels_bench" --min-time 0.01
run "$py" "$root/bench/eval_vs_ort.py" --bench "$build/bench/squint_eval_bench" \
  "$models/vit_tiny/vit_tiny_op17.onnx:$fm/val_x.npy"
run "$py" "$root/bench/runtime_vs_ort.py" --squint "$build/cli/squint" --bench "$build/bench/squint_runtime_bench" \
  --calib "$tmp/calib.npy" --data "$fm/val_x.npy" --rounds 1 --seconds 0.1 "$models/cnn_small/cnn_small_op17.onnx"
run "$py" "$root/bench/quantize_vs_ort.py" --squint "$build/cli/squint" --calib "$tmp/calib.npy" --val "$fm/val_x.npy" \
  --rounds 1 "$models/cnn_small/cnn_small_op17.onnx"
run "$py" "$root/bench/zoo_minilm_vs_ort.py" --squint "$build/cli/squint" --calib 16 --val 12 --configs 1
# Graph-size scaling: the gate (log-log slope of time against nodes; quadratic code measured 2.4) is
# looser than bench/graph_scaling.py's default because one repeat on a busy machine is noisy.
run "$py" "$root/bench/graph_scaling.py" --squint "$build/cli/squint" --sizes 10000,25000,50000,100000 --repeat 1 \
  --quantize-max 50000 --max-slope 1.8
echo "bench_smoke: every benchmark ran"
