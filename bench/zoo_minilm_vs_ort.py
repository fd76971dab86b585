#!/usr/bin/env python3
"""all-MiniLM-L6-v2 (tools/zoo/minilm.py): squint against ONNX Runtime's quantizers, same sentences.

For each configuration: mean and minimum cosine of the 300 validation sentence embeddings to the
fp32 (torch) embeddings, and nearest-neighbour agreement (for each sentence, whether its nearest
other sentence is the one fp32 finds). ORT: quantize_static (QDQ, MinMax, per-channel, QUInt8
activations, QInt8 weights, on the 256 calibration sentences), the same with only MatMuls quantized,
and quantize_dynamic (int8 weights per channel, activations quantized at run time from float: not
integer-only). squint: `squint quantize` (fully integer) with each --options set, then `squint run`
on the 300 sentences. Quantization time: squint's whole command (its accuracy check cut to one
sample) against quantize_static in-process, in one run.

  bench/zoo_minilm_vs_ort.py --squint build/cli/squint [--skip-ort] [--calib N --val N --configs K]
(--calib/--val/--configs cut the sentences and the squint configurations for a smoke run.)
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "zoo"))
import fetch  # noqa: E402

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
SQUINT_CONFIGS = [
    ("W8A8", []),
    ("W8A8, int16 LayerNorm", ["--a16", "LayerNormalization"]),
    ("W8A8, int16 LayerNorm + residual Add + GELU", ["--a16", "LayerNormalization", "--a16", "Add", "--a16", "Gelu"]),
    ("W8, int16 LayerNorm + Linear (what --max-drop 0.005 chose)", ["--a16", "LayerNormalization", "--a16", "Linear"]),
    ("W4A8 g32 GPTQ, int16 LayerNorm", ["--weight-bits", "4", "--group-size", "32", "--weight-rounding", "gptq",
                                        "--a16", "LayerNormalization"]),
    ("W4A8 g32, int16 LayerNorm + residual Add + GELU",
     ["--weight-bits", "4", "--group-size", "32", "--a16", "LayerNormalization", "--a16", "Add", "--a16", "Gelu"]),
]


def scores(emb, ref):
    cos = (emb * ref).sum(1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(ref, axis=1))
    sim_f, sim_q = ref @ ref.T, emb @ ref.T
    np.fill_diagonal(sim_f, -9)
    np.fill_diagonal(sim_q, -9)
    return cos.mean(), cos.min(), (sim_f.argmax(1) == sim_q.argmax(1)).mean()


def ort_configs(model, calib, val, tmp):
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.i = 0

        def get_next(self):
            if self.i >= len(calib["input_ids"]):
                return None
            r = {k: calib[k][self.i:self.i + 1] for k in INPUTS}
            self.i += 1
            return r

    def run(path):
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return np.concatenate([s.run(None, {k: val[k][i:i + 1] for k in INPUTS})[0] for i in range(len(val["input_ids"]))])

    out, t_static = [], None
    for name, kw in [("ORT quantize_static QDQ per-channel", {}),
                     ("ORT quantize_static, MatMul only", {"op_types_to_quantize": ["MatMul"]})]:
        dst = os.path.join(tmp, "static.onnx")
        t0 = time.perf_counter()
        quantize_static(model, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, **kw)
        if t_static is None:
            t_static = time.perf_counter() - t0
        out.append((name, run(dst)))
    dst = os.path.join(tmp, "dynamic.onnx")
    quantize_dynamic(model, dst, per_channel=True, weight_type=QuantType.QInt8)
    out.append(("ORT quantize_dynamic per-channel (float activations)", run(dst)))
    return out, t_static


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squint", required=True)
    ap.add_argument("--skip-ort", action="store_true")
    ap.add_argument("--calib", type=int, default=0, help="use the first N calibration sentences (0: all 256)")
    ap.add_argument("--val", type=int, default=0, help="use the first N validation sentences (0: all 300)")
    ap.add_argument("--configs", type=int, default=0, help="run the first K squint configurations (0: all)")
    a = ap.parse_args()
    subprocess.run([sys.executable, os.path.join(REPO, "tools", "zoo", "minilm.py")], check=True)
    d = os.path.join(fetch.cache_dir(), "minilm")
    model = os.path.join(d, "minilm_l6_op17.onnx")
    calib_path, val_path = os.path.join(d, "calib.npz"), os.path.join(d, "val.npz")
    calib, val = dict(np.load(calib_path)), dict(np.load(val_path))
    ref = np.load(os.path.join(d, "val_ref.npy"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if a.calib or a.val:  # smoke run: subsets written beside the cut arrays
            calib = {k: v[:a.calib or len(v)] for k, v in calib.items()}
            val = {k: v[:a.val or len(v)] for k, v in val.items()}
            ref = ref[:len(val["input_ids"])]
            calib_path, val_path = os.path.join(tmp, "calib.npz"), os.path.join(tmp, "val.npz")
            np.savez(calib_path, **calib)
            np.savez(val_path, **val)
        t_squint = None
        for name, opts in SQUINT_CONFIGS[:a.configs or len(SQUINT_CONFIGS)]:
            sqnt = os.path.join(tmp, "m.sqnt")
            t0 = time.perf_counter()
            subprocess.run([a.squint, "quantize", model, "-o", sqnt, "--calib", calib_path, "--val", val_path,
                            "--val-samples", "1", "--accumulated-only", *opts], check=True, capture_output=True)
            if t_squint is None:
                t_squint = time.perf_counter() - t0
            out = os.path.join(tmp, "out")
            subprocess.run([a.squint, "run", sqnt, "--input", val_path, "--output-dir", out], check=True,
                           capture_output=True)
            rows.append((f"squint {name}" + (" (" + " ".join(opts) + ")" if opts else ""),
                         np.load(os.path.join(out, "embedding.npy")), os.path.getsize(sqnt)))
        t_static = None
        if not a.skip_ort:
            ort_rows, t_static = ort_configs(model, calib, val, tmp)
            rows += [(n, e, None) for n, e in ort_rows]
    print("| configuration | mean cosine | min cosine | nearest-neighbour agreement | file bytes |")
    print("|---|---:|---:|---:|---:|")
    for name, emb, size in rows:
        m, lo, nn = scores(emb, ref)
        print(f"| {name} | {m:.4f} | {lo:.4f} | {nn * 100:.1f} % | {size if size else '-'} |")
    print()
    print(f"quantization time, {len(calib['input_ids'])} calibration sentences: squint W8A8 {t_squint:.1f} s"
          + (f", ORT quantize_static {t_static:.1f} s, ratio {t_squint / t_static:.2f}x" if t_static else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
