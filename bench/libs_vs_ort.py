#!/usr/bin/env python3
"""squint's int8 GEMM and integer SOFTMAX against oneDNN, XNNPACK and ONNX Runtime, one thread.

Runs build/bench/squint_libs_bench (squint's AVX-512 VNNI GEMM, oneDNN matmul, XNNPACK qs8
fully-connected, squint's SOFTMAX; see bench/libs_bench.cc) and ONNX Runtime in interleaved rounds
(the C++ binary once, then ORT, --rounds times) and prints the median of the rounds:

- int8 GEMM in GMAC/s at M×N×K = 1024³, 197×768×768, 50×96×288, 1×768×768. ORT int8 is
  QLinearMatMul (uint8 activations with a zero point, int8 weights with per-column scales, uint8
  output: ORT's own int8 kernel, MLAS, with the weights prepacked at session creation).
- softmax per element (ns) on rows × depth = 50², 64², 128², 197², 256², 512²: squint's int8 →
  int8 SOFTMAX (the rows prepare picks; also each of its two AVX-512 row kernels)
  against ORT's fp32 Softmax on the same shape.

Times are CPU time of the timing thread on both sides (Google Benchmark's default; ORT's one
intra-op thread is the calling thread), so that a loaded machine's preemptions count for neither.
ORT times are free of the per-call overhead of a Python `run`: each model holds R copies of the op
(a chain when the op's output can feed the next copy: softmax and the N = K GEMMs; otherwise R
parallel copies with their outputs as graph outputs) and a model with one copy is timed too; the
op's time is (t_R − t_1)/(R − 1).

  .venv/bin/python bench/libs_vs_ort.py --bench build/bench/squint_libs_bench [--rounds 3]
"""
import argparse
import json
import statistics
import subprocess
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

GEMM_SHAPES = [(1024, 1024, 1024), (197, 768, 768), (50, 96, 288), (1, 768, 768)]
SOFTMAX_SHAPES = [(50, 50), (64, 64), (128, 128), (197, 197), (256, 256), (512, 512)]
LIBS = {0: "squint", 1: "oneDNN", 2: "XNNPACK"}


def session(model):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def gemm_model(m, n, k, copies, rng):
    """`copies` QLinearMatMul of x [m, k] (uint8) by constant int8 weights [k, n]."""
    chain = n == k
    inits, nodes, outputs = [], [], []
    scalars = [helper.make_tensor("a_s", TensorProto.FLOAT, [], [0.05]),
               helper.make_tensor("a_z", TensorProto.UINT8, [], [125]),
               helper.make_tensor("y_s", TensorProto.FLOAT, [], [0.5]),
               helper.make_tensor("y_z", TensorProto.UINT8, [], [133])]
    inits += scalars
    prev = "x"
    for i in range(copies):
        w = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
        inits.append(helper.make_tensor(f"w{i}", TensorProto.INT8, [k, n], w.tobytes(), raw=True))
        inits.append(helper.make_tensor(f"w_s{i}", TensorProto.FLOAT, [n],
                                        (0.01 * (1 + np.arange(n) / 4096)).astype(np.float32)))
        inits.append(helper.make_tensor(f"w_z{i}", TensorProto.INT8, [n], np.zeros(n, np.int8).tobytes(), raw=True))
        out = f"y{i}"
        nodes.append(helper.make_node("QLinearMatMul", [prev if chain else "x", "a_s", "a_z", f"w{i}", f"w_s{i}",
                                                         f"w_z{i}", "y_s", "y_z"], [out]))
        if chain:
            prev = out
        else:
            outputs.append(helper.make_tensor_value_info(out, TensorProto.UINT8, [m, n]))
    if chain:
        outputs = [helper.make_tensor_value_info(prev, TensorProto.UINT8, [m, n])]
    graph = helper.make_graph(nodes, "gemm", [helper.make_tensor_value_info("x", TensorProto.UINT8, [m, k])],
                              outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def softmax_model(rows, depth, copies):
    nodes = [helper.make_node("Softmax", ["x" if i == 0 else f"s{i - 1}"], [f"s{i}"], axis=-1) for i in range(copies)]
    graph = helper.make_graph(nodes, "softmax", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, depth])],
                              [helper.make_tensor_value_info(f"s{copies - 1}", TensorProto.FLOAT, [rows, depth])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run_time(sess, feed, seconds):
    """Median CPU seconds of the calling thread (ORT runs on it: one intra-op thread) per sess.run,
    over batches of runs lasting about `seconds` in all: the CPU time Google Benchmark reports for
    squint_libs_bench's rows, so that time the machine's other jobs take counts for neither side."""
    for _ in range(3):
        sess.run(None, feed)
    t0 = time.thread_time()
    sess.run(None, feed)
    once = max(time.thread_time() - t0, 1e-6)
    batch = max(1, int(0.01 / once))
    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 5:
        t0 = time.thread_time()
        for _ in range(batch):
            sess.run(None, feed)
        samples.append((time.thread_time() - t0) / batch)
    return statistics.median(samples)


def op_time(make, feed, copies, seconds):
    """(t_copies − t_1)/(copies − 1): one op's time without the per-run overhead."""
    one = run_time(session(make(1)), feed, seconds)
    many = run_time(session(make(copies)), feed, seconds)
    return (many - one) / (copies - 1)


def ort_round(seconds, rng):
    gemm, softmax = {}, {}
    for m, n, k in GEMM_SHAPES:
        copies = 5 if m * n * k >= 10 ** 8 else 17
        x = rng.integers(0, 256, size=(m, k), dtype=np.uint8)
        t = op_time(lambda c: gemm_model(m, n, k, c, np.random.default_rng(1)), {"x": x}, copies, seconds)
        gemm[(m, n, k)] = m * n * k / t / 1e9
    for rows, depth in SOFTMAX_SHAPES:
        x = rng.normal(0, 1.5, size=(rows, depth)).astype(np.float32)
        t = op_time(lambda c: softmax_model(rows, depth, c), {"x": x}, 9, seconds)
        softmax[(rows, depth)] = t / (rows * depth) * 1e9
    return gemm, softmax


def bench_round(bench, min_time):
    out = subprocess.run([bench, f"--benchmark_min_time={min_time}", "--benchmark_format=json"], check=True,
                         capture_output=True, text=True).stdout
    gemm, softmax, labels = {}, {}, {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("error_occurred"):
            continue
        args = dict(kv.split(":") for kv in b["name"].split("/")[1:])
        if b["name"].startswith("BM_Gemm"):
            key = (int(args["M"]), int(args["N"]), int(args["K"]), int(args["lib"]))
            gemm[key] = b["MAC/s"] / 1e9
            labels[LIBS[key[3]]] = b.get("label", "") or LIBS[key[3]]
        else:
            # seconds in the JSON; path 0: the rows prepare picks, 1 / 2: the float / VBMI rows
            softmax[(int(args["rows"]), int(args["depth"]), int(args["path"]))] = b["ns/element"] * 1e9
    return gemm, softmax, labels


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="build/bench/squint_libs_bench")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=0.3, help="ORT time per model per round")
    ap.add_argument("--min-time", type=float, default=0.3, help="the C++ benchmark's --benchmark_min_time")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    c_gemm, c_soft, o_gemm, o_soft, labels = [], [], [], [], {}
    for _ in range(a.rounds):
        g, s, labels = bench_round(a.bench, a.min_time)
        c_gemm.append(g)
        c_soft.append(s)
        g, s = ort_round(a.seconds, rng)
        o_gemm.append(g)
        o_soft.append(s)

    def med(rounds, key):
        vals = [r[key] for r in rounds if key in r]
        return statistics.median(vals) if vals else float("nan")

    print(f"onnxruntime {ort.__version__}, libraries: {', '.join(labels.values())}")
    print("| M × N × K | squint (GMAC/s) | oneDNN | XNNPACK | ORT int8 | squint / oneDNN | squint / XNNPACK | squint / ORT |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for m, n, k in GEMM_SHAPES:
        s, d, x = (med(c_gemm, (m, n, k, lib)) for lib in range(3))
        o = med(o_gemm, (m, n, k))
        print(f"| {m}×{n}×{k} | {s:.0f} | {d:.0f} | {x:.0f} | {o:.0f} | {s / d:.2f}x | {s / x:.2f}x | {s / o:.2f}x |")
    print()
    print("| rows × depth | squint int8 (ns/element) | float rows | VBMI rows | ORT fp32 (ns/element) | squint / ORT |")
    print("|---|---:|---:|---:|---:|---:|")
    for r, d in SOFTMAX_SHAPES:
        s, f, v, o = med(c_soft, (r, d, 0)), med(c_soft, (r, d, 1)), med(c_soft, (r, d, 2)), med(o_soft, (r, d))
        print(f"| {r}×{d} | {s:.2f} | {f:.2f} | {v:.2f} | {o:.2f} | {s / o:.2f}x |")


if __name__ == "__main__":
    main()
