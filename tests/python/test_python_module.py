"""The Python module (python/: `import squint`), as built by this build into BUILD/python: quantize
through the command line's options, export to QDQ ONNX, run on the integer runtime with numpy arrays (any batch, float
and integer inputs), outputs equal to `squint run`, errors as exceptions.

The module is not built in sanitized builds (it loads into an uninstrumented interpreter;
CMakeLists.txt), so there these tests are skipped, by name. `pip install .` (pyproject.toml) is
checked in the full tier.

    SQUINT_BIN=build/cli/squint .venv/bin/python -m pytest tests/python/test_python_module.py -q
"""
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SQUINT = os.environ.get("SQUINT_BIN", os.path.join(REPO, "build", "cli", "squint"))
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(SQUINT)))
MODELS = os.path.join(REPO, "tests", "data", "models")
FMNIST = os.path.join(MODELS, "fashion_mnist")

pytestmark = pytest.mark.skipif(os.environ.get("SQUINT_SANITIZED") == "1",
                                reason="the Python module is not built in sanitized builds")


@pytest.fixture(scope="module")
def squint():
    path = os.path.join(BUILD, "python")
    assert os.path.exists(os.path.join(path, "squint", "__init__.py")), f"no Python module in {path}"
    sys.path.insert(0, path)
    import squint as module
    return module


@pytest.fixture(scope="module")
def cnn(squint, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cnn") / "c.sqnt")
    squint.quantize(os.path.join(MODELS, "cnn_small", "cnn_small_op17.onnx"), out,
                    calib=os.path.join(FMNIST, "calib_x.npy"), calib_samples=32, val_samples=4,
                    accumulated_only=True, a16=["Add", "GlobalAveragePool"], per_tensor=False)
    return out


def test_quantize_takes_the_command_line_options(squint, cnn, capfd):
    capfd.readouterr()
    squint.inspect(cnn, json=True)
    out = capfd.readouterr().out
    assert "\"batch\": 1" in out and "calib_samples=32" in out and "a16=Add,GlobalAveragePool" in out, out


def test_run_equals_squint_run_on_any_batch(squint, cnn, tmp_path):
    m = squint.Model(cnn)
    assert m.batch_size == 1 and m.isa in ("reference", "avx2", "avx512vnni")
    assert [(i["name"], i["dtype"], i["shape"]) for i in m.inputs] == [("input", "int8", (1, 1, 28, 28))]
    assert m.outputs[0]["name"] == "logits" and m.outputs[0]["scale"] > 0
    x = np.load(os.path.join(FMNIST, "val_x.npy"))[:7]
    y = m.run({"input": x})
    assert list(y) == ["logits"] and y["logits"].dtype == np.float32 and y["logits"].shape == (7, 10)
    np.save(tmp_path / "x.npy", x)
    subprocess.run([SQUINT, "run", cnn, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "o")], check=True,
                   capture_output=True)
    assert np.array_equal(y["logits"], np.load(tmp_path / "o" / "logits.npy"))
    # One sample after seven, another instruction set and two threads: the same codes.
    assert np.array_equal(m.run({"input": x[3:4]})["logits"][0], y["logits"][3])
    r = squint.Model(cnn, isa="reference", threads=2)
    assert r.isa == "reference"
    assert np.array_equal(r.run({"input": x})["logits"], y["logits"])


def test_integer_inputs_are_codes(squint, tmp_path):
    g = os.path.join(MODELS, "gpt_tiny")
    sqnt = str(tmp_path / "g.sqnt")
    squint.quantize(os.path.join(g, "gpt_tiny_op17.onnx"), sqnt, calib=os.path.join(g, "calib_x.npy"),
                    calib_samples=8, val_samples=2, accumulated_only=True)
    m = squint.Model(sqnt)
    assert m.inputs[0]["dtype"] == "int32" and m.inputs[0]["scale"] is None
    tokens = np.load(os.path.join(g, "val_x.npy"))[:3]
    assert m.run({"input": tokens})["logits"].shape == (3, 64, 256)
    with pytest.raises(RuntimeError, match=r"input 'input': value 4294967296 at flat index 0 is outside"):
        m.run({"input": np.full((1, 64), 2**32, np.int64)})
    with pytest.raises(RuntimeError, match=r"takes integer codes"):
        m.run({"input": tokens.astype(np.float32)})


def test_errors(squint, cnn, tmp_path):
    m = squint.Model(cnn)
    with pytest.raises(RuntimeError, match=r"no array for input 'input'"):
        m.run({"image": np.zeros((1, 1, 28, 28), np.float32)})
    with pytest.raises(RuntimeError, match=r"shape 1x1x27x28, the model expects 1x1x28x28"):
        m.run({"input": np.zeros((1, 1, 27, 28), np.float32)})
    with pytest.raises(RuntimeError, match=r"not finite"):
        m.run({"input": np.full((1, 1, 28, 28), np.nan, np.float32)})
    with pytest.raises(RuntimeError, match=r"missing.sqnt"):
        squint.Model(str(tmp_path / "missing.sqnt"))
    with pytest.raises(RuntimeError, match=r"isa 'sse9'"):
        squint.Model(cnn, isa="sse9")
    with pytest.raises(squint.Error) as e:
        squint.quantize(str(tmp_path / "missing.onnx"), str(tmp_path / "x.sqnt"), calib="nothing.npy")
    assert e.value.code == 2 and not os.path.exists(tmp_path / "x.sqnt")


def test_export_equals_squint_export(squint, cnn, tmp_path):
    # squint.export writes the very file `squint export` writes; a bad format is squint.Error, exit 2, no file.
    squint.export(cnn, str(tmp_path / "m.onnx"))
    subprocess.run([SQUINT, "export", cnn, "--format", "qdq", "-o", str(tmp_path / "c.onnx")], check=True,
                   capture_output=True)
    assert (tmp_path / "m.onnx").read_bytes() == (tmp_path / "c.onnx").read_bytes()
    with pytest.raises(squint.Error) as e:
        squint.export(cnn, str(tmp_path / "x.onnx"), format="tflite")
    assert e.value.code == 2 and not os.path.exists(tmp_path / "x.onnx")


@pytest.mark.full
def test_pip_install_builds_a_working_wheel(tmp_path):
    # `pip install .` from the repository into a fresh virtual environment (scikit-build-core
    # from PyPI, the C++ build with the Debian packages), then the module works there.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    proc = subprocess.run([py, "-m", "pip", "install", "-q", REPO], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    code = ("import squint, numpy as np, sys; m = squint.Model(sys.argv[1]); "
            "print(m.run({'input': np.zeros((2, 1, 28, 28), np.float32)})['logits'].shape)")
    sqnt = str(tmp_path / "c.sqnt")
    subprocess.run([SQUINT, "quantize", os.path.join(MODELS, "cnn_small", "cnn_small_op17.onnx"), "-o", sqnt,
                    "--calib", os.path.join(FMNIST, "calib_x.npy"), "--calib-samples", "16", "--val-samples", "2"],
                   check=True, capture_output=True)
    out = subprocess.run([py, "-c", code, sqnt], capture_output=True, text=True, cwd=str(tmp_path))
    assert out.returncode == 0 and out.stdout.strip() == "(2, 10)", out.stdout + out.stderr
