"""Sub-byte integer types (INT4, UINT4, INT2): TFLite packs them low bits first."""
from __future__ import annotations

import numpy as np

from edgelite.format.schema.tflite_generated import TensorType

_BITS = {TensorType.INT4: 4, TensorType.UINT4: 4, TensorType.INT2: 2}


def unpack_int(buf: np.ndarray, tensor_type: int, shape) -> np.ndarray:
    """Unpack to int8/uint8; an unpacked buffer (one value per byte) is returned as is."""
    count = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    raw = np.asarray(buf, dtype=np.uint8).ravel()
    signed = tensor_type != TensorType.UINT4
    if raw.size >= count:   # stored one value per byte
        vals = raw[:count].view(np.int8) if signed else raw[:count]
        return vals.reshape(shape)
    bits = _BITS[tensor_type]
    per_byte = 8 // bits
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    vals = ((raw[:, None] >> shifts) & ((1 << bits) - 1)).ravel()[:count].astype(np.int16)
    if signed:
        vals = np.where(vals >= (1 << (bits - 1)), vals - (1 << bits), vals)
    return vals.astype(np.int8 if signed else np.uint8).reshape(shape)


def pack_int(values: np.ndarray, tensor_type: int) -> np.ndarray:
    bits = _BITS[tensor_type]
    per_byte = 8 // bits
    v = (np.asarray(values).astype(np.int16).ravel() & ((1 << bits) - 1)).astype(np.uint8)
    pad = (-v.size) % per_byte
    v = np.concatenate([v, np.zeros(pad, np.uint8)]).reshape(-1, per_byte)
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    return np.bitwise_or.reduce(v << shifts, axis=1).astype(np.uint8)
