"""End-to-end tests of the squint command line on the bundled models.

- `squint run` (float evaluator) agrees with ONNX Runtime within 1e-4 of each output's range;
- `squint quantize` meets the integer accuracy targets against the float model;
- bad input gives a clear error, exit code 2, and no output file.

The squint binary comes from $SQUINT_BIN (CTest sets it). Run alone:
  SQUINT_BIN=build/cli/squint .venv/bin/python -m pytest tests/python/test_squint_cli.py -q
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(REPO, "tests", "data", "models")
FMNIST = os.path.join(MODELS, "fashion_mnist")
SQUINT = os.environ.get("SQUINT_BIN", os.path.join(REPO, "build", "cli", "squint"))
PY = sys.executable
# Under AddressSanitizer (CTest sets SQUINT_SANITIZED=1) the whole-split accuracy runs would take
# ten times longer; there the same commands run on subsets (memory safety is what that build
# checks) and the accuracy targets are asserted by the release build's run of these tests.
SANITIZED = os.environ.get("SQUINT_SANITIZED") == "1"
# The subset the option tests quantize and check on; under the sanitizers smaller still (it is the
# critical path of that build's tests; a top-1 agreement floor of 95 % allows 2 of 40 images).
SUBSET = (("--calib-samples", "32", "--val-samples", "40") if SANITIZED
          else ("--calib-samples", "64", "--val-samples", "100"))

IMAGE_MODELS = ["vit_tiny/vit_tiny_op13", "vit_tiny/vit_tiny_op17", "vit_tiny_clipped/vit_tiny_clipped_op17",
                "vit_tiny_gated/vit_tiny_gated_op17", "cnn_small/cnn_small_op13", "cnn_small/cnn_small_op17",
                "cnn_small/cnn_small_bn_op13"]


def model_path(m):
    p = os.path.join(MODELS, m + ".onnx")
    assert os.path.exists(p), f"bundled model {p} is missing"
    return p


def squint(*args, check=True):
    proc = subprocess.run([SQUINT, *args], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, f"squint {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
    return proc


@pytest.mark.parametrize("model", IMAGE_MODELS)
def test_float_evaluator_matches_onnxruntime(model):
    proc = subprocess.run([PY, os.path.join(REPO, "tools", "ort_crosscheck.py"), "--squint", SQUINT,
                           "--model", model_path(model), "--data", os.path.join(FMNIST, "val_x.npy"),
                           "--count", "64"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gpt_float_evaluator_matches_onnxruntime(tmp_path):
    import onnxruntime as ort
    model = model_path("gpt_tiny/gpt_tiny_op17")
    x = np.load(os.path.join(MODELS, "gpt_tiny", "val_x.npy"))[:4]
    np.save(tmp_path / "x.npy", x)
    squint("run", model, "--input", f"input={tmp_path / 'x.npy'}", "--output-dir", str(tmp_path / "out"))
    got = np.load(tmp_path / "out" / "logits.npy")
    ref = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert np.abs(got - ref).max() / (ref.max() - ref.min()) <= 1e-4


def quantize(model, out, calib, val, labels, extra=(), isolated=False):
    """`squint quantize` with the accuracy check; each layer is measured end to end only (--accumulated-only,
    half the check's work) unless `isolated`."""
    proc = squint("quantize", model_path(model), "-o", str(out), "--calib", calib, "--val", val, "--labels", labels,
                  *extra, *(() if isolated else ("--accumulated-only",)))
    m = re.search(r"accuracy ([\d.]+)% \(float ([\d.]+)%", proc.stdout)
    assert m, proc.stdout
    return float(m.group(1)), float(m.group(2)), proc.stdout


def agreement(out):
    """The check's top-1 agreement with float (%) from `squint quantize` stdout."""
    m = re.search(r"top-1 agreement with float ([\d.]+)%", out)
    assert m, out
    return float(m.group(1))


FMNIST_SPLITS = (os.path.join(FMNIST, "calib_x.npy"), os.path.join(FMNIST, "val_x.npy"),
                 os.path.join(FMNIST, "val_y.npy"))


# Accuracy targets are stated on the whole 2000-sample validation split; those runs are in the slow tier
# (scripts/test.sh --full). The CI tier checks the same targets, with the same thresholds, on the first
# 500 samples: the split is fixed, so the check is deterministic, and the drop on it estimates the same
# quantity. A drop on 500 samples is noisier than on 2000 (one image is 0.2 pt), so the subset runs also
# check top-1 agreement with float, the lower-variance measure, against a floor set about two standard
# errors (sqrt(p(1-p)/500)) below what was measured. Measured 2026-12-05, W8A8 defaults, 512 calibration
# samples: cnn_small +0.00 pt, agreement 99.60% on the subset (whole split +0.05 pt, 99.55%); vit_tiny
# +0.00 pt, 99.40% (whole split +0.00 pt, 99.10%); 4-bit log grids on the subset against uniform 8-bit's
# 83.60%: log2 84.00% (agreement 97.0%), logsqrt2 84.20% (98.8%), sulq 84.20% (95.8%).
# Sanitized builds check top-1 agreement with float on SUBSET (memory safety is what that build checks).
SPLITS = [pytest.param("subset", id="val500"), pytest.param("whole", id="val2000", marks=pytest.mark.full)]


def split_args(split):
    if SANITIZED:
        return SUBSET
    return ("--val-samples", "500") if split == "subset" else ()


@pytest.fixture(scope="module")
def vit_default(tmp_path_factory):
    """vit_tiny quantized with the defaults (W8A8, uniform 8-bit softmax), per validation split:
    vit_default(split) -> (path, accuracy, float accuracy, stdout); shared by the tests that compare
    against it (one quantization instead of several). The default check also measures every layer alone."""
    runs = {}

    def get(split):
        if split not in runs:
            path = tmp_path_factory.mktemp("vit") / "m.sqnt"
            runs[split] = (path, *quantize("vit_tiny/vit_tiny_op17", path, *FMNIST_SPLITS, split_args(split),
                                           isolated=True))
        return runs[split]
    return get


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("model,max_drop", [("cnn_small/cnn_small_op17", 0.5), ("vit_tiny/vit_tiny_op17", 1.0)])
def test_quantized_accuracy_targets(tmp_path, model, max_drop, split, vit_default):
    if model.startswith("vit_tiny"):
        path, acc, ref, out = vit_default(split)
        assert "each alone on quantized float inputs" in out, out
    else:
        path = tmp_path / "m.sqnt"
        acc, ref, out = quantize(model, path, *FMNIST_SPLITS, split_args(split))
        assert "accumulated error, lowest SQNR first" in out, out
    agree = agreement(out)
    if SANITIZED:
        assert agree >= 90.0, out
    else:
        assert acc >= ref - max_drop, out
        if split == "subset":
            assert agree >= 98.5, out
    size = os.path.getsize(path)
    assert size < os.path.getsize(model_path(model)), "the .sqnt is not smaller than the float model"


def test_gpt_quantized_next_char_accuracy(tmp_path):
    g = os.path.join(MODELS, "gpt_tiny")
    acc, ref, out = quantize("gpt_tiny/gpt_tiny_op17", tmp_path / "g.sqnt", os.path.join(g, "calib_x.npy"),
                             os.path.join(g, "val_x.npy"), os.path.join(g, "val_y.npy"),
                             ("--calib-samples", "64", "--val-samples", "16") if SANITIZED else ("--val-samples", "64"))
    m = re.search(r"bits/char ([\d.]+) \(float ([\d.]+)", out)
    assert m, out
    if not SANITIZED:
        assert acc >= ref - 1.0, out
        # Issue 4 target: integer bits/char (mean next-char cross-entropy) within 2% of fp32.
        bits, float_bits = float(m.group(1)), float(m.group(2))
        assert 0 < float_bits < 8 and bits <= 1.02 * float_bits, out


def test_quantize_is_deterministic(tmp_path):
    args = ("cnn_small/cnn_small_op17", os.path.join(FMNIST, "calib_x.npy"), os.path.join(FMNIST, "val_x.npy"),
            os.path.join(FMNIST, "val_y.npy"), ("--val-samples", "16", "--calib-samples", "64"))
    quantize(args[0], tmp_path / "a.sqnt", *args[1:])
    quantize(args[0], tmp_path / "b.sqnt", *args[1:])
    assert (tmp_path / "a.sqnt").read_bytes() == (tmp_path / "b.sqnt").read_bytes()


def test_softmax_bits(tmp_path):
    # --softmax-bits 8 is the default grid (byte-identical file); fewer bits change the file, and
    # the integer model still passes the runtime's checks and the accuracy run. 3 bits on 200
    # validation samples: the drop is bounded but visible (see docs/benchmarks.md).
    fm = (os.path.join(FMNIST, "calib_x.npy"), os.path.join(FMNIST, "val_x.npy"), os.path.join(FMNIST, "val_y.npy"))
    few = SUBSET if SANITIZED else ("--calib-samples", "128", "--val-samples", "200")
    acc8, ref, _ = quantize("vit_tiny/vit_tiny_op17", tmp_path / "a.sqnt", *fm, few)
    quantize("vit_tiny/vit_tiny_op17", tmp_path / "b.sqnt", *fm, few + ("--softmax-bits", "8"))
    acc3, ref3, out3 = quantize("vit_tiny/vit_tiny_op17", tmp_path / "c.sqnt", *fm, few + ("--softmax-bits", "3"))
    a, b, c = ((tmp_path / f).read_bytes() for f in ("a.sqnt", "b.sqnt", "c.sqnt"))
    assert a == b
    assert a != c
    assert ref3 == ref
    assert acc3 >= ref - 25.0, out3


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("grid", ["log2", "logsqrt2", "sulq"])
def test_softmax_quant_log_grids(tmp_path, vit_default, grid, split):
    # --softmax-quant log2 (FQ-ViT), logsqrt2 (RepQ-ViT), sulq (I&S-ViT): 4-bit probabilities on
    # power-of-two grids, P·V by shifts. Bound (issue target): within 1.0 pt of uniform 8-bit on the
    # full validation split (measured 2026-11-29: log2 83.25%, logsqrt2 83.60%, sulq 83.10% vs
    # 83.45%, see docs/benchmarks.md), checked on the first 500 samples in the CI tier; sanitized
    # builds check top-1 agreement with float on a subset.
    _, acc8, ref, _ = vit_default(split)
    out_path = tmp_path / f"{grid}.sqnt"
    acc4, ref4, out4 = quantize("vit_tiny/vit_tiny_op17", out_path, *FMNIST_SPLITS,
                                split_args(split) + ("--softmax-quant", grid, "--softmax-bits", "4"))
    assert ref4 == ref
    inspected = squint("inspect", str(out_path)).stdout
    assert f"softmax_quant={grid}" in inspected and f"{grid} 4 bits: 16 codes" in inspected, inspected
    agree = agreement(out4)
    if SANITIZED:
        assert agree >= 90.0, (grid, out4)
    else:
        assert acc4 >= acc8 - 1.0, (grid, out4)
        if split == "subset":
            assert agree >= 94.0, (grid, out4)


def test_softmax_quant_bad_name(tmp_path):
    expect_bad(["quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "x.sqnt"), "--calib",
                FMNIST_SPLITS[0], "--softmax-quant", "log3"], r"--softmax-quant.*log3", tmp_path / "x.sqnt")


def assert_vit_logits_close(tmp_path, sqnt):
    """`squint run` of a vit_tiny .sqnt on one validation image: logits within 10% of the float range."""
    np.save(tmp_path / "x.npy", np.load(FMNIST_SPLITS[1])[:1])
    squint("run", str(sqnt), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "q"))
    squint("run", model_path("vit_tiny/vit_tiny_op17"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "f"))
    q, f = np.load(tmp_path / "q" / "logits.npy"), np.load(tmp_path / "f" / "logits.npy")
    assert np.abs(q - f).max() <= 0.1 * (f.max() - f.min()), (q, f)


def test_transform_smooth(tmp_path):
    # --transform smooth moves per-channel scales from every LayerNorm into the Linear weights that
    # read it (float-equivalent: the float accuracy is unchanged), says what it did per LayerNorm,
    # and is recorded. A model without such a LayerNorm is an error (exit 2, no file) unless
    # --transform-optional.
    few = SUBSET + ("--weight-bits", "4")
    _, ref, _ = quantize("vit_tiny/vit_tiny_op17", tmp_path / "a.sqnt", *FMNIST_SPLITS, few)
    proc = squint("quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "b.sqnt"), "--calib",
                  FMNIST_SPLITS[0], "--val", FMNIST_SPLITS[1], "--labels", FMNIST_SPLITS[2], *few,
                  "--transform", "smooth", "--accumulated-only")
    m = re.search(r"accuracy ([\d.]+)% \(float ([\d.]+)%", proc.stdout)
    assert m and float(m.group(2)) == ref, proc.stdout
    assert re.search(r"smooth: \d+ of 9 sites smoothed", proc.stderr), proc.stderr
    assert "transform=smooth" in squint("inspect", str(tmp_path / "b.sqnt")).stdout
    def cnn(out, transform):
        return ["quantize", model_path("cnn_small/cnn_small_op17"), "-o", str(tmp_path / out), "--calib",
                FMNIST_SPLITS[0], "--calib-samples", "16", "--val-samples", "8", "--transform", transform]
    expect_bad(cnn("c.sqnt", "smooth"), r"--transform smooth: no LayerNormalization.*--transform-optional",
               tmp_path / "c.sqnt")
    proc = squint(*cnn("c.sqnt", "smooth"), "--transform-optional")
    assert "quantizing without it" in proc.stderr and os.path.exists(tmp_path / "c.sqnt")
    expect_bad(cnn("d.sqnt", "none,smooth"), r"cannot be combined", tmp_path / "d.sqnt")
    expect_bad(cnn("d.sqnt", "spin"), r"--transform.*spin", tmp_path / "d.sqnt")


def test_transform_repq(tmp_path):
    # --transform repq (RepQ-ViT) gives each LayerNorm output read only by Linears per-channel grids, then moves
    # the channel factors into γ/β and the Linears (float-equivalent: the float accuracy is unchanged); every
    # site's channel ranges come out equal (ratio 1.0); it is recorded; with smooth or rotate it is refused.
    # Its accuracy effect is small on vit_tiny, whose LayerNorm outputs' channel ranges differ by 1.5-1.8x only
    # (whole split, W3A3 with GPTQ: 76.35 % -> 78.10 %; with round to nearest 74.95 % -> 75.35 %; on this test's
    # 64 calibration / 100 validation images the logits' cosine moves by +-0.003 either way), so it is not asserted.
    low = SUBSET + ("--weight-bits", "3", "--act-bits", "3", "--softmax-bits", "4", "--softmax-quant", "log2",
                    "--weight-rounding", "gptq")
    _, ref, _ = quantize("vit_tiny/vit_tiny_op17", tmp_path / "a.sqnt", *FMNIST_SPLITS, low)
    proc = squint("quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "b.sqnt"), "--calib",
                  FMNIST_SPLITS[0], "--val", FMNIST_SPLITS[1], "--labels", FMNIST_SPLITS[2], *low,
                  "--transform", "repq", "--accumulated-only")
    m = re.search(r"accuracy ([\d.]+)% \(float ([\d.]+)%", proc.stdout)
    assert m and float(m.group(2)) == ref, proc.stdout
    sites = re.findall(r"repq: LayerNormalization .* channel range ([\d.]+) -> ([\d.]+)", proc.stderr)
    assert len(sites) == 9 and all(after == "1.0" for _, after in sites), proc.stderr
    assert "transform=repq" in squint("inspect", str(tmp_path / "b.sqnt")).stdout
    for other in ("smooth", "rotate"):
        expect_bad(["quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "c.sqnt"), "--calib",
                    FMNIST_SPLITS[0], "--transform", f"repq,{other}"], rf"repq cannot be combined with {other}",
                   tmp_path / "c.sqnt")


def test_weight_rounding_gptq_and_adaround(tmp_path):
    # --weight-rounding gptq|adaround on vit_tiny W4A8: same scales and format, codes chosen by GPTQ
    # or AdaRound on the calibration inputs; the logits move closer to float than with round to
    # nearest (measured on the whole split with 512 calibration samples: GPTQ 25.5 vs 22.9 dB; on 500
    # images with 256 samples: AdaRound 25.1, GPTQ 25.5, nearest 23.0 dB; here 64 samples), and the
    # choice is recorded in the provenance. A bad value is refused before any work. Under the
    # sanitizers AdaRound (12 layers x 1000 Adam steps of Eigen products at -O1) runs in the C++ test
    # (tests/quant/gptq_test.cc) only.
    few = SUBSET + ("--weight-bits", "4")
    sqnr = {}
    roundings = ("nearest", "gptq") if SANITIZED else ("nearest", "gptq", "adaround")
    for rounding in roundings:
        _, _, out = quantize("vit_tiny/vit_tiny_op17", tmp_path / f"{rounding}.sqnt", *FMNIST_SPLITS,
                             few + ("--weight-rounding", rounding))
        m = re.search(r"output 'logits': SQNR ([\d.]+) dB", out)
        assert m, out
        sqnr[rounding] = float(m.group(1))
    assert sqnr["gptq"] >= sqnr["nearest"] + 1.0, sqnr
    if not SANITIZED:
        assert sqnr["adaround"] >= sqnr["nearest"] + 1.0, sqnr
    for rounding in roundings[1:]:
        assert os.path.getsize(tmp_path / f"{rounding}.sqnt") == os.path.getsize(tmp_path / "nearest.sqnt")
        assert f"weight_rounding={rounding}" in squint("inspect", str(tmp_path / f"{rounding}.sqnt")).stdout
    assert "weight_rounding" not in squint("inspect", str(tmp_path / "nearest.sqnt")).stdout
    expect_bad(["quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "bad.sqnt"), "--calib",
                FMNIST_SPLITS[0], "--weight-rounding", "brecq"], r"--weight-rounding.*brecq",
               tmp_path / "bad.sqnt")


def test_weight_rounding_gptq_on_convolutions(tmp_path):
    # GPTQ rounds CONV_2D weights too (the Hessian of each conv's im2col'd input patches, per group for the
    # depthwise conv): cnn_small W4A8's logits move much closer to float (whole split, 256 calibration
    # samples: 13.0 -> 21.1 dB, accuracy 87.50 -> 90.35 %; here 64 samples, 100 images: 12.6 -> 20.3 dB).
    sqnr = {}
    for rounding in ("nearest", "gptq"):
        _, _, out = quantize("cnn_small/cnn_small_op17", tmp_path / f"{rounding}.sqnt", *FMNIST_SPLITS,
                             SUBSET + ("--weight-bits", "4", "--weight-rounding", rounding))
        m = re.search(r"output 'logits': SQNR ([\d.]+) dB", out)
        assert m, out
        sqnr[rounding] = float(m.group(1))
    assert sqnr["gptq"] >= sqnr["nearest"] + 4.0, sqnr
    assert os.path.getsize(tmp_path / "gptq.sqnt") == os.path.getsize(tmp_path / "nearest.sqnt")


def test_int16_linears_keep_packed_group_scaled_4bit_weights(tmp_path):
    # --a16 Linear with --weight-bits 4 --group-size 32: the int16 FULLY_CONNECTEDs read packed int4 weights with
    # group scales (FullyConnectedLowBit<int16_t>) instead of falling back to one code per byte per channel; the
    # check runs them on the runtime and the logits stay as close to float as with int8 activations (here 23.6 vs
    # 23.5 dB; before: 23.3 dB at 711 kB, now 663 kB).
    _, _, out = quantize("vit_tiny/vit_tiny_op17", tmp_path / "a.sqnt", *FMNIST_SPLITS,
                         SUBSET + ("--weight-bits", "4", "--group-size", "32", "--a16", "Linear"))
    m = re.search(r"output 'logits': SQNR ([\d.]+) dB", out)
    assert m and float(m.group(1)) >= 22.0, out
    listing = squint("inspect", str(tmp_path / "a.sqnt")).stdout
    fc = [line for line in listing.splitlines() if line.strip().startswith("constant") and "MatMul.weight" in line]
    assert len(fc) == 16 and all(" int4 " in line and "per-group axis 0 size 32" in line for line in fc), listing
    assert re.search(r"activation int16 .* /blocks.0/fc1/Add_output_0", listing), listing


def test_reconstruct_block(tmp_path):
    # --reconstruct block on vit_tiny W4A4, cheaply (16 calibration samples, 4 for the reconstruction, 8
    # checked): the blocks are found at the residual Adds (4 transformer blocks, two halves each, plus
    # the head), no block's output error on the reconstruction samples grows, the file records the
    # option, and the same options give the same bytes (release build only: under the sanitizers the
    # three runs take 30 s); bad values are refused before any work. Whether it helps is measured on
    # the whole split in the full tier (below).
    few = ("--calib-samples", "16", "--val-samples", "8", "--weight-bits", "4", "--act-bits", "4",
           "--softmax-bits", "4", "--softmax-quant", "log2", "--reconstruct-samples", "4", "--accumulated-only")
    stderr = {}
    runs = (("none", "none"), ("block", "block")) + (() if SANITIZED else (("again", "block"),))
    for name, recon in runs:
        stderr[name] = squint("quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / f"{name}.sqnt"),
                              "--calib", FMNIST_SPLITS[0], "--val", FMNIST_SPLITS[1], *few,
                              "--reconstruct", recon).stderr
    blocks = re.findall(r"reconstruct: block '([^']+)' \.\. '([^']+)' \(\d+ nodes\): output MSE ([\d.e+-]+) -> "
                        r"([\d.e+-]+)", stderr["block"])
    assert len(blocks) == 9, stderr["block"]
    assert blocks[0][0] == "/patch/Conv" and blocks[-1][1] == "/head/Gemm", blocks
    assert all(re.fullmatch(r"/blocks\.\d/Add(_1)?", b[1]) for b in blocks[:-1]), blocks
    assert all(float(after) <= float(before) for _, _, before, after in blocks), blocks
    assert "reconstruct" not in stderr["none"]
    if not SANITIZED:
        assert (tmp_path / "block.sqnt").read_bytes() == (tmp_path / "again.sqnt").read_bytes()
    assert (tmp_path / "block.sqnt").read_bytes() != (tmp_path / "none.sqnt").read_bytes()
    inspected = squint("inspect", str(tmp_path / "block.sqnt")).stdout
    assert "reconstruct=block reconstruct_samples=4" in inspected, inspected
    base = ["quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "bad.sqnt"), "--calib",
            FMNIST_SPLITS[0]]
    expect_bad(base + ["--reconstruct", "brecq"], r"--reconstruct.*brecq", tmp_path / "bad.sqnt")
    expect_bad(base + ["--reconstruct", "block", "--reconstruct-samples", "0"], r"--reconstruct-samples",
               tmp_path / "bad.sqnt")


@pytest.mark.full
def test_reconstruct_block_whole_split(tmp_path):
    # vit_tiny W4A4 on the whole split, 256 calibration samples (32 for the reconstruction, the
    # default): block reconstruction keeps more accuracy and brings the logits closer to float than the
    # observer's ranges. Measured 2026-12-06 (docs/benchmarks.md, the low-bit frontier): 81.75 -> 82.50 %,
    # logits SQNR 16.2 -> 17.8 dB.
    few = ("--calib-samples", "256", "--weight-bits", "4", "--act-bits", "4", "--softmax-bits", "4",
           "--softmax-quant", "log2")
    acc, sqnr = {}, {}
    for recon in ("none", "block"):
        acc[recon], _, out = quantize("vit_tiny/vit_tiny_op17", tmp_path / f"{recon}.sqnt", *FMNIST_SPLITS,
                                      few + ("--reconstruct", recon))
        sqnr[recon] = float(re.search(r"output 'logits': SQNR ([\d.]+) dB", out).group(1))
    assert acc["block"] >= acc["none"] + 0.5 and sqnr["block"] >= sqnr["none"] + 1.0, (acc, sqnr)


def test_transform_hadamard(tmp_path):
    # --transform hadamard on vit_tiny W4A8: one HADAMARD op per Linear input (int16 in, int8 out),
    # float accuracy unchanged (float-equivalent), the outliers of the linear inputs spread (the
    # largest kurtosis drops), and the .sqnt runs on `squint run` close to the float model.
    few = SUBSET + ("--weight-bits", "4")
    proc = squint("quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "h.sqnt"), "--calib",
                  FMNIST_SPLITS[0], "--val", FMNIST_SPLITS[1], "--labels", FMNIST_SPLITS[2], *few,
                  "--transform", "hadamard", "--accumulated-only")
    assert agreement(proc.stdout) >= 95.0, proc.stdout
    assert "17 Linear layers behind 17 Hadamard ops" in proc.stderr, proc.stderr
    kurt = [float(k) for k in re.findall(r"linear inputs \w+ transforms: .* max ([\d.]+), max\|x\|", proc.stderr)]
    assert len(kurt) == 2 and kurt[1] < kurt[0] / 4, proc.stderr
    inspected = squint("inspect", str(tmp_path / "h.sqnt")).stdout
    assert "HADAMARD" in inspected and "transform=hadamard" in inspected, inspected
    assert_vit_logits_close(tmp_path, tmp_path / "h.sqnt")


def test_transform_rotate(tmp_path):
    # --transform rotate on vit_tiny: the whole residual stream is found (9 LayerNorms become
    # RMSNorms, LAYER_NORM in rms mode), the float model is unchanged, and the .sqnt runs close to
    # float; rotate,hadamard is QuaRot's pair; smooth,rotate is refused (rotate undoes smoothing).
    proc = squint("quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "r.sqnt"), "--calib",
                  FMNIST_SPLITS[0], "--val", FMNIST_SPLITS[1], "--labels", FMNIST_SPLITS[2], *SUBSET,
                  "--transform", "rotate,hadamard", "--accumulated-only")
    assert agreement(proc.stdout) >= 95.0, proc.stdout
    assert re.search(r"transform rotate: residual stream of 64 channels .*: 9 LayerNorms -> RMSNorm, 9 writers and "
                     r"1 added constants", proc.stderr), proc.stderr
    assert "Hadamard ops" in proc.stderr, proc.stderr
    assert "norm (residual stream) inputs after transforms: 9 inputs" in proc.stderr, proc.stderr
    inspected = squint("inspect", str(tmp_path / "r.sqnt")).stdout
    assert "transform=rotate,hadamard" in inspected, inspected
    norms = [line for line in inspected.splitlines() if " LAYER_NORM " in line]
    assert len(norms) == 9 and all(line.endswith("  rms") for line in norms), inspected
    assert_vit_logits_close(tmp_path, tmp_path / "r.sqnt")
    # The rotation's signs come from --transform-seed: same seed, same bytes; another, another file.
    def rotated(out, *seed):
        squint("quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / out), "--calib",
               FMNIST_SPLITS[0], "--calib-samples", "16", "--val-samples", "4", "--transform", "rotate", *seed)
        return (tmp_path / out).read_bytes()
    assert rotated("s1.sqnt") == rotated("s2.sqnt") != rotated("s3.sqnt", "--transform-seed", "7")
    assert "transform_seed=7" in squint("inspect", str(tmp_path / "s3.sqnt")).stdout
    expect_bad(["quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "s.sqnt"), "--calib",
                FMNIST_SPLITS[0], "--transform", "smooth,rotate"], r"undoes smoothing", tmp_path / "s.sqnt")


def test_transform_wush(tmp_path):
    # --transform wush on vit_tiny W4A8: one grouped FULLY_CONNECTED (blocks of 32 channels, int8
    # weights) per Linear input, float accuracy unchanged (float-equivalent), recorded, and the .sqnt
    # runs on `squint run` close to the float model. Not together with hadamard.
    few = SUBSET + ("--weight-bits", "4")
    args = ["quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "w.sqnt"), "--calib",
            FMNIST_SPLITS[0], "--val", FMNIST_SPLITS[1], "--labels", FMNIST_SPLITS[2], *few, "--accumulated-only"]
    _, ref, _ = quantize("vit_tiny/vit_tiny_op17", tmp_path / "a.sqnt", *FMNIST_SPLITS, few)
    proc = squint(*args, "--transform", "wush")
    m = re.search(r"accuracy ([\d.]+)% \(float ([\d.]+)%", proc.stdout)
    assert m and float(m.group(2)) == ref, proc.stdout
    assert agreement(proc.stdout) >= 95.0, proc.stdout
    found = re.search(r"transform wush: (\d+) Linear layers behind (\d+) grouped transforms \(blocks of 32\)",
                      proc.stderr)
    assert found and int(found.group(1)) >= 16, proc.stderr
    inspected = squint("inspect", str(tmp_path / "w.sqnt")).stdout
    assert "transform=wush" in inspected, inspected
    assert len(re.findall(r"FULLY_CONNECTED .*  groups=\d+", inspected)) == int(found.group(2)), inspected
    assert_vit_logits_close(tmp_path, tmp_path / "w.sqnt")
    expect_bad(args + ["--transform", "hadamard,wush"], r"--transform wush cannot be combined with hadamard",
               tmp_path / "b.sqnt")
    expect_bad(args + ["--transform", "wush", "--wush-block", "48"], r"WUSH block 48: expected 16, 32 or 64",
               tmp_path / "b.sqnt")


def test_clip_softmax(tmp_path):
    # --clip-softmax turns every Softmax of a model trained without it into clipped softmax: the
    # float model changes too (the check compares against the clipped float model), the integer
    # runtime computes it (exact zeros below ALPHA/(T + ALPHA)), and the option is recorded.
    fm = (os.path.join(FMNIST, "calib_x.npy"), os.path.join(FMNIST, "val_x.npy"), os.path.join(FMNIST, "val_y.npy"))
    few = ("--calib-samples", "64", "--val-samples", "100")
    _, ref, _ = quantize("vit_tiny/vit_tiny_op17", tmp_path / "a.sqnt", *fm, few)
    acc, ref_clipped, out = quantize("vit_tiny/vit_tiny_op17", tmp_path / "b.sqnt", *fm, few + ("--clip-softmax", "2"))
    assert acc >= ref_clipped - 3.0, out
    proc = squint("inspect", str(tmp_path / "b.sqnt"), "--json")
    assert "clip_softmax=2" in json.loads(proc.stdout)["provenance"]["options"]
    assert (tmp_path / "a.sqnt").read_bytes() != (tmp_path / "b.sqnt").read_bytes()


def conv_only_model(path):
    """A float ONNX model with no Linear: input [1, 1, 8, 8] -> Conv 3x3 (4 channels) -> Relu."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 1, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        "conv_only", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_transform_needs_an_eligible_layer(tmp_path):
    # --transform hadamard on a model without Linear: exit 2 with the reason, unless
    # --transform-optional (then a warning, and the model is quantized without it).
    conv_only_model(tmp_path / "conv.onnx")
    np.save(tmp_path / "x.npy", np.random.default_rng(1).standard_normal((10, 1, 8, 8)).astype(np.float32))
    args = ["quantize", str(tmp_path / "conv.onnx"), "-o", str(tmp_path / "m.sqnt"), "--calib", str(tmp_path / "x.npy")]
    expect_bad(args + ["--transform", "hadamard"], r"--transform hadamard: .*has no Linear.*--transform-optional",
               tmp_path / "m.sqnt")
    expect_bad(args + ["--transform", "rotate"], r"--transform rotate: the model has no LayerNormalization",
               tmp_path / "m.sqnt")
    proc = squint(*args, "--transform", "hadamard", "--transform-optional")
    assert re.search(r"warning: --transform hadamard: the model has no Linear.*quantizing without it", proc.stderr), proc.stderr
    assert "transform=" not in json.loads(squint("inspect", str(tmp_path / "m.sqnt"), "--json").stdout)["provenance"][
        "options"]


def test_softmax_bias_correction(tmp_path):
    # The mean P·V error of every head is folded into the output projection's bias: the file
    # changes, every plain attention block is corrected, and blocks of another shape (the gated
    # model's gate sits between P·V and the projection) are named as not corrected.
    calib = os.path.join(FMNIST, "calib_x.npy")
    few = ("--calib-samples", "32", "--val-samples", "8", "--softmax-bits", "6")
    a = squint("quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "a.sqnt"), "--calib", calib, *few)
    b = squint("quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "b.sqnt"), "--calib", calib, *few,
               "--softmax-bias-correction")
    assert "4 of 4 attention blocks" in b.stderr, b.stderr
    assert (tmp_path / "a.sqnt").read_bytes() != (tmp_path / "b.sqnt").read_bytes()
    g = squint("quantize", model_path("vit_tiny_gated/vit_tiny_gated_op17"), "-o", str(tmp_path / "g.sqnt"), "--calib",
               calib, *few, "--softmax-bias-correction")
    assert "not corrected" in g.stderr and "0 of 4" in g.stderr, g.stderr
    expect_bad(["quantize", model_path("cnn_small/cnn_small_op17"), "-o", str(tmp_path / "c.sqnt"), "--calib", calib,
                "--softmax-bias-correction"], r"no Softmax", tmp_path / "c.sqnt")
    expect_bad(["quantize", model_path("vit_tiny/vit_tiny_op17"), "-o", str(tmp_path / "c.sqnt"), "--calib", calib,
                "--softmax-bias-correction", "--softmax-quant", "log2"], r"uniform grid", tmp_path / "c.sqnt")


@pytest.mark.parametrize("model", ["cnn_small/cnn_small_op17", "vit_tiny/vit_tiny_op17"])
def test_int4_weights_with_group_scales(tmp_path, model):
    # --weight-bits 4 packs FC and Conv weights two per byte; --group-size 32 gives FC and Conv
    # weights one scale per 32 depth elements (layers whose depth 32 does not divide keep
    # per-channel scales, with a warning). The file is
    # smaller than the 8-bit one, runs on the integer runtime (accuracy reported), is
    # deterministic, and inspect shows the packed tensors and the group scales.
    fm = (os.path.join(FMNIST, "calib_x.npy"), os.path.join(FMNIST, "val_x.npy"), os.path.join(FMNIST, "val_y.npy"))
    few = ("--calib-samples", "32", "--val-samples", "64") if SANITIZED else ("--calib-samples", "128", "--val-samples", "200")
    acc8, ref, _ = quantize(model, tmp_path / "w8.sqnt", *fm, few)
    acc4, ref4, out4 = quantize(model, tmp_path / "w4.sqnt", *fm, few + ("--weight-bits", "4", "--group-size", "32"))
    assert ref4 == ref
    size8, size4 = (tmp_path / "w8.sqnt").stat().st_size, (tmp_path / "w4.sqnt").stat().st_size
    assert size4 < 0.85 * size8, (size4, size8)  # measured: cnn_small 0.64, vit_tiny 0.77
    # cnn_small on these 200 samples: 89.5% vs 92.5% (full split 87.20% vs 90.85%, docs/benchmarks.md).
    assert acc4 >= acc8 - 6.0, out4
    info = squint("inspect", str(tmp_path / "w4.sqnt")).stdout
    assert re.search(r"constant\s+int4\s+10x64\s+per-group axis 0 size 32: 20 scales", info), info
    assert "group_size=32" in info
    if model.startswith("cnn"):
        proc = squint("quantize", model_path(model), "-o", str(tmp_path / "again.sqnt"), "--calib", fm[0], "--val",
                      fm[1], "--labels", fm[2], *few, "--weight-bits", "4", "--group-size", "32", "--accumulated-only")
        # cnn_small's Convs: depth 9 (first and depthwise) and 16x3x3 = 144 keep per-channel scales;
        # 32x3x3 = 288 (two) and the 1x1 pointwise (32) take groups of 32.
        assert len(re.findall(r"depth (?:9|144) is not a multiple of --group-size 32", proc.stderr)) == 3, proc.stderr
        assert len(re.findall(r"constant\s+int4\s+32x32x3x3\s+per-group axis 0 size 32: 288 scales", info)) == 2, info
        assert re.search(r"constant\s+int4\s+64x32x1x1\s+per-group axis 0 size 32: 64 scales", info), info
        assert (tmp_path / "again.sqnt").read_bytes() == (tmp_path / "w4.sqnt").read_bytes()
        # 8-bit weights with group scales are legal (the grouped kernel on int8 codes).
        acc8g, _, out8g = quantize(model, tmp_path / "w8g.sqnt", *fm, few + ("--group-size", "64"))
        assert acc8g >= acc8 - 1.0, out8g
        # --w8: the named layers (by op type here: every Conv) keep 8-bit codes, the rest stay 4-bit.
        squint("quantize", model_path(model), "-o", str(tmp_path / "w8conv.sqnt"), "--calib", fm[0],
               "--calib-samples", "16", "--val-samples", "8", "--weight-bits", "4", "--w8", "Conv", "--accumulated-only")
        info8 = squint("inspect", str(tmp_path / "w8conv.sqnt")).stdout
        assert "w8=Conv" in info8, info8
        assert not re.search(r"constant\s+int4\s+\d+x\d+x\d+x\d+", info8), info8
        assert re.search(r"constant\s+int4\s+10x64", info8), info8  # the classifier's FC
    out = tmp_path / "bad.sqnt"
    for group in ("48", "256", "-1"):
        expect_bad(["quantize", model_path(model), "-o", str(out), "--calib", fm[0], "--group-size", group],
                   rf"--group-size {group} is not supported \(0 = one scale per output channel, 32, 64 or 128\)", out)
    expect_bad(["quantize", model_path(model), "-o", str(out), "--calib", fm[0], "--group-size", "32", "--per-tensor"],
               r"--group-size 32 with --per-tensor", out)
    expect_bad(["quantize", model_path(model), "-o", str(out), "--calib", fm[0], "--w8", "Gemm"],
               r"--w8 'Gemm': no node has this name or op type", out)
    expect_bad(["quantize", model_path(model), "-o", str(out), "--calib", fm[0], "--w8", "Linear"],
               r"--w8 Linear: the weights are 8-bit already", out)


# Issue 18's low-bit targets: vit_tiny W4A4 within 5 pt of fp32 and W3A3 within 15 pt, gpt_tiny W4A4
# within 10 % bits/char. WxAy as the papers count it (--act-bits-scope matmul, the default): weights and the
# inputs of matrix products at the narrow width, the softmax at 4 bits on the log2 grid. Measured
# 2026-12-06 (256 calibration samples): vit_tiny W4A4 82.20 % (fp32 83.60 %) and W3A3 75.80 % on the first
# 500 images; gpt_tiny W4A4 +3.85 % bits/char on 64 windows.
@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("bits,max_drop", [("4", 5.0), ("3", 15.0)])
def test_low_bit_vit_targets(tmp_path, bits, max_drop, split):
    low = ("--weight-bits", bits, "--act-bits", bits, "--softmax-bits", "4", "--softmax-quant", "log2",
           "--calib-samples", "64" if SANITIZED else "256")
    val = ("--val-samples", "16") if SANITIZED else ("--val-samples", "500") if split == "subset" else ()
    acc, ref, out = quantize("vit_tiny/vit_tiny_op17", tmp_path / "low.sqnt", *FMNIST_SPLITS, low + val)
    if not SANITIZED:
        assert acc >= ref - max_drop, out
    info = squint("inspect", str(tmp_path / "low.sqnt")).stdout
    assert f"act_bits={bits} " in info and "act_bits_scope=matmul" in info, info


def test_low_bit_gpt_target(tmp_path):
    g = os.path.join(MODELS, "gpt_tiny")
    proc = squint("quantize", model_path("gpt_tiny/gpt_tiny_op17"), "-o", str(tmp_path / "g.sqnt"),
                  "--calib", os.path.join(g, "calib_x.npy"), "--val", os.path.join(g, "val_x.npy"),
                  "--labels", os.path.join(g, "val_y.npy"),
                  *(("--val-samples", "16", "--calib-samples", "64") if SANITIZED else ("--val-samples", "64")),
                  "--weight-bits", "4", "--act-bits", "4", "--softmax-bits", "4", "--softmax-quant", "log2",
                  "--accumulated-only")
    m = re.search(r"bits/char [\d.]+ \(float [\d.]+, ([+-][\d.]+)%\)", proc.stdout)
    assert m, proc.stdout
    if not SANITIZED:
        assert float(m.group(1)) <= 10.0, proc.stdout


def conv_with_outlier_input_channel(path, seed=0):
    """x [1, 32, 8, 8] -> Conv 3x3 pad 1 (w [16, 32, 3, 3], bias) -> y [1, 16, 8, 8]; the weights
    of input channel 5 are 30 times larger than the others' (depth 288 = 9 groups of 32)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.1, (16, 32, 3, 3)).astype(np.float32)
    w[:, 5] *= 30
    b = rng.normal(0, 0.1, 16).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    graph = helper.make_graph([node], "outlier", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 8, 8])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    x = rng.normal(0, 1, (96, 32, 8, 8)).astype(np.float32)
    return x


def test_conv_group_scales_beat_per_channel_on_an_outlier_input_channel(tmp_path):
    # One input channel with 30x larger weights sets every output channel's single 4-bit scale,
    # so the other 31 channels' weights round to a few codes; with --group-size 32 only the
    # groups holding channel 5 pay. The quantizer's output SQNR (integer runtime vs float) shows
    # it, and so does `squint run` of each .sqnt beside the float model on one validation sample.
    x = conv_with_outlier_input_channel(tmp_path / "m.onnx")
    np.save(tmp_path / "calib.npy", x[:64])
    np.save(tmp_path / "val.npy", x[64:])
    sqnr = {}
    for group in ("0", "32"):
        out = tmp_path / f"g{group}.sqnt"
        proc = squint("quantize", str(tmp_path / "m.onnx"), "-o", str(out), "--calib", str(tmp_path / "calib.npy"),
                      "--val", str(tmp_path / "val.npy"), "--weight-bits", "4", "--group-size", group)
        m = re.search(r"output 'y': SQNR ([\d.]+) dB", proc.stdout)
        assert m, proc.stdout
        sqnr[group] = float(m.group(1))
        assert "not a multiple" not in proc.stderr, proc.stderr
    assert sqnr["32"] >= sqnr["0"] + 6.0, sqnr  # measured: 13.1 vs 20.6 dB (squint run on one sample: 13.1 vs 20.7)
    info = squint("inspect", str(tmp_path / "g32.sqnt")).stdout
    assert re.search(r"constant\s+int4\s+16x32x3x3\s+per-group axis 0 size 32: 144 scales", info), info
    np.save(tmp_path / "x1.npy", x[64:65])
    outputs = {}
    for model in ("m.onnx", "g0.sqnt", "g32.sqnt"):
        squint("run", str(tmp_path / model), "--input", f"x={tmp_path / 'x1.npy'}", "--output-dir", str(tmp_path / f"out_{model}"))
        outputs[model] = np.load(tmp_path / f"out_{model}" / "y.npy").astype(np.float64)
    ref = outputs["m.onnx"]
    run_sqnr = {g: 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - outputs[f"g{g}.sqnt"]) ** 2)) for g in ("0", "32")}
    assert run_sqnr["32"] >= run_sqnr["0"] + 6.0, run_sqnr
    assert abs(run_sqnr["32"] - sqnr["32"]) < 3.0, (run_sqnr, sqnr)


def test_quantized_model_runs_with_squint_run_on_the_float_model_inputs(tmp_path):
    # The integer model's output from the accuracy check equals what `squint run` on the
    # float model gives within quantization error: checked via top-1 agreement above; here
    # the inspect JSON of the float model is well-formed and names the fusions.
    proc = squint("inspect", model_path("vit_tiny/vit_tiny_op13"), "--json", "--input-shape", "input=1x1x28x28")
    info = json.loads(proc.stdout)
    assert info["ops"]["LayerNormalization"]["count"] == 9
    assert info["canonicalization"]["fuse_layer_norm"] == 9
    assert info["macs_complete"] and info["macs"] > 0


def expect_bad(args, pattern, out_file=None):
    proc = squint(*args, check=False)
    assert proc.returncode == 2, f"exit {proc.returncode}: {proc.stderr}"
    assert re.search(pattern, proc.stderr, re.I), proc.stderr
    assert "Traceback" not in proc.stderr and "internal" not in proc.stderr
    if out_file is not None:
        assert not os.path.exists(out_file), "a partial output file was left behind"


def test_bad_inputs(tmp_path):
    model = model_path("cnn_small/cnn_small_op17")
    calib = os.path.join(FMNIST, "calib_x.npy")
    out = tmp_path / "m.sqnt"
    expect_bad(["inspect", str(tmp_path / "missing.onnx")], r"no such file")
    (tmp_path / "empty.onnx").write_bytes(b"")
    expect_bad(["inspect", str(tmp_path / "empty.onnx")], r"empty")
    (tmp_path / "junk.onnx").write_bytes(b"this is not a model at all")
    expect_bad(["inspect", str(tmp_path / "junk.onnx")], r"junk.onnx")
    expect_bad(["quantize", model, "-o", str(out), "--calib", str(tmp_path / "nothing")], r"nothing", out)
    np.save(tmp_path / "wrong.npy", np.zeros((4, 3, 28, 28), np.float32))
    expect_bad(["quantize", model, "-o", str(out), "--calib", str(tmp_path / "wrong.npy")], r"shape", out)
    bad = np.zeros((4, 1, 28, 28), np.float32)
    bad[2, 0, 1, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    expect_bad(["quantize", model, "-o", str(out), "--calib", str(tmp_path / "nan.npy")], r"NaN|Inf", out)
    (tmp_path / "emptydir").mkdir()
    expect_bad(["quantize", model, "-o", str(out), "--calib", str(tmp_path / "emptydir")], r"emptydir", out)
    expect_bad(["quantize", model, "-o", str(tmp_path / "no" / "such" / "dir.sqnt"), "--calib", calib,
                "--calib-samples", "8", "--val-samples", "4"], r"does not exist")
    expect_bad(["quantize", model, "-o", str(out), "--calib", calib, "--observer", "kl"], r"kl", out)
    for flag, bits in (("--weight-bits", "5"), ("--act-bits", "16")):
        expect_bad(["quantize", model, "-o", str(out), "--calib", calib, "--calib-samples", "8", flag, bits],
                   rf"bits {bits} is not supported \(8, 6, 4 or 3\)", out)
    expect_bad(["quantize", model, "-o", str(out), "--calib", calib, "--act-bits-scope", "some"],
               r"--act-bits-scope.*some.*not in \{matmul,all\}|--act-bits-scope.*some", out)
    for bits in ("1", "9", "x"):
        expect_bad(["quantize", model, "-o", str(out), "--calib", calib, "--softmax-bits", bits],
                   rf"softmax-bits.*{bits}|{bits}.*(range|not)", out)
    expect_bad(["quantize", model, "-o", str(out), "--calib", calib, "--clip-softmax", "1"], r"no Softmax", out)
    vit = model_path("vit_tiny/vit_tiny_op17")
    expect_bad(["quantize", vit, "-o", str(out), "--calib", calib, "--clip-softmax", "-0.5"], r"ALPHA.*>= 0", out)
    expect_bad(["quantize", model_path("vit_tiny_clipped/vit_tiny_clipped_op17"), "-o", str(out), "--calib", calib,
                "--clip-softmax", "1"], r"already a clipped softmax", out)
    expect_bad(["run", model, "--input", f"input={tmp_path / 'wrong.npy'}", "--output-dir", str(tmp_path)],
               r"expected shape")
    expect_bad(["quantize", model], r"required")


def test_run_sqnt_on_the_integer_runtime(tmp_path):
    # `squint run` on a .sqnt: float inputs are quantized, outputs dequantized (close to the
    # float model's), --codes writes the raw int8 codes the float output is an affine map of.
    model = model_path("cnn_small/cnn_small_op17")
    quantize("cnn_small/cnn_small_op17", tmp_path / "c.sqnt", os.path.join(FMNIST, "calib_x.npy"),
             os.path.join(FMNIST, "val_x.npy"), os.path.join(FMNIST, "val_y.npy"),
             ("--val-samples", "8", "--calib-samples", "64"))
    x = np.load(os.path.join(FMNIST, "val_x.npy"))[:1]
    np.save(tmp_path / "x.npy", x)
    squint("run", str(tmp_path / "c.sqnt"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "q"), "--codes")
    squint("run", model, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "f"))
    q, f = np.load(tmp_path / "q" / "logits.npy"), np.load(tmp_path / "f" / "logits.npy")
    codes = np.load(tmp_path / "q" / "logits.codes.npy")
    assert q.dtype == np.float32 and q.shape == f.shape and codes.dtype == np.int8 and codes.shape == f.shape
    assert np.abs(q - f).max() <= 0.05 * (f.max() - f.min()), (q, f)
    a, b = np.polyfit(codes.ravel().astype(np.float64), q.ravel().astype(np.float64), 1)
    assert a > 0 and np.abs(a * codes + b - q).max() <= 1e-5 * np.abs(q).max()
    # Integer inputs (gpt_tiny's token ids) are taken as codes.
    g = os.path.join(MODELS, "gpt_tiny")
    squint("quantize", model_path("gpt_tiny/gpt_tiny_op17"), "-o", str(tmp_path / "g.sqnt"), "--calib",
           os.path.join(g, "calib_x.npy"), "--calib-samples", "16", "--val-samples", "2")
    np.save(tmp_path / "t.npy", np.load(os.path.join(g, "val_x.npy"))[:1])
    squint("run", str(tmp_path / "g.sqnt"), "--input", f"input={tmp_path / 't.npy'}", "-o", str(tmp_path / "gq"))
    assert np.load(tmp_path / "gq" / "logits.npy").shape == (1, 64, 256)
    # Any number of samples: five images in one file give the five single runs' outputs, in order.
    x5 = np.load(os.path.join(FMNIST, "val_x.npy"))[:5]
    np.save(tmp_path / "x5.npy", x5)
    squint("run", str(tmp_path / "c.sqnt"), "--input", str(tmp_path / "x5.npy"), "-o", str(tmp_path / "q5"), "--codes")
    c5 = np.load(tmp_path / "q5" / "logits.codes.npy")
    assert c5.shape == (5, 10)
    for i in (0, 4):
        np.save(tmp_path / "xi.npy", x5[i:i + 1])
        squint("run", str(tmp_path / "c.sqnt"), "--input", str(tmp_path / "xi.npy"), "-o", str(tmp_path / "qi"),
               "--codes")
        assert np.array_equal(np.load(tmp_path / "qi" / "logits.codes.npy")[0], c5[i])
    # --input-shape binding the free leading dim keeps the batch.
    squint("quantize", model, "-o", str(tmp_path / "one.sqnt"), "--calib", os.path.join(FMNIST, "calib_x.npy"),
           "--calib-samples", "16", "--val-samples", "2", "--input-shape", "input=1x1x28x28")
    assert json.loads(squint("inspect", str(tmp_path / "one.sqnt"), "--json").stdout)["batch"] == 1
    # A model whose ONNX input and output have a fixed leading dim runs exactly that shape: batch 0.
    import onnx
    fixed = onnx.load(model)
    for v in (fixed.graph.input[0], fixed.graph.output[0]):
        v.type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(fixed, str(tmp_path / "fixed.onnx"))
    squint("quantize", str(tmp_path / "fixed.onnx"), "-o", str(tmp_path / "fixed.sqnt"), "--calib",
           os.path.join(FMNIST, "calib_x.npy"), "--calib-samples", "16", "--val-samples", "2")
    assert json.loads(squint("inspect", str(tmp_path / "fixed.sqnt"), "--json").stdout)["batch"] == 0
    squint("run", str(tmp_path / "fixed.sqnt"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "fx"))
    expect_bad(["run", str(tmp_path / "fixed.sqnt"), "--input", str(tmp_path / "x5.npy"), "-o", str(tmp_path / "fx5")],
               r"expects shape 1x1x28x28 \(its shapes are fixed")
    # Bad input: corrupt file, wrong shape, tokens out of the runtime type's range, float into
    # an integer input, --codes on an .onnx; nothing is written.
    (tmp_path / "junk.sqnt").write_bytes(b"junk")
    out = tmp_path / "none"
    expect_bad(["run", str(tmp_path / "junk.sqnt"), "--input", str(tmp_path / "x.npy"), "-o", str(out)], r"junk.sqnt")
    expect_bad(["run", str(tmp_path / "c.sqnt"), "--input", str(tmp_path / "t.npy"), "-o", str(out)],
               r"expects shape 1x1x28x28")
    np.save(tmp_path / "big.npy", np.full((1, 64), 2**40, np.int64))
    expect_bad(["run", str(tmp_path / "g.sqnt"), "--input", str(tmp_path / "big.npy"), "-o", str(out)], r"outside")
    np.save(tmp_path / "tf.npy", np.zeros((1, 64), np.float32))
    expect_bad(["run", str(tmp_path / "g.sqnt"), "--input", str(tmp_path / "tf.npy"), "-o", str(out)],
               r"integer values")
    np.save(tmp_path / "nan.npy", np.full((1, 1, 28, 28), np.nan, np.float32))
    expect_bad(["run", str(tmp_path / "c.sqnt"), "--input", str(tmp_path / "nan.npy"), "-o", str(out)], r"not finite")
    expect_bad(["run", model, "--codes", "--input", str(tmp_path / "x.npy"), "-o", str(out)], r"--codes")
    assert not out.exists()


def test_strip_names(tmp_path):
    # --strip-names: inner tensor and op names dropped (inputs and outputs keep theirs), a smaller
    # file, the same output codes; `report` refuses such a file with a clear error.
    model = model_path("vit_tiny/vit_tiny_op17")
    args = ["--calib", os.path.join(FMNIST, "calib_x.npy"), "--calib-samples", "16", "--val-samples", "2",
            "--accumulated-only"]
    squint("quantize", model, "-o", str(tmp_path / "named.sqnt"), *args)
    proc = squint("quantize", model, "-o", str(tmp_path / "bare.sqnt"), *args, "--strip-names")
    named, bare = os.path.getsize(tmp_path / "named.sqnt"), os.path.getsize(tmp_path / "bare.sqnt")
    assert bare < named and f"({bare} bytes, {named} with names" in proc.stdout, proc.stdout
    info = json.loads(squint("inspect", str(tmp_path / "bare.sqnt"), "--json").stdout)
    roles = [(t["role"], t["name"]) for t in info["tensors"]]
    assert ("input", "input") in roles and ("output", "logits") in roles
    assert all(name == "" for role, name in roles if role in ("activation", "constant"))
    assert all(o["name"] == "" for o in info["ops"])
    x = np.load(os.path.join(FMNIST, "val_x.npy"))[:6]
    np.save(tmp_path / "x.npy", x)
    for f in ("named", "bare"):
        squint("run", str(tmp_path / f"{f}.sqnt"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / f), "--codes")
    assert np.array_equal(np.load(tmp_path / "named" / "logits.codes.npy"), np.load(tmp_path / "bare" / "logits.codes.npy"))
    expect_bad(["report", model, str(tmp_path / "bare.sqnt"), "--data", str(tmp_path / "x.npy")],
               r"bare.sqnt: its ops have no names \(written with --strip-names\?\)")


def test_inspect_sqnt(tmp_path):
    g = os.path.join(MODELS, "gpt_tiny")
    model = model_path("gpt_tiny/gpt_tiny_op17")
    squint("quantize", model, "-o", str(tmp_path / "g.sqnt"), "--calib", os.path.join(g, "calib_x.npy"),
           "--calib-samples", "16", "--val-samples", "2")
    info = json.loads(squint("inspect", str(tmp_path / "g.sqnt"), "--json").stdout)
    import hashlib
    assert info["provenance"]["source_sha256"] == hashlib.sha256(open(model, "rb").read()).hexdigest()
    assert info["file_bytes"] == os.path.getsize(tmp_path / "g.sqnt")
    b = info["bytes"]
    assert b["weights"] > 0 and b["biases"] > 0 and b["tables"] > 0 and b["metadata"] > 0
    assert sum(b.values()) == info["file_bytes"]
    # Schema 1.1: only LayerNorm's pairs (no derivation rule) are stored, one per LAYER_NORM op.
    ln = sum(1 for o in info["ops"] if o["op"] == "LAYER_NORM")
    assert info["requantization"] == {"pairs_stored": ln, "derived": info["requantization"]["derived"]}
    assert info["requantization"]["derived"] > ln
    assert info["arena"]["size"] >= info["arena"]["lower_bound"] > 0
    assert info["batch"] == 1  # the ONNX model's leading dims are free: any number of samples runs
    roles = {t["name"]: t["role"] for t in info["tensors"]}
    assert roles["input"] == "input" and roles["logits"] == "output"
    assert {o["op"] for o in info["ops"]} >= {"GATHER", "SOFTMAX", "LAYER_NORM", "BATCH_MATMUL", "FULLY_CONNECTED"}
    for t in info["tensors"]:
        if t["role"] == "activation" or t["role"] == "output":
            assert 0 <= t["arena_offset"] and t["arena_offset"] + t["bytes"] <= info["arena"]["size"], t
    text = squint("inspect", str(tmp_path / "g.sqnt")).stdout
    assert "arena:" in text and "batch: any multiple of 1 samples" in text and "SOFTMAX" in text and info["provenance"]["source_sha256"] in text
    data = (tmp_path / "g.sqnt").read_bytes()
    (tmp_path / "trunc.sqnt").write_bytes(data[:len(data) // 2])
    expect_bad(["inspect", str(tmp_path / "trunc.sqnt")], r"trunc.sqnt.*(truncated|corrupt)")
    expect_bad(["inspect", str(tmp_path / "missing.sqnt")], r"no such file")


def logits_sqnr(stdout):
    m = re.search(r"output '\w+': SQNR ([\d.-]+) dB", stdout)
    assert m, stdout
    return float(m.group(1))


def test_int16_activations_for_layer_norm(tmp_path):
    # --a16 LayerNormalization makes the residual stream that feeds each LayerNorm and its
    # output int16 (REQUANTIZE ops convert at the int8 borders): the logits must get closer to
    # float than with int8 everywhere, and the file must differ (int16 tensors, more ops).
    args = ("vit_tiny/vit_tiny_op17", os.path.join(FMNIST, "calib_x.npy"), os.path.join(FMNIST, "val_x.npy"),
            os.path.join(FMNIST, "val_y.npy"))
    common = ("--val-samples", "200", "--calib-samples", "256")
    _, _, out8 = quantize(*args[:1], tmp_path / "a8.sqnt", *args[1:], common)
    acc16, ref, out16 = quantize(*args[:1], tmp_path / "a16.sqnt", *args[1:], common + ("--a16", "LayerNormalization"))
    assert logits_sqnr(out16) > logits_sqnr(out8) + 1.0, out8 + out16
    assert acc16 >= ref - 1.0, out16
    assert (tmp_path / "a8.sqnt").read_bytes() != (tmp_path / "a16.sqnt").read_bytes()


def test_int16_activations_on_every_op_type_of_the_cnn(tmp_path):
    # int16 on every op type of the CNN (Conv with folded ReLU, Add, pooling, Flatten, Linear)
    # gives a model the runtime accepts and that agrees with float; an unknown name or op type
    # is bad input, reported before calibration.
    model = model_path("cnn_small/cnn_small_op17")
    common = ("--calib", os.path.join(FMNIST, "calib_x.npy"), "--calib-samples", "64", "--val-samples", "64")
    extra = []
    for op in ("Add", "Conv", "Flatten", "GlobalAveragePool", "Linear", "Relu"):
        extra += ["--a16", op]
    proc = squint("quantize", model, "-o", str(tmp_path / "c.sqnt"), *common, *extra)
    assert agreement(proc.stdout) >= 95.0, proc.stdout
    out = tmp_path / "x.sqnt"
    expect_bad(["quantize", model, "-o", str(out), *common, "--a16", "Softmaxx"],
               r"--a16 'Softmaxx': no node has this name or op type .*Conv", out)


def write_png(path, pixels):
    """Minimal PNG writer (8-bit gray [H, W] or RGB/RGBA [H, W, C] uint8), no dependencies."""
    import struct
    import zlib
    pixels = np.asarray(pixels, np.uint8)
    h, w = pixels.shape[:2]
    c = 1 if pixels.ndim == 2 else pixels.shape[2]
    color_type = {1: 0, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


FMNIST_MEAN, FMNIST_STD = 0.286, 0.353  # tests/data/models/fashion_mnist/split.json


def to_pixels(x):
    """Inverse of the Fashion-MNIST normalization, checked to give back x exactly (float32)."""
    u8 = np.rint((x.astype(np.float64) * FMNIST_STD + FMNIST_MEAN) * 255).astype(np.uint8)
    again = (u8.astype(np.float32) / np.float32(255) - np.float32(FMNIST_MEAN)) / np.float32(FMNIST_STD)
    assert np.array_equal(again, x), "the .npy is not the normalization of 8-bit pixels"
    return u8


def test_png_folder_gives_the_same_result_as_the_npy(tmp_path):
    calib_x = np.load(os.path.join(FMNIST, "calib_x.npy"))[:128]
    val_x = np.load(os.path.join(FMNIST, "val_x.npy"))[:200]
    val_y = np.load(os.path.join(FMNIST, "val_y.npy"))[:200]
    np.save(tmp_path / "calib.npy", calib_x)
    (tmp_path / "calib").mkdir()
    for i, img in enumerate(to_pixels(calib_x)):
        write_png(tmp_path / "calib" / f"{i:04d}.png", img[0])
    # Validation: one sub-folder per class; labels come from the folder names. Validation
    # samples in class order, so that the .npy run sees the same order.
    order = np.argsort(val_y, kind="stable")
    np.save(tmp_path / "val.npy", val_x[order])
    np.save(tmp_path / "val_y.npy", val_y[order])
    for i, (img, y) in enumerate(zip(to_pixels(val_x), val_y)):
        (tmp_path / "val" / f"class{y}").mkdir(parents=True, exist_ok=True)
        write_png(tmp_path / "val" / f"class{y}" / f"{i:04d}.png", img[0])
    model = model_path("cnn_small/cnn_small_op17")
    norm = ("--mean", str(FMNIST_MEAN), "--std", str(FMNIST_STD))
    a = squint("quantize", model, "-o", str(tmp_path / "npy.sqnt"), "--calib", str(tmp_path / "calib.npy"),
               "--val", str(tmp_path / "val.npy"), "--labels", str(tmp_path / "val_y.npy"), "--accumulated-only")
    b = squint("quantize", model, "-o", str(tmp_path / "png.sqnt"), "--calib", str(tmp_path / "calib"),
               "--val", str(tmp_path / "val"), *norm, "--accumulated-only")
    assert (tmp_path / "npy.sqnt").read_bytes() == (tmp_path / "png.sqnt").read_bytes()
    assert "accuracy" in b.stdout and a.stdout.replace("npy.sqnt", "X") == b.stdout.replace("png.sqnt", "X"), \
        a.stdout + b.stdout


def test_image_folder_resize_channels_and_bad_files(tmp_path):
    # Gray 56x56 images are resized to the model's 28x28; --size
    # that disagrees with the model is bad input; RGB for a gray model, alpha, a truncated
    # file and a folder without images are errors naming the file.
    model = model_path("cnn_small/cnn_small_op17")
    out = tmp_path / "m.sqnt"
    (tmp_path / "big").mkdir()
    for i in range(4):
        write_png(tmp_path / "big" / f"{i}.png", np.full((56, 56), 40 * i, np.uint8))
    squint("quantize", model, "-o", str(out), "--calib", str(tmp_path / "big"))
    expect_bad(["quantize", model, "-o", str(tmp_path / "s.sqnt"), "--calib", str(tmp_path / "big"),
                "--size", "32x32"], r"--size 32x32.*28x28", tmp_path / "s.sqnt")
    expect_bad(["quantize", model, "-o", str(tmp_path / "s.sqnt"), "--calib", str(tmp_path / "big"),
                "--size", "axb"], r"--size 'axb'", tmp_path / "s.sqnt")
    expect_bad(["quantize", model, "-o", str(tmp_path / "s.sqnt"), "--calib", str(tmp_path / "big"),
                "--mean", "0.1,0.2"], r"--mean has 2 values", tmp_path / "s.sqnt")
    for name, pixels in (("rgb", np.zeros((28, 28, 3), np.uint8)), ("alpha", np.zeros((28, 28, 4), np.uint8))):
        d = tmp_path / name
        d.mkdir()
        write_png(d / "0.png", np.zeros((28, 28), np.uint8))
        write_png(d / "1.png", pixels)
        expect_bad(["quantize", model, "-o", str(out), "--calib", str(d)], r"1\.png.*(RGB|alpha)")
    d = tmp_path / "trunc"
    d.mkdir()
    write_png(d / "0.png", np.arange(28 * 28).reshape(28, 28).astype(np.uint8))
    data = (d / "0.png").read_bytes()
    (d / "0.png").write_bytes(data[:len(data) // 2])
    expect_bad(["quantize", model, "-o", str(out), "--calib", str(d)], r"0\.png.*(corrupt|truncated|PNG)")
    # JPEG (lossy, so no equality with the .npy): gray and color files of a class folder load;
    # a truncated file and a CMYK file are errors naming the file.
    from PIL import Image
    (tmp_path / "jpg" / "a").mkdir(parents=True)
    Image.fromarray(np.full((28, 28), 90, np.uint8)).save(tmp_path / "jpg" / "a" / "0.jpg")
    Image.fromarray(np.full((30, 30), 10, np.uint8)).save(tmp_path / "jpg" / "a" / "1.JPEG")
    squint("quantize", model, "-o", str(tmp_path / "j.sqnt"), "--calib", str(tmp_path / "jpg"))
    Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(tmp_path / "jpg" / "a" / "2.jpg")
    expect_bad(["quantize", model, "-o", str(out), "--calib", str(tmp_path / "jpg")], r"2\.jpg.*RGB")
    Image.new("CMYK", (28, 28)).save(tmp_path / "jpg" / "a" / "2.jpg")
    expect_bad(["quantize", model, "-o", str(out), "--calib", str(tmp_path / "jpg")], r"2\.jpg.*CMYK")
    data = (tmp_path / "jpg" / "a" / "0.jpg").read_bytes()
    (tmp_path / "jpg" / "a" / "2.jpg").write_bytes(data[:len(data) * 2 // 3])
    expect_bad(["quantize", model, "-o", str(out), "--calib", str(tmp_path / "jpg")], r"2\.jpg.*(corrupt|truncated)")
    (tmp_path / "noimg" / "cls").mkdir(parents=True)
    (tmp_path / "noimg" / "cls" / "readme.txt").write_text("no images here")
    expect_bad(["quantize", model, "-o", str(out), "--calib", str(tmp_path / "noimg")], r"noimg")
