"""`squint report`: per-layer error of a .sqnt model against its float model, end to end and alone.

Checked against an independent computation where one exists (the output error from `squint run`
of both models, the accuracy `squint quantize` prints on the same samples), and against the
definition of the isolated error (the first layer sees the same quantized input either way).
Run alone: SQUINT_BIN=build/cli/squint .venv/bin/python -m pytest tests/python/test_squint_report.py -q
"""
import json
import math
import os
import re
import subprocess

import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(REPO, "tests", "data", "models")
FMNIST = os.path.join(MODELS, "fashion_mnist")
GPT = os.path.join(MODELS, "gpt_tiny")
SQUINT = os.environ.get("SQUINT_BIN", os.path.join(REPO, "build", "cli", "squint"))
CNN = os.path.join(MODELS, "cnn_small", "cnn_small_op17.onnx")
VIT = os.path.join(MODELS, "vit_tiny", "vit_tiny_op17.onnx")
SAMPLES = 48


def squint(*args, code=0):
    proc = subprocess.run([SQUINT, *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == code, f"squint {' '.join(map(str, args))}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc


def sqnr(v):
    return math.inf if v == "inf" else v


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    d = tmp_path_factory.mktemp("cnn")
    out = squint("quantize", CNN, "-o", d / "c.sqnt", "--calib", os.path.join(FMNIST, "calib_x.npy"),
                 "--calib-samples", 128, "--val", os.path.join(FMNIST, "val_x.npy"), "--labels",
                 os.path.join(FMNIST, "val_y.npy"), "--val-samples", SAMPLES).stdout
    return d, out


def test_report_every_layer_end_to_end_and_alone(cnn):
    d, quantize_out = cnn
    proc = squint("report", CNN, d / "c.sqnt", "--data", os.path.join(FMNIST, "val_x.npy"), "--labels",
                  os.path.join(FMNIST, "val_y.npy"), "--samples", SAMPLES, "--json", d / "r.json")
    r = json.loads((d / "r.json").read_text())
    assert r["samples"] == SAMPLES
    # The same samples give the accuracy `squint quantize` printed.
    m = re.search(r"accuracy ([\d.]+)% \(float ([\d.]+)%", quantize_out)
    assert m, quantize_out
    assert r["accuracy"] == pytest.approx(float(m.group(1)), abs=0.005)
    assert r["float_accuracy"] == pytest.approx(float(m.group(2)), abs=0.005)
    layers = r["layers"]
    ops = [l["op"] for l in layers]
    assert ops.count("CONV_2D") == 6 and "FULLY_CONNECTED" in ops and "AVERAGE_POOL_2D" in ops, ops
    for l in layers:
        for kind in ("accumulated", "isolated"):
            e = l[kind]
            assert e is not None, (l["node"], kind)
            assert set(e) == {"sqnr_db", "cosine", "max_abs", "rel_l2"}
            assert 0.0 < e["cosine"] <= 1.0 + 1e-9 and e["max_abs"] >= 0 and e["rel_l2"] >= 0
            if e["rel_l2"] > 0:  # SQNR and relative L2 describe the same ratio
                assert sqnr(e["sqnr_db"]) == pytest.approx(-20 * math.log10(e["rel_l2"]), abs=1e-6)
    # The first layer reads the model input: alone or end to end, it sees the same codes.
    assert layers[0]["index"] == 0
    assert layers[0]["isolated"] == layers[0]["accumulated"]
    # Deeper layers carry their predecessors' error end to end, not alone.
    assert layers[-1]["isolated"]["sqnr_db"] > layers[-1]["accumulated"]["sqnr_db"]
    assert np.median([sqnr(l["isolated"]["sqnr_db"]) for l in layers]) > \
        np.median([sqnr(l["accumulated"]["sqnr_db"]) for l in layers])
    # Text: both halves of the table, one row per layer.
    assert "end to end (accumulated)" in proc.stdout and "layer alone (isolated)" in proc.stdout
    assert sum(1 for line in proc.stdout.splitlines() if re.match(r"\s+\d+\s+[A-Z_0-9]+\s", line)) == len(layers)


def test_report_output_error_matches_squint_run(cnn, tmp_path):
    d, _ = cnn
    x = np.load(os.path.join(FMNIST, "val_x.npy"))[:3]
    np.save(tmp_path / "x.npy", x)
    squint("report", CNN, d / "c.sqnt", "--data", tmp_path / "x.npy", "--json", tmp_path / "r.json")
    squint("run", CNN, "--input", f"input={tmp_path / 'x.npy'}", "--output-dir", tmp_path / "f")
    squint("run", d / "c.sqnt", "--input", f"input={tmp_path / 'x.npy'}", "--output-dir", tmp_path / "q")
    ref = np.load(tmp_path / "f" / "logits.npy").astype(np.float64)
    q = np.load(tmp_path / "q" / "logits.npy").astype(np.float64)
    out = json.loads((tmp_path / "r.json").read_text())["outputs"][0]
    assert out["name"] == "logits"
    e = out["accumulated"]
    assert e["max_abs"] == pytest.approx(np.abs(ref - q).max(), rel=1e-5)
    assert e["rel_l2"] == pytest.approx(np.linalg.norm(ref - q) / np.linalg.norm(ref), rel=1e-5)
    assert e["cosine"] == pytest.approx(ref.ravel() @ q.ravel() / np.linalg.norm(ref) / np.linalg.norm(q), rel=1e-6)
    # The row cosine: the mean over samples of each logits row's cosine (the measure for embeddings).
    rows = [a @ b / np.linalg.norm(a) / np.linalg.norm(b) for a, b in zip(ref, q)]
    assert json.loads((tmp_path / "r.json").read_text())["row_cosine"] == pytest.approx(np.mean(rows), rel=1e-6)


@pytest.mark.parametrize("order", ["graph", "accumulated", "isolated"])
def test_report_sort_orders(cnn, order):
    d, _ = cnn
    p = d / f"{order}.json"
    squint("report", CNN, d / "c.sqnt", "--data", os.path.join(FMNIST, "val_x.npy"), "--samples", 8, "--sort",
           order, "--json", p)
    layers = json.loads(p.read_text())["layers"]
    key = {"graph": lambda l: l["index"], "accumulated": lambda l: sqnr(l["accumulated"]["sqnr_db"]),
           "isolated": lambda l: sqnr(l["isolated"]["sqnr_db"])}[order]
    values = [key(l) for l in layers]
    assert values == sorted(values)


def test_report_integer_inputs_and_int16_borders(tmp_path):
    # gpt_tiny: token ids (integer input, Gather), causal softmax, and with --a16 REQUANTIZE ops
    # at the int16 borders: those stand for their input's float value, so they are measured too.
    squint("quantize", os.path.join(GPT, "gpt_tiny_op17.onnx"), "-o", tmp_path / "g.sqnt", "--calib",
           os.path.join(GPT, "calib_x.npy"), "--calib-samples", 16, "--val-samples", 1, "--a16", "LayerNormalization")
    squint("report", os.path.join(GPT, "gpt_tiny_op17.onnx"), tmp_path / "g.sqnt", "--data",
           os.path.join(GPT, "val_x.npy"), "--labels", os.path.join(GPT, "val_y.npy"), "--samples", 3, "--json",
           tmp_path / "r.json")
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["bits_per_char"] > 0 and r["float_bits_per_char"] > 0
    ops = {l["op"] for l in r["layers"]}
    assert {"GATHER", "SOFTMAX", "LAYER_NORM", "REQUANTIZE", "BATCH_MATMUL"} <= ops, ops
    assert all(l["isolated"] is not None for l in r["layers"] if l["op"] != "GATHER" or l["index"] > 0)


def test_report_bad_input(cnn, tmp_path):
    d, _ = cnn
    x = os.path.join(FMNIST, "val_x.npy")
    p = squint("report", CNN, d / "c.sqnt", "--data", x, "--sort", "worst", code=2)
    assert "--sort" in p.stderr
    p = squint("report", CNN, tmp_path / "missing.sqnt", "--data", x, code=2)
    assert "missing.sqnt" in p.stderr
    (tmp_path / "bad.sqnt").write_bytes((d / "c.sqnt").read_bytes()[:300])
    p = squint("report", CNN, tmp_path / "bad.sqnt", "--data", x, code=2)
    assert "bad.sqnt" in p.stderr
    # Data of another model: the error names the input and the shapes.
    p = squint("report", CNN, d / "c.sqnt", "--data", os.path.join(GPT, "val_x.npy"), code=2)
    assert "input" in p.stderr
    # A .sqnt of another model (its head layer even has the same name and shape): refused; with
    # --ignore-source, compared by name (warned).
    squint("quantize", VIT, "-o", tmp_path / "v.sqnt", "--calib", x, "--calib-samples", 16, "--val-samples", 1)
    p = squint("report", CNN, tmp_path / "v.sqnt", "--data", x, "--samples", 2, code=2)
    assert "quantized from another file" in p.stderr and "--ignore-source" in p.stderr
    p = squint("report", CNN, tmp_path / "v.sqnt", "--data", x, "--samples", 2, "--ignore-source")
    assert "warning" in p.stderr and "/head/Gemm" in p.stdout
    # Image flags for array data are a mistake, not silently ignored.
    p = squint("report", CNN, d / "c.sqnt", "--data", x, "--mean", "0.5", code=2)
    assert "--mean" in p.stderr and "image" in p.stderr
    # JSON into a missing folder: exit 2, nothing written.
    p = squint("report", CNN, d / "c.sqnt", "--data", x, "--samples", 2, "--json", tmp_path / "no" / "r.json", code=2)
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("grid,bits", [("log2", 4), ("sulq", 8)])
def test_report_log_grid_softmax(tmp_path, grid, bits):
    # Log-grid probabilities (log2: 2^-k and 0xFF for 0; sulq: 2^e - eta) are dequantized as such,
    # and the P·V that reads them is measured alone too: the float probabilities are coded by the
    # kernel's rounding. 8-bit SULQ has 255 codes (bytes up to 254) in an int8 tensor.
    x = os.path.join(FMNIST, "val_x.npy")
    squint("quantize", VIT, "-o", tmp_path / "l.sqnt", "--calib", os.path.join(FMNIST, "calib_x.npy"),
           "--calib-samples", 32, "--val-samples", 1, "--softmax-quant", grid, "--softmax-bits", bits)
    squint("report", VIT, tmp_path / "l.sqnt", "--data", x, "--samples", 4, "--json", tmp_path / "r.json")
    layers = sorted(json.loads((tmp_path / "r.json").read_text())["layers"], key=lambda l: l["index"])
    softmax = [k for k, l in enumerate(layers) if l["op"] == "SOFTMAX"]
    assert len(softmax) == 4
    for k in softmax:
        assert sqnr(layers[k]["accumulated"]["sqnr_db"]) > 8.0, layers[k]
        assert layers[k]["isolated"] is not None and sqnr(layers[k]["isolated"]["sqnr_db"]) > 8.0, layers[k]
        pv = next(l for l in layers[k + 1:] if l["op"] == "BATCH_MATMUL")
        assert pv["isolated"] is not None and sqnr(pv["isolated"]["sqnr_db"]) > 8.0, pv


PROGRESS_LINE = re.compile(r"^(?P<what>[^:\n]+): (?P<done>\d+)/(?P<total>\d+) samples \((?P<pct>\d+)%\)"
                           r"(, [\d.]+ s elapsed(, about .+ left)?| in .+)$")


def test_progress_lines_without_a_terminal_and_quiet(cnn):
    # stderr is a pipe here: plain lines, one per tenth of the work at most (plus the 2 s rule,
    # which cannot add more than a handful on 20 fast samples) and the last one at 100 %.
    d, _ = cnn
    x = os.path.join(FMNIST, "val_x.npy")
    p = squint("report", CNN, d / "c.sqnt", "--data", x, "--samples", 20)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert lines and all(PROGRESS_LINE.match(l) for l in lines), p.stderr
    assert "\r" not in p.stderr and "\x1b" not in p.stderr
    last = PROGRESS_LINE.match(lines[-1])
    assert (last["done"], last["total"], last["pct"]) == ("20", "20", "100"), lines[-1]
    assert "every layer end to end and alone" in last["what"]
    pcts = [int(PROGRESS_LINE.match(l)["pct"]) for l in lines]
    # Every tenth has its line (20 samples: one tenth per 2); the 2 s rule may add some on a slow
    # machine, never more than one per sample.
    assert pcts == sorted(pcts) and set(range(10, 101, 10)) <= set(pcts) and len(lines) <= 20, lines
    q = squint("report", CNN, d / "c.sqnt", "--data", x, "--samples", 20, "--quiet")
    assert q.stderr == "" and q.stdout == p.stdout
    # quantize: calibration and the accuracy check report, each to 100 %; --quiet silences both.
    out = d.parent / "progress_q.sqnt"
    args = ["quantize", CNN, "-o", out, "--calib", os.path.join(FMNIST, "calib_x.npy"), "--calib-samples", 30,
            "--val", x, "--val-samples", 10]
    p = squint(*args)
    done = [l for l in p.stderr.splitlines() if PROGRESS_LINE.match(l) and "(100%)" in l]
    assert [l.split(":")[0] for l in done] == ["calibration", "accuracy check, every layer end to end and alone"], p.stderr
    assert "30/30 samples" in done[0] and "10/10 samples" in done[1]
    q = squint(*args, "--quiet")
    assert not any(PROGRESS_LINE.match(l) for l in q.stderr.splitlines()), q.stderr
    assert "\r" not in q.stderr


def test_progress_bar_on_a_terminal(cnn):
    # stderr is a pseudo-terminal: one line redrawn with \r, a bar, counts, ended by a newline.
    import pty
    d, _ = cnn
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([SQUINT, "report", CNN, str(d / "c.sqnt"), "--data", os.path.join(FMNIST, "val_x.npy"),
                               "--samples", "12"], stdout=subprocess.PIPE, stderr=slave, timeout=120)
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                b = os.read(master, 65536)
            except OSError:  # EIO: the terminal has no writer left
                break
            if not b:
                break
            chunks.append(b)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    err = b"".join(chunks).decode()
    assert "\r" in err and "12/12 samples 100%" in err and "[" + "#" * 30 + "]" in err, repr(err)
    assert err.rstrip(" \x1b[K").endswith("\n") or err.endswith("\r\n"), repr(err[-80:])
