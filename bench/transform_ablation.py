#!/usr/bin/env python3
"""Outlier-transform ablation (issue 6): every model x weight/activation bit widths x transform, on
the integer runtime. One Markdown table per model on stdout:

  metric          accuracy % (image models) or bits/char (gpt_tiny), from `squint quantize`'s check
                  (float in parentheses: the transforms are float-equivalent, so it must not move)
  kurtosis        of the activations entering the Linear layers (pooled over each input's values on the
                  calibration samples): median / max over the inputs, after the transforms, from the
                  "linear inputs after transforms" line of `squint quantize --transform` (the row "none"
                  is the model as trained)
  max|x|/rms      the largest ratio over those inputs (how far the biggest value stands out)
  worst SQNR      the lowest per-layer SQNR of the integer model, each layer alone (float inputs
                  quantized to its grids), from `squint report --json`, with the layer's op
  online us       integer-runtime time of the online transform ops (HADAMARD, and the grouped
                  FULLY_CONNECTED ops --transform wush inserts, named <input>_wush), sum of per-op medians
                  from `squint_runtime_bench --per-op` (batch 1, one thread), and its share of the whole
                  model's time

Transforms: whatever `squint quantize --help` lists for --transform (the combination of all but
"none" is added as one more row when there are several). A combination squint refuses (exit 2) is
a row saying so, with squint's message. Usage (from the repository root, after scripts/build.sh release --bench):
  .venv/bin/python bench/transform_ablation.py --squint build/cli/squint \\
      --bench build/bench/squint_runtime_bench [--models vit_tiny,gpt_tiny] [--configs W8A8,W4A8] \\
      [--transforms "none;smooth"] [--val-samples 500] [--calib-samples 0] [--report-samples 100]
"""
import argparse
import json
import os
import re
import sys
import tempfile

from ablation_util import DATA, M, Refused, db, run

CONFIGS = {"W8A8": (8, 8), "W6A6": (6, 6), "W4A8": (4, 8), "W4A4": (4, 4)}


def transforms(squint):
    m = re.search(r"--transform\s+\S*?\{([^}]*)\}", run([squint, "quantize", "--help"]).stdout)
    found = [t.strip() for t in m.group(1).split(",")] if m else ["none"]
    real = [t for t in found if t != "none"]
    return ["none"] + real + ([",".join(real)] if len(real) > 1 else [])



def one(a, model, config, transform, tmp):
    onnx, d = DATA[model]
    onnx = os.path.join(M, onnx)
    wb, ab = CONFIGS[config]
    sqnt = os.path.join(tmp, "m.sqnt")
    val = ["--val", os.path.join(d, "val_x.npy"), "--labels", os.path.join(d, "val_y.npy")]
    if a.val_samples:
        val += ["--val-samples", str(a.val_samples)]
    calib = ["--calib", os.path.join(d, "calib_x.npy")]
    if a.calib_samples:
        calib += ["--calib-samples", str(a.calib_samples)]
    p = run([a.squint, "quantize", onnx, "-o", sqnt, "--worst", "0", "--weight-bits", str(wb), "--act-bits", str(ab),
             "--transform", transform] + calib + val)
    m = re.search(r"bits/char ([\d.]+) \(float ([\d.]+)", p.stdout) or \
        re.search(r"accuracy ([\d.]+)% \(float ([\d.]+)%", p.stdout)
    metric, ref = float(m.group(1)), float(m.group(2))
    lines = [l for l in p.stderr.splitlines() if l.startswith("linear inputs")]  # before, then after
    k = re.search(r"kurtosis median ([\d.]+) max ([\d.]+), max\|x\| \S+, max\|x\|/rms ([\d.]+)",
                  lines[-1]) if lines else None
    kurt = f"{float(k.group(1)):.1f} / {float(k.group(2)):.1f}" if k else "-"
    ratio = f"{float(k.group(3)):.1f}" if k else "-"
    rj = os.path.join(tmp, "r.json")
    run([a.squint, "report", onnx, sqnt, "--data", os.path.join(d, "val_x.npy"), "--samples", str(a.report_samples),
         "--json", rj])
    layers = [l for l in json.load(open(rj))["layers"] if l.get("isolated")]
    worst = min(layers, key=lambda l: db(l["isolated"]["sqnr_db"])) if layers else None
    per_op = json.loads(run([a.bench, "--model", sqnt, "--data", os.path.join(d, "val_x.npy"), "--per-op",
                             "--seconds", "1"]).stdout)
    total = sum(o["median_us"] for o in per_op)
    online = sum(o["median_us"] for o in per_op
                 if o["op"] == "HADAMARD" or (o["op"] == "FULLY_CONNECTED" and re.search(r"_wush(_\d+)?$", o["name"])))
    return (f"{metric:.4g} ({ref:.4g})", kurt, ratio,
            f"{db(worst['isolated']['sqnr_db']):.1f} ({worst['op']})" if worst else "-",
            f"{online:.0f} ({100 * online / total:.1f}%)" if total else "-")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squint", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--models", default="vit_tiny,vit_tiny_clipped,gpt_tiny,cnn_small")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--transforms", default="", help="semicolon-separated subset, e.g. 'none;smooth' (default: all)")
    ap.add_argument("--val-samples", type=int, default=0, help="validation samples for the task metric (0: all)")
    ap.add_argument("--calib-samples", type=int, default=0, help="calibration samples (0: all)")
    ap.add_argument("--report-samples", type=int, default=100, help="samples for the per-layer SQNR")
    a = ap.parse_args()
    ts = transforms(a.squint)
    if a.transforms:
        ts = a.transforms.split(";")
    for c in a.configs.split(","):
        if c not in CONFIGS:
            sys.exit(f"unknown config {c}; known: {', '.join(CONFIGS)}")
    print(f"transforms: {'; '.join(ts)}; validation samples: {a.val_samples or 'all'}; calibration samples: "
          f"{a.calib_samples or 'all'}; SQNR on {a.report_samples} samples", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models.split(","):
            print(f"\n### {model}\n")
            print("| config | transform | metric (float) | kurtosis median / max | max\\|x\\|/rms "
                  "| worst layer SQNR alone, dB (op) | online transform us (share) |")
            print("|---|---|---:|---:|---:|---:|---:|")
            for config in a.configs.split(","):
                for t in ts:
                    try:
                        cols = one(a, model, config, t, tmp)
                    except Refused as e:
                        print(f"| {config} | {t} | refused: {e} | | | | |", flush=True)
                        continue
                    print(f"| {config} | {t} | " + " | ".join(cols) + " |", flush=True)


if __name__ == "__main__":
    main()
