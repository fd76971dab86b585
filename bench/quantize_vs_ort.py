#!/usr/bin/env python3
"""Quantization time: `squint quantize` vs ONNX Runtime `quantize_static`, same model, same data.

squint: the whole command (process start, import, canonicalization, calibration on every sample
of CALIB.npy, lowering, serialization, and its accuracy check cut to --val-samples 1), timed
from outside. ORT: quantize_static (QDQ, MinMax, per-channel; the qdq_minmax_per_channel
configuration of tools/baselines/run_baselines.py, batches of 64) on the same samples, timed
in-process (the Python import of onnxruntime is not counted). The two alternate for --rounds
rounds; the medians and their ratio are printed.
  bench/quantize_vs_ort.py --squint build/cli/squint --calib CALIB.npy --val VAL.npy MODEL.onnx
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from runtime_vs_ort import load_inputs, ort_quantize


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squint", required=True)
    ap.add_argument("--calib", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("model")
    a = ap.parse_args()
    calib = load_inputs(a.calib, a.model)  # input name -> samples, as ort_quantize takes them
    samples = len(next(iter(calib.values())))
    s, o = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            subprocess.run([a.squint, "quantize", a.model, "-o", os.path.join(tmp, "m.sqnt"), "--calib", a.calib,
                            "--val", a.val, "--val-samples", "1"], check=True, capture_output=True)
            s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ort_quantize(a.model, os.path.join(tmp, "m_qdq.onnx"), calib)
            o.append(time.perf_counter() - t0)
    s, o = statistics.median(s), statistics.median(o)
    print("| model | calibration samples | squint quantize (s) | ORT quantize_static (s) | ratio |")
    print("|---|---:|---:|---:|---:|")
    print(f"| {os.path.basename(a.model)} | {samples} | {s:.2f} | {o:.2f} | {s / o:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
