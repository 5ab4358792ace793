#!/usr/bin/env python3
"""Makes float64 goldens for the Llama recipe: the model's forward pass written independently in
numpy (weights dequantized by the `gguf` package, every operation in float64), teacher-forced on
the prompts and llama.cpp continuations of tests/data/generation/smollm2.json. Records the top
logits at each continuation position; kiln's f32 logits must agree closely.

  pip install gguf numpy
  scripts/make_f64_goldens.py [MODEL.gguf] [OUT.json]
"""
import importlib.metadata
import json
import os
import sys
from pathlib import Path

import gguf
import numpy as np

N_CASES, N_POSITIONS, TOP = 3, 24, 5


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    models = Path(os.environ.get("KILN_MODELS") or Path.home() / ".cache" / "kiln" / "models")
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else models / "SmolLM2-135M-Instruct.Q4_1.gguf"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else root / "tests/data/generation/smollm2_f64.json"
    reader = gguf.GGUFReader(str(model))
    tensors = {t.name: t for t in reader.tensors}
    field = lambda key: reader.fields[key].parts[reader.fields[key].data[0]][0]

    def weight(name):
        t = tensors[name]
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64)
        return values.reshape([int(d) for d in reversed(t.shape)]) if len(t.shape) > 1 else values.reshape(-1)

    n_layer, n_embd = int(field("llama.block_count")), int(field("llama.embedding_length"))
    n_head, n_kv = int(field("llama.attention.head_count")), int(field("llama.attention.head_count_kv"))
    eps, theta = float(field("llama.attention.layer_norm_rms_epsilon")), float(field("llama.rope.freq_base"))
    hd = n_embd // n_head
    layers = [{k: weight(f"blk.{l}.{k}.weight") for k in
               ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")}
              for l in range(n_layer)]
    embd, out_norm = weight("token_embd.weight"), weight("output_norm.weight")
    output = weight("output.weight") if "output.weight" in tensors else embd

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    def forward(ids):
        n = len(ids)
        angles = np.arange(n)[:, None] * theta ** (-np.arange(0, hd, 2) / hd)[None, :]
        cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]

        def rope(v):  # rotates pairs (2i, 2i + 1), llama.cpp's "normal" mode
            out = np.empty_like(v)
            out[..., 0::2] = v[..., 0::2] * cos - v[..., 1::2] * sin
            out[..., 1::2] = v[..., 0::2] * sin + v[..., 1::2] * cos
            return out

        x = embd[ids]
        for w in layers:
            h = rms(x, w["attn_norm"])
            q = rope((h @ w["attn_q"].T).reshape(n, n_head, hd))
            k = rope((h @ w["attn_k"].T).reshape(n, n_kv, hd))
            v = (h @ w["attn_v"].T).reshape(n, n_kv, hd)
            attended = np.zeros((n, n_head, hd))
            for head in range(n_head):
                scores = q[:, head] @ k[:, head // (n_head // n_kv)].T / np.sqrt(hd)
                scores[np.triu_indices(n, 1)] = -np.inf
                p = np.exp(scores - scores.max(-1, keepdims=True))
                attended[:, head] = (p / p.sum(-1, keepdims=True)) @ v[:, head // (n_head // n_kv)]
            x = x + attended.reshape(n, n_embd) @ w["attn_output"].T
            h = rms(x, w["ffn_norm"])
            gate, up = h @ w["ffn_gate"].T, h @ w["ffn_up"].T
            x = x + (gate / (1 + np.exp(-gate)) * up) @ w["ffn_down"].T
        return rms(x, out_norm) @ output.T

    cases = json.loads((root / "tests/data/generation/smollm2.json").read_text())["cases"][:N_CASES]
    records = []
    for c in cases:
        fed = c["prompt_ids"] + c["continuation"][:N_POSITIONS - 1]
        logits = forward(fed)[len(c["prompt_ids"]) - 1:]
        tops = [[[int(i), float(row[i])] for i in np.argsort(-row, kind="stable")[:TOP]] for row in logits]
        records.append({"prompt": c["prompt"], "fed": fed, "first_position": len(c["prompt_ids"]) - 1, "top_logits": tops})
        print(f"{c['prompt'][:40]!r}: {len(tops)} positions", file=sys.stderr)
    doc = {"reference": f"numpy {np.__version__} float64, gguf {importlib.metadata.version('gguf')} dequantization",
           "model": model.name, "made_by": "scripts/make_f64_goldens.py", "cases": records}
    out.write_text(json.dumps(doc, indent=1))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
