"""Checks `kiln perplexity --json` (stdin): the estimate agrees with the scores it lists."""
import json
import math
import sys

report = json.load(sys.stdin)
scores = report["scores"]
assert report["windows"] == 1 and report["window"] == 64, report
assert report["tokens_scored"] == len(scores) == 31, len(scores)
mean_nll = -sum(s["logprob"] for s in scores) / len(scores)
assert abs(mean_nll - report["mean_nll"]) < 1e-9, (mean_nll, report["mean_nll"])
assert abs(math.exp(mean_nll) - report["perplexity"]) < 1e-6 * report["perplexity"]
assert report["perplexity_error"] > 0
positions = [s["position"] for s in scores]
assert positions == list(range(33, 64)), positions
for s in scores:
    assert s["logprob"] <= 0 and 0 <= s["top1"] < 49152 and 0 <= s["token"] < 49152, s
print("ok: perplexity", report["perplexity"], "over", len(scores), "tokens")
