#!/usr/bin/env python3
"""Should squint's runtime offer per-token dynamic activation scales at 4 bits? (issue 18)

A simulation in ONNX Runtime (float ops only, so it isolates one choice): every matrix product's
activation inputs are fake-quantized to `--act-bits` codes (asymmetric, 2^bits levels, zero on the
grid), its constant weights to `--weight-bits` (symmetric, per output channel, round to nearest),
everything else stays float. Two ways to choose the activation grids:

- static:  one scale per tensor, from the min/max over the calibration samples (what squint's integer
  runtime does: every scale is fixed when the model is quantized);
- dynamic: one scale per token, from the token's own min/max at run time, along the axis the integer
  product can factor out: for A·B, per row of A (its last axis reduced) and per column of B (its
  second-to-last axis reduced): the rows of a Linear's input and of Q, P, and the tokens of K (Kᵀ's
  columns); V in P·V is read along the tokens, so its grid is per channel. The convolution's input
  (an image) keeps one static scale in both.

The weights are the same in both. Metric: top-1 on the validation split (vit_tiny), bits per character
(gpt_tiny). Also given: the float model through the same script (the metric code is checked to reproduce it).

  bench/per_token_study.py [--models vit_tiny,gpt_tiny] [--bits 4,3] [--weight-bits 4] [--val N]
"""
import argparse
import os

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import onnxruntime as ort

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MODELS = os.path.join(REPO, "tests", "data", "models")
FMNIST = os.path.join(MODELS, "fashion_mnist")
DATA = {  # model -> (onnx, calib x, val x, val labels)
    "vit_tiny": ("vit_tiny/vit_tiny_op17.onnx", f"{FMNIST}/calib_x.npy", f"{FMNIST}/val_x.npy", f"{FMNIST}/val_y.npy"),
    "gpt_tiny": ("gpt_tiny/gpt_tiny_op17.onnx", f"{MODELS}/gpt_tiny/calib_x.npy", f"{MODELS}/gpt_tiny/val_x.npy",
                 f"{MODELS}/gpt_tiny/val_y.npy"),
}


def product_inputs(g):
    """{node index: activation input indices} of every matrix product: MatMul, Gemm, Conv."""
    consts = {i.name for i in g.initializer} | {o for n in g.node if n.op_type == "Constant" for o in n.output}
    return {i: [k for k in range(2) if n.input[k] not in consts]
            for i, n in enumerate(g.node) if n.op_type in ("MatMul", "Gemm", "Conv")}


def session(model):
    o = ort.SessionOptions()
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    o.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), o, providers=["CPUExecutionProvider"])


def calib_ranges(model, names, x):
    """min/max of each named tensor over the calibration samples, 0 included."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for t in names:
        if t not in have:
            m.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
    s = session(m)
    lo = {t: 0.0 for t in names}
    hi = {t: 0.0 for t in names}
    for i in range(0, len(x), 64):
        vals = s.run(names, {s.get_inputs()[0].name: x[i:i + 64]})
        for t, v in zip(names, vals):
            lo[t], hi[t] = min(lo[t], float(v.min())), max(hi[t], float(v.max()))
    return lo, hi


def fake_quant_weights(model, bits):
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    qmax = 2 ** (bits - 1) - 1
    for i, acts in product_inputs(g).items():
        n = g.node[i]
        for k in range(2):
            if k in acts or n.input[k] not in inits:
                continue
            w = numpy_helper.to_array(inits[n.input[k]]).astype(np.float32)
            # The output channel: MatMul [K, N] -> columns; Gemm transB / Conv [N, ...] -> rows.
            axis = 1 if n.op_type == "MatMul" or (n.op_type == "Gemm" and not any(
                a.name == "transB" and a.i for a in n.attribute)) else 0
            red = tuple(a for a in range(w.ndim) if a != axis % w.ndim)
            s = np.maximum(np.abs(w).max(axis=red, keepdims=True) / qmax, 1e-12)
            wq = (np.clip(np.round(w / s), -qmax - 1, qmax) * s).astype(np.float32)
            inits[n.input[k]].CopyFrom(numpy_helper.from_array(wq, n.input[k]))


def add_fake_quant(model, bits, mode, ranges):
    """Inserts the activation fake quantization right before every matrix product (module doc)."""
    g = model.graph
    levels = float(2 ** bits - 1)
    uid = [0]
    emitted = []  # the nodes of the product being rewritten

    def const(v):
        uid[0] += 1
        name = f"fq_c{uid[0]}"
        g.initializer.append(numpy_helper.from_array(np.array(v, np.float32), name))
        return name

    def op(t, ins, **attrs):
        uid[0] += 1
        out = f"fq_{uid[0]}"
        emitted.append(helper.make_node(t, ins, [out], **attrs))
        return out

    def quant(x, lo, hi):  # asymmetric, levels + 1 codes, 0 on the grid
        s = op("Max", [op("Div", [op("Sub", [hi, lo]), const(levels)]), const(1e-12)])
        z = op("Round", [op("Div", [op("Neg", [lo]), s])])
        q = op("Clip", [op("Add", [op("Round", [op("Div", [x, s])]), z]), const(0.0), const(levels)])
        return op("Mul", [op("Sub", [q, z]), s])

    acts_of = product_inputs(g)
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in g.node]  # copies: g.node is cleared
    del g.node[:]
    for i, n in enumerate(nodes):
        for k in acts_of.get(i, []):
            x = n.input[k]
            lo_s, hi_s = ranges[0][x], ranges[1][x]
            if mode == "static" or n.op_type == "Conv":
                n.input[k] = quant(x, const(lo_s), const(hi_s))
                continue
            # A·B: A per row (its last axis reduced), B per column (its axis -2 reduced)
            axis = -1 if k == 0 else -2
            lo = op("Min", [op("ReduceMin", [x], axes=[axis], keepdims=1), const(0.0)])
            hi = op("Max", [op("ReduceMax", [x], axes=[axis], keepdims=1), const(0.0)])
            if mode == "pow2":  # the static grid refined by 2^-e per token, e in [0, 8]: what fits integer requant
                static_s = max((hi_s - lo_s) / levels, 1e-12)
                dyn_s = op("Max", [op("Div", [op("Sub", [hi, lo]), const(levels)]), const(1e-12)])
                e = op("Clip", [op("Floor", [op("Div", [op("Log", [op("Div", [const(static_s), dyn_s])]),
                                                           const(float(np.log(2.0)))])]), const(0.0), const(8.0)])
                s_row = op("Div", [const(static_s), op("Pow", [const(2.0), e])])
                # The row's range on that grid: lo = -z·s with z the static zero point rescaled.
                lo, hi = op("Max", [lo, op("Mul", [s_row, const(-levels)])]), op("Add", [lo, op("Mul", [s_row, const(levels)])])
            n.input[k] = quant(x, lo, hi)
        g.node.extend(emitted)
        emitted.clear()
        g.node.append(n)


def metric(kind, s, x, y):
    outs = []
    for i in range(0, len(x), 64):
        outs.append(s.run(None, {s.get_inputs()[0].name: x[i:i + 64]})[0])
    logits = np.concatenate(outs).astype(np.float64)
    if kind == "vit_tiny":
        return 100.0 * (logits.argmax(-1) == y).mean()
    logits -= logits.max(-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return float(-np.take_along_axis(logp, y[..., None].astype(np.int64), -1).mean() / np.log(2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="vit_tiny,gpt_tiny")
    ap.add_argument("--bits", default="4,3", help="activation bits to try")
    ap.add_argument("--weight-bits", type=int, default=4)
    ap.add_argument("--calib", type=int, default=256)
    ap.add_argument("--val", type=int, default=0, help="first N validation samples (0: all)")
    a = ap.parse_args()
    print("| model | config | float | static per tensor | dynamic per token | per token, power-of-two steps | metric |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name in a.models.split(","):
        path, cx, vx, vy = DATA[name]
        base = onnx.load(os.path.join(MODELS, path))
        calib = np.load(cx)[:a.calib]
        val, labels = np.load(vx), np.load(vy)
        if a.val:
            val, labels = val[:a.val], labels[:a.val]
        names = sorted({base.graph.node[i].input[k] for i, acts in product_inputs(base.graph).items() for k in acts})
        ranges = calib_ranges(base, names, calib)
        ref = metric(name, session(base), val, labels)
        for bits in (int(b) for b in a.bits.split(",")):
            row = []
            for mode in ("static", "dynamic", "pow2"):
                m = onnx.ModelProto()
                m.CopyFrom(base)
                fake_quant_weights(m, a.weight_bits)
                add_fake_quant(m, bits, mode, ranges)
                row.append(metric(name, session(m), val, labels))
            unit = "top-1 %" if name == "vit_tiny" else "bits/char"
            print(f"| {name} | W{a.weight_bits}A{bits} | {ref:.4g} | {row[0]:.4g} | {row[1]:.4g} | {row[2]:.4g} | {unit} |", flush=True)


if __name__ == "__main__":
    main()
