"""Writes the fixed calibration and validation splits (deterministic; re-running reproduces the
committed files byte for byte):

  tests/data/models/fashion_mnist/calib_x.npy  float32 [512,1,28,28]  normalized training images
                                  calib_y.npy  int64 [512]
                                  val_x.npy    float32 [2000,1,28,28] normalized test images
                                  val_y.npy    int64 [2000]
                                  split.json   indices into the idx files, mean/std, seed
  tests/data/models/gpt_tiny/calib_x.npy  int64 [512,64]  random windows of the training text
                             calib_y.npy  int64 [512,64]  next-token targets
                             val_x.npy    int64 [256,64]  consecutive windows of the held-out text
                             val_y.npy    int64 [256,64]
                             split.json   corpus files, hashes, seed

Usage: .venv/bin/python tools/models/make_splits.py
"""
import os

import numpy as np

import common as C


def fashion_mnist():
    os.makedirs(C.FMNIST_SPLIT_DIR, exist_ok=True)
    calib_i, val_i = C.fmnist_split_indices()
    xtr, ytr = C.fmnist_raw("train")
    xte, yte = C.fmnist_raw("t10k")
    np.save(os.path.join(C.FMNIST_SPLIT_DIR, "calib_x.npy"), C.normalize(xtr[calib_i]))
    np.save(os.path.join(C.FMNIST_SPLIT_DIR, "calib_y.npy"), ytr[calib_i])
    np.save(os.path.join(C.FMNIST_SPLIT_DIR, "val_x.npy"), C.normalize(xte[val_i]))
    np.save(os.path.join(C.FMNIST_SPLIT_DIR, "val_y.npy"), yte[val_i])
    C.write_json(os.path.join(C.FMNIST_SPLIT_DIR, "split.json"), {
        "dataset": "Fashion-MNIST idx files in " + C.FMNIST_DIR,
        "normalization": "x = (pixel/255 - mean) / std, float32, layout [N,1,28,28]",
        "mean": C.FMNIST_MEAN, "std": C.FMNIST_STD,
        "seed": C.SPLIT_SEED,
        "calib": {"source": "train-images-idx3-ubyte.gz", "n": int(len(calib_i)),
                  "indices": calib_i.tolist()},
        "val": {"source": "t10k-images-idx3-ubyte.gz", "n": int(len(val_i)),
                "indices": val_i.tolist()},
    })


def gpt():
    os.makedirs(C.GPT_SPLIT_DIR, exist_ok=True)
    train, held, info = C.gpt_corpus()
    cx, cy = C.gpt_windows(train, C.GPT_CALIB_N, C.GPT_CTX, np.random.RandomState(C.SPLIT_SEED))
    vx, vy = C.gpt_windows(held, C.GPT_VAL_N, C.GPT_CTX)
    for n, a in (("calib_x", cx), ("calib_y", cy), ("val_x", vx), ("val_y", vy)):
        np.save(os.path.join(C.GPT_SPLIT_DIR, n + ".npy"), a)
    C.write_json(os.path.join(C.GPT_SPLIT_DIR, "split.json"), {
        "corpus": info,
        "tokenization": "bytes (vocab 256, token id = byte value)",
        "train_text": "first 90% of the bytes of each file, concatenated in the listed order",
        "heldout_text": "last 10% of the bytes of each file, concatenated in the listed order",
        "train_bytes": int(len(train)), "heldout_bytes": int(len(held)),
        "ctx": C.GPT_CTX, "seed": C.SPLIT_SEED,
        "calib": f"{C.GPT_CALIB_N} windows at random offsets (RandomState(seed)) of the training text",
        "val": f"{C.GPT_VAL_N} consecutive non-overlapping windows from the start of the held-out "
               "text; y = x shifted by one byte",
    })


if __name__ == "__main__":
    fashion_mnist()
    gpt()
    print("splits written under", C.MODELS_DIR)
