#!/usr/bin/env python3
"""Cross-checks squint's float evaluator against ONNX Runtime on one model.

Runs `squint run` and onnxruntime on the same inputs and reports, per output, the largest
absolute difference relative to the output's range (max - min over ONNX Runtime's output);
with --labels also both top-1 accuracies. Exit status 1 when the difference exceeds --tol.

  tools/ort_crosscheck.py --squint build/cli/squint --model M.onnx --data val_x.npy [--labels val_y.npy]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squint", required=True, help="path to the squint binary")
    ap.add_argument("--model", required=True, help="the .onnx model (single input)")
    ap.add_argument("--data", required=True, help=".npy with samples along the first axis")
    ap.add_argument("--labels", help=".npy of integer labels: report top-1 accuracy of both")
    ap.add_argument("--count", type=int, default=256, help="how many samples (default 256)")
    ap.add_argument("--tol", type=float, default=1e-4, help="max |diff| / range allowed (default 1e-4)")
    args = ap.parse_args()

    x = np.load(args.data)[: args.count]
    sess_opts = ort.SessionOptions()
    sess_opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(args.model, sess_opts, providers=["CPUExecutionProvider"])
    input_name = sess.get_inputs()[0].name
    ref = sess.run(None, {input_name: x})
    names = [o.name for o in sess.get_outputs()]

    with tempfile.TemporaryDirectory() as tmp:
        xin = os.path.join(tmp, "x.npy")
        np.save(xin, x)
        out_dir = os.path.join(tmp, "out")
        proc = subprocess.run([args.squint, "run", args.model, "--input", f"{input_name}={xin}",
                               "--output-dir", out_dir], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"squint run failed ({proc.returncode}): {proc.stderr.strip()}", file=sys.stderr)
            return 1
        got = [np.load(os.path.join(out_dir, f"{n}.npy")) for n in names]

    ok = True
    model = os.path.basename(args.model)
    for name, r, g in zip(names, ref, got):
        if r.shape != g.shape:
            print(f"{model} {name}: shape {g.shape} differs from ONNX Runtime's {r.shape}")
            ok = False
            continue
        span = float(r.max() - r.min()) or 1.0
        rel = float(np.abs(r.astype(np.float64) - g).max()) / span
        status = "ok" if rel <= args.tol else "FAIL"
        ok &= rel <= args.tol
        print(f"{model} {name}: {len(x)} samples, max |squint - onnxruntime| / range = {rel:.2e} "
              f"(limit {args.tol:.0e}) {status}")
    if args.labels:
        y = np.load(args.labels)[: args.count]
        acc_ref = float((ref[0].argmax(-1) == y).mean()) * 100
        acc_got = float((got[0].argmax(-1) == y).mean()) * 100
        print(f"{model} top-1 accuracy: squint float {acc_got:.2f}%, onnxruntime {acc_ref:.2f}% "
              f"on {len(y)} validation samples")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
