"""Trains one zoo model, exports it to ONNX (opset 13 and 17) and writes its meta.json.

Usage (from the repo root; run tools/models/make_splits.py first):
  .venv/bin/python tools/models/train.py vit_tiny
  .venv/bin/python tools/models/train.py vit_tiny_clipped
  .venv/bin/python tools/models/train.py vit_tiny_gated
  .venv/bin/python tools/models/train.py cnn_small
  .venv/bin/python tools/models/train.py gpt_tiny
  .venv/bin/python tools/models/train.py <model> --export-only   # re-export from tools/models/out/

Defaults (epochs, lr, batch, seed) are the recorded ones; meta.json stores the exact command line.
Single process, one intra-op thread (torch.set_num_threads(1)): on this shared 2-core machine a
second thread made every step ~3x slower while other jobs were compiling.
"""
import argparse
import math
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import torch.nn.functional as F

import common as C
import export as E
import nets

IMAGE_MODELS = ("vit_tiny", "vit_tiny_clipped", "vit_tiny_gated", "cnn_small")
DEFAULTS = {
    # epochs over the 60000 training images (or steps of random windows for gpt_tiny)
    "vit_tiny": dict(epochs=1.5, lr=2e-3, wd=0.05, batch=64, warmup=150),
    "vit_tiny_clipped": dict(epochs=1.5, lr=2e-3, wd=0.05, batch=64, warmup=150),
    "vit_tiny_gated": dict(epochs=1.5, lr=2e-3, wd=0.05, batch=64, warmup=150),
    "cnn_small": dict(epochs=1.0, lr=3e-3, wd=1e-4, batch=64, warmup=50),
    "gpt_tiny": dict(steps=450, lr=3e-3, wd=0.05, batch=32, warmup=50),
}


def lr_at(step, total, base, warmup):
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * t))


def set_gamma(model, frac):
    """Clipped softmax: gamma ramps linearly from 0 to its final value over the first `ramp`
    fraction of training. At init attention is ~uniform (1/50 = 0.02); a gamma below -0.02 from
    step 0 would clip every probability to 0 and stop all gradient."""
    for m in model.modules():
        if isinstance(m, nets.Attention) and m.variant == "clipped":
            m.gamma.fill_(m.gamma_final * min(1.0, frac))


def augment(x, pad):
    """Random translation by up to `pad` pixels (random crop of the zero-padded image), in the
    normalized domain the padding value is the normalized 0 pixel."""
    if pad == 0:
        return x
    bg = -C.FMNIST_MEAN / C.FMNIST_STD
    B = x.shape[0]
    xp = F.pad(x, (pad, pad, pad, pad), value=bg)
    dx = torch.randint(0, 2 * pad + 1, (B,))
    dy = torch.randint(0, 2 * pad + 1, (B,))
    out = torch.empty_like(x)
    for i in range(B):
        out[i] = xp[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28]
    return out


@torch.no_grad()
def eval_images(model, x, y, bs=500):
    model.eval()
    correct = 0
    for i in range(0, len(x), bs):
        correct += (model(torch.from_numpy(x[i:i + bs])).argmax(1).numpy() == y[i:i + bs]).sum()
    return 100.0 * correct / len(x)


@torch.no_grad()
def eval_bpc(model, x, y, bs=128):
    model.eval()
    nll = 0.0
    for i in range(0, len(x), bs):
        logits = model(torch.from_numpy(x[i:i + bs]))
        nll += F.cross_entropy(logits.reshape(-1, 256), torch.from_numpy(y[i:i + bs]).reshape(-1),
                               reduction="sum").item()
    return nll / (x.size * math.log(2))


def train_images(name, model, args, log):
    xtr_u8, ytr = C.fmnist_raw("train")
    xtr = torch.from_numpy(C.normalize(xtr_u8))
    ytr = torch.from_numpy(ytr)
    vx, vy = C.load_split("fashion_mnist", "val_x"), C.load_split("fashion_mnist", "val_y")
    steps_per_epoch = len(xtr) // args.batch
    total = int(round(args.epochs * steps_per_epoch))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    g = torch.Generator().manual_seed(args.seed)
    step, t0 = 0, time.time()
    while step < total:
        perm = torch.randperm(len(xtr), generator=g)
        for b in range(steps_per_epoch):
            if step >= total:
                break
            model.train()
            set_gamma(model, step / max(1, args.gamma_ramp * total))
            idx = perm[b * args.batch:(b + 1) * args.batch]
            xb = augment(xtr[idx], args.aug_pad)
            if args.hflip:
                flip = torch.rand(len(xb)) < 0.5
                xb[flip] = xb[flip].flip(-1)
            for pg in opt.param_groups:
                pg["lr"] = lr_at(step, total, args.lr, args.warmup)
            loss = F.cross_entropy(model(xb), ytr[idx], label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % 200 == 0 or step == total:
                log(f"step {step}/{total} loss {loss.item():.4f} {time.time() - t0:.0f}s")
            if step % args.eval_every == 0 and step < total:
                log(f"  val acc {eval_images(model, vx, vy):.2f}")
    set_gamma(model, 1.0)
    return time.time() - t0, total


def train_gpt(model, args, log):
    train, _, _ = C.gpt_corpus()
    vx, vy = C.load_split("gpt_tiny", "val_x"), C.load_split("gpt_tiny", "val_y")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    rng = np.random.RandomState(args.seed)
    total, t0 = args.steps, time.time()
    for step in range(total):
        model.train()
        x, y = C.gpt_windows(train, args.batch, C.GPT_CTX, rng)
        for pg in opt.param_groups:
            pg["lr"] = lr_at(step, total, args.lr, args.warmup)
        logits = model(torch.from_numpy(x))
        loss = F.cross_entropy(logits.reshape(-1, 256), torch.from_numpy(y).reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % 100 == 0:
            log(f"step {step + 1}/{total} loss {loss.item():.4f} ({loss.item() / math.log(2):.3f} bpc) "
                f"{time.time() - t0:.0f}s")
        if (step + 1) % args.eval_every == 0 and step + 1 < total:
            log(f"  val bpc {eval_bpc(model, vx, vy):.4f}")
    return time.time() - t0, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=list(DEFAULTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=float)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--wd", type=float)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--aug-pad", type=int, default=0, help="random-translation augmentation (pixels)")
    ap.add_argument("--hflip", action="store_true", help="random horizontal flips")
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--gamma-ramp", type=float, default=0.25,
                    help="clipped softmax: fraction of training over which gamma ramps from 0")
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--init-from", help="initialize from tools/models/out/<NAME>.pt (strict=False: "
                    "a variant's extra gate parameters keep their own init)")
    ap.add_argument("--resume", action="store_true",
                    help="continue from tools/models/out/<model>.pt with a new warmup+cosine schedule "
                         "(the stage is appended to the recorded training history)")
    args = ap.parse_args()
    for k, v in DEFAULTS[args.model].items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    os.makedirs(C.CKPT_DIR, exist_ok=True)
    ckpt = os.path.join(C.CKPT_DIR, args.model + ".pt")
    logf = open(os.path.join(C.CKPT_DIR, args.model + ".log"), "a")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    model = nets.build(args.model)
    previous = None
    if args.resume:
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        previous = state["train_info"]
    init_info = None
    if args.init_from:
        state = torch.load(os.path.join(C.CKPT_DIR, args.init_from + ".pt"))
        missing, unexpected = model.load_state_dict(state["model"], strict=False)
        assert not unexpected, unexpected
        init_info = {"checkpoint": f"tools/models/out/{args.init_from}.pt",
                     "not_in_checkpoint": missing, "checkpoint_training": state["train_info"]}
    if args.export_only:
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        train_info = state["train_info"]
    else:
        log(f"== {' '.join(sys.argv)}  params={sum(p.numel() for p in model.parameters())}")
        if args.model in IMAGE_MODELS:
            seconds, steps = train_images(args.model, model, args, log)
        else:
            seconds, steps = train_gpt(model, args, log)
        train_info = {
            "command": ".venv/bin/python tools/models/" + " ".join(
                [os.path.basename(sys.argv[0])] + sys.argv[1:]),
            "seed": args.seed, "steps": steps, "seconds": round(seconds, 1),
            "hyperparameters": {k: getattr(args, k) for k in
                                ("epochs", "steps", "lr", "wd", "batch", "warmup", "aug_pad",
                                 "hflip", "label_smoothing", "gamma_ramp")
                                if getattr(args, k, None) is not None},
            "optimizer": "AdamW, linear warmup then cosine decay to 0",
            "threads": args.threads, "torch": torch.__version__,
        }
        if init_info is not None:
            train_info["init_from"] = init_info
        if previous is not None:
            stages = previous.get("stages", [previous])
            stages.append(train_info)
            train_info = dict(stages=stages, command=" && ".join(t["command"] for t in stages),
                              seed=stages[0]["seed"], steps=sum(t["steps"] for t in stages),
                              seconds=round(sum(t["seconds"] for t in stages), 1),
                              hyperparameters=stages[0]["hyperparameters"],
                              optimizer=stages[0]["optimizer"], threads=args.threads,
                              torch=torch.__version__)
        torch.save({"model": model.state_dict(), "train_info": train_info}, ckpt)
        log(f"trained in {seconds:.0f}s")
    model.eval()
    meta = E.export_and_describe(args.model, model, train_info, log)
    log(f"meta: {meta['metrics']}")


if __name__ == "__main__":
    main()
