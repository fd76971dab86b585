"""ONNX export of a trained zoo model (torch.onnx.export, eval mode, no graph editing), checks,
metrics with ONNX Runtime, outlier statistics and meta.json."""
import collections
import math
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch

import common as C
import nets

OPSETS = (13, 17)


def _export(model, dummy, path, opset, **kw):
    torch.onnx.export(model, dummy, path, opset_version=opset, input_names=["input"],
                      output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **kw)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    return collections.Counter(n.op_type for n in m.graph.node)


def _check_ops(name, opset, ops):
    if name != "cnn_small":
        assert ops["MatMul"] > 0 and ops["Softmax"] > 0, ops
        assert ops["Erf"] > 0, "exact GELU must export as Erf"
        if opset >= 17:
            assert ops["LayerNormalization"] > 0 and ops["ReduceMean"] == 0, ops
        else:
            assert ops["LayerNormalization"] == 0 and ops["ReduceMean"] > 0, ops
    if name == "vit_tiny_clipped":
        assert ops["Clip"] > 0, ops
    if name == "vit_tiny_gated":
        assert ops["Sigmoid"] > 0, ops


@torch.no_grad()
def outlier_stats(model, x, bs=250):
    """Max |activation| (inf norm) and kurtosis of the FFN output and of the residual stream (the
    output of each block), over the given inputs. Kurtosis per token vector over the hidden
    dimension, k = E[(v - mean)^4] / (var^2 + 1e-6) (as in Bondarenko et al.'s code), averaged over
    tokens; reported as the mean and max over layers."""
    blocks = [b for b in model.modules() if isinstance(b, nets.Block)]
    L = len(blocks)
    inf = {"ffn": np.zeros(L), "residual": np.zeros(L)}
    ksum = {"ffn": np.zeros(L), "residual": np.zeros(L)}
    count = 0
    for i in range(0, len(x), bs):
        for b in blocks:
            b.record = []
        model(torch.from_numpy(x[i:i + bs]))
        for l, b in enumerate(blocks):
            for key, t in zip(("ffn", "residual"), b.record[0]):
                t = t.double()
                inf[key][l] = max(inf[key][l], t.abs().max().item())
                mu = t.mean(-1, keepdim=True)
                var = ((t - mu) ** 2).mean(-1)
                k = ((t - mu) ** 4).mean(-1) / (var ** 2 + 1e-6)
                ksum[key][l] += k.sum().item()
        count += x[i:i + bs].shape[0] * blocks[0].record[0][0].shape[1]
    for b in blocks:
        b.record = None
    out = {}
    for key in ("ffn", "residual"):
        kurt = ksum[key] / count
        out[key] = {"max_inf_norm": round(float(inf[key].max()), 4),
                    "inf_norm_per_layer": [round(float(v), 4) for v in inf[key]],
                    "kurtosis_avg": round(float(kurt.mean()), 4),
                    "kurtosis_max": round(float(kurt.max()), 4),
                    "kurtosis_per_layer": [round(float(v), 4) for v in kurt]}
    return out


def export_and_describe(name, model, train_info, log):
    model.eval()
    family = C.FAMILY[name]
    d = os.path.join(C.MODELS_DIR, name)
    os.makedirs(d, exist_ok=True)
    if family == "fashion_mnist":
        dummy = torch.from_numpy(C.load_split(family, "calib_x")[:2])
    else:
        dummy = torch.from_numpy(C.load_split(family, "calib_x")[:2])
    files = {}
    for opset in OPSETS:
        path = os.path.join(d, f"{name}_op{opset}.onnx")
        ops = _export(model, dummy, path, opset)
        _check_ops(name, opset, ops)
        files[f"op{opset}"] = path
        log(f"exported {path}: {dict(ops)}")
    if name == "cnn_small":
        # BatchNormalization kept as a node: PRESERVE keeps the eval-mode BN op (torch folds BN
        # into Conv for TrainingMode.EVAL), constant folding off so nothing else is fused.
        path = os.path.join(d, "cnn_small_bn_op13.onnx")
        ops = _export(model, dummy, path, 13, training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False)
        assert ops["BatchNormalization"] == 6, ops
        files["bn_op13"] = path
        log(f"exported {path}: {dict(ops)}")

    vx, vy = C.load_split(family, "val_x"), C.load_split(family, "val_y")
    with torch.no_grad():
        torch_logits = torch.cat([model(torch.from_numpy(vx[i:i + 250]))
                                  for i in range(0, len(vx), 250)]).numpy()
    metrics = {"name": C.METRIC[family], "split": "val",
               "torch": round(C.metric_from_logits(family, torch_logits, vy), 6)}
    for key, path in files.items():
        logits = C.ort_logits(C.ort_session(path), vx)
        metrics[f"ort_{key}"] = round(C.metric_from_logits(family, logits, vy), 6)
        metrics[f"ort_{key}_max_abs_logit_diff_vs_torch"] = float(np.abs(logits - torch_logits).max())
    metrics["value"] = metrics["ort_op13"]
    if family == "fashion_mnist":
        xte, yte = C.fmnist_raw("t10k")
        acc = metrics_full = C.metric_from_logits(
            family, C.ort_logits(C.ort_session(files["op13"]), C.normalize(xte)), yte)
        metrics["test10k_accuracy_pct"] = round(metrics_full, 4)

    params = sum(p.numel() for p in model.parameters())
    meta = {
        "model": name,
        "description": DESCRIPTIONS[name],
        "files": {k: {"path": os.path.relpath(p, C.REPO), "opset": 13 if "13" in k else 17,
                      "bytes": os.path.getsize(p), "sha256": C.sha256_file(p)}
                  for k, p in files.items()},
        "parameters": params,
        "training": train_info,
        "metrics": metrics,
    }
    if family == "fashion_mnist":
        meta["data"] = {
            "train": "all 60000 Fashion-MNIST training images",
            "calib": "tests/data/models/fashion_mnist/calib_{x,y}.npy (512 training images)",
            "val": "tests/data/models/fashion_mnist/val_{x,y}.npy (2000 test images)",
            "split_details": "tests/data/models/fashion_mnist/split.json",
        }
        meta["normalization"] = {"formula": "(pixel/255 - mean) / std",
                                 "mean": C.FMNIST_MEAN, "std": C.FMNIST_STD}
        meta["io"] = {"input": {"name": "input", "dtype": "float32", "shape": ["batch", 1, 28, 28]},
                      "output": {"name": "logits", "dtype": "float32", "shape": ["batch", 10]}}
    else:
        meta["data"] = {
            "corpus": [os.path.join(C.GPT_LIB, f) for f in C.GPT_FILES],
            "train": "first 90% of the bytes of each corpus file",
            "heldout": "last 10% of the bytes of each corpus file",
            "calib": "tests/data/models/gpt_tiny/calib_{x,y}.npy (512 random training windows)",
            "val": "tests/data/models/gpt_tiny/val_{x,y}.npy (256 consecutive held-out windows)",
            "split_details": "tests/data/models/gpt_tiny/split.json",
        }
        meta["vocab"] = {"kind": "bytes", "size": 256, "token_id": "byte value"}
        meta["causal_mask"] = {"kind": "additive constant", "value": nets.GPT.MASK_VALUE,
                               "detail": "Q K^T / sqrt(d) + M, M[i,j] = -1e4 for j > i else 0, "
                                         "then Softmax (ONNX: Add of a [64,64] initializer)"}
        meta["io"] = {"input": {"name": "input", "dtype": "int64", "shape": ["batch", C.GPT_CTX]},
                      "output": {"name": "logits", "dtype": "float32",
                                 "shape": ["batch", C.GPT_CTX, 256]}}
    if name != "cnn_small":
        meta["outliers"] = outlier_stats(model, vx)
        meta["outliers"]["data"] = "val split"
    if name.startswith("vit"):
        meta["architecture"] = {"patch": 4, "tokens": 50, "dim": 64, "depth": 4, "heads": 2,
                                "mlp": 128, "norm": "pre-LayerNorm", "gelu": "exact (erf)"}
    if name == "vit_tiny_clipped":
        a = next(m for m in model.modules() if isinstance(m, nets.Attention))
        meta["clipped_softmax"] = {"zeta": a.zeta, "gamma": a.gamma_final, "alpha": -a.gamma_final * 50,
                                   "T": 50, "gamma_schedule": "linear ramp from 0 over the first "
                                   f"{train_info['hyperparameters'].get('gamma_ramp')} of the steps"}
    if name == "vit_tiny_gated":
        meta["gated_attention"] = {"gate": "sigmoid(G_h(x_h)), G_h = Linear(d_head -> 1) per head, "
                                   "x_h = h-th chunk of the LayerNorm'd block input",
                                   "bias_init": "logit(0.25) = -1.0986",
                                   "onnx": "one MatMul with a block-diagonal [64,2] weight, Add, "
                                           "Sigmoid, Mul"}
    if name == "gpt_tiny":
        meta["architecture"] = {"ctx": C.GPT_CTX, "dim": 64, "depth": 4, "heads": 4, "mlp": 256,
                                "vocab": 256, "norm": "pre-LayerNorm", "gelu": "exact (erf)"}
    meta["versions"] = {"torch": torch.__version__, "onnx": onnx.__version__,
                        "onnxruntime": ort.__version__}
    C.write_json(os.path.join(d, "meta.json"), meta)
    return meta


DESCRIPTIONS = {
    "vit_tiny": "Vision Transformer on Fashion-MNIST, patch 4 (49 patches + cls = 50 tokens), explicit "
                "softmax attention",
    "vit_tiny_clipped": "vit_tiny trained with clipped softmax clip((zeta-gamma)*softmax+gamma, 0, 1)",
    "vit_tiny_gated": "vit_tiny trained with gated attention sigmoid(G_h(x_h)) * softmax(QK^T/sqrt d) V",
    "cnn_small": "CNN on Fashion-MNIST: conv+BN+ReLU, one residual block, one depthwise conv, global "
                 "average pooling, linear",
    "gpt_tiny": "decoder-only byte-level transformer LM with additive causal mask, trained on Python "
                "standard-library sources",
}
