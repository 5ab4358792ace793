#!/usr/bin/env python3
"""Makes the generation parity goldens: llama.cpp (through llama-cpp-python) runs fixed prompts
greedily on the same GGUF file kiln runs, and this records, per prompt, the prompt's token ids,
the reference's 64-token greedy continuation, and at every continuation position the
reference's top logits (to find near-ties and to report logit differences).

  pip install llama-cpp-python jinja2 gguf numpy
  scripts/make_generation_goldens.py [MODEL.gguf] [OUT.json]

Defaults: $KILN_MODELS (or ~/.cache/kiln/models)/SmolLM2-135M-Instruct.Q4_1.gguf and
tests/data/generation/smollm2.json. Single thread, so the reference is deterministic.
"""
import importlib.metadata
import json
import os
import sys
from pathlib import Path

import jinja2.sandbox
import numpy as np
from llama_cpp import Llama

N_CONTINUATION = 64
TOP = 5

PLAIN_PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Once upon a time, in a small village by the sea,",
    "中国的首都是",
]
CHAT_PROMPTS = [
    "What is the boiling point of water at sea level?",
    "Write a Python function that reverses a string.",
    "Give me three tips for learning a new language.",
    "请用中文介绍一下你自己。",
]


def render_chat(template: str, user: str, bos: str, eos: str) -> str:
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(messages=[{"role": "user", "content": user}],
                                            add_generation_prompt=True, bos_token=bos, eos_token=eos)


def main() -> None:
    models = Path(os.environ.get("KILN_MODELS") or Path.home() / ".cache" / "kiln" / "models")
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else models / "SmolLM2-135M-Instruct.Q4_1.gguf"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parent.parent / "tests/data/generation/smollm2.json"
    # An f32 KV cache (llama.cpp's default is f16) and no flash attention: attention in f32, as
    # kiln computes it. llama.cpp still quantizes activations to q8 blocks for quantized weights,
    # which kiln's matmul reproduces (src/kernel/compute/matmul.cpp).
    llm = Llama(model_path=str(model), n_ctx=512, n_threads=1, n_batch=512, logits_all=True, verbose=False, seed=0,
                type_k=0, type_v=0, flash_attn=False)
    template = llm.metadata["tokenizer.chat_template"]
    bos = llm.detokenize([llm.token_bos()]).decode("utf-8", "replace")
    eos = llm.detokenize([llm.token_eos()]).decode("utf-8", "replace")

    cases = [("plain", p, p) for p in PLAIN_PROMPTS]
    cases += [("chat", p, render_chat(template, p, bos, eos)) for p in CHAT_PROMPTS]
    records = []
    for kind, prompt, text in cases:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        llm.reset()
        llm.eval(ids)
        continuation, tops = [], []
        for _ in range(N_CONTINUATION):
            logits = np.array(llm.eval_logits[-1], dtype=np.float64)
            order = np.argsort(-logits, kind="stable")[:TOP]
            token = int(order[0])
            tops.append([[int(i), float(logits[i])] for i in order])
            continuation.append(token)
            llm.eval([token])
        records.append({"kind": kind, "prompt": prompt, "text": text, "prompt_ids": ids,
                        "continuation": continuation, "top_logits": tops})
        print(f"{kind:5} {prompt[:40]!r}: {llm.detokenize(continuation)[:60]!r}", file=sys.stderr)
    doc = {
        "reference": f"llama-cpp-python {importlib.metadata.version('llama-cpp-python')}",
        "model": model.name,
        "made_by": "scripts/make_generation_goldens.py",
        "cases": records,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
