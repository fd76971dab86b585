"""Shared pieces of the test-model zoo: data (Fashion-MNIST idx files, the gpt_tiny text corpus),
the fixed calibration / validation splits, ONNX export and metadata.

Every split is a pure function of the raw data and fixed seeds, so `make_splits.py` rebuilds the
committed .npy files byte for byte.
"""
import gzip
import hashlib
import json
import os

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS_DIR = os.path.join(REPO, "tests", "data", "models")
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
FMNIST_SPLIT_DIR = os.path.join(MODELS_DIR, "fashion_mnist")
GPT_SPLIT_DIR = os.path.join(MODELS_DIR, "gpt_tiny")
CKPT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

# Normalization of Fashion-MNIST pixels: x = (pixel / 255 - MEAN) / STD, with MEAN and STD the mean
# and standard deviation of all 60000 training images (computed by fmnist_stats(), rounded to 4
# decimals and fixed here so models and splits never drift).
FMNIST_MEAN = 0.2860
FMNIST_STD = 0.3530

SPLIT_SEED = 20240601
CALIB_N = 512
VAL_N = 2000

# gpt_tiny corpus: these Python 3.11 standard-library files, in this order. For each file the first
# 90% of its bytes are training text, the last 10% held-out text.
GPT_FILES = [
    "argparse.py", "ast.py", "calendar.py", "csv.py", "difflib.py", "fractions.py",
    "heapq.py", "json/decoder.py", "json/encoder.py", "pathlib.py", "shutil.py",
    "string.py", "textwrap.py", "typing.py",
]
GPT_LIB = "/usr/lib/python3.11"
GPT_CTX = 64
GPT_CALIB_N = 512
GPT_VAL_N = 256


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fmnist_raw(split):
    """split: 'train' or 't10k'. Returns (uint8 images [N,28,28], int64 labels [N])."""
    x = _read_idx(os.path.join(FMNIST_DIR, f"{split}-images-idx3-ubyte.gz"))
    y = _read_idx(os.path.join(FMNIST_DIR, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    return x, y


def fmnist_stats():
    x, _ = fmnist_raw("train")
    v = x.astype(np.float64) / 255.0
    return float(v.mean()), float(v.std())


def normalize(u8):
    """uint8 [N,28,28] -> float32 [N,1,28,28] normalized."""
    x = u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(FMNIST_MEAN)) / np.float32(FMNIST_STD)
    return x[:, None, :, :].astype(np.float32)


def fmnist_split_indices():
    """Calibration: CALIB_N training images; validation: VAL_N test images (random, fixed seed)."""
    rng = np.random.RandomState(SPLIT_SEED)
    calib = np.sort(rng.permutation(60000)[:CALIB_N])
    val = np.sort(rng.permutation(10000)[:VAL_N])
    return calib, val


def gpt_corpus():
    """Returns (train_bytes, heldout_bytes) as uint8 arrays, and per-file info."""
    train, held, info = [], [], []
    for name in GPT_FILES:
        with open(os.path.join(GPT_LIB, name), "rb") as f:
            data = f.read()
        cut = int(len(data) * 0.9)
        train.append(data[:cut])
        held.append(data[cut:])
        info.append({"file": os.path.join(GPT_LIB, name), "bytes": len(data),
                     "sha256": hashlib.sha256(data).hexdigest()})
    to_np = lambda parts: np.frombuffer(b"".join(parts), dtype=np.uint8).copy()
    return to_np(train), to_np(held), info


def gpt_windows(data, n, ctx, rng=None):
    """n windows of ctx tokens with next-token targets. rng None: consecutive non-overlapping
    windows from the start (needs n*ctx+1 bytes); else random start offsets."""
    if rng is None:
        starts = np.arange(n) * ctx
    else:
        starts = np.sort(rng.randint(0, len(data) - ctx - 1, size=n))
    assert starts[-1] + ctx + 1 <= len(data), "not enough text for the requested windows"
    x = np.stack([data[s:s + ctx] for s in starts]).astype(np.int64)
    y = np.stack([data[s + 1:s + ctx + 1] for s in starts]).astype(np.int64)
    return x, y


def load_split(family, name):
    d = FMNIST_SPLIT_DIR if family == "fashion_mnist" else GPT_SPLIT_DIR
    return np.load(os.path.join(d, name + ".npy"))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


# ---- evaluation with ONNX Runtime (shared by the tests and the baselines) ----

FAMILY = {"vit_tiny": "fashion_mnist", "vit_tiny_clipped": "fashion_mnist",
          "vit_tiny_gated": "fashion_mnist", "cnn_small": "fashion_mnist", "gpt_tiny": "gpt_tiny"}
METRIC = {"fashion_mnist": "accuracy_pct", "gpt_tiny": "bits_per_char"}


def ort_session(path, threads=1):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_logits(sess, x, bs=250):
    return np.concatenate([sess.run(["logits"], {"input": x[i:i + bs]})[0]
                           for i in range(0, len(x), bs)])


def metric_from_logits(family, logits, y):
    """accuracy in percent (images) or bits per character (gpt_tiny, mean over every position)."""
    if family == "fashion_mnist":
        return float(100.0 * np.mean(logits.argmax(1) == y))
    z = logits.astype(np.float64).reshape(-1, logits.shape[-1])
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    nll = -logp[np.arange(len(z)), y.reshape(-1)]
    return float(nll.mean() / np.log(2))


def ort_metric(path_or_sess, family, split="val", threads=1):
    sess = ort_session(path_or_sess, threads) if isinstance(path_or_sess, str) else path_or_sess
    x, y = load_split(family, split + "_x"), load_split(family, split + "_y")
    return metric_from_logits(family, ort_logits(sess, x), y)
