"""Graphs of 10^5 nodes through the CLI (`--full` tier): `squint inspect` and `squint run` on a
200,000-node chain, and `squint quantize` / `run` / `inspect` of the .sqnt on a 50,000-node chain.

Chains come from tools/make_chain_model.py, generated into tmp_path (never committed). Outputs are
checked against a NumPy interpretation of the ONNX graph (ONNX Runtime takes minutes to load
200k nodes; the NumPy reference is checked against it on a short chain). No wall-clock asserts:
bench/graph_scaling.py measures speed; the subprocess timeout only turns a quadratic regression
into a failure instead of a hang.
Run alone: SQUINT_BIN=build/cli/squint .venv/bin/python -m pytest -q tests/python/test_large_graphs.py -m full
"""
import importlib.util
import json
import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SQUINT = os.environ.get("SQUINT_BIN", os.path.join(REPO, "build", "cli", "squint"))
TIMEOUT = 120  # seconds; the release build needs a few (docs/benchmarks.md, graph scaling)
OPS = ("add", "mul", "relu", "matmul", "linear", "identity")

pytestmark = pytest.mark.full

_spec = importlib.util.spec_from_file_location("make_chain_model", os.path.join(REPO, "tools", "make_chain_model.py"))
chain = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chain)


def squint(*args):
    proc = subprocess.run([SQUINT, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, f"squint {' '.join(map(str, args))}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc


def reference(model, x):
    """Evaluates the chain's ops with NumPy, node by node."""
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    values = {"x": x}
    ops = {
        "Add": lambda a, b: a + b,
        "Mul": lambda a, b: a * b,
        "MatMul": lambda a, b: a @ b,
        "Relu": lambda a: np.maximum(a, np.float32(0)),
        "Identity": lambda a: a,
    }
    for n in model.graph.node:
        args = [values[i] if i in values else consts[i] for i in n.input]
        values[n.output[0]] = ops[n.op_type](*args).astype(np.float32)
    return values["y"]


def canonical_ops(model):
    """Op counts after squint's canonicalization, derived from the ONNX graph: every MatMul (constant
    weight) becomes a Linear that absorbs an Add reading it (constant bias); Identity nodes go."""
    producer = {o: n.op_type for n in model.graph.node for o in n.output}
    counts = {}
    for n in model.graph.node:
        op = {"MatMul": "Linear", "Identity": None}.get(n.op_type, n.op_type)
        if op == "Add" and producer.get(n.input[0]) == "MatMul":
            op = None
        if op:
            counts[op] = counts.get(op, 0) + 1
    return counts


def run(model_path, x, out_dir):
    np.save(out_dir / "x.npy", x)
    squint("run", model_path, "--input", f"x={out_dir / 'x.npy'}", "--output-dir", out_dir)
    return np.load(out_dir / "y.npy")


def test_numpy_reference_agrees_with_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    model = chain.make_chain(2000, OPS)
    x = np.array([[1.5, -2.0, 3.25, -0.5]], np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(reference(model, x), sess.run(None, {"x": x})[0], rtol=1e-6, atol=1e-6)


def test_inspect_and_run_a_200k_node_chain(tmp_path):
    nodes = 200_000
    model = chain.make_chain(nodes, OPS)
    path = tmp_path / "chain.onnx"
    onnx.save(model, path)

    summary = json.loads(squint("inspect", path, "--json").stdout)
    assert {name: op["count"] for name, op in summary["ops"].items()} == canonical_ops(model)
    assert summary["outputs"][0]["name"] == "y" and summary["outputs"][0]["shape"] == "1x4"

    x = np.array([[1.5, -2.0, 3.25, -0.5]], np.float32)
    np.testing.assert_allclose(run(path, x, tmp_path), reference(model, x), rtol=1e-6, atol=1e-6)


def test_quantize_and_run_a_50k_node_chain(tmp_path):
    model = chain.make_chain(50_000, OPS)
    path = tmp_path / "chain.onnx"
    onnx.save(model, path)
    rng = np.random.default_rng(3)
    np.save(tmp_path / "calib.npy", rng.uniform(-2, 2, (16, 4)).astype(np.float32))
    sqnt = tmp_path / "chain.sqnt"
    squint("quantize", path, "-o", sqnt, "--calib", tmp_path / "calib.npy")

    summary = json.loads(squint("inspect", sqnt, "--json").stdout)
    assert len(summary["ops"]) == sum(canonical_ops(model).values())  # one runtime op per node
    x = rng.uniform(-2, 2, (1, 4)).astype(np.float32)
    got, want = run(sqnt, x, tmp_path), reference(model, x)
    sqnr = 10 * np.log10(np.sum(want.astype(np.float64) ** 2) / max(np.sum((got - want).astype(np.float64) ** 2), 1e-30))
    # Measured 2026-12-05: 45.7 dB (rounding along 36k integer ops); a broken link gives about 0 dB.
    assert sqnr > 30, f"integer output {got} vs float {want}: {sqnr:.1f} dB"
