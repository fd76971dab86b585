#!/usr/bin/env python3
"""Low-bit ablation (issue 18): models x W/A bit widths x weight rounding x reconstruction x group size x
transform, on the integer runtime.

One Markdown table per model on stdout. WxAy counts as the papers do (--act-bits-scope matmul, the
default): weights and the activations that matrix products read at the narrow width, the rest of the
activations at 8 bits; rows marked "all" narrow every activation (--act-bits-scope all). With 4 or 3
activation bits the softmax output (if any) takes 4 bits on the log√2 grid (--softmax-bits 4 --softmax-quant
logsqrt2, the best of the three grids at 4 bits on these models; --softmax-quant picks another). --extra passes more options to every quantize.
Models: the bundled ones (tests/data/models) and minilm, all-MiniLM-L6-v2 from the zoo cache
(tools/zoo/fetch.py: ~/.cache/squint/zoo/minilm, its 256 calibration and 300 validation sentences).
Columns:
  group     --group-size (0: one scale per output channel)
  transform --transform (none: no transform)
  recon     --reconstruct: none, or block (activation clipping searched per residual block on the runtime)
  metric    accuracy % (image models), bits/char (gpt_tiny) or the mean cosine of the sentence
            embeddings to float (minilm: "cos") from `squint quantize`'s check over the validation
            samples, float in parentheses
  SQNR      of output 0 (the logits) against float, dB
  quantize  wall-clock seconds of `squint quantize` alone (its check cut to one sample), in this run
A combination squint refuses (exit 2) is a row saying so. Usage (from the repository root, after
scripts/build.sh release):
  .venv/bin/python bench/lowbit_ablation.py --squint build/cli/squint [--models vit_tiny,gpt_tiny]
      [--configs W8A8,W4A4] [--roundings nearest,gptq] [--reconstructs none,block] [--group-sizes 0,32]
      [--transforms none,repq] [--val-samples 0] [--calib-samples 256] [--softmax-quant log2|logsqrt2|sulq]
      [--extra "--a16 LayerNormalization"]
"""
import argparse
import itertools
import os
import re
import shlex
import sys
import tempfile
import time

from ablation_util import DATA, M, Refused, run

ZOO = os.path.join(os.path.expanduser("~"), ".cache", "squint", "zoo", "minilm")


def files(model):
    """(ONNX model, calibration data, validation data, labels or None)."""
    if model == "minilm":
        return (os.path.join(ZOO, "minilm_l6_op17.onnx"), os.path.join(ZOO, "calib.npz"),
                os.path.join(ZOO, "val.npz"), None)
    onnx, d = DATA[model]
    return (os.path.join(M, onnx), os.path.join(d, "calib_x.npy"), os.path.join(d, "val_x.npy"),
            os.path.join(d, "val_y.npy"))

# name -> (weight bits, activation bits, act-bits scope)
CONFIGS = {"W8A8": (8, 8, "matmul"), "W6A6": (6, 6, "matmul"), "W4A8": (4, 8, "matmul"),
           "W4A4": (4, 4, "matmul"), "W4A4 all": (4, 4, "all"), "W3A3": (3, 3, "matmul")}


def flags(config, rounding, reconstruct, softmax, group=0, transform="none", softmax_quant="logsqrt2"):
    wb, ab, scope = CONFIGS[config]
    f = ["--weight-bits", str(wb), "--act-bits", str(ab), "--act-bits-scope", scope, "--weight-rounding", rounding,
         "--reconstruct", reconstruct, "--group-size", str(group)]
    if transform != "none":
        f += ["--transform", transform]
    if ab <= 4 and softmax:
        f += ["--softmax-bits", "4", "--softmax-quant", softmax_quant]
    return f


def has_softmax(a, model):
    return bool(re.search(r"^\s+Softmax\s", run([a.squint, "inspect", files(model)[0]]).stdout, re.M))


def one(a, model, softmax, config, rounding, reconstruct, group, transform, tmp):
    onnx, calib, val, labels = files(model)
    base = [a.squint, "quantize", onnx, "-o", os.path.join(tmp, "m.sqnt"), "--calib", calib,
            "--calib-samples", str(a.calib_samples), "--quiet", "--accumulated-only", "--worst", "0"]
    base += flags(config, rounding, reconstruct, softmax, group, transform, a.softmax_quant) + shlex.split(a.extra)
    t0 = time.monotonic()
    run(base + ["--val", val, "--val-samples", "1"])
    seconds = time.monotonic() - t0
    out = run(base + ["--val", val, "--val-samples", str(a.val_samples)] + (["--labels", labels] if labels else [])).stdout
    bpc = re.search(r"bits/char ([\d.]+) \(float ([\d.]+)", out)
    acc = re.search(r"accuracy ([\d.]+)% \(float ([\d.]+)%", out)
    cos = re.search(r"row cosine ([\d.]+)", out) if labels is None else None
    sqnr = re.search(r"SQNR (-?[\d.]+|inf) dB", out)
    if not (bpc or acc or cos) or not sqnr:
        sys.exit(f"{model} {config}: no metric in\n{out}")
    metric = (f"{bpc.group(1)} ({bpc.group(2)})" if bpc else
              f"{acc.group(1)} ({acc.group(2)})" if acc else f"cos {cos.group(1)} (1)")
    return metric, sqnr.group(1), f"{seconds:.1f}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--squint", required=True)
    p.add_argument("--models", default="vit_tiny,vit_tiny_gated,gpt_tiny,cnn_small,minilm")
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--roundings", default="nearest,gptq,adaround")
    p.add_argument("--reconstructs", default="none", help="--reconstruct values, e.g. none,block")
    p.add_argument("--group-sizes", default="0", help="--group-size values, e.g. 0,32")
    p.add_argument("--transforms", default="none", help="--transform values, e.g. none,repq")
    p.add_argument("--val-samples", type=int, default=0, help="0: the whole validation split")
    p.add_argument("--calib-samples", type=int, default=256)
    p.add_argument("--softmax-quant", default="logsqrt2", choices=["log2", "logsqrt2", "sulq"],
                   help="the 4-bit softmax grid of the rows with 4 or 3 activation bits (logsqrt2: the best of "
                   "the three on every transformer here, docs/benchmarks.md)")
    p.add_argument("--extra", default="", help="more squint quantize options for every row, e.g. "
                   "\"--a16 LayerNormalization --a16 Add --a16 Gelu\" (printed under the model's heading)")
    a = p.parse_args()
    for c in a.configs.split(","):
        if c not in CONFIGS:
            sys.exit(f"--configs: unknown '{c}' (known: {', '.join(CONFIGS)})")
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models.split(","):
            if model not in DATA and model != "minilm":
                sys.exit(f"--models: unknown '{model}' (known: {', '.join(DATA)}, minilm)")
            softmax = has_softmax(a, model)
            print(f"\n### {model}\n" + (f"\nevery row also: `{a.extra}`\n" if a.extra else "") + "\n| config | rounding | group | transform | recon | metric (float) | output SQNR dB "
                  "| quantize s |\n|---|---|---|---|---|---:|---:|---:|")
            for config, rounding, group, transform, recon in itertools.product(
                    a.configs.split(","), a.roundings.split(","), a.group_sizes.split(","), a.transforms.split(","),
                    a.reconstructs.split(",")):
                row = f"| {config} | {rounding} | {group} | {transform} | {recon} |"
                try:
                    metric, sqnr, secs = one(a, model, softmax, config, rounding, recon, group, transform, tmp)
                    print(f"{row} {metric} | {sqnr} | {secs} |", flush=True)
                except Refused as e:
                    print(f"{row} refused: {e} | | |", flush=True)


if __name__ == "__main__":
    main()
