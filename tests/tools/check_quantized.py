#!/usr/bin/env python3
"""Checks a file `kiln quantize SRC OUT q8_0` wrote, with the `gguf` package (the reader
llama.cpp's tools are built around): every matrix is q8_0 (but those already in it), every
1-D tensor f32, general.file_type 7, the metadata otherwise as in SRC, and each tensor's values
those of SRC within q8_0's rounding bound (half a step of amax / 127 per block, plus the f16
rounding of the step)."""
import sys

import numpy as np
from gguf import GGUFReader, GGMLQuantizationType
from gguf.quants import dequantize

src, out = GGUFReader(sys.argv[1]), GGUFReader(sys.argv[2])


def field(reader, key):
    f = reader.fields[key]
    return f.parts[f.data[0]]


assert int(field(out, "general.file_type")[0]) == 7, field(out, "general.file_type")
for key in src.fields:
    if key.startswith("GGUF.") or key in ("general.file_type", "general.quantization_version"):
        continue
    assert key in out.fields, f"metadata key {key} lost"
src_tensors = {t.name: t for t in src.tensors}
assert len(out.tensors) == len(src_tensors)
for t in out.tensors:
    s = src_tensors[t.name]
    assert list(t.shape) == list(s.shape), t.name
    if len(s.shape) == 1 or (len(s.shape) >= 2 and s.shape[0] == 1):
        expected = GGMLQuantizationType.F32
    else:
        expected = GGMLQuantizationType.Q8_0
    assert t.tensor_type == expected, (t.name, t.tensor_type)
    x = dequantize(s.data, s.tensor_type).astype(np.float64).reshape(-1)
    y = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1)
    if t.tensor_type == GGMLQuantizationType.F32:
        assert np.array_equal(x, y), t.name
        continue
    blocks = x.reshape(-1, 32)
    d = np.abs(blocks).max(axis=1, keepdims=True) / 127
    limit = d / 2 + 127 * (d * 2.0**-11 + 2.0**-24)
    err = np.abs(blocks - y.reshape(-1, 32))
    assert (err <= limit * (1 + 1e-6)).all(), (t.name, float((err - limit).max()))
print("ok")
