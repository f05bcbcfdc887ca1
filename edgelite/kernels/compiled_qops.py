"""Compiled-tier (numba) kernels for integer non-convolution ops, bit-identical to the
numpy tier's integer arithmetic (they compute the same int64 expressions, element by
element instead of array by array).

- `softmax_q8`: 8-bit SOFTMAX over [rows, n] (n <= 4095, so a row's Q12.19 exp sum
  is below 2^31): per row the max, the exp sum from the accumulation table, the
  reciprocal (`_reciprocal`, fixedpoint.get_reciprocal_positive's closed-form
  gemmlowp arithmetic) and each output from the exp table; one pass over the row
  where the numpy tier makes a dozen.
- `sum_lookup`: 8-bit MEAN/SUM (quant/reduce.py's table of the op over every sum):
  the sums over a block of reduced axes and the lookups in one pass.
- `pool2x2_q8`: 8-bit MAX_POOL_2D / AVERAGE_POOL_2D over 2x2 windows of stride 2
  without padding in one pass (the average through the numpy tier's sum table).
- `lut1`: unary ops as table lookups (TableUnary: GELU, LOGISTIC, TANH, RSQRT, ...).
- `table_grid`: the lookup table of an 8-bit ADD / SUB / MUL / SQUARED_DIFFERENCE,
  built at prepare (~10x the numpy passes' speed).
- `lut2`: 8-bit binary ops (ADD, SUB, MUL, SQUARED_DIFFERENCE, comparisons, ...):
  out = table[a << 8 | b] over an output collapsed to three dims, each input with its
  own element strides (0 along broadcast dims), so broadcasting costs nothing.

- `hybrid_conv_epilogue`: hybrid CONV_2D's scaling, bias and clamp in one pass.
- `hybrid_fc`: a small hybrid FULLY_CONNECTED (quantize, integer dot, scale, bias,
  clamp) in one call instead of ~10 numpy calls.
- `quantize_rows_sym` / `quantize_rows_asym`: the hybrid kernels' input quantization
  (quant/dynamic.py, LiteRT's SymmetricQuantizeFloats / AsymmetricQuantizeFloats as its
  x86 build behaves) in one pass per row: the same float32 products, float64 zero
  point and C round(); bit-identical to the numpy tier, inf / NaN included.

Imported only through `edgelite.kernels.conv.compiled_tier` (numba is never imported
by `import edgelite` or by models without nodes big enough for the tier). Compiled on
first use (~1 s for both) and cached on disk like compiled.py (`cache=True`).
"""
# ruff: noqa: PLR1730
from __future__ import annotations

import numpy as np

from edgelite.kernels import compiled as _compiled

numba = getattr(_compiled, "numba", None)      # absent when EDGELITE_COMPILED=0

if numba is not None:
    from edgelite.kernels.compiled_quant import _rq  # the scalar Requantizer

    _jit = numba.njit(cache=True, fastmath=False, nogil=True, boundscheck=False,
                      error_model="numpy")

    @_jit
    def _reciprocal(total):
        """GetReciprocal(total, 12) for total in [1, 2^31): (Q0.31 scale, num_bits)."""
        bit_length = 1
        t = total
        for step in (16, 8, 4, 2, 1):
            if t >= np.int64(1) << step:
                t >>= step
                bit_length += step
        half_denominator = total << (31 - bit_length)
        r = ((half_denominator * -1010580540 + (1 << 30)) >> 31) + 1515870810
        for _ in range(3):
            t = (half_denominator * r + (1 << 30)) >> 31
            t = (1 << 29) - t
            t = (t * r + (1 << 30)) >> 31
            r += t * 4
        r = r * 2                   # Rescale<0>(ExactMulByPot<-1>(r))
        if r > 2147483647:
            r = 2147483647
        return r, bit_length - 20

    @_jit
    def softmax_q8(x, e0, acc, out, out_bits, out_min, out_max, fused, idx):
        """x, out [rows, n] (8-bit in; 8- or 16-bit out); e0 [256] exp(-diff) in Q0.31 and
        acc [256] its Q12.19 rescale (both int64, 0 beyond the input radius); idx [n]
        uint64 scratch (row max - x: unsigned, as a signed index costs a negative-index
        check per element). `fused` (row sums below 2^28): the two roundings as one add
        and shift, as in the numpy tier."""
        rows, n = x.shape
        span = out_max - out_min
        for r in range(rows):
            row = x[r]
            m = np.int64(row[0])
            for j in range(1, n):
                v = np.int64(row[j])
                if v > m:
                    m = v
            total = np.int64(0)
            for j in range(n):
                d = np.uint64(m - np.int64(row[j]))
                idx[j] = d
                total += acc[d]
            scale, num_bits = _reciprocal(total)
            exponent = num_bits + 31 - out_bits
            orow = out[r]
            if fused:
                shift = exponent + 31
                bias = (np.int64(1) << 30) + (np.int64(1) << (exponent + 30))
                for j in range(n):
                    v = (scale * e0[idx[j]] + bias) >> shift
                    if v > span:
                        v = span
                    orow[j] = v + out_min
            else:
                half = np.int64(1) << (exponent - 1)
                for j in range(n):
                    p = (scale * e0[idx[j]] + (1 << 30)) >> 31
                    v = (p + half) >> exponent
                    if v > span:
                        v = span
                    orow[j] = v + out_min

    @_jit
    def sum_lookup(x, table, out, acc):
        """out[a, c] = table[sum_k x[a, k, c] mod table.size] (8-bit MEAN/SUM with the
        reduced axes in one block); acc [inner] int32 scratch (|sums| < 2^20)."""
        outer, n, inner = x.shape
        size = table.size
        if inner == 1:
            for a in range(outer):
                row = x[a, :, 0]
                total = np.int64(0)
                for k in range(n):
                    total += row[k]
                out[a, 0] = table[np.uint64(total % size)]
            return
        for a in range(outer):
            for c in range(inner):
                acc[c] = 0
            for k in range(n):
                xk = x[a, k]
                for c in range(inner):
                    acc[c] += xk[c]
            oa = out[a]
            for c in range(inner):
                oa[c] = table[np.uint64(acc[c] % size)]

    @_jit
    def pool2x2_q8(x, out, is_max, lo, hi, table):
        """8-bit MAX_POOL_2D / AVERAGE_POOL_2D, 2x2 windows, stride 2, no padding: x [N,
        H, W, C] -> out [N, OH, OW, C] in one pass. Max: the largest code, clamped to [lo,
        hi]. Average: the window sum s looked up as table[s mod table.size] (the numpy
        tier's one-count table of quant/pool.py: the rounded quotient, clamped)."""
        n, c = x.shape[0], x.shape[3]
        oh, ow = out.shape[1], out.shape[2]
        size = table.size
        for b in range(n):
            for oy in range(oh):
                r0 = x[b, 2 * oy]
                r1 = x[b, 2 * oy + 1]
                orow = out[b, oy]
                for ox in range(ow):
                    a0 = r0[2 * ox]
                    a1 = r0[2 * ox + 1]
                    b0 = r1[2 * ox]
                    b1 = r1[2 * ox + 1]
                    o = orow[ox]
                    for ch in range(c):
                        if is_max:
                            v = max(max(np.int32(a0[ch]), np.int32(a1[ch])),
                                    max(np.int32(b0[ch]), np.int32(b1[ch])))
                            if v < lo:
                                v = lo
                            if v > hi:
                                v = hi
                            o[ch] = v
                        else:
                            s = (np.int64(a0[ch]) + np.int64(a1[ch]) + np.int64(b0[ch])
                                 + np.int64(b1[ch]))
                            o[ch] = table[np.uint64(s % size)]

    @_jit
    def lut1(codes, table, out):
        """out = table[codes] (flat arrays; codes uint8 or uint16 storage views)."""
        for i in range(codes.size):
            out[i] = table[codes[i]]

    @_jit
    def table_grid(x1, x2, op, m, right, zp, lo, hi, out):
        """An 8-bit binary op's lookup table (quant/elementwise.py QuantBinary.table_terms):
        out[i * n2 + j] = clamp(MultiplyByQuantizedMultiplier(raw, m, -right) + zp, lo, hi)
        with raw = x1[i] + x2[j] (op 0), x1[i] * x2[j] (op 1) or
        wrap32(wrap32(x1[i] - x2[j])^2) (op 2), |raw| < 2^31, m > 0, right >= 0: the
        integers of qutil.Requantizer (q + h = (raw * m + 2^30 + h * 2^31) >> 31,
        h = 2^(right - 1); q < 0 iff q + h < h; then >> right), one value at a time
        instead of ~10 int64 passes over the 65536."""
        n1, n2 = x1.shape[0], x2.shape[0]
        h = (np.int64(1) << right) >> 1
        nudge = (np.int64(1) << 30) + (h << 31)
        two31 = np.int64(2147483648)
        mask = np.int64(0xFFFFFFFF)
        for i in range(n1):
            a = x1[i]
            for j in range(n2):
                if op == 0:
                    raw = a + x2[j]
                elif op == 1:
                    raw = a * x2[j]
                else:
                    d = ((a - x2[j] + two31) & mask) - two31
                    raw = ((d * d + two31) & mask) - two31
                out[i * n2 + j] = _rq(raw, m, nudge, h, right, 0, False, zp, lo, hi)

    @_jit
    def lut2(a, b, table, out, d0, d1, d2, a0, a1, a2, b0, b1, b2):
        """out (flat, [d0, d1, d2] row-major) = table[a << 8 | b]; a, b flat uint8 views
        read at i*x0 + j*x1 + k*x2 (element strides; x2 is 1, or 0 where broadcast).
        Rows go through contiguous slices: indexing with a computed (signed) offset
        costs numba's negative-index check per element (2x slower)."""
        o = 0
        for i in range(d0):
            for j in range(d1):
                ia = i * a0 + j * a1
                ib = i * b0 + j * b1
                orow = out[o:o + d2]
                if a2 == 0 and b2 == 0:
                    v = table[(np.int64(a[ia]) << 8) | np.int64(b[ib])]
                    for k in range(d2):
                        orow[k] = v
                elif a2 == 0:
                    base = np.int64(a[ia]) << 8
                    row = table[base:base + 256]
                    bb = b[ib:ib + d2]
                    for k in range(d2):
                        orow[k] = row[bb[k]]
                elif b2 == 0:
                    bv = np.int64(b[ib])
                    aa = a[ia:ia + d2]
                    for k in range(d2):
                        orow[k] = table[(np.int64(aa[k]) << 8) | bv]
                else:
                    aa = a[ia:ia + d2]
                    bb = b[ib:ib + d2]
                    for k in range(d2):
                        orow[k] = table[(np.int64(aa[k]) << 8) | np.int64(bb[k])]
                o += d2


if numba is not None:
    @_jit
    def _round_half_away(v):
        """C round() on a float64."""
        t = np.trunc(v)
        if abs(v - t) >= 0.5:
            t += 1.0 if v > 0 else -1.0
        return t

    @_jit
    def _row_range(x, r):
        """(min, max) of row r (C-contiguous) as np.minimum / np.maximum.reduce: NaN
        when the row holds a NaN. Integer reductions over the float32 bits, which
        vectorize (a float compare-and-select chain does not: ~4x slower): the key
        i ^ ((i >> 31) & 0x7FFFFFFF) orders the bit patterns of non-NaN floats as their
        values (-0.0 before +0.0, which np.minimum may order either way; every caller
        maps both zeros to the same result), and |bits| > 0x7F800000 is a NaN."""
        xi = x[r].view(np.int32)
        low = np.int32(0x7FFFFFFF)
        kmin = low
        kmax = np.int32(-0x80000000)
        amax = np.int32(0)
        for j in range(xi.shape[0]):
            i = xi[j]
            key = i ^ ((i >> np.int32(31)) & low)
            kmin = min(kmin, key)
            kmax = max(kmax, key)
            amax = max(amax, i & low)
        if amax > np.int32(0x7F800000):
            nan = np.float32(np.nan)
            return nan, nan
        bits = np.empty(2, np.int32)
        bits[0] = kmin ^ ((kmin >> np.int32(31)) & low)      # the key is its own inverse
        bits[1] = kmax ^ ((kmax >> np.int32(31)) & low)
        f = bits.view(np.float32)
        return f[0], f[1]

    @_jit
    def _store_rounded(x, r, inv, off, lo, hi, q):
        for j in range(x.shape[1]):
            w = np.float64(x[r, j] * inv)                 # the float32 product, widened
            w = np.trunc(w + (0.5 if w >= 0 else -0.5)) + off
            if w < lo:
                w = lo
            if w > hi:
                w = hi
            q[r, j] = np.float32(w)

    @_jit
    def quantize_rows_sym(x, q, sf):
        """dynamic.symmetric_rows into q [B, K] float32 and sf [B] (K >= 1)."""
        f127 = np.float32(127.0)
        for r in range(x.shape[0]):
            mn, mx = _row_range(x, r)
            a, c = abs(mn), abs(mx)
            rng = a if not a <= c else c
            if rng == 0:
                sf[r] = np.float32(1.0)
                for j in range(x.shape[1]):
                    q[r, j] = np.float32(0.0)
                continue
            sf[r] = rng / f127
            _store_rounded(x, r, f127 / rng, 0.0, -127.0, 127.0, q)

    @_jit
    def quantize_rows_asym(x, q, sf, offset, centered):
        """dynamic.asymmetric_rows into q [B, K] float32, sf [B], offset int64 [B] (K >= 1);
        centered: dynamic.asymmetric_rows_centered (q - offset: round(v) clamped to
        [-128 - offset, 127 - offset], the offset never added)."""
        zero = np.float32(0.0)
        f255 = np.float32(255.0)
        for r in range(x.shape[0]):
            mn, mx = _row_range(x, r)
            rmin = mn if not mn >= zero else zero
            rmax = mx if not mx <= zero else zero
            if rmin == rmax:
                sf[r] = np.float32(1.0)
                offset[r] = 0
                for j in range(x.shape[1]):
                    q[r, j] = zero
                continue
            s32 = (rmax - rmin) / f255
            sf[r] = s32
            lo, hi = np.float64(rmin), np.float64(rmax)
            scale = (hi - lo) / 255.0
            zp_min = -128.0 - lo / scale
            zp_max = 127.0 - hi / scale
            zpd = zp_min if 128.0 + abs(lo / scale) < 127.0 + abs(hi / scale) else zp_max
            if zpd <= -128.0:
                off = np.int64(-128)
            elif zpd >= 127.0:
                off = np.int64(127)
            elif zpd == zpd:              # noqa: PLR0124
                off = np.int64(_round_half_away(zpd))
            else:                         # inf / NaN input: numpy's cast of NaN on x86
                off = np.int64(-9223372036854775808)
            offset[r] = off
            if centered:
                o = np.float64(off)
                _store_rounded(x, r, np.float32(1.0) / s32, 0.0, -128.0 - o, 127.0 - o, q)
            else:
                _store_rounded(x, r, np.float32(1.0) / s32, np.float64(off), -128.0, 127.0, q)


    @_jit
    def hybrid_conv_epilogue(y, pcs, sf, scale, per_channel, bias, has_bias, lo, hi):
        """quant/hybrid.py HybridConv2D's float steps after its GEMM, in place over
        y [B, R, C] float32 (the exact integer sums), each in its numpy type and order:
        y * pcs[c] * sf[b] (per-channel) or y * (sf[b] * scale), + bias[c], then the
        clamp (NaN passes through, as np.maximum / np.clip)."""
        nb, rows, c = y.shape
        for b in range(nb):
            f = sf[b] if per_channel else sf[b] * scale
            for r in range(rows):
                yr = y[b, r]
                for k in range(c):
                    v = yr[k]
                    if per_channel:
                        v = v * pcs[k]
                    v = v * f
                    if has_bias:
                        v = v + bias[k]
                    if v < lo:
                        v = lo
                    if v > hi:
                        v = hi
                    yr[k] = v

    @_jit
    def hybrid_fc(x, q, sf, off, w, row_sums, ws, bias, lo, hi, asym, out, qi):
        """Hybrid FULLY_CONNECTED in one call (quant/hybrid.py's numpy path, value for
        value): x [B, K] float32; q [B, K], sf [B], off [B] scratch; w [U, K] int8;
        row_sums [U] float64; ws [U] float32 weight scales (a per-tensor scale
        repeated); bias [U] float32 (zeros when none); the clamp [lo, hi] (+-inf when
        none); out [B, U]; qi [K] int32 scratch. out = bias + float32(acc - row_sum *
        offset) * (sf * ws), the accumulator exact in int64 (|q * w| <= 2^14 per term),
        each float operation in its numpy type."""
        b_rows, k = x.shape
        units = w.shape[0]
        nonzero = False
        for r in range(b_rows):
            for j in range(k):
                if x[r, j] != 0.0:
                    nonzero = True
                    break
            if nonzero:
                break
        if nonzero:
            if asym:
                quantize_rows_asym(x, q, sf, off, False)
            else:
                quantize_rows_sym(x, q, sf)
        for r in range(b_rows):
            if nonzero:
                for j in range(k):
                    qi[j] = np.int32(q[r, j])
            for u in range(units):
                v = bias[u]
                if nonzero:
                    acc = np.int64(0)
                    wu = w[u]
                    for j in range(k):
                        acc += np.int64(qi[j] * np.int32(wu[j]))
                    d = np.float64(acc)
                    if asym:
                        d -= row_sums[u] * np.float64(off[r])
                    v = v + np.float32(d) * np.float32(sf[r] * ws[u])
                if v < lo:
                    v = lo
                if v > hi:
                    v = hi
                out[r, u] = v


def grid_table(x1, x2, op: int, m: int, shift: int, zp: int, lo: int, hi: int,
               out: np.ndarray) -> bool:
    """table_grid into out when its integers apply (m > 0, no left shift: the
    Requantizer's shifted form); False, out untouched, otherwise (the caller's numpy
    passes run). x1, x2: int64 terms; shift: the multiplier's exponent (<= 0)."""
    if not (m > 0 and shift <= 0):
        return False
    table_grid(np.asarray(x1, np.int64), np.asarray(x2, np.int64), op, np.int64(m),
               np.int64(-shift), np.int64(zp), np.int64(lo), np.int64(hi), out)
    return True


def warm_up() -> float:
    """Compile (or load from the cache) the kernels for the dtypes models use."""
    if numba is None:
        return 0.0
    import time
    t0 = time.perf_counter()
    e = np.zeros(256, np.int64)
    idx = np.zeros(2, np.uint64)
    for fused in (True, False):
        for dt in (np.int8, np.uint8):
            x = np.zeros((1, 2), dt)
            softmax_q8(x, e + 1, e + (1 << 19), np.zeros((1, 2), dt), 8, -128, 127, fused, idx)
        softmax_q8(np.zeros((1, 2), np.int8), e + 1, e + (1 << 19),
                   np.zeros((1, 2), np.int16), 16, -32768, 32767, fused, idx)
    for dt in (np.int8, np.uint8):
        sum_lookup(np.zeros((1, 2, 3), dt), np.zeros(65536, dt), np.zeros((1, 3), dt),
                   np.zeros(3, np.int32))
    z = np.zeros((1, 2), np.float32)
    quantize_rows_sym(z, np.empty_like(z), np.empty(1, np.float32))
    for centered in (False, True):
        quantize_rows_asym(z, np.empty_like(z), np.empty(1, np.float32), np.empty(1, np.int64),
                           centered)
    f1 = np.zeros(1, np.float32)
    for pc in (False, True):
        hybrid_conv_epilogue(np.zeros((1, 1, 1), np.float32), f1, f1, np.float32(1), pc, f1,
                             pc, np.float32(-np.inf), np.float32(np.inf))
    for asym in (False, True):
        hybrid_fc(z, np.empty_like(z), np.empty(1, np.float32), np.empty(1, np.int64),
                  np.zeros((1, 2), np.int8), np.zeros(1), f1, f1, np.float32(-np.inf),
                  np.float32(np.inf), asym, np.zeros((1, 1), np.float32),
                  np.zeros(2, np.int32))
    t8 = np.zeros(2, np.int64)
    for dt in (np.int8, np.uint8):
        for op in (0, 1, 2):
            table_grid(t8, t8, op, np.int64(1 << 30), np.int64(1), np.int64(0), np.int64(-128),
                       np.int64(127), np.zeros(4, dt))
    for dt in (np.int8, np.uint8):
        for is_max in (True, False):
            pool2x2_q8(np.zeros((1, 2, 2, 1), dt), np.zeros((1, 1, 1, 1), dt), is_max,
                       np.int32(-128), np.int32(127), np.zeros(65536, dt))
    u = np.zeros(4, np.uint8)
    for dt in (np.int8, np.uint8, np.int16):
        lut1(u, np.zeros(256, dt), np.zeros(4, dt))
        lut1(u.astype(np.uint16), np.zeros(65536, dt), np.zeros(4, dt))
    for dt in (np.int8, np.uint8, np.bool_):
        lut2(u, u, np.zeros(65536, dt), np.zeros(4, dt), 1, 1, 4, 0, 0, 1, 0, 0, 1)
    return time.perf_counter() - t0
