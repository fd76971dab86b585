"""`squint report --html`: the page's content, determinism, size and bad input.

The page is parsed with html.parser (no browser here; test_report_browser.py loads it in Chromium).
Run alone: SQUINT_BIN=build/cli/squint .venv/bin/python -m pytest tests/python/test_squint_report_html.py -q
"""
import json
import os
import re
from html.parser import HTMLParser

import pytest

from test_squint_report import FMNIST, SQUINT, VIT, squint  # noqa: F401  (one helper for the report tests)

SAMPLES = 24
# Under the sanitizers (memory safety is what that build checks) the model is calibrated on 16
# samples and --fixes looks at the worst layer only: the same code paths in a third of the time.
SANITIZED = os.environ.get("SQUINT_SANITIZED") == "1"
CALIB_N, FIX_LAYERS = (16, 1) if SANITIZED else (64, 2)


class Page(HTMLParser):
    """The parts of the report the tests look at: charts with their marks, table rows, scripts."""

    def __init__(self):
        super().__init__()
        self.charts = {}      # svg id -> {"declared": data-marks, "marks": [class lists]}
        self.rows = []        # table#layers body rows: list of cell data-v values
        self.table = None
        self.external = []    # src/href that leave the page
        self.text = []
        self._svg = None
        self._in_table = self._in_body = False
        self._row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if key in a and not a[key].startswith("#"):
                self.external.append(a[key])
        if tag == "svg":
            self._svg = a["id"]
            self.charts[self._svg] = {"declared": int(a["data-marks"]), "marks": []}
        elif self._svg and "mark" in a.get("class", "").split():
            self.charts[self._svg]["marks"].append(a["class"].split())
        if tag == "table" and a.get("id") == "layers":
            self.table = a
            self._in_table = True
        elif self._in_table and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self._row = []
        elif self._row is not None and tag == "td":
            self._row.append(a.get("data-v"))

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._in_table = self._in_body = False

    def handle_data(self, data):
        self.text.append(data)


def parse(path):
    p = Page()
    p.feed(path.read_text(encoding="utf-8"))
    p.all_text = re.sub(r"\s+", " ", " ".join(p.text))
    return p


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    d = tmp_path_factory.mktemp("vit_html")
    squint("quantize", VIT, "-o", d / "v.sqnt", "--calib", os.path.join(FMNIST, "calib_x.npy"), "--calib-samples",
           CALIB_N, "--val-samples", 1, "--quiet")
    return d


def report(d, html, *extra, code=0):
    return squint("report", VIT, d / "v.sqnt", "--data", os.path.join(FMNIST, "val_x.npy"), "--labels",
                  os.path.join(FMNIST, "val_y.npy"), "--samples", SAMPLES, "--json", d / "r.json", "--html", html,
                  "--quiet", *extra, code=code)


def test_html_report_charts_table_and_summary(vit):
    d = vit
    report(d, d / "r.html")
    page = parse(d / "r.html")
    layers = json.loads((d / "r.json").read_text())["layers"]
    n = len(layers)
    alone = sum(1 for l in layers if l["isolated"] is not None)
    # Self-contained: nothing outside the page is referenced.
    assert page.external == [], page.external
    # Every chart holds as many marks as it declares (the page's JS checks the same in a browser).
    for cid, c in page.charts.items():
        assert len(c["marks"]) == c["declared"], cid
    # The SQNR chart: one end-to-end point per layer, one "alone" mark per layer measured alone.
    sq = page.charts["sqnr-chart"]["marks"]
    assert sum("e2e" in m for m in sq) == n and sum("alone" in m for m in sq) == alone
    # The table: one row per layer, its # column the layers' op indices in graph order.
    assert int(page.table["data-rows"]) == n == len(page.rows)
    assert [int(r[0]) for r in page.rows] == [l["index"] for l in layers]
    # Details: the 5 worst (alone) each have a value histogram; vit_tiny's 4 softmaxes have a
    # probability histogram each; at least one layer shows its weights per channel.
    worst = sorted(range(n), key=lambda i: float(layers[i]["isolated"]["sqnr_db"]))[:5]
    for i in worst:
        assert f"layer-{i}-values" in page.charts, (i, layers[i]["node"])
        assert page.charts[f"layer-{i}-values"]["declared"] > 0
    softmax = [i for i, l in enumerate(layers) if l["op"] == "SOFTMAX"]
    assert len(softmax) == 4 and all(f"layer-{i}-probabilities" in page.charts for i in softmax)
    weights = [c for c in page.charts if "-weights-" in c]
    assert weights, list(page.charts)
    # A weight chart has one bar per output channel (the caption says how many).
    for cid in weights:
        m = re.search(r"(\d+) channels; bars", page.all_text)
        assert m and int(m.group(1)) == page.charts[cid]["declared"]
    # Summary: agreement, accuracy, output SQNR, the options the .sqnt records.
    for words in ("top-1 agreement", "accuracy", "output logits", "observer=minmax", f"calib_samples={CALIB_N}"):
        assert words in page.all_text, words
    r = json.loads((d / "r.json").read_text())
    assert f"{r['samples']} samples" in page.all_text
    # Axis labels with units on every chart kind.
    for label in ("SQNR (dB, higher is better)", "float value (the tensor's own units)", "probability (log2 scale;",
                  "weight value (dequantized)", "output channel (axis 0)"):
        assert label in page.all_text, label


def test_html_report_is_deterministic_and_small(vit):
    d = vit
    report(d, d / "a.html")
    report(d, d / "b.html")
    a, b = (d / "a.html").read_bytes(), (d / "b.html").read_bytes()
    assert a == b
    assert len(a) <= 2 * 1024 * 1024, len(a)  # issue 16: <= 2 MB for a 6-layer transformer
    # No leftover temporary file beside it.
    assert not [f for f in os.listdir(d) if ".tmp." in f]


def test_html_report_layer_option(vit):
    d = vit
    report(d, d / "l.html", "--layer", "/blocks.0/attn/qkv/MatMul", "--worst", 0)
    page = parse(d / "l.html")
    layers = json.loads((d / "r.json").read_text())["layers"]
    k = next(i for i, l in enumerate(layers) if l["node"] == "/blocks.0/attn/qkv/MatMul")
    assert f"layer-{k}-values" in page.charts and f"layer-{k}-weights-0" in page.charts
    details = [c for c in page.charts if c.endswith("-values")]
    assert details == [f"layer-{k}-values"], details


def test_html_report_bad_input(vit, tmp_path):
    d = vit
    # An unknown layer: exit 2, the name in the message, no file; checked before the long work.
    def loud(html, *extra):  # without --quiet: progress lines would show that the comparison ran
        return squint("report", VIT, d / "v.sqnt", "--data", os.path.join(FMNIST, "val_x.npy"), "--samples", SAMPLES,
                      "--html", html, *extra, code=2)
    p = loud(tmp_path / "x.html", "--layer", "/no/such/layer")
    assert "'/no/such/layer'" in p.stderr and "--layer" in p.stderr
    assert "float vs integer" not in p.stderr  # refused before the comparison
    assert not (tmp_path / "x.html").exists()
    # Unwritable paths: a missing folder, a folder as the file, a read-only folder (not as root).
    for bad in (tmp_path / "missing" / "r.html", tmp_path):
        p = loud(bad)
        assert str(bad) in p.stderr, p.stderr
        assert "float vs integer" not in p.stderr
    assert not (tmp_path / "missing").exists()
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.geteuid() != 0:
            p = report(d, ro / "r.html", code=2)
            assert str(ro / "r.html") in p.stderr
            assert os.listdir(ro) == []
    finally:
        ro.chmod(0o700)
    # --layer without --html is a mistake, not ignored.
    p = squint("report", VIT, d / "v.sqnt", "--data", os.path.join(FMNIST, "val_x.npy"), "--layer", "/head/Gemm",
               code=2)
    assert "--html" in p.stderr


def test_fixes_measured_and_reproducible(vit, tmp_path):
    # --fixes quantizes the model again from the .sqnt's provenance (and gives the same bytes),
    # then each fix alone. A fix's row must be what `squint quantize` with its flags gives, run
    # through `squint report`: checked for the best fix and for one int16 fix.
    d = vit
    calib = os.path.join(FMNIST, "calib_x.npy")
    text = report(d, tmp_path / "f.html", "--fixes", "--calib", calib, "--fix-layers", FIX_LAYERS).stdout
    j = json.loads((d / "r.json").read_text())
    # The terminal gives each model's invoke latency (the files leave times out: byte-identical).
    rows = [ln for ln in text.splitlines() if " bytes" in ln and (ln.lstrip().startswith(("base", "+", "-")))]
    assert rows and all(re.search(r"\d+ us", ln) for ln in rows), text
    assert " us" not in (d / "r.json").read_text()
    f = j["fixes"]
    assert f["base_reproduced"] is True and f["samples"] == SAMPLES
    assert f["base"]["flags"] == "", f["base"]  # the default options: nothing to add
    fixes = f["fixes"]
    kinds = {x["flag"].split()[0] for x in fixes}
    assert "--a16" in kinds and "--transform" in kinds, kinds
    ok = [x for x in fixes if "error" not in x]
    gains = [x["output_sqnr_db"] for x in ok]
    assert gains == sorted(gains, reverse=True)  # most gained first
    worst = sorted(j["layers"], key=lambda l: float(l["isolated"]["sqnr_db"]))[:FIX_LAYERS]
    for l in worst:
        assert any(x["flag"] == f"--a16 {l['node']}" for x in fixes), l["node"]
    checked = [ok[0], next(x for x in ok if x["flag"].startswith("--a16"))]
    for x in checked:
        flags = x["flags"].split()
        squint("quantize", VIT, "-o", tmp_path / "x.sqnt", "--calib", calib, "--calib-samples", CALIB_N,
               "--val-samples", 1, "--quiet", *flags)
        assert os.path.getsize(tmp_path / "x.sqnt") == x["bytes"], x
        squint("report", VIT, tmp_path / "x.sqnt", "--data", os.path.join(FMNIST, "val_x.npy"), "--labels",
               os.path.join(FMNIST, "val_y.npy"), "--samples", SAMPLES, "--accumulated-only", "--json",
               tmp_path / "x.json", "--quiet")
        r = json.loads((tmp_path / "x.json").read_text())
        assert r["outputs"][0]["accumulated"]["sqnr_db"] == pytest.approx(x["output_sqnr_db"], abs=1e-9), x
        assert r["accuracy"] == pytest.approx(x["accuracy"], abs=1e-9)
    # The page shows them; --fixes without --calib is refused before any work.
    page = parse(tmp_path / "f.html")
    assert "Suggested fixes, measured" in page.all_text and ok[0]["flag"] in page.all_text
    p = squint("report", VIT, d / "v.sqnt", "--data", os.path.join(FMNIST, "val_x.npy"), "--fixes", code=2)
    assert "--calib" in p.stderr and "float vs integer" not in p.stderr
