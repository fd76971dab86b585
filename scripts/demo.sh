#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, builds squint, inspects the
# bundled Vision Transformer and checks squint's float evaluator against ONNX Runtime on
# its validation images.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" release >/dev/null
squint="$root/build/cli/squint"
model="$root/tests/data/models/vit_tiny/vit_tiny_op17.onnx"
data="$root/tests/data/models/fashion_mnist"

echo "== squint inspect $(realpath --relative-to="$root" "$model")"
"$squint" inspect "$model"
echo
echo "== float evaluator vs ONNX Runtime on 500 validation images"
"$root/.venv/bin/python" "$root/tools/ort_crosscheck.py" --squint "$squint" --model "$model" \
  --data "$data/val_x.npy" --labels "$data/val_y.npy" --count 500
