#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets that have no model to seed them:
fuzz/corpus/npy_reader, fuzz/corpus/image_decode and fuzz/corpus/cli_parsers (run once, commit
the files; the output folder is the argument, default fuzz/corpus next to this script).

Seeds are small valid inputs of every form each parser reads, plus near-valid ones that stop at
each of its checks (big-endian, Fortran order, truncated data, alpha, CMYK, ...).
"""
import io
import os
import sys
import zipfile

import numpy as np
from PIL import Image


def npy_bytes(a, version=None):
    f = io.BytesIO()
    if version is None:
        np.save(f, a)
    else:
        np.lib.format.write_array(f, a, version=version)
    return f.getvalue()


def npz_bytes(compressed, **arrays):
    f = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(f, **arrays)
    return f.getvalue()


def npy_seeds():
    f32 = np.arange(6, dtype=np.float32).reshape(2, 3)
    seeds = {
        "f32_2x3.npy": npy_bytes(f32),
        "i64_4.npy": npy_bytes(np.array([-1, 0, 1, 1 << 40], np.int64)),
        "bool_scalar.npy": npy_bytes(np.array(True)),
        "u8_empty.npy": npy_bytes(np.zeros((0, 3), np.uint8)),
        "f64_3d.npy": npy_bytes(np.linspace(0, 1, 8).reshape(2, 2, 2)),
        "i8_i16_i32.npy": npy_bytes(np.array([1, -2, 3], np.int16)),
        "v2_header.npy": npy_bytes(np.array([7], np.int32), version=(2, 0)),
        "big_endian.npy": npy_bytes(np.array([1, 2], ">i4")),
        "fortran.npy": npy_bytes(np.asfortranarray(f32)),
        "f16_unsupported.npy": npy_bytes(np.zeros(2, np.float16)),
        "truncated.npy": npy_bytes(f32)[:-5],
        "savez.npz": npz_bytes(False, x=f32, ids=np.array([3, 4], np.int64)),
        "savez_compressed.npz": npz_bytes(True, x=f32),
        "savez_arr0.npz": npz_bytes(False, arr_0=np.array([1.5], np.float32)),
    }
    # An archive whose entry is stored with zip64 extra fields (as numpy does for large arrays).
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w") as z:
        with z.open("x.npy", "w", force_zip64=True) as e:
            e.write(npy_bytes(np.array([1, 2, 3], np.uint8)))
    seeds["zip64.npz"] = f.getvalue()
    return seeds


def image_bytes(img, fmt, **kw):
    f = io.BytesIO()
    img.save(f, fmt, **kw)
    return f.getvalue()


def image_seeds():
    rng = np.random.default_rng(0)
    gray = Image.fromarray(rng.integers(0, 256, (7, 5), np.uint8))
    rgb = Image.fromarray(rng.integers(0, 256, (3, 4, 3), np.uint8))
    seeds = {
        "gray_7x5.png": image_bytes(gray, "PNG"),
        "rgb_3x4.png": image_bytes(rgb, "PNG"),
        "palette.png": image_bytes(rgb.convert("P"), "PNG"),
        "gray16.png": image_bytes(Image.fromarray((rng.integers(0, 65536, (4, 4))).astype(np.uint16)), "PNG"),
        "bilevel.png": image_bytes(gray.convert("1"), "PNG"),
        "gray_alpha.png": image_bytes(gray.convert("LA"), "PNG"),
        "rgba.png": image_bytes(rgb.convert("RGBA"), "PNG"),
        "gray_8x8.jpg": image_bytes(Image.fromarray(rng.integers(0, 256, (8, 8), np.uint8)), "JPEG"),
        "rgb_9x7.jpg": image_bytes(Image.fromarray(rng.integers(0, 256, (7, 9, 3), np.uint8)), "JPEG", quality=90),
        "rgb_444.jpg": image_bytes(rgb, "JPEG", subsampling=0),
        "progressive.jpg": image_bytes(Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)), "JPEG",
                                       progressive=True),
        "cmyk.jpg": image_bytes(Image.new("CMYK", (4, 4)), "JPEG"),
    }
    seeds["truncated.png"] = seeds["rgb_3x4.png"][:-20]
    seeds["truncated.jpg"] = seeds["rgb_9x7.jpg"][: len(seeds["rgb_9x7.jpg"]) * 2 // 3]
    return seeds


def cli_seeds():
    # First byte: the parser (see fuzz/cli_parsers_fuzz.cc); the rest its text, lines = arguments.
    by_parser = [
        ["input=1x3x224x224", "x=1,2,3", "a=b=0x1", "x=1xx2", "x="],
        ["224x224", "1x65536", "0x5", "axb", "3x4x5"],
        ["x=in.npy", "all.npz", "in.npy", "=a.npy"],
        ["smooth,hadamard", "none", "rotate,wush", "wush,hadamard", "smooth,smooth", "none,rotate"],
        ["log2", "logsqrt2", "sulq", "uniform", "log3"],
        ["--mean\n0.485,0.456,0.406\n--std\n0.229,0.224,0.225", "--mean\n0.5\n--size\n32x32", "--std\n0",
         "--std\nnan,1,1"],
        ["quantize\nm.onnx\n-o\nm.sqnt\n--calib\nd\n--transform\nsmooth,hadamard\n--softmax-quant\nlog2\n--a16\nSoftmax",
         "quantize\nm.onnx\n-o\nx.sqnt\n--calib\nimg\n--mean\n0.5\n--std\n0.25\n--size\n28x28\n--weight-bits\n4",
         "run\nm.sqnt\n-i\nx=a.npy\n--codes", "inspect\nm.onnx\n--json\n--input-shape\nx=1x3",
         "report\nm.onnx\nm.sqnt\n--data\nd\n--sort\nisolated", "--version"],
    ]
    seeds = {}
    for parser, texts in enumerate(by_parser):
        for i, text in enumerate(texts):
            seeds[f"p{parser}_{i}"] = bytes([parser]) + text.encode()
    return seeds


def main(root):
    for target, seeds in (("npy_reader", npy_seeds()), ("image_decode", image_seeds()), ("cli_parsers", cli_seeds())):
        out = os.path.join(root, target)
        os.makedirs(out, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus"))
