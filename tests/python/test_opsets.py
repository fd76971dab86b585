"""Models of opsets 11 and 12 (the importer's oldest): torch 1.13 exports at those opsets import,
and `squint run` (float evaluator) agrees with ONNX Runtime within 1e-4 of each output's range;
opsets outside 11..21 are refused with a clear error (exit code 2).

    SQUINT_BIN=build/cli/squint .venv/bin/python -m pytest tests/python/test_opsets.py -q
"""
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SQUINT = os.environ.get("SQUINT_BIN", os.path.join(REPO, "build", "cli", "squint"))


def squint(*args):
    return subprocess.run([SQUINT, *args], capture_output=True, text=True)


def make_net():
    """Every op whose ONNX form changed between opsets 11/12 and 13 that squint reads: Split
    (sizes), Squeeze/Unsqueeze, ReduceSum, Clip, Pad, Resize (nearest and bilinear), Softmax and
    LogSoftmax on the last axis; plus Conv, ConvTranspose, BatchNormalization, Gemm, Flatten."""
    import torch
    import torch.nn.functional as F

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.up = torch.nn.ConvTranspose2d(4, 4, 2, stride=2)
            self.fc = torch.nn.Linear(4 * 8 * 8, 10)

        def forward(self, x):
            y = F.relu(self.bn(self.conv(x)))                      # [N, 8, 8, 8]
            a, b = torch.split(y, [4, 4], dim=1)                    # Split with sizes
            a = torch.clamp(a, -1.0, 2.5)                           # Clip
            b = F.pad(b, (1, 1, 1, 1))[:, :, 1:-1, 1:-1]            # Pad, Slice
            s = (a + b).sum(dim=1, keepdim=True)                    # ReduceSum
            d = F.interpolate(self.up(a)[:, :, ::4, ::4], scale_factor=2, mode="nearest")
            e = F.interpolate(b, size=(8, 8), mode="bilinear", align_corners=False)
            z = torch.flatten(d + e + s, 1)                         # Flatten
            logits = self.fc(z)                                     # Gemm
            u = logits.unsqueeze(1).squeeze(1)                      # Unsqueeze / Squeeze
            return torch.softmax(u, dim=-1), torch.log_softmax(u, dim=-1)

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():  # non-trivial BN statistics
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2.0)
    return net


@pytest.mark.parametrize("opset", [11, 12])
def test_torch_export_matches_onnxruntime(tmp_path, opset):
    import onnx
    import onnxruntime as ort
    import torch

    net = make_net()
    x = np.random.default_rng(opset).standard_normal((2, 3, 8, 8)).astype(np.float32)
    path = str(tmp_path / f"net_op{opset}.onnx")
    torch.onnx.export(net, torch.from_numpy(x), path, opset_version=opset, input_names=["x"],
                      output_names=["p", "logp"])
    model = onnx.load(path)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [opset]
    ops = {n.op_type for n in model.graph.node}
    for op in ("Split", "Clip", "Pad", "ReduceSum", "Resize", "Softmax", "LogSoftmax", "ConvTranspose", "Gemm"):
        assert op in ops, f"the opset-{opset} export has no {op} ({sorted(ops)})"
    np.save(tmp_path / "x.npy", x)
    proc = squint("run", path, "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    refs = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for name, ref in zip(["p", "logp"], refs):
        got = np.load(tmp_path / "out" / f"{name}.npy")
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() / (ref.max() - ref.min()) <= 1e-4, name


@pytest.mark.parametrize("opset", [11, 12])
def test_pre13_softmax_over_trailing_dims_matches_onnxruntime(tmp_path, opset):
    # Before opset 13, Softmax/LogSoftmax coerce the input to 2-D at `axis` (default 1): one
    # softmax over all the trailing dims. The importer rewrites them to Flatten -> Softmax -> Reshape.
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Softmax", ["x"], ["a"]),                      # axis 1 of rank 4
             helper.make_node("LogSoftmax", ["x"], ["b"], axis=2),
             helper.make_node("Softmax", ["x"], ["c"], axis=-1)]              # the last axis: as is
    shape = [2, 3, 4, 5]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in "abc"])
    path = str(tmp_path / "sm.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 3
    np.save(tmp_path / "x.npy", x)
    proc = squint("run", path, "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    refs = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for name, ref in zip("abc", refs):
        got = np.load(tmp_path / "out" / f"{name}.npy")
        assert np.abs(got - ref).max() / (ref.max() - ref.min()) <= 1e-4, name


@pytest.mark.parametrize("opset", [10, 22])
def test_opset_outside_the_range_is_refused(tmp_path, opset):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path = str(tmp_path / "m.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    proc = squint("inspect", path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"model opset {opset} is not supported (squint reads opsets 11 to 21)" in proc.stderr
