"""Renders deterministic OCR inputs for the PP-OCRv4 detector and recognizer of the zoo
(rapidocr-onnxruntime): text pages and text lines drawn with PIL in Debian's DejaVu fonts,
texts taken from /usr/share/common-licenses (GPL-3, Apache-2.0, ...), fixed seeds.

    python tools/zoo/ocr_data.py [--out DIR] [--calib N] [--val N] [--kind det|rec|cls ...]

Writes into DIR/calibN_valM (DIR by default CACHE/ocr_data, CACHE as tools/zoo/fetch.py:
$SQUINT_ZOO_CACHE or ~/.cache/squint/zoo), never into git:
    det_calib.npy, det_val.npy   float32 [N, 3, 160, 640]  pages of text lines
    rec_calib.npy, rec_val.npy   float32 [N, 3, 48, 320]   single text lines
    cls_calib.npy, cls_val.npy   float32 [N, 3, 48, 192]   text lines of 1-6 words, every second one
                                 turned 180 degrees, resized to height 48 and padded as rapidocr's
                                 TextClassifier does; cls_calib_y.npy, cls_val_y.npy int64 labels
                                 (0: upright, 1: turned; the model's label_list ['0', '180'])
Normalization as rapidocr's DetPreProcess / TextRecognizer.resize_norm_img: BGR channel order,
(pixel / 255 - 0.5) / 0.5. Same arguments -> byte-identical files (a stamp file records them, so
a second call reuses the files).
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetch  # noqa: E402

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
         "DejaVuSansCondensed.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSans-Oblique.ttf"]
TEXT_FILES = ["/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0",
              "/usr/share/common-licenses/LGPL-2.1"]
DET_SIZE = (160, 640)  # H, W: multiples of 32 as the detector requires
REC_SIZE = (48, 320)   # rapidocr's rec_img_shape [3, 48, 320]
CLS_SIZE = (48, 192)   # rapidocr's cls_image_shape [3, 48, 192]
VERSION = 2            # bump when the rendering changes


def text_lines():
    lines = []
    for path in TEXT_FILES:
        with open(path, encoding="utf-8") as f:
            lines += [ln.strip() for ln in f if len(ln.strip()) >= 12]
    if len(lines) < 100:
        raise SystemExit(f"ocr_data.py: only {len(lines)} text lines in {TEXT_FILES}")
    return lines


def font(name, size):
    return ImageFont.truetype(os.path.join(FONT_DIR, name), size)


def normalize(rgb):
    """HWC uint8 RGB -> CHW float32 BGR, (x / 255 - 0.5) / 0.5 (rapidocr's detector and recognizer)."""
    bgr = rgb[:, :, ::-1].astype(np.float32)
    return ((bgr / 255.0 - 0.5) / 0.5).transpose(2, 0, 1).copy()


def colours(rng):
    bg = tuple(int(v) for v in rng.integers(170, 256, 3))
    fg = tuple(int(v) for v in rng.integers(0, 90, 3))
    return bg, fg


def render_page(rng, lines):
    h, w = DET_SIZE
    bg, fg = colours(rng)
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    y = int(rng.integers(2, 14))
    while True:
        size = int(rng.integers(12, 26))
        f = font(FONTS[int(rng.integers(len(FONTS)))], size)
        if y + size + 2 > h:
            break
        x = int(rng.integers(2, 120))
        text = lines[int(rng.integers(len(lines)))]
        draw.text((x, y), text, font=f, fill=fg)
        y += size + int(rng.integers(4, 16))
    return np.asarray(img)


def render_line(rng, lines):
    h, w = REC_SIZE
    bg, fg = colours(rng)
    size = int(rng.integers(26, 34))
    f = font(FONTS[int(rng.integers(len(FONTS)))], size)
    text = lines[int(rng.integers(len(lines)))]
    # As many words as fit: a line image with text across most of its width.
    words = text.split()
    while len(words) > 1 and f.getlength(" ".join(words)) > w - 8:
        words.pop()
    img = Image.new("RGB", (w, h), bg)
    ImageDraw.Draw(img).text((4, (h - size) // 2 - 2), " ".join(words), font=f, fill=fg)
    return np.asarray(img)


def render_cls(rng, lines, turned):
    """A text line cut to its ink, turned 180 degrees if `turned`, resized to height 48 keeping its
    ratio (width at most 192) and zero-padded on the right after normalization, as rapidocr's
    TextClassifier.resize_norm_img does. Returns CHW float32."""
    bg, fg = colours(rng)
    size = int(rng.integers(22, 34))
    f = font(FONTS[int(rng.integers(len(FONTS)))], size)
    words = lines[int(rng.integers(len(lines)))].split()[:int(rng.integers(1, 7))]
    text = " ".join(words)
    w = int(f.getlength(text)) + 16
    img = Image.new("RGB", (w, size + 16), bg)
    ImageDraw.Draw(img).text((8, 4), text, font=f, fill=fg)
    if turned:
        img = img.rotate(180)
    h, max_w = CLS_SIZE
    resized_w = min(max_w, int(np.ceil(h * img.width / img.height)))
    x = normalize(np.asarray(img.resize((resized_w, h), Image.BILINEAR)))
    padded = np.zeros((3, h, max_w), np.float32)
    padded[:, :, :resized_w] = x
    return padded


KINDS = ("det", "rec", "cls")


def render_set(kind, lines, n, seed):
    """n images of one kind (and for cls their labels) from a fixed seed."""
    if kind == "cls":
        rng = np.random.default_rng(1000 * seed + 13)
        y = np.arange(n, dtype=np.int64) % 2
        return np.stack([render_cls(rng, lines, bool(t)) for t in y]).astype(np.float32), y
    rng = np.random.default_rng(1000 * seed + (0 if kind == "det" else 7))
    render = render_page if kind == "det" else render_line
    return np.stack([normalize(render(rng, lines)) for _ in range(n)]).astype(np.float32), None


def save_atomic(path, array):
    """np.save through a temporary file in the same folder and a rename: a reader in another
    process (pytest's workers, the CI and --full tiers run at once) sees the old file or the new
    one, never a partial one."""
    tmp = f"{path}.{os.getpid()}.tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def build(out, calib, val, kinds=KINDS):
    """Writes the .npy files of `kinds` into a folder of `out` for these counts (so that callers
    with other counts never rewrite them) unless a matching stamp (one per kind) says they are
    there; returns that folder."""
    out = os.path.join(out, f"calib{calib}_val{val}")
    os.makedirs(out, exist_ok=True)
    lines = None
    for kind in kinds:
        stamp = os.path.join(out, f"stamp_{kind}.json")
        want = {"version": VERSION, "calib": calib, "val": val}
        if os.path.exists(stamp):
            with open(stamp) as f:
                if json.load(f) == want:
                    continue
            os.remove(stamp)  # (another VERSION) the files are rewritten below; no stamp until they are complete
        lines = lines or text_lines()
        # Separate seeds per set: the validation images never appear in calibration.
        for split, n, seed in (("calib", calib, 1), ("val", val, 2)):
            x, y = render_set(kind, lines, n, seed)
            save_atomic(os.path.join(out, f"{kind}_{split}.npy"), x)
            if y is not None:
                save_atomic(os.path.join(out, f"{kind}_{split}_y.npy"), y)
        tmp = f"{stamp}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(want, f)
        os.replace(tmp, stamp)
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(fetch.cache_dir(), "ocr_data"))
    p.add_argument("--calib", type=int, default=32)
    p.add_argument("--val", type=int, default=32)
    p.add_argument("--kind", action="append", choices=KINDS, help="render only these sets (repeatable; default all)")
    a = p.parse_args(argv)
    if a.calib < 1 or a.val < 1:
        p.error("--calib and --val must be >= 1")
    print(build(a.out, a.calib, a.val, tuple(a.kind or KINDS)))


if __name__ == "__main__":
    main(sys.argv[1:])
