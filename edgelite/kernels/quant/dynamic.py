"""Input quantization of the hybrid (dynamic-range) kernels, in few numpy calls.

LiteRT quantizes a hybrid op's float input on every invoke, one batch row at a
time (portable_tensor_utils' SymmetricQuantizeFloats / AsymmetricQuantizeFloats;
`qutil.symmetric_quantize_rows` / `asymmetric_quantize_rows` spell that out with
whole-array numpy). Hybrid models usually quantize one row (batch 1) of a few
hundred values, where those ~30 numpy calls on tiny arrays cost ~30-55 us, more
than the op's integer GEMM. Here the per-row parameters (range, scale, zero
point) are computed as float32 / float64 scalars, in the same operations and
types, and the row itself takes about eight numpy calls: x * (1 / scale) in
float32, then C's round() exactly as trunc(v + copysign(0.5, v)) in float64
(exact: |v| < 2^31 and a float32 has 24 significant bits), the zero point, and
the clamp. Bit-identical to the qutil functions (tests/kernels/test_hybrid_fast.py).
"""
from __future__ import annotations

import math

import numpy as np

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)


def _round_half_away(v: float) -> float:
    """C round() on a Python float."""
    t = math.trunc(v)
    return t + (math.copysign(1.0, v) if abs(v - t) >= 0.5 else 0.0)


_NO_OFFSET = np.zeros(1)


class Scratch:
    """Buffers for quantizing [B, K] rows without allocating at invoke (made at prepare)."""

    def __init__(self, b: int, k: int):
        self.v = np.empty((b, k), F32)        # x * (1 / scale)
        self.w = np.empty((b, k), F64)        # the rounding, in float64
        self.h = np.empty((b, k), F64)        # copysign(0.5, w)
        self.q = np.empty((b, k), F32)        # the result


def _round_rows(v: np.ndarray, offset: np.ndarray, lo: float, hi: float,
                scratch: Scratch | None = None) -> np.ndarray:
    """round_half_away(v) + offset per row, clamped to [lo, hi], as float32. The offset
    is added even when 0: it turns trunc's -0.0 into +0.0, as qutil.round_half_away."""
    if scratch is None:
        w = v.astype(F64)
        w += np.copysign(0.5, w)
    else:
        w = scratch.w
        np.copyto(w, v)
        w += np.copysign(0.5, w, out=scratch.h)
    np.trunc(w, out=w)
    w += offset[:, None] if offset.size > 1 else offset[0]
    np.maximum(w, lo, out=w)        # np.clip's wrapper costs more than the two passes
    np.minimum(w, hi, out=w)
    if scratch is None:
        return w.astype(F32)
    np.copyto(scratch.q, w, casting="same_kind")
    return scratch.q


def _scaled(x: np.ndarray, inv: np.ndarray, scratch: Scratch | None) -> np.ndarray:
    """x * inv per row, in float32."""
    factor = inv[:, None] if x.shape[0] > 1 else inv[0]
    if scratch is None:
        return x * factor
    return np.multiply(x, factor, out=scratch.v)


def symmetric_rows(x: np.ndarray, scratch: Scratch | None = None) -> tuple[np.ndarray, np.ndarray]:
    """SymmetricQuantizeFloats per row of x [B, K] float32: (int8 values as float32
    [B, K], float32 scaling factors [B]); = qutil.symmetric_quantize_rows. With a
    Scratch the values are written into its buffers (valid until the next call)."""
    b, k = x.shape
    if not k:
        return np.zeros((b, 0), F32), np.ones(b, F32)
    mn = np.minimum.reduce(x, axis=1)
    mx = np.maximum.reduce(x, axis=1)
    sf = np.empty(b, F32)
    inv = np.empty(b, F32)
    zero = []
    f127 = np.float32(127)
    for i in range(b):
        a, c = abs(mn[i]), abs(mx[i])
        r = a if not a <= c else c     # np.maximum (a NaN row has NaN min and max: NaN)
        if r == 0:
            zero.append(i)
            r = np.float32(1)
        sf[i] = r / f127
        inv[i] = f127 / r
    q = _round_rows(_scaled(x, inv, scratch), _NO_OFFSET, -127.0, 127.0, scratch)
    for i in zero:
        q[i] = 0
        sf[i] = 1.0
    return q, sf


def asymmetric_rows(x: np.ndarray, scratch: Scratch | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AsymmetricQuantizeFloats per row of x [B, K] float32 (as LiteRT's x86 build
    behaves): (int8 values as float32 [B, K], float32 scaling factors [B], int64
    offsets [B]); = qutil.asymmetric_quantize_rows."""
    b, k = x.shape
    zero32 = np.float32(0)
    if k:
        mn = np.minimum.reduce(x, axis=1)
        mx = np.maximum.reduce(x, axis=1)
    else:
        mn = mx = np.zeros(b, F32)
    sf = np.empty(b, F32)
    inv = np.empty(b, F32)
    offset = np.zeros(b, np.int64)
    flat = []
    f255 = np.float32(255)
    for i in range(b):
        lo32, hi32 = mn[i], mx[i]
        rmin = lo32 if not lo32 >= 0 else zero32  # np.minimum(0, v): NaN stays NaN
        rmax = hi32 if not hi32 <= 0 else zero32
        if rmin == rmax:
            flat.append(i)
            sf[i] = 1.0
            inv[i] = 1.0
            continue
        sf[i] = (rmax - rmin) / f255             # float32
        lo, hi = float(rmin), float(rmax)
        scale = (hi - lo) / 255.0                 # double
        zp_min = -128.0 - lo / scale
        zp_max = 127.0 - hi / scale
        zpd = zp_min if 128.0 + abs(lo / scale) < 127.0 + abs(hi / scale) else zp_max
        if zpd <= -128:
            offset[i] = -128
        elif zpd >= 127:
            offset[i] = 127
        elif zpd == zpd:                          # noqa: PLR0124 (not NaN)
            offset[i] = int(_round_half_away(zpd))
        else:       # a NaN / inf input: the value numpy's cast gives (as the array code)
            offset[i] = np.array(zpd).astype(np.int64)
        inv[i] = np.float32(1) / sf[i]
    if not k:
        return np.zeros((b, 0), F32), sf, offset
    q = _round_rows(_scaled(x, inv, scratch), offset.astype(F64), -128.0, 127.0, scratch)
    for i in flat:
        q[i] = 0
    return q, sf, offset
