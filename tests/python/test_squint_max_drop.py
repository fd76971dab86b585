"""`squint quantize --max-drop X`: greedy, measured fixes until the validation drop is at most X.

Checked against an independent path: the flags it prints, given to a plain `squint quantize`,
make the very same .sqnt (so the search is reproducible and its provenance tells the choice),
and `squint report` on the result measures the drop the last step printed.
Run alone: SQUINT_BIN=build/cli/squint .venv/bin/python -m pytest tests/python/test_squint_max_drop.py -q
"""
import json
import os
import re

from test_squint_report import FMNIST, VIT, squint

CALIB = os.path.join(FMNIST, "calib_x.npy")
VAL, VAL_Y = os.path.join(FMNIST, "val_x.npy"), os.path.join(FMNIST, "val_y.npy")
# Under the sanitizers (memory safety is what that build checks) 16 calibration and 8 validation
# samples: the same code paths at a third of the time.
SANITIZED = os.environ.get("SQUINT_SANITIZED") == "1"
CALIB_N, VAL_N = (16, 8) if SANITIZED else (64, 32)
COMMON = ["--calib", CALIB, "--calib-samples", CALIB_N, "--val", VAL, "--val-samples", VAL_N, "--quiet"]


def test_max_drop_steps_reproducible_and_measured(tmp_path):
    # Under the sanitizers one step over one layer's fixes.
    steps = 1 if SANITIZED else 2
    out = squint("quantize", VIT, "-o", tmp_path / "m.sqnt", *COMMON, "--max-drop", 0, "--drop-metric", "cosine",
                 "--max-drop-steps", steps, "--fix-layers", steps).stdout
    assert f"--max-drop 0 (1 - cosine on {VAL_N} validation samples)" in out, out
    lines = [l.strip() for l in out.splitlines()]
    assert lines[1].startswith("start (defaults): drop "), out
    steps = [l for l in lines if l.startswith("step ")]
    drops = [float(m.group(1)) for m in (re.search(r"drop ([\d.e+-]+)", lines[1]),)]
    for s in steps:
        m = re.match(r"step \d+: (--\S+(?: \S+)?) \(.*\): drop ([\d.e+-]+) -> ([\d.e+-]+) 1 - cosine", s)
        assert m, s
        assert float(m.group(2)) == drops[-1] and float(m.group(3)) < float(m.group(2)), s  # each step lowers it
        drops.append(float(m.group(3)))
    assert steps, out  # at 0 allowed drop there is always something to try; vit_tiny has fixes that help
    assert any(l.startswith("stopped") for l in lines), out  # 0 is not reachable
    flags = re.search(r"with the flags: (.*)$", out, re.M).group(1)
    # The provenance records the choice; plain quantize with the printed flags makes the same file.
    prov = json.loads(squint("inspect", tmp_path / "m.sqnt", "--json").stdout)["provenance"]["options"]
    for word in flags.split():
        if not word.startswith("--"):
            assert word in prov, (word, prov)
    squint("quantize", VIT, "-o", tmp_path / "p.sqnt", *COMMON, *flags.split())
    assert (tmp_path / "p.sqnt").read_bytes() == (tmp_path / "m.sqnt").read_bytes()
    # squint report measures the drop of the last step on the same samples.
    squint("report", VIT, tmp_path / "m.sqnt", "--data", VAL, "--samples", VAL_N, "--accumulated-only", "--json",
           tmp_path / "r.json", "--quiet")
    cosine = json.loads((tmp_path / "r.json").read_text())["outputs"][0]["accumulated"]["cosine"]
    assert abs((1 - cosine) - drops[-1]) <= 5e-4 * max(drops[-1], 1e-6) + 1e-12, (cosine, drops)


def test_max_drop_already_met_changes_nothing(tmp_path):
    # A drop already within the bound: no step, the default model, exactly as without --max-drop.
    out = squint("quantize", VIT, "-o", tmp_path / "m.sqnt", *COMMON, "--labels", VAL_Y, "--max-drop", 50).stdout
    assert f"(accuracy points on {VAL_N} validation samples)" in out and "reached" in out and "step 1" not in out, out
    squint("quantize", VIT, "-o", tmp_path / "p.sqnt", *COMMON, "--labels", VAL_Y)
    assert (tmp_path / "p.sqnt").read_bytes() == (tmp_path / "m.sqnt").read_bytes()


def test_max_drop_bad_input(tmp_path):
    p = squint("quantize", VIT, "-o", tmp_path / "m.sqnt", *COMMON, "--max-drop", 0.1, "--drop-metric", "accuracy",
               code=2)
    assert "--labels" in p.stderr and not (tmp_path / "m.sqnt").exists()
    p = squint("quantize", VIT, "-o", tmp_path / "m.sqnt", *COMMON, "--max-drop", -1, code=2)
    assert "--max-drop" in p.stderr
