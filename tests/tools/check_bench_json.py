#!/usr/bin/env python3
"""Checks `kiln bench -p 8 -n 4 -d 0,16 -r 2 -o json` on stdin: one row per test and depth,
each with its repetitions' times, a positive rate, and what it achieves (GFLOP/s for prompt
processing, GB/s for generation)."""
import json
import sys

rows = json.load(sys.stdin)
tests = [r["test"] for r in rows]
assert tests == ["pp8", "tg4", "pp8@d16", "tg4@d16"], tests
for r in rows:
    assert len(r["seconds"]) == 2, r
    assert all(s > 0 for s in r["seconds"]), r
    assert r["tokens_per_s"] > 0 and r["tokens_per_s_sd"] >= 0, r
    key = "gflop_per_s" if r["test"].startswith("pp") else "gb_per_s"
    assert r[key] > 0, r
    assert r["params"] > 100_000_000 and r["size_bytes"] > 50_000_000, r
    mean = sum(r["tokens"] / s for s in r["seconds"]) / len(r["seconds"])
    assert abs(mean - r["tokens_per_s"]) < 1e-6 * mean, (mean, r)
print("ok")
