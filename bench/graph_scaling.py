#!/usr/bin/env python3
"""Graph-size scaling (issue 13): wall time of the CLI against the number of nodes of a chain.

Generates chains with tools/make_chain_model.py (op cycle add, mul, relu, matmul, linear, identity;
4 features) in a temporary folder and times, best of --repeat runs each:
  inspect      squint inspect chain.onnx       (import, onnx checker, canonicalization, summary)
  run          squint run chain.onnx           (the same plus the float evaluator)
  quantize     squint quantize chain.onnx      (calibration on 16 samples, lowering, planning, writing,
                                                the float-vs-integer check); sizes <= --quantize-max
  run .sqnt    squint run chain.sqnt           (load: verify, plan check; invoke)
  inspect .sqnt squint inspect chain.sqnt
Prints a Markdown table (seconds) and, per column, the slope of log(time) against log(nodes)
fitted over all sizes: 1 means linear, 2 quadratic. Exit status 1 when a slope exceeds
--max-slope (default 1.5), so that a regression fails loudly: the linear code measures 1.25-1.3
on the 2-core machine under load (instruction counts grow 3.8x for 4x the nodes; the rest is
caches and the allocator as the working set grows past them), the quadratic code it replaced
measured 2.4. Usage (from the repository root,
a release build of squint):
  .venv/bin/python bench/graph_scaling.py [--squint build/cli/squint] [--sizes 10000,25000,50000,100000,200000]
      [--quantize-max 100000] [--repeat 3] [--max-slope 1.5]
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
import make_chain_model  # noqa: E402

OPS = ("add", "mul", "relu", "matmul", "linear", "identity")
COLUMNS = ("inspect", "run", "quantize", "run .sqnt", "inspect .sqnt")


def best_time(cmd, repeat, timeout):
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        elapsed = time.perf_counter() - t
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
        best = min(best, elapsed)
    return best


def slope(sizes, times):
    pts = [(math.log(n), math.log(t)) for n, t in zip(sizes, times) if t is not None]
    if len(pts) < 2:
        return None
    x, y = np.array(pts).T
    return float(np.polyfit(x, y, 1)[0])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--squint", default=os.environ.get("SQUINT_BIN", os.path.join(REPO, "build", "cli", "squint")))
    p.add_argument("--sizes", default="10000,25000,50000,100000,200000")
    p.add_argument("--quantize-max", type=int, default=100000, help="largest chain to quantize (default 100000)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--max-slope", type=float, default=1.5)
    p.add_argument("--timeout", type=float, default=600, help="seconds per command")
    a = p.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="squint_scaling_") as tmp:
        x = os.path.join(tmp, "x.npy")
        calib = os.path.join(tmp, "calib.npy")
        rng = np.random.default_rng(0)
        np.save(x, rng.uniform(-2, 2, (1, 4)).astype(np.float32))
        np.save(calib, rng.uniform(-2, 2, (16, 4)).astype(np.float32))
        out = os.path.join(tmp, "out")
        for n in sizes:
            model = os.path.join(tmp, f"chain_{n}.onnx")
            onnx.save(make_chain_model.make_chain(n, OPS), model)
            sqnt = os.path.join(tmp, f"chain_{n}.sqnt")
            t = {}
            t["inspect"] = best_time([a.squint, "inspect", model], a.repeat, a.timeout)
            t["run"] = best_time([a.squint, "run", model, "--input", f"x={x}", "--output-dir", out], a.repeat, a.timeout)
            if n <= a.quantize_max:
                t["quantize"] = best_time([a.squint, "quantize", model, "-o", sqnt, "--calib", calib], a.repeat,
                                          a.timeout)
                t["run .sqnt"] = best_time([a.squint, "run", sqnt, "--input", f"x={x}", "--output-dir", out], a.repeat,
                                           a.timeout)
                t["inspect .sqnt"] = best_time([a.squint, "inspect", sqnt], a.repeat, a.timeout)
            rows[n] = t
            print(f"{n} nodes: " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()), file=sys.stderr, flush=True)

    print("| nodes | " + " | ".join(f"{c} (s)" for c in COLUMNS) + " |")
    print("|---:|" + "---:|" * len(COLUMNS))
    for n in sizes:
        cells = [f"{rows[n][c]:.2f}" if c in rows[n] else "-" for c in COLUMNS]
        print(f"| {n} | " + " | ".join(cells) + " |")
    slopes = {c: slope(sizes, [rows[n].get(c) for n in sizes]) for c in COLUMNS}
    print("| log-log slope | " + " | ".join("-" if s is None else f"{s:.2f}" for s in slopes.values()) + " |")
    bad = [c for c, s in slopes.items() if s is not None and s > a.max_slope]
    if bad:
        print(f"slope above {a.max_slope}: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
