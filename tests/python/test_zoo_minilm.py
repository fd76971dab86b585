"""all-MiniLM-L6-v2, a real pretrained model as users export it (tools/zoo/minilm.py: HF BERT with the
attention-mask input, mean pooling and L2 normalization in the graph, from the pinned PyPI wheel).

CI tier: the float evaluator equals ONNX Runtime, and `squint quantize` with default options turns
the model into a fully integer .sqnt that runs on N samples, on a handful of sentences. The whole
validation split (300 sentences) is in the `full` tier.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_squint_cli import PY, REPO, SANITIZED, SQUINT, squint  # noqa: E402

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    proc = subprocess.run([PY, os.path.join(REPO, "tools", "zoo", "minilm.py")], capture_output=True, text=True)
    assert proc.returncode == 0, f"tools/zoo/minilm.py failed: {proc.stderr[-2000:]}"
    sys.path.insert(0, os.path.join(REPO, "tools", "zoo"))
    import fetch
    d = os.path.join(fetch.cache_dir(), "minilm")
    tmp = tmp_path_factory.mktemp("minilm")
    val = np.load(os.path.join(d, "val.npz"))
    small, one = os.path.join(tmp, "val5.npz"), os.path.join(tmp, "val1.npz")
    np.savez(small, **{k: val[k][:5] for k in INPUTS})
    np.savez(one, **{k: val[k][:1] for k in INPUTS})
    return {"dir": d, "onnx": os.path.join(d, "minilm_l6_op17.onnx"), "small": small, "one": one, "tmp": tmp,
            "ref": np.load(os.path.join(d, "val_ref.npy"))}


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("opset", [17, 12, 11])
def test_minilm_float_evaluator_matches_onnxruntime(minilm, opset):
    import onnxruntime as ort
    model = os.path.join(minilm["dir"], f"minilm_l6_op{opset}.onnx")
    out = os.path.join(minilm["tmp"], f"float{opset}")
    squint("run", model, "--input", minilm["small"], "--output-dir", out)
    got = np.load(os.path.join(out, "embedding.npy"))
    x = np.load(minilm["small"])
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    want = sess.run(None, {k: x[k] for k in INPUTS})[0]
    assert got.shape == want.shape == (5, 384)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_minilm_quantizes_fully_integer_and_runs_n_samples(minilm):
    sqnt = os.path.join(minilm["tmp"], "m.sqnt")
    n = ("--calib-samples", "4", "--val-samples", "2") if SANITIZED else ("--calib-samples", "16", "--val-samples", "5")
    proc = squint("quantize", minilm["onnx"], "-o", sqnt, "--calib", os.path.join(minilm["dir"], "calib.npz"),
                  "--val", minilm["small"], "--accumulated-only", *n)
    # The sequence length is bound from the data, and the mask never becomes an activation.
    assert "input 'attention_mask' batch_sizexsequence_length: bound to 1x64 from the data" in proc.stderr
    assert "cosine" in proc.stdout
    insp = squint("inspect", sqnt).stdout
    assert "MEAN" in insp and "SOFTMAX" in insp
    out = os.path.join(minilm["tmp"], "int")
    squint("run", sqnt, "--input", minilm["small"], "--output-dir", out)
    got = np.load(os.path.join(out, "embedding.npy"))
    assert got.shape == (5, 384)
    # Every instruction set gives the reference kernels' codes (MEAN, the int32 keep masks and the
    # int32 reshapes stay on the reference; the rest takes the fast paths), on one thread and on
    # two (the GEMMs' rows, the LayerNorms' rows and the ADDs' and GELU LUTs' elements split).
    # Under the sanitizers on one sentence: the reference kernels take 2 s a sentence there.
    codes = {}
    inputs = minilm["one"] if SANITIZED else minilm["small"]
    for isa, threads in (("reference", 1), ("avx2", 1), ("avx512vnni", 1), ("avx2", 2), ("avx512vnni", 2)):
        d = os.path.join(minilm["tmp"], f"codes_{isa}_{threads}")
        proc = subprocess.run([SQUINT, "run", sqnt, "--input", inputs, "--output-dir", d, "--codes",
                               "--threads", str(threads)],
                              capture_output=True, text=True, env={**os.environ, "SQUINT_ISA": isa})
        if "is not available: this CPU lacks it" in proc.stderr:
            continue  # an instruction set this machine lacks cannot be compared here
        assert proc.returncode == 0, proc.stderr
        codes[isa if threads == 1 else f"{isa} {threads} threads"] = np.load(os.path.join(d, "embedding.codes.npy"))
    assert "reference" in codes and len(codes) >= 2
    for isa, c in codes.items():
        assert np.array_equal(c, codes["reference"]), isa
    # A floor that catches a broken lowering (a random embedding scores ~0), not the target:
    # default W8A8 measures 0.83 mean cosine on the whole split (docs/benchmarks.md).
    assert cosines(got, minilm["ref"][:5]).mean() > 0.6


@pytest.mark.full
@pytest.mark.parametrize("options,floor", [((), 0.80), (("--a16", "LayerNormalization"), 0.92)])
def test_minilm_whole_split_cosine(minilm, options, floor):
    sqnt = os.path.join(minilm["tmp"], "w.sqnt")
    val = os.path.join(minilm["dir"], "val.npz")
    squint("quantize", minilm["onnx"], "-o", sqnt, "--calib", os.path.join(minilm["dir"], "calib.npz"), "--val", val,
           "--accumulated-only", *options)
    out = os.path.join(minilm["tmp"], "w")
    squint("run", sqnt, "--input", val, "--output-dir", out)
    cos = cosines(np.load(os.path.join(out, "embedding.npy")), minilm["ref"])
    assert cos.shape == (300,)
    assert cos.mean() >= floor, f"mean cosine {cos.mean():.4f} < {floor}"
