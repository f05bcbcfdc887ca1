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
prepare); the epilogue adds `corr = bias - (zi + 128) * sum(w)` per channel,
which gives the reference accumulator sum (x - zi) * w + bias. No float32
exactness limit on K (the float GEMM path needs K <= ~518 for float32).
Weights are packed at prepare as [ceil(N/16), ceil(K/4), 16, 4] int8 (zero
padding: the padded products are 0, so what the kernel reads in the padding
of a row does not matter, as long as it is readable memory).

Requantization epilogues (per 16 channels x 4 rows, one 16-byte store per row:
each output written once), both computing compiled_quant._rqf's
floor(u - d*[u < 1/2]) + zp, u = a*ms + k0, of Requantizer.threshold_plan
exactly, clamped:
- `_make_rqi` (integer, used when every accumulator the node can produce is
  within int32, checked at prepare from max|x - zi| * sum|w| + |bias|): a = acc +
  corr in int32 (wrapping, exact since a fits), t = a*m + nudge in int64
  (vpmuldq), t -= 2^31 where t < 2^(S-1), t >> S, int32 clamp, + zp; ~13
  instructions per 16 outputs, ~0.3 ns an output;
- `_make_rq` (float64 in zmm): correction add, one FMA for a*ms + k0 (both
  steps are exact under the plan's bound, so fusing them changes nothing), the
  negative-side step, the clamp to [lo - zp, hi - zp] before the floor (equal
  to clamping after it; keeps the conversion in range), floor + convert in one
  vcvtpd2dq rounding down, + zp (~15% slower; ~0.6-1.1 ns for the
  auto-vectorized _rqf loop of requant_rows, ymm only).

With the integer epilogue the micro-kernels requantize their 4 x 16T tile in
registers and store int8 directly (`_make_mkq`, the GEMM and direct forms; a
group of blocks holding a last block of fewer than 16 channels is stored to a
scratch tile and copied); the float64 epilogue goes through a [4, N] int32 tile
buffer in L1 and `_epi`.

Kernels:
- `gemm_rq`: out [M, N] int8 = requantized x [M, K] @ W (x rows `ldx` bytes
  apart, >= 4 * ceil(K/4) readable bytes per row); rows four at a time (the last
  tile repeats the last row). `ep` (from `epilogue`) selects and parameterizes
  the epilogue.
- `conv_direct`: CONV_2D with dilation_w 1 and no im2col: output pixels four at a
  time read their windows in place from the node's bordered copy of the input
  (`_make_mkd`: the K quads run through the window rows, KW * C bytes each,
  zero-padded to whole quads in the packed weights, `direct_weights`).
- `gemm_rq_int`: the int64 requantization (`compiled_quant._rq`, scalar loop) for
  plans threshold_plan declines.
- `conv_rq` / `conv_rq_int`: im2col band by band into an int8 column buffer
  (`_im2col8`: compiled._im2col's order, runs moved 8 / 4 bytes at a time), then
  the GEMM above (dilation_w > 1, or plans only the int64 requantization takes).
- `gemm_fc`: FULLY_CONNECTED's reference rounding (round half away from zero
  of double(acc) * scale); single rows use one-row tiles.
- `depthwise3`: 3x3 DEPTHWISE_CONV_2D, multiplier 1, C % 16 == 0, any stride,
  dilation, padding: LLVM-IR taps (`_dw_run` for interior pixels with the nine
  weight vectors in registers, `_dw_px` for border pixels whose taps outside
  the input read a vector of the input zero point), int8 sign-extended to
  int32 lanes, vpdpwssd against weights stored as int16 bits in each lane's
  low half (the high halves multiply to 0); then the epilogue per output row.
Callers bind arguments once and call `entry(fn, args)` (the compiled entry
point; skips the dispatcher's per-call typing).

Compile cost (numba 0.68.1, this 2-vCPU VM while other jobs ran): `warm_up()`
compiles every signature in ~20-40 s without a cache; from the cache, importing
this module takes ~0.8-1.4 s (numba included) and warm_up() ~0.65 s.

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
    _jit, _jit_inline = _cq._jit, _cq._jit_inline     # the same decorators (cache=True, ...)
    _rqf = _cq._rqf
    _rq = _cq._rq

    _I32 = ir.IntType(32)
    _I64 = ir.IntType(64)
    _V16 = ir.VectorType(_I32, 16)

    def _vnni_loop(builder, xptrs, wptrs, nq, seg):
        """Emit the accumulation loop of the micro-kernels; returns the final R x T
        <16 x i32> accumulators. xptrs: R row addresses, wptrs: T weight block
        addresses; nq: the quad count (seg None) or seg = (nseg, qs, segstride): quads in
        nseg segments of qs, segment s of a row at its address + s * segstride."""
        R, T = len(xptrs), len(wptrs)
        mod = builder.module
        name = "llvm.x86.avx512.vpdpbusd.512"
        dp = mod.globals.get(name)
        if dp is None:
            dp = ir.Function(mod, ir.FunctionType(_V16, [_V16, _V16, _V16]), name)
        zero = ir.Constant(_V16, None)
        undef = ir.Constant(_V16, ir.Undefined)
        bcast = ir.Constant(_V16, [0] * 16)
        flip = ir.Constant(_I32, -0x7F7F7F80)          # 0x80808080 as int32
        pre = builder.block
        if seg is not None:
            ns_v, qs_v, sg_v = seg
            outer = builder.append_basic_block("mk_outer")
            builder.branch(outer)
            builder.position_at_end(outer)
            sidx = builder.phi(_I64)
            sidx.add_incoming(ir.Constant(_I64, 0), pre)
            acc_o = [[builder.phi(_V16) for _ in range(T)] for _ in range(R)]
            for row in acc_o:
                for a in row:
                    a.add_incoming(zero, pre)
            segoff = builder.mul(sidx, sg_v)
            wseg = builder.mul(builder.mul(sidx, qs_v), ir.Constant(_I64, 64))
            head, init, count = outer, acc_o, qs_v
        else:
            segoff = ir.Constant(_I64, 0)
            wseg = ir.Constant(_I64, 0)
            head, init, count = pre, [[zero] * T for _ in range(R)], nq
        loop = builder.append_basic_block("mk_loop")
        builder.branch(loop)
        builder.position_at_end(loop)
        q = builder.phi(_I64)
        q.add_incoming(ir.Constant(_I64, 0), head)
        acc_i = [[builder.phi(_V16) for _ in range(T)] for _ in range(R)]
        for r in range(R):
            for t in range(T):
                acc_i[r][t].add_incoming(init[r][t], head)
        woff = builder.add(wseg, builder.mul(q, ir.Constant(_I64, 64)))
        wv = [builder.load(builder.inttoptr(builder.add(wp, woff), _V16.as_pointer()), align=1)
              for wp in wptrs]
        xoff = builder.add(segoff, builder.mul(q, ir.Constant(_I64, 4)))
        new = []
        for r in range(R):
            d = builder.load(builder.inttoptr(builder.add(xptrs[r], xoff), _I32.as_pointer()),
                             align=1)
            d = builder.xor(d, flip)
            v = builder.shuffle_vector(builder.insert_element(undef, d, ir.Constant(_I32, 0)),
                                       undef, bcast)
            new.append([builder.call(dp, [acc_i[r][t], v, wv[t]]) for t in range(T)])
        q1 = builder.add(q, ir.Constant(_I64, 1))
        q.add_incoming(q1, builder.block)
        for r in range(R):
            for t in range(T):
                acc_i[r][t].add_incoming(new[r][t], builder.block)
        after = builder.append_basic_block("mk_after")
        builder.cbranch(builder.icmp_signed("<", q1, count), loop, after)
        builder.position_at_end(after)
        if seg is not None:
            s1 = builder.add(sidx, ir.Constant(_I64, 1))
            sidx.add_incoming(s1, after)
            for r in range(R):
                for t in range(T):
                    acc_o[r][t].add_incoming(new[r][t], after)
            done = builder.append_basic_block("mk_done")
            builder.cbranch(builder.icmp_signed("<", s1, ns_v), outer, done)
            builder.position_at_end(done)
        return new

    def _store_tile(builder, new, acc_v, ld_v):
        for r, row in enumerate(new):
            for t, v in enumerate(row):
                a = builder.add(acc_v, builder.add(builder.mul(ld_v, ir.Constant(_I64, r)),
                                                   ir.Constant(_I64, 64 * t)))
                builder.store(v, builder.inttoptr(a, _V16.as_pointer()), align=1)

    def _rq_tile(builder, new, outs_v, steps_v, p_v, ps_v, lo_v, hi_v, zp_v, need):
        """Requantize the tile in registers (the integer epilogue) and store it: row r,
        block t at outs[r] + t * steps[r]; block t's parameters at p + 64 * t."""
        for t in range(len(new[0])):
            st = _rqi_setup(builder, builder.add(p_v, ir.Constant(_I64, 64 * t)), ps_v, lo_v,
                            hi_v, zp_v, need)
            for r in range(len(new)):
                b = _rqi_apply(builder, new[r][t], st)
                o = builder.add(builder.extract_value(outs_v, r),
                                builder.mul(builder.extract_value(steps_v, r),
                                            ir.Constant(_I64, t)))
                builder.store(b, builder.inttoptr(o, _V16B.as_pointer()), align=1)

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
                xptrs = [builder.extract_value(xs_v, r) for r in range(R)]
                wptrs = [builder.add(w_v, builder.mul(ws_v, ir.Constant(_I64, t)))
                         for t in range(T)]
                _store_tile(builder, _vnni_loop(builder, xptrs, wptrs, kq_v, None), acc_v,
                            ld_v)
                return context.get_dummy_value()
            return sig, codegen
        return mk

    def _make_mkd(R, T):
        """The direct-convolution micro-kernel: as _make_mk, with the K quads split into
        nseg segments (a window's rows) of qs quads each: row r reads segment s at
        xs[r] + s * segstride (quads 4 bytes apart within it), the weights' quads run on
        through the segments. mkd(xs, w, nseg, qs, segstride, wstride, acc, ldacc);
        nseg, qs >= 1."""
        @intrinsic
        def mkd(typingctx, xs, w, nseg, qs, segstride, wstride, acc, ldacc):
            sig = types.void(xs, w, nseg, qs, segstride, wstride, acc, ldacc)

            def codegen(context, builder, signature, args):
                xs_v, w_v, ns_v, qs_v, sg_v, ws_v, acc_v, ld_v = args
                xptrs = [builder.extract_value(xs_v, r) for r in range(R)]
                wptrs = [builder.add(w_v, builder.mul(ws_v, ir.Constant(_I64, t)))
                         for t in range(T)]
                _store_tile(builder, _vnni_loop(builder, xptrs, wptrs, None,
                                                (ns_v, qs_v, sg_v)), acc_v, ld_v)
                return context.get_dummy_value()
            return sig, codegen
        return mkd

    def _make_mkq(T, need, direct):
        """4 x T micro-kernel (plain or direct) with the integer epilogue fused: the
        tile is requantized in registers and stored as int8 (no acc round trip).
        mkq(xs, w, kq | (nseg, qs, segstride), wstride, outs, steps, p, ps, lo32, hi32,
        zp32): outs / steps 4-tuples (row r, block t at outs[r] + t * steps[r]), p the
        first block's parameters (int_plan rows, ps bytes apart; 64 bytes per block)."""
        @intrinsic
        def mkq(typingctx, xs, w, kq, wstride, outs, steps, p, ps, lo32, hi32, zp):
            sig = types.void(xs, w, kq, wstride, outs, steps, p, ps, lo32, hi32, zp)

            def codegen(context, builder, signature, args):
                xs_v, w_v, kq_v, ws_v, outs_v, steps_v, p_v, ps_v, lo_v, hi_v, zp_v = args
                xptrs = [builder.extract_value(xs_v, r) for r in range(4)]
                wptrs = [builder.add(w_v, builder.mul(ws_v, ir.Constant(_I64, t)))
                         for t in range(T)]
                if direct:
                    seg = tuple(builder.extract_value(kq_v, i) for i in range(3))
                    new = _vnni_loop(builder, xptrs, wptrs, None, seg)
                else:
                    new = _vnni_loop(builder, xptrs, wptrs, kq_v, None)
                _rq_tile(builder, new, outs_v, steps_v, p_v, ps_v, lo_v, hi_v, zp_v, need)
                return context.get_dummy_value()
            return sig, codegen
        return mkq

    _mk41, _mk42, _mk43, _mk44 = (_make_mk(4, t) for t in (1, 2, 3, 4))

    _mkd41, _mkd42, _mkd43, _mkd44 = (_make_mkd(4, t) for t in (1, 2, 3, 4))

    _F64 = ir.DoubleType()
    _V8D = ir.VectorType(_F64, 8)
    _V8I = ir.VectorType(_I32, 8)
    _V16B = ir.VectorType(ir.IntType(8), 16)

    def _make_rq(need):
        """The requantization of a [4, 16] int32 tile (compiled_quant._rqf, vectorized):
        rq(acc, lda, p, pstride, outs, lo_f, hi_f, zp): acc the tile's first lane (rows
        lda bytes apart), p the block's first correction (float64; ms, k0, d follow
        pstride bytes apart each), outs a tuple of 4 row addresses (16 int8 each),
        lo_f = lo - zp and hi_f = hi - zp as float64, zp int32.
        Per lane, in float64: a = acc + corr (exact integers), u = fma(a, ms, k0) (a * ms
        and a * ms + k0 are exact by the plan's bound, so the fused and the separate
        forms agree), u -= d where u < 1/2 (when `need`), u clamped to [lo_f, hi_f]
        (integers, so clamping before the floor equals clamping after it; it also keeps
        the conversion in range), floor and convert in one vcvtpd2dq rounding down, + zp."""
        @intrinsic
        def rq(typingctx, acc, lda, p, pstride, outs, lo_f, hi_f, zp):
            sig = types.void(acc, lda, p, pstride, outs, lo_f, hi_f, zp)

            def codegen(context, builder, signature, args):
                acc_v, ld_v, p_v, ps_v, outs_v, lo_v, hi_v, zp_v = args
                mod = builder.module

                def fn(name, ret, argtys):
                    f = mod.globals.get(name)
                    if f is None:
                        f = ir.Function(mod, ir.FunctionType(ret, argtys), name)
                    return f
                fma = fn("llvm.fma.v8f64", _V8D, [_V8D, _V8D, _V8D])
                cvt = fn("llvm.x86.avx512.mask.cvtpd2dq.512", _V8I,
                         [_V8D, _V8I, ir.IntType(8), _I32])

                def splat(v, ty, n):
                    u = ir.Constant(ty, ir.Undefined)
                    u = builder.insert_element(u, v, ir.Constant(_I32, 0))
                    return builder.shuffle_vector(u, ir.Constant(ty, ir.Undefined),
                                                  ir.Constant(ir.VectorType(_I32, n), [0] * n))

                def load(addr, ty):
                    return builder.load(builder.inttoptr(addr, ty.as_pointer()), align=1)
                params = []
                for h in range(2):
                    row = []
                    for i in range(4 if need else 3):
                        a = builder.add(p_v, builder.add(builder.mul(ps_v, ir.Constant(_I64, i)),
                                                         ir.Constant(_I64, 64 * h)))
                        row.append(load(a, _V8D))
                    params.append(row)
                lo8 = splat(lo_v, _V8D, 8)
                hi8 = splat(hi_v, _V8D, 8)
                zp16 = splat(zp_v, _V16, 16)
                half = ir.Constant(_V8D, [0.5] * 8)
                passthru = ir.Constant(_V8I, None)
                allm = ir.Constant(ir.IntType(8), -1)
                down = ir.Constant(_I32, 9)          # round toward -inf, no exceptions
                lo_idx = ir.Constant(ir.VectorType(_I32, 8), list(range(8)))
                hi_idx = ir.Constant(ir.VectorType(_I32, 8), list(range(8, 16)))
                cat = ir.Constant(ir.VectorType(_I32, 16), list(range(16)))
                for r in range(4):
                    a = load(builder.add(acc_v, builder.mul(ld_v, ir.Constant(_I64, r))), _V16)
                    parts = []
                    for h, idx in ((0, lo_idx), (1, hi_idx)):
                        pr = params[h]
                        ah = builder.shuffle_vector(a, a, idx)
                        af = builder.fadd(builder.sitofp(ah, _V8D), pr[0])
                        u = builder.call(fma, [af, pr[1], pr[2]])
                        if need:
                            below = builder.fcmp_ordered("<", u, half)
                            u = builder.select(below, builder.fsub(u, pr[3]), u)
                        u = builder.select(builder.fcmp_ordered("<", u, lo8), lo8, u)
                        u = builder.select(builder.fcmp_ordered(">", u, hi8), hi8, u)
                        parts.append(builder.call(cvt, [u, passthru, allm, down]))
                    r16 = builder.add(builder.shuffle_vector(parts[0], parts[1], cat), zp16)
                    b = builder.trunc(r16, _V16B)
                    o = builder.extract_value(outs_v, r)
                    builder.store(b, builder.inttoptr(o, _V16B.as_pointer()), align=1)
                return context.get_dummy_value()
            return sig, codegen
        return rq

    _rq_need, _rq_plain = _make_rq(True), _make_rq(False)

    _V8Q = ir.VectorType(_I64, 8)

    def _rqi_setup(builder, p_v, ps_v, lo_v, hi_v, zp_v, need):
        """Load one block's integer-epilogue parameters (see _make_rqi) and splat the
        bounds: returns the state _rqi_apply takes."""
        def splat(v, n):
            ty = ir.VectorType(_I32, n)
            u = builder.insert_element(ir.Constant(ty, ir.Undefined), v, ir.Constant(_I32, 0))
            return builder.shuffle_vector(u, ir.Constant(ty, ir.Undefined),
                                          ir.Constant(ir.VectorType(_I32, n), [0] * n))

        def load(i, ty):
            a = builder.add(p_v, builder.mul(ps_v, ir.Constant(_I64, i)))
            return builder.load(builder.inttoptr(a, ty.as_pointer()), align=1)
        nrows = 5 if need else 3
        par = [[load(1 + 2 * j + h, _V8Q) for j in range(nrows)] for h in range(2)]
        return (load(0, _V16), par, splat(lo_v, 16), splat(hi_v, 16), splat(zp_v, 16), need)

    def _rqi_apply(builder, a, st):
        """<16 x i32> accumulators -> <16 x i8> outputs (the integer epilogue)."""
        corr, par, lo16, hi16, zp16, need = st
        c32 = ir.Constant(_V8Q, [32] * 8)
        low = ir.Constant(_V8Q, [0xFFFFFFFF] * 8)

        def sext_low(v):                # the low dword, sign-extended (vpmuldq)
            return builder.ashr(builder.shl(v, c32), c32)
        a = builder.bitcast(builder.add(a, corr), _V8Q)
        halves = []
        for h, x in ((0, a), (1, builder.lshr(a, c32))):
            pr = par[h]
            t = builder.add(builder.mul(sext_low(x), sext_low(pr[0])), pr[1])
            if need:
                below = builder.icmp_signed("<", t, pr[3])
                t = builder.select(below, builder.sub(t, pr[4]), t)
            halves.append(builder.ashr(t, pr[2]))
        m = builder.or_(builder.and_(halves[0], low), builder.shl(halves[1], c32))
        v = builder.bitcast(m, _V16)
        v = builder.select(builder.icmp_signed("<", v, lo16), lo16, v)
        v = builder.select(builder.icmp_signed(">", v, hi16), hi16, v)
        return builder.trunc(builder.add(v, zp16), _V16B)

    def _make_rqi(need):
        """The integer form of _make_rq's epilogue (same results, fewer instructions):
        rqi(acc, lda, p, pstride, outs, lo32, hi32, zp32) with p the block's first int64
        of the parameter rows of `int_plan` (pstride bytes apart): row 0 the correction
        as int32 lanes, then pairs (even channels, odd channels) of m, c = nudge,
        S = 31 + right, and (when `need`) 2^(S-1) and the step 2^(S-e) (0 without a
        right shift). Per lane: a = acc + corr in int32 (the true accumulator is within
        int32: checked at prepare, so the wrapping add is exact), t = a * m + c in int64
        (vpmuldq; |t| < 2^63), t -= step where t < 2^(S-1) (u < 1/2 of the float form),
        r = t >> S (floor), clamped to [lo - zp, hi - zp], + zp: floor(u - d*[u < 1/2])
        of compiled_quant._rqf computed exactly."""
        @intrinsic
        def rqi(typingctx, acc, lda, p, pstride, outs, lo32, hi32, zp):
            sig = types.void(acc, lda, p, pstride, outs, lo32, hi32, zp)

            def codegen(context, builder, signature, args):
                acc_v, ld_v, p_v, ps_v, outs_v, lo_v, hi_v, zp_v = args
                st = _rqi_setup(builder, p_v, ps_v, lo_v, hi_v, zp_v, need)
                for r in range(4):
                    a = builder.load(builder.inttoptr(
                        builder.add(acc_v, builder.mul(ld_v, ir.Constant(_I64, r))),
                        _V16.as_pointer()), align=1)
                    b = _rqi_apply(builder, a, st)
                    o = builder.extract_value(outs_v, r)
                    builder.store(b, builder.inttoptr(o, _V16B.as_pointer()), align=1)
                return context.get_dummy_value()
            return sig, codegen
        return rqi

    _rqi_need, _rqi_plain = _make_rqi(True), _make_rqi(False)
    # fused 4 x T tiles: _mkq<T><n|p><g|d> (need or plain epilogue; GEMM or direct)
    _mkq1pg, _mkq2pg, _mkq3pg, _mkq4pg = (_make_mkq(t, False, False) for t in (1, 2, 3, 4))
    _mkq1ng, _mkq2ng, _mkq3ng, _mkq4ng = (_make_mkq(t, True, False) for t in (1, 2, 3, 4))
    _mkq1pd, _mkq2pd, _mkq3pd, _mkq4pd = (_make_mkq(t, False, True) for t in (1, 2, 3, 4))
    _mkq1nd, _mkq2nd, _mkq3nd, _mkq4nd = (_make_mkq(t, True, True) for t in (1, 2, 3, 4))
    _mk11, _mk12, _mk13, _mk14 = (_make_mk(1, t) for t in (1, 2, 3, 4))

    _V16X8 = ir.VectorType(ir.IntType(8), 16)

    def _dw_fns(builder):
        mod = builder.module
        name = "llvm.x86.avx512.vpdpwssd.512"
        dp = mod.globals.get(name)
        if dp is None:
            dp = ir.Function(mod, ir.FunctionType(_V16, [_V16, _V16, _V16]), name)
        return dp

    def _dw_load_x(builder, addr):
        """16 int8 at addr, sign-extended to int32 lanes."""
        v = builder.load(builder.inttoptr(addr, _V16X8.as_pointer()), align=1)
        return builder.sext(v, _V16)

    def _dw_sum(builder, dp, xs, ws):
        """sum_t x_t * w_t over 16 lanes: vpdpwssd on each lane's low int16 pair half
        (weights stored as int32 lanes with a zero high half: the high halves' product
        is 0, the low ones x * w exactly); three partial chains, then two adds."""
        zero = ir.Constant(_V16, None)
        chains = [zero, zero, zero]
        for t, (x, w) in enumerate(zip(xs, ws)):
            chains[t % 3] = builder.call(dp, [chains[t % 3], x, w])
        return builder.add(builder.add(chains[0], chains[1]), chains[2])

    @intrinsic
    def _dw_px(typingctx, xs, w, wstride, acc):
        """One pixel, 16 channels, 9 taps: acc (int32 x 16) = sum_t x_t * w_t, xs a
        tuple of the taps' 9 addresses (16 int8 each), w tap 0's 16 int32 weights (taps
        wstride bytes apart)."""
        sig = types.void(xs, w, wstride, acc)

        def codegen(context, builder, signature, args):
            xs_v, w_v, ws_v, acc_v = args
            dp = _dw_fns(builder)
            ws = [builder.load(builder.inttoptr(
                builder.add(w_v, builder.mul(ws_v, ir.Constant(_I64, t))), _V16.as_pointer()),
                align=1) for t in range(9)]
            xv = [_dw_load_x(builder, builder.extract_value(xs_v, t)) for t in range(9)]
            r = _dw_sum(builder, dp, xv, ws)
            builder.store(r, builder.inttoptr(acc_v, _V16.as_pointer()), align=1)
            return context.get_dummy_value()
        return sig, codegen

    @intrinsic
    def _dw_run(typingctx, rows, step, dx, count, w, wstride, acc, astep):
        """`count` >= 1 consecutive interior pixels of one output row, 16 channels:
        rows = the first pixel's window rows (3 addresses: its top-left tap of each
        row), taps dx bytes apart along a row, pixels step bytes apart; the 9 weight
        vectors stay in registers; results to acc, astep bytes apart."""
        sig = types.void(rows, step, dx, count, w, wstride, acc, astep)

        def codegen(context, builder, signature, args):
            rows_v, step_v, dx_v, cnt_v, w_v, ws_v, acc_v, as_v = args
            dp = _dw_fns(builder)
            ws = [builder.load(builder.inttoptr(
                builder.add(w_v, builder.mul(ws_v, ir.Constant(_I64, t))), _V16.as_pointer()),
                align=1) for t in range(9)]
            r = [builder.extract_value(rows_v, i) for i in range(3)]
            pre = builder.block
            loop = builder.append_basic_block("dw_loop")
            done = builder.append_basic_block("dw_done")
            builder.branch(loop)
            builder.position_at_end(loop)
            i = builder.phi(_I64)
            i.add_incoming(ir.Constant(_I64, 0), pre)
            off = builder.mul(i, step_v)
            xv = []
            for ky in range(3):
                base = builder.add(r[ky], off)
                for kx in range(3):
                    xv.append(_dw_load_x(builder, builder.add(
                        base, builder.mul(dx_v, ir.Constant(_I64, kx)))))
            res = _dw_sum(builder, dp, xv, ws)
            builder.store(res, builder.inttoptr(builder.add(acc_v, builder.mul(i, as_v)),
                                                _V16.as_pointer()), align=1)
            i1 = builder.add(i, ir.Constant(_I64, 1))
            i.add_incoming(i1, builder.block)
            builder.cbranch(builder.icmp_signed("<", i1, cnt_v), loop, done)
            builder.position_at_end(done)
            return context.get_dummy_value()
        return sig, codegen

    def _make_dw_run_rq(need):
        """_dw_run with the integer epilogue fused: each pixel's 16 sums are requantized
        in registers and stored as 16 int8 at out (pixels ostep bytes apart); p, ps, lo32,
        hi32, zp32 as _make_rqi (the parameters stay in registers across the row)."""
        @intrinsic
        def run(typingctx, rows, step, dx, count, w, wstride, out, ostep, p, ps, lo32, hi32,
                zp):
            sig = types.void(rows, step, dx, count, w, wstride, out, ostep, p, ps, lo32, hi32,
                             zp)

            def codegen(context, builder, signature, args):
                (rows_v, step_v, dx_v, cnt_v, w_v, ws_v, out_v, os_v, p_v, ps_v, lo_v, hi_v,
                 zp_v) = args
                dp = _dw_fns(builder)
                ws = [builder.load(builder.inttoptr(
                    builder.add(w_v, builder.mul(ws_v, ir.Constant(_I64, t))),
                    _V16.as_pointer()), align=1) for t in range(9)]
                st = _rqi_setup(builder, p_v, ps_v, lo_v, hi_v, zp_v, need)
                r = [builder.extract_value(rows_v, i) for i in range(3)]
                pre = builder.block
                loop = builder.append_basic_block("dwq_loop")
                done = builder.append_basic_block("dwq_done")
                builder.branch(loop)
                builder.position_at_end(loop)
                i = builder.phi(_I64)
                i.add_incoming(ir.Constant(_I64, 0), pre)
                off = builder.mul(i, step_v)
                xv = []
                for ky in range(3):
                    base = builder.add(r[ky], off)
                    for kx in range(3):
                        xv.append(_dw_load_x(builder, builder.add(
                            base, builder.mul(dx_v, ir.Constant(_I64, kx)))))
                b = _rqi_apply(builder, _dw_sum(builder, dp, xv, ws), st)
                builder.store(b, builder.inttoptr(builder.add(out_v, builder.mul(i, os_v)),
                                                  _V16B.as_pointer()), align=1)
                i1 = builder.add(i, ir.Constant(_I64, 1))
                i.add_incoming(i1, builder.block)
                builder.cbranch(builder.icmp_signed("<", i1, cnt_v), loop, done)
                builder.position_at_end(done)
                return context.get_dummy_value()
            return sig, codegen
        return run

    _dw_run_rq_need, _dw_run_rq_plain = _make_dw_run_rq(True), _make_dw_run_rq(False)

    def _make_copy(bits):
        """copy(dst, src): one unaligned load and store of `bits` bits (int64 addresses)."""
        ty = ir.IntType(bits)

        @intrinsic
        def copy(typingctx, dst, src):
            sig = types.void(dst, src)

            def codegen(context, builder, signature, args):
                d, s_ = args
                v = builder.load(builder.inttoptr(s_, ty.as_pointer()), align=1)
                builder.store(v, builder.inttoptr(d, ty.as_pointer()), align=1)
                return context.get_dummy_value()
            return sig, codegen
        return copy

    _copy8, _copy4, _copy1 = _make_copy(64), _make_copy(32), _make_copy(8)

    @_jit_inline
    def _copy(dst, src, n):
        """n bytes (>= 8: 8-byte moves, the last one overlapping; 4..7: two 4-byte moves;
        a byte loop over runs of 9 or 27 bytes cost ~3x more)."""
        if n >= 8:
            i = 0
            while i + 8 < n:
                _copy8(dst + i, src + i)
                i += 8
            _copy8(dst + n - 8, src + n - 8)
        elif n >= 4:
            _copy4(dst, src)
            _copy4(dst + n - 4, src + n - 4)
        else:
            for i in range(n):
                _copy1(dst + i, src + i)

    @_jit_inline
    def _im2col8(xf, colf, geom, r0, rows, fill):
        """compiled._im2col for int8 (same geometry and order), runs moved by _copy."""
        h, wd, c, oh, ow, kh, kw = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5], geom[6]
        sh, sw, dh, dw, pt, pl = geom[7], geom[8], geom[9], geom[10], geom[11], geom[12]
        seg = kw * c
        n = r0 // (oh * ow)
        oy = (r0 - n * oh * ow) // ow
        ox = r0 - n * oh * ow - oy * ow
        rowlen = wd * c
        xa = np.int64(xf.ctypes.data)
        ca = np.int64(colf.ctypes.data)
        d = 0
        for _ in range(rows):
            ix0 = ox * sw - pl
            whole = dw == 1 and ix0 >= 0 and ix0 + kw <= wd
            for ky in range(kh):
                iy = oy * sh - pt + ky * dh
                if iy < 0 or iy >= h:
                    cs = colf[d:d + seg]
                    for t in range(seg):
                        cs[t] = fill
                elif whole:
                    _copy(ca + d, xa + (n * h + iy) * rowlen + ix0 * c, seg)
                else:
                    for kx in range(kw):
                        ix = ix0 + kx * dw
                        if ix < 0 or ix >= wd:
                            cs = colf[d + kx * c:d + kx * c + c]
                            for t in range(c):
                                cs[t] = fill
                        else:
                            _copy(ca + d + kx * c, xa + (n * h + iy) * rowlen + ix * c, c)
                d += seg
            ox += 1
            if ox == ow:
                ox = 0
                oy += 1
                if oy == oh:
                    oy = 0
                    n += 1

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
    def _epi(aa, lda, b0, n, v, ta, ep):
        """Requantize v <= 4 rows of n channels: int32 rows at aa (lda bytes apart), int8
        output rows at b0 (n bytes apart); ta: 64 bytes of scratch (rows past v, and a
        last block of < 16 channels); ep the epilogue's parameters (`epilogue`): the
        integer form (_make_rqi) when ep[8], else the float64 form (_make_rq)."""
        pv, pi, lo_f, hi_f, lo32, hi32, zp32, need, ie = ep
        if ie:
            pa = np.int64(pi.ctypes.data)
            ps = np.int64(pi.shape[1] * 8)
        else:
            pa = np.int64(pv.ctypes.data)
            ps = np.int64((pv.size // 4) * 8)
        pb = 64 if ie else 128              # parameter bytes per block of 16 channels
        nfull = n // 16
        rem = n - 16 * nfull
        # rows past the end write to tmp, at the same place for every block
        b1, s1 = (b0 + n, 16) if v > 1 else (ta + 16, 0)
        b2, s2 = (b0 + 2 * n, 16) if v > 2 else (ta + 32, 0)
        b3, s3 = (b0 + 3 * n, 16) if v > 3 else (ta + 48, 0)
        for j in range(nfull + (1 if rem else 0)):
            if j < nfull:
                outs = (b0 + 16 * j, b1 + s1 * j, b2 + s2 * j, b3 + s3 * j)
            else:
                outs = (ta, ta + 16, ta + 32, ta + 48)
            if ie:
                if need:
                    _rqi_need(aa + 64 * j, lda, pa + pb * j, ps, outs, lo32, hi32, zp32)
                else:
                    _rqi_plain(aa + 64 * j, lda, pa + pb * j, ps, outs, lo32, hi32, zp32)
            elif need:
                _rq_need(aa + 64 * j, lda, pa + pb * j, ps, outs, lo_f, hi_f, zp32)
            else:
                _rq_plain(aa + 64 * j, lda, pa + pb * j, ps, outs, lo_f, hi_f, zp32)
        if rem:
            for i in range(v):
                for k in range(rem):
                    _copy1(b0 + i * n + 16 * nfull + k, ta + 16 * i + k)

    @_jit_inline
    def _tile_q(xs, wa, kq, wsb, nb, pa, ps, b0, n, v, ta, lo32, hi32, zp32, need):
        """A 4-row GEMM tile with the integer epilogue fused (_make_mkq), blocks of 16
        channels in groups of up to four; ta: 256 bytes of scratch (rows past v, and
        the group holding a last block of fewer than 16 channels)."""
        nfull = n // 16
        b1, s1 = (b0 + n, 16) if v > 1 else (ta + 16, 0)
        b2, s2 = (b0 + 2 * n, 16) if v > 2 else (ta + 32, 0)
        b3, s3 = (b0 + 3 * n, 16) if v > 3 else (ta + 48, 0)
        b = 0
        while b < nb:
            t = min(4, nb - b)
            partial = b + t > nfull
            if partial:
                # the group holding a block of < 16 channels: into tmp, then copied
                outs = (ta, ta + 64, ta + 128, ta + 192)
                steps = (np.int64(16), np.int64(16), np.int64(16), np.int64(16))
            else:
                outs = (b0 + 16 * b, b1 + s1 * b, b2 + s2 * b, b3 + s3 * b)
                steps = (np.int64(16), np.int64(s1), np.int64(s2), np.int64(s3))
            w = wa + b * wsb
            p = pa + 64 * b
            if need:
                if t == 4:
                    _mkq4ng(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
                elif t == 3:
                    _mkq3ng(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
                elif t == 2:
                    _mkq2ng(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
                else:
                    _mkq1ng(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
            elif t == 4:
                _mkq4pg(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
            elif t == 3:
                _mkq3pg(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
            elif t == 2:
                _mkq2pg(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
            else:
                _mkq1pg(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
            if partial:
                for i in range(v):
                    _copy(b0 + i * n + 16 * b, ta + 64 * i, n - 16 * b)
            b += t

    @_jit_inline
    def _tile_qd(xs, wa, kq, wsb, nb, pa, ps, b0, n, v, ta, lo32, hi32, zp32, need):
        """_tile_q for conv_direct: kq = (nseg, qs, segstride)."""
        nfull = n // 16
        b1, s1 = (b0 + n, 16) if v > 1 else (ta + 16, 0)
        b2, s2 = (b0 + 2 * n, 16) if v > 2 else (ta + 32, 0)
        b3, s3 = (b0 + 3 * n, 16) if v > 3 else (ta + 48, 0)
        b = 0
        while b < nb:
            t = min(4, nb - b)
            partial = b + t > nfull
            if partial:
                # the group holding a block of < 16 channels: into tmp, then copied
                outs = (ta, ta + 64, ta + 128, ta + 192)
                steps = (np.int64(16), np.int64(16), np.int64(16), np.int64(16))
            else:
                outs = (b0 + 16 * b, b1 + s1 * b, b2 + s2 * b, b3 + s3 * b)
                steps = (np.int64(16), np.int64(s1), np.int64(s2), np.int64(s3))
            w = wa + b * wsb
            p = pa + 64 * b
            if need:
                if t == 4:
                    _mkq4nd(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
                elif t == 3:
                    _mkq3nd(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
                elif t == 2:
                    _mkq2nd(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
                else:
                    _mkq1nd(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
            elif t == 4:
                _mkq4pd(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
            elif t == 3:
                _mkq3pd(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
            elif t == 2:
                _mkq2pd(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
            else:
                _mkq1pd(xs, w, kq, wsb, outs, steps, p, ps, lo32, hi32, zp32)
            if partial:
                for i in range(v):
                    _copy(b0 + i * n + 16 * b, ta + 64 * i, n - 16 * b)
            b += t

    @_jit_inline
    def _rows_rq(x, ldx, m0, rows, kq, wpk, ep, out, o0, acc, tmp):
        """out rows o0.. = the requantized GEMM of x rows m0 .. m0 + rows (_epi with the
        parameters ep), tmp int8 [64] scratch."""
        n = out.shape[1]
        npad = acc.shape[1]
        nb = npad // 16
        xa = np.int64(x.ctypes.data)
        wa = np.int64(wpk.ctypes.data)
        aa = np.int64(acc.ctypes.data)
        oa = np.int64(out.ctypes.data)
        ta = np.int64(tmp.ctypes.data)
        lda = np.int64(npad * 4)
        last = m0 + rows - 1
        pi, lo32, hi32, zp32, need, fused = ep[1], ep[4], ep[5], ep[6], ep[7], ep[8]
        pa = np.int64(pi.ctypes.data)
        ps = np.int64(pi.shape[1] * 8)
        wsb = kq * 64
        for m in range(m0, m0 + rows, 4):
            b0 = oa + (o0 + m - m0) * n
            v = min(4, m0 + rows - m)
            if fused:
                m1 = min(m + 1, last)
                m2 = min(m + 2, last)
                m3 = min(m + 3, last)
                xs = (xa + m * ldx, xa + m1 * ldx, xa + m2 * ldx, xa + m3 * ldx)
                _tile_q(xs, wa, kq, wsb, nb, pa, ps, b0, n, v, ta, lo32, hi32, zp32, need)
            else:
                _tile4(xa, ldx, m, last, wa, kq, nb, aa, lda)
                _epi(aa, lda, b0, n, v, ta, ep)

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
    def depthwise3(x, w, zv, ep, out, acc, tmp, geom):
        """3x3 DEPTHWISE_CONV_2D, depth multiplier 1, C % 16 == 0, int8: x [N, H, W, C],
        w int32 [9, C] (each weight's int16 bits in the low half, zero high half), zv int8
        [C] or [W * C] the input zero point (read for taps outside the input: their raw
        product zi * w cancels in the correction; a whole row of them also stands for
        the window rows above and below the input, so those output rows run as interior
        rows too), pv the padded plan with the correction
        bias - zi * sum(w), out [N, OH, OW, C], acc int32 [OW, C], tmp int8 [64];
        geom int64 [sh, sw, dh, dw, pad_top, pad_left]. Per output row: interior
        pixels by _dw_run per 16 channels, border pixels by _dw_px, then _epi."""
        n_b, h, wd, c = x.shape
        _, oh, ow, _ = out.shape
        sh, sw, dh, dw, pt, pl = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
        xa = np.int64(x.ctypes.data)
        wa = np.int64(w.ctypes.data)
        za = np.int64(zv.ctypes.data)
        aa = np.int64(acc.ctypes.data)
        oa = np.int64(out.ctypes.data)
        ta = np.int64(tmp.ctypes.data)
        cb = c // 16
        lda = np.int64(c * 4)
        wst = np.int64(c * 4)
        rowb = wd * c
        # interior columns: ox * sw - pl >= 0 and ox * sw - pl + 2 * dw < wd
        ox_lo = min((pl + sw - 1) // sw, ow)
        ox_hi = max(min((wd - 1 - 2 * dw + pl) // sw + 1, ow), ox_lo)
        ra = np.empty(3, np.int64)      # each window row's address, or -1
        zrow = zv.size >= wd * c        # zv holds a whole row of zero points
        t = np.empty(9, np.int64)       # a border pixel's tap addresses
        pi, lo32, hi32, zp32, need, fused = ep[1], ep[4], ep[5], ep[6], ep[7], ep[8]
        pia = np.int64(pi.ctypes.data)
        pis = np.int64(pi.shape[1] * 8)
        step = np.int64(sw * c)
        dxb = np.int64(dw * c)
        cb64 = np.int64(c)
        for n in range(n_b):
            for oy in range(oh):
                iy0 = oy * sh - pt
                inner = True
                for ky in range(3):
                    iy = iy0 + ky * dh
                    if iy < 0 or iy >= h:
                        # a window row above / below the input: the zero-point row
                        ra[ky] = za if zrow else -1
                        inner = inner and zrow
                    else:
                        ra[ky] = xa + (n * h + iy) * rowb
                for ox in range(ow):
                    if inner and ox >= ox_lo and ox < ox_hi:
                        continue
                    ix0 = ox * sw - pl
                    # the taps' addresses for channel block 0 (the zero-point vector
                    # outside the input); block b is 16 * b bytes on
                    for i in range(9):
                        t[i] = za
                    for ky in range(3):
                        if ra[ky] < 0:
                            continue
                        for kx in range(3):
                            ix = ix0 + kx * dw
                            if ix >= 0 and ix < wd:
                                t[ky * 3 + kx] = ra[ky] + ix * c
                    for b in range(cb):
                        o16 = 16 * b
                        _dw_px((t[0] + o16, t[1] + o16, t[2] + o16, t[3] + o16, t[4] + o16,
                                t[5] + o16, t[6] + o16, t[7] + o16, t[8] + o16),
                               wa + 64 * b, wst, aa + ox * lda + 64 * b)
                orow = oa + ((n * oh + oy) * ow) * c
                if inner and ox_hi > ox_lo:
                    off = (ox_lo * sw - pl) * c
                    cnt = np.int64(ox_hi - ox_lo)
                    for b in range(cb):
                        rows3 = (ra[0] + off + 16 * b, ra[1] + off + 16 * b,
                                 ra[2] + off + 16 * b)
                        if fused:
                            # the interior pixels requantized in registers, stored once
                            o = orow + ox_lo * c + 16 * b
                            if need:
                                _dw_run_rq_need(rows3, step, dxb, cnt, wa + 64 * b, wst, o, cb64,
                                                pia + 64 * b, pis, lo32, hi32, zp32)
                            else:
                                _dw_run_rq_plain(rows3, step, dxb, cnt, wa + 64 * b, wst, o,
                                                 cb64, pia + 64 * b, pis, lo32, hi32, zp32)
                        else:
                            _dw_run(rows3, step, dxb, cnt, wa + 64 * b, wst,
                                    aa + ox_lo * lda + 64 * b, lda)
                    if fused:
                        # only the border pixels went through acc
                        for ox in range(0, ox_lo, 4):
                            _epi(aa + ox * lda, lda, orow + ox * c, c, min(4, ox_lo - ox), ta,
                                 ep)
                        for ox in range(ox_hi, ow, 4):
                            _epi(aa + ox * lda, lda, orow + ox * c, c, min(4, ow - ox), ta, ep)
                        continue
                for ox in range(0, ow, 4):
                    _epi(aa + ox * lda, lda, orow + ox * c, c, min(4, ow - ox), ta, ep)

    @_jit_inline
    def _tile4d(xs, wa, nseg, qs, segb, nb, aa, lda):
        """acc rows 0..3 = the windows at xs (4 addresses) times every weight block."""
        wsb = nseg * qs * 64
        b = 0
        while b + 4 <= nb:
            _mkd44(xs, wa + b * wsb, nseg, qs, segb, wsb, aa + b * 64, lda)
            b += 4
        r = nb - b
        if r == 3:
            _mkd43(xs, wa + b * wsb, nseg, qs, segb, wsb, aa + b * 64, lda)
        elif r == 2:
            _mkd42(xs, wa + b * wsb, nseg, qs, segb, wsb, aa + b * 64, lda)
        elif r == 1:
            _mkd41(xs, wa + b * wsb, nseg, qs, segb, wsb, aa + b * 64, lda)

    @_jit
    def conv_direct(pf, geom, wpk, ep, out, acc, tmp):
        """CONV_2D without im2col (dilation_w 1): pf the padded int8 input, flat [N, Hp,
        Wp, C] with the zero point in the border and >= 4 readable bytes past the end;
        geom int64 [Hp, Wp, C, OH, OW, SH, SW, DH, KH, QS] (QS = ceil(KW * C / 4) quads
        per window row); wpk packed for K' = KH * QS * 4 (window row ky's KW * C values,
        then zeros); out [N * OH * OW, O]; ep as gemm_rq. Output pixels four at a time,
        each read in place: window row ky at its top-left + ky * DH * Wp * C."""
        hp, wpd, c, oh, ow = geom[0], geom[1], geom[2], geom[3], geom[4]
        sh, sw, dh, kh, qs = geom[5], geom[6], geom[7], geom[8], geom[9]
        total = out.shape[0]
        n = out.shape[1]
        npad = acc.shape[1]
        nb = npad // 16
        pa = np.int64(pf.ctypes.data)
        wa = np.int64(wpk.ctypes.data)
        aa = np.int64(acc.ctypes.data)
        oa = np.int64(out.ctypes.data)
        ta = np.int64(tmp.ctypes.data)
        lda = np.int64(npad * 4)
        segb = np.int64(dh * wpd * c)
        ad = np.empty(4, np.int64)
        pi, lo32, hi32, zp32, need, fused = ep[1], ep[4], ep[5], ep[6], ep[7], ep[8]
        pia = np.int64(pi.ctypes.data)
        ps = np.int64(pi.shape[1] * 8)
        wsb = kh * qs * 64
        seg = (kh, qs, segb)
        img, oy, ox = 0, 0, 0
        last = pa
        for m in range(0, total, 4):
            for i in range(4):
                if m + i < total:
                    last = pa + ((img * hp + oy * sh) * wpd + ox * sw) * c
                    ox += 1
                    if ox == ow:
                        ox = 0
                        oy += 1
                        if oy == oh:
                            oy = 0
                            img += 1
                ad[i] = last
            xs = (ad[0], ad[1], ad[2], ad[3])
            b0 = oa + m * n
            v = min(4, total - m)
            if fused:
                _tile_qd(xs, wa, seg, wsb, nb, pia, ps, b0, n, v, ta, lo32, hi32, zp32, need)
            else:
                _tile4d(xs, wa, kh, qs, segb, nb, aa, lda)
                _epi(aa, lda, b0, n, v, ta, ep)

    @_jit
    def gemm_rq(x, ldx, rows, kq, wpk, ep, out, acc, tmp):
        """out [rows, N] int8 = requantized (x [rows, K] int8, flat, rows ldx bytes
        apart) @ W + correction: wpk the packed weights [NB, kq, 64] int8, ep the
        epilogue's parameters (`epilogue`, correction bias - (zi + 128) * sum(w)), acc
        int32 [4, 16 * NB], tmp int8 [256] scratch."""
        _rows_rq(x, ldx, 0, rows, kq, wpk, ep, out, 0, acc, tmp)

    @_jit
    def conv_rq(xf, geom, fill, col, band, k, kq, wpk, ep, out, acc, tmp):
        """CONV_2D: im2col of the flat int8 NHWC input xf (geom as compiled._im2col, the
        zero point `fill` outside the input) `band` rows at a time into col (int8, flat,
        >= band * k + 4 bytes; rows k bytes apart), then gemm_rq into out [rows, N]."""
        total = out.shape[0]
        for r0 in range(0, total, band):
            rows = min(band, total - r0)
            _im2col8(xf, col, geom, r0, rows, fill)
            _rows_rq(col, k, 0, rows, kq, wpk, ep, out, r0, acc, tmp)

    @_jit
    def gemm_rq_int(x, ldx, rows, kq, wpk, corr, m_, nudge, half, right, left, any_left, zp,
                    lo, hi, out, acc):
        """gemm_rq with the int64 requantization; corr int64 [N]."""
        _rows_rq_int(x, ldx, 0, rows, kq, wpk, corr, m_, nudge, half, right, left, any_left,
                     zp, lo, hi, out, 0, acc)

    @_jit
    def conv_rq_int(xf, geom, fill, col, band, k, kq, wpk, corr, m_, nudge, half, right, left,
                    any_left, zp, lo, hi, out, acc):
        """conv_rq with the int64 requantization."""
        total = out.shape[0]
        for r0 in range(0, total, band):
            rows = min(band, total - r0)
            _im2col8(xf, col, geom, r0, rows, fill)
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
    # by output channel (a copy, not a transpose, when wq is a view of [N, K] rows);
    # each quad of K as one int32, so the re-layout moves 4-byte units
    rows = np.zeros((npad, 4 * kq), np.int8)
    rows[:n, :k] = wq.T
    quads = rows.view(np.int32).reshape(npad // 16, 16, kq).transpose(0, 2, 1)
    return np.ascontiguousarray(quads).view(np.int8).reshape(npad // 16, kq, 64), kq, npad


def padded_plan(plan, n: int, npad: int) -> tuple:
    """The arguments of gemm_rq / conv_rq after the GEMM's from a
    quant.conv._plan_matrix plan (mat float64 [4 * n], zp, lo, hi, need): (pv float64
    [4 * npad], lo - zp, hi - zp as float64, zp as int32, need); padded channels have
    all-zero parameters."""
    mat, zp, lo, hi, need = plan
    pv = np.zeros((4, npad))
    pv[:, :n] = np.asarray(mat, np.float64).reshape(4, n)
    return (pv.reshape(-1), np.float64(int(lo) - int(zp)), np.float64(int(hi) - int(zp)),
            np.int32(zp), bool(need))


def depthwise_weights(wq: np.ndarray) -> np.ndarray:
    """wq int [9, C] (|w| <= 32767) -> int32 [9, C] holding each weight's int16 bits in
    the low half and zeros in the high half (depthwise3's vpdpwssd operands)."""
    return np.ascontiguousarray(np.asarray(wq).astype(np.int16).view(np.uint16)
                                .astype(np.int32))


def entry(fn, args):
    """The compiled entry point of the numba dispatcher fn for these exact arguments
    (compiled or loaded from the cache now): calling it skips the dispatcher's per-call
    typing of every argument (~0.5 us of ~1.1 for gemm_rq's 13). Anything that is not a
    dispatcher (a test's wrapper) is returned as it is."""
    if not hasattr(fn, "compile") or not hasattr(fn, "overloads"):
        return fn
    # (looked up first by the arguments' _type_keys, which hash in C: numba's types hash
    # in Python, ~0.4 us each, 13 per call)
    keys = tuple(_type_key(a) for a in args)
    known = None not in keys
    if known:
        found = _ENTRY_BY_KEYS.get((fn, keys))
        if found is not None:
            return found
    sig = tuple(_typeof(a) for a in args)
    key = (fn, sig)
    found = _ENTRIES.get(key)
    if found is None:
        found = _ENTRIES[key] = fn.compile(sig)
    if known:
        _ENTRY_BY_KEYS[(fn, keys)] = found
    return found


_ENTRIES: dict = {}
_ENTRY_BY_KEYS: dict = {}
_TYPES: dict = {}


def _type_key(a):
    """What decides numba.typeof(a), hashable; None when not known here."""
    if isinstance(a, np.ndarray):
        f = a.flags
        layout = "C" if f.c_contiguous else "F" if f.f_contiguous else "A"
        return (a.dtype, a.ndim, layout, f.writeable, f.aligned)
    if isinstance(a, (float, np.generic)) or (isinstance(a, int) and -(1 << 63) <= a < (1 << 63)):
        return type(a)          # (a Python int beyond int64 types as uint64: not cached)
    if type(a) is tuple:
        keys = tuple(_type_key(x) for x in a)
        return None if None in keys else ("tuple", keys)
    return None


def _typeof(a):
    """numba.typeof, cached by what decides it (_type_key): numba's own typeof was ~10 us
    a call, 9 calls per node at bind."""
    from numba import typeof
    key = _type_key(a)
    if key is None:
        return typeof(a)
    t = _TYPES.get(key)
    if t is None:
        t = _TYPES[key] = typeof(a)
    return t


def int_plan(requant, corr: np.ndarray, n: int, npad: int, acc_bound) -> tuple | None:
    """The arguments of the integer epilogue (_make_rqi) for a Requantizer whose float64
    plan applies, or None unless every reachable accumulator is within int32 (acc_bound
    per channel < 2^31). Returns (p int64 [11, npad / 2] (the parameter rows; padded
    channels all zero), lo - zp, hi - zp, zp as int32, need)."""
    if not np.all(np.asarray(acc_bound, np.float64) < 2.0 ** 31):
        return None
    m, nudge, _, right, _, any_left, zp, lo, hi = requant.params(n)
    if any_left or not np.all(m > 0):
        return None
    s = 31 + right
    step = np.where(right > 0, np.int64(1) << (s - np.maximum(right, 1)), 0)
    # rows [5, npad] (m, nudge, S, 2^(S-1), step; padded channels 0), then each row's
    # even and odd channels as rows 1, 2 / 3, 4 / ... of p, all in a few calls
    full = np.zeros((5, npad), np.int64)
    full[:, :n] = (m, nudge, s, np.int64(1) << (s - 1), step)
    p = np.empty((11, npad // 2), np.int64)
    p[1:].reshape(5, 2, npad // 2)[:] = full.reshape(5, npad // 2, 2).transpose(0, 2, 1)
    c32 = np.zeros(npad, np.int64)
    c32[:n] = corr
    p[0] = ((c32 + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32).view(np.int64)
    need = bool(lo < zp and np.any(right > 0))
    return p, np.int32(lo - zp), np.int32(hi - zp), np.int32(zp), need


def epilogue(requant, plan, corr, n: int, npad: int, acc_bound) -> tuple | None:
    """The `ep` argument of gemm_rq / conv_rq / depthwise3 for the Requantizer `requant`:
    the integer epilogue (int_plan) when every accumulator is within int32, else the
    float64 one (padded_plan) from `plan`, a quant.conv._plan_matrix plan (mat float64
    [4 * n] = (corr, ms, k0, d), zp, lo, hi, need) or a function making it, called
    only then (its threshold search was ~15% of a VNNI model's load, and the integer
    form, exact on its own, applies to most nodes). The unused form gets a small dummy
    array. None when neither applies (the plan is None)."""
    ip = int_plan(requant, corr, n, npad, acc_bound)
    if ip is not None:
        p, lo32, hi32, zp32, need_i = ip
        zp = int(requant.zp)
        lo_f, hi_f = np.float64(int(requant.lo) - zp), np.float64(int(requant.hi) - zp)
        return (np.zeros(64), p, lo_f, hi_f, lo32, hi32, zp32, need_i, True)
    if callable(plan):
        plan = plan()
    if plan is None:
        return None
    pv, lo_f, hi_f, zp32, need = padded_plan(plan, n, npad)
    return (pv, np.zeros((11, 8), np.int64), lo_f, hi_f, np.int32(0), np.int32(0), zp32,
            need, False)


def direct_weights(wq: np.ndarray) -> tuple[np.ndarray, int]:
    """CONV_2D weights wq int [O, KH, KW, C] -> (packed for conv_direct, QS): each window
    row's KW * C weights padded with zeros to QS * 4 (the kernel reads those bytes of
    the input too: their products are 0)."""
    o, kh, kw, c = wq.shape
    qs = -(-(kw * c) // 4)
    wd = np.zeros((kh, qs * 4, o), np.int8)
    wd[:, :kw * c, :] = np.asarray(wq).reshape(o, kh, kw * c).transpose(1, 2, 0)
    wpk, _, _ = pack_weights(wd.reshape(kh * qs * 4, o))
    return wpk, qs


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
    tmp = np.zeros(256, np.int8)
    from edgelite.kernels.quant.qutil import Requantizer
    rq = Requantizer(np.array([1 << 30]), np.array([-1]), 0, -128, 127)
    pv = epilogue(rq, (p4, zp, lo, hi, True), np.zeros(n, np.int64), n, npad, np.ones(n))
    gemm_rq(x, np.int64(k), 2, kq, wpk, pv, out, acc, tmp)
    gemm_rq_int(x, np.int64(k), 2, kq, wpk, np.zeros(n, np.int64), *ip, out, acc)
    geom = np.array([1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 0, 0], np.int64)
    x2 = np.zeros(2, np.int8)
    w1, kq1, _ = pack_weights(np.ones((1, n), np.int64))
    conv_rq(x2, geom, np.int8(0), x, 2, np.int64(1), kq1, w1, pv, out, acc, tmp)
    conv_rq_int(x2, geom, np.int8(0), x, 2, np.int64(1), kq1, w1, np.zeros(n, np.int64), *ip,
                out, acc)
    pf = np.zeros(64, np.int8)
    wd, qs = direct_weights(np.ones((n, 2, 2, 1), np.int64))
    conv_direct(pf, np.array([3, 3, 1, 2, 2, 1, 1, 1, 2, qs], np.int64), wd, pv,
                np.zeros((4, n), np.int8), acc, tmp)
    c = 16
    pd = epilogue(rq, (np.zeros(4 * c), zp, lo, hi, True), np.zeros(c, np.int64), c, c,
                  np.ones(c))
    depthwise3(np.zeros((1, 3, 3, c), np.int8), np.zeros((9, c), np.int32),
               np.zeros(c, np.int8), pd, np.zeros((1, 3, 3, c), np.int8),
               np.zeros((3, c), np.int32), tmp, np.array([1, 1, 1, 1, 1, 1], np.int64))
    gemm_fc(x, np.int64(k), 2, kq, wpk, np.zeros(n), np.ones(n), 0.0, -128.0, 127.0, out, acc)
    return time.perf_counter() - t0
