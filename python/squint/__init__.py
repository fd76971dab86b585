"""squint: softmax-aware quantization of ONNX models to an integer format, and its integer runtime.

    import numpy as np, squint
    squint.quantize("model.onnx", "model.sqnt", calib="calib.npy", val="val.npy", weight_bits=4, a16=["Softmax"])
    squint.export("model.sqnt", "model_qdq.onnx")  # QDQ ONNX for ONNX Runtime (format="qdq")
    m = squint.Model("model.sqnt")               # isa="auto"|"reference"|"avx2"|"avx512vnni"|"neon"|"neondot", threads=1
    m.inputs, m.outputs                           # [{"name", "dtype", "shape", "scale", "zero_point", ...}]
    y = m.run({"input": np.zeros((8, 1, 28, 28), np.float32)})   # {"logits": array (8, 10)}

Model runs on the integer runtime (the same library as the C API): float inputs are quantized with the
input's grid, integer arrays are taken as codes; quantized outputs come back dequantized to float32.
A model whose ONNX inputs and outputs had a free leading dim runs any number of samples.

quantize, inspect, report, run and export call the command line in this process with the same options (a
keyword `weight_bits=4` is `--weight-bits 4`, `a16=["Softmax", "Gelu"]` repeats `--a16`, True is a
flag); `squint quantize --help` lists them. They raise squint.Error with the exit code on failure
(the message is on stderr, as the command line prints it).
"""
from ._squint import Model, runtime_version
from ._squint import main as _main

__all__ = ["Model", "Error", "quantize", "inspect", "report", "run", "export", "cli", "runtime_version"]


class Error(RuntimeError):
    """A squint command failed: exit code 2 (bad input or usage) or 1 (internal error)."""

    def __init__(self, args, code):
        super().__init__(f"squint {' '.join(args)} failed with exit code {code} (see its message on stderr)")
        self.code = code


def _flags(options):
    args = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            args.append(flag)
        elif isinstance(value, (list, tuple)):
            for v in value:
                args += [flag, str(v)]
        else:
            args += [flag, str(value)]
    return args


def cli(*args):
    """Runs `squint ARGS...` in this process; raises Error unless it exits 0."""
    args = [str(a) for a in args]
    code = _main(args)
    if code != 0:
        raise Error(args, code)


def quantize(model, output, **options):
    """`squint quantize MODEL -o OUTPUT --option value ...`."""
    cli("quantize", model, "-o", output, *_flags(options))


def inspect(model, **options):
    """`squint inspect MODEL ...` (prints to stdout)."""
    cli("inspect", model, *_flags(options))


def report(model, sqnt, **options):
    """`squint report MODEL SQNT ...`."""
    cli("report", model, sqnt, *_flags(options))


def export(sqnt, output, format="qdq", **options):
    """`squint export SQNT --format FORMAT -o OUTPUT ...`: the .sqnt as a QDQ ONNX model (docs/export.md)."""
    cli("export", sqnt, "--format", format, "-o", output, *_flags(options))


def run(model, output_dir, inputs, **options):
    """`squint run MODEL --input SPEC ... -o OUTPUT_DIR` (inputs: a list of NAME=FILE or FILE specs)."""
    cli("run", model, *[a for spec in inputs for a in ("--input", spec)], "-o", output_dir, *_flags(options))
