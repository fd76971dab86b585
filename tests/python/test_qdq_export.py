"""`squint export --format qdq` (issue 17) on the bundled models, checked in ONNX Runtime.

- the exported graph passes onnx.checker (full check), keeps the .sqnt's input/output names and shapes
  (float in and out, int32 ids), and is in QDQ form (every Conv/MatMul reads DequantizeLinear outputs);
- under ORT its accuracy is within 0.3 pt top-1 (gpt_tiny: 1 % bits/char) of squint's integer runtime
  on the same samples: the first 500 validation images (gpt_tiny: 64 sequences) in the CI tier, the
  whole splits under `full` (under the sanitizers, on fewer samples: top-1 agreement >= 99 % and
  bits/char within 2 %);
- a .sqnt with a batch runs any N samples in one ORT call (a Scan over its runs), equal to N calls;
- the same .sqnt gives byte-identical .onnx files; a bad .sqnt or format is exit 2 with no file.

Run alone: SQUINT_BIN=build/cli/squint .venv/bin/python -m pytest -q tests/python/test_qdq_export.py
"""
import json
import os
import subprocess

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(REPO, "tests", "data", "models")
FMNIST = os.path.join(MODELS, "fashion_mnist")
GPT = os.path.join(MODELS, "gpt_tiny")
SQUINT = os.environ.get("SQUINT_BIN", os.path.join(REPO, "build", "cli", "squint"))
SANITIZED = os.environ.get("SQUINT_SANITIZED") == "1"

# model -> (onnx path, calibration data, validation inputs, labels)
BUNDLED = {
    "cnn_small": ("cnn_small/cnn_small_op17.onnx", FMNIST),
    "vit_tiny": ("vit_tiny/vit_tiny_op17.onnx", FMNIST),
    "gpt_tiny": ("gpt_tiny/gpt_tiny_op17.onnx", GPT),
}
# Samples of the CI tier: 500 images; gpt_tiny's split has 256 sequences of 64 characters. Under the
# sanitizers (memory safety is what that build checks) fewer.
SUBSET = {"cnn_small": 500, "vit_tiny": 500, "gpt_tiny": 64}
if SANITIZED:
    SUBSET = {"cnn_small": 100, "vit_tiny": 100, "gpt_tiny": 16}


def squint(*args, check=True):
    proc = subprocess.run([SQUINT, *args], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, f"squint {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """exported(model, *quantize options) -> (sqnt path, onnx path), quantized with the defaults and exported
    once per module."""
    made = {}

    def get(model, *extra):
        key = (model, extra)
        if key not in made:
            onnx_path, data = BUNDLED[model]
            d = tmp_path_factory.mktemp(model)
            sqnt, qdq = d / "m.sqnt", d / "m_qdq.onnx"
            # --val-samples 1: quantize's own accuracy check (most of its time) on one held-out sample; the
            # .sqnt is the same as without it.
            # Under the sanitizers 64 calibration samples (the checks compare ORT with squint on the same .sqnt).
            few = ("--calib-samples", "64") if SANITIZED else ()
            squint("quantize", os.path.join(MODELS, onnx_path), "-o", str(sqnt), "--calib",
                   os.path.join(data, "calib_x.npy"), "--val-samples", "1", "--quiet", *few, *extra)
            out = squint("export", str(sqnt), "--format", "qdq", "-o", str(qdq)).stdout
            assert "wrote" in out and qdq.exists(), out
            made[key] = (sqnt, qdq)
        return made[key]
    return get


def validation(model, count):
    data = BUNDLED[model][1]
    x, y = np.load(os.path.join(data, "val_x.npy")), np.load(os.path.join(data, "val_y.npy"))
    if count:
        x, y = x[:count], y[:count]
    return (x.astype(np.int32) if x.dtype.kind == "i" else x), y


def run_squint(sqnt, x, tmp_path):
    np.save(tmp_path / "x.npy", x)
    squint("run", str(sqnt), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "out"))
    return np.load(tmp_path / "out" / "logits.npy")


def run_ort(path, x, chunk=256):
    """All samples in runs of `chunk`: a .sqnt with a batch exports with a free leading dim N."""
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + chunk]})[0] for i in range(0, len(x), chunk)])


def compute_graph(m):
    """The graph with the model's ops: the body of the Scan over the batch's runs, or the graph itself."""
    scans = [n for n in m.graph.node if n.op_type == "Scan"]
    return scans[0].attribute[0].g if scans else m.graph


def op_counts(g, ops=None):
    """Op types of a graph and its subgraphs, counted."""
    ops = {} if ops is None else ops
    for n in g.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                op_counts(a.g, ops)
    return ops


def bits_per_char(logits, y):
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return float(-np.take_along_axis(logp, y[..., None], -1).mean() / np.log(2))


def top1(logits, y):
    return float((logits.argmax(-1) == y).mean() * 100)


def run_fp32(model, x):
    """The float model under ORT (its ids are int64), for the figures printed beside the checks."""
    return run_ort(os.path.join(MODELS, BUNDLED[model][0]), x.astype(np.int64) if x.dtype.kind == "i" else x)


@pytest.mark.parametrize("split", [pytest.param("subset", id="ci"),
                                   pytest.param("whole", id="whole", marks=pytest.mark.full)])
@pytest.mark.parametrize("model", list(BUNDLED))
def test_qdq_accuracy_matches_integer_runtime(tmp_path, exported, model, split):
    sqnt, qdq = exported(model)
    x, y = validation(model, SUBSET[model] if split == "subset" or SANITIZED else 0)
    got_int, got_ort = run_squint(sqnt, x, tmp_path), run_ort(qdq, x)
    assert got_int.shape == got_ort.shape
    # The QDQ graph computes in float between the integer grids: logits within a few output steps.
    assert np.abs(got_int - got_ort).max() <= 0.1 * (got_int.max() - got_int.min()), model
    fp32 = run_fp32(model, x)
    if model == "gpt_tiny":
        b_int, b_ort = bits_per_char(got_int, y), bits_per_char(got_ort, y)
        print(f"{model} {split} ({len(x)} sequences): bits/char squint {b_int:.4f} ORT QDQ {b_ort:.4f} "
              f"fp32 {bits_per_char(fp32, y):.4f}")
        assert abs(b_ort - b_int) <= (0.02 if SANITIZED else 0.01) * b_int  # 16 windows under the sanitizers
    else:
        a_int, a_ort = top1(got_int, y), top1(got_ort, y)
        print(f"{model} {split} ({len(x)} images): top-1 squint {a_int:.2f}% ORT QDQ {a_ort:.2f}% fp32 {top1(fp32, y):.2f}%")
        # Under the sanitizers, on 100 images (one image is 1 pt), the agreement is checked; the release
        # build's run asserts the accuracy target.
        if not SANITIZED:
            assert abs(a_ort - a_int) <= 0.3
        assert (got_int.argmax(-1) == got_ort.argmax(-1)).mean() >= 0.99


def sqnt_io(sqnt):
    """(name, ORT shape, ORT type) of the inputs and outputs: a .sqnt with a batch leads with the free dim N."""
    info = json.loads(squint("inspect", str(sqnt), "--json").stdout)
    io = {"input": [], "output": []}
    for t in info["tensors"]:
        if t["role"] in io:
            shape = [int(d) for d in t["shape"].split("x")]
            if info["batch"]:
                shape[0] = "N"
            io[t["role"]].append((t["name"], shape, "tensor(int32)" if t["type"] == "int32" else "tensor(float)"))
    return io


@pytest.mark.parametrize("model", list(BUNDLED))
def test_qdq_model_is_checked_qdq_onnx_with_the_sqnt_io(exported, model):
    sqnt, qdq = exported(model)
    m = onnx.load(str(qdq))
    onnx.checker.check_model(m, full_check=True)
    s = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
    io = sqnt_io(sqnt)
    assert [(i.name, i.shape, i.type) for i in s.get_inputs()] == io["input"]
    assert [(o.name, o.shape, o.type) for o in s.get_outputs()] == io["output"]
    # QDQ form: every Conv and MatMul reads dequantized values (weights: int8 codes initializers).
    g = compute_graph(m)
    producer = {o: n for n in g.node for o in n.output}
    inits = {i.name: i for i in g.initializer}
    compute = [n for n in g.node if n.op_type in ("Conv", "MatMul")]
    assert compute
    for n in compute:
        for i in n.input[:2]:
            p = producer[i]
            if p.op_type == "Transpose":  # group-scaled weights are dequantized [N, K], then transposed
                p = producer[p.input[0]]
            assert p.op_type in ("DequantizeLinear", "Reshape", "Gather"), (n.name, i, p.op_type)
    weights = [inits[n.input[0]] for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    assert any(w.data_type == onnx.TensorProto.INT8 and len(w.dims) >= 2 for w in weights)


# ORT recognizes the QDQ form: its graph optimizer turns DequantizeLinear → op → QuantizeLinear groups into
# integer kernels (QLinearConv, QGemm, QLinearMatMul, MatMulIntegerToFloat, QLinearSoftmax, ...).
FUSED = {"QLinearConv", "QGemm", "QLinearMatMul", "MatMulIntegerToFloat", "QLinearSoftmax", "QLinearAveragePool",
         "QLinearAdd", "QLinearMul"}


@pytest.mark.parametrize("model,expect", [("cnn_small", {"QLinearConv", "QGemm"}),
                                          ("vit_tiny", {"MatMulIntegerToFloat", "QLinearMatMul", "QLinearSoftmax"}),
                                          ("gpt_tiny", {"MatMulIntegerToFloat", "QLinearMatMul"})])
def test_ort_fuses_the_qdq_graph(tmp_path, exported, model, expect):
    _, qdq = exported(model)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(qdq), so, providers=["CPUExecutionProvider"])
    ops = op_counts(onnx.load(so.optimized_model_filepath).graph)  # the Scan body's ops too
    print(model, "fused by ORT:", {k: v for k, v in ops.items() if k in FUSED})
    assert expect <= set(ops), ops


def test_qdq_export_is_deterministic(tmp_path, exported):
    sqnt, qdq = exported("vit_tiny")
    squint("export", str(sqnt), "--format", "qdq", "-o", str(tmp_path / "again.onnx"))
    assert (tmp_path / "again.onnx").read_bytes() == qdq.read_bytes()


def test_qdq_export_errors(tmp_path, exported):
    sqnt, _ = exported("cnn_small")
    out = tmp_path / "out.onnx"
    bad = tmp_path / "bad.sqnt"
    data = sqnt.read_bytes()
    for name, content in [("truncated", data[: len(data) // 2]), ("garbage", b"SQNT" * 64)]:
        bad.write_bytes(content)
        proc = squint("export", str(bad), "--format", "qdq", "-o", str(out), check=False)
        assert proc.returncode == 2, (name, proc.stderr)
        assert "squint: error:" in proc.stderr and str(bad) in proc.stderr, proc.stderr
        assert not out.exists() and not list(tmp_path.glob("out.onnx*")), name
    proc = squint("export", str(sqnt), "--format", "tflite", "-o", str(out), check=False)
    assert proc.returncode == 2 and "--format 'tflite'" in proc.stderr and not out.exists(), proc.stderr
    help_text = squint("export", "--help").stdout
    assert "QuantizeLinear" in help_text and "LayerNormalization" in help_text


def test_qdq_export_of_corrupted_files_fails_cleanly(tmp_path, exported):
    """Random byte changes to a .sqnt (seeded): the runtime's checks refuse the file (exit 2, no output) or the
    export succeeds; never a crash or an internal error."""
    import random
    sqnt, _ = exported("vit_tiny")
    data = sqnt.read_bytes()
    rng = random.Random(17)
    bad, out = tmp_path / "bad.sqnt", tmp_path / "out.onnx"
    codes = {}
    for _ in range(8 if SANITIZED else 40):
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):  # mostly the tables and options at the front, some weights
            b[rng.randrange(len(b) // 4 if rng.random() < 0.7 else len(b))] = rng.randrange(256)
        bad.write_bytes(bytes(b))
        out.unlink(missing_ok=True)
        proc = squint("export", str(bad), "--format", "qdq", "-o", str(out), check=False)
        codes[proc.returncode] = codes.get(proc.returncode, 0) + 1
        assert proc.returncode in (0, 2), proc.stderr
        assert out.exists() == (proc.returncode == 0), proc.stderr
    assert codes.get(2, 0) > 0, codes


def test_qdq_export_of_squint_specific_grids(tmp_path, exported):
    """int4 group-scaled weights, a log2 softmax grid and int16 LayerNorm activations (ORT's com.microsoft
    int16 QuantizeLinear/DequantizeLinear, REQUANTIZE) export too, and ORT follows squint's integer runtime."""
    opts = ("--weight-bits", "4", "--group-size", "32", "--softmax-quant", "log2", "--softmax-bits", "4",
            "--a16", "LayerNormalization")
    sqnt, qdq = exported("vit_tiny", *opts)
    m = onnx.load(str(qdq))
    onnx.checker.check_model(m, full_check=True)
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 17), ("com.microsoft", 1)]
    g = compute_graph(m)
    int16 = [n for n in g.node if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.domain]
    assert int16 and all(n.domain == "com.microsoft" for n in int16)
    ops = {n.op_type for n in g.node}
    assert {"LayerNormalization", "Softmax", "Less", "ReduceSum", "Gather"} <= ops, ops
    x, y = validation("vit_tiny", 64 if SANITIZED else 200)  # >= 0.97: at most 1 of 64 differs under the sanitizers
    got_int, got_ort = run_squint(sqnt, x, tmp_path), run_ort(qdq, x)
    agree = (got_int.argmax(-1) == got_ort.argmax(-1)).mean()
    print(f"vit_tiny {' '.join(opts)}: top-1 squint {top1(got_int, y):.2f}% ORT QDQ {top1(got_ort, y):.2f}%, "
          f"agreement {agree:.3f}")
    assert agree >= 0.97


@pytest.mark.parametrize("model", ["vit_tiny", "gpt_tiny"])
def test_qdq_export_runs_any_batch(tmp_path, exported, model):
    """A .sqnt with a batch exports as a Scan over its runs: one ORT call on N samples (float images, int32
    ids) gives exactly the per-sample calls' results."""
    _, qdq = exported(model)
    x, _ = validation(model, 7)
    s = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    whole = s.run(None, {name: x})[0]
    one_by_one = np.concatenate([s.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])
    assert whole.shape[0] == 7 and np.array_equal(whole, one_by_one)
