"""Compiled tier: explicit 16-lane vector kernels (numba + LLVM IR intrinsics).

The register-tiled float32 GEMM `gemm`: C[M, N] = clamp(A[M, K] @ B[K, N] + bias,
lo, hi), written once. It is for the small-K / small-N products of 1x1
convolutions (MobileNetV2's: K, N in 16..1280) where OpenBLAS's sgemm pays
per-call packing and a separate epilogue pass. `conv_rows` is the same tile loop
as an implicit-GEMM convolution over a strided view of the (padded) input (no
column buffer). `depthwise_conv2d_3x3` is a vector version of
compiled.depthwise_conv2d_3x3 (same values; 0.4-0.9x its time on MobileNetV2's
layers and the cnn fixture's, measured interleaved, 1 thread).

numba's auto-vectorizers do not keep a tile of accumulators in registers (the SLP
vectorizer is off in numba's pipeline, and written as scalars the tile compiled to
scalar FMAs), so this module gives numba an explicit 16-lane float32 vector type
(`F32x16`, an LLVM `<16 x float>`) and a few intrinsics written in LLVM IR:
- `_tile_zero(mr_t, nv_t)`: a tuple of MR*NV zero vectors (MR = len(mr_t), NV =
  len(nv_t): the tile's rows and 16-column vectors, fixed by the tuples' types);
- `_tile_fma(acc, A, i, k, bp, nv_t)`: acc[r, v] += A[i + r, k] * bp[k, 16v:16v+16]
  for every row r and vector v: one broadcast per row, one load per vector, MR*NV
  fused multiply-adds (llvm.fma: one rounding, so results differ from a separate
  multiply and add by float rounding only; the sum over k runs in order 0..K-1);
- `_tile_store(C, i, j0, acc, bias, lo, hi, nv_t)`: bias add, clamp (written as
  compare-and-select: NaN passes, as in the numpy tier), masked stores of the
  columns j0.. that exist;
- `_vload` / `_vstore` (masked to the first `lanes` lanes), `_vmul`, `_vadd`,
  `_vclamp` for the depthwise kernel (no FMA there: it must give the numpy tier's
  per-tap sums exactly).
The accumulator tuple is a loop-carried value, which LLVM keeps in zmm registers
(AVX-512) or in pairs/quads of ymm/xmm registers elsewhere (still correct, slower).

B is packed at prepare into panels [ceil(N / NR), K, NR] (NR = 16*NV, zero
padded), so the inner loop reads NR contiguous floats per k; bias is padded the
same way. `gemm` walks blocks of `mblk` rows, then panels, then MR-row tiles
(leftover rows four, then one at a time). `choose_tile(m, k, n)` picks (MR, NV) from a
small cost model (fewest padded FMAs and loads); measured on this machine
(2-vCPU AVX-512 VM, 1 thread, noisy) over MobileNetV2's 1x1 shapes, the best
tile per shape was 1.2-1.8x faster than `np.matmul(out=)` alone (OpenBLAS 0.3.31),
the epilogue included.

Imported only through `conv.compiled_tier` (numba must not load with `import
edgelite`); kernels compiled with `cache=True`, `fastmath=False`. Compile cost
(numba 0.68.1, this VM): `warm_up()` (4 tiles of gemm and conv_rows, the
depthwise kernel) ~8.4 s with an empty cache, ~0.6 s from the cache.
"""
from __future__ import annotations

import numpy as np

from edgelite.kernels.compiled import ENABLED

LANES = 16
# (MR, NV) tiles compiled (each is one specialization of `gemm`): MR*NV
# accumulators + NV panel vectors + a broadcast fit AVX-512's 32 registers.
TILES = ((12, 1), (8, 2), (6, 3), (6, 4))
# Rows per block: the rows' A values stay in L1/L2 across the panels.
ROW_BLOCK = 192


def pack_panels(w: np.ndarray, nv: int) -> np.ndarray:
    """[K, N] -> [ceil(N / (16 nv)), K, 16 nv] contiguous float32, zero padded. The
    full panels in one copy of a [panels, 16 nv, K] view of w.T (a convolution's
    filter seen [K, O] is that view of its [O, K] rows: ~30% faster at load than a
    copy per panel)."""
    k, n = w.shape
    nr = LANES * nv
    npan = -(-n // nr)
    full = n // nr
    out = np.empty((npan, k, nr), np.float32)
    if full:
        out[:full] = w.T[:full * nr].reshape(full, nr, k).transpose(0, 2, 1)
    if full < npan:
        rest = n - full * nr
        out[full, :, :rest] = w[:, full * nr:]
        out[full, :, rest:] = 0.0
    return out


def pad_bias(bias: np.ndarray | None, n: int, nv: int) -> np.ndarray:
    """bias [N] (or None: zeros) padded to the panels' width."""
    nr = LANES * nv
    out = np.zeros(-(-n // nr) * nr, np.float32)
    if bias is not None:
        out[:n] = np.asarray(bias, np.float32).reshape(-1)
    return out


def choose_tile(m: int, k: int, n: int) -> tuple[int, int]:
    """(MR, NV) with the lowest modelled cost. Per k, a tile issues MR*NV FMAs and
    MR + NV loads (broadcasts included), two of each per cycle: cost max(MR*NV,
    MR + NV) half-cycles, padded columns counted; leftover rows (M % MR) go four,
    then one at a time; each panel adds 1% (one more pass over A's rows), which
    settles near-ties towards fewer panels. Checked against timings of every tile
    on MobileNetV2's 1x1 shapes: the cheapest modelled tile was the fastest or
    within the noise of it."""
    best, best_key = TILES[0], None
    for mr, nv in TILES:
        npan = -(-n // (LANES * nv))
        full, left = divmod(m, mr)
        fours, ones = divmod(left, 4)
        cost = npan * (full * max(mr * nv, mr + nv) + fours * max(4 * nv, 4 + nv)
                       + ones * max(nv, 1 + nv))
        cost *= 1.0 + 0.01 * npan
        if best_key is None or cost < best_key:
            best, best_key = (mr, nv), cost
    return best


class Gemm:
    """One prepared product: constant weights packed for the chosen tile."""

    def __init__(self, w: np.ndarray, bias: np.ndarray | None, m: int, bounds):
        from edgelite.kernels.compiled import float_bounds
        k, n = w.shape
        self.mr, self.nv = choose_tile(m, k, n)
        self.panels = pack_panels(np.asarray(w, np.float32), self.nv)
        self.bias = pad_bias(bias, n, self.nv)
        self.lo, self.hi = float_bounds(bounds)
        self.mr_t = (0,) * self.mr
        self.nv_t = (0,) * self.nv
        self.kernel = gemm
        # gemm's arguments after a: (panels, bias), then after c: (lo, hi, mblk)
        self.args = (self.panels, self.bias, self.lo, self.hi, ROW_BLOCK)

    def run(self, a: np.ndarray, c: np.ndarray) -> None:
        """c[M, N] from a[M, K] (any strides; contiguous rows are fastest)."""
        gemm(a, self.panels, self.bias, c, self.lo, self.hi, ROW_BLOCK, self.mr_t, self.nv_t)


if ENABLED:
    import numba
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic, models, register_model

    _F32 = ir.FloatType()
    _I32 = ir.IntType(32)
    _VEC = ir.VectorType(_F32, LANES)
    _IVEC = ir.VectorType(_I32, LANES)

    class F32x16(types.Type):
        """16 float32 lanes held in one LLVM vector value."""

        def __init__(self):
            super().__init__(name="F32x16")

    f32x16 = F32x16()

    @register_model(F32x16)
    class _F32x16Model(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            super().__init__(dmm, fe_type, _VEC)

    def _elem_ptr(context, builder, aryty, ary, inds):
        """Pointer to ary[inds...] (intp indices, any strides)."""
        arr = context.make_array(aryty)(context, builder, ary)
        return cgutils.get_item_pointer(context, builder, aryty, arr, inds, wraparound=False)

    def _intp(context, builder, val, ty):
        return context.cast(builder, val, ty, types.intp)

    def _splat(builder, x, vty):
        v = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(_I32, 0))
        return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined),
                                      ir.Constant(_IVEC, [0] * LANES))

    def _masked_store_fn(module):
        ptr = _VEC.as_pointer()
        opaque = getattr(ptr, "is_opaque", False)
        name = "llvm.masked.store.v16f32." + ("p0" if opaque else "p0v16f32")
        return cgutils.get_or_insert_function(
            module, ir.FunctionType(ir.VoidType(), [_VEC, ptr, _I32, ir.VectorType(
                ir.IntType(1), LANES)]), name)

    @intrinsic
    def _tile_zero(typingctx, mr_t, nv_t):
        count = mr_t.count * nv_t.count
        ret = types.UniTuple(f32x16, count)

        def codegen(context, builder, sig, args):
            zero = ir.Constant(_VEC, [0.0] * LANES)
            return context.make_tuple(builder, ret, [zero] * count)
        return ret(mr_t, nv_t), codegen

    @intrinsic
    def _tile_fma(typingctx, acc, a, i, k, bp, nv_t):
        nv = nv_t.count
        mr = acc.count // nv

        def codegen(context, builder, sig, args):
            acc_v, a_v, i_v, k_v, bp_v, _ = args
            aty, ity, kty, bty = sig.args[1], sig.args[2], sig.args[3], sig.args[4]
            i_v = _intp(context, builder, i_v, ity)
            k_v = _intp(context, builder, k_v, kty)
            fma = cgutils.get_or_insert_function(builder.module,
                                                 ir.FunctionType(_VEC, [_VEC] * 3),
                                                 "llvm.fma.v16f32")
            bvec = []
            for v in range(nv):
                p = _elem_ptr(context, builder, bty, bp_v,
                              [k_v, ir.Constant(cgutils.intp_t, LANES * v)])
                bvec.append(builder.load(builder.bitcast(p, _VEC.as_pointer()), align=4))
            out = []
            for r in range(mr):
                row = builder.add(i_v, ir.Constant(cgutils.intp_t, r))
                x = builder.load(_elem_ptr(context, builder, aty, a_v, [row, k_v]))
                xa = _splat(builder, x, _VEC)
                for v in range(nv):
                    c = builder.extract_value(acc_v, r * nv + v)
                    out.append(builder.call(fma, [xa, bvec[v], c]))
            return context.make_tuple(builder, sig.return_type, out)
        return acc(acc, a, i, k, bp, nv_t), codegen

    @intrinsic
    def _tile_store(typingctx, c, i, j0, acc, bias, lo, hi, nv_t):
        nv = nv_t.count
        mr = acc.count // nv

        def codegen(context, builder, sig, args):
            c_v, i_v, j_v, acc_v, b_v, lo_v, hi_v, _ = args
            cty, ity, jty, _, bty, loty, hity, _ = sig.args
            i_v = _intp(context, builder, i_v, ity)
            j_v = _intp(context, builder, j_v, jty)
            lo_s = _splat(builder, context.cast(builder, lo_v, loty, types.float32), _VEC)
            hi_s = _splat(builder, context.cast(builder, hi_v, hity, types.float32), _VEC)
            cary = context.make_array(cty)(context, builder, c_v)
            ncols = builder.trunc(builder.sub(cgutils.unpack_tuple(builder, cary.shape, 2)[1],
                                              j_v), _I32)
            lanes = ir.Constant(_IVEC, list(range(LANES)))
            store = _masked_store_fn(builder.module)
            bvec, masks = [], []
            for v in range(nv):
                off = ir.Constant(cgutils.intp_t, LANES * v)
                p = _elem_ptr(context, builder, bty, b_v, [builder.add(j_v, off)])
                bvec.append(builder.load(builder.bitcast(p, _VEC.as_pointer()), align=4))
                left = builder.sub(ncols, ir.Constant(_I32, LANES * v))
                masks.append(builder.icmp_signed("<", lanes, _splat(builder, left, _IVEC)))
            for r in range(mr):
                row = builder.add(i_v, ir.Constant(cgutils.intp_t, r))
                for v in range(nv):
                    x = builder.fadd(builder.extract_value(acc_v, r * nv + v), bvec[v])
                    x = builder.select(builder.fcmp_ordered("<", x, lo_s), lo_s, x)
                    x = builder.select(builder.fcmp_ordered(">", x, hi_s), hi_s, x)
                    col = builder.add(j_v, ir.Constant(cgutils.intp_t, LANES * v))
                    p = builder.bitcast(_elem_ptr(context, builder, cty, c_v, [row, col]),
                                        _VEC.as_pointer())
                    builder.call(store, [x, p, ir.Constant(_I32, 4), masks[v]])
            return context.get_dummy_value()
        return types.none(c, i, j0, acc, bias, lo, hi, nv_t), codegen

    def _lane_mask(builder, lanes, lanes_ty, context):
        """<16 x i1>: lane j < lanes."""
        n = builder.trunc(context.cast(builder, lanes, lanes_ty, types.intp), _I32)
        return builder.icmp_signed("<", ir.Constant(_IVEC, list(range(LANES))),
                                   _splat(builder, n, _IVEC))

    @intrinsic
    def _vload(typingctx, ary, i, lanes):
        """ary[i:i + lanes] (a 1-D array) in the first lanes; 0.0 in the others."""
        def codegen(context, builder, sig, args):
            p = _elem_ptr(context, builder, sig.args[0], args[0],
                          [_intp(context, builder, args[1], sig.args[1])])
            p = builder.bitcast(p, _VEC.as_pointer())
            ptr = _VEC.as_pointer()
            opaque = getattr(ptr, "is_opaque", False)
            name = "llvm.masked.load.v16f32." + ("p0" if opaque else "p0v16f32")
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(_VEC, [ptr, _I32, ir.VectorType(
                    ir.IntType(1), LANES), _VEC]), name)
            mask = _lane_mask(builder, args[2], sig.args[2], context)
            return builder.call(fn, [p, ir.Constant(_I32, 4), mask,
                                     ir.Constant(_VEC, [0.0] * LANES)])
        return f32x16(ary, i, lanes), codegen

    @intrinsic
    def _vstore(typingctx, ary, i, v, lanes):
        """ary[i:i + lanes] = the first lanes of v (a 1-D array)."""
        def codegen(context, builder, sig, args):
            p = _elem_ptr(context, builder, sig.args[0], args[0],
                          [_intp(context, builder, args[1], sig.args[1])])
            p = builder.bitcast(p, _VEC.as_pointer())
            mask = _lane_mask(builder, args[3], sig.args[3], context)
            builder.call(_masked_store_fn(builder.module), [args[2], p, ir.Constant(_I32, 4),
                                                             mask])
            return context.get_dummy_value()
        return types.none(ary, i, v, lanes), codegen

    @intrinsic
    def _vmul(typingctx, a, b):
        def codegen(context, builder, sig, args):
            return builder.fmul(args[0], args[1])
        return f32x16(a, b), codegen

    @intrinsic
    def _vadd(typingctx, a, b):
        def codegen(context, builder, sig, args):
            return builder.fadd(args[0], args[1])
        return f32x16(a, b), codegen

    @intrinsic
    def _vclamp(typingctx, v, lo, hi):
        """v < lo ? lo : v, then > hi ? hi : v (NaN passes, as `if v < lo: v = lo`)."""
        def codegen(context, builder, sig, args):
            x = args[0]
            lo_s = _splat(builder, context.cast(builder, args[1], sig.args[1], types.float32),
                          _VEC)
            hi_s = _splat(builder, context.cast(builder, args[2], sig.args[2], types.float32),
                          _VEC)
            x = builder.select(builder.fcmp_ordered("<", x, lo_s), lo_s, x)
            return builder.select(builder.fcmp_ordered(">", x, hi_s), hi_s, x)
        return f32x16(v, lo, hi), codegen

    _jit = numba.njit(cache=True, fastmath=False, nogil=True, boundscheck=False,
                      error_model="numpy")
    _jit_inline = numba.njit(cache=True, fastmath=False, nogil=True, boundscheck=False,
                             error_model="numpy", inline="always")

    @_jit_inline
    def _dw3_pixel2(r0, r1, r2, p, o1, o2, wa, wb, la, lb, sa, sb, bias_a, bias_b, has_bias,
                    orow, at, lo, hi):
        """Two 16-channel vectors of one pixel: taps in row-major order (a product,
        then adds; no FMA), bias, clamp, masked stores. p: the window's first input
        value in r0/r1/r2 (channel c0); wa/wb: the nine weight vectors of each half;
        la/lb: per tap, how many lanes to load (0: a tap outside the input, read as
        zeros as the numpy tier's zero border); sa/sb: lanes to store."""
        q = p + LANES
        u = _vmul(_vload(r0, p, la[0]), wa[0])
        v = _vmul(_vload(r0, q, lb[0]), wb[0])
        u = _vadd(u, _vmul(_vload(r0, p + o1, la[1]), wa[1]))
        v = _vadd(v, _vmul(_vload(r0, q + o1, lb[1]), wb[1]))
        u = _vadd(u, _vmul(_vload(r0, p + o2, la[2]), wa[2]))
        v = _vadd(v, _vmul(_vload(r0, q + o2, lb[2]), wb[2]))
        u = _vadd(u, _vmul(_vload(r1, p, la[3]), wa[3]))
        v = _vadd(v, _vmul(_vload(r1, q, lb[3]), wb[3]))
        u = _vadd(u, _vmul(_vload(r1, p + o1, la[4]), wa[4]))
        v = _vadd(v, _vmul(_vload(r1, q + o1, lb[4]), wb[4]))
        u = _vadd(u, _vmul(_vload(r1, p + o2, la[5]), wa[5]))
        v = _vadd(v, _vmul(_vload(r1, q + o2, lb[5]), wb[5]))
        u = _vadd(u, _vmul(_vload(r2, p, la[6]), wa[6]))
        v = _vadd(v, _vmul(_vload(r2, q, lb[6]), wb[6]))
        u = _vadd(u, _vmul(_vload(r2, p + o1, la[7]), wa[7]))
        v = _vadd(v, _vmul(_vload(r2, q + o1, lb[7]), wb[7]))
        u = _vadd(u, _vmul(_vload(r2, p + o2, la[8]), wa[8]))
        v = _vadd(v, _vmul(_vload(r2, q + o2, lb[8]), wb[8]))
        if has_bias:
            u = _vadd(u, bias_a)
            v = _vadd(v, bias_b)
        _vstore(orow, at, _vclamp(u, lo, hi), sa)
        _vstore(orow, at + LANES, _vclamp(v, lo, hi), sb)

    @_jit_inline
    def _tap_lanes(rl, ok0, ok1, ok2):
        """Lanes per tap (row-major): a row's lanes rl[ky] where column kx is inside."""
        return (rl[0] if ok0 else 0, rl[0] if ok1 else 0, rl[0] if ok2 else 0,
                rl[1] if ok0 else 0, rl[1] if ok1 else 0, rl[1] if ok2 else 0,
                rl[2] if ok0 else 0, rl[2] if ok1 else 0, rl[2] if ok2 else 0)

    @_jit
    def depthwise_conv2d_3x3(x2, w3, bias, has_bias, out2, geom, lo, hi):
        """Depthwise 3x3, depth multiplier 1, 32 channels (two 16-lane vectors) at a
        time: the same arguments and results as compiled.depthwise_conv2d_3x3 (x2
        [N*H, W*C], w3 [3, 3*C], out2 [N*OH, OW*C], geom [h, c, sh, sw, dh, dw,
        pad_top, pad_left]): every pixel's taps multiplied and added in row-major
        order (no FMA), bias, clamp; equal to the numpy per-tap loop up to the sign
        of zero. Along each output row the chunk's 18 weight vectors stay in
        registers and the three window rows' slices in L1; taps outside the input
        are masked loads of no lanes (zeros, as the numpy tier's zero border), so
        border pixels take the same code as interior ones."""
        h, c, sh, sw, dh, dw, pt, pl = (geom[0], geom[1], geom[2], geom[3], geom[4], geom[5],
                                        geom[6], geom[7])
        wd = x2.shape[1] // c
        n_b = x2.shape[0] // h
        oh = out2.shape[0] // n_b
        ow = out2.shape[1] // c
        o1 = dw * c
        o2 = 2 * dw * c
        # interior columns: 0 <= ox*sw - pl and ox*sw - pl + 2*dw < wd
        ox_lo = min((pl + sw - 1) // sw, ow)
        ox_hi = max(min((wd - 1 - 2 * dw + pl) // sw + 1, ow), ox_lo)
        w0 = w3[0]
        w1 = w3[1]
        w2 = w3[2]
        for n in range(n_b):
            for oy in range(oh):
                iy0 = oy * sh - pt
                orow = out2[n * oh + oy]
                ok_r0 = 0 <= iy0 < h
                ok_r1 = 0 <= iy0 + dh < h
                ok_r2 = 0 <= iy0 + 2 * dh < h
                r0 = x2[n * h + (iy0 if ok_r0 else 0)]
                r1 = x2[n * h + (iy0 + dh if ok_r1 else 0)]
                r2 = x2[n * h + (iy0 + 2 * dh if ok_r2 else 0)]
                for c0 in range(0, c, 2 * LANES):
                    sa = c - c0
                    sb = sa - LANES
                    cb = c0 + LANES
                    wa = (_vload(w0, c0, sa), _vload(w0, c + c0, sa), _vload(w0, 2 * c + c0, sa),
                          _vload(w1, c0, sa), _vload(w1, c + c0, sa), _vload(w1, 2 * c + c0, sa),
                          _vload(w2, c0, sa), _vload(w2, c + c0, sa), _vload(w2, 2 * c + c0, sa))
                    wb = (_vload(w0, cb, sb), _vload(w0, c + cb, sb), _vload(w0, 2 * c + cb, sb),
                          _vload(w1, cb, sb), _vload(w1, c + cb, sb), _vload(w1, 2 * c + cb, sb),
                          _vload(w2, cb, sb), _vload(w2, c + cb, sb), _vload(w2, 2 * c + cb, sb))
                    bias_a = _vload(bias, c0, sa)
                    bias_b = _vload(bias, cb, sb)
                    ra = (sa if ok_r0 else 0, sa if ok_r1 else 0, sa if ok_r2 else 0)
                    rb = (sb if ok_r0 else 0, sb if ok_r1 else 0, sb if ok_r2 else 0)
                    la_in = _tap_lanes(ra, True, True, True)
                    lb_in = _tap_lanes(rb, True, True, True)
                    for ox in range(ox_lo, ox_hi):
                        _dw3_pixel2(r0, r1, r2, (ox * sw - pl) * c + c0, o1, o2, wa, wb, la_in,
                                    lb_in, sa, sb, bias_a, bias_b, has_bias, orow, ox * c + c0,
                                    lo, hi)
                    # border columns: [0, ox_lo) and [ox_hi, ow)
                    for e in range(ox_lo + ow - ox_hi):
                        ox = e if e < ox_lo else ox_hi + e - ox_lo
                        ix0 = ox * sw - pl
                        ok0 = 0 <= ix0 < wd
                        ok1 = 0 <= ix0 + dw < wd
                        ok2 = 0 <= ix0 + 2 * dw < wd
                        _dw3_pixel2(r0, r1, r2, ix0 * c + c0, o1, o2, wa, wb,
                                    _tap_lanes(ra, ok0, ok1, ok2), _tap_lanes(rb, ok0, ok1, ok2),
                                    sa, sb, bias_a, bias_b, has_bias, orow, ox * c + c0, lo, hi)


    @_jit
    def gemm(a, panels, bias, c, lo, hi, mblk, mr_t, nv_t):
        """c = clamp(a @ B + bias, lo, hi); panels = pack_panels(B, len(nv_t)), bias
        padded to the panels (pad_bias). Tile: len(mr_t) rows x 16*len(nv_t) columns."""
        m, kk = a.shape
        mr = len(mr_t)
        nr = LANES * len(nv_t)
        for m0 in range(0, m, mblk):
            m1 = min(m, m0 + mblk)
            for p in range(panels.shape[0]):
                j0 = p * nr
                bp = panels[p]
                i = m0
                while i + mr <= m1:
                    acc = _tile_zero(mr_t, nv_t)
                    for k in range(kk):
                        acc = _tile_fma(acc, a, i, k, bp, nv_t)
                    _tile_store(c, i, j0, acc, bias, lo, hi, nv_t)
                    i += mr
                while i + 4 <= m1:
                    acc4 = _tile_zero((0, 0, 0, 0), nv_t)
                    for k in range(kk):
                        acc4 = _tile_fma(acc4, a, i, k, bp, nv_t)
                    _tile_store(c, i, j0, acc4, bias, lo, hi, nv_t)
                    i += 4
                while i < m1:
                    acc1 = _tile_zero((0,), nv_t)
                    for k in range(kk):
                        acc1 = _tile_fma(acc1, a, i, k, bp, nv_t)
                    _tile_store(c, i, j0, acc1, bias, lo, hi, nv_t)
                    i += 1


    @_jit
    def conv_rows(a5, panels, bias, c4, lo, hi, mr_t, nv_t):
        """Implicit-GEMM convolution: c4[n, oy, ox] = clamp(sum over ky, j of
        a5[n, oy, ky, ox, j] * B[ky * KWC + j] + bias). a5 [N, OH, KH, OW, KWC] is a
        strided view of the padded input (a window row's KW*C values are contiguous
        when dilation_w is 1), so no column buffer is written; panels = pack_panels
        of the [KH*KW*C, O] filter. Sums run over ky, then j, in order."""
        nb, oh, kh, ow, kwc = a5.shape
        mr = len(mr_t)
        nr = LANES * len(nv_t)
        for n in range(nb):
            for oy in range(oh):
                crow = c4[n, oy]
                arows = a5[n, oy]
                for p in range(panels.shape[0]):
                    j0 = p * nr
                    pan = panels[p]
                    i = 0
                    while i + mr <= ow:
                        acc = _tile_zero(mr_t, nv_t)
                        for ky in range(kh):
                            a2 = arows[ky]
                            bp = pan[ky * kwc:(ky + 1) * kwc]
                            for k in range(kwc):
                                acc = _tile_fma(acc, a2, i, k, bp, nv_t)
                        _tile_store(crow, i, j0, acc, bias, lo, hi, nv_t)
                        i += mr
                    while i + 4 <= ow:
                        acc4 = _tile_zero((0, 0, 0, 0), nv_t)
                        for ky in range(kh):
                            a2 = arows[ky]
                            bp = pan[ky * kwc:(ky + 1) * kwc]
                            for k in range(kwc):
                                acc4 = _tile_fma(acc4, a2, i, k, bp, nv_t)
                        _tile_store(crow, i, j0, acc4, bias, lo, hi, nv_t)
                        i += 4
                    while i < ow:
                        acc1 = _tile_zero((0,), nv_t)
                        for ky in range(kh):
                            a2 = arows[ky]
                            bp = pan[ky * kwc:(ky + 1) * kwc]
                            for k in range(kwc):
                                acc1 = _tile_fma(acc1, a2, i, k, bp, nv_t)
                        _tile_store(crow, i, j0, acc1, bias, lo, hi, nv_t)
                        i += 1


def warm_up() -> float:
    """Compile (or load from the cache) every tile's specialization; returns seconds."""
    if not ENABLED:
        return 0.0
    import time
    t0 = time.perf_counter()
    a = np.zeros((13, 3), np.float32)
    for mr, nv in TILES:
        g = Gemm(np.zeros((3, 5), np.float32), None, 13, (None, None))
        g.mr, g.nv, g.mr_t, g.nv_t = mr, nv, (0,) * mr, (0,) * nv
        g.panels, g.bias = pack_panels(np.zeros((3, 5), np.float32), nv), pad_bias(None, 5, nv)
        g.run(a, np.zeros((13, 5), np.float32))
        x = np.zeros((1, 4, 4, 2), np.float32)
        # read-only, as conv.py's view (numba types read-only arrays apart)
        a5 = np.lib.stride_tricks.as_strided(x, (1, 2, 3, 2, 6), (128, 32, 32, 8, 4),
                                             writeable=False)
        conv_rows(a5, g.panels, g.bias, np.zeros((1, 2, 2, 5), np.float32), g.lo, g.hi,
                  g.mr_t, g.nv_t)
    x2 = np.zeros((4, 8), np.float32)
    depthwise_conv2d_3x3(x2, np.zeros((3, 6), np.float32), np.zeros(2, np.float32), True,
                         np.zeros((4, 8), np.float32), np.array([4, 2, 1, 1, 1, 1, 1, 1]),
                         np.float32(0.0), np.float32(6.0))
    return time.perf_counter() - t0
