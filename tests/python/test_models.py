"""Checks the committed test-model zoo (tests/data/models/): every model loads in ONNX Runtime,
reproduces the metric recorded in its meta.json on the validation split (accuracy within 0.1 point,
bits per character within 0.1% relative), and its opset 13 and opset 17 exports agree.

Run: .venv/bin/python -m pytest tests/python/test_models.py -q     (about half a minute)
"""
import collections
import json
import os
import sys

import numpy as np
import onnx
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "models"))
import common as C  # noqa: E402

MODELS = ["vit_tiny", "vit_tiny_clipped", "vit_tiny_gated", "cnn_small", "gpt_tiny"]


def meta(name):
    with open(os.path.join(C.MODELS_DIR, name, "meta.json")) as f:
        return json.load(f)


def within(family, got, want):
    if family == "fashion_mnist":
        return abs(got - want) <= 0.1
    return abs(got - want) <= 1e-3 * want


@pytest.fixture(scope="module")
def splits():
    out = {}
    for fam in ("fashion_mnist", "gpt_tiny"):
        out[fam] = {k: C.load_split(fam, k) for k in ("calib_x", "calib_y", "val_x", "val_y")}
    return out


def test_split_shapes(splits):
    f = splits["fashion_mnist"]
    assert f["calib_x"].shape == (512, 1, 28, 28) and f["calib_x"].dtype == np.float32
    assert f["val_x"].shape == (2000, 1, 28, 28) and f["val_x"].dtype == np.float32
    assert f["calib_y"].shape == (512,) and f["val_y"].shape == (2000,)
    assert set(np.unique(f["val_y"])) == set(range(10))
    g = splits["gpt_tiny"]
    assert g["calib_x"].shape == (512, 64) and g["calib_x"].dtype == np.int64
    assert g["val_x"].shape == (256, 64) and g["val_y"].shape == (256, 64)
    assert (g["val_x"][:, 1:] == g["val_y"][:, :-1]).all()


@pytest.mark.parametrize("name", MODELS)
def test_model(name, splits):
    m = meta(name)
    fam = C.FAMILY[name]
    x, y = splits[fam]["val_x"], splits[fam]["val_y"]
    logits = {}
    for key, info in m["files"].items():
        path = os.path.join(REPO, info["path"])
        model = onnx.load(path)
        onnx.checker.check_model(model)
        assert model.opset_import[0].version == info["opset"]
        assert [i.name for i in model.graph.input] == ["input"]
        assert [o.name for o in model.graph.output] == ["logits"]
        assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param, "batch must be dynamic"
        ops = collections.Counter(n.op_type for n in model.graph.node)
        if key == "bn_op13":
            assert ops["BatchNormalization"] > 0
        if name != "cnn_small":
            assert ops["Softmax"] > 0 and ops["MatMul"] > 0
            assert (ops["LayerNormalization"] > 0) == (info["opset"] >= 17)
        logits[key] = C.ort_logits(C.ort_session(path, threads=1), x)
        got = C.metric_from_logits(fam, logits[key], y)
        assert within(fam, got, m["metrics"]["value"]), (key, got, m["metrics"]["value"])
    # opset 13 and 17 (and the unfolded-BN export) compute the same function
    ref = logits["op13"]
    for key, lg in logits.items():
        np.testing.assert_allclose(lg, ref, rtol=0, atol=1e-3 * max(1.0, np.abs(ref).max()))
        if fam == "fashion_mnist":
            assert np.mean(lg.argmax(1) == ref.argmax(1)) >= 0.999
    # batch is dynamic: batch 1 gives the same logits as the batched run
    sess = C.ort_session(os.path.join(REPO, m["files"]["op17"]["path"]))
    one = sess.run(["logits"], {"input": x[:1]})[0]
    np.testing.assert_allclose(one, ref[:1], rtol=0, atol=1e-4 * max(1.0, np.abs(ref).max()))


def test_recorded_metadata():
    for name in MODELS:
        m = meta(name)
        assert m["parameters"] > 0 and m["training"]["command"].startswith(".venv/bin/python")
        assert m["io"]["input"]["name"] == "input" and m["io"]["output"]["name"] == "logits"
        if C.FAMILY[name] == "fashion_mnist":
            assert m["normalization"]["mean"] == C.FMNIST_MEAN
            assert m["normalization"]["std"] == C.FMNIST_STD
