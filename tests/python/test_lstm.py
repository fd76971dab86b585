"""LSTM and 1-D convolutions as torch exports them (issue 14: recurrent models as users bring them).

- The float evaluator (ir/eval/ops/recurrent.cc) equals ONNX Runtime within 1e-5 of the output range on
  torch 1.13 exports of nn.LSTM: one layer forward, two layers bidirectional, batch-first (torch adds the
  transposes), opsets 11 and 17.
- `squint quantize` unrolls the LSTM (passes/expand_lstm.cc: FULLY_CONNECTED gates, LUT sigmoid/tanh,
  elementwise cell update) into a fully integer .sqnt whose outputs follow the float model (SQNR > 20 dB on
  held-out sequences).
- A waveform model (1-D convolutions with BatchNorm, then an LSTM) quantizes the same way: the 1-D
  convolutions run as 2-D ones over a height of 1 (passes/conv1d_as_2d.cc).
- An LSTM squint does not handle (peepholes, a cell clip, layout 1) is refused naming the node.

    SQUINT_BIN=build/cli/squint .venv/bin/python -m pytest tests/python/test_lstm.py -q
"""
import os
import subprocess

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SQUINT = os.environ.get("SQUINT_BIN", os.path.join(REPO, "build", "cli", "squint"))
SEQ, FEAT = 12, 10


def squint(*args, code=0):
    proc = subprocess.run([SQUINT, *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == code, f"squint {' '.join(map(str, args))}: exit {proc.returncode}: {proc.stderr}"
    return proc


class Tagger(torch.nn.Module):
    """A sequence model: LSTM over features, a linear head per step."""

    def __init__(self, layers, bidirectional):
        super().__init__()
        self.rnn = torch.nn.LSTM(FEAT, 16, num_layers=layers, bidirectional=bidirectional, batch_first=True)
        self.head = torch.nn.Linear(16 * (2 if bidirectional else 1), 5)

    def forward(self, x, h0=None, c0=None):
        y, _ = self.rnn(x, None if h0 is None else (h0, c0))
        return self.head(y)


def export(tmp_path, layers, bidirectional, opset):
    torch.manual_seed(layers * 10 + bidirectional)
    net = Tagger(layers, bidirectional).eval()
    path = tmp_path / f"lstm_{layers}_{int(bidirectional)}_op{opset}.onnx"
    torch.onnx.export(net, (torch.randn(1, SEQ, FEAT),), str(path), opset_version=opset, input_names=["x"],
                      output_names=["tags"], dynamic_axes={"x": {0: "batch"}, "tags": {0: "batch"}})
    assert "LSTM" in {n.op_type for n in onnx.load(str(path)).graph.node}
    return path


def data(count, seed):
    return np.random.default_rng(seed).standard_normal((count, SEQ, FEAT)).astype(np.float32)


def integer_sqnr(tmp_path, path, val, output):
    """SQNR (dB) of the .sqnt's `output` on `val` (saved as val.npy) against ORT running the float model."""
    squint("run", tmp_path / "m.sqnt", "--input", f"x={tmp_path / 'val.npy'}", "--output-dir", tmp_path / "int")
    got = np.load(tmp_path / "int" / f"{output}.npy")
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": val})[0]
    return 10 * np.log10((want ** 2).sum() / ((got - want) ** 2).sum())


CASES = [(1, False), (2, True)]  # one layer forward; two layers bidirectional


@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("layers,bidirectional", CASES)
def test_float_evaluator_matches_onnxruntime(tmp_path, layers, bidirectional, opset):
    path = export(tmp_path, layers, bidirectional, opset)
    x = data(3, 1)
    np.save(tmp_path / "x.npy", x)
    squint("run", path, "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", tmp_path / "out")
    got = np.load(tmp_path / "out" / "tags.npy")
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert got.shape == want.shape == (3, SEQ, 5)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


@pytest.mark.parametrize("layers,bidirectional", CASES)
def test_quantized_lstm_runs_fully_integer(tmp_path, layers, bidirectional):
    path = export(tmp_path, layers, bidirectional, 17)
    np.save(tmp_path / "calib.npy", data(64, 2))
    val = data(16, 3)
    np.save(tmp_path / "val.npy", val)
    out = squint("quantize", path, "-o", tmp_path / "m.sqnt", "--calib", tmp_path / "calib.npy", "--val",
                 tmp_path / "val.npy", "--quiet").stdout
    ops = squint("inspect", tmp_path / "m.sqnt").stdout
    assert "FULLY_CONNECTED" in ops and "LUT" in ops and "MUL" in ops, ops
    sqnr = integer_sqnr(tmp_path, path, val, "tags")
    print(f"LSTM layers={layers} bidirectional={bidirectional}: SQNR {sqnr:.1f} dB\n{out}")
    assert sqnr > 20, sqnr


def lstm_node_model(tmp_path, **attrs):
    """A single ONNX LSTM node with constant weights, the given attributes and optionally peepholes."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    h, peep = 4, attrs.pop("peepholes", False)
    inits = [numpy_helper.from_array(rng.standard_normal((1, 4 * h, 3)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.standard_normal((1, 4 * h, h)).astype(np.float32), "R")]
    inputs = ["x", "W", "R"]
    if peep:
        inits.append(numpy_helper.from_array(rng.standard_normal((1, 3 * h)).astype(np.float32), "P"))
        inputs += ["", "", "", "", "P"]
    node = helper.make_node("LSTM", inputs, ["y"], name="rnn", hidden_size=h, **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 1, 1, h])], inits)
    path = tmp_path / "lstm.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), str(path))
    np.save(tmp_path / "x.npy", rng.standard_normal((5, 1, 3)).astype(np.float32))
    return path


@pytest.mark.parametrize("attrs,message", [({"peepholes": True}, "peephole"), ({"clip": 3.0}, "clip"),
                                           ({"layout": 1}, "layout 1"), ({"input_forget": 1}, "input_forget")])
def test_unsupported_lstm_is_refused_naming_it(tmp_path, attrs, message):
    path = lstm_node_model(tmp_path, **attrs)
    proc = squint("run", path, "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", tmp_path / "out", code=2)
    assert "'rnn'" in proc.stderr and message in proc.stderr, proc.stderr


class Spotter(torch.nn.Module):
    """An audio-style model: 1-D convolutions (with BatchNorm) over a waveform, then an LSTM, then a head."""

    def __init__(self):
        super().__init__()
        self.front = torch.nn.Sequential(
            torch.nn.Conv1d(1, 8, 5, stride=2), torch.nn.ReLU(),
            torch.nn.Conv1d(8, 16, 3, padding=1, groups=2), torch.nn.BatchNorm1d(16), torch.nn.ReLU())
        self.rnn = torch.nn.LSTM(16, 16)
        self.head = torch.nn.Linear(16, 5)

    def forward(self, x):                      # x [N, 1, 64]
        f = self.front(x).permute(2, 0, 1)     # [L, N, 16]
        y, _ = self.rnn(f)
        return self.head(y[-1])


def test_conv1d_and_lstm_model_quantizes(tmp_path):
    # 1-D convolutions run as 2-D ones over a height of 1 (passes/conv1d_as_2d.cc), BatchNorm folded into them.
    torch.manual_seed(5)
    net = Spotter().eval()
    with torch.no_grad():
        net.front[3].running_mean.uniform_(-0.2, 0.2)
        net.front[3].running_var.uniform_(0.5, 2.0)
    path = tmp_path / "spotter.onnx"
    torch.onnx.export(net, (torch.randn(1, 1, 64),), str(path), opset_version=13, input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    rng = np.random.default_rng(7)
    calib, val = (rng.standard_normal((n, 1, 64)).astype(np.float32) for n in (64, 32))
    np.save(tmp_path / "calib.npy", calib)
    np.save(tmp_path / "val.npy", val)
    squint("quantize", path, "-o", tmp_path / "m.sqnt", "--calib", tmp_path / "calib.npy", "--val-samples", 1,
           "--quiet")
    ops = squint("inspect", tmp_path / "m.sqnt").stdout
    assert "CONV_2D" in ops and "FULLY_CONNECTED" in ops, ops
    sqnr = integer_sqnr(tmp_path, path, val, "logits")
    print(f"Conv1d + LSTM: SQNR {sqnr:.1f} dB")
    assert sqnr > 20, sqnr
