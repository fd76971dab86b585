"""Accuracy of squint's integer PP-OCRv4 detector and recognizer and PP-OCR's text-direction
classifier (a MobileNetV3 with hard-swish and squeeze-excite; rapidocr-onnxruntime wheel,
tools/zoo/fetch.py) against their fp32 models on the rendered images of tools/zoo/ocr_data.py,
beside ONNX Runtime's quantize_static on the same data.

    python tools/zoo/ocr_eval.py [--model det|rec|cls] [--squint build/cli/squint] [--val N] [--calib N]
                                 [--observer NAME] [--a16 NAME ...] [--ort] [--json OUT]

Steps, each printed with its figure:
  float   `squint run` (float evaluator) vs ONNX Runtime fp32: max |diff| / output range
  squint  `squint quantize` (W8A8, per-channel weights; --observer, default mse) on det_calib.npy,
          then `squint run` of the .sqnt on det_val.npy
  ort     (--ort) quantize_static: QDQ, int8 per-channel weights, int8 activations, MinMax, same
          calibration images (after ORT's quant_pre_process), run by ONNX Runtime
Metric against fp32 ORT, per image, mean and minimum reported:
  det  IoU of the binarized probability maps (p > 0.3, PaddleOCR's DB postprocess threshold)
  rec  agreement of the CTC output's argmax per time step (40 steps of 6625 classes per line)
  cls  top-1 agreement (upright / turned 180 degrees), and the accuracy against the rendered truth
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import fetch  # noqa: E402
import ocr_data  # noqa: E402

# kind -> (model file in the wheel, input size H x W, data set prefix of ocr_data.py)
MODELS = {
    "det": ("rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx", ocr_data.DET_SIZE, "det"),
    "rec": ("rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx", ocr_data.REC_SIZE, "rec"),
    "cls": ("rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx", ocr_data.CLS_SIZE, "cls"),
}
DET = MODELS["det"][0]
THRESHOLD = 0.3  # rapidocr config.yaml Det.thresh (PaddleOCR DBPostProcess)
INPUT = "x"


def model_path(kind="det"):
    path = os.path.join(fetch.fetch("rapidocr-onnxruntime"), MODELS[kind][0])
    if not os.path.exists(path):
        raise SystemExit(f"ocr_eval.py: {path} is missing from the wheel")
    return path


def data_dir(calib, val, kinds=ocr_data.KINDS):
    return ocr_data.build(os.path.join(fetch.cache_dir(), "ocr_data"), calib, val, kinds)


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def argmax_agreement(a, b):
    """Fraction of time steps (rows of a [T, C] CTC output) whose argmax class agrees."""
    return float((a.argmax(-1) == b.argmax(-1)).mean())



def iou(a, b):
    """IoU of the binarized maps a > THRESHOLD and b > THRESHOLD (1 when both are empty)."""
    pa, pb = a > THRESHOLD, b > THRESHOLD
    union = np.logical_or(pa, pb).sum()
    return float(np.logical_and(pa, pb).sum() / union) if union else 1.0


METRICS = {"det": iou, "rec": argmax_agreement, "cls": argmax_agreement}


def ort_session(path):
    import onnxruntime as ort
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def squint_outputs(squint, model, x, workdir):
    """`squint run` of the .sqnt on all images of x at once (the model's batch is free); [N, ...]."""
    np.save(os.path.join(workdir, "x.npy"), x)
    out = os.path.join(workdir, "out")
    run([squint, "run", model, "--input", f"{INPUT}={os.path.join(workdir, 'x.npy')}", "--output-dir", out])
    names = [f for f in os.listdir(out) if f.endswith(".npy")]
    if len(names) != 1:
        raise RuntimeError(f"squint run wrote {names}, expected one output")
    return np.load(os.path.join(out, names[0]))


def ort_run_isolated(model, x, workdir):
    """The output of `model` on x run by ONNX Runtime in a child process, or None when that process
    dies of a signal (ORT 1.19 segfaults on some of its own QDQ models)."""
    np.save(os.path.join(workdir, "ort_x.npy"), x)
    out = os.path.join(workdir, "ort_y.npy")
    code = ("import sys, numpy as np, onnxruntime as ort; s = ort.InferenceSession(sys.argv[1], "
            "providers=['CPUExecutionProvider']); np.save(sys.argv[3], s.run(None, {'%s': np.load(sys.argv[2])})[0])"
            % INPUT)
    proc = subprocess.run([sys.executable, "-c", code, model, os.path.join(workdir, "ort_x.npy"), out],
                          capture_output=True, text=True)
    if proc.returncode < 0:
        return None
    if proc.returncode != 0:
        raise RuntimeError(f"onnxruntime on {model} failed: {proc.stderr}")
    return np.load(out)


def float_check(squint, model, x, workdir):
    """max |squint float − ORT fp32| / range of the ORT output, over x (one squint run)."""
    np.save(os.path.join(workdir, "xf.npy"), x)
    out = os.path.join(workdir, "float_out")
    run([squint, "run", model, "--input", f"{INPUT}={os.path.join(workdir, 'xf.npy')}", "--output-dir", out])
    got = np.load(os.path.join(out, os.listdir(out)[0]))
    ref = ort_session(model).run(None, {INPUT: x})[0]
    return float(np.abs(got - ref).max() / (ref.max() - ref.min()))


def squint_quantize(squint, model, calib, val, out, observer, extra=(), size=ocr_data.DET_SIZE):
    """Quantizes with the CLI (every calibration image; the CLI's own check on the first image of
    `val`); returns (seconds, stdout)."""
    h, w = size
    t = time.time()
    proc = run([squint, "quantize", model, "-o", out, "--calib", calib, "--val", val, "--val-samples", "1",
                "--input-shape", f"{INPUT}=1x3x{h}x{w}", "--observer", observer, "--accumulated-only", *extra])
    return time.time() - t, proc.stdout


def ort_quantize(model, calib_x, out):
    """quantize_static: QDQ, int8 per-channel weights, int8 activations, MinMax; returns seconds."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self, x):
            self.it = iter([{INPUT: x[i:i + 1]} for i in range(len(x))])

        def get_next(self):
            return next(self.it, None)

    from onnxruntime.quantization.shape_inference import quant_pre_process

    t = time.time()
    # ORT's recommended pre-processing; it folds the exporter's Constant nodes, whose rank-0 outputs
    # otherwise break the calibrator's ReduceMax. Its symbolic shape inference cannot complete on
    # this model (dims p2o.DynamicDimension.*), so only ONNX shape inference and the optimizer run.
    # ORT's per-channel QDQ needs opset >= 13: the opset-12 model is first converted by
    # onnx.version_converter (the Python package's; squint itself reads opset 12 directly).
    import onnx
    from onnx import version_converter
    up = out + ".op13.onnx"
    onnx.save(version_converter.convert_version(onnx.load(model), 13), up)
    pre = out + ".pre.onnx"
    quant_pre_process(up, pre, skip_symbolic_shape=True)
    quantize_static(pre, out, Reader(calib_x), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    return time.time() - t


def evaluate(squint, val, calib, observer="mse", with_ort=False, log=print, kind="det", a16=()):
    """Returns a dict of the figures described in the module docstring (keys *_iou_* hold the
    model's metric: IoU for det, argmax agreement for rec)."""
    model = model_path(kind)
    _, size, prefix = MODELS[kind]
    metric = METRICS[kind]
    d = data_dir(max(calib, 32), max(val, 32), (prefix,))
    calib_x = np.load(os.path.join(d, f"{prefix}_calib.npy"))[:calib]
    val_x = np.load(os.path.join(d, f"{prefix}_val.npy"))[:val]
    extra = [arg for name in a16 for arg in ("--a16", name)]
    res = {"model": MODELS[kind][0], "metric": metric.__name__, "val_images": len(val_x),
           "calib_images": len(calib_x), "observer": observer, "a16": list(a16)}
    with tempfile.TemporaryDirectory() as tmp:
        res["float_rel_error"] = float_check(squint, model, val_x[:2], tmp)
        log(f"float: max |squint - ORT| / range = {res['float_rel_error']:.2e} on 2 images")
        ref = ort_session(model).run(None, {INPUT: val_x})[0]
        np.save(os.path.join(tmp, "calib.npy"), calib_x)
        np.save(os.path.join(tmp, "val.npy"), val_x[:1])
        sqnt = os.path.join(tmp, "det.sqnt")
        res["squint_quantize_s"], _ = squint_quantize(squint, model, os.path.join(tmp, "calib.npy"),
                                                      os.path.join(tmp, "val.npy"), sqnt, observer, extra, size)
        q = squint_outputs(squint, sqnt, val_x, tmp)
        ious = [metric(q[i], ref[i]) for i in range(len(val_x))]
        res["squint_iou_mean"], res["squint_iou_min"] = float(np.mean(ious)), float(np.min(ious))
        if kind == "cls":
            val_y = np.load(os.path.join(d, "cls_val_y.npy"))[:val]
            res["fp32_accuracy"] = float((ref.argmax(1) == val_y).mean())
            res["squint_accuracy"] = float((q.argmax(1) == val_y).mean())
            log(f"accuracy against the rendered truth: fp32 {res['fp32_accuracy']:.4f}, "
                f"squint {res['squint_accuracy']:.4f}")
        res["squint_sqnt_bytes"] = os.path.getsize(sqnt)
        log(f"squint W8A8 ({observer}{', a16 ' + ','.join(a16) if a16 else ''}): {metric.__name__} mean {res['squint_iou_mean']:.4f}, min {res['squint_iou_min']:.4f} "
            f"over {len(val_x)} images; quantize {res['squint_quantize_s']:.1f} s")
        if with_ort:
            qdq = os.path.join(tmp, "det_qdq.onnx")
            res["ort_quantize_s"] = ort_quantize(model, calib_x, qdq)
            oq = ort_run_isolated(qdq, val_x, tmp)
            if oq is None:
                res["ort_error"] = "onnxruntime crashed (SIGSEGV) creating a session for its own QDQ model"
                log(f"ORT quantize_static (QDQ, per-channel, MinMax): {res['ort_error']}")
                return res
            ious = [metric(oq[i], ref[i]) for i in range(len(val_x))]
            res["ort_iou_mean"], res["ort_iou_min"] = float(np.mean(ious)), float(np.min(ious))
            if kind == "cls":
                res["ort_accuracy"] = float((oq.argmax(1) == val_y).mean())
            log(f"ORT quantize_static (QDQ, per-channel, MinMax): {metric.__name__} mean {res['ort_iou_mean']:.4f}, "
                f"min {res['ort_iou_min']:.4f}; quantize {res['ort_quantize_s']:.1f} s"
                + (f"; accuracy {res['ort_accuracy']:.4f}" if "ort_accuracy" in res else ""))
    return res


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(MODELS), default="det")
    p.add_argument("--squint", default=os.path.join(REPO, "build", "cli", "squint"))
    p.add_argument("--val", type=int, default=32)
    p.add_argument("--calib", type=int, default=32)
    p.add_argument("--observer", default="mse")
    p.add_argument("--a16", action="append", default=[], help="squint quantize --a16 NAME (repeatable)")
    p.add_argument("--ort", action="store_true", help="also ONNX Runtime quantize_static")
    p.add_argument("--json")
    a = p.parse_args(argv)
    res = evaluate(a.squint, a.val, a.calib, a.observer, a.ort, kind=a.model, a16=a.a16)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
