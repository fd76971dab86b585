#!/usr/bin/env python3
"""Float evaluator vs ONNX Runtime fp32, batch 1, single thread, measured in one run.

Prints a markdown table row per model: squint time, ONNX Runtime time, and the ratio.
  bench/eval_vs_ort.py --bench build/bench/squint_eval_bench MODEL.onnx:DATA.npy ...
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort


def ort_time_us(model: str, x: np.ndarray, seconds: float = 2.0) -> float:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for _ in range(20):
        sess.run(None, {name: x})
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def squint_time_us(bench: str, model: str, data: str) -> float:
    out = subprocess.run([bench, "--model", model, "--data", data, "--benchmark_format=json",
                          "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true"],
                         capture_output=True, text=True, check=True)
    runs = json.loads(out.stdout)["benchmarks"]
    med = [r for r in runs if r.get("aggregate_name") == "median"][0]
    scale = {"us": 1.0, "ms": 1e3, "ns": 1e-3}[med["time_unit"]]
    return med["real_time"] * scale


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("pairs", nargs="+", help="MODEL.onnx:DATA.npy")
    args = ap.parse_args()
    print("| model | squint float evaluator (µs) | ONNX Runtime fp32 (µs) | ratio |")
    print("|---|---|---|---|")
    for pair in args.pairs:
        model, data = pair.split(":")
        x = np.load(data)[:1]
        s = squint_time_us(args.bench, model, data)
        o = ort_time_us(model, x)
        print(f"| {model.split('/')[-1]} | {s:.0f} | {o:.0f} | {s / o:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
