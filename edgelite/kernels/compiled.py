"""The optional compiled-kernel tier: numba kernels for what numpy cannot make fast.

Used automatically when numba is importable (`pip install edgelite[fast]`);
`EDGELITE_COMPILED=0` in the environment turns it off (read once). When
numba is absent, `ENABLED` is False, nothing here is compiled and the numpy
kernels run: users who do not install the extra pay nothing. Kernels choose
their tier in prepare (`conv.compiled_tier`): only nodes with at least
`conv.COMPILED_MIN_OUTPUT` output values use it, and this module (and numba)
is imported on the first such node, so `import edgelite` and models made of
small nodes never load numba.

Kernels (all serial; `num_threads` goes to the BLAS pool only, because a
second spinning thread pool beside OpenBLAS's made a prototype far slower):

- `depthwise_conv2d`: NHWC depthwise convolution, any stride, dilation,
  padding and depth multiplier, with the bias add and fused clamp done while
  the output row is still in L1. Taps are summed in the numpy kernel's order
  (zero-initialised accumulator, filter taps row-major, bias, clamp), and
  `fastmath=False` keeps LLVM from contracting into FMAs, so results equal
  the numpy per-tap loop up to the sign of zero (the numpy tier's row-run
  einsum, used for small stride-1 images, sums in its own order: within float
  rounding). `depthwise_conv2d_3x3` (3x3,
  multiplier 1, MobileNet's case) works on flat [rows, W*C] views, sums an
  interior pixel's nine taps in registers and stores it once: 2-4x the
  general kernel. Interior pixels go four at a time (stride 1) or two at a
  time (stride 2): the block loads each weight and shared input column once
  (~25% less time over MobileNetV2's layers), each pixel still summed in the
  same order.
- `im2col_rows`: the im2col pack for CONV_2D, one block of rows at a time,
  in one pass over the input (the numpy path makes a bordered copy, then
  gathers windows from it); it matters most with few input channels.
- `bias_act_rows`: bias add + clamp over a [rows, n] GEMM output in one pass;
  `bias_act_flat` the same over a contiguous output with the bias tiled (long
  inner loops when n is small).
- `requantize_per_channel`: TFLite's MultiplyByQuantizedMultiplier (double
  rounding), + zero point, clamp, bit-exact with
  `edgelite.kernels.quant.arith.multiply_by_quantized_multiplier`. Exported
  for other callers (the quantized convolutions' kernels live in
  compiled_quant.py).

Compile cost and caching (numba 0.68.1, CPython 3.11, a 2-vCPU AVX-512 VM
shared with other jobs; measured in fresh processes: import, then the first
call of each kernel):
- no cache: ~5.4 s for the five float kernels of an earlier version on a
  quiet machine; with the blocked depthwise_conv2d_3x3 and bias_act_flat,
  measured while the VM was busy (everything ~2x slower): depthwise_conv2d
  2.7 s, depthwise_conv2d_3x3 7.1 s (5.2 s before its pixel blocks, same
  conditions), im2col_rows 1.75 s, bias_act_rows 0.3 s, bias_act_flat 0.36 s,
  requantize_per_channel 0.6 s; the first one also pays LLVM's start-up;
- with `cache=True` (the default here), every later process loads the
  machine code instead: `import numba` 0.42-0.64 s, importing this module
  0.25-0.45 s, then `warm_up()` (every kernel) 0.4-0.95 s, most of it LLVM
  start-up on the first kernel. About 1.2-2 s once per process, paid at the
  first allocate_tensors() of a model that has a node big enough for this tier.
The cache lives in `__pycache__` next to this file (or numba's user cache
dir when that is not writable; `NUMBA_CACHE_DIR` overrides both), keyed on
this file's contents and the CPU: an edgelite upgrade or another machine
compiles once more. `warm_up()` loads every kernel up front (the benchmark
scripts call it so the first timed inference does not pay it).
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
    _jit_inline = numba.njit(cache=True, fastmath=False, nogil=True, boundscheck=False,
                             error_model="numpy", inline="always")

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

    @_jit_inline
    def _dw3_pixel(x2, w3, bias, has_bias, orow, row0, h, c, wd, iy0, ix0, ox, dh, dw, lo, hi):
        """One output pixel of depthwise_conv2d_3x3 with bounds checks (borders)."""
        o = orow[ox * c:ox * c + c]
        for k in range(c):
            o[k] = 0.0
        for ky in range(3):
            iy = iy0 + ky * dh
            if iy < 0 or iy >= h:
                continue
            r = x2[row0 + iy]
            for kx in range(3):
                ix = ix0 + kx * dw
                if ix < 0 or ix >= wd:
                    continue
                p = r[ix * c:ix * c + c]
                wk = w3[ky, kx * c:kx * c + c]
                for k in range(c):
                    o[k] += p[k] * wk[k]
        for k in range(c):
            v = o[k]
            if has_bias:
                v += bias[k]
            if v < lo:
                v = lo
            if v > hi:
                v = hi
            o[k] = v

    @_jit_inline
    def _dw3_block4(r0, r1, r2, w0, w1, w2, bias, has_bias, orow, c, pl, ox_lo, ox_hi, lo,
                    hi):
        """Interior pixels ox_lo.. of a stride-1, dilation-1 row, four at a time (each
        sums its taps in the single-pixel order); returns the first pixel left over."""
        ox = ox_lo
        while ox + 4 <= ox_hi:
            b = (ox - pl) * c
            p0 = r0[b:b + 6 * c]
            p1 = r1[b:b + 6 * c]
            p2 = r2[b:b + 6 * c]
            o = orow[ox * c:ox * c + 4 * c]
            for k in range(c):
                a0 = p0[k]
                a1 = p0[c + k]
                a2 = p0[2 * c + k]
                a3 = p0[3 * c + k]
                a4 = p0[4 * c + k]
                a5 = p0[5 * c + k]
                q0 = w0[k]
                q1 = w0[c + k]
                q2 = w0[2 * c + k]
                v0 = a0 * q0
                v1 = a1 * q0
                v2 = a2 * q0
                v3 = a3 * q0
                v0 += a1 * q1
                v1 += a2 * q1
                v2 += a3 * q1
                v3 += a4 * q1
                v0 += a2 * q2
                v1 += a3 * q2
                v2 += a4 * q2
                v3 += a5 * q2
                a0 = p1[k]
                a1 = p1[c + k]
                a2 = p1[2 * c + k]
                a3 = p1[3 * c + k]
                a4 = p1[4 * c + k]
                a5 = p1[5 * c + k]
                q0 = w1[k]
                q1 = w1[c + k]
                q2 = w1[2 * c + k]
                v0 += a0 * q0
                v1 += a1 * q0
                v2 += a2 * q0
                v3 += a3 * q0
                v0 += a1 * q1
                v1 += a2 * q1
                v2 += a3 * q1
                v3 += a4 * q1
                v0 += a2 * q2
                v1 += a3 * q2
                v2 += a4 * q2
                v3 += a5 * q2
                a0 = p2[k]
                a1 = p2[c + k]
                a2 = p2[2 * c + k]
                a3 = p2[3 * c + k]
                a4 = p2[4 * c + k]
                a5 = p2[5 * c + k]
                q0 = w2[k]
                q1 = w2[c + k]
                q2 = w2[2 * c + k]
                v0 += a0 * q0
                v1 += a1 * q0
                v2 += a2 * q0
                v3 += a3 * q0
                v0 += a1 * q1
                v1 += a2 * q1
                v2 += a3 * q1
                v3 += a4 * q1
                v0 += a2 * q2
                v1 += a3 * q2
                v2 += a4 * q2
                v3 += a5 * q2
                if has_bias:
                    bk = bias[k]
                    v0 += bk
                    v1 += bk
                    v2 += bk
                    v3 += bk
                if v0 < lo:
                    v0 = lo
                if v0 > hi:
                    v0 = hi
                if v1 < lo:
                    v1 = lo
                if v1 > hi:
                    v1 = hi
                if v2 < lo:
                    v2 = lo
                if v2 > hi:
                    v2 = hi
                if v3 < lo:
                    v3 = lo
                if v3 > hi:
                    v3 = hi
                o[k] = v0
                o[c + k] = v1
                o[2 * c + k] = v2
                o[3 * c + k] = v3
            ox += 4
        return ox

    @_jit_inline
    def _dw3_block2s2(r0, r1, r2, w0, w1, w2, bias, has_bias, orow, c, pl, ox_lo, ox_hi, lo,
                      hi):
        """_dw3_block4 for stride 2: two pixels at a time (five input columns)."""
        ox = ox_lo
        while ox + 2 <= ox_hi:
            b = (2 * ox - pl) * c
            p0 = r0[b:b + 5 * c]
            p1 = r1[b:b + 5 * c]
            p2 = r2[b:b + 5 * c]
            o = orow[ox * c:ox * c + 2 * c]
            for k in range(c):
                q0 = w0[k]
                q1 = w0[c + k]
                q2 = w0[2 * c + k]
                a2 = p0[2 * c + k]
                v0 = p0[k] * q0
                v1 = a2 * q0
                v0 += p0[c + k] * q1
                v1 += p0[3 * c + k] * q1
                v0 += a2 * q2
                v1 += p0[4 * c + k] * q2
                q0 = w1[k]
                q1 = w1[c + k]
                q2 = w1[2 * c + k]
                a2 = p1[2 * c + k]
                v0 += p1[k] * q0
                v1 += a2 * q0
                v0 += p1[c + k] * q1
                v1 += p1[3 * c + k] * q1
                v0 += a2 * q2
                v1 += p1[4 * c + k] * q2
                q0 = w2[k]
                q1 = w2[c + k]
                q2 = w2[2 * c + k]
                a2 = p2[2 * c + k]
                v0 += p2[k] * q0
                v1 += a2 * q0
                v0 += p2[c + k] * q1
                v1 += p2[3 * c + k] * q1
                v0 += a2 * q2
                v1 += p2[4 * c + k] * q2
                if has_bias:
                    bk = bias[k]
                    v0 += bk
                    v1 += bk
                if v0 < lo:
                    v0 = lo
                if v0 > hi:
                    v0 = hi
                if v1 < lo:
                    v1 = lo
                if v1 > hi:
                    v1 = hi
                o[k] = v0
                o[c + k] = v1
            ox += 2
        return ox

    @_jit
    def depthwise_conv2d_3x3(x2, w3, bias, has_bias, out2, geom, lo, hi):
        """Depthwise 3x3, depth multiplier 1, on flat rows: x2 [N*H, W*C],
        w3 [3, 3*C] ((ky), (kx, c)), out2 [N*OH, OW*C];
        geom int64 [h, c, sh, sw, dh, dw, pad_top, pad_left].
        Each interior pixel sums its nine taps in registers and is stored once
        (three window-row slices per pixel); border pixels check bounds."""
        h, c, sh, sw, dh, dw, pt, pl = (geom[0], geom[1], geom[2], geom[3], geom[4], geom[5],
                                        geom[6], geom[7])
        wd = x2.shape[1] // c
        n_b = x2.shape[0] // h
        oh = out2.shape[0] // n_b
        ow = out2.shape[1] // c
        w0 = w3[0]
        w1 = w3[1]
        w2 = w3[2]
        o1 = dw * c
        o2 = 2 * dw * c
        span = o2 + c
        # interior columns: 0 <= ox*sw - pl and ox*sw - pl + 2*dw < wd
        ox_lo = min((pl + sw - 1) // sw, ow)
        ox_hi = max(min((wd - 1 - 2 * dw + pl) // sw + 1, ow), ox_lo)
        for n in range(n_b):
            for oy in range(oh):
                iy0 = oy * sh - pt
                orow = out2[n * oh + oy]
                if iy0 < 0 or iy0 + 2 * dh >= h:
                    for ox in range(ow):
                        _dw3_pixel(x2, w3, bias, has_bias, orow, n * h, h, c, wd, iy0,
                                   ox * sw - pl, ox, dh, dw, lo, hi)
                    continue
                for ox in range(ox_lo):
                    _dw3_pixel(x2, w3, bias, has_bias, orow, n * h, h, c, wd, iy0,
                               ox * sw - pl, ox, dh, dw, lo, hi)
                for ox in range(ox_hi, ow):
                    _dw3_pixel(x2, w3, bias, has_bias, orow, n * h, h, c, wd, iy0,
                               ox * sw - pl, ox, dh, dw, lo, hi)
                r0 = x2[n * h + iy0]
                r1 = x2[n * h + iy0 + dh]
                r2 = x2[n * h + iy0 + 2 * dh]
                if dw == 1:
                    # Indices written c + k, 2 * c + k (provably >= 0): vectorized loads.
                    # Blocks of 4 (stride 1) or 2 (stride 2) pixels first: their windows
                    # share input columns and all share the weights, loaded once.
                    start = ox_lo
                    if sw == 1:
                        start = _dw3_block4(r0, r1, r2, w0, w1, w2, bias, has_bias, orow, c,
                                            pl, ox_lo, ox_hi, lo, hi)
                    elif sw == 2:
                        start = _dw3_block2s2(r0, r1, r2, w0, w1, w2, bias, has_bias, orow, c,
                                              pl, ox_lo, ox_hi, lo, hi)
                    for ox in range(start, ox_hi):
                        b = (ox * sw - pl) * c
                        p0 = r0[b:b + span]
                        p1 = r1[b:b + span]
                        p2 = r2[b:b + span]
                        o = orow[ox * c:ox * c + c]
                        for k in range(c):
                            v = p0[k] * w0[k]
                            v += p0[c + k] * w0[c + k]
                            v += p0[2 * c + k] * w0[2 * c + k]
                            v += p1[k] * w1[k]
                            v += p1[c + k] * w1[c + k]
                            v += p1[2 * c + k] * w1[2 * c + k]
                            v += p2[k] * w2[k]
                            v += p2[c + k] * w2[c + k]
                            v += p2[2 * c + k] * w2[2 * c + k]
                            if has_bias:
                                v += bias[k]
                            if v < lo:
                                v = lo
                            if v > hi:
                                v = hi
                            o[k] = v
                    continue
                for ox in range(ox_lo, ox_hi):
                    b = (ox * sw - pl) * c
                    p0 = r0[b:b + span]
                    p1 = r1[b:b + span]
                    p2 = r2[b:b + span]
                    o = orow[ox * c:ox * c + c]
                    for k in range(c):
                        v = p0[k] * w0[k]
                        v += p0[o1 + k] * w0[c + k]
                        v += p0[o2 + k] * w0[2 * c + k]
                        v += p1[k] * w1[k]
                        v += p1[o1 + k] * w1[c + k]
                        v += p1[o2 + k] * w1[2 * c + k]
                        v += p2[k] * w2[k]
                        v += p2[o1 + k] * w2[c + k]
                        v += p2[o2 + k] * w2[2 * c + k]
                        if has_bias:
                            v += bias[k]
                        if v < lo:
                            v = lo
                        if v > hi:
                            v = hi
                        o[k] = v

    @_jit
    def im2col_rows(xf, colf, geom, r0, rows):
        """Rows r0 .. r0 + rows of the im2col matrix of an NHWC input, written to
        colf (that block of the [rows, KH*KW*C] matrix, flattened): each output
        pixel's window in (ky, kx, c) order, zeros outside the input. xf is the
        input flattened. Flat indices and no division per row: a window row
        inside the input (dilation 1 in width) is one run of KW*C values.
        geom int64 [h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, pad_top, pad_left]."""
        _im2col(xf, colf, geom, r0, rows, 0.0)

    @_jit_inline
    def _im2col(xf, colf, geom, r0, rows, fill):
        # runs indexed as colf[d + t] = xf[s + t] (LLVM turns them into vector copies;
        # a running d += 1 / s += 1 pair does not vectorize as well)
        h, wd, c, oh, ow, kh, kw = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5], geom[6]
        sh, sw, dh, dw, pt, pl = geom[7], geom[8], geom[9], geom[10], geom[11], geom[12]
        seg = kw * c
        n = r0 // (oh * ow)
        oy = (r0 - n * oh * ow) // ow
        ox = r0 - n * oh * ow - oy * ow
        rowlen = wd * c
        d = 0
        for r in range(rows):
            ix0 = ox * sw - pl
            whole = dw == 1 and ix0 >= 0 and ix0 + kw <= wd
            for ky in range(kh):
                iy = oy * sh - pt + ky * dh
                if iy < 0 or iy >= h:
                    for t in range(seg):
                        colf[d + t] = fill
                    d += seg
                elif whole:
                    s = (n * h + iy) * rowlen + ix0 * c
                    for t in range(seg):
                        colf[d + t] = xf[s + t]
                    d += seg
                else:
                    for kx in range(kw):
                        ix = ix0 + kx * dw
                        if ix < 0 or ix >= wd:
                            for t in range(c):
                                colf[d + t] = fill
                        else:
                            s = (n * h + iy) * rowlen + ix * c
                            for t in range(c):
                                colf[d + t] = xf[s + t]
                        d += c
            ox += 1
            if ox == ow:
                ox = 0
                oy += 1
                if oy == oh:
                    oy = 0
                    n += 1

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
    def bias_act_flat(y, bias, has_bias, lo, hi):
        """bias_act_rows over a flat contiguous y (rows * n values) with the bias tiled
        to a multiple of n: long inner loops however small n is (2x at n = 16)."""
        total = y.shape[0]
        step = bias.shape[0]
        for i0 in range(0, total, step):
            m = min(step, total - i0)
            yr = y[i0:i0 + m]
            for k in range(m):
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


COMPILED_MODULES = ("compiled", "compiled_quant", "compiled_qops", "compiled_ops", "compiled_rnn",
                    "compiled_gemm", "compiled_igemm")


def warm_up_all() -> dict[str, float]:
    """warm_up() of every compiled-tier module (this one, compiled_quant,
    compiled_qops, compiled_ops, compiled_rnn, compiled_gemm): seconds per module. With an empty
    cache this compiles everything (tens of seconds); cached, about a second or two."""
    import importlib
    if not ENABLED:
        return {}
    return {name: importlib.import_module(f"edgelite.kernels.{name}").warm_up()
            for name in COMPILED_MODULES}


def warm_up() -> float:
    """Compile (or load from the cache) every kernel once; returns the seconds taken."""
    if not ENABLED:
        return 0.0
    import time
    t0 = time.perf_counter()
    x = np.zeros((1, 3, 3, 2), np.float32)
    lo, hi = float_bounds((0.0, 6.0))
    depthwise_conv2d(x, np.zeros((3, 3, 2), np.float32), np.zeros(2, np.float32), True,
                     np.zeros((1, 3, 3, 2), np.float32), np.array([1, 1, 1, 1, 1, 1, 1]), lo, hi)
    depthwise_conv2d_3x3(x.reshape(3, 6), np.zeros((3, 6), np.float32), np.zeros(2, np.float32),
                         True, np.zeros((3, 6), np.float32), np.array([3, 2, 1, 1, 1, 1, 1, 1]),
                         lo, hi)
    im2col_rows(x.reshape(-1), np.zeros(9 * 18, np.float32),
                np.array([3, 3, 2, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1]), 0, 9)
    bias_act_rows(np.zeros((2, 2), np.float32), np.zeros(2, np.float32), True, lo, hi)
    bias_act_flat(np.zeros(4, np.float32), np.zeros(2, np.float32), True, lo, hi)
    requantize_per_channel(np.zeros((2, 2), np.int32), np.array([1 << 30]), np.array([-1]), 0,
                           -128, 127, np.zeros((2, 2), np.int8))
    return time.perf_counter() - t0
