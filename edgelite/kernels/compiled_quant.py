"""Compiled-tier (numba) kernels of the integer convolutions and matrix products.

Imported only through the tier gate (`edgelite.kernels.conv.compiled_tier`
returns the compiled module first; `quant/conv.py` then imports this one), so
`import edgelite` and models without big nodes never load numba. Same rules as
`compiled.py`: `cache=True`, `fastmath=False`, serial kernels, `nogil`.

Every kernel is bit-identical with the numpy tier (tests/kernels/
test_speed_paths_quant_conv.py and test_compiled.py): both compute exact
integer accumulators (float sums of integers that provably stay exact) and an
exact requantization.

Requantization (`_rqf`), from `quant.qutil.Requantizer.threshold_plan`: with
ms = m/2^S, k0 = c/2^S, d = 2^-e, the double rounding of an accumulator a (an
exact integer held in float64) is `floor(u - d*[u < 1/2]) + zp`, u = a*ms + k0,
exact in float64 on every accumulator the node can produce (the plan checks
a*m + c <= 2^53 there) and non-decreasing in a, so clamping the integer result
gives the reference's clamp. No int64 multiply, and it vectorizes (~0.5 ns a
value here against ~0.7 for the int64 form `_rq`).
Loops index flat arrays and slices with indices numba can prove non-negative:
it wraps negative indices, and an index like `b + k` or `p[n + k]`, or a 2-D
index, kept these loops scalar (2-5x slower).

Kernels:
- `requant_rows`: a GEMM band (float32/float64 exact integers) + per-channel
  correction -> int8/uint8 rows.
- `requant_rows_int`: the int64 form (multipliers with left shifts, or plans
  that cannot be proven exact), operation for operation `Requantizer.__call__`.
- `im2col_rows_fill`: im2col of an int8/uint8 NHWC input into float rows, the
  input zero point outside the input.
- `depthwise_q3`: 3x3 depthwise, depth multiplier 1, dilation 1, any stride and
  padding; an interior pixel sums its nine raw taps in registers (the zero point
  is folded into a per-channel constant), border pixels subtract it per tap;
  requantized before the store.
- `depthwise_q`: any kernel size, stride, dilation, depth multiplier;
  `depthwise_q_int` the same with the int64 requantization.
- `fc_rows`: FULLY_CONNECTED's reference rounding, round(double(acc) * scale)
  half away from zero, + zero point, clamp.

Compile cost and caching (numba 0.68.1, CPython 3.11, this 2-vCPU VM while
other jobs ran; fresh processes, NUMBA_CACHE_DIR pointing at an empty dir):
- a kernel compiles on first use, per signature (output int8/uint8, float32 or
  float64 sums): MobileNetV2 int8 uses three, and its first invoke took 5.5 s
  without a cache, 0.6 s with it (LLVM start-up and loading);
- `warm_up()` compiles or loads all 22 signatures: ~31 s without a cache, ~1 s
  from the cache.
`cache=True` keeps the machine code in `__pycache__` next to this file (or
numba's user cache dir when that is not writable; `NUMBA_CACHE_DIR` overrides),
keyed on this file and the CPU: an edgelite upgrade or another machine compiles
once more.
"""
# ruff: noqa: PLR1730
from __future__ import annotations

import numpy as np

from edgelite.kernels import compiled as _compiled

ENABLED = _compiled.ENABLED

if ENABLED:
    numba = _compiled.numba
    _jit = numba.njit(cache=True, fastmath=False, nogil=True, boundscheck=False,
                      error_model="numpy")
    _jit_inline = numba.njit(cache=True, fastmath=False, nogil=True, boundscheck=False,
                             error_model="numpy", inline="always")
    _im2col = _compiled._im2col       # the one im2col pack, shared with the float conv

    @_jit_inline
    def _rqf(a, ms, k0, d, zp, lo, hi, need):
        # a: exact integer accumulator (float64); scalars only (see compiled.py).
        # need = False when lo >= zp: the correction only lowers results <= zp, which the
        # clamp raises to lo anyway (LLVM unswitches the loop on it: 25% faster)
        u = a * ms + k0
        if need and u < 0.5:
            u -= d
        r = np.int64(np.floor(u)) + zp
        if r < lo:
            r = lo
        if r > hi:
            r = hi
        return r

    @_jit_inline
    def _rq(x, m, nudge, half, right, left, any_left, zp, lo, hi):
        if any_left:
            x = x << left
            x = ((x + np.int64(2147483648)) & np.int64(0xFFFFFFFF)) - np.int64(2147483648)
        x = (x * m + nudge) >> 31                       # q + h
        if x < half and right > 0:                      # q < 0
            x -= 1
        x = (x >> right) + zp
        if x < lo:
            x = lo
        if x > hi:
            x = hi
        return x

    @_jit
    def requant_rows(accf, p, zp, lo, hi, need, out):
        """out [R, C] = requantized accf [R, C] (float, exact integers) with the plan
        p float64 [4 * C] = (correction, ms, k0, d), flat: 2-D indexing inside the
        inner loop keeps LLVM from vectorizing it (3x slower)."""
        rows, n = accf.shape
        # one slice per parameter: p[n + k] indexing in the loop stays scalar (2x slower)
        pc = p[0:n]
        pm = p[n:2 * n]
        pk = p[2 * n:3 * n]
        pd = p[3 * n:4 * n]
        for i in range(rows):
            a = accf[i]
            o = out[i]
            for k in range(n):
                o[k] = _rqf(np.float64(a[k]) + pc[k], pm[k], pk[k], pd[k], zp, lo, hi,
                            need)

    @_jit
    def requant_rows_int(accf, corr, m, nudge, half, right, left, any_left, zp, lo, hi, out):
        """out [R, C] = Requantizer(int64(accf) + corr), corr int64 [C]."""
        rows, n = accf.shape
        for i in range(rows):
            a = accf[i]
            o = out[i]
            for k in range(n):
                o[k] = _rq(np.int64(a[k]) + corr[k], m[k], nudge[k], half[k], right[k],
                           left[k], any_left, zp, lo, hi)

    @_jit
    def im2col_rows_fill(xf, colf, geom, r0, rows, fill):
        """Rows r0 .. r0 + rows of the im2col matrix of the flat NHWC input xf into
        colf (flat), `fill` (the input zero point) outside the input; geom int64 [h, w,
        c, oh, ow, kh, kw, sh, sw, dh, dw, pad_top, pad_left] (compiled._im2col)."""
        _im2col(xf, colf, geom, r0, rows, fill)

    @_jit
    def depthwise_q3(x2, w9, zsw, p, zf, zp, lo, hi, need, out2, acc, geom):
        """3x3 depthwise, multiplier 1, dilation 1, on flat rows: x2 [N*H, W*C]
        int8/uint8, w9 float32 [9 * C] (weights minus their zero point, taps
        row-major, flat), zsw float32 [C] = zi * sum(w), p float64 [4 * C] =
        (bias - zi * sum(w), ms, k0, d), zf float32 zi, out2 [N*OH, OW*C], acc float32
        [OW * C] scratch; geom int64 [h, c, sh, sw, pad_top, pad_left].
        Per output row: an interior pixel sums its nine raw products x * w in float32
        (at most 9 * 255 * 255 < 2^24: exact), a border pixel zi * sum(w) plus
        (x - zi) * w over the taps inside the input (also below 2^24); then the row
        is requantized with the correction p[0] in a second loop (one loop mixing
        float32 and float64 vectorizes at half the width). Flat arrays: 2-D indexing
        inside the inner loops keeps LLVM from vectorizing them."""
        h, c, sh, sw, pt, pl = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
        wd = x2.shape[1] // c
        n_b = x2.shape[0] // h
        oh = out2.shape[0] // n_b
        ow = out2.shape[1] // c
        ox_lo = min((pl + sw - 1) // sw, ow)
        ox_hi = max(min((wd - 3 + pl) // sw + 1, ow), ox_lo)
        pc = p[0:c]
        pm = p[c:2 * c]
        pk = p[2 * c:3 * c]
        pd = p[3 * c:4 * c]
        w0 = w9[0:c]
        w1 = w9[c:2 * c]
        w2 = w9[2 * c:3 * c]
        w3 = w9[3 * c:4 * c]
        w4 = w9[4 * c:5 * c]
        w5 = w9[5 * c:6 * c]
        w6 = w9[6 * c:7 * c]
        w7 = w9[7 * c:8 * c]
        w8 = w9[8 * c:9 * c]
        for n in range(n_b):
            row0 = n * h
            for oy in range(oh):
                iy0 = oy * sh - pt
                inner = iy0 >= 0 and iy0 + 2 < h
                for ox in range(ow):
                    if inner and ox >= ox_lo and ox < ox_hi:
                        continue
                    ix0 = ox * sw - pl
                    a = acc[ox * c:ox * c + c]
                    for k in range(c):
                        a[k] = zsw[k]
                    for ky in range(3):
                        iy = iy0 + ky
                        if iy < 0 or iy >= h:
                            continue
                        for kx in range(3):
                            ix = ix0 + kx
                            if ix < 0 or ix >= wd:
                                continue
                            xs = x2[row0 + iy, ix * c:ix * c + c]
                            ws = w9[(ky * 3 + kx) * c:(ky * 3 + kx) * c + c]
                            for k in range(c):
                                a[k] += (np.float32(xs[k]) - zf) * ws[k]
                if inner:
                    r0 = x2[row0 + iy0]
                    r1 = x2[row0 + iy0 + 1]
                    r2 = x2[row0 + iy0 + 2]
                    for ox in range(ox_lo, ox_hi):
                        # one slice per tap, indexed by k alone: numba wraps negative
                        # indices, and an index it cannot prove >= 0 (b + k, c + k) keeps
                        # the loop scalar (2-5x slower)
                        b = (ox * sw - pl) * c
                        x0 = r0[b:b + c]
                        x1 = r0[b + c:b + 2 * c]
                        x2_ = r0[b + 2 * c:b + 3 * c]
                        x3 = r1[b:b + c]
                        x4 = r1[b + c:b + 2 * c]
                        x5 = r1[b + 2 * c:b + 3 * c]
                        x6 = r2[b:b + c]
                        x7 = r2[b + c:b + 2 * c]
                        x8 = r2[b + 2 * c:b + 3 * c]
                        a = acc[ox * c:ox * c + c]
                        for k in range(c):
                            v = np.float32(x0[k]) * w0[k]
                            v += np.float32(x1[k]) * w1[k]
                            v += np.float32(x2_[k]) * w2[k]
                            v += np.float32(x3[k]) * w3[k]
                            v += np.float32(x4[k]) * w4[k]
                            v += np.float32(x5[k]) * w5[k]
                            v += np.float32(x6[k]) * w6[k]
                            v += np.float32(x7[k]) * w7[k]
                            v += np.float32(x8[k]) * w8[k]
                            a[k] = v
                orow = out2[n * oh + oy]
                for ox in range(ow):
                    a = acc[ox * c:ox * c + c]
                    o = orow[ox * c:ox * c + c]
                    for k in range(c):
                        o[k] = _rqf(np.float64(a[k]) + pc[k], pm[k], pk[k], pd[k], zp, lo, hi,
                                    need)

    @_jit
    def depthwise_q(x, w, p, zf, zp, lo, hi, need, out, acc, geom):
        """Any depthwise convolution: x [N, H, W, C], w [KH, KW, C*M] (weights minus
        their zero point, float32 or float64 as the exactness proof allows), p float64
        [4 * C*M] = (bias, ms, k0, d) flat, acc [OW, C*M] scratch of w's type, zf the input
        zero point (w's type); geom int64 [sh, sw, dh, dw, pad_top, pad_left, M].
        acc sums (x - zi) * w over the taps inside the input (exact integers)."""
        n_b, h, wd, c = x.shape
        kh, kw, oc = w.shape
        _, oh, ow, _ = out.shape
        sh, sw, dh, dw, pt, pl, mult = (geom[0], geom[1], geom[2], geom[3], geom[4], geom[5],
                                        geom[6])
        pc = p[0:oc]
        pm = p[oc:2 * oc]
        pk = p[2 * oc:3 * oc]
        pd = p[3 * oc:4 * oc]
        for n in range(n_b):
            for oy in range(oh):
                for ox in range(ow):
                    ap = acc[ox]
                    for k in range(oc):
                        ap[k] = 0
                for ky in range(kh):
                    iy = oy * sh - pt + ky * dh
                    if iy < 0 or iy >= h:
                        continue
                    xrow = x[n, iy]
                    for kx in range(kw):
                        off = kx * dw - pl
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
                                ap = acc[ox]
                                for k in range(c):
                                    ap[k] += (xp[k] - zf) * wk[k]
                        else:
                            for ox in range(ox_lo, ox_hi):
                                xp = xrow[ox * sw + off]
                                ap = acc[ox]
                                for ci in range(c):
                                    v = xp[ci] - zf
                                    base = ci * mult
                                    for mm in range(mult):
                                        ap[base + mm] += v * wk[base + mm]
                orow = out[n, oy]
                for ox in range(ow):
                    ap = acc[ox]
                    op = orow[ox]
                    for k in range(oc):
                        op[k] = _rqf(np.float64(ap[k]) + pc[k], pm[k], pk[k], pd[k], zp, lo,
                                     hi, need)

    @_jit
    def depthwise_q_int(x, w, corr, zf, out, acc, geom, m, nudge, half, right, left,
                        any_left, zp, lo, hi):
        """depthwise_q with the int64 requantization (plans that are not provable)."""
        n_b, h, wd, c = x.shape
        kh, kw, oc = w.shape
        _, oh, ow, _ = out.shape
        sh, sw, dh, dw, pt, pl, mult = (geom[0], geom[1], geom[2], geom[3], geom[4], geom[5],
                                        geom[6])
        for n in range(n_b):
            for oy in range(oh):
                for ox in range(ow):
                    ap = acc[ox]
                    for k in range(oc):
                        ap[k] = 0
                for ky in range(kh):
                    iy = oy * sh - pt + ky * dh
                    if iy < 0 or iy >= h:
                        continue
                    xrow = x[n, iy]
                    for kx in range(kw):
                        off = kx * dw - pl
                        ox_lo = 0
                        if off < 0:
                            ox_lo = (-off + sw - 1) // sw
                        ox_hi = (wd - off + sw - 1) // sw
                        if ox_hi > ow:
                            ox_hi = ow
                        wk = w[ky, kx]
                        for ox in range(ox_lo, ox_hi):
                            xp = xrow[ox * sw + off]
                            ap = acc[ox]
                            for ci in range(c):
                                v = xp[ci] - zf
                                base = ci * mult
                                for mm in range(mult):
                                    ap[base + mm] += v * wk[base + mm]
                orow = out[n, oy]
                for ox in range(ow):
                    ap = acc[ox]
                    op = orow[ox]
                    for k in range(oc):
                        op[k] = _rq(np.int64(ap[k]) + corr[k], m[k], nudge[k], half[k],
                                    right[k], left[k], any_left, zp, lo, hi)

    @_jit
    def fc_rows(accf, corr, eff, zo, lo, hi, out):
        """out [R, U] = clamp(round_half_away((accf + corr) * eff) + zo, lo, hi):
        accf float exact integers, corr / eff float64 [U]. round half away from zero
        is trunc(y + copysign(0.5 - 2^-54, y)), exact for every double."""
        rows, n = accf.shape
        h = 0.49999999999999994
        for i in range(rows):
            a = accf[i]
            o = out[i]
            for k in range(n):
                y = (np.float64(a[k]) + corr[k]) * eff[k]
                if y < 0.0:
                    y = y - h
                else:
                    y = y + h
                y = np.trunc(y) + zo
                if y < lo:
                    y = lo
                if y > hi:
                    y = hi
                o[k] = y


    @_jit_inline
    def _r_ref(a, m, right, zp):
        # MultiplyByQuantizedMultiplier(a, m, -right) + zp for int32 a, 0 < m < 2^31,
        # right >= 0 (gemmlowp: SaturatingRoundingDoublingHighMul, then
        # RoundingDivideByPOT), in scalar int64 arithmetic
        ab = a * m
        if ab >= 0:
            q = (ab + np.int64(1073741824)) // np.int64(2147483648)
        else:
            q = -((-(ab + np.int64(1) - np.int64(1073741824))) // np.int64(2147483648))
        if right > 0:
            mask = (np.int64(1) << right) - 1
            rem = q & mask
            thr = (mask >> 1) + (1 if q < 0 else 0)
            q = (q >> right) + (1 if rem > thr else 0)
        return q + zp

    @_jit_inline
    def _least_at_least(level, mc, rc, zp, amin, amax):
        # the least a in [amin, amax] with R(a) >= level, given R(amin) < level <= R(amax):
        # bisection, bracketed first by the 17 integers around the real-valued estimate
        # (R(a) ~ floor(a * m / 2^S + k0) + zp)
        s = 31.0 + rc
        half = np.float64(np.int64(1) << (rc - 1)) if rc > 0 else 0.0
        ms = mc / 2.0 ** s
        k0 = (2.0 ** 30 + half * 2.0 ** 31) / 2.0 ** s
        est = np.floor((level - zp - k0) / ms)
        a0, a1 = amin, amax                  # R(a0) < level <= R(a1)
        if amin + 8 < est < amax - 8:
            e = np.int64(est)
            if _r_ref(e - 8, mc, rc, zp) < level and _r_ref(e + 8, mc, rc, zp) >= level:
                a0, a1 = e - 8, e + 8
        while a1 - a0 > 1:
            mid = a0 + (a1 - a0) // 2
            if _r_ref(mid, mc, rc, zp) >= level:
                a1 = mid
            else:
                a0 = mid
        return a1

    @_jit
    def thresholds(m, right, zp, lo, hi, alo, ahi):
        """Per channel, alo = the least int32 a with R(a) >= lo and ahi = the greatest
        with R(a) <= hi, R(a) = MultiplyByQuantizedMultiplier(a, m, -right) + zp (non-
        decreasing in a), by bisection; what Requantizer.threshold_plan's numpy search
        finds. Returns False where that plan does not apply: R(INT32_MAX) < lo or
        R(INT32_MIN) > hi on some channel, or R(alo) != lo, R(ahi) != hi, alo > ahi."""
        amin = np.int64(-2147483648)
        amax = np.int64(2147483647)
        for c in range(m.shape[0]):
            mc, rc = np.int64(m[c]), np.int64(right[c])
            r_min, r_max = _r_ref(amin, mc, rc, zp), _r_ref(amax, mc, rc, zp)
            if r_max < lo or r_min > hi:
                return False
            alo[c] = amin if r_min >= lo else _least_at_least(lo, mc, rc, zp, amin, amax)
            # the greatest a with R(a) <= hi: one below the least with R(a) >= hi + 1
            ahi[c] = amax if r_max <= hi else \
                _least_at_least(hi + 1, mc, rc, zp, amin, amax) - 1
            if (_r_ref(alo[c], mc, rc, zp) != lo or _r_ref(ahi[c], mc, rc, zp) != hi
                    or alo[c] > ahi[c]):
                return False
        return True


def warm_up() -> float:
    """Compile (or load from the cache) every signature the quantized kernels use;
    returns the seconds taken."""
    if not ENABLED:
        return 0.0
    import time
    t0 = time.perf_counter()
    c = 2
    f64 = np.zeros(c)
    p4 = np.zeros(4 * c)
    iparams = (np.ones(c, np.int64), np.zeros(c, np.int64), np.zeros(c, np.int64),
               np.zeros(c, np.int64), np.zeros(c, np.int64), False, np.int64(0),
               np.int64(-128), np.int64(127))
    lo, hi = np.int64(-128), np.int64(127)
    geom_dw = np.array([1, 1, 1, 1, 1, 1, 1], np.int64)
    for odt in (np.int8, np.uint8):
        for ft in (np.float32, np.float64):
            acc = np.zeros((3, c), ft)
            out = np.zeros((3, c), odt)
            requant_rows(acc, p4, np.int64(0), lo, hi, True, out)
            requant_rows_int(acc, np.zeros(c, np.int64), *iparams, out)
            fc_rows(acc, f64, f64, 0.0, -128.0, 127.0, out)
            x = np.zeros((1, 3, 3, c), odt)
            o4 = np.zeros((1, 3, 3, c), odt)
            depthwise_q(x, np.zeros((3, 3, c), ft), p4, ft(0), np.int64(0), lo, hi, True, o4,
                        np.zeros((3, c), ft), geom_dw)
            depthwise_q_int(x, np.zeros((3, 3, c), ft), np.zeros(c, np.int64), ft(0), o4,
                            np.zeros((3, c), ft), geom_dw, *iparams)
            im2col_rows_fill(x.reshape(-1), np.zeros(9 * 9 * c, ft),
                             np.array([3, 3, c, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1], np.int64), 0, 9,
                             ft(0))
        depthwise_q3(np.zeros((3, 3 * c), odt), np.zeros(9 * c, np.float32),
                     np.zeros(c, np.float32), p4, np.float32(0), np.int64(0), lo, hi, True,
                     np.zeros((3, 3 * c), odt), np.zeros(3 * c, np.float32),
                     np.array([3, c, 1, 1, 1, 1], np.int64))
    thresholds(np.ones(c, np.int64), np.zeros(c, np.int64), np.int64(0), lo, hi,
               np.zeros(c, np.int64), np.zeros(c, np.int64))
    return time.perf_counter() - t0
