#!/usr/bin/env python3
"""Low-bit ablation (issue 18): models x W/A bit widths x weight rounding x reconstruction, on the integer runtime.

One Markdown table per model on stdout. WxAy counts as the papers do (--act-bits-scope matmul, the
default): weights and the activations that matrix products read at the narrow width, the rest of the
activations at 8 bits; rows marked "all" narrow every activation (--act-bits-scope all). With 4 or 3
activation bits the softmax output (if any) takes 4 bits on the log2 grid (--softmax-bits 4 --softmax-quant log2).
Columns:
  recon     --reconstruct: none, or block (activation clipping searched per residual block on the runtime)
  metric    accuracy % (image models) or bits/char (gpt_tiny) from `squint quantize`'s check over the
            validation samples, float in parentheses
  SQNR      of output 0 (the logits) against float, dB
  quantize  wall-clock seconds of `squint quantize` alone (its check cut to one sample), in this run
A combination squint refuses (exit 2) is a row saying so. Usage (from the repository root, after
scripts/build.sh release):
  .venv/bin/python bench/lowbit_ablation.py --squint build/cli/squint [--models vit_tiny,gpt_tiny]
      [--configs W8A8,W4A4] [--roundings nearest,gptq] [--reconstructs none,block] [--val-samples 0]
      [--calib-samples 256]
"""
import argparse
import os
import re
import sys
import tempfile
import time

from ablation_util import DATA, M, Refused, run

# name -> (weight bits, activation bits, act-bits scope)
CONFIGS = {"W8A8": (8, 8, "matmul"), "W6A6": (6, 6, "matmul"), "W4A8": (4, 8, "matmul"),
           "W4A4": (4, 4, "matmul"), "W4A4 all": (4, 4, "all"), "W3A3": (3, 3, "matmul")}


def flags(config, rounding, reconstruct, softmax):
    wb, ab, scope = CONFIGS[config]
    f = ["--weight-bits", str(wb), "--act-bits", str(ab), "--act-bits-scope", scope, "--weight-rounding", rounding,
         "--reconstruct", reconstruct]
    if ab <= 4 and softmax:
        f += ["--softmax-bits", "4", "--softmax-quant", "log2"]
    return f


def has_softmax(a, model):
    return bool(re.search(r"^\s+Softmax\s", run([a.squint, "inspect", os.path.join(M, DATA[model][0])]).stdout, re.M))


def one(a, model, softmax, config, rounding, reconstruct, tmp):
    onnx, d = DATA[model]
    base = [a.squint, "quantize", os.path.join(M, onnx), "-o", os.path.join(tmp, "m.sqnt"),
            "--calib", os.path.join(d, "calib_x.npy"), "--calib-samples", str(a.calib_samples), "--quiet",
            "--accumulated-only", "--worst", "0"] + flags(config, rounding, reconstruct, softmax)
    t0 = time.monotonic()
    run(base + ["--val", os.path.join(d, "val_x.npy"), "--val-samples", "1"])
    seconds = time.monotonic() - t0
    out = run(base + ["--val", os.path.join(d, "val_x.npy"), "--labels", os.path.join(d, "val_y.npy"),
                      "--val-samples", str(a.val_samples)]).stdout
    bpc = re.search(r"bits/char ([\d.]+) \(float ([\d.]+)", out)
    acc = re.search(r"accuracy ([\d.]+)% \(float ([\d.]+)%", out)
    sqnr = re.search(r"SQNR (-?[\d.]+|inf) dB", out)
    if not (bpc or acc) or not sqnr:
        sys.exit(f"{model} {config}: no metric in\n{out}")
    metric = f"{bpc.group(1)} ({bpc.group(2)})" if bpc else f"{acc.group(1)} ({acc.group(2)})"
    return metric, sqnr.group(1), f"{seconds:.1f}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--squint", required=True)
    p.add_argument("--models", default="vit_tiny,vit_tiny_gated,gpt_tiny,cnn_small")
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--roundings", default="nearest,gptq,adaround")
    p.add_argument("--reconstructs", default="none", help="--reconstruct values, e.g. none,block")
    p.add_argument("--val-samples", type=int, default=0, help="0: the whole validation split")
    p.add_argument("--calib-samples", type=int, default=256)
    a = p.parse_args()
    for c in a.configs.split(","):
        if c not in CONFIGS:
            sys.exit(f"--configs: unknown '{c}' (known: {', '.join(CONFIGS)})")
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models.split(","):
            if model not in DATA:
                sys.exit(f"--models: unknown '{model}' (known: {', '.join(DATA)})")
            softmax = has_softmax(a, model)
            print(f"\n### {model}\n\n| config | rounding | recon | metric (float) | output SQNR dB | quantize s |\n"
                  "|---|---|---|---:|---:|---:|")
            for config in a.configs.split(","):
                for rounding in a.roundings.split(","):
                    for recon in a.reconstructs.split(","):
                        try:
                            metric, sqnr, secs = one(a, model, softmax, config, rounding, recon, tmp)
                            print(f"| {config} | {rounding} | {recon} | {metric} | {sqnr} | {secs} |", flush=True)
                        except Refused as e:
                            print(f"| {config} | {rounding} | {recon} | refused: {e} | | |", flush=True)


if __name__ == "__main__":
    main()
