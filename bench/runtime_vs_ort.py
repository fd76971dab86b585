#!/usr/bin/env python3
"""Integer runtime latency vs ONNX Runtime fp32 and int8 (QDQ), batch 1, one thread (or --threads N).

For each MODEL.onnx: quantizes it with `squint quantize` (all of CALIB.npy) and with ORT
`quantize_static` (QDQ, MinMax, per-channel int8 weights, uint8 activations: the
qdq_minmax_per_channel configuration of tools/baselines/run_baselines.py), then times the three
in interleaved rounds (squint runtime, ORT fp32, ORT int8, repeated --rounds times, each for
--seconds) on the first sample of DATA and reports the median of the round medians and the
ratios. CALIB and DATA are .npy files (one input) or .npz files with one array per input, by name
(e.g. a transformer's input_ids, attention_mask, token_type_ids); --quantize-arg passes extra
options to `squint quantize` (e.g. --quantize-arg=--calib-samples --quantize-arg=64). Interleaving keeps the ratios fair on a machine whose load changes over the run.
--isa reference,avx2,avx512vnni times the squint runtime once per instruction set (SQUINT_ISA, one
column each; the ratios use the last); the default `auto` is the runtime's own choice.
--threads N runs all three on N threads (squint_rt_options.num_threads, ORT's intra_op_num_threads).
--no-int8 leaves ORT int8 out (its quantize_static crashes on some models, e.g. PP-OCRv4's
recognizer). --bench-before B times a second squint_runtime_bench binary (an older build) on the
same .sqnt in the same rounds, one more column: a runtime change measured before/after.
  bench/runtime_vs_ort.py --squint build/cli/squint --bench build/bench/squint_runtime_bench \\
      --calib CALIB.npy --data DATA.npy [--isa auto] [--threads 1] [--no-int8] [--bench-before B] MODEL.onnx ...
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)


class Reader(CalibrationDataReader):
    """Batches of `batch` samples of every input (x: input name -> array)."""

    def __init__(self, x, batch=64):
        n = len(next(iter(x.values())))
        self.batches, self.i = [{k: v[i:i + batch] for k, v in x.items()} for i in range(0, n, batch)], 0

    def get_next(self):
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return self.batches[self.i - 1]

    def rewind(self):
        self.i = 0


def load_inputs(path, model):
    """input name -> array: a .npz by name, or a .npy for the model's first input."""
    if path.endswith(".npz"):
        return dict(np.load(path))
    name = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).get_inputs()[0].name
    return {name: np.load(path)}


def ort_quantize(src, dst, x):
    quantize_static(src, dst, Reader(x), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)


def ort_session(path, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def ort_round_us(sess, x, seconds):
    feed = {i.name: x[i.name] for i in sess.get_inputs()}
    for _ in range(5):
        sess.run(None, feed)
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 20:
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def squint_round_us(bench, sqnt, data, seconds, isa, threads):
    env = dict(os.environ)
    env.pop("SQUINT_ISA", None)
    if isa != "auto":
        env["SQUINT_ISA"] = isa
    out = subprocess.run([bench, "--model", sqnt, "--data", data, "--seconds", str(seconds), "--threads", str(threads)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout)["median_us"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squint", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--calib", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--isa", default="auto", help="comma-separated SQUINT_ISA values to time (auto: the runtime's choice)")
    ap.add_argument("--quantize-arg", action="append", default=[], help="extra option for squint quantize")
    ap.add_argument("--threads", type=int, default=1, help="threads of all three runtimes (default 1)")
    ap.add_argument("--no-int8", action="store_true", help="leave ORT int8 (quantize_static) out")
    ap.add_argument("--bench-before", help="another squint_runtime_bench (an older build) timed in the same rounds")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    if a.threads < 1:
        ap.error(f"--threads {a.threads}: expected 1 or more")
    isas = a.isa.split(",")
    label = ["squint integer runtime" + ("" if isa == "auto" else f" {isa}") + " (µs)" for isa in isas]
    before = [f"before: {os.path.basename(a.bench_before)} (µs)"] if a.bench_before else []
    int8_cols = [] if a.no_int8 else ["ORT int8 QDQ (µs)"]
    ratios = ["vs fp32"] + ([] if a.no_int8 else ["vs int8"])
    header = ["model", *before, *label, "ORT fp32 (µs)", *int8_cols, *ratios]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models:
            base = os.path.splitext(os.path.basename(model))[0]
            sqnt = os.path.join(tmp, base + ".sqnt")
            qdq = os.path.join(tmp, base + "_qdq.onnx")
            subprocess.run([a.squint, "quantize", model, "-o", sqnt, "--calib", a.calib, "--val", a.data,
                            "--val-samples", "1", *a.quantize_arg], check=True, capture_output=True)
            calib = load_inputs(a.calib, model)
            x = {k: v[:1] for k, v in load_inputs(a.data, model).items()}
            fp32 = ort_session(model, a.threads)
            int8 = None
            if not a.no_int8:
                ort_quantize(model, qdq, calib)
                int8 = ort_session(qdq, a.threads)
            s, b, f, q = {isa: [] for isa in isas}, [], [], []
            for _ in range(a.rounds):
                if a.bench_before:
                    b.append(squint_round_us(a.bench_before, sqnt, a.data, a.seconds, isas[-1], a.threads))
                for isa in isas:
                    s[isa].append(squint_round_us(a.bench, sqnt, a.data, a.seconds, isa, a.threads))
                f.append(ort_round_us(fp32, x, a.seconds))
                if int8 is not None:
                    q.append(ort_round_us(int8, x, a.seconds))
            s = {isa: statistics.median(v) for isa, v in s.items()}
            f, last = statistics.median(f), s[isas[-1]]
            cols = [f"{statistics.median(b):.0f}"] if b else []
            cols += [f"{s[isa]:.0f}" for isa in isas] + [f"{f:.0f}"]
            cols += [] if int8 is None else [f"{statistics.median(q):.0f}"]
            cols += [f"{last / f:.2f}x"] + ([] if int8 is None else [f"{last / statistics.median(q):.2f}x"])
            print(f"| {base} | " + " | ".join(cols) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
