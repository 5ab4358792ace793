#!/usr/bin/env python3
"""Side-by-side decode and prefill speed of kiln and llama.cpp (llama-cpp-python) on the same
GGUF file and thread count, in one run, reported as a ratio with achieved weight bandwidth.

  pip install llama-cpp-python
  bench/compare_llama_cpp.py [--model FILE] [--threads N] [--tokens N] [--prompt-repeat N]
                             [--rounds 3] [--kiln build/tools/kiln/kiln]

Each round runs kiln, then llama.cpp; the table gives medians, and the ratio line the median
of the rounds' ratios with their range (shared machines drift between runs).

Decode reads every weight once per token, so bytes of weights / time per token is the achieved
bandwidth; compare it with the machine's measured memory bandwidth. Prefill does about
2 x parameters FLOPs per prompt token (attention aside), reported as GFLOP/s.
"""
import argparse
import os
import re
import subprocess
import time

import numpy as np
from pathlib import Path

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def kiln_run(kiln: str, model: str, prompt: str, threads: int, tokens: int, ctx: int) -> tuple[float, float]:
    result = subprocess.run([kiln, "run", "-m", model, "-p", prompt, "-n", str(tokens), "--temp", "0", "-t", str(threads),
                             "--ignore-eos", "-c", str(ctx)],
                            capture_output=True, text=True, check=True)
    m = re.search(r"prompt (\d+) tokens, ([\d.]+) tokens/s \| generation (\d+) tokens, ([\d.]+) tokens/s", result.stderr)
    if not m:
        raise SystemExit(f"no timings line from kiln: {result.stderr[-400:]}")
    return float(m.group(2)), float(m.group(4))


def disable_extra_buffers() -> None:
    """llama.cpp's "extra buffer types" repack weights for AMX or other kernels; AMX faults
    (SIGILL) where the kernel does not grant the process tile state, as on some VMs."""
    import llama_cpp.llama_cpp as api
    default_params = api.llama_model_default_params

    def without_extra_buffers():
        params = default_params()
        params.use_extra_bufts = False
        return params
    api.llama_model_default_params = without_extra_buffers


def llama_cpp_run(model: str, prompt: str, threads: int, tokens: int, ctx: int) -> tuple[float, float, int]:
    from llama_cpp import Llama
    llm = Llama(model_path=model, n_ctx=ctx, n_batch=ctx, n_threads=threads, n_threads_batch=threads, verbose=False)
    ids = llm.tokenize(prompt.encode(), add_bos=llm.metadata.get("tokenizer.ggml.add_bos_token") == "true")
    start = time.perf_counter()
    llm.eval(ids)
    prefill = len(ids) / (time.perf_counter() - start)
    start = time.perf_counter()
    token = llm.sample(temp=0)
    for _ in range(tokens):
        llm.eval([token])
        token = llm.sample(temp=0)
    decode = tokens / (time.perf_counter() - start)
    return prefill, decode, len(ids)


def parameter_count(model: str) -> int:
    import gguf
    return sum(int(np.prod(t.shape)) for t in gguf.GGUFReader(model).tensors)


def main() -> None:
    models = Path(os.environ.get("KILN_MODELS") or Path.home() / ".cache/kiln/models")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(models / "SmolLM2-135M-Instruct.Q4_1.gguf"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--prompt-repeat", type=int, default=1, help="the prompt this many times over (longer prefill)")
    parser.add_argument("--ctx", type=int, default=2048,
                        help="context size of both engines (default 2048); a long prompt (decode after a deep "
                             "context) needs prompt + tokens")
    parser.add_argument("--kiln", default=str(Path(__file__).resolve().parent.parent / "build/tools/kiln/kiln"))
    parser.add_argument("--llama-extra-buffers", action="store_true",
                        help="let llama.cpp repack weights (AMX etc.); off by default: AMX faults on some VMs")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of kiln then llama.cpp; medians are reported (default 3)")
    args = parser.parse_args()
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    if not args.llama_extra_buffers:
        disable_extra_buffers()
    weight_bytes = Path(args.model).stat().st_size
    params = parameter_count(args.model)
    prompt = " ".join([PROMPT] * args.prompt_repeat)
    kiln, ref, ratios = [], [], []
    for _ in range(args.rounds):
        kiln.append(kiln_run(args.kiln, args.model, prompt, args.threads, args.tokens, args.ctx))
        prefill, decode, prompt_tokens = llama_cpp_run(args.model, prompt, args.threads, args.tokens, args.ctx)
        ref.append((prefill, decode))
        ratios.append((kiln[-1][0] / prefill, kiln[-1][1] / decode))
    print(f"model {Path(args.model).name} ({params / 1e6:.0f}M parameters), {args.threads} threads, "
          f"{prompt_tokens}-token prompt, {args.tokens} tokens generated, median of {args.rounds} alternating rounds")
    print(f"{'':10} {'prefill tok/s':>14} {'GFLOP/s':>8} {'decode tok/s':>13} {'decode GB/s':>12}")
    for name, runs in (("kiln", kiln), ("llama.cpp", ref)):
        p = float(np.median([r[0] for r in runs]))
        d = float(np.median([r[1] for r in runs]))
        print(f"{name:10} {p:14.1f} {2 * params * p / 1e9:8.1f} {d:13.1f} {d * weight_bytes / 1e9:12.2f}")
    prefill_ratios = [r[0] for r in ratios]
    decode_ratios = [r[1] for r in ratios]
    print(f"kiln / llama.cpp: prefill {np.median(prefill_ratios):.2f}x ({min(prefill_ratios):.2f}-{max(prefill_ratios):.2f}), "
          f"decode {np.median(decode_ratios):.2f}x ({min(decode_ratios):.2f}-{max(decode_ratios):.2f}) "
          "(median of the rounds' ratios, and their range)")


if __name__ == "__main__":
    main()
