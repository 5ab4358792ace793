#!/usr/bin/env python3
"""kiln's perplexity next to llama.cpp's (llama-cpp-python) on the same GGUF file and text:
the same windows, the same scored positions, each run teacher-forced from an empty cache.

  pip install llama-cpp-python
  bench/perplexity_llama_cpp.py --model FILE --text FILE [--ctx 512] [--chunks N] [--threads 2]
                                [--kiln build/tools/kiln/kiln] [--no-int8]

Prints both perplexities and their ratio, the top-1 agreement (how often kiln's most likely
next token is llama.cpp's), and the mean and largest |difference| of the scored tokens'
log-probabilities. Fidelity between two engines is statistical: quantized activations and
summation orders differ, so single tokens may differ while the perplexities agree closely.
"""
import argparse
import json
import math
import subprocess
import sys

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from compare_llama_cpp import disable_extra_buffers  # noqa: E402


def kiln_scores(kiln: str, model: str, text: str, ctx: int, chunks: int, threads: int, no_int8: bool) -> dict:
    cmd = [kiln, "perplexity", "-m", model, "-f", text, "-c", str(ctx), "-t", str(threads), "--json"]
    if no_int8:
        cmd.append("--no-int8")
    if chunks >= 0:
        cmd += ["--chunks", str(chunks)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def llama_cpp_scores(model: str, text: str, ctx: int, windows: int, threads: int) -> tuple[list[dict], list[int]]:
    disable_extra_buffers()
    from llama_cpp import Llama
    llm = Llama(model_path=model, n_ctx=ctx, n_batch=ctx, n_ubatch=ctx, logits_all=True, n_threads=threads,
                n_threads_batch=threads, verbose=False)
    with open(text, "rb") as f:
        tokens = llm.tokenize(f.read(), add_bos=True, special=False)
    bos = tokens[0] if tokens and tokens[0] == llm.token_bos() else None
    scores = []
    for w in range(windows):
        window = list(tokens[w * ctx:(w + 1) * ctx])
        if bos is not None:
            window[0] = bos
        llm.reset()
        llm.eval(window)
        logits = np.asarray(llm.scores[:ctx], dtype=np.float64)
        for i in range(ctx // 2, ctx - 1):
            row = logits[i]
            top = float(row.max())
            logprob = row[window[i + 1]] - top - math.log(np.exp(row - top).sum())
            scores.append({"position": w * ctx + i + 1, "token": window[i + 1], "logprob": float(logprob),
                           "top1": int(row.argmax())})
    return scores, tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=-1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kiln", default="build/tools/kiln/kiln")
    ap.add_argument("--no-int8", action="store_true", help="kiln's quantized matmuls in f32 (kiln perplexity --no-int8)")
    args = ap.parse_args()

    kiln = kiln_scores(args.kiln, args.model, args.text, args.ctx, args.chunks, args.threads, args.no_int8)
    ref, _ = llama_cpp_scores(args.model, args.text, args.ctx, kiln["windows"], args.threads)
    ours = kiln["scores"]
    if len(ref) != len(ours):
        raise SystemExit(f"kiln scored {len(ours)} tokens, llama.cpp {len(ref)}")
    same_token = sum(a["token"] == b["token"] for a, b in zip(ours, ref))
    agree = sum(a["top1"] == b["top1"] for a, b in zip(ours, ref))
    diffs = [abs(a["logprob"] - b["logprob"]) for a, b in zip(ours, ref)]
    ppl_ref = math.exp(-sum(s["logprob"] for s in ref) / len(ref))
    import llama_cpp
    print(f"model {args.model}, text {args.text}: {kiln['windows']} windows of {args.ctx}, {len(ours)} tokens scored "
          f"(llama.cpp {llama_cpp.__version__} via llama-cpp-python)")
    print(f"  same token ids at the scored positions: {same_token}/{len(ours)}")
    print(f"  perplexity: kiln {kiln['perplexity']:.4f} +/- {kiln['perplexity_error']:.4f}, llama.cpp {ppl_ref:.4f}; "
          f"kiln / llama.cpp {kiln['perplexity'] / ppl_ref:.4f}")
    print(f"  top-1 agreement {100.0 * agree / len(ours):.2f}%; |delta log-probability| mean {np.mean(diffs):.4f}, "
          f"max {max(diffs):.4f}")


if __name__ == "__main__":
    main()
