"""Checks `kiln inspect --json` of SmolLM2-135M-Instruct (read from stdin) field by field."""
import json
import sys

doc = json.load(sys.stdin)
assert doc["architecture"] == "llama", doc["architecture"]
assert doc["gguf_version"] == 3
meta = doc["metadata"]
assert meta["llama.block_count"] == 30
assert meta["llama.embedding_length"] == 576
assert meta["tokenizer.ggml.tokens"] == {"array_of": "string", "length": 49152}, meta["tokenizer.ggml.tokens"]
assert len(doc["tensors"]) == 272
assert doc["quantization"]["q4_1"]["tensors"] == 210
assert sum(t["bytes"] for t in doc["tensors"]) < doc["size_bytes"]
embd = next(t for t in doc["tensors"] if t["name"] == "token_embd.weight")
assert embd["type"] == "q8_0" and embd["shape"] == [576, 49152], embd
assert doc["parameters"] == sum(t["shape"][0] * (t["shape"][1] if len(t["shape"]) > 1 else 1) for t in doc["tensors"])
print("inspect --json: ok")
