"""What the ablation scripts (bench/*_ablation.py) share: the bundled models with their data, and
running squint where exit code 2 (invalid input / unsupported) is a fact about a combination."""
import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
M = os.path.join(REPO, "tests", "data", "models")
FM = os.path.join(M, "fashion_mnist")
# model -> (ONNX file under M, folder with calib_x.npy, val_x.npy, val_y.npy)
DATA = {
    "vit_tiny": ("vit_tiny/vit_tiny_op17.onnx", FM),
    "vit_tiny_clipped": ("vit_tiny_clipped/vit_tiny_clipped_op17.onnx", FM),
    "vit_tiny_gated": ("vit_tiny_gated/vit_tiny_gated_op17.onnx", FM),
    "gpt_tiny": ("gpt_tiny/gpt_tiny_op17.onnx", os.path.join(M, "gpt_tiny")),
    "cnn_small": ("cnn_small/cnn_small_op17.onnx", FM),
}


class Refused(Exception):
    """squint exited with 2: the combination is refused, with squint's last stderr line."""


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode == 2:
        raise Refused((p.stderr.strip().splitlines() or ["exit 2"])[-1])
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p


def db(v):
    """An SQNR from squint report --json ("inf" for an exact layer)."""
    return float("inf") if v == "inf" else float(v)
