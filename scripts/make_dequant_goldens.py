#!/usr/bin/env python3
"""Writes the golden files for kiln's dequantization test (tests/base/dequantize_test.cpp).

The reference is the `gguf` Python package (gguf.quants.dequantize), whose numpy code is a
readable restatement of ggml's block formats. Its version is recorded in the manifest. Rerun with

  pip install gguf==0.19.0 numpy          # the versions used for the checked-in files
  scripts/fetch-models.py smollm2 gemma3  # the two models whose rows are taken
  scripts/make_dequant_goldens.py         # rewrites tests/data/dequant/

It writes, for each case NAME, NAME.bin (the raw tensor bytes) and NAME.f32 (the expected
little-endian float32 values), plus manifest.txt, one case per line:

  NAME DTYPE ELEMENTS REFERENCE SOURCE

REFERENCE is `gguf` (gguf.quants.dequantize) or `numpy` (the one-line formula in this script)
for the two formats gguf cannot dequantize: q8_K (gguf 0.19.0 raises NotImplementedError; ggml
uses it only for intermediate activations, never in files) and q8_1 (the same, and gguf also
lists it with an old 40-byte block). Both are d * int8, so the formula is its own reference.
SOURCE is `random` or MODEL:TENSOR[ROWS].

Two sets of cases:
  random  a few blocks of random bytes per format (fixed seed), with each block's f16 scale fields
          overwritten by finite values in +-[0.001, 1] (the first block's by an f16 subnormal) so
          no NaN or Inf comes out; plus random f16, bf16 and f32 bit patterns (NaN excluded).
          nvfp4's e4m3 scales are random bytes too: every one is finite.
  real    the first rows of a few tensors of SmolLM2-135M-Instruct.Q4_1.gguf (Q8_0, Q4_1, F32)
          and gemma-3-270m-q4_k_m.gguf (Q4_K, Q6_K, Q5_0), read from $KILN_MODELS or
          ~/.cache/kiln/models. The .bin holds the bytes copied from the model, so the test runs
          without the models.
"""
import importlib.metadata
import os
import platform
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "tests" / "data" / "dequant"
SEED = 20250207

# Block sizes (elements, bytes). gguf-py still lists q8_1 with ggml's old float32 d and s (40
# bytes); ggml, GGUF and kiln use f16 d and s (36 bytes).
QUANT_SIZES = {**GGML_QUANT_SIZES, T.Q8_1: (32, 36)}

# Format -> byte offsets of its f16 scale fields within a block (q8_K's scale is an f32 and
# mxfp4's an e8m0 exponent byte: handled separately).
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0], T.Q8_1: [0, 2],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.IQ4_NL: [0], T.IQ4_XS: [0], T.TQ1_0: [52], T.TQ2_0: [64], T.MXFP4: [], T.Q8_K: [],
    T.NVFP4: [],
}

# Real-data cases: model file -> (case name prefix, [(tensor name, number of leading rows)]).
REAL_TENSORS = {
    "SmolLM2-135M-Instruct.Q4_1.gguf": ("", [
        ("token_embd.weight", 2),          # Q8_0, 576 per row
        ("blk.0.attn_q.weight", 2),        # Q4_1, 576 per row
        ("blk.0.ffn_down.weight", 1),      # Q4_1, 1536 per row
        ("blk.0.attn_norm.weight", 1),     # F32, 576
    ]),
    "gemma-3-270m-q4_k_m.gguf": ("gemma3.", [
        ("blk.0.attn_output.weight", 2),   # Q4_K, 1024 per row
        ("blk.0.ffn_down.weight", 1),      # Q6_K, 2048 per row
        ("blk.0.attn_k.weight", 2),        # Q5_0, 640 per row
    ]),
}


def reference(data: np.ndarray, qtype: T) -> tuple[np.ndarray, str]:
    """Expected float32 values for raw bytes `data`, and which reference computed them."""
    if qtype == T.Q8_1:  # block: f16 d, f16 s, i8 qs[32]; x = d * q
        blocks = data.reshape(-1, 36)
        d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
        return (d * blocks[:, 4:].view(np.int8).astype(np.float32)).ravel(), "numpy"
    if qtype == T.Q8_K:  # block: f32 d, i8 qs[256], i16 bsums[16]; x = d * q
        blocks = data.reshape(-1, 292)
        d = blocks[:, 0:4].copy().view(np.float32)
        return (d * blocks[:, 4:260].view(np.int8).astype(np.float32)).ravel(), "numpy"
    return dequantize(data, qtype).astype(np.float32).ravel(), "gguf"


def random_f16_scales(rng: np.random.Generator, n: int) -> np.ndarray:
    magnitude = rng.uniform(0.001, 1.0, n)
    sign = rng.choice([-1.0, 1.0], n)
    return (magnitude * sign).astype(np.float16)


def random_blocks(rng: np.random.Generator, qtype: T) -> np.ndarray:
    block_size, type_size = QUANT_SIZES[qtype]
    n_blocks = 4 if block_size == 256 else 16
    blocks = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    for offset in F16_FIELDS[qtype]:
        scales = random_f16_scales(rng, n_blocks)
        scales[0] = np.uint16(0x0123).view(np.float16)  # an f16 subnormal
        blocks[:, offset:offset + 2] = scales.view(np.uint8).reshape(n_blocks, 2)
    if qtype == T.Q8_K:
        d = (rng.uniform(0.001, 1.0, n_blocks) * rng.choice([-1.0, 1.0], n_blocks))
        blocks[:, 0:4] = d.astype(np.float32).view(np.uint8).reshape(n_blocks, 4)
    if qtype == T.MXFP4:
        # e8m0 exponents: the two float32-subnormal scales (0, 1), 2^0 (127) and a few others.
        exps = np.array([0, 1, 2, 127, 100, 140, 200, 250], dtype=np.uint8)
        blocks[:len(exps), 0] = exps
        blocks[len(exps):, 0] = rng.integers(110, 145, n_blocks - len(exps), dtype=np.uint8)
    return blocks.reshape(-1)


def random_half_bits(rng: np.random.Generator, n: int, exponent_bits: int) -> np.ndarray:
    """n random 16-bit patterns of a float with `exponent_bits` exponent bits, no NaNs, but with
    both zeros, both infinities and (for f16) subnormals among them."""
    mantissa_bits = 15 - exponent_bits
    bits = rng.integers(0, 1 << 16, n, dtype=np.uint32)
    exp = (bits >> mantissa_bits) & ((1 << exponent_bits) - 1)
    nan = (exp == (1 << exponent_bits) - 1) & ((bits & ((1 << mantissa_bits) - 1)) != 0)
    bits[nan] &= ~np.uint32((1 << mantissa_bits) - 1)  # make those NaNs infinities
    inf = ((1 << exponent_bits) - 1) << mantissa_bits
    bits[:6] = [0x0000, 0x8000, inf, 0x8000 | inf, 0x0001, 0x8000 | ((1 << mantissa_bits) - 1)]
    return bits.astype(np.uint16)


def random_f32_bits(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random float32 bit patterns, no NaNs, with both zeros, both infinities, the smallest
    subnormal and the largest finite value among them."""
    bits = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    nan = ((bits >> 23) & 0xFF == 0xFF) & ((bits & 0x7FFFFF) != 0)
    bits[nan] &= ~np.uint32(0x7FFFFF)
    bits[:6] = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x00000001, 0x7F7FFFFF]
    return bits.view(np.float32)


def model_dir() -> Path:
    return Path(os.environ.get("KILN_MODELS") or Path.home() / ".cache" / "kiln" / "models")


def main() -> int:
    rng = np.random.default_rng(SEED)
    cases = []  # (name, dtype name, raw bytes, expected float32, reference, source)

    def dtype_name(qtype: T) -> str:  # kiln's (and ggml's) spelling: q4_K, iq4_nl, bf16
        return qtype.name.lower().replace("_k", "_K")

    def add(name: str, qtype: T, raw: np.ndarray, source: str) -> None:
        raw = np.ascontiguousarray(raw).view(np.uint8).reshape(-1)
        expected, ref = reference(raw, qtype)
        block_size, type_size = QUANT_SIZES[qtype]
        assert expected.dtype == np.float32
        assert expected.size * type_size == raw.size * block_size, name
        cases.append((name, dtype_name(qtype), raw, expected, ref, source))

    for qtype in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q8_1, T.Q2_K, T.Q3_K, T.Q4_K,
                  T.Q5_K, T.Q6_K, T.Q8_K, T.IQ4_NL, T.IQ4_XS, T.TQ1_0, T.TQ2_0, T.MXFP4]:
        add(f"{dtype_name(qtype)}.random", qtype, random_blocks(rng, qtype), "random")
    add("f16.random", T.F16, random_half_bits(rng, 512, 5), "random")
    add("bf16.random", T.BF16, random_half_bits(rng, 512, 8), "random")
    # Added later than the ones above, so drawn after them: the older files stay the same.
    add("nvfp4.random", T.NVFP4, random_blocks(rng, T.NVFP4), "random")
    add("f32.random", T.F32, random_f32_bits(rng, 256), "random")

    for model_file, (prefix, tensor_rows) in REAL_TENSORS.items():
        model_path = model_dir() / model_file
        if not model_path.exists():
            print(f"error: {model_path} is missing; run scripts/fetch-models.py smollm2 gemma3",
                  file=sys.stderr)
            return 1
        tensors = {t.name: t for t in GGUFReader(model_path).tensors}
        for tensor_name, rows in tensor_rows:
            t = tensors[tensor_name]
            data = t.data if t.data.ndim > 1 else t.data.reshape(1, -1)
            add(f"{prefix}{tensor_name.removesuffix('.weight')}.rows{rows}", t.tensor_type,
                data[:rows], f"{model_file}:{tensor_name}[0:{rows}]")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in list(OUT_DIR.glob("*.bin")) + list(OUT_DIR.glob("*.f32")):
        old.unlink()
    gguf_version = importlib.metadata.version("gguf")
    lines = [
        "# Golden files for tests/base/dequantize_test.cpp. Generated by",
        "# scripts/make_dequant_goldens.py; rerun it rather than editing by hand.",
        f"# gguf {gguf_version}, numpy {np.__version__}, python {platform.python_version()},"
        f" seed {SEED}",
        "# name dtype elements reference source",
    ]
    total = 0
    for name, dtype, raw, expected, ref, source in cases:
        (OUT_DIR / f"{name}.bin").write_bytes(raw.tobytes())
        (OUT_DIR / f"{name}.f32").write_bytes(expected.astype("<f4").tobytes())
        total += raw.size + expected.size * 4
        lines.append(f"{name} {dtype} {expected.size} {ref} {source}")
    (OUT_DIR / "manifest.txt").write_text("\n".join(lines) + "\n")
    print(f"wrote {len(cases)} cases, {total} bytes, to {OUT_DIR.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
