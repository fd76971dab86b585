"""The test-model zoo's networks (torch). Written so the ONNX export is plain and readable:
attention is explicit (MatMul -> Softmax -> MatMul), GELU is the exact erf form, LayerNorm is
nn.LayerNorm (decomposed at opset 13, LayerNormalization at opset 17).

Attention variants (Bondarenko et al., "Quantizable Transformers", NeurIPS 2023; algorithms.md 5):
  vanilla  softmax(Q K^T / sqrt(d)) V
  clipped  clip((zeta - gamma) * softmax(.) + gamma, 0, 1) V, zeta = 1, gamma = -alpha / T
           (ONNX: Softmax -> Mul -> Add -> Clip)
  gated    sigmoid(G_h(x_h)) * (softmax(.) V) per head and token, G_h = Linear(d_head -> 1) on the
           h-th d_head chunk of the attention block's (normalized) input; realized as one Linear
           dim -> heads with a block-diagonal weight so the graph is MatMul -> Add -> Sigmoid -> Mul.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, dim, heads, variant="vanilla", tokens=50, alpha=1.0, gate_init=0.25):
        super().__init__()
        assert dim % heads == 0
        self.dim, self.heads, self.dh = dim, heads, dim // heads
        self.tokens = tokens  # fixed sequence length: reshapes use constants, only batch is dynamic
        self.variant = variant
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.scale = 1.0 / math.sqrt(self.dh)
        if variant == "clipped":
            self.zeta = 1.0
            self.gamma_final = -alpha / tokens
            # gamma is ramped from 0 to gamma_final during training (see train.py); a buffer so the
            # exported constant is the final value.
            self.register_buffer("gamma", torch.tensor(self.gamma_final))
        if variant == "gated":
            # G_h weights live in the diagonal blocks of a [heads, dim] matrix; the mask keeps the
            # rest at zero (weight * mask folds into one constant on export)
            self.gate_w = nn.Parameter(torch.randn(heads, dim) * 0.02)
            self.gate_b = nn.Parameter(torch.full((heads,), math.log(gate_init / (1 - gate_init))))
            mask = torch.zeros(heads, dim)
            for h in range(heads):
                mask[h, h * self.dh:(h + 1) * self.dh] = 1
            self.register_buffer("gate_mask", mask)

    def forward(self, x, mask=None):
        T, C, H, dh = self.tokens, self.dim, self.heads, self.dh
        qkv = self.qkv(x).reshape(-1, T, 3, H, dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                     # [B, H, T, dh]
        s = torch.matmul(q, k.transpose(-2, -1)) * self.scale  # [B, H, T, T]
        if mask is not None:
            s = s + mask                                      # additive causal mask (0 / -1e4)
        p = torch.softmax(s, dim=-1)
        if self.variant == "clipped":
            p = torch.clamp((self.zeta - self.gamma) * p + self.gamma, 0.0, 1.0)
        o = torch.matmul(p, v)                                # [B, H, T, dh]
        if self.variant == "gated":
            w = self.gate_w * self.gate_mask                 # [H, C] block diagonal (folded on export)
            g = torch.sigmoid(F.linear(x, w, self.gate_b))    # [B, T, H]
            o = o * g.transpose(1, 2).unsqueeze(-1)
        o = o.transpose(1, 2).reshape(-1, T, C)
        return self.proj(o)


class Block(nn.Module):
    """Pre-LayerNorm transformer block. Records the FFN output and the residual stream when
    self.record is a list (used for the outlier statistics)."""

    def __init__(self, dim, heads, mlp, variant, tokens, alpha):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, variant, tokens, alpha)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp)
        self.act = nn.GELU()  # exact (erf) GELU
        self.fc2 = nn.Linear(mlp, dim)
        self.record = None

    def forward(self, x, mask=None):
        x = x + self.attn(self.ln1(x), mask)
        f = self.fc2(self.act(self.fc1(self.ln2(x))))
        x = x + f
        if self.record is not None:
            self.record.append((f.detach(), x.detach()))
        return x


class ViT(nn.Module):
    def __init__(self, dim=64, depth=4, heads=2, mlp=128, patch=4, img=28, classes=10,
                 variant="vanilla", alpha=1.0):
        super().__init__()
        n = (img // patch) ** 2
        self.tokens = n + 1
        self.dim = dim
        self.patch = nn.Conv2d(1, dim, patch, stride=patch)
        self.pos = nn.Parameter(torch.randn(1, self.tokens, dim) * 0.02)
        self.blocks = nn.ModuleList(
            [Block(dim, heads, mlp, variant, self.tokens, alpha) for _ in range(depth)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)
        self.apply(_init)

    def forward(self, x):
        x = self.patch(x).reshape(-1, self.dim, self.tokens - 1).transpose(1, 2)  # [B, 49, dim]
        # cls token: a zero token is prepended and pos[0] plays the role of cls + its position
        # embedding (the same function as a separate cls parameter; exports as Pad + Add)
        x = F.pad(x, (0, 0, 1, 0)) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x[:, 0]))


class GPT(nn.Module):
    """Decoder-only byte-level LM. The causal mask is ADDITIVE: a constant [T, T] buffer holding 0 on
    and below the diagonal and -1e4 above it, added to Q K^T / sqrt(d) before Softmax (ONNX: Add of a
    constant initializer). Context length is fixed (T = ctx); only the batch dimension is dynamic."""

    MASK_VALUE = -1e4

    def __init__(self, vocab=256, ctx=64, dim=64, depth=4, heads=4, mlp=256):
        super().__init__()
        self.ctx = ctx
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(1, ctx, dim) * 0.02)
        self.blocks = nn.ModuleList(
            [Block(dim, heads, mlp, "vanilla", ctx, 0.0) for _ in range(depth)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)
        m = torch.triu(torch.full((ctx, ctx), self.MASK_VALUE), diagonal=1)
        self.register_buffer("mask", m, persistent=False)
        self.apply(_init)

    def forward(self, idx):
        x = self.tok(idx) + self.pos
        for b in self.blocks:
            x = b(x, self.mask)
        return self.head(self.ln(x))


def conv_bn(cin, cout, k=3, stride=1, groups=1, relu=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = conv_bn(c, c)
        self.b = conv_bn(c, c, relu=False)

    def forward(self, x):
        return torch.relu(x + self.b(self.a(x)))


class CNNSmall(nn.Module):
    """conv+BN+ReLU stem, one residual block, one depthwise conv, pointwise conv, GAP, linear."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(1, 16),                    # 28x28
            conv_bn(16, 32, stride=2),         # 14x14
            ResBlock(32),                      # 14x14, residual
            conv_bn(32, 32, stride=2, groups=32),  # depthwise, 7x7
            conv_bn(32, 64, k=1),              # pointwise
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(64, classes)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(self.pool(x), 1)    # global average pooling (GlobalAveragePool)
        return self.head(x)


def _init(m):
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)


def build(name):
    if name == "vit_tiny":
        return ViT(variant="vanilla")
    if name == "vit_tiny_clipped":
        return ViT(variant="clipped", alpha=1.0)
    if name == "vit_tiny_gated":
        return ViT(variant="gated")
    if name == "cnn_small":
        return CNNSmall()
    if name == "gpt_tiny":
        return GPT()
    raise ValueError(f"unknown model {name}")
