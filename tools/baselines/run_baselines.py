"""ONNX Runtime baselines for the test-model zoo: fp32, static QDQ int8 (MinMax / Percentile /
Entropy calibration x per-tensor / per-channel weights) and dynamic int8, each evaluated on the
model's validation split, with file size and batch-1 latency at 1 and 2 threads.

Regenerates docs/baselines.md and docs/baselines.json:
  .venv/bin/python tools/baselines/run_baselines.py
Options: --models vit_tiny,cnn_small   --configs fp32,qdq_minmax_per_tensor   --no-latency
  (a partial run merges its results into the existing JSON and rewrites the table)

Quantized models are written to tools/baselines/out/ (not committed).
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
import traceback

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "models"))
import common as C  # noqa: E402

OUT = os.path.join(HERE, "out")
JSON_PATH = os.path.join(REPO, "docs", "baselines.json")
MD_PATH = os.path.join(REPO, "docs", "baselines.md")
SCHEMA = "squint-baselines/1"
MODELS = ["vit_tiny", "vit_tiny_clipped", "vit_tiny_gated", "cnn_small", "gpt_tiny"]

CALIB_BATCH = 64
# The Entropy (KL) calibrator keeps every intermediate tensor of every calibration batch in memory
# before building histograms; on the transformers that is ~1-2 GB for 512 samples. We cap it.
ENTROPY_MAX_SAMPLES = 256
PERCENTILE = 99.999
LATENCY_MIN_RUNS, LATENCY_MAX_RUNS, LATENCY_SECONDS = 30, 400, 1.5

# config name -> how it is made. Keys are stable: docs/baselines.md documents them.
CONFIGS = {
    "fp32": None,
    "qdq_minmax_per_tensor": ("static", CalibrationMethod.MinMax, False),
    "qdq_minmax_per_channel": ("static", CalibrationMethod.MinMax, True),
    "qdq_percentile_per_tensor": ("static", CalibrationMethod.Percentile, False),
    "qdq_percentile_per_channel": ("static", CalibrationMethod.Percentile, True),
    "qdq_entropy_per_tensor": ("static", CalibrationMethod.Entropy, False),
    "qdq_entropy_per_channel": ("static", CalibrationMethod.Entropy, True),
    "dynamic_per_tensor": ("dynamic", None, False),
    "dynamic_per_channel": ("dynamic", None, True),
}


class Reader(CalibrationDataReader):
    def __init__(self, x, batch):
        self.batches = [x[i:i + batch] for i in range(0, len(x), batch)]
        self.i = 0

    def get_next(self):
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return {"input": self.batches[self.i - 1]}

    def rewind(self):
        self.i = 0


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def latency_ms(path, x1, threads):
    sess = C.ort_session(path, threads)
    feed = {"input": x1}
    for _ in range(10):
        sess.run(["logits"], feed)
    times, start = [], time.perf_counter()
    while len(times) < LATENCY_MAX_RUNS and (len(times) < LATENCY_MIN_RUNS or
                                             time.perf_counter() - start < LATENCY_SECONDS):
        t = time.perf_counter()
        sess.run(["logits"], feed)
        times.append((time.perf_counter() - t) * 1e3)
    return round(statistics.median(times), 4)


def make_config(name, cfg, src, calib_x):
    """Returns (path, details) of the model for config `cfg` (None: the fp32 source)."""
    if CONFIGS[cfg] is None:
        return src, {}
    kind, method, per_channel = CONFIGS[cfg]
    dst = os.path.join(OUT, f"{name}_{cfg}.onnx")
    if kind == "dynamic":
        # ORT's CPU ConvInteger only takes uint8 weights, MatMulInteger takes int8: the CNN gets
        # uint8 weights on Conv + Gemm, the transformers int8 weights on MatMul + Gemm (their one
        # Conv, the patch embedding, stays float).
        if name == "cnn_small":
            ops, wt = ["Conv", "Gemm"], QuantType.QUInt8
        else:
            ops, wt = ["MatMul", "Gemm"], QuantType.QInt8
        quantize_dynamic(src, dst, per_channel=per_channel, weight_type=wt, op_types_to_quantize=ops)
        return dst, {"weights": f"{wt.name}", "quantized_ops": ops,
                     "activations": "uint8, range computed at run time", "per_channel": per_channel}
    n = len(calib_x)
    extra = {}
    if method == CalibrationMethod.Entropy:
        n = min(n, ENTROPY_MAX_SAMPLES)
    if method == CalibrationMethod.Percentile:
        extra["CalibPercentile"] = PERCENTILE
    quantize_static(src, dst, Reader(calib_x[:n], CALIB_BATCH), quant_format=QuantFormat.QDQ,
                    per_channel=per_channel, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=method, extra_options=extra)
    d = {"weights": "int8 symmetric", "activations": "uint8 asymmetric", "per_channel": per_channel,
         "calibration": method.name, "calibration_samples": n}
    if method == CalibrationMethod.Percentile:
        d["percentile"] = PERCENTILE
    return dst, d


def run_model(name, configs, do_latency, log):
    meta = json.load(open(os.path.join(C.MODELS_DIR, name, "meta.json")))
    family = C.FAMILY[name]
    src_orig = os.path.join(REPO, meta["files"]["op13"]["path"])
    # ORT's recommended pre-processing (symbolic shape inference + graph optimization)
    src = os.path.join(OUT, f"{name}_op13_pre.onnx")
    quant_pre_process(src_orig, src, skip_symbolic_shape=False)
    calib_x = C.load_split(family, "calib_x")
    x1 = C.load_split(family, "val_x")[:1]
    res = {}
    for cfg in configs:
        t0 = time.time()
        entry = {}
        try:
            path, details = make_config(name, cfg, src_orig if cfg == "fp32" else src, calib_x)
            entry["metric"] = round(C.ort_metric(path, family, threads=2), 4)
            entry["size_bytes"] = os.path.getsize(path)
            if do_latency:
                entry["latency_ms"] = {f"threads{t}": latency_ms(path, x1, t) for t in (1, 2)}
            entry["status"] = "ok"
            entry.update(details)
        except Exception as e:  # record the failure, keep going
            entry = {"status": "error", "error": f"{type(e).__name__}: {str(e)[:300]}"}
            traceback.print_exc()
        entry["seconds_to_make_and_evaluate"] = round(time.time() - t0, 1)
        res[cfg] = entry
        log(f"{name:18s} {cfg:28s} {json.dumps({k: entry.get(k) for k in ('metric', 'size_bytes', 'latency_ms', 'status')})}")
    return {
        "metric": C.METRIC[family],
        "higher_is_better": family == "fashion_mnist",
        "split": f"tests/data/models/{family}/val_{{x,y}}.npy",
        "calibration_set": f"tests/data/models/{family}/calib_x.npy",
        "source_onnx": meta["files"]["op13"]["path"],
        "recorded_fp32_metric": meta["metrics"]["value"],
        "configs": res,
    }


def fmt_metric(e, name):
    if e.get("status") != "ok":
        return "error"
    return f"{e['metric']:.2f}" if name == "accuracy_pct" else f"{e['metric']:.4f}"


def write_md(data):
    L = []
    L.append("# ONNX Runtime baselines\n")
    L.append("Generated by `.venv/bin/python tools/baselines/run_baselines.py` "
             f"on {data['generated_at']} — ONNX Runtime {data['onnxruntime']}, CPU: {data['cpu']} "
             f"({data['logical_cpus']} logical CPUs). Do not edit by hand; rerun the command.\n")
    L.append("What squint is compared against: ONNX Runtime's own int8 post-training quantization of the "
             "test-model zoo (`docs/models.md`), on the same fixed calibration and validation splits.\n")
    L.append("## Method\n")
    L.append(f"""- Source model: each model's opset 13 export (`tests/data/models/<model>/<model>_op13.onnx`), passed
  through ORT's `quant_pre_process` (shape inference + graph optimization) before quantization.
- Static: `quantize_static(..., quant_format=QDQ, activation_type=QUInt8, weight_type=QInt8)` with the
  model family's calibration set (`calib_x.npy`, 512 samples, batches of {CALIB_BATCH}); all ops ORT
  quantizes by default (MatMul, Gemm, Conv, Add, Mul, Softmax, Where, ...). Percentile = {PERCENTILE}.
  Entropy calibration uses the first {ENTROPY_MAX_SAMPLES} calibration samples only: ORT's calibrator
  keeps every intermediate tensor of every batch in memory before building histograms.
- Dynamic: `quantize_dynamic` (weights quantized offline, activations at run time to uint8). The
  transformers: MatMul + Gemm with int8 weights (MatMulInteger); their patch-embedding Conv stays
  float. cnn_small: Conv + Gemm with uint8 weights (ORT's CPU ConvInteger has no int8-weight kernel).
- Metric on the validation split (`val_x.npy`, `val_y.npy`): top-1 accuracy in percent for the image
  models (2000 Fashion-MNIST test images), bits per character for gpt_tiny (256 windows x 64 bytes).
- Latency: batch 1, one `InferenceSession.run` on the first validation sample, ORT CPU provider,
  `intra_op_num_threads` = 1 and 2; 10 warm-up runs, then median of at least {LATENCY_MIN_RUNS} runs
  (up to {LATENCY_MAX_RUNS} or {LATENCY_SECONDS} s). The machine is shared with compilation jobs, so
  latencies are noisy (compare within a run, not across runs).
- Size: bytes of the .onnx file.

## Keys of `docs/baselines.json` (stable)

```
schema                "{SCHEMA}"
onnxruntime, cpu, logical_cpus, generated_at, command
models.<model>.metric             "accuracy_pct" (higher is better) | "bits_per_char" (lower is better)
models.<model>.higher_is_better   bool
models.<model>.split / calibration_set / source_onnx / recorded_fp32_metric
models.<model>.configs.<config>   {{ status: "ok" | "error", metric, size_bytes,
                                    latency_ms: {{ threads1, threads2 }}, per_channel, calibration,
                                    calibration_samples, error (when status is "error") }}
<model>  in {", ".join(MODELS)}
<config> in {", ".join(CONFIGS)}
```
""")
    L.append("## Summary: validation metric per config\n")
    names = list(data["models"])
    L.append("| config | " + " | ".join(
        f"{n} ({'acc %' if data['models'][n]['metric'] == 'accuracy_pct' else 'bits/char'})"
        for n in names) + " |")
    L.append("|---|" + "---:|" * len(names))
    for cfg in CONFIGS:
        cells = []
        for n in names:
            e = data["models"][n]["configs"].get(cfg)
            cells.append("—" if e is None else fmt_metric(e, data["models"][n]["metric"]))
        L.append(f"| {cfg} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("## Results per model\n")
    for name, m in data["models"].items():
        unit = "accuracy %" if m["metric"] == "accuracy_pct" else "bits/char (lower is better)"
        L.append(f"### {name} — {unit}\n")
        L.append("| config | metric | Δ vs fp32 | size (bytes) | latency 1 thr (ms) | latency 2 thr (ms) |")
        L.append("|---|---:|---:|---:|---:|---:|")
        fp = m["configs"].get("fp32", {}).get("metric")
        for cfg, e in m["configs"].items():
            if e.get("status") != "ok":
                L.append(f"| {cfg} | error: {e.get('error', '')[:80]} | | | | |")
                continue
            lat = e.get("latency_ms", {})
            delta = "" if fp is None or cfg == "fp32" else f"{e['metric'] - fp:+.2f}" if \
                m["metric"] == "accuracy_pct" else f"{e['metric'] - fp:+.4f}"
            L.append(f"| {cfg} | {fmt_metric(e, m['metric'])} | {delta} | {e['size_bytes']} | "
                     f"{lat.get('threads1', '')} | {lat.get('threads2', '')} |")
        L.append("")
    os.makedirs(os.path.dirname(MD_PATH), exist_ok=True)
    with open(MD_PATH, "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--no-latency", action="store_true")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    configs = [c for c in args.configs.split(",") if c]
    for c in configs:
        assert c in CONFIGS, f"unknown config {c}"
    os.makedirs(OUT, exist_ok=True)
    data = {"models": {}}
    if os.path.exists(JSON_PATH):
        data = json.load(open(JSON_PATH))
    data.update({
        "schema": SCHEMA, "onnxruntime": ort.__version__, "onnx": onnx.__version__,
        "numpy": np.__version__, "cpu": cpu_model(), "logical_cpus": os.cpu_count(),
        "generated_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": ".venv/bin/python tools/baselines/run_baselines.py",
    })
    log = lambda s: print(s, flush=True)
    for name in models:
        r = run_model(name, configs, not args.no_latency, log)
        old = data["models"].get(name, {}).get("configs", {})
        old.update(r["configs"])
        r["configs"] = {c: old[c] for c in CONFIGS if c in old}
        data["models"][name] = r
        data["models"] = {m: data["models"][m] for m in MODELS if m in data["models"]}
        C.write_json(JSON_PATH, data)
        write_md(data)
    print("wrote", JSON_PATH, "and", MD_PATH)


if __name__ == "__main__":
    main()
