#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes tests/fixtures/io_small.safetensors, a tiny safetensors file made by PyTorch.

The layout is written by hand with struct + json (the `safetensors` package is not needed):
8-byte little-endian header length, JSON header padded with spaces to a multiple of 8, data.
The tensors are ordered in the data section differently from the header's key order, so the
reader's "ordered by data offset" rule is exercised. test_safetensors.cpp checks the values.

Run:  /usr/bin/python3 tests/io_data/make_fixtures.py   (needs PyTorch; the output is committed)
"""
import json
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "io_small.safetensors")

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
          torch.int64: "I64"}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret as int16
        t = t.view(torch.int16)
    b = t.numpy().tobytes()
    assert struct.pack("=H", 1) == struct.pack("<H", 1), "host must be little-endian"
    return b


def main():
    tensors = [  # (name, tensor), in data-section order
        ("conv.weight", (torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2) * 0.5 - 3.25)),
        ("half", torch.tensor([1.0, -2.5, 65504.0, 2.0 ** -24, float("inf"), -0.0], dtype=torch.float16)),
        ("bf16", torch.tensor([[1.0, -3.0], [2.0 ** 100, 0.15625]], dtype=torch.bfloat16)),
        ("double", torch.tensor([0.1, -1e300, 3.141592653589793], dtype=torch.float64)),
        ("bn.num_batches_tracked", torch.tensor(391, dtype=torch.int64)),
        ("ints", torch.tensor([-1, 0, 2 ** 40, -(2 ** 62)], dtype=torch.int64)),
        ("empty", torch.zeros(0, 3, dtype=torch.float32)),
    ]
    header, data, offset = {}, b"", 0
    for name, t in tensors:
        b = raw_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        data += b
        offset += len(b)
    # Header keys sorted by name (as the reference writer's JSON does), metadata first.
    ordered = {"__metadata__": {"format": "pt", "source": "make_fixtures.py"}}
    ordered.update(sorted(header.items()))
    text = json.dumps(ordered, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(OUT, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    print("wrote", os.path.normpath(OUT), 8 + len(text) + len(data), "bytes")


if __name__ == "__main__":
    main()
