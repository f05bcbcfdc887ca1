"""Compiled-tier integer GEMM (int8 x int8 -> int32) on AVX-512 VNNI, requantization fused.

Imported only through the tier gate (`quant/conv.py` after `conv.compiled_tier`
said yes), like compiled_quant.py; same rules: `cache=True`, `fastmath=False`,
serial kernels, `nogil`.

Why not plain numba loops: LLVM does not turn a numba integer GEMM into
vpdpbusd / vpmaddwd (the outer-product form became vpmulld or one vpmaddwd per
product with half its lanes zero, and ymm only). So the micro-kernel is
written in LLVM IR through `numba.extending.intrinsic`: `_make_mk(R, T)`
emits a loop over the K/4 "quads" keeping R x T accumulators of
<16 x i32> in registers (R rows, T blocks of 16 output channels), one
`llvm.x86.avx512.vpdpbusd.512` per accumulator and quad, then stores the tile.

Arithmetic (exact, as LiteRT's int32 accumulators): vpdpbusd multiplies
unsigned bytes by signed bytes and adds groups of four products to int32
lanes, without saturation. The int8 activation x is made unsigned by flipping
its sign bit (the byte x ^ 0x80 is x + 128), so a lane accumulates
sum (x + 128) * w, |.| <= K * 255 * 128 < 2^31 for K <= 65793 (checked at
prepare); the kernels add `corr = bias - (zi + 128) * sum(w)` per channel in
float64 (exact), which gives the reference accumulator sum (x - zi) * w + bias.
Weights are packed at prepare as [ceil(N/16), ceil(K/4), 16, 4] int8 (zero
padding: the padded products are 0, so what the kernel reads in the padding
of a row does not matter, as long as it is readable memory).

Kernels:
- `gemm_rq`: out [M, N] int8 = the compiled tier's float64 requantization
  (`compiled_quant._rqf`, the same plan as requant_rows) of x [M, K] (rows
  `ldx` bytes apart, >= 4 * ceil(K/4) readable bytes per row) against the packed
  weights; rows four at a time (the last tile repeats the last row), one
  [4, N] int32 tile buffer (L1), each output written once.
- `gemm_rq_int`: the same with the int64 requantization (`compiled_quant._rq`).
- `conv_rq` / `conv_rq_int`: im2col band by band into an int8 column buffer
  (`compiled._im2col`), then the GEMM above.
- `gemm_fc`: FULLY_CONNECTED's reference rounding (round half away from zero
  of double(acc) * scale); single rows use one-row tiles.

Enabled only when the host has AVX-512 VNNI (llvmlite's host features) and
numba compiles for the host CPU (no NUMBA_CPU_NAME / NUMBA_CPU_FEATURES
override): the intrinsic would not compile elsewhere, and the cache is keyed
on the CPU. Elsewhere `ENABLED` is False and quant/conv.py keeps its float
GEMM path.
"""
# ruff: noqa: PLR1730
from __future__ import annotations

import numpy as np

from edgelite.kernels import compiled as _compiled

# K bound of the int32 lanes: K * 255 * 128 < 2^31
MAX_K = 65793


def _host_has_vnni() -> bool:
    if not _compiled.ENABLED:
        return False
    try:
        import llvmlite.binding as llvm
        from numba.core import config
        if config.CPU_NAME or config.CPU_FEATURES:
            return False
        feats = llvm.get_host_cpu_features()
        return all(feats.get(f, False) for f in ("avx512f", "avx512bw", "avx512vnni"))
    except (ImportError, AttributeError, RuntimeError, OSError):   # cannot tell: float path
        return False


ENABLED = _host_has_vnni()

if ENABLED:
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    from edgelite.kernels import compiled_quant as _cq

    numba = _compiled.numba
    _jit = numba.njit(cache=True, fastmath=False, nogil=True, boundscheck=False,
                      error_model="numpy")
    _jit_inline = numba.njit(cache=True, fastmath=False, nogil=True, boundscheck=False,
                             error_model="numpy", inline="always")
    _rqf = _cq._rqf
    _rq = _cq._rq
    _im2col = _compiled._im2col

    _I32 = ir.IntType(32)
    _I64 = ir.IntType(64)
    _V16 = ir.VectorType(_I32, 16)

    def _make_mk(R, T):
        """The R x T micro-kernel: mk(xs, w, kq, wstride, acc, ldacc), all int64
        addresses / byte counts: xs a tuple of R row addresses, w the first block's
        quad 0 (blocks wstride bytes apart, each kq quads of 64 bytes), acc the tile's
        first int32 (rows ldacc bytes apart, T * 16 lanes each). kq >= 1."""
        @intrinsic
        def mk(typingctx, xs, w, kq, wstride, acc, ldacc):
            sig = types.void(xs, w, kq, wstride, acc, ldacc)

            def codegen(context, builder, signature, args):
                xs_v, w_v, kq_v, ws_v, acc_v, ld_v = args
                mod = builder.module
                name = "llvm.x86.avx512.vpdpbusd.512"
                dp = mod.globals.get(name)
                if dp is None:
                    dp = ir.Function(mod, ir.FunctionType(_V16, [_V16, _V16, _V16]), name)
                xptrs = [builder.extract_value(xs_v, r) for r in range(R)]
                wptrs = [builder.add(w_v, builder.mul(ws_v, ir.Constant(_I64, t)))
                         for t in range(T)]
                pre = builder.block
                loop = builder.append_basic_block("vnni_loop")
                done = builder.append_basic_block("vnni_done")
                builder.branch(loop)
                builder.position_at_end(loop)
                q = builder.phi(_I64)
                q.add_incoming(ir.Constant(_I64, 0), pre)
                zero = ir.Constant(_V16, None)
                accs = [[builder.phi(_V16) for _ in range(T)] for _ in range(R)]
                for row in accs:
                    for a in row:
                        a.add_incoming(zero, pre)
                woff = builder.mul(q, ir.Constant(_I64, 64))
                wv = [builder.load(builder.inttoptr(builder.add(wp, woff), _V16.as_pointer()),
                                   align=1) for wp in wptrs]
                xoff = builder.mul(q, ir.Constant(_I64, 4))
                undef = ir.Constant(_V16, ir.Undefined)
                bcast = ir.Constant(_V16, [0] * 16)
                flip = ir.Constant(_I32, -0x7F7F7F80)          # 0x80808080 as int32
                new = []
                for r in range(R):
                    d = builder.load(builder.inttoptr(builder.add(xptrs[r], xoff),
                                                      _I32.as_pointer()), align=1)
                    d = builder.xor(d, flip)
                    v = builder.shuffle_vector(
                        builder.insert_element(undef, d, ir.Constant(_I32, 0)), undef, bcast)
                    new.append([builder.call(dp, [accs[r][t], v, wv[t]]) for t in range(T)])
                q1 = builder.add(q, ir.Constant(_I64, 1))
                end = builder.block
                q.add_incoming(q1, end)
                for r in range(R):
                    for t in range(T):
                        accs[r][t].add_incoming(new[r][t], end)
                builder.cbranch(builder.icmp_signed("<", q1, kq_v), loop, done)
                builder.position_at_end(done)
                for r in range(R):
                    for t in range(T):
                        a = builder.add(acc_v, builder.add(
                            builder.mul(ld_v, ir.Constant(_I64, r)), ir.Constant(_I64, 64 * t)))
                        builder.store(new[r][t], builder.inttoptr(a, _V16.as_pointer()),
                                      align=1)
                return context.get_dummy_value()
            return sig, codegen
        return mk

    _mk41, _mk42, _mk43, _mk44 = (_make_mk(4, t) for t in (1, 2, 3, 4))
    _mk11, _mk12, _mk13, _mk14 = (_make_mk(1, t) for t in (1, 2, 3, 4))

    @_jit_inline
    def _tile4(xa, ldx, m, last, wa, kq, nb, aa, lda):
        """acc rows 0..3 (lda bytes apart) = x rows m..m+3 (rows past `last` repeat it)
        times every weight block."""
        m1 = min(m + 1, last)
        m2 = min(m + 2, last)
        m3 = min(m + 3, last)
        xs = (xa + m * ldx, xa + m1 * ldx, xa + m2 * ldx, xa + m3 * ldx)
        wsb = kq * 64
        b = 0
        while b + 4 <= nb:
            _mk44(xs, wa + b * wsb, kq, wsb, aa + b * 64, lda)
            b += 4
        r = nb - b
        if r == 3:
            _mk43(xs, wa + b * wsb, kq, wsb, aa + b * 64, lda)
        elif r == 2:
            _mk42(xs, wa + b * wsb, kq, wsb, aa + b * 64, lda)
        elif r == 1:
            _mk41(xs, wa + b * wsb, kq, wsb, aa + b * 64, lda)

    @_jit_inline
    def _tile1(xrow, wa, kq, nb, aa):
        xs = (xrow,)
        wsb = kq * 64
        b = 0
        while b + 4 <= nb:
            _mk14(xs, wa + b * wsb, kq, wsb, aa + b * 64, 0)
            b += 4
        r = nb - b
        if r == 3:
            _mk13(xs, wa + b * wsb, kq, wsb, aa + b * 64, 0)
        elif r == 2:
            _mk12(xs, wa + b * wsb, kq, wsb, aa + b * 64, 0)
        elif r == 1:
            _mk11(xs, wa + b * wsb, kq, wsb, aa + b * 64, 0)

    @_jit_inline
    def _rows_rq(x, ldx, m0, rows, kq, wpk, p, zp, lo, hi, need, out, o0, acc):
        """out rows o0.. = requantized GEMM of x rows m0 .. m0 + rows (see gemm_rq)."""
        n = out.shape[1]
        npad = acc.shape[1]
        nb = npad // 16
        xa = np.int64(x.ctypes.data)
        wa = np.int64(wpk.ctypes.data)
        aa = np.int64(acc.ctypes.data)
        lda = np.int64(npad * 4)
        pc = p[0:n]
        pm = p[n:2 * n]
        pk = p[2 * n:3 * n]
        pd = p[3 * n:4 * n]
        last = m0 + rows - 1
        for m in range(m0, m0 + rows, 4):
            _tile4(xa, ldx, m, last, wa, kq, nb, aa, lda)
            for i in range(min(4, m0 + rows - m)):
                a = acc[i]
                o = out[o0 + m - m0 + i]
                for k in range(n):
                    o[k] = _rqf(np.float64(a[k]) + pc[k], pm[k], pk[k], pd[k], zp, lo, hi,
                                need)

    @_jit_inline
    def _rows_rq_int(x, ldx, m0, rows, kq, wpk, corr, m_, nudge, half, right, left, any_left,
                     zp, lo, hi, out, o0, acc):
        n = out.shape[1]
        npad = acc.shape[1]
        nb = npad // 16
        xa = np.int64(x.ctypes.data)
        wa = np.int64(wpk.ctypes.data)
        aa = np.int64(acc.ctypes.data)
        lda = np.int64(npad * 4)
        last = m0 + rows - 1
        for m in range(m0, m0 + rows, 4):
            _tile4(xa, ldx, m, last, wa, kq, nb, aa, lda)
            for i in range(min(4, m0 + rows - m)):
                a = acc[i]
                o = out[o0 + m - m0 + i]
                for k in range(n):
                    o[k] = _rq(np.int64(a[k]) + corr[k], m_[k], nudge[k], half[k], right[k],
                               left[k], any_left, zp, lo, hi)

    @_jit
    def gemm_rq(x, ldx, rows, kq, wpk, p, zp, lo, hi, need, out, acc):
        """out [rows, N] int8 = requantized (x [rows, K] int8, flat, rows ldx bytes
        apart) @ W + correction: wpk the packed weights [NB, kq, 64] int8, p float64
        [4 * N] = (bias - (zi + 128) * sum(w), ms, k0, d) as requant_rows, acc int32
        [4, 16 * NB] scratch."""
        _rows_rq(x, ldx, 0, rows, kq, wpk, p, zp, lo, hi, need, out, 0, acc)

    @_jit
    def gemm_rq_int(x, ldx, rows, kq, wpk, corr, m_, nudge, half, right, left, any_left, zp,
                    lo, hi, out, acc):
        """gemm_rq with the int64 requantization; corr int64 [N]."""
        _rows_rq_int(x, ldx, 0, rows, kq, wpk, corr, m_, nudge, half, right, left, any_left,
                     zp, lo, hi, out, 0, acc)

    @_jit
    def conv_rq(xf, geom, fill, col, band, k, kq, wpk, p, zp, lo, hi, need, out, acc):
        """CONV_2D: im2col of the flat int8 NHWC input xf (geom as compiled._im2col, the
        zero point `fill` outside the input) `band` rows at a time into col (int8, flat,
        >= band * k + 4 bytes; rows k bytes apart), then gemm_rq into out [rows, N]."""
        total = out.shape[0]
        for r0 in range(0, total, band):
            rows = min(band, total - r0)
            _im2col(xf, col, geom, r0, rows, fill)
            _rows_rq(col, k, 0, rows, kq, wpk, p, zp, lo, hi, need, out, r0, acc)

    @_jit
    def conv_rq_int(xf, geom, fill, col, band, k, kq, wpk, corr, m_, nudge, half, right, left,
                    any_left, zp, lo, hi, out, acc):
        """conv_rq with the int64 requantization."""
        total = out.shape[0]
        for r0 in range(0, total, band):
            rows = min(band, total - r0)
            _im2col(xf, col, geom, r0, rows, fill)
            _rows_rq_int(col, k, 0, rows, kq, wpk, corr, m_, nudge, half, right, left,
                         any_left, zp, lo, hi, out, r0, acc)

    @_jit
    def gemm_fc(x, ldx, rows, kq, wpk, corr, eff, zo, lo, hi, out, acc):
        """FULLY_CONNECTED: out [rows, U] = clamp(round_half_away((acc + corr) * eff) + zo)
        (compiled_quant.fc_rows' rounding), corr float64 = bias - (zi + 128) * sum(w)."""
        n = out.shape[1]
        npad = acc.shape[1]
        nb = npad // 16
        xa = np.int64(x.ctypes.data)
        wa = np.int64(wpk.ctypes.data)
        aa = np.int64(acc.ctypes.data)
        lda = np.int64(npad * 4)
        h = 0.49999999999999994
        for m in range(0, rows, 4):
            t = min(4, rows - m)
            if t == 4:
                _tile4(xa, ldx, m, rows - 1, wa, kq, nb, aa, lda)
            else:
                for i in range(t):
                    _tile1(xa + (m + i) * ldx, wa, kq, nb, aa + i * lda)
            for i in range(t):
                a = acc[i]
                o = out[m + i]
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


def pack_weights(wq: np.ndarray) -> tuple[np.ndarray, int, int]:
    """wq int [K, N] (values in [-128, 127]) -> (packed int8 [ceil(N/16), ceil(K/4), 64],
    kq = ceil(K/4), npad = 16 * ceil(N/16)): block b, quad q holds w[4q + j, 16b + i] at
    [b, q, 4i + j], zeros past K and N."""
    k, n = wq.shape
    kq = max(1, -(-k // 4))
    npad = 16 * max(1, -(-n // 16))
    wp = np.zeros((4 * kq, npad), np.int8)
    wp[:k, :n] = wq
    return (np.ascontiguousarray(wp.reshape(kq, 4, npad // 16, 16).transpose(2, 0, 3, 1))
            .reshape(npad // 16, kq, 64), kq, npad)


def usable(x_dtype, wq: np.ndarray, k: int) -> bool:
    """Whether the VNNI kernels take this node: int8 activations, weights (zero point
    already subtracted) within int8, K within the int32 lanes' bound."""
    return (ENABLED and np.dtype(x_dtype) == np.dtype(np.int8) and 0 < k <= MAX_K
            and wq.size > 0 and int(wq.min()) >= -128 and int(wq.max()) <= 127)


def correction(corr: np.ndarray, zi: int, w_col_sums: np.ndarray) -> np.ndarray:
    """The kernels' per-channel correction from the float path's (bias - zi * sum(w)):
    the sign-bit flip adds 128 * sum(w) to every accumulator."""
    return np.asarray(corr, np.int64) - 128 * np.asarray(w_col_sums, np.int64)


def warm_up() -> float:
    """Compile (or load from the cache) every kernel signature; returns the seconds."""
    if not ENABLED:
        return 0.0
    import time
    t0 = time.perf_counter()
    n, k = 3, 5
    wpk, kq, npad = pack_weights(np.ones((k, n), np.int64))
    acc = np.zeros((4, npad), np.int32)
    x = np.zeros(4 * 4 * kq + 4, np.int8)
    out = np.zeros((2, n), np.int8)
    p4 = np.zeros(4 * n)
    lo, hi, zp = np.int64(-128), np.int64(127), np.int64(0)
    ip = (np.ones(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64),
          np.zeros(n, np.int64), np.zeros(n, np.int64), False, zp, lo, hi)
    gemm_rq(x, np.int64(k), 2, kq, wpk, p4, zp, lo, hi, True, out, acc)
    gemm_rq_int(x, np.int64(k), 2, kq, wpk, np.zeros(n, np.int64), *ip, out, acc)
    geom = np.array([1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 0, 0], np.int64)
    x2 = np.zeros(2, np.int8)
    w1, kq1, _ = pack_weights(np.ones((1, n), np.int64))
    conv_rq(x2, geom, np.int8(0), x, 2, np.int64(1), kq1, w1, p4, zp, lo, hi, True, out, acc)
    conv_rq_int(x2, geom, np.int8(0), x, 2, np.int64(1), kq1, w1, np.zeros(n, np.int64), *ip,
                out, acc)
    gemm_fc(x, np.int64(k), 2, kq, wpk, np.zeros(n), np.ones(n), 0.0, -128.0, 127.0, out, acc)
    return time.perf_counter() - t0
