"""The optional compiled-kernel tier: numba kernels for what numpy cannot make fast.

Used automatically when numba is importable (`pip install edgelite[fast]`);
`EDGELITE_COMPILED=0` in the environment turns it off (read at import). When
numba is absent, `ENABLED` is False, nothing here is compiled and the numpy
kernels run: users who do not install the extra pay nothing.

Kernels (all serial; `num_threads` goes to the BLAS pool only, because a
second spinning thread pool beside OpenBLAS's made a prototype far slower):

- `depthwise_conv2d`: NHWC depthwise convolution, any stride, dilation,
  padding and depth multiplier, with the bias add and fused clamp done while
  the output row is still in L1. Taps are summed in the numpy kernel's order
  (zero-initialised accumulator, filter taps row-major, bias, clamp), and
  `fastmath=False` keeps LLVM from contracting into FMAs, so results equal
  the numpy path up to the sign of zero. `depthwise_conv2d_3x3` (3x3,
  multiplier 1, MobileNet's case) sums an interior pixel's nine taps in
  registers and stores it once: about 2x the general kernel.
- `im2col_2d`: the im2col pack for CONV_2D in one pass over the input (the
  numpy path makes a bordered copy, then gathers windows from it).
- `bias_act_rows`: bias add + clamp over a [rows, n] GEMM output in one pass.
- `requantize_per_channel`: TFLite's MultiplyByQuantizedMultiplier (double
  rounding), + zero point, clamp, bit-exact with
  `edgelite.kernels.quant.arith.multiply_by_quantized_multiplier`. Exported
  for the quantized convolution kernels; not wired in from this module.

Compile cost and caching (numba 0.68, measured on a 2-vCPU AVX-512 VM):
every kernel is compiled on first call for the argument types it sees, about
0.3-0.9 s per kernel (~2.5 s for the four float kernels of MobileNetV2 in a
fresh process without a cache). `cache=True` writes the machine code to
`__pycache__` next to this file (or numba's user cache dir when that is not
writable; `NUMBA_CACHE_DIR` overrides it), so the next process only loads it:
`import numba` ~0.25 s plus ~0.03 s per kernel. To move the one-time
compile out of the first inference, call `warm_up()` (the benchmark scripts
do). The cache is keyed on this file's contents and the CPU, so it is
rebuilt after an edgelite upgrade or on another machine.
"""
# Clamps are written `if v < lo: v = lo` on purpose: NaN passes through as in numpy
# (min/max would not), and LLVM vectorizes the pattern.
# ruff: noqa: PLR1730
from __future__ import annotations

import os

import numpy as np

_DISABLED_BY_ENV = os.environ.get("EDGELITE_COMPILED", "1").strip().lower() in ("0", "false",
                                                                                "no", "off")
ENABLED = False
REASON = "disabled by EDGELITE_COMPILED=0" if _DISABLED_BY_ENV else "numba is not installed"

if not _DISABLED_BY_ENV:
    try:
        import numba
        ENABLED = True
        REASON = f"numba {numba.__version__}"
    except ImportError:  # the optional extra is not installed: the numpy path runs
        numba = None

# Clamp bounds used when a fused activation has no lower or upper bound.
NO_LOW = np.float32(-np.inf)
NO_HIGH = np.float32(np.inf)


def float_bounds(bounds) -> tuple[np.float32, np.float32]:
    """(lo, hi) from an activation's (low | None, high | None)."""
    lo, hi = bounds
    return (NO_LOW if lo is None else np.float32(lo), NO_HIGH if hi is None else np.float32(hi))


if ENABLED:
    _jit = numba.njit(cache=True, fastmath=False, nogil=True, boundscheck=False,
                      error_model="numpy")

    @_jit
    def depthwise_conv2d(x, w, bias, has_bias, out, geom, lo, hi):
        """x [N, H, W, C], w [KH, KW, C*M], bias [C*M], out [N, OH, OW, C*M];
        geom int64 [sh, sw, dh, dw, pad_top, pad_left, M]."""
        n_b, h, wd, c = x.shape
        kh, kw, oc = w.shape
        _, oh, ow, _ = out.shape
        sh, sw, dh, dw, pt, pl, mult = (geom[0], geom[1], geom[2], geom[3], geom[4], geom[5],
                                        geom[6])
        for n in range(n_b):
            for oy in range(oh):
                row = out[n, oy]
                for ox in range(ow):
                    for k in range(oc):
                        row[ox, k] = 0.0
                for ky in range(kh):
                    iy = oy * sh - pt + ky * dh
                    if iy < 0 or iy >= h:
                        continue
                    xrow = x[n, iy]
                    for kx in range(kw):
                        off = kx * dw - pl
                        # output columns whose input column ox*sw + off lies in [0, wd)
                        ox_lo = 0
                        if off < 0:
                            ox_lo = (-off + sw - 1) // sw
                        ox_hi = (wd - off + sw - 1) // sw
                        if ox_hi > ow:
                            ox_hi = ow
                        wk = w[ky, kx]
                        if mult == 1:
                            for ox in range(ox_lo, ox_hi):
                                xp = xrow[ox * sw + off]
                                rp = row[ox]
                                for k in range(c):
                                    rp[k] += xp[k] * wk[k]
                        else:
                            for ox in range(ox_lo, ox_hi):
                                xp = xrow[ox * sw + off]
                                rp = row[ox]
                                for ci in range(c):
                                    v = xp[ci]
                                    base = ci * mult
                                    for m in range(mult):
                                        rp[base + m] += v * wk[base + m]
                for ox in range(ow):
                    rp = row[ox]
                    for k in range(oc):
                        v = rp[k]
                        if has_bias:
                            v += bias[k]
                        if v < lo:
                            v = lo
                        if v > hi:
                            v = hi
                        rp[k] = v

    @_jit
    def depthwise_conv2d_3x3(x, w, bias, has_bias, out, geom, lo, hi):
        """depthwise_conv2d for a 3x3 filter and depth multiplier 1: each interior
        output pixel sums its nine taps in registers and is stored once; border
        pixels take the general route. Same summation order as the numpy path."""
        n_b, h, wd, c = x.shape
        _, oh, ow, _ = out.shape
        sh, sw, dh, dw, pt, pl = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
        w00 = w[0, 0]
        w01 = w[0, 1]
        w02 = w[0, 2]
        w10 = w[1, 0]
        w11 = w[1, 1]
        w12 = w[1, 2]
        w20 = w[2, 0]
        w21 = w[2, 1]
        w22 = w[2, 2]
        for n in range(n_b):
            for oy in range(oh):
                iy0 = oy * sh - pt
                rows_in = iy0 >= 0 and iy0 + 2 * dh < h
                row = out[n, oy]
                for ox in range(ow):
                    ix0 = ox * sw - pl
                    rp = row[ox]
                    if rows_in and ix0 >= 0 and ix0 + 2 * dw < wd:
                        r0 = x[n, iy0]
                        r1 = x[n, iy0 + dh]
                        r2 = x[n, iy0 + 2 * dh]
                        p00 = r0[ix0]
                        p01 = r0[ix0 + dw]
                        p02 = r0[ix0 + 2 * dw]
                        p10 = r1[ix0]
                        p11 = r1[ix0 + dw]
                        p12 = r1[ix0 + 2 * dw]
                        p20 = r2[ix0]
                        p21 = r2[ix0 + dw]
                        p22 = r2[ix0 + 2 * dw]
                        for k in range(c):
                            v = p00[k] * w00[k]
                            v += p01[k] * w01[k]
                            v += p02[k] * w02[k]
                            v += p10[k] * w10[k]
                            v += p11[k] * w11[k]
                            v += p12[k] * w12[k]
                            v += p20[k] * w20[k]
                            v += p21[k] * w21[k]
                            v += p22[k] * w22[k]
                            if has_bias:
                                v += bias[k]
                            if v < lo:
                                v = lo
                            if v > hi:
                                v = hi
                            rp[k] = v
                    else:
                        for k in range(c):
                            rp[k] = 0.0
                        for ky in range(3):
                            iy = iy0 + ky * dh
                            if iy < 0 or iy >= h:
                                continue
                            for kx in range(3):
                                ix = ix0 + kx * dw
                                if ix < 0 or ix >= wd:
                                    continue
                                xp = x[n, iy, ix]
                                wk = w[ky, kx]
                                for k in range(c):
                                    rp[k] += xp[k] * wk[k]
                        for k in range(c):
                            v = rp[k]
                            if has_bias:
                                v += bias[k]
                            if v < lo:
                                v = lo
                            if v > hi:
                                v = hi
                            rp[k] = v

    @_jit
    def im2col_2d(x, col, geom):
        """x [N, H, W, C] -> col [N*OH*OW, KH*KW*C] (zeros outside the input);
        geom int64 [oh, ow, kh, kw, sh, sw, dh, dw, pad_top, pad_left]."""
        n_b, h, wd, c = x.shape
        oh, ow, kh, kw, sh, sw, dh, dw, pt, pl = (geom[0], geom[1], geom[2], geom[3], geom[4],
                                                  geom[5], geom[6], geom[7], geom[8], geom[9])
        r = 0
        for n in range(n_b):
            for oy in range(oh):
                for ox in range(ow):
                    dst = col[r]
                    j = 0
                    for ky in range(kh):
                        iy = oy * sh - pt + ky * dh
                        inside_y = 0 <= iy < h
                        for kx in range(kw):
                            ix = ox * sw - pl + kx * dw
                            if inside_y and 0 <= ix < wd:
                                src = x[n, iy, ix]
                                for k in range(c):
                                    dst[j + k] = src[k]
                            else:
                                for k in range(c):
                                    dst[j + k] = 0.0
                            j += c
                    r += 1

    @_jit
    def bias_act_rows(y, bias, has_bias, lo, hi):
        """In place over y [rows, n]: y = clamp(y + bias, lo, hi)."""
        rows, n = y.shape
        for i in range(rows):
            yr = y[i]
            for k in range(n):
                v = yr[k]
                if has_bias:
                    v += bias[k]
                if v < lo:
                    v = lo
                if v > hi:
                    v = hi
                yr[k] = v

    @_jit
    def _requantize_rows(acc, multiplier, shift, zero_point, qmin, qmax, out):
        rows, n = acc.shape
        nm = multiplier.shape[0]
        for i in range(rows):
            a_row = acc[i]
            o_row = out[i]
            for k in range(n):
                j = k if nm > 1 else 0
                x = np.int64(a_row[k])
                s = np.int64(shift[j])
                m = np.int64(multiplier[j])
                left = s if s > 0 else np.int64(0)
                right = -s if s < 0 else np.int64(0)
                if left > 0:
                    # int32 wrap-around of x << left, as the int32 C++ code does
                    x = ((x << left) + np.int64(2147483648)) & np.int64(0xFFFFFFFF)
                    x -= np.int64(2147483648)
                # SaturatingRoundingDoublingHighMul
                if x == -2147483648 and m == -2147483648:
                    q = np.int64(2147483647)
                else:
                    ab = x * m
                    if ab >= 0:
                        t = ab + np.int64(1 << 30)
                    else:
                        t = ab + np.int64(1 - (1 << 30))
                    if t >= 0:
                        q = t >> 31
                    else:
                        q = -((-t) >> 31)
                # RoundingDivideByPOT
                mask = (np.int64(1) << right) - 1
                rem = q & mask
                thr = (mask >> 1) + (1 if q < 0 else 0)
                q = (q >> right) + (1 if rem > thr else 0)
                v = q + zero_point
                if v < qmin:
                    v = qmin
                if v > qmax:
                    v = qmax
                o_row[k] = v


def requantize_per_channel(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                           out_zero_point: int, qmin: int, qmax: int, out: np.ndarray) -> None:
    """out = clamp(MultiplyByQuantizedMultiplier(acc, multiplier, shift) + zp, qmin, qmax).

    acc: int32 or int64 [..., C] (C-contiguous); multiplier / shift: [C] or [1]
    (per-channel along the last axis, or per-tensor); out: any integer dtype,
    the shape of acc. Bit-exact with quant.arith.multiply_by_quantized_multiplier
    (which also decides what happens to int64 values beyond int32: the same).
    Uses the compiled kernel when available, else numpy."""
    multiplier = np.ascontiguousarray(np.asarray(multiplier).reshape(-1), dtype=np.int64)
    shift = np.ascontiguousarray(np.asarray(shift).reshape(-1), dtype=np.int64)
    if ENABLED and acc.size and acc.flags.c_contiguous and out.flags.c_contiguous:
        n = acc.shape[-1] if acc.ndim else 1
        _requantize_rows(acc.reshape(-1, n), multiplier, shift, np.int64(out_zero_point),
                         np.int64(qmin), np.int64(qmax), out.reshape(-1, n))
        return
    from edgelite.kernels.quant.arith import multiply_by_quantized_multiplier
    y = multiply_by_quantized_multiplier(acc, multiplier, shift) + out_zero_point
    np.clip(y, qmin, qmax, out=y)
    out[...] = y


def warm_up() -> float:
    """Compile (or load from the cache) every kernel once; returns the seconds taken."""
    if not ENABLED:
        return 0.0
    import time
    t0 = time.perf_counter()
    x = np.zeros((1, 3, 3, 2), np.float32)
    lo, hi = float_bounds((0.0, 6.0))
    for kernel in (depthwise_conv2d, depthwise_conv2d_3x3):
        kernel(x, np.zeros((3, 3, 2), np.float32), np.zeros(2, np.float32), True,
               np.zeros((1, 3, 3, 2), np.float32), np.array([1, 1, 1, 1, 1, 1, 1]), lo, hi)
    im2col_2d(x, np.zeros((9, 18), np.float32), np.array([3, 3, 3, 3, 1, 1, 1, 1, 1, 1]))
    bias_act_rows(np.zeros((2, 2), np.float32), np.zeros(2, np.float32), True, lo, hi)
    return time.perf_counter() - t0
