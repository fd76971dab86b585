"""The trained bundled models re-exported as other tools write them (tools/zoo/reexport.py): HF GPT-2
`masked_fill` causal masks (Where), with and without GPT-2's padding `attention_mask` input, timm class tokens (Concat), per-head gates (3-D MatMul weights),
each at opsets 11, 12, 13 and 17. The export script itself checks each file against the original
under ONNX Runtime; here squint must import, evaluate and quantize them.

CI tier: every file's float evaluation equals ONNX Runtime on a few samples; the opset-17 files
quantize with default options (and vit_tiny_cls with --transform rotate) on subsets, with an
agreement floor. `full`: whole validation splits against the issue's targets (ViTs within 1.0 pt
top-1 of fp32, the LM within 2 % bits/char).
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_squint_cli import FMNIST, MODELS, PY, REPO, SANITIZED, agreement, squint  # noqa: E402

VARIANTS = ["gpt_tiny_hf", "gpt_tiny_hf_padded", "vit_tiny_cls", "vit_tiny_gated_perhead"]
OPSETS = [17, 13, 12, 11]


@pytest.fixture(scope="module")
def reexports():
    proc = subprocess.run([PY, os.path.join(REPO, "tools", "zoo", "reexport.py")], capture_output=True, text=True)
    assert proc.returncode == 0, f"tools/zoo/reexport.py failed: {proc.stderr[-3000:]}"
    sys.path.insert(0, os.path.join(REPO, "tools", "zoo"))
    import fetch
    return os.path.join(fetch.cache_dir(), "reexport")


def splits(name):
    d = os.path.join(MODELS, "gpt_tiny") if name.startswith("gpt") else FMNIST
    return tuple(os.path.join(d, f) for f in ("calib_x.npy", "val_x.npy", "val_y.npy"))


def padded(x, seed):
    """GPT-2's inputs with right padding: each row keeps 32 to 64 tokens (mask 1), the rest 0."""
    rng = np.random.default_rng(seed)
    m = np.ones_like(x, dtype=np.int64)
    for i in range(len(m)):
        m[i, rng.integers(32, 65):] = 0
    return {"input": x, "attention_mask": m}


def data(name, tmp_path):
    """(calib, val, labels) paths for `squint quantize`: the splits, or .npz with a padding mask."""
    calib, val, labels = splits(name)
    if name != "gpt_tiny_hf_padded":
        return calib, val, labels
    out = []
    for path, seed in ((calib, 1), (val, 2)):
        npz = os.path.join(tmp_path, os.path.basename(path).replace(".npy", ".npz"))
        np.savez(npz, **padded(np.load(path), seed))
        out.append(npz)
    return out[0], out[1], labels


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", VARIANTS)
def test_reexport_float_matches_onnxruntime(reexports, name, opset, tmp_path):
    import onnxruntime as ort
    path = os.path.join(reexports, f"{name}_op{opset}.onnx")
    x = np.load(splits(name)[1])[:4]
    feeds = padded(x, 3) if name == "gpt_tiny_hf_padded" else {"input": x}
    np.savez(tmp_path / "x.npz", **feeds)
    squint("run", path, "--input", str(tmp_path / "x.npz"), "--output-dir", str(tmp_path))
    got = np.load(tmp_path / "logits.npy")
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


@pytest.mark.parametrize("name,options,floor", [
    ("gpt_tiny_hf", (), 95.0),
    ("gpt_tiny_hf_padded", (), 95.0),
    ("vit_tiny_cls", (), 98.0),
    ("vit_tiny_cls", ("--transform", "rotate"), 98.0),
    ("vit_tiny_gated_perhead", (), 97.0),
])
def test_reexport_quantizes(reexports, name, options, floor, tmp_path):
    calib, val, labels = data(name, tmp_path)
    n = ("--calib-samples", "32", "--val-samples", "20") if SANITIZED else ("--calib-samples", "128", "--val-samples", "100")
    proc = squint("quantize", os.path.join(reexports, f"{name}_op17.onnx"), "-o", str(tmp_path / "m.sqnt"),
                  "--calib", calib, "--val", val, "--labels", labels, "--accumulated-only", *n, *options)
    if options:
        assert "residual stream of 64 channels" in proc.stderr  # the stream passed the class-token Concat
    if not SANITIZED:
        assert agreement(proc.stdout) >= floor
    if name == "gpt_tiny_hf_padded":
        # Two inputs with different sample counts: a clear error, nothing written.
        x = np.load(splits(name)[1])[:3]
        np.savez(tmp_path / "mismatch.npz", input=x, attention_mask=np.ones((2, 64), np.int64))
        bad = squint("run", str(tmp_path / "m.sqnt"), "--input", str(tmp_path / "mismatch.npz"), "--output-dir",
                     str(tmp_path / "none"), check=False)
        assert bad.returncode == 2 and "every input needs the same count" in bad.stderr, bad.stderr
        assert not (tmp_path / "none").exists()


@pytest.mark.full
@pytest.mark.parametrize("name", VARIANTS)
def test_reexport_whole_split_targets(reexports, name, tmp_path):
    calib, val, labels = data(name, tmp_path)
    out = squint("quantize", os.path.join(reexports, f"{name}_op17.onnx"), "-o", str(tmp_path / "m.sqnt"),
                 "--calib", calib, "--val", val, "--labels", labels, "--accumulated-only").stdout
    if name.startswith("gpt"):
        drop = float(re.search(r"bits/char [\d.]+ \(float [\d.]+, ([+-][\d.]+)%\)", out).group(1))
        assert drop <= 2.0, out
    else:
        drop = float(re.search(r"accuracy [\d.]+% \(float [\d.]+%, ([+-][\d.]+) pt\)", out).group(1))
        assert drop >= -1.0, out
