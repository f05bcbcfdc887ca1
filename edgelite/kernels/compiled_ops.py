"""Compiled-tier (numba) kernels for float non-convolution ops.

- `gelu_f32`: exact GELU over a flat float32 array, the same formula as the numpy
  tier (activations.gelu_float32: x / (1 + exp(x H(x^2))), H the fitted degree-6
  polynomial times -2) in one vectorized pass per 4096-element chunk instead of
  16 numpy passes. exp is computed here (numba's scalar libm call does not
  vectorize): t = k ln2 + r with k = round(t / ln2) and |r| <= ln2 / 2, e^r from
  a degree-7 polynomial fitted to it (relative error 5e-11 before float32
  rounding), 2^k from the float's exponent bits. t is clamped to [-20, 88]: below,
  1 + e^t rounds to 1; above, e^t is inf as numpy's exp overflows there, so
  x / inf gives -0.0 for finite negative x and NaN for -inf, as in the numpy tier.
  Agrees with the numpy tier within 5e-7 relative to max(1, |x|) (tests).

- `pool2x2_f32`: MAX_POOL_2D / AVERAGE_POOL_2D with 2x2 windows, stride 2, no
  padding (the common case), fused clamp, one pass; the numpy tier's combining
  order and np.maximum's NaN rule, so it equals the numpy tier (32x32x16 max
  pool ~2.7 us vs ~10 us in numpy). A generic-window numba loop measured no
  faster than numpy (its channel loop did not vectorize), so other pools stay numpy.

- `layer_norm_f32`: the fused LAYER_NORM chain (runtime/fusion.py) over [rows, C]:
  per row mean, variance of the deviations, y = (x - mean) * (rsqrt(var + eps) *
  gamma) + beta, in three passes over a row that stays in L1. Its sums may be
  reassociated (`fastmath` reassoc/contract, this kernel only: a sequential
  float32 sum does not vectorize); within 1e-6 of the unfused chain (tests).

- `softmax_rows_f32`: float32 SOFTMAX over the rows of [rows, n] (beta > 0) in
  one kernel: row max, e^((x - max) beta) from the same range-reduced polynomial
  as GELU's exp (2^k from exponent bits; t clamped at -87, where e^t is
  ~1e-38), row sum, scale by its reciprocal. It is compiled with full fastmath
  (vectorized sums), so it may only see finite inputs: the row max is taken on
  order-preserving integer keys of the float bits together with an inf/NaN
  test (integer code, which the fast-math flags do not touch), and the kernel
  returns False for the numpy tier to run on a non-finite input. Within 2e-7
  absolute of the numpy tier (tests).

Imported only through `activations.compiled_ops_for`, i.e. `conv.compiled_tier`
(numba is never imported by `import edgelite` or by models without big nodes).
Compiled once (~0.5 s), cached on disk like compiled.py (`cache=True`).
"""
# Clamps are written `if v < lo: v = lo` on purpose, as in compiled.py (NaN passes through).
# ruff: noqa: PLR1730
from __future__ import annotations

import numpy as np

from edgelite.kernels.activations import GELU_H
from edgelite.kernels.compiled import ENABLED, numba

CHUNK = 4096          # elements per pass pair: the exponent scratch stays in L1

_H = tuple(np.float32(-2.0 * c) for c in GELU_H)
# e^r = 1 + r + r^2 Q(r) on |r| <= ln2 / 2 (weighted least squares, Lawson iterations)
_Q = tuple(np.float32(c) for c in (0.5000000067621624, 0.16666665869459582,
                                   0.04166629516902101, 0.008333497034191863,
                                   0.0013944643039995725, 0.0001979031935812947))
_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)             # exact in 9 bits: k * _LN2_HI is exact
_LN2_LO = np.float32(0.6931471805599453 - 0.693359375)
_ROUND = np.float32(12582912.0)               # 1.5 * 2^23: (v + R) - R rounds v to an integer
_T_LOW = np.float32(-20.0)
_T_HIGH = np.float32(88.0)
_INF_BITS = np.int32(0x7F800000)

if ENABLED:
    _jit = numba.njit(cache=True, fastmath=False, nogil=True, boundscheck=False,
                      error_model="numpy")
    _jit_inline = numba.njit(cache=True, fastmath=False, nogil=True, boundscheck=False,
                             error_model="numpy", inline="always")

    h0, h1, h2, h3, h4, h5, h6 = _H
    q0, q1, q2, q3, q4, q5 = _Q

    # FMA contraction (only): the polynomials and the reduction in fused multiply-adds,
    # ~1.5x faster; each step rounds once instead of twice (tests: within 2.5e-7 of
    # float64, and of the numpy tier).
    @numba.njit(cache=True, fastmath={"contract"}, nogil=True, boundscheck=False,
                error_model="numpy")
    def _gelu_chunk(x, out, bits):
        one = np.float32(1.0)
        for i in range(x.size):
            v = x[i]
            s = v * v
            t = ((((((h6 * s + h5) * s + h4) * s + h3) * s + h2) * s + h1) * s + h0) * v
            big = t > _T_HIGH
            if t < _T_LOW:
                t = _T_LOW
            if t > _T_HIGH:
                t = _T_HIGH
            k = (t * _LOG2E + _ROUND) - _ROUND
            r = (t - k * _LN2_HI) - k * _LN2_LO
            p = ((((q5 * r + q4) * r + q3) * r + q2) * r + q1) * r + q0
            out[i] = (p * r * r + r) + one                        # e^r
            b = (np.int32(k) + np.int32(127)) << 23               # 2^k
            if big:
                b = _INF_BITS                                     # exp overflows, as numpy's
            bits[i] = b
        scale = bits.view(np.float32)
        for i in range(x.size):
            v = x[i]
            e = out[i] * scale[i]
            out[i] = v / (one + e)

    @_jit
    def gelu_f32(x, out, bits):
        """out = GELU(x) for flat float32 x, out; bits: int32 scratch of CHUNK."""
        n = x.size
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            _gelu_chunk(x[start:stop], out[start:stop], bits[:stop - start])


    @_jit_inline
    def _max_nan(a, b):
        """np.maximum: the larger, NaN if either is NaN (selects: vectorizes)."""
        m = a if a > b else b  # noqa: FURB136 (a select, unlike max())
        m = a if a != a else m  # noqa: PLR0124 (NaN test)
        return b if b != b else m  # noqa: PLR0124

    @_jit
    def pool2x2_f32(x, out, is_max, lo, hi):
        """2x2 windows, stride 2, no padding: x [N, H, W, C] -> out [N, OH, OW, C].
        Combined in the numpy tier's blocked order (the two rows first, then the two
        columns; average / 4), then clamped: equal to the numpy tier."""
        n, c = x.shape[0], x.shape[3]
        oh, ow = out.shape[1], out.shape[2]
        four = np.float32(4.0)
        for b in range(n):
            for oy in range(oh):
                y = 2 * oy
                for ox in range(ow):
                    xx = 2 * ox
                    for ch in range(c):
                        a0 = x[b, y, xx, ch]
                        a1 = x[b, y, xx + 1, ch]
                        b0 = x[b, y + 1, xx, ch]
                        b1 = x[b, y + 1, xx + 1, ch]
                        if is_max:
                            v = _max_nan(_max_nan(a0, b0), _max_nan(a1, b1))
                        else:
                            v = ((a0 + b0) + (a1 + b1)) / four
                        if v < lo:
                            v = lo
                        if v > hi:
                            v = hi
                        out[b, oy, ox, ch] = v


if ENABLED:
    @numba.njit(cache=True, fastmath={"reassoc", "contract", "nsz"}, nogil=True,
                boundscheck=False, error_model="numpy")
    def layer_norm_f32(x, gamma, beta, eps, out):
        """out[r] = (x[r] - mean) / sqrt(var + eps) * gamma + beta, x and out [rows, C]."""
        rows, c = x.shape
        inv_c = np.float32(1.0) / np.float32(c)
        one = np.float32(1.0)
        for r in range(rows):
            s = np.float32(0.0)
            for j in range(c):
                s += x[r, j]
            m = s * inv_c
            ss = np.float32(0.0)
            for j in range(c):
                d = x[r, j] - m
                ss += d * d
            k = one / np.sqrt(ss * inv_c + eps)
            for j in range(c):
                out[r, j] = (x[r, j] - m) * (k * gamma[j]) + beta[j]


    @numba.njit(cache=True, fastmath=True, nogil=True, boundscheck=False, error_model="numpy")
    def softmax_rows_f32(x, xbits, beta, out, bits):
        """out[r] = softmax(x[r] * beta) over float32 x, out [rows, n] (xbits: x's int32
        view; bits: int32 scratch of n). Returns False, leaving out partly written,
        when x holds an inf or NaN (the caller then runs the numpy tier)."""
        rows, n = x.shape
        scale = bits.view(np.float32)
        one = np.float32(1.0)
        half = np.float32(0.5)
        low = np.float32(-87.0)
        for row in range(rows):
            xr, xbr, outr = x[row], xbits[row], out[row]
            # row max on order-preserving integer keys of the bits, with the
            # inf/NaN test: integer code, untouched by the fast-math flags
            m = np.int32(-2147483648)
            bad = np.int32(0)
            for j in range(n):
                b = xbr[j]
                bad |= np.int32((b & _INF_BITS) == _INF_BITS)
                k = b ^ ((b >> 31) & np.int32(0x7FFFFFFF))
                m = m if m > k else k  # noqa: FURB136 (a select: max() is a slow branch)
            if bad:
                return False
            bits[0] = m ^ ((m >> 31) & np.int32(0x7FFFFFFF))
            mx = scale[0]                       # the max as a float (bits is scratch)
            for j in range(n):
                t = (xr[j] - mx) * beta
                t = t if t > low else low  # noqa: FURB136
                k = np.floor(t * _LOG2E + half)
                r = (t - k * _LN2_HI) - k * _LN2_LO
                p = ((((q5 * r + q4) * r + q3) * r + q2) * r + q1) * r + q0
                outr[j] = (p * r * r + r) + one
                bits[j] = (np.int32(k) + np.int32(127)) << 23
            total = np.float32(0.0)
            for j in range(n):
                v = outr[j] * scale[j]
                outr[j] = v
                total += v
            inv = one / total
            for j in range(n):
                outr[j] *= inv
        return True


if ENABLED:
    @_jit
    def half_to_float_bits(h, out):
        """out (uint32, the float32 bits) = float32(h) for float16 bits h (uint16), flat:
        exact, NaN payloads kept, as numpy's cast (tests: all 65,536 patterns) at ~2x
        its speed (numpy converts one value at a time through npy_half_to_float)."""
        for i in range(h.size):
            v = np.uint32(h[i])
            s = (v & np.uint32(0x8000)) << np.uint32(16)
            e = v & np.uint32(0x7C00)
            m = v & np.uint32(0x03FF)
            if e == np.uint32(0x7C00):                # inf / NaN (payload kept)
                out[i] = s | np.uint32(0x7F800000) | (m << np.uint32(13))
            elif e != 0:                              # normal: exponent bias 15 -> 127
                out[i] = s | (((v & np.uint32(0x7FFF)) << np.uint32(13))
                              + np.uint32(0x38000000))
            elif m == 0:                              # +-0
                out[i] = s
            else:                                     # subnormal: normalized in float32
                k = np.uint32(0)
                while (m & np.uint32(0x0400)) == 0:
                    m <<= np.uint32(1)
                    k += np.uint32(1)
                out[i] = s | ((np.uint32(113) - k) << np.uint32(23)) | (
                    (m & np.uint32(0x03FF)) << np.uint32(13))


def warm_up() -> float:
    """Compile (or load from the cache) the kernels for the layouts the kernels pass."""
    if not ENABLED:
        return 0.0
    import time
    t0 = time.perf_counter()
    x = np.zeros(8, np.float32)
    gelu_f32(x, np.empty_like(x), np.empty(CHUNK, np.int32))
    z = np.zeros((2, 3), np.float32)
    softmax_rows_f32(z, z.view(np.int32), np.float32(1.0), np.empty_like(z),
                     np.empty(3, np.int32))
    layer_norm_f32(z, z[0], z[0], np.float32(1e-3), np.empty_like(z))
    half_to_float_bits(np.zeros(2, np.uint16), np.empty(2, np.uint32))
    p = np.zeros((1, 2, 2, 2), np.float32)
    for is_max in (True, False):
        pool2x2_f32(p, np.empty((1, 1, 1, 2), np.float32), is_max, np.float32(0.0),
                    np.float32(6.0))
    return time.perf_counter() - t0
