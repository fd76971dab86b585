#!/usr/bin/env python3
"""Softmax-output quantization ablation (issue 5): every model x softmax quantizer x bit width,
everything else W8A8, on the integer runtime. One Markdown table per model on stdout:

  task metric    accuracy % (image models) or bits/char (gpt_tiny), from `squint quantize`'s check
  P.V SQNR       SQNR of each attention block's output (the P.V BATCH_MATMUL after each SOFTMAX),
                 from `squint report --json`: alone (isolated: float inputs quantized to the op's
                 grids, so the probabilities' grid is what differs between rows) and end to end;
                 min / mean over the blocks
  attention us   integer-runtime time of the attention ops (QK^T and P.V BATCH_MATMULs and SOFTMAX),
                 sum of per-op medians from `squint_runtime_bench --per-op`, batch 1, one thread

Quantizers: whatever `squint quantize --help` lists for --softmax-quant (uniform only if the
option is absent), plus "uniform+bc": uniform with --softmax-bias-correction. A combination squint
refuses (e.g. bias correction where no attention block has the plain shape) is a table row saying
so, with squint's message. Usage (from the repository root, after scripts/build.sh release --bench):
  .venv/bin/python bench/softmax_ablation.py --squint build/cli/squint \
      --bench build/bench/squint_runtime_bench [--models vit_tiny,gpt_tiny] [--bits 8,6,4,3] \
      [--quantizers uniform,log2] [--val-samples 500] [--calib-samples 0] [--report-samples 200]
"""
import argparse
import json
import os
import re
import sys
import tempfile

from ablation_util import DATA, M, Refused, db, run


def quantizers(squint):
    m = re.search(r"--softmax-quant\s+\S*?\{([^}]*)\}", run([squint, "quantize", "--help"]).stdout)
    found = [q.strip() for q in m.group(1).split(",")] if m else ["uniform"]
    return found[:1] + ["uniform+bc"] + found[1:]


def attention(layers_in_order):
    """Indices of P.V (the BATCH_MATMUL after each SOFTMAX) and of all attention ops."""
    pv, att = [], set()
    ops = sorted(layers_in_order, key=lambda l: l["index"])
    for k, l in enumerate(ops):
        if l["op"] != "SOFTMAX":
            continue
        att.add(l["index"])
        before = [o for o in ops[:k] if o["op"] == "BATCH_MATMUL"]
        after = [o for o in ops[k + 1:] if o["op"] == "BATCH_MATMUL"]
        if before:
            att.add(before[-1]["index"])
        if after:
            pv.append(after[0])
            att.add(after[0]["index"])
    return pv, att



def one(a, model, quant, bits, tmp):
    onnx, d = DATA[model]
    onnx = os.path.join(M, onnx)
    sqnt = os.path.join(tmp, f"{model}_{quant}_{bits}.sqnt")
    if quant == "uniform+bc":
        extra = ["--softmax-bits", str(bits), "--softmax-bias-correction"]
    else:
        extra = ["--softmax-bits", str(bits)] + (["--softmax-quant", quant] if quant != "uniform" else [])
    val = ["--val", os.path.join(d, "val_x.npy"), "--labels", os.path.join(d, "val_y.npy")]
    if a.val_samples:
        val += ["--val-samples", str(a.val_samples)]
    calib = ["--calib", os.path.join(d, "calib_x.npy")]
    if a.calib_samples:
        calib += ["--calib-samples", str(a.calib_samples)]
    out = run([a.squint, "quantize", onnx, "-o", sqnt, "--worst", "0"] + calib + val + extra).stdout
    m = re.search(r"bits/char ([\d.]+) \(float ([\d.]+)", out) or re.search(r"accuracy ([\d.]+)% \(float ([\d.]+)%", out)
    metric, ref = float(m.group(1)), float(m.group(2))
    rj = os.path.join(tmp, "r.json")
    run([a.squint, "report", onnx, sqnt, "--data", os.path.join(d, "val_x.npy"), "--samples", str(a.report_samples),
         "--json", rj])
    layers = json.load(open(rj))["layers"]
    pv, att = attention(layers)
    iso = [db(l["isolated"]["sqnr_db"]) for l in pv if l["isolated"]]
    acc = [db(l["accumulated"]["sqnr_db"]) for l in pv]
    per_op = json.loads(run([a.bench, "--model", sqnt, "--data", os.path.join(d, "val_x.npy"), "--per-op",
                             "--seconds", "1"]).stdout)
    us = sum(o["median_us"] for o in per_op if o["index"] in att)
    return metric, ref, iso, acc, us


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squint", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--models", default="vit_tiny,vit_tiny_clipped,vit_tiny_gated,gpt_tiny")
    ap.add_argument("--bits", default="8,6,4,3")
    ap.add_argument("--quantizers", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--val-samples", type=int, default=0, help="validation samples for the task metric (0: all)")
    ap.add_argument("--calib-samples", type=int, default=0, help="calibration samples (0: all)")
    ap.add_argument("--report-samples", type=int, default=200, help="samples for the per-layer SQNR")
    a = ap.parse_args()
    quants = quantizers(a.squint)
    if a.quantizers:
        unknown = set(a.quantizers.split(",")) - set(quants)
        if unknown:
            sys.exit(f"unknown quantizers {sorted(unknown)}; known: {', '.join(quants)}")
        quants = [q for q in quants if q in a.quantizers.split(",")]
    print(f"quantizers: {', '.join(quants)}; validation samples: {a.val_samples or 'all'}; "
          f"P.V SQNR on {a.report_samples} samples", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models.split(","):
            print(f"\n### {model}\n")
            print("| softmax quantizer | bits | metric (float) | P.V SQNR alone, min / mean (dB) "
                  "| P.V SQNR end to end, min / mean (dB) | attention ops (us) |")
            print("|---|---:|---:|---:|---:|---:|")
            for quant in quants:
                for bits in [int(b) for b in a.bits.split(",")]:
                    try:
                        metric, ref, iso, acc, us = one(a, model, quant, bits, tmp)
                    except Refused as e:
                        print(f"| {quant} | {bits} | refused: {e} | | | |", flush=True)
                        continue
                    fmt = (lambda v: f"{min(v):.1f} / {sum(v) / len(v):.1f}" if v else "-")
                    print(f"| {quant} | {bits} | {metric:.4g} ({ref:.4g}) | {fmt(iso)} | {fmt(acc)} | {us:.0f} |",
                          flush=True)


if __name__ == "__main__":
    main()
