"""TFLite's string tensor layout: int32 count N, N+1 int32 offsets, then the bytes."""
from __future__ import annotations

import struct

import numpy as np

from edgelite.errors import ModelError


def decode_strings(raw: bytes, shape=None) -> np.ndarray:
    if len(raw) < 4:
        raise ModelError(f"string buffer of {len(raw)} bytes has no count")
    (count,) = struct.unpack_from("<i", raw, 0)
    if count < 0 or 4 * (count + 2) > len(raw):
        raise ModelError(f"string buffer claims {count} strings in {len(raw)} bytes")
    offsets = struct.unpack_from(f"<{count + 1}i", raw, 4)
    out = np.empty(count, dtype=object)
    for i in range(count):
        lo, hi = offsets[i], offsets[i + 1]
        if not 0 <= lo <= hi <= len(raw):
            raise ModelError(f"string {i} spans [{lo}, {hi}) outside a {len(raw)}-byte buffer")
        out[i] = raw[lo:hi]
    if shape is not None and int(np.prod(shape, dtype=np.int64)) == count:
        out = out.reshape(shape)
    return out


def encode_strings(values) -> bytes:
    items = [v.encode() if isinstance(v, str) else bytes(v) for v in np.asarray(values, dtype=object).ravel()]
    count = len(items)
    header = 4 * (count + 2)
    offsets, pos = [], header
    for s in items:
        offsets.append(pos)
        pos += len(s)
    offsets.append(pos)
    return struct.pack(f"<i{count + 1}i", count, *offsets) + b"".join(items)
