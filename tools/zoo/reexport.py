"""The bundled trained models re-exported the way other tools write the same architectures.

    python tools/zoo/reexport.py [--out DIR]         (default <zoo cache>/reexport)

The weights are read back from the committed ONNX files (tests/data/models/*/<name>_op17.onnx: each
MatMul weight is named by the bias its Add reads), loaded into torch modules that compute the same
function with another graph, and exported at opsets 17, 13, 12 and 11:

  gpt_tiny_hf       causal mask as Hugging Face GPT-2 writes it: torch.where(causal, scores,
                    finfo(float32).min) (ONNX Where; masked_fill) instead of an additive constant
  gpt_tiny_hf_padded  the same with GPT-2's attention_mask input (int64 [batch, 64]) added as
                    (1 − mask)·finfo.min after the Where
  vit_tiny_cls      the class token prepended with Concat (timm / Hugging Face ViT) instead of Pad
  vit_tiny_gated_perhead  one gate per head as a MatMul with a 3-D constant weight [heads, d_head, 1]
                    on the head-split input, instead of one block-diagonal Linear

Each export must equal the original model under ONNX Runtime on the model's validation data (max
|difference| <= 1e-4 of the logits' scale) before it is written; meta.json lists the files.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tools", "models"))
import fetch  # noqa: E402
import nets  # noqa: E402

MODELS = os.path.join(REPO, "tests", "data", "models")
OPSETS = (17, 13, 12, 11)


def state_from_onnx(path):
    """torch state_dict of a zoo model from its export: named initializers as they are, MatMul
    weights [in, out] transposed back to the Linear's [out, in], named after their bias."""
    m = onnx.load(path)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    readers = {}
    for n in m.graph.node:
        for x in n.input:
            readers.setdefault(x, []).append(n)
    state = {k: v for k, v in inits.items() if not k.startswith("onnx::")}
    for n in m.graph.node:
        if n.op_type != "MatMul" or n.input[1] not in inits:
            continue
        adds = [r for r in readers.get(n.output[0], []) if r.op_type == "Add"]
        bias = [x for a in adds for x in a.input if x in inits and x.endswith(("bias", "gate_b"))]
        assert len(bias) == 1, f"{path}: MatMul {n.name} has no unique bias"
        base = bias[0][: -len("gate_b")] + "gate_w" if bias[0].endswith("gate_b") else bias[0][: -len("bias")] + "weight"
        state[base] = inits[n.input[1]].T.copy()
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}


class GPTHF(nets.GPT):
    """GPT with the causal mask as masked_fill (HF GPT-2's torch.where on a bool buffer)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("causal", torch.tril(torch.ones(self.ctx, self.ctx, dtype=torch.bool)), persistent=False)
        for b in self.blocks:
            b.attn.forward = self._attn(b.attn)

    def _attn(self, a):
        causal = self.causal

        def forward(x, mask=None):
            T, C, H, dh = a.tokens, a.dim, a.heads, a.dh
            qkv = a.qkv(x).reshape(-1, T, 3, H, dh).permute(2, 0, 3, 1, 4)
            s = torch.matmul(qkv[0], qkv[1].transpose(-2, -1)) * a.scale
            s = torch.where(causal[:T, :T], s, torch.tensor(torch.finfo(torch.float32).min))
            if mask is not None:  # GPT-2's extended attention mask, added after the Where
                s = s + mask
            o = torch.matmul(torch.softmax(s, dim=-1), qkv[2]).transpose(1, 2).reshape(-1, T, C)
            return a.proj(o)
        return forward

    def forward(self, idx):
        x = self.tok(idx) + self.pos
        for b in self.blocks:
            x = b(x, None)
        return self.head(self.ln(x))


class GPTHFPadded(GPTHF):
    """HF GPT-2 with its attention_mask input: the causal Where, then the additive padding mask
    (1 − mask)·finfo.min (GPT2Model's extended attention mask)."""

    def forward(self, idx, attention_mask):
        ext = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        x = self.tok(idx) + self.pos
        for b in self.blocks:
            x = b(x, ext)
        return self.head(self.ln(x))


class ViTCls(nets.ViT):
    """The class token prepended with torch.cat (a zero parameter: pos[0] carries its value, as in
    the trained model's Pad form)."""

    def __init__(self, variant="vanilla"):
        super().__init__(variant=variant)
        self.cls = torch.nn.Parameter(torch.zeros(1, 1, self.dim))

    def forward(self, x):
        x = self.patch(x).reshape(-1, self.dim, self.tokens - 1).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x[:, 0]))


class ViTPerHeadGate(nets.ViT):
    """Gated attention with the gate of head h as x_h · W_h (W: [heads, d_head, 1])."""

    def __init__(self):
        super().__init__(variant="gated")
        for b in self.blocks:
            b.attn.forward = self._attn(b.attn)

    @staticmethod
    def _attn(a):
        def forward(x, mask=None):
            T, C, H, dh = a.tokens, a.dim, a.heads, a.dh
            qkv = a.qkv(x).reshape(-1, T, 3, H, dh).permute(2, 0, 3, 1, 4)
            s = torch.matmul(qkv[0], qkv[1].transpose(-2, -1)) * a.scale
            o = torch.matmul(torch.softmax(s, dim=-1), qkv[2])                  # [B, H, T, dh]
            w = torch.stack([a.gate_w[h, h * dh:(h + 1) * dh] for h in range(H)]).unsqueeze(-1)  # [H, dh, 1]
            xh = x.reshape(-1, T, H, dh).transpose(1, 2)                          # [B, H, T, dh]
            g = torch.sigmoid(torch.matmul(xh, w) + a.gate_b.view(1, H, 1, 1))  # [B, H, T, 1]
            return a.proj((o * g).transpose(1, 2).reshape(-1, T, C))
        return forward


VARIANTS = {
    "gpt_tiny_hf": ("gpt_tiny", GPTHF),
    "gpt_tiny_hf_padded": ("gpt_tiny", GPTHFPadded),
    "vit_tiny_cls": ("vit_tiny", ViTCls),
    "vit_tiny_gated_perhead": ("vit_tiny_gated", ViTPerHeadGate),
}


def val_data(source):
    d = os.path.join(MODELS, "gpt_tiny" if source == "gpt_tiny" else "fashion_mnist")
    return np.load(os.path.join(d, "val_x.npy"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(fetch.cache_dir(), "reexport"))
    args = ap.parse_args()
    import onnxruntime as ort
    os.makedirs(args.out, exist_ok=True)
    meta = {}
    for name, (source, cls) in VARIANTS.items():
        src = os.path.join(MODELS, source, f"{source}_op17.onnx")
        model = cls().eval()
        missing, unexpected = model.load_state_dict(state_from_onnx(src), strict=False)
        # The new class-token parameter (zero, as the Pad form's) and the gates' constant block masks.
        if [k for k in missing if k != "cls" and not k.endswith("gate_mask")] or unexpected:
            raise SystemExit(f"reexport.py: {name}: missing {missing}, unexpected {unexpected}")
        x = val_data(source)[:64]
        want = ort.InferenceSession(src, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        feeds = {"input": x}
        dyn = {"input": {0: "batch"}, "logits": {0: "batch"}}
        if name == "gpt_tiny_hf_padded":  # all ones: the same logits as the model without the input
            feeds["attention_mask"] = np.ones_like(x, dtype=np.int64)
            dyn["attention_mask"] = {0: "batch"}
        files = {}
        for opset in OPSETS:
            # Written under a name of this process and renamed into place once checked: two runs at
            # once (pytest-xdist workers, each with the module's fixture) never read each other's
            # half-written file.
            path = os.path.join(args.out, f"{name}_op{opset}.onnx")
            tmp = f"{path}.{os.getpid()}.tmp"
            torch.onnx.export(model, tuple(torch.from_numpy(v[:1]) for v in feeds.values()), tmp, opset_version=opset,
                              input_names=list(feeds), output_names=["logits"], dynamic_axes=dyn)
            got = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
            err = float(np.abs(got - want).max())
            if err > 1e-4 * float(np.abs(want).max()):
                os.remove(tmp)
                raise SystemExit(f"reexport.py: {path} differs from {src} by {err}")
            os.replace(tmp, path)
            files[opset] = os.path.relpath(path, args.out)
        meta[name] = {"source": os.path.relpath(src, REPO), "files": files,
                      "ops": sorted({n.op_type for n in onnx.load(os.path.join(args.out, files[17])).graph.node})}
        print(f"reexport.py: {name}: opsets {list(files)} equal {source} under ONNX Runtime")
    tmp = os.path.join(args.out, f"meta.json.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, os.path.join(args.out, "meta.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
