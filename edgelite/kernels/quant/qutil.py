"""Shared machinery of the quantized and hybrid matrix kernels.

- Quantization parameters of a node as LiteRT derives them (per-channel
  multipliers from `double(in_scale) * double(w_scale) / double(out_scale)`).
- Fast vectorized requantization, bit-exact with arith.multiply_by_quantized_multiplier
  (double rounding) but in fewer numpy passes (see `Requantizer`).
- Exact integer GEMMs through float BLAS: `gemm_float_dtype` picks float32 when
  every partial sum provably stays below 2^24, float64 (exact below 2^53) otherwise.
- The on-the-fly input quantization of hybrid kernels (portable_tensor_utils'
  SymmetricQuantizeFloats / AsymmetricQuantizeFloats), one row per batch,
  vectorized over all rows at once.
- Zero-bordered (or value-bordered) padded copies and window views for im2col.
"""
from __future__ import annotations

import _thread

import numpy as np

from edgelite.kernels.common import as_strided
from edgelite.kernels.common import clip_ufunc as _clip
from edgelite.kernels.quant import arith

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
I8, U8, I16, I32, I64 = (np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.int32,
                                                np.int64))


# ------------------------------------------------------------------ parameters
def scales_of(ctx, spec, what: str) -> np.ndarray:
    """The tensor's scale array (float32 values), which must exist."""
    q = spec.quant
    if q is None or q.scale.size == 0:
        raise ctx.error(f"{what} must be quantized (it has no scale)", spec)
    return np.asarray(q.scale, np.float32).reshape(-1)


def zero_points_of(spec) -> np.ndarray:
    q = spec.quant
    if q is None or q.zero_point.size == 0:
        return np.zeros(1, np.int64)
    return np.asarray(q.zero_point, np.int64).reshape(-1)


def per_channel_multipliers(in_scale: float, w_scales: np.ndarray, out_scale: float,
                            channels: int) -> tuple[np.ndarray, np.ndarray]:
    """QuantizeMultiplier of in*w/out per output channel (a per-tensor scale broadcast)."""
    ws = np.broadcast_to(np.asarray(w_scales, np.float32).astype(np.float64), (channels,)) \
        if w_scales.size == 1 else np.asarray(w_scales, np.float32).astype(np.float64)
    real = float(np.float32(in_scale)) * ws / float(np.float32(out_scale))
    return arith.quantize_multiplier_array(real)


def effective_scales(in_scale: float, w_scales: np.ndarray, out_scale: float,
                     channels: int) -> np.ndarray:
    """double(in) * double(w) / double(out), per channel (the reference FC's float path)."""
    ws = np.asarray(w_scales, np.float32).astype(np.float64)
    if ws.size == 1:
        ws = np.full(channels, ws[0])
    return float(np.float32(in_scale)) * ws / float(np.float32(out_scale))


def activation_bounds(ctx, activation: int, out_spec, dtype) -> tuple[int, int]:
    if activation not in (0, 1, 2, 3):
        raise ctx.error(f"fused activation {activation} is not supported by a quantized "
                        f"{ctx.op_name} (only NONE, RELU, RELU_N1_TO_1, RELU6)")
    scale = float(scales_of(ctx, out_spec, "output")[0])
    zp = int(zero_points_of(out_spec)[0])
    return arith.quantized_activation_range(activation, scale, zp, dtype)


def gemm_float_dtype(k: int, max_abs_a: int, max_abs_b: int) -> np.dtype:
    """float32 if k products of |a| <= max_abs_a, |b| <= max_abs_b sum exactly, else float64."""
    return F32 if k * max_abs_a * max_abs_b < (1 << 24) else F64


def gemm_float_dtype_for(max_abs_a: int, w: np.ndarray, k_axis: int) -> np.dtype:
    """gemm_float_dtype with the constant operand known: every partial sum of
    a . w[:, unit] is an integer of magnitude <= max|a| * sum_k |w[k, unit]|, so float32
    is exact (in any summation order) when that is below 2^24 for every unit. Real
    weights sum far below K * 128 (K = 1024: ~65K against 131K), so K in the thousands
    keeps float32 (half the GEMM time and no float64 copies)."""
    if w.size == 0:
        return F32
    sums = np.abs(np.asarray(w, np.int64)).sum(axis=k_axis)
    return F32 if max_abs_a * int(sums.max()) < (1 << 24) else F64


def max_abs(dtype, zero_point: int = 0) -> int:
    info = np.iinfo(dtype)
    return max(abs(int(info.min) - zero_point), abs(int(info.max) - zero_point))


# ------------------------------------------------------------------ requantization
_POOL = _thread._local()          # (what threading.local is)
# Bumped whenever any thread's pool regrows a buffer: views cached on a pool buffer
# (Requantizer._wide_steps) are then rebuilt on the new one.
_POOL_GEN = [0]


def _pooled(slot: int, dtype, size: int) -> np.ndarray:
    """This thread's zero-initialized 1-D buffer number `slot`, at least `size` long."""
    bufs = getattr(_POOL, "bufs", None)
    if bufs is None:
        bufs = _POOL.bufs = {}
    b = bufs.get(slot)
    if b is None or b.size < size:
        b = bufs[slot] = np.zeros(size, dtype)
        _POOL.views = {}            # views cached on the old buffer (Requantizer._wide_bufs)
        _POOL_GEN[0] += 1
    return b


_PREP = _thread._local()


def prepare_temp(shape, dtype) -> np.ndarray:
    """A temporary array for prepare-time work (contents undefined; never kept by the
    caller): this thread's one reusable buffer, grown as needed. A fresh 512 KB array
    per lookup table cost ~0.2 ms of page faults at each 8-bit binary node's prepare
    (MobileNetV2 int8's ten ADDs: ~2 ms of its load)."""
    dtype = np.dtype(dtype)
    n = 1
    for d in shape:
        n *= int(d)
    nbytes = max(n * dtype.itemsize, 1)
    buf = getattr(_PREP, "buf", None)
    if buf is None or buf.size < nbytes:
        buf = _PREP.buf = np.empty(max(nbytes, 1 << 19), np.uint8)
    return buf[:n * dtype.itemsize].view(dtype).reshape(shape)


def _tile_rows(n: int, r: int) -> tuple[int, int]:
    """(tiles, rows per tile) covering n rows with tiles of at most r rows, as evenly as
    possible (any whole number of rows of a tile is itself a tile: the per-channel
    values repeat every row), so fewer than `tiles` rows past n are computed (448 rows
    in tiles of <= 342: 2 x 224, not 2 x 342)."""
    nt = -(-n // r)
    return nt, -(-n // nt)


def _compiled_thresholds():
    """compiled_quant.thresholds, or None without the compiled tier."""
    from edgelite.kernels import compiled
    if not compiled.ENABLED:
        return None
    from edgelite.kernels import compiled_quant
    return compiled_quant.thresholds


def _unsigned(out: np.ndarray) -> np.ndarray:
    """The 8- or 16-bit output seen as unsigned (the wide plan's narrowing cast is mod
    2^8 / 2^16 into it)."""
    return out.view(U8 if out.dtype.itemsize == 1 else np.dtype(np.uint16))


def _correct(t, uf, mask, tmp, d) -> None:
    """The negative-side correction uf -= d * [uf < t] (d the same shape as uf: a bool
    times a broadcast operand runs numpy's casting loop, ~4x slower)."""
    np.less(uf, t, out=mask)
    np.copyto(tmp, mask)
    np.multiply(tmp, d, out=tmp)
    np.subtract(uf, tmp, out=uf)


def _finish(un, corr, iv, lo, hi, o, fix) -> None:
    """The wide plan's passes after u' (Requantizer._finish_args): the negative-side
    correction u' -= d * [u' < t] (tiled), trunc into int16 / int32, clamp, narrow into
    the unsigned output view o (+ fix for 16-bit outputs)."""
    if corr is not None:
        _correct(*corr)
    np.copyto(iv, un, casting="unsafe")
    _clip(iv, lo, hi, out=iv)
    np.copyto(o, iv, casting="unsafe")
    if fix:
        np.add(o, o.dtype.type(fix), out=o)


class Requantizer:
    """acc (int64) -> clamp(MultiplyByQuantizedMultiplier(acc, m, s) + zp, lo, hi).

    Double rounding, as arith.multiply_by_quantized_multiplier, rewritten with
    three identities so it is a handful of numpy passes (for m > 0, |acc| < 2^31):
    SaturatingRoundingDoublingHighMul(a, m) equals q = (a*m + 2^30) >> 31 (C's
    truncating division of a*m + nudge by 2^31, nudge = ±2^30, is this floor in
    both signs); RoundingDivideByPOT(q, e) equals (q + h - [q < 0]) >> e with
    h = 2^(e-1) for e >= 1; and h folds into the first shift,
    (a*m + 2^30 + h*2^31) >> 31 = q + h, where q < 0 iff q + h < h.
    `use_int64_path` selects MultiplyByQuantizedMultiplier(int64 acc, ...) (int16
    kernels with 64-bit accumulators), done by arith directly.
    """

    def __init__(self, multipliers, shifts, zero_point: int, lo: int, hi: int,
                 use_int64_path: bool = False):
        m = np.asarray(multipliers, np.int64)
        s = np.asarray(shifts, np.int64)
        self.int64_path = use_int64_path
        self.m, self.s = m, s
        self.left = np.maximum(s, 0)
        self.any_left = bool(self.left.any())
        right = np.maximum(-s, 0)
        self.right = right
        if right.size and int(right.max()) <= 62:
            half = (np.int64(1) << right) >> 1          # 2^(e-1), 0 for e = 0
        else:
            half = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
        self.half = half
        self.nudge = (np.int64(1) << 30) + (half << 31)
        self.all_right = bool((right > 0).all())
        self.zp, self.lo, self.hi = int(zero_point), int(lo), int(hi)
        self.positive = bool((m > 0).all())
        self.fplan = self.splan = self.wplan = self._wide = None

    @property
    def compiled_ok(self) -> bool:
        """Whether the compiled kernels' requantization (this class's m > 0 path) applies."""
        return self.positive and not self.int64_path

    def params(self, channels: int) -> tuple:
        """(m, nudge, half, right, left, any_left, zp, lo, hi) for the compiled kernels:
        per-channel int64 arrays of length `channels` (a per-tensor value repeated).
        Made once per channel count (a VNNI node asks twice: for its integer epilogue
        and its fallback); callers only read the arrays."""
        memo = self.__dict__.setdefault("_params", {})
        found = memo.get(channels)
        if found is not None:
            return found

        def per_channel(a):
            a = np.asarray(a, np.int64).reshape(-1)
            if a.size == channels:
                return np.array(a)                  # a copy: never self's own array
            return np.full(channels, a[0]) if a.size == 1 else \
                np.ascontiguousarray(np.broadcast_to(a, (channels,)))
        found = memo[channels] = (
            per_channel(self.m), per_channel(self.nudge), per_channel(self.half),
            per_channel(self.right), per_channel(self.left), self.any_left,
            np.int64(self.zp), np.int64(self.lo), np.int64(self.hi))
        return found

    COMPILED_SEARCH = True      # the thresholds' search in compiled code when numba is there

    def threshold_plan(self, channels: int, acc_bound=None):
        """The float64 requantization of the compiled kernels (exact, no int64
        multiply); None when it does not apply (then the int64 form runs).

        R(a) = MultiplyByQuantizedMultiplier(a, m, s) + zp is non-decreasing in a and,
        without a left shift (m < 2^31), steps by at most 1 per unit of a. So with
        alo = the least int32 a with R(a) >= lo and ahi = the greatest with R(a) <= hi
        (found by bisection with the integer reference, arith), R(alo) = lo,
        R(ahi) = hi and clamp(R(a), lo, hi) = R(clamp(a, alo, ahi)) for every int32 a.
        R(a) = floor(u - d*[u < 1/2]) + zp, u = a*ms + k0 (the identities of
        enable_float, zp kept out of u: ms = m/2^S, k0 = c/2^S, d = 2^-e), is exact in
        float64 wherever |a| * m + c <= 2^53 (u * 2^S and (u - d) * 2^S are then
        integers of at most 53 bits). Checked here for |a| <= B, B = max(|alo|, |ahi|),
        or, with `acc_bound` (per channel: no accumulator of the node exceeds it in
        magnitude), B = min(that, acc_bound). Then the formula is exact on every
        reachable a in [alo, ahi] and at alo / ahi when they are reachable, and as it
        is non-decreasing in a (each rounding is), clamping its integer result to
        [lo, hi] gives clamp(R(a), lo, hi) for every reachable a: the kernels clamp the
        result, not a. Returns float64 arrays [channels] (alo, ahi, ms, k0, d) and zp."""
        if self.int64_path or not self.positive or self.any_left:
            return None
        bound_key = None if acc_bound is None else np.asarray(acc_bound, F64).tobytes()
        key = (channels, bound_key)         # (m, s, zp, lo, hi are fixed at construction)
        plans = self.__dict__.setdefault("_plans", {})
        if key not in plans:                # (a node asks twice: its float and VNNI plans)
            plans[key] = self._threshold_plan(channels, acc_bound)
        return plans[key]

    def _threshold_plan(self, channels: int, acc_bound):
        def per_channel(v):
            """v as int64 [channels] (read only here: a per-channel int64 array as is)."""
            v = np.asarray(v)
            if v.shape == (channels,) and v.dtype == np.int64:
                return v
            return np.ascontiguousarray(np.broadcast_to(v.reshape(-1), (channels,)),
                                        np.int64)
        m, s = per_channel(self.m), per_channel(self.s)
        zp, lo, hi = self.zp, self.lo, self.hi

        right = per_channel(self.right)
        half = per_channel(self.half)
        S = 31 + right
        c = np.ldexp(1.0, 30) + np.ldexp(half.astype(F64), 31)
        search = _compiled_thresholds() if self.COMPILED_SEARCH else None
        if search is not None:
            # the same bisection per channel in compiled scalar code (the numpy search's
            # ~100 small passes were a third of MobileNetV2 int8's prepare)
            alo, ahi = np.empty(channels, np.int64), np.empty(channels, np.int64)
            ok = search(m, right, np.int64(zp), np.int64(lo), np.int64(hi), alo, ahi)
            found = (alo, ahi) if ok else None
        else:
            found = self._search_numpy(m, s, zp, lo, hi, np.ldexp(m.astype(F64), -S),
                                       np.ldexp(c, -S))
        if found is None:
            return None
        alo, ahi = found
        big = np.maximum(np.abs(alo), np.abs(ahi))              # <= 2^31
        if acc_bound is not None:
            ab = np.broadcast_to(np.asarray(acc_bound, F64), (channels,))
            big = np.minimum(big, np.minimum(ab, 2.0 ** 31).astype(np.int64))
        # in int64, exactly: big * m < 2^62, c < 2^62
        c_int = (np.int64(1) << 30) + (half << 31)
        if not np.all(big * m + c_int <= (np.int64(1) << 53)):
            return None
        ms = np.ldexp(m.astype(F64), -S)
        k0 = np.ldexp(c, -S)
        d = np.where(right > 0, np.ldexp(1.0, -right), 0.0)
        return (alo.astype(F64), ahi.astype(F64), ms, k0, d, np.int64(zp))

    @staticmethod
    def _search_numpy(m, s, zp: int, lo: int, hi: int, ms_, k0_):
        """threshold_plan's (alo, ahi) found with numpy passes (None where the plan does
        not apply); compiled_quant.thresholds is the same search in compiled code."""
        channels = m.shape[0]

        def r(a):
            if a.ndim == 2:                       # [C, candidates]
                return arith.multiply_by_quantized_multiplier(a, m[:, None], s[:, None]) + zp
            return arith.multiply_by_quantized_multiplier(a, m, s) + zp

        amin = np.full(channels, arith.INT32_MIN, np.int64)
        amax = np.full(channels, arith.INT32_MAX, np.int64)
        if np.any(r(amax) < lo) or np.any(r(amin) > hi):
            return None                       # a constant output: leave it to the int path

        def least(pred, level):
            """Least a in [amin, amax] with pred(a) (pred monotone, true at amax). The
            17 integers within +-8 of the real-valued estimate of where R reaches
            `level` (R(a) ~ floor(a * ms + k0) + zp; the negative-side correction moves
            that by at most 2^31 / m <= 2 units of a) are tested at once: where the
            first is false and the last true, the answer is the first true one.
            Channels where that does not hold are bisected over [amin, amax]."""
            est = np.floor((level - zp - k0_) / ms_)
            est = np.clip(np.nan_to_num(est, nan=0.0, posinf=amax[0], neginf=amin[0]),
                          amin[0], amax[0]).astype(np.int64)
            # all 17 candidates of every channel in one evaluation [C, 17]
            cand = np.clip(est[:, None] + np.arange(-8, 9), amin[0], amax[0])
            p = pred(cand)
            good = ~p[:, 0] & p[:, -1]
            first = cand[np.arange(channels), np.argmax(p, axis=1)]
            a0 = np.where(good, first, amin)
            a1 = np.where(good, first, amax)
            done = ~good & pred(amin)
            a1[done] = a0[done]
            while np.any(a0 < a1):
                mid = a0 + (a1 - a0) // 2
                ok = pred(mid)
                a1 = np.where(ok, mid, a1)
                a0 = np.where(ok, a0, mid + 1)
            return a1

        alo = least(lambda a: r(a) >= lo, lo)
        ahi = np.where(r(amax) <= hi, amax, least(lambda a: r(a) > hi, hi + 1) - 1)
        if not (np.all(r(alo) == lo) and np.all(r(ahi) == hi) and np.all(alo <= ahi)):
            return None
        return alo, ahi

    # Rows per block of the blocked passes: ~32K int64 values (256 KB) stay in cache
    # across the ~9 passes of the requantization.
    BLOCK = 1 << 15

    def __call__(self, acc: np.ndarray, out: np.ndarray) -> None:
        """acc: int64 [..., C] (overwritten); out: the integer output array."""
        if self.int64_path:
            r = arith.multiply_by_quantized_multiplier_int64(acc, self.m, self.s)
        elif not self.positive:
            r = arith.multiply_by_quantized_multiplier(acc, self.m, self.s)
        else:
            if self.any_left:
                acc <<= self.left
                np.copyto(acc, ((acc + (1 << 31)) & 0xFFFFFFFF) - (1 << 31))
            acc *= self.m
            acc += self.nudge
            acc >>= 31                              # q + h
            neg = acc < self.half                   # q < 0
            if self.all_right:
                acc -= neg
            else:
                acc -= neg & (self.right > 0)
            acc >>= self.right
            r = acc
        r += self.zp
        _clip(r, self.lo, self.hi, out=r)
        np.copyto(out, r, casting="unsafe")

    # ---------------------------------------------------------- the float64 path
    def enable_float(self, corr: np.ndarray | None, acc_bound) -> bool:
        """Prepare the float64 requantization of `from_float(accf, corr, ...)` when it is
        provably exact for every |accf| <= acc_bound (per channel); returns whether it is.

        With a = accf + corr, m > 0, no left shift, e = right shift, S = 31 + e,
        h = 2^(e-1) (0 when e = 0) and c = 2^30 + h*2^31, the identities of the class
        docstring and floor(floor(y) / 2^e) = floor(y / 2^e) give the double-rounded
        result + zp in one floor:
            floor(u - [u < zp + 1/2] * d),   u = (a*m + c) / 2^S + zp,  d = 2^-e (0 if e = 0)
        ([u < zp + 1/2] is q < 0; floor(u) - zp = q + h >> e). u is computed as
        accf * (m / 2^S) + (corr*m + c + zp*2^S) / 2^S: every term and partial sum is a
        multiple of 2^-S below 2^53 * 2^-S in magnitude when
        (acc_bound + |corr|) * m + c + |zp| * 2^S < 2^52 (checked per channel), so
        float64 holds each exactly and the arithmetic is exact. Clipping to the integer
        bounds [lo, hi] commutes with floor; floor and the cast to the output type are
        one ufunc call. When |zp| * 2^S breaks the bound, zp stays out of u (u is
        clipped to [lo - zp, hi - zp], floored, then zp is added in the cast). The correction is skipped when lo >= zp: it only lowers values
        that are <= zp already, which the clamp then raises to lo anyway."""
        self.fplan = self.splan = self.wplan = self._wide = None
        if self.int64_path or not self.positive or self.any_left:
            return False
        m = self.m.astype(F64)
        e = self.right
        S = 31 + e
        two52 = np.ldexp(1.0, 52)
        pow2S = np.ldexp(1.0, S)
        c = np.ldexp(1.0, 30) + np.ldexp(self.half.astype(F64), 31)
        corr_ = np.zeros(1) if corr is None else np.asarray(corr, np.int64).astype(F64)
        abs_corr = np.abs(corr_)
        ab = np.asarray(acc_bound, F64)
        bound = (ab + abs_corr) * m + c
        limit = None
        if not (bound < two52).all():
            # not provable from the weights: check each block's max |accf| at run time
            # (int64 path for a block beyond it). The limit leaves room for the largest
            # offset that may sit inside u (|zp|, |zp - lo|, |zp - lo + lo mod 256|,
            # below), so the wide plan applies under it too; without that room (a limit
            # below 1), the largest limit, for the float64 plan alone.
            xmax = max(abs(self.zp), abs(self.zp - self.lo),
                       abs(self.zp - self.lo + self.lo % 256))
            limit = float(np.min(np.floor((two52 - abs_corr * m - c - xmax * pow2S) / m))) - 1
            if limit < 1:
                limit = float(np.min(np.floor((two52 - abs_corr * m - c) / m)))
            if limit < 1:
                return False
            bound = (limit + abs_corr) * m + c
        # The exactness checks below, bound + |x| * 2^S < 2^52 per channel, for the three
        # offsets x that can sit inside u (zp; zp - lo; zp - lo + lo mod 256), in one
        # evaluation (the same float operations per element as one check at a time)
        shift = self.zp - self.lo
        xs = np.array([abs(self.zp), abs(shift), abs(shift + self.lo % 256)], F64)
        ok_zp, ok_shift, ok_wide = (bound + xs[:, None] * pow2S < two52).all(axis=1).tolist()
        # zp inside u when that stays exact too; else zp is added after the floor
        zp_in = ok_zp
        zpu = self.zp if zp_in else 0
        ms = np.ldexp(m, -S)
        base = corr_ * ms + np.ldexp(c, -S)         # k, k' and the wide k' add their offset
        k = base + zpu
        need = self.lo < self.zp and bool((e > 0).any())
        d = np.where(e > 0, np.ldexp(1.0, -e), 0.0) if need else None
        self.fplan = (corr, np.ascontiguousarray(ms), np.ascontiguousarray(k), d,
                      zpu + 0.5, zp_in, limit)
        # The shifted plan of finish_u (one small block, 8-bit outputs, no negative-side
        # correction): u' = u - lo, i.e. zp - lo inside the offset, exact when
        # bound + |zp - lo| * 2^S < 2^52 (as zp above). The clamp [lo, hi] of floor(u)
        # is then lo + clamp(floor(u'), 0, hi - lo) = lo + clamp(trunc(u'), 0, hi - lo)
        # (trunc and floor differ only on negative non-integers, which both clamp to 0),
        # and trunc is the float -> int16 cast, safe when |u'| <= acc_bound * ms + |k'|
        # < 2^15.
        reach0 = ab * ms
        if limit is None and not need and self.hi - self.lo < (1 << 15) and ok_shift:
            ks = np.ascontiguousarray(np.broadcast_to(base + shift,
                                                      np.broadcast(corr_, ms).shape))
            if (reach0 + np.abs(ks) < (1 << 15) - 1).all():
                self.splan = (ks, self.hi - self.lo)
        # The wide plan of _from_float64 (blocks of any size) and of the folded GEMMs:
        # u' = u - lo + x with x = lo mod 256 (zp - lo + x inside the offset, exact
        # under the same check), then trunc into int16 or int32 (safe: |u'| < 2^52 /
        # 2^S <= 2^21; int16 when acc_bound * ms + |offset| stays below 2^15), clamp to
        # [x, x + hi - lo], and the cast into the output's unsigned bytes: mod 2^8 that
        # is lo + the clamped value, which the output type holds (a 16-bit output adds
        # lo - x after the cast). trunc equals floor on u' >= 0, and below 0 both clamp
        # to x. The negative-side correction is u' -= d * [u' < zp - lo + x + 1/2].
        # Two floor/clamp passes in float64 (~1.3 ns a value) become three integer ones
        # (~0.4 ns), and the per-channel scale and offset are tiled (_tiles). x is 0
        # when the larger offset would break exactness. With a run-time limit (weights
        # too large to prove the bound from), the checks above used the limit in
        # place of acc_bound, and _from_float64_wide checks each block against it as
        # the float64 plan does (a block beyond it goes the int64 way): MobileNetV2's
        # wide projections (K = 576, 960) took the float64 plan's ~10 passes before.
        self.wplan = None
        self._wide = None
        self.wextra = self.lo % 256 if ok_wide else 0
        wshift = shift + self.wextra
        if ok_wide if self.wextra else ok_shift:
            kw = base + wshift
            # int16 instead of int32 for the truncated values when no reachable u'
            # leaves int16 (|u'| <= acc_bound * ms + |k'|): ~15% less time in the
            # three integer passes
            reach = reach0 if limit is None else limit * ms
            it = I16 if (reach + np.abs(kw) < (1 << 15) - 2).all() and self.wextra + \
                self.hi - self.lo < (1 << 15) else I32
            self.wplan = (kw, float(wshift) + 0.5, self.fplan[3], it)
        return True

    def _small_kind(self, itemsize: int) -> int:
        """finish_u's plan for outputs of `itemsize`-byte integers (the float64 plan with
        no run-time limit): 1, the wide plan's integer passes, for 8-bit outputs when
        they truncate into int16 (their last pass, the narrowing cast into the output,
        takes ~0.6 us at 4,000 values where the shifted plan's add of lo takes ~1.6;
        with x = lo mod 256 inside the offset, so nothing is added after it);
        else 0, the shifted plan, when there is one; else 1 when there is a wide plan;
        else 2, the float64 plan's passes."""
        wide = self.wplan is not None and self.fplan[6] is None
        if wide and itemsize == 1 and self.wplan[3] == I16 and self.wextra == self.lo % 256:
            return 1
        if self.splan is not None:
            return 0
        return 1 if wide else 2

    def offset(self, itemsize: int) -> np.ndarray:
        """k of u = accf * ms + k for finish_u into `itemsize`-byte outputs: the offset of
        the plan _small_kind picks."""
        kind = self._small_kind(itemsize)
        if kind == 0:
            return self.splan[0]
        return self.wplan[0] if kind == 1 else self.fplan[2]

    def small_buffers(self, shape, itemsize: int) -> tuple | None:
        """Scratch (u, mask, tmp, lo, hi, iv, d, t, kind) for finish_u on accumulators of
        this shape [..., C] into `itemsize`-byte outputs (one block, the float64 plan with
        no run-time limit), or None when that path does not apply. kind (_small_kind) 0,
        the shifted plan: iv an int16 buffer, [lo, hi] = [0, hi - lo]; kind 1, the wide
        plan's integer passes: iv int16 / int32, [lo, hi] its clamp; kind 2, the float64
        plan: float bounds, iv None. d: the negative-side correction's per-channel step
        broadcast to the whole shape (a [C] operand makes numpy loop per row: ~3.5
        against ~1 us at 256 x 16), or None; t its threshold."""
        plan = self.fplan
        if plan is None or plan[6] is not None or int(np.prod(shape)) > self.BLOCK:
            return None
        kind = self._small_kind(itemsize)
        if kind == 0:
            return (np.zeros(shape, F64), None, None, 0, self.splan[1],
                    np.zeros(shape, I16), None, None, 0)
        if kind == 1:
            _, t, d, it = self.wplan
            x = self.wextra
            lo, hi, iv, kind = x, x + self.hi - self.lo, np.zeros(shape, it), 1
        else:
            t, d = plan[4], plan[3]
            zpo = 0 if plan[5] else self.zp
            lo, hi, iv, kind = float(self.lo - zpo), float(self.hi - zpo), None, 2
        if d is None:
            return (np.zeros(shape, F64), None, None, lo, hi, iv, None, t, kind)
        dt = np.ascontiguousarray(np.broadcast_to(d, shape), F64)
        return (np.zeros(shape, F64), np.zeros(shape, np.bool_), np.zeros(shape, F64), lo,
                hi, iv, dt, t, kind)

    def fold_into_gemm(self, wq: np.ndarray, out_shape, itemsize: int) -> tuple | None:
        """The float64 plan folded into a GEMM's weights, for small outputs: with the raw
        input rows extended by a column of ones, [x, 1] @ [[wq * ms], [k]] is u of
        enable_float directly (k = offset(itemsize); then finish_u into `itemsize`-byte
        outputs). Exact: every term
        (x * w * m, an integer below 2^53, times 2^-S; and k) and every partial sum, in
        any order, is a multiple of 2^-S bounded by the sum of all terms' magnitudes,
        which enable_float's checks keep below 2^52 * 2^-S when its acc_bound bounds
        sum |x| * |w| (max|x| * sum|w|). wq: int [K, C] (zero-point-adjusted weights).
        Returns (float64 weights [K + 1, C], the buffers of finish_u) or None when the
        plan is absent or needs run-time checks."""
        bufs = self.small_buffers(out_shape, itemsize)
        if bufs is None:
            return None
        ms = self.fplan[1]
        w = np.empty((wq.shape[0] + 1, wq.shape[1]), F64)
        np.multiply(wq.astype(F64), ms, out=w[:-1])
        w[-1] = self.offset(itemsize)
        return w, bufs

    @staticmethod
    def finish_target(out: np.ndarray, bufs: tuple) -> np.ndarray:
        """The array to pass finish_u for its output `out` with these buffers: out, or
        its unsigned view for the wide plan's integer passes (made once, at bind)."""
        return _unsigned(out) if bufs[-1] == 1 else out

    def finish_u(self, u: np.ndarray, out: np.ndarray, bufs: tuple) -> None:
        """The steps of _from_float64 after u = accf * ms + offset(), in one block of any
        shape [..., C] (u is overwritten; out has u's shape, and is finish_target's
        array)."""
        _, mask, tmp, lo, hi, iv, dt, t, kind = bufs
        if kind == 1:
            # the wide plan's integer passes: correction, trunc, clamp, narrow into the
            # unsigned output view
            _finish(u, None if dt is None else (t, u, mask, tmp, dt), iv, lo, hi, out,
                    (self.lo - lo) % (1 << (8 * out.itemsize)))
            return
        if kind == 0:
            # the shifted plan: trunc into int16, clamp to [0, hi - lo], + lo
            np.copyto(iv, u, casting="unsafe")
            _clip(iv, 0, hi, out=iv)
            np.add(iv, self.lo, out=out, casting="unsafe")
            return
        if dt is not None:
            _correct(t, u, mask, tmp, dt)
        zp_in = self.fplan[5]
        _clip(u, lo, hi, out=u)
        if zp_in:
            np.floor(u, out=out, casting="unsafe")
        else:
            np.floor(u, out=u)
            np.add(u, self.zp, out=out, casting="unsafe")

    # Values per tile of the wide plan's scale / offset / correction arrays: a multiply
    # of [rows, C] by a [C] vector runs one inner loop per row (~25 ns each, half the
    # multiply's time at C = 96); by an [r, C] tile over a [rows / r, r * C] view, one
    # per r rows (~8K values: 2K-value tiles measured ~1.5x slower per value).
    TILE = 8192

    def _tiles(self, c: int) -> tuple:
        """(C, r, ms, offset, d or None) tiled r rows deep, for C channels."""
        tl = self._wide
        if tl is None or tl[0] != c:
            r = max(1, -(-self.TILE // max(c, 1)))
            kw, _, d, _ = self.wplan

            def tile(v):
                return np.ascontiguousarray(np.broadcast_to(np.broadcast_to(
                    np.asarray(v, F64).reshape(-1), (c,)), (r, c))).reshape(-1)
            tl = self._wide = (c, r, tile(self.fplan[1]), tile(kw),
                               None if d is None else tile(d))
        return tl

    def wide_rows(self, rows: int, c: int) -> int:
        """Rows of a wide-plan buffer holding `rows` rows (a whole number of tiles)."""
        r = self._tiles(c)[1]
        return -(-rows // r) * r

    def _wide_bufs(self, rows: int, c: int) -> tuple:
        """(u float64, int32, mask, tmp) [wide_rows(rows, c), C]: views of this thread's
        buffers, shared by every requantizer (each uses them within one call only, so
        one model's nodes need one set, not one each: ~11 MB less on MobileNetV2). They
        start zeroed and only ever hold finite values, so the rows past a block's end
        that the tiled passes touch are finite."""
        size = self.wide_rows(rows, c) * c
        corr = self.wplan[2] is not None
        it = self.wplan[3]
        # the views are cached per thread by their shape and types (~2.4 -> ~0.6 us a
        # call, ~240 calls per MobileNetV2 int8 invoke); a regrown pool buffer clears them
        key = (size, c, it, corr)
        views = getattr(_POOL, "views", None)
        found = views.get(key) if views is not None else None
        if found is not None:
            return found

        def view(slot, dtype):
            return _pooled(slot, dtype, size)[:size].reshape(-1, c)
        found = (view(0, F64), view(1 if it == I32 else 4, it),
                 view(2, np.bool_) if corr else None, view(3, F64) if corr else None)
        views = getattr(_POOL, "views", None)     # (reset if a buffer was just regrown)
        if views is None:
            views = _POOL.views = {}
        views[key] = found
        return found

    def wide_u(self, rows: int, c: int) -> np.ndarray:
        """The float64 buffer of finish_pooled for `rows` rows (see _wide_bufs)."""
        size = self.wide_rows(rows, c) * c
        return _pooled(0, F64, size)[:size].reshape(-1, c)

    def fold_weights(self, wq: np.ndarray) -> np.ndarray | None:
        """The wide plan folded into a float64 GEMM's weights: [x, 1] @ [[wq * ms], [k']]
        is u' of the wide plan (k' its shifted offset) for raw input rows x, exactly:
        each term (x * w * m, an integer, times 2^-S; and k') and every partial sum in
        any order is a multiple of 2^-S, and their magnitudes sum to less than 2^52 * 2^-S
        by enable_float's checks when its acc_bound bounds sum |x| * |w|. wq: int [K, C]
        (zero-point-adjusted weights). None without the wide plan, or when it needs
        run-time checks (a GEMM's output is u' itself: nothing checks its blocks)."""
        if self.wplan is None or self.fplan[6] is not None:
            return None
        w = np.empty((wq.shape[0] + 1, wq.shape[1]), F64)
        np.multiply(wq.astype(F64), self.fplan[1], out=w[:-1])
        w[-1] = np.broadcast_to(np.asarray(self.wplan[0], F64).reshape(-1), (wq.shape[1],))
        return w

    def finish_pooled(self, n: int, out: np.ndarray) -> None:
        """The wide plan after u' = accf * ms + k' for u' in rows [:n] of this thread's
        wide_u buffer (a GEMM's output there; the rows past n that the tiled passes touch
        hold finite values, overwritten), into out [n, C]; its arguments made once per
        thread and shape."""
        c, size = out.shape[1], out.dtype.itemsize

        def build():
            return self._finish_args(*self._wide_bufs(n, c), n, c, size)
        un, corr, iv, lo, hi, fix = self._thread_cached(("finish", n, c, size), build)
        _finish(un, corr, iv, lo, hi, _unsigned(out), fix)

    def _finish_args(self, u, i32, mb, tb, n: int, c: int, size: int) -> tuple:
        """(u rows, (t, tiled u, mask, tmp, d tile) or None, truncated rows, clamp bounds,
        fix) of _finish for n rows of u' in u into a `size`-byte output."""
        _, r, _, _, dT = self._tiles(c)
        corr = None
        if dT is not None:
            nt, re = _tile_rows(n, r)
            rc = re * c
            corr = (self.wplan[1], u[:nt * re].reshape(nt, rc),
                    mb[:nt * re].reshape(nt, rc), tb[:nt * re].reshape(nt, rc), dT[:rc])
        x = self.wextra
        fix = (self.lo - x) % (1 << (8 * size))         # 0 for 8-bit outputs
        return u[:n], corr, i32[:n], x, x + self.hi - self.lo, fix

    def _wide_steps(self, rows: int, c: int, size: int) -> list:
        """The passes of _from_float64_wide for [rows, C] accumulators into an output of
        `size`-byte integers, as argument tuples on this thread's buffers, one per block:
        (r0, r1, tiled u, scale tile, offset tile, _finish_args). Made once per thread and
        shape (the Python
        arithmetic and views were ~7 us of a 39 us block); rebuilt after any pool buffer
        regrows (_POOL_GEN). Kept on the requantizer, so they go with it."""
        return self._thread_cached(("steps", rows, c, size),
                                   lambda: self._build_wide_steps(rows, c, size))

    def _thread_cached(self, key, build):
        """build(), made once per thread and key and kept on this requantizer (so it goes
        with it), made again after any pool buffer regrows (_POOL_GEN): for argument
        tuples holding views of this thread's pool buffers."""
        per = self.__dict__.setdefault("_wsteps", {})
        tid = _thread.get_ident()
        entry = per.get(tid)
        if entry is not None and entry[0] == _POOL_GEN[0]:
            found = entry[1].get(key)
            if found is not None:
                return found
        found = build()
        entry = per.get(tid)                # (the buffers may just have regrown)
        if entry is None or entry[0] != _POOL_GEN[0]:
            if len(per) >= 8:               # threads come and go: keep a few
                per.clear()
            entry = per[tid] = (_POOL_GEN[0], {})
        entry[1][key] = found
        return found

    def _build_wide_steps(self, rows: int, c: int, size: int) -> list:
        _, r, msT, kT, _ = self._tiles(c)
        # rows per block: BLOCK values rounded up to whole tiles (a caller's block of
        # about BLOCK values, e.g. a depthwise band, is then one step, not two)
        step = max(r, -(-(self.BLOCK // max(c, 1)) // r) * r)
        bufs = self._wide_bufs(min(rows, step), c)
        u = bufs[0]
        steps = []
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            n = r1 - r0
            nt, re = _tile_rows(n, r)
            rc = re * c
            steps.append((r0, r1, u[:nt * re].reshape(nt, rc), msT[:rc], kT[:rc],
                          self._finish_args(*bufs, n, c, size)))
        return steps

    def _from_float64_wide(self, accf: np.ndarray, out: np.ndarray) -> None:
        rows, c = accf.shape
        o_all = _unsigned(out)
        limit = self.fplan[6]
        for r0, r1, uf, ms, k, (un, corr, iv, lo, hi, fix) in self._wide_steps(
                rows, c, out.dtype.itemsize):
            if limit is not None:
                blk = accf[r0:r1]
                if max(blk.max(), -blk.min()) > limit:
                    self._from_float_int(blk, self.fplan[0], out[r0:r1])
                    continue
            np.copyto(un, accf[r0:r1])
            np.multiply(uf, ms, out=uf)
            np.add(uf, k, out=uf)
            _finish(un, corr, iv, lo, hi, o_all[r0:r1], fix)

    def _from_float64(self, accf: np.ndarray, out: np.ndarray) -> None:
        if self.wplan is not None and accf.ndim == 2 and out.dtype.itemsize <= 2:
            self._from_float64_wide(accf, out)
            return
        corr, ms, k, d, t, zp_in, limit = self.fplan
        rows, c = accf.shape
        step = max(1, self.BLOCK // max(c, 1))
        n = min(step, rows)
        fb = getattr(self, "_fbuf", None)
        if fb is None or fb.shape[1] != c or fb.shape[0] < n:
            fb = self._fbuf = np.empty((n, c), F64)
            self._mbuf = np.empty((n, c), np.bool_)
            self._tbuf = np.empty((n, c), F64)
        mb, tb = self._mbuf, self._tbuf
        zpo = 0 if zp_in else self.zp
        lo, hi = float(self.lo - zpo), float(self.hi - zpo)
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            blk = accf[r0:r1]
            if limit is not None and max(blk.max(), -blk.min()) > limit:
                self._from_float_int(blk, corr, out[r0:r1])
                continue
            u = fb[:r1 - r0]
            if blk.dtype == F64:
                np.multiply(blk, ms, out=u)
            else:
                # widen first: a float32 x float64 multiply goes through the ufunc's
                # casting buffers (~1.5-2x the copy and a float64 multiply)
                np.copyto(u, blk)
                u *= ms
            u += k
            if d is not None:
                # u -= d * [u < t]: a masked subtract (where=) is ~20x slower than this;
                # the mask is widened by a copy for the same reason
                mask, tmp = mb[:r1 - r0], tb[:r1 - r0]
                np.less(u, t, out=mask)
                np.copyto(tmp, mask)
                tmp *= d
                u -= tmp
            _clip(u, lo, hi, out=u)
            if zp_in:
                np.floor(u, out=out[r0:r1], casting="unsafe")
            else:
                np.floor(u, out=u)
                np.add(u, zpo, out=out[r0:r1], casting="unsafe")

    def from_float(self, accf: np.ndarray, corr: np.ndarray | None, out: np.ndarray) -> None:
        """Requantize float-held exact accumulators accf [R, C] (+ an int64 per-channel
        correction) into out [R, C], in cache-sized row blocks."""
        plan = getattr(self, "fplan", None)
        if plan is not None and plan[0] is corr:
            self._from_float64(accf, out)
            return
        self._from_float_int(accf, corr, out)

    def _from_float_int(self, accf: np.ndarray, corr: np.ndarray | None,
                        out: np.ndarray) -> None:
        rows, c = accf.shape
        step = max(1, self.BLOCK // max(c, 1))
        buf = getattr(self, "_buf", None)
        if buf is None or buf.shape[1] != c or buf.shape[0] < min(step, rows):
            buf = self._buf = np.empty((min(step, rows), c), np.int64)
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            b = buf[:r1 - r0]
            np.copyto(b, accf[r0:r1], casting="unsafe")
            if corr is not None:
                b += corr
            self(b, out[r0:r1])


def round_half_away(x: np.ndarray) -> np.ndarray:
    """C round()/std::round on float arrays: halves away from zero, exactly."""
    t = np.trunc(x)
    frac = x - t
    return t + np.where(np.abs(frac) >= 0.5, np.sign(x), 0.0).astype(x.dtype)


# ------------------------------------------------------------------ hybrid input quantization
def symmetric_quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SymmetricQuantizeFloats on each row of x [B, K] (float32): (the int8 values as a
    float32 array [B, K], float32 scaling factors [B])."""
    mn = x.min(axis=1) if x.shape[1] else np.zeros(x.shape[0], F32)
    mx = x.max(axis=1) if x.shape[1] else np.zeros(x.shape[0], F32)
    rng = np.maximum(np.abs(mn), np.abs(mx)).astype(F32)
    zero = rng == 0
    safe = np.where(zero, np.float32(1), rng).astype(F32)
    sf = (safe / np.float32(127)).astype(F32)
    inv = (np.float32(127) / safe).astype(F32)
    v = (x * inv[:, None]).astype(F32)
    v = round_half_away(v)
    np.clip(v, -127, 127, out=v)
    v[zero] = 0
    sf[zero] = 1.0
    return v, sf


def asymmetric_quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AsymmetricQuantizeFloats on each row of x [B, K]: (the int8 values as a float32
    array [B, K], float32 scaling factors [B], int64 offsets [B]).

    As LiteRT's shipped x86 build behaves, measured against it (its source in
    portable_tensor_utils.cc differs): the returned scale is a float32 division,
    the zero point is derived in double, and the offset is added after rounding,
    q = clamp(round(x * (1/scale)) + offset). The source's formulas miss ulps and
    rounding ties."""
    f = np.float32
    if x.shape[1]:
        rmin = np.minimum(f(0), x.min(axis=1)).astype(F32)
        rmax = np.maximum(f(0), x.max(axis=1)).astype(F32)
    else:
        rmin = rmax = np.zeros(x.shape[0], F32)
    flat = rmin == rmax
    sf = np.where(flat, f(1), (rmax - rmin) / f(255)).astype(F32)
    scale = np.where(flat, 1.0, (rmax.astype(F64) - rmin.astype(F64)) / 255.0)
    lo, hi = rmin.astype(F64), rmax.astype(F64)
    zp_min = -128.0 - lo / scale
    zp_max = 127.0 - hi / scale
    err_min = 128.0 + np.abs(lo / scale)
    err_max = 127.0 + np.abs(hi / scale)
    zpd = np.where(err_min < err_max, zp_min, zp_max)
    nudged = np.where(zpd <= -128, -128, np.where(zpd >= 127, 127, round_half_away(zpd)))
    offset = np.where(flat, 0, nudged).astype(np.int64)
    inv = (f(1) / sf).astype(F32)
    v = round_half_away((x * inv[:, None]).astype(F32))
    v += offset.astype(F32)[:, None]
    np.clip(v, -128, 127, out=v)
    v[flat] = 0
    return v, sf, offset


# ------------------------------------------------------------------ padding and windows
def same_valid_pads(padding: int, in_size: int, k: int, stride: int, dilation: int,
                    out_size: int) -> tuple[int, int]:
    """(before, after) as TFLite's ComputePaddingHeightWidth (the odd pixel goes after)."""
    eff = (k - 1) * dilation + 1
    total = max((out_size - 1) * stride + eff - in_size, 0)
    return total // 2, total - total // 2


class Padded:
    """A bordered copy of a [N, H, W, C] input in a float buffer; the border holds `fill`
    (an input zero point, or 0 when the copy holds zero-point-adjusted values)."""

    def __init__(self, in_shape, pads: tuple[tuple[int, int], tuple[int, int]]):
        n, h, w, c = in_shape
        (t, b), (left, r) = pads
        self.pads = pads
        self.shape = (n, h + t + b, w + left + r, c)
        self.in_shape = tuple(in_shape)
        self.needed = bool(t or b or left or r)

    def bind(self, buf: np.ndarray) -> None:
        (t, _), (left, _) = self.pads
        _, h, w, _ = self.in_shape
        self.buf = buf
        self.inner = buf[:, t:t + h, left:left + w, :]
        self.borders = [v for v in (buf[:, :t], buf[:, t + h:], buf[:, t:t + h, :left],
                                    buf[:, t:t + h, left + w:]) if v.size]

    def fill_border(self, value) -> None:
        for v in self.borders:
            v.fill(value)


def bands(n: int, oh: int, row_elems: int, block: int) -> tuple[int, int, list]:
    """Cache-sized blocks of an [N, OH, ...] output whose OH rows hold row_elems values:
    (images per block, rows per block, [(n0, n1, y0, y1), ...]). Whole images when an
    image fits in `block` values, else bands of rows of one image, so that each block
    of a C-contiguous [N, OH, ...] buffer is itself contiguous."""
    plane = oh * row_elems
    if plane <= block:
        nb, bh = max(1, min(n, block // max(plane, 1))), oh
    else:
        nb, bh = 1, max(1, block // max(row_elems, 1))
    out = [(n0, min(n, n0 + nb), y0, min(oh, y0 + bh))
           for n0 in range(0, n, nb) for y0 in range(0, oh, bh)]
    return nb, bh, out


def window_view(src: np.ndarray, out_hw, kernel, strides, dilations) -> np.ndarray:
    """[N, OH, OW, KH, KW, C] read-only view of the sliding windows over src [N, H, W, C]."""
    sn, sh, sw, sc = src.strides
    shape = (src.shape[0], out_hw[0], out_hw[1], kernel[0], kernel[1], src.shape[3])
    strides_ = (sn, sh * strides[0], sw * strides[1], sh * dilations[0], sw * dilations[1], sc)
    return as_strided(src, shape=shape, strides=strides_, writeable=False)


def fill_cyclic(table: np.ndarray, first: int, values: np.ndarray) -> None:
    """table[(first + i) mod size] = values[i] for consecutive keys first, first + 1, ...
    (at most size of them): the keys mod size are a rotation, so two slice copies (a
    fancy-indexed scatter over arange(...) % size costs ~0.2 ms at 32K keys)."""
    size = table.size
    start = int(first) % size
    k = min(size - start, values.size)
    table[start:start + k] = values[:k]
    table[:values.size - k] = values[k:]


def requantized(raw: np.ndarray, m: int, shift: int, zp: int, lo: int, hi: int,
                 dtype) -> np.ndarray:
    """clamp(MultiplyByQuantizedMultiplier(raw, m, shift) + zp, lo, hi) as `dtype`, for
    int64 raw values within int32 (overwritten): Requantizer's in-place passes (the same
    integers, tests/kernels/test_qutil.py), not arith's allocating ones (a third of the
    time of an 8-bit lookup table at prepare)."""
    out = np.empty(raw.shape, dtype)
    Requantizer(np.array([m]), np.array([shift]), zp, lo, hi)(raw, out)
    return out


def grid_table(x1: np.ndarray, x2: np.ndarray, op: int, m: int, shift: int, zp: int,
               lo: int, hi: int, out: np.ndarray) -> bool:
    """compiled_qops.table_grid in numpy passes: out (flat, n1 * n2) = clamp(
    MultiplyByQuantizedMultiplier(raw, m, shift) + zp, lo, hi) for raw = x1[i] + x2[j]
    (op 0), x1[i] * x2[j] (op 1) or wrap32(wrap32(x1[i] - x2[j])^2) (op 2), |raw| < 2^31,
    when m > 0 and shift <= 0 (else False, out untouched). The Requantizer's integers
    with the multiplier applied to the 256 terms of a side, not to the 65,536 grid
    values: raw * m = x1*m + x2*m (op 0) or (x1*m) * x2 (op 1) is one grid pass, and
    the rounding nudge and zp * 2^(31+e) ride along in the same pass, so zp comes out of
    the shifts for free (floor((v + zp * 2^k) / 2^k) = floor(v / 2^k) + zp; q < 0 iff
    (raw*m + nudge + zp*2^(31+e)) >> 31 < h + zp * 2^e). Every sum stays below 2^63
    (checked; False otherwise). ~2x fewer passes than Requantizer on the grid."""
    if not (m > 0 and shift <= 0):
        return False
    right = -int(shift)
    h = (1 << right) >> 1
    x1 = np.asarray(x1, np.int64).reshape(-1)
    x2 = np.asarray(x2, np.int64).reshape(-1)
    if not x1.size or not x2.size:
        return False
    # bound on |raw * m| from the terms (Python ints: exact)
    a1, a2 = int(np.abs(x1).max()), int(np.abs(x2).max())
    raw_max = {0: a1 + a2, 1: a1 * a2}.get(op, (1 << 31))
    nudge = (1 << 30) + (h << 31)
    if raw_max > (1 << 31) or raw_max * int(m) + nudge >= (1 << 63):
        return False
    # zp inside the sum when that stays within int64 too, else added after the shifts
    zin = raw_max * int(m) + nudge + (abs(int(zp)) << (31 + right)) < (1 << 63)
    zpi = int(zp) if zin else 0
    add = nudge + (zpi << (31 + right))
    g = out.size == x1.size * x2.size and out.dtype == np.int64 and out.flags.c_contiguous
    acc = out.reshape(x1.size, x2.size) if g else prepare_temp((x1.size, x2.size), np.int64)
    if op == 0:
        np.add((x1 * m)[:, None], (x2 * m + add)[None, :], out=acc)
    elif op == 1:
        np.multiply((x1 * m)[:, None], x2[None, :], out=acc)
        acc += add
    else:
        two31 = np.int64(1 << 31)
        np.subtract(x1[:, None], x2[None, :], out=acc)
        acc += two31                    # wrap32 of the difference, then of its square
        acc &= 0xFFFFFFFF
        acc -= two31
        np.multiply(acc, acc, out=acc)
        acc += two31
        acc &= 0xFFFFFFFF
        acc -= two31
        acc *= m
        acc += add
    acc >>= 31                                  # q + h (+ zp * 2^e)
    if right > 0:
        acc -= acc < (h + (zpi << right))       # q < 0: RoundingDivideByPOT's correction
        acc >>= right
    if not zin:
        acc += int(zp)
    _clip(acc, lo, hi, out=acc)
    if not g:
        np.copyto(out.reshape(acc.shape), acc, casting="unsafe")
    return True
