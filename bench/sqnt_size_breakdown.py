#!/usr/bin/env python3
"""Where the bytes of a .sqnt go: buffer payloads by element type, then, for each kind of
metadata, how many bytes the file shrinks when that part is removed from a `flatc --json` dump
and the dump is serialized again. flatc caps force_align at 32, so the re-serialized files use
32-byte buffer alignment, and flatc does not share the tables a 1.1 writer shares (tensor names, shapes,
quantizations); the difference to the real file is reported in one row (negative when sharing saves more
than the 64-byte alignment costs). Identical buffers, shared in 1.1, count once.
  bench/sqnt_size_breakdown.py --schema runtime/schema/squint.fbs MODEL.sqnt
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile


def serialize(model, schema, tmp, tag):
    path = os.path.join(tmp, tag + ".json")
    with open(path, "w") as f:
        json.dump(model, f)
    subprocess.run(["flatc", "-b", "-o", tmp, schema, path], check=True, capture_output=True)
    return os.path.getsize(os.path.join(tmp, tag + ".sqnt"))


def drop_per_channel_requant(m):
    for op in m["operators"]:
        r = op.get("options", {}).get("requant")
        if isinstance(r, dict) and len(r.get("multiplier", [])) > 1:
            r["multiplier"] = r["multiplier"][:1]
            for k in ("shift", "shift8"):
                if k in r:
                    r[k] = r[k][:1]


def drop_tables(m):
    for op in m["operators"]:
        o = op.get("options", {})
        for k in ("table", "table8", "exp_table", "gamma_q", "beta_q"):
            if k in o:
                o[k] = o[k][:1]


def drop_per_channel_scales(m):
    for t in m["tensors"]:
        q = t.get("quantization")
        if q and len(q.get("scale", [])) > 1:
            q["scale"], q["axis"] = q["scale"][:1], -1
            q.pop("zero_point", None)


def drop_names(m):
    for t in m["tensors"]:
        t["name"] = ""
    for op in m["operators"]:
        op["name"] = ""


def drop_provenance(m):
    m.pop("provenance", None)


PARTS = [("per-channel requantization (multiplier + shift)", drop_per_channel_requant),
         ("lookup tables (LUT, softmax exp, LayerNorm gamma_q/beta_q)", drop_tables),
         ("per-channel scales (and zero points)", drop_per_channel_scales),
         ("tensor and op names", drop_names), ("provenance", drop_provenance)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schema", required=True)
    ap.add_argument("sqnt")
    a = ap.parse_args()
    total = os.path.getsize(a.sqnt)
    with tempfile.TemporaryDirectory() as tmp:
        with open(a.schema) as f:
            schema32 = f.read().replace("force_align: 64", "force_align: 32")
        schema = os.path.join(tmp, "squint32.fbs")
        with open(schema, "w") as f:
            f.write(schema32)
        subprocess.run(["flatc", "--json", "--raw-binary", "--strict-json", "-o", tmp, schema, "--", a.sqnt],
                       check=True, capture_output=True)
        with open(os.path.join(tmp, os.path.splitext(os.path.basename(a.sqnt))[0] + ".json")) as f:
            model = json.load(f)
        base = serialize(model, schema, tmp, "base")
        sizes = [len(b.get("data", [])) for b in model["buffers"]]
        rows, used = [], 0
        by_type, seen = {}, set()
        for t in model["tensors"]:
            if t.get("buffer") and t["buffer"] not in seen:  # schema 1.1 shares identical buffers
                seen.add(t["buffer"])
                kind = t.get("type", "INT8")
                by_type[kind] = by_type.get(kind, 0) + sizes[t["buffer"]]
        for kind, n in sorted(by_type.items()):
            rows.append((f"{kind} constant data", n))
        for name, fn in PARTS:
            m = copy.deepcopy(model)
            fn(m)
            rows.append((name, base - serialize(m, schema, tmp, "part")))
        rows.append((f"buffer alignment of {len(sizes)} buffers (64 vs 32 bytes) and 1.1 sharing of tensor names, "
                     "shapes and quantizations (flatc's re-serialization shares none)", total - base))
        used = sum(n for _, n in rows)
        rows.append(("FlatBuffers tables, shapes, op options (the rest)", total - used))
    print(f"{a.sqnt}: {total} bytes")
    print("| part | bytes | share |\n|---|---:|---:|")
    for name, n in rows:
        print(f"| {name} | {n:,} | {100.0 * n / total:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
