"""Sub-byte integer types (INT4, UINT4, INT2), packed as LiteRT packs them.

LiteRT always reads these tensors packed (tensor_utils::UnpackPackedIntToInt8):
INT4/UINT4 two values per byte, INT2 four, the lowest bits holding the first
value; signed values are sign-extended. A tensor of n values needs
ceil(n * bits / 8) bytes; LiteRT accepts a longer buffer but still reads only
those first bytes as packed values, and so do we.
"""
from __future__ import annotations

import numpy as np

from edgelite.format.schema.tflite_tables import TensorType

_BITS = {TensorType.INT4: 4, TensorType.UINT4: 4, TensorType.INT2: 2}


def packed_size(count: int, tensor_type: int) -> int:
    """Bytes that `count` packed values of `tensor_type` take."""
    per_byte = 8 // _BITS[tensor_type]
    return (count + per_byte - 1) // per_byte


def unpack_int(buf: np.ndarray, tensor_type: int, shape) -> np.ndarray:
    """The packed values of `buf` as an int8 (INT4, INT2) or uint8 (UINT4) array."""
    count = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    raw = np.asarray(buf, dtype=np.uint8).ravel()
    need = packed_size(count, tensor_type)
    if raw.size < need:
        raise ValueError(f"{need} bytes needed for {count} packed values, got {raw.size}")
    bits = _BITS[tensor_type]
    per_byte = 8 // bits
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    vals = ((raw[:need, None] >> shifts) & ((1 << bits) - 1)).ravel()[:count]
    if tensor_type == TensorType.UINT4:
        return vals.reshape(shape)
    signed = vals.astype(np.int8)
    signed[vals >= (1 << (bits - 1))] -= 1 << bits
    return signed.reshape(shape)


def pack_int(values: np.ndarray, tensor_type: int) -> np.ndarray:
    """Pack integer values (each in the type's range) into uint8 bytes, low bits first;
    a trailing partial byte is zero-padded."""
    bits = _BITS[tensor_type]
    per_byte = 8 // bits
    v = np.asarray(values).astype(np.int64).ravel()
    lo, hi = (0, (1 << bits) - 1) if tensor_type == TensorType.UINT4 else \
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    if v.size and (v.min() < lo or v.max() > hi):
        raise ValueError(f"values must lie in [{lo}, {hi}] to be packed in {bits} bits")
    v = (v & ((1 << bits) - 1)).astype(np.uint8)
    pad = (-v.size) % per_byte
    v = np.concatenate([v, np.zeros(pad, np.uint8)]).reshape(-1, per_byte)
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    return np.bitwise_or.reduce(v << shifts, axis=1).astype(np.uint8)
