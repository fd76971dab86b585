#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, builds squint, quantizes the
# bundled Vision Transformer to an integer .sqnt model, runs it on the integer runtime side by
# side with the float model and prints the accuracy check; then checks the float evaluator
# against ONNX Runtime.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" release >/dev/null
squint="$root/build/cli/squint"
model="$root/tests/data/models/vit_tiny/vit_tiny_op17.onnx"
data="$root/tests/data/models/fashion_mnist"
out="$root/build/vit_tiny.sqnt"

echo "== squint inspect (batch 1)"
"$squint" inspect "$model" --input-shape input=1x1x28x28
echo
echo "== squint quantize: 512 calibration images, integer runtime vs float on 2000 validation images"
"$squint" quantize "$model" -o "$out" --calib "$data/calib_x.npy" --val "$data/val_x.npy" --labels "$data/val_y.npy"
echo
echo "== float evaluator vs ONNX Runtime on 500 validation images"
"$root/.venv/bin/python" "$root/tools/ort_crosscheck.py" --squint "$squint" --model "$model" \
  --data "$data/val_x.npy" --labels "$data/val_y.npy" --count 500
