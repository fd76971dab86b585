"""Every instruction-set path of the runtime gives identical output codes on every bundled model.

Each model is quantized here (defaults, 64 calibration samples) and run with `squint run --codes`
under SQUINT_ISA=reference and each optimized set this CPU has (avx2, avx512vnni, read from
/proc/cpuinfo), each also with --threads 3; the raw output codes must be equal, byte for byte, to
the reference kernels'.
A set the CPU lacks (or this x86-64 build: neon, neondot) must fail with a clear message instead of
running. The aarch64 paths run under qemu in scripts/aarch64_models.sh.

The squint binary comes from $SQUINT_BIN (CTest sets it). Run alone:
  SQUINT_BIN=build/cli/squint .venv/bin/python -m pytest tests/python/test_isa_dispatch.py -q
"""
import os
import subprocess

import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(REPO, "tests", "data", "models")
FMNIST = os.path.join(MODELS, "fashion_mnist")
GPT = os.path.join(MODELS, "gpt_tiny")
SQUINT = os.environ.get("SQUINT_BIN", os.path.join(REPO, "build", "cli", "squint"))

# (model, calibration data, input rows to run, extra quantize options)
CASES = [
    ("vit_tiny/vit_tiny_op17", FMNIST, ()),
    ("vit_tiny/vit_tiny_op17", FMNIST, ("--per-tensor",)),
    ("vit_tiny_clipped/vit_tiny_clipped_op17", FMNIST, ()),
    ("vit_tiny_gated/vit_tiny_gated_op17", FMNIST, ()),
    ("cnn_small/cnn_small_op17", FMNIST, ()),
    ("gpt_tiny/gpt_tiny_op17", GPT, ()),
    # 4-bit weights per channel: packed int4 in the file, unpacked into the GEMM's panels at prepare;
    # with group scales: the group-scaled kernels (AVX-512's, portable C++ on AVX2)
    ("vit_tiny/vit_tiny_op17", FMNIST, ("--weight-bits", "4")),
    ("cnn_small/cnn_small_op17", FMNIST, ("--weight-bits", "4")),
    ("vit_tiny/vit_tiny_op17", FMNIST, ("--weight-bits", "4", "--group-size", "32")),
    ("cnn_small/cnn_small_op17", FMNIST, ("--weight-bits", "4", "--group-size", "32")),
    # log-grid softmax (its codes) and the P·V after it (portable::Qs8LogGridMatMul): log2 on the
    # ViT, SULQ (its eta term) under gpt_tiny's causal mask
    ("vit_tiny/vit_tiny_op17", FMNIST, ("--softmax-quant", "log2")),
    ("gpt_tiny/gpt_tiny_op17", GPT, ("--softmax-quant", "sulq")),
    # int16 activations around GELU, the residual Adds and the LayerNorms: FULLY_CONNECTED layers
    # reading or writing int16 (portable::Qs16FullyConnected, its AVX2 build, AVX-512's kernel), int16
    # ADD (portable::Qs16AddSub), LAYER_NORM (portable::Qs16LayerNorm), REQUANTIZE between int8 and
    # int16 (tables, AVX-512's vector kernel), GELU's LUT on int16 codes (portable::Qs16Lut, AVX-512's
    # gathers)
    ("vit_tiny/vit_tiny_op17", FMNIST, ("--a16", "Gelu", "--a16", "Add", "--a16", "LayerNormalization")),
    # online Hadamard transforms (HADAMARD ops, int8 and int16 inputs: AVX-512's kernel)
    ("vit_tiny/vit_tiny_op17", FMNIST, ("--transform", "hadamard")),
    # WUSH's block-diagonal transforms: grouped FULLY_CONNECTED layers (a GEMM per group)
    ("vit_tiny/vit_tiny_op17", FMNIST, ("--transform", "wush")),
]

# The CPU flags each optimized set needs (dispatch.cc checks the same with __builtin_cpu_supports).
ISA_FLAGS = {"avx2": {"avx2", "fma"}, "avx512vnni": {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni"}}


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def squint(args, isa, check=True):
    env = dict(os.environ, SQUINT_ISA=isa)
    proc = subprocess.run([SQUINT, *args], capture_output=True, text=True, env=env)
    if check:
        assert proc.returncode == 0, f"SQUINT_ISA={isa} squint {' '.join(args)} failed: {proc.stderr}"
    return proc


@pytest.mark.parametrize("model,data,extra", CASES, ids=[c[0].split("/")[1] + "".join(c[2]) for c in CASES])
def test_every_isa_gives_the_reference_codes(tmp_path, model, data, extra):
    flags = cpu_flags()
    available = [isa for isa, need in ISA_FLAGS.items() if need <= flags]
    # This x86-64 build has no aarch64 kernels: forcing neon / neondot must fail like a missing x86 set.
    missing = [isa for isa in ISA_FLAGS if isa not in available] + ["neon", "neondot"]
    sqnt = tmp_path / "m.sqnt"
    calib = os.path.join(data, "calib_x.npy")
    squint(["quantize", os.path.join(MODELS, model + ".onnx"), "-o", str(sqnt), "--calib", calib,
            "--calib-samples", "64", "--val-samples", "8", "--accumulated-only", *extra], "reference")
    val = np.load(os.path.join(data, "val_x.npy"))
    for i in (0, 1, 7):  # batch-1 models: one input row per run
        np.save(tmp_path / "x.npy", val[i:i + 1])
        codes = {}
        for isa in ["reference", *available]:
            out = tmp_path / f"out_{isa}"
            squint(["run", str(sqnt), "--input", str(tmp_path / "x.npy"), "--codes", "-o", str(out)], isa)
            codes[isa] = np.load(out / "logits.codes.npy")
        # The optimized GEMMs split over threads: the codes may not change either.
        for isa in available:
            out = tmp_path / f"out_{isa}_t3"
            squint(["run", str(sqnt), "--input", str(tmp_path / "x.npy"), "--codes", "--threads", "3", "-o", str(out)],
                   isa)
            codes[isa + " --threads 3"] = np.load(out / "logits.codes.npy")
        ref = codes["reference"]
        assert ref.size > 1 and len(np.unique(ref)) > 1, "degenerate output: the comparison would prove nothing"
        for isa, got in codes.items():
            assert got.dtype == ref.dtype and got.shape == ref.shape
            diff = np.flatnonzero(got != ref)
            assert diff.size == 0, f"{isa}: {diff.size} codes differ from the reference, first at {diff[0]}"
    for isa in missing:
        proc = squint(["run", str(sqnt), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "m")], isa,
                      check=False)
        assert proc.returncode != 0 and f"instruction set '{isa}'" in proc.stderr, proc.stderr


def test_unknown_isa_is_an_error(tmp_path):
    np.save(tmp_path / "x.npy", np.load(os.path.join(FMNIST, "val_x.npy"))[:1])
    sqnt = tmp_path / "m.sqnt"
    squint(["quantize", os.path.join(MODELS, "cnn_small/cnn_small_op17.onnx"), "-o", str(sqnt), "--calib",
            os.path.join(FMNIST, "calib_x.npy"), "--calib-samples", "16", "--val-samples", "4", "--accumulated-only"],
           "reference")
    proc = squint(["run", str(sqnt), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "o")], "sse9",
                  check=False)
    assert proc.returncode != 0
    assert "SQUINT_ISA='sse9' is not an instruction set" in proc.stderr, proc.stderr
