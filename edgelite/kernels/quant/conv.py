"""Quantized convolutions and matrix products: CONV_2D, DEPTHWISE_CONV_2D,
FULLY_CONNECTED, TRANSPOSE_CONV, BATCH_MATMUL (int8 with per-channel weights,
uint8 per-tensor with weight zero points, int16 activations x int8 weights).

Bit-exact with LiteRT's reference kernels (BUILTIN_REF):
- Accumulators are exact integers computed by float BLAS: the GEMM runs on the
  raw input values (padding filled with the input zero point) against
  zero-point-adjusted weights, and the input zero point's contribution,
  `zi * sum(w - zw)`, is folded with the bias into one per-channel int64
  correction. float32 is used when every partial sum provably stays below 2^24
  (qutil.gemm_float_dtype), float64 (exact below 2^53) otherwise.
- Requantization is vectorized int64 (qutil.Requantizer, double rounding), with
  LiteRT's per-op choice of MultiplyByQuantizedMultiplier overload (the int64
  one where the reference accumulates in int64: int16 with int64 bias, int16
  BATCH_MATMUL).
- Compiled tier on AVX-512 VNNI hosts (compiled_igemm): int8 CONV_2D, FULLY_CONNECTED
  and 3x3 DEPTHWISE_CONV_2D accumulate in int32 lanes (vpdpbusd / vpdpwssd emitted
  as LLVM IR), exact for any K, with the requantization fused.
- FULLY_CONNECTED's reference kernel does not use the integer multiplier at
  all: it rounds `double(acc) * (in_scale * w_scale / out_scale)` half away from
  zero (reference_integer_ops::FullyConnected with scales). LiteRT's default
  kernels use the multiplier, so they can differ from BUILTIN_REF by one step;
  we match BUILTIN_REF.
"""
from __future__ import annotations

import math
from array import array

import numpy as np

from edgelite.format.schema.tflite_tables import Padding, TensorType
from edgelite.kernels import conv as _conv_module
from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext
from edgelite.kernels.common import (
    activation_code,
    as_strided,
    batch_matmul_shapes,
    conv_output_size,
    invoke_for_binding,
    tiled,
)
from edgelite.kernels.conv import _c_einsum, compiled_tier
from edgelite.kernels.quant.qutil import (
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    Padded,
    Requantizer,
    _clip,
    activation_bounds,
    bands,
    effective_scales,
    gemm_float_dtype,
    max_abs,
    per_channel_multipliers,
    prepare_temp,
    same_valid_pads,
    scales_of,
    window_view,
    zero_points_of,
)
from edgelite.kernels.registry import register

_ACT_TYPES = (I8, U8, I16)
_HALF_BELOW = 0.49999999999999994       # 0.5 - 2^-54, the double just below 1/2


def _opt(options, name: str, default):
    value = getattr(options, name, None) if options is not None else None
    return default if value is None else value


def _positive(ctx: PrepareContext, **values: int) -> None:
    for name, v in values.items():
        if v <= 0:
            raise ctx.error(f"{name} must be positive, got {v}")


def _padding(ctx: PrepareContext, o) -> int:
    p = _opt(o, "padding", Padding.SAME)
    if p not in (Padding.SAME, Padding.VALID):
        raise ctx.error(f"unknown padding {p}")
    return p


class QuantSetup:
    """The dtype rules and quantization parameters shared by conv-like ops."""

    def __init__(self, ctx: PrepareContext, x, w, bias, out, channels: int,
                 channel_axis: int, allow_per_channel: bool = True):
        self.x_dtype = x.dtype
        if x.dtype not in _ACT_TYPES:
            raise ctx.error(f"input has type {x.dtype}; the quantized {ctx.op_name} takes "
                            f"int8, uint8 or int16", x)
        if out.dtype != x.dtype:
            raise ctx.error(f"output has type {out.dtype}, expected the input's {x.dtype}",
                            out)
        want_w = U8 if x.dtype == U8 else I8
        if w.dtype != want_w:
            raise ctx.error(f"{x.dtype} input needs {want_w} weights, got {w.dtype}", w)
        self.in_scale = float(scales_of(ctx, x, "input")[0])
        self.out_scale = float(scales_of(ctx, out, "output")[0])
        self.zi = int(zero_points_of(x)[0])
        self.zo = int(zero_points_of(out)[0])
        self.w_scales = scales_of(ctx, w, "weights")
        w_zps = zero_points_of(w)
        if self.w_scales.size > 1:
            if not allow_per_channel or x.dtype == U8:
                raise ctx.error(f"per-channel weights are only supported with int8/int16 "
                                f"inputs (got {x.dtype})", w)
            if self.w_scales.size != channels:
                raise ctx.error(f"weights have {self.w_scales.size} scales, expected 1 or "
                                f"{channels} (one per output channel)", w)
            qd = w.quant.quantized_dimension
            if qd != channel_axis:
                raise ctx.error(f"per-channel weights must be quantized along dimension "
                                f"{channel_axis}, got {qd}", w)
        if x.dtype in (I8, I16):
            if np.any(w_zps != 0):
                raise ctx.error(f"{x.dtype} {ctx.op_name} needs symmetric weights (zero point "
                                f"0), got {w_zps.tolist()}", w)
            self.zw = 0
        else:
            self.zw = int(w_zps[0])
        if x.dtype == I16 and (self.zi != 0 or self.zo != 0):
            raise ctx.error(f"int16 {ctx.op_name} needs zero points 0 on input and output "
                            f"(got {self.zi}, {self.zo})")
        # Bias: int32 (int8/uint8); int16 takes int64, or int32 only when the options'
        # quantized_bias_type says INT32 (otherwise LiteRT reads an int32 bias as int64).
        self.bias = None
        self.acc64 = False
        if x.dtype == I16:
            qbt = _opt(ctx.options, "quantizedBiasType", 0)
            if qbt not in (0, TensorType.INT32, TensorType.INT64):
                raise ctx.error(f"quantized_bias_type must be INT32 or INT64, got {qbt}")
            self.acc64 = qbt != TensorType.INT32
            want_b = I32 if qbt == TensorType.INT32 else I64
        else:
            want_b = I32
        if bias is not None:
            if bias.dtype != want_b:
                raise ctx.error(f"bias has type {bias.dtype}, expected {want_b}", bias)
            if bias.size != channels:
                raise ctx.error(f"bias has {bias.size} elements, expected {channels} (one per "
                                f"output channel)", bias)
            if bias.data is None:
                raise ctx.error("a non-constant bias is not supported by the quantized "
                                f"{ctx.op_name}", bias)
            self.bias = np.asarray(bias.data, np.int64).reshape(-1)
        self.channels = channels
        self.lo, self.hi = activation_bounds(ctx, activation_code(ctx.options), out, x.dtype)

    def weights(self, w: np.ndarray) -> np.ndarray:
        """The weights minus their zero point, int32 (8-bit weights: |w - zw| <= 255; an
        int64 copy made every later pass over them at prepare twice as slow)."""
        w = np.asarray(w)
        return w.astype(np.int32) if self.zw == 0 else np.subtract(w, self.zw, dtype=np.int32)

    def weights_compact(self, w: np.ndarray) -> np.ndarray:
        """weights() in the smallest type that holds them: the int8 weights themselves
        when the zero point is 0 (no copy), else int16 (|w - zw| <= 255). For big
        matrices read a few times at prepare: an int32 copy of MobileNetV2's 1000 x 1280
        head, and the passes over it, cost ~3 ms of first-touch memory."""
        w = np.asarray(w)
        if self.zw == 0 and w.dtype == I8:
            return w
        return np.subtract(w, self.zw, dtype=np.int16)

    def requantizer(self) -> Requantizer:
        m, s = per_channel_multipliers(self.in_scale, self.w_scales, self.out_scale,
                                       self.channels)
        return Requantizer(m, s, self.zo, self.lo, self.hi, use_int64_path=self.acc64)

    def correction(self, w_col_sums: np.ndarray) -> np.ndarray:
        """bias - zi * sum(w - zw), per output channel (int64)."""
        corr = -self.zi * np.asarray(w_col_sums, np.int64)
        if self.bias is not None:
            corr = corr + self.bias
        return corr

    def gemm_dtype(self, k: int, wq: np.ndarray | None = None) -> np.dtype:
        """Float type for a GEMM of k raw input values against zero-point-adjusted weights;
        with the weights wq [units, k] known, float32 whenever every partial sum is below
        max|x| * max over units of sum|wq| < 2^24 (exact), else the worst case decides."""
        if wq is not None and wq.size:
            bound = max_abs(self.x_dtype) * int(abs_row_sums(wq, wq.shape[0]).max())
            if bound < (1 << 24):
                return np.dtype(np.float32)
        w_max = max_abs(np.uint8, self.zw) if self.x_dtype == U8 else 128
        return gemm_float_dtype(k, max_abs(self.x_dtype), w_max)


def _narrow_then_cast(w: np.ndarray, ft) -> np.ndarray:
    """A C-contiguous `ft` copy of a (transposed) view of narrow integer weights: the
    re-layout done on the narrow type, then a straight conversion (~30% faster at
    prepare than a converting transpose)."""
    narrow = prepare_temp(w.shape, w.dtype)     # (reused: no page faults per node)
    np.copyto(narrow, w)
    return narrow.astype(ft)


def row_sums(wq: np.ndarray, rows: int) -> np.ndarray:
    """sum wq over each of `rows` rows of integer weights, as int64: accumulated in int32
    when no row of this type and length can leave it (~2x faster than int64 at prepare)."""
    w2 = wq.reshape(rows, -1)
    info = np.iinfo(wq.dtype)
    reach = max(-int(info.min), int(info.max)) * w2.shape[1]
    acc = np.int32 if wq.dtype.itemsize <= 2 and reach < (1 << 31) else np.int64
    return w2.sum(axis=1, dtype=acc).astype(np.int64)


def abs_row_sums(wq: np.ndarray, rows: int) -> np.ndarray:
    """sum |wq| over each of `rows` rows (int64), for integer weights of any width: int8
    through the uint8 view of np.abs (|-128| wraps to -128 in int8, 128 as uint8), no
    wider copy."""
    a = np.abs(wq, out=prepare_temp(wq.shape, wq.dtype))
    if a.dtype == I8:
        a = a.view(np.uint8)
    return row_sums(a, rows)


def _plan_matrix(requant: Requantizer, channels: int, *rows, acc_bound=None):
    """(float64 [(len(rows) + 3) * C] = (*rows, ms, k0, d) flat, zp, lo, hi, need) for
    the compiled kernels' float64 requantization, or None when
    Requantizer.threshold_plan does not apply. One flat array, not six: fewer distinct
    arrays (and no 2-D indexing) let LLVM vectorize the loops. need: whether the
    negative-side correction can matter (lo < zp and some right shift)."""
    plan = requant.threshold_plan(channels, acc_bound)
    if plan is None:
        return None
    _, _, ms, k0, d, zp = plan
    mat = np.stack([np.broadcast_to(np.asarray(r, F64), (channels,)) for r in rows]
                   + [ms, k0, d])
    need = bool(requant.lo < requant.zp and np.any(d > 0))
    return (np.ascontiguousarray(mat).reshape(-1), zp, np.int64(requant.lo),
            np.int64(requant.hi), need)


def _bufs_shaped(bufs: tuple, shape) -> tuple:
    """Requantizer.small_buffers' tuple with its arrays seen in another shape of the same
    size (the output's layout of a small convolution's path); scalars and None as are."""
    return tuple(a.reshape(shape) if isinstance(a, np.ndarray) else a for a in bufs)


def _compiled_quant():
    """The integer compiled kernels (call only after conv.compiled_tier said yes)."""
    from edgelite.kernels import compiled_quant
    return compiled_quant


def _compiled_igemm():
    """The VNNI integer GEMM kernels (call only after conv.compiled_tier said yes; their
    `usable` says whether this host and node can use them)."""
    from edgelite.kernels import compiled_igemm
    return compiled_igemm


def _need_const(ctx: PrepareContext, w, what="weights") -> np.ndarray:
    if w.data is None:
        raise ctx.error(f"non-constant {what} are not supported by the quantized "
                        f"{ctx.op_name}", w)
    return np.asarray(w.data)


# ---------------------------------------------------------------- CONV_2D
@register("CONV_2D", versions=(1, 8), variant="quantized")
class QuantizedConv2D(Kernel):
    FOLD_MAX_K = 48
    FOLD_T = True

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((2, 3), 1)
        x, w = ctx.input(0), ctx.input(1)
        bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
        out = ctx.outputs[0]
        o = ctx.options
        ctx.check(len(x.shape) == 4, f"input must be 4-D [N, H, W, C], got {list(x.shape)}", x)
        ctx.check(len(w.shape) == 4, f"filter must be 4-D [O, KH, KW, I], got "
                                     f"{list(w.shape)}", w)
        n, h, wd, c = x.shape
        oc, kh, kw, ic = w.shape
        _positive(ctx, input_height=h, input_width=wd, input_channels=c, filter_height=kh,
                  filter_width=kw, output_channels=oc, filter_input_channels=ic)
        ctx.check(c % ic == 0, f"input has {c} channels, not a multiple of the filter's {ic}")
        groups = c // ic
        ctx.check(oc % groups == 0, f"{oc} output channels do not split into {groups} groups")
        sh, sw = _opt(o, "strideH", 1), _opt(o, "strideW", 1)
        dh, dw = _opt(o, "dilationHFactor", 1), _opt(o, "dilationWFactor", 1)
        _positive(ctx, stride_h=sh, stride_w=sw, dilation_h_factor=dh, dilation_w_factor=dw)
        padding = _padding(ctx, o)
        q = QuantSetup(ctx, x, w, bias, out, oc, 0)
        wq = q.weights_compact(_need_const(ctx, w))
        oh = conv_output_size(padding, h, kh, sh, dh)
        ow = conv_output_size(padding, wd, kw, sw, dw)
        ctx.set_output(0, (n, oh, ow, oc), x.dtype)
        pads = (same_valid_pads(padding, h, kh, sh, dh, oh),
                same_valid_pads(padding, wd, kw, sw, dw, ow))
        self.groups, self.rows = groups, n * oh * ow
        k = kh * kw * ic
        ft = q.gemm_dtype(k)
        self.ft = ft
        og = oc // groups
        # [O, KH, KW, Ig] -> [G, KH*KW*Ig, Og] (the im2col column order).
        wt = wq.reshape(groups, og, k).transpose(0, 2, 1)
        wt = wt[0] if groups == 1 else wt
        self.wt = None          # the float copy, made below unless the VNNI kernels run
        w_sums = row_sums(wq, oc)
        self.corr = q.correction(w_sums)
        self.requant = q.requantizer()
        self.zi = q.zi
        self.pad = Padded(x.shape, pads)
        ctx.check_bytes(self.pad.shape, np.float32, x, "its padded input")
        self.geom = ((oh, ow), (kh, kw), (sh, sw), (dh, dw))
        self.direct = kh == kw == sh == sw == 1 and not self.pad.needed and groups == 1
        self.n, self.oh, self.ow, self.k = n, oh, ow, k
        self.fast = None
        if groups == 1 and self.requant.compiled_ok:
            self.fast = compiled_tier(n * oh * ow * oc, small_ok=True)
        if self.fast is not None:
            # compiled: pack (im2col from the raw input, zero point outside it), GEMM and
            # the fused requantization, band by band.
            self.fast = _compiled_quant()
            self.rq = self.requant.params(oc)
            # |a| = |sum (x - zi) * w + bias| <= max|x - zi| * sum|w| + |bias|
            bias_abs = 0 if q.bias is None else np.abs(q.bias)

            def exact_bound():
                return max_abs(q.x_dtype, q.zi) * abs_row_sums(wq, oc) + bias_abs
            self.geom_c = np.array([h, wd, c, oh, ow, kh, kw, sh, sw, dh, dw, pads[0][0],
                                    pads[1][0]], np.int64)
            self.vnni = None
            igemm = _compiled_igemm()
            w2 = wq.reshape(oc, k)
            if igemm.usable(q.x_dtype, w2, k):
                # int8 GEMM on VNNI, requantization fused (compiled_igemm)
                self.vnni = igemm
                self.wpk, self.kq, npad = igemm.pack_weights(w2.T)
                self.corr_v = igemm.correction(self.corr, 0, w_sums)     # (w2's row sums)
                # The integer epilogue only asks whether every accumulator is within
                # int32: the worst case over the weights' type (|w| <= 128) says so
                # without a pass over the weights when it is far enough below; the
                # float64 plan (its threshold search) only when the integer epilogue
                # does not apply, with the exact bound.
                quick = max_abs(q.x_dtype, q.zi) * 128 * k + np.broadcast_to(bias_abs, (oc,))
                bound = quick if bool((quick < 2.0 ** 31).all()) else exact_bound()
                self.plan_v = igemm.epilogue(
                    self.requant, lambda: _plan_matrix(self.requant, oc, self.corr_v,
                                                       acc_bound=exact_bound()),
                    self.corr_v, oc, npad, bound)
                self.tmp_v = np.zeros(256, I8)
                self.acc_idx = ctx.request_scratch((4, npad), I32)
                self.direct_v = self.direct and k % 4 == 0
                # windows read in place from a bordered copy (no im2col) when each window
                # row is contiguous (dilation_w 1)
                self.inplace_v = (not self.direct_v and dw == 1 and self.plan_v is not None
                                  and kh * (kw * ic + 3) <= igemm.MAX_K)
                if self.inplace_v:
                    self.wpk, qs = igemm.direct_weights(wq)
                    hp, wp = self.pad.shape[1], self.pad.shape[2]
                    self.geom_d = np.array([hp, wp, c, oh, ow, sh, sw, dh, kh, qs], np.int64)
                    size = n * hp * wp * c
                    # the node's own bordered copy: border = zi, filled once; 16 bytes of
                    # slack past the end (a window row's last quad reads up to 3 bytes on)
                    self.pbuf = np.full(size + 16, q.zi, I8)
                    (t, _), (left, _) = pads
                    self.pinner = self.pbuf[:size].reshape(n, hp, wp, c)[:, t:t + h,
                                                                         left:left + wd]
                elif not self.direct_v:
                    self.band_v = max(4, ((1 << 16) // k) // 4 * 4)
                    self.col_v_idx = ctx.request_scratch((self.band_v * k + 4,), I8)
                self.fill_v = np.int8(q.zi)
                self._x = None
                return
            # (the float GEMM's plan: made only here, the VNNI kernels take their own)
            self.plan = _plan_matrix(self.requant, oc, self.corr, acc_bound=exact_bound())
            self.wt = _narrow_then_cast(wt, ft)
            self.fill = ft.type(q.zi)
            self.nb, self.bh, self.band_list = bands(n, oh, ow * max(k, oc), 1 << 16)
            brows = self.nb * self.bh * ow
            if self.direct:
                self.xf_idx = ctx.request_scratch((brows, k), ft)
            else:
                self.col_idx = ctx.request_scratch((brows * k,), ft)
            self.gemm_idx = ctx.request_scratch((brows, oc), ft)
            self._x = None
            return
        # float64 requantization when provably exact: |acc| <= max|x| * sum|w| per channel
        self.requant.enable_float(self.corr, max_abs(q.x_dtype) * abs_row_sums(wq, oc))
        # Small outputs: the requantization's scale and offset folded into a float64 GEMM
        # of [im2col, 1] (Requantizer.fold_into_gemm), then clamp and floor: three or four
        # numpy calls after the im2col instead of a float32 GEMM and ~6 mixed-type passes.
        self.small = None
        if groups == 1 and self.rows * max(k + 1, oc) <= Requantizer.BLOCK:
            self.small = self.requant.fold_into_gemm(wq.reshape(oc, k).T, (self.rows, oc),
                                                    q.x_dtype.itemsize)
        if self.small is not None:
            # the node's own padded buffer (small): its border is filled once, at bind
            self.pad_own = np.zeros(self.pad.shape, F64)
            self.col1 = np.ones((self.rows, k + 1), F64)      # the last column stays 1
            self.u = np.zeros((self.rows, oc), F64)
            # Windows whose rows are short runs (KW * C < 32: a 3x3 over 3 channels), one
            # image: the padded buffer channel-planar, [C, Hp, Wp], and the columns
            # transposed, [K + 1, rows], so the im2col copy runs along output rows in both
            # (KH*KW*C*OH runs of OW values, not OH*OW*KH runs of KW*C: cnn's 32x32x3 stem
            # 19 -> 10 us) and the GEMM reads them as a transposed operand (~2 us more).
            self.rowcol = (not self.direct and n == 1 and dh == 1 and kh >= 4)
            self.small_t = not self.direct and n == 1 and kw * ic < 32 and not self.rowcol
            # Stride 1 as well: each column row (ky, kx, c) is one run of OH * Wp values
            # of the flat planar buffer (the output rows at the padded width: Wp - OW
            # columns more per row, dropped after the GEMM), so the im2col copy is KH*KW*C
            # runs instead of KH*KW*C*OH (cnn's stem: 10.7 -> 6.3 us, the GEMM ~6% more
            # rows). The last row's run reads (KW - 1) * dilation_w values past the
            # planes: zeros, into dropped columns only.
            _, hp, wp, _ = self.pad.shape
            self.small_w = (self.small_t and sh == 1 and sw == 1
                            and hp == oh + (kh - 1) * dh and wp == ow + (kw - 1) * dw)
            if self.small_t:
                if self.small_w:
                    plane = ic * hp * wp
                    self.pad_flat = np.zeros(plane + (kw - 1) * dw, F64)
                    self.pad_own = self.pad_flat[:plane].reshape(ic, hp, wp)
                    self.u = np.zeros((oh * wp, oc), F64)
                    self.col1 = np.ones((k + 1, oh * wp), F64)
                else:
                    self.pad_own = np.zeros((ic, hp, wp), F64)
                    self.col1 = np.ones((k + 1, self.rows), F64)  # the last row stays 1
            # Tall windows over few channels (kws: 10x4x1): im2col in two copies with
            # long runs. R[ox, r] = the padded row r's window at column ox (kw * C values),
            # then image ox's rows are views of R[ox] (KH * KW * C contiguous values per
            # output, dilation_h 1), so the GEMM rows run (ox, oy) and the output is
            # written transposed. (One copy of the 6-D window view has runs of KW * C.)
            if self.rowcol:
                self.rbuf = np.zeros((ow, self.pad.shape[1], kw * ic), F64)
            self._x = None
            return
        self.pad_idx = ctx.request_scratch(self.pad.shape, ft)
        # Few input values per output (K <= FOLD_MAX_K: MobileNet's expansion 1x1 convs,
        # a 3x3 stem over 3 channels): the wide requantization's scale and offset folded
        # into a float64 GEMM of [im2col, 1] (Requantizer.fold_weights), so the GEMM
        # writes u' and only the integer finish remains. At K = 16, C = 96 the float64
        # GEMM costs ~0.5 ns an output more than the float32 one and saves the widening
        # copy, multiply and add (~1.6 ns); the gain is gone by K ~ 96 (measured).
        self.fold, self.fold_t = None, False
        if groups == 1 and k <= self.FOLD_MAX_K and oc >= k:
            self.fold = self.requant.fold_weights(wq.reshape(oc, k).T)
        if groups == 1:
            # im2col, GEMM and requantization band by band, each band cache-sized.
            self.nb, self.bh, self.band_list = bands(n, oh, ow * max(k, oc), 1 << 16)
            brows = self.nb * self.bh * ow
            if self.fold is not None:
                # the node's own [rows, K + 1] float64 columns, the last column 1; for
                # windows whose rows are short runs (KW * C < 32: a stem over 3
                # channels), stored transposed, [K + 1, rows], so the im2col copy runs
                # along the output row (KH*KW*C*OH loops of OW values instead of
                # OH*OW*KH loops of KW*C) and the GEMM reads it as a transposed operand
                self.fold_t = self.FOLD_T and not self.direct and kw * ic < 32
                self.col1 = np.ones((k + 1, brows) if self.fold_t else (brows, k + 1), F64)
                self.u_rows = self.requant.wide_rows(brows, oc)
                self._x = None
                return
            self.wt = _narrow_then_cast(wt, ft)
            if not self.direct:
                self.col_idx = ctx.request_scratch((self.nb, self.bh, ow, k), ft)
            self.gemm_idx = ctx.request_scratch((brows, oc), ft)
        else:
            self.wt = _narrow_then_cast(wt, ft)
            self.col_idx = ctx.request_scratch((groups, self.rows, k), ft)
            self.gemm_idx = ctx.request_scratch((groups, self.rows, og), ft)
            self.accf_idx = ctx.request_scratch((self.rows, oc), ft)
        self._x = None

    def _bind_compiled(self, ictx: InvokeContext) -> None:
        oc = self._out.shape[-1]
        if self.vnni is not None:
            g, plan = self.vnni, self.plan_v
            xflat = self._x.reshape(-1)
            out2d = self._out.reshape(self.rows, oc)
            acc = ictx.scratch[self.acc_idx]
            if self.inplace_v:
                args = (self.pbuf, self.geom_d, self.wpk, plan, out2d, acc, self.tmp_v)
                self.v_call = (g.entry(g.conv_direct, args), args)
                self.v_copy = (self.pinner, self._x)
                return
            if self.direct_v:
                head = (xflat, self.k, self.rows, self.kq, self.wpk)
                fn, args = ((g.gemm_rq, (*head, plan, out2d, acc, self.tmp_v))
                            if plan is not None else
                            (g.gemm_rq_int, (*head, self.corr_v, *self.rq, out2d, acc)))
            else:
                head = (xflat, self.geom_c, self.fill_v, ictx.scratch[self.col_v_idx],
                        self.band_v, self.k, self.kq, self.wpk)
                fn, args = ((g.conv_rq, (*head, plan, out2d, acc, self.tmp_v))
                            if plan is not None else
                            (g.conv_rq_int, (*head, self.corr_v, *self.rq, out2d, acc)))
            self.v_call = (g.entry(fn, args), args)
            self.v_copy = None
            return
        gemm = ictx.scratch[self.gemm_idx]
        self.xflat = self._x.reshape(-1)
        if self.direct:
            x2d = self._x.reshape(self.rows, self.k)
            xf = ictx.scratch[self.xf_idx]
        else:
            col = ictx.scratch[self.col_idx]
        self.blocks = []
        for n0, n1, y0, y1 in self.band_list:
            rows = (n1 - n0) * (y1 - y0) * self.ow
            r0 = (n0 * self.oh + y0) * self.ow
            if self.direct:
                colf, col2d = x2d[r0:r0 + rows], xf[:rows]
            else:
                colf = col[:rows * self.k]
                col2d = colf.reshape(rows, self.k)
            out2d = self._out[n0:n1, y0:y1].reshape(rows, oc)
            self.blocks.append((r0, rows, colf, col2d, gemm[:rows], out2d))

    def _invoke_compiled(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if self.vnni is not None:
            if self.v_copy is not None:
                np.copyto(*self.v_copy)
            fn, args = self.v_call
            fn(*args)
            return
        fast, wt, plan = self.fast, self.wt, self.plan
        direct, xflat, geom, fill = self.direct, self.xflat, self.geom_c, self.fill
        for r0, rows, colf, col2d, gemm, out2d in self.blocks:
            if direct:
                np.copyto(col2d, colf)          # colf: this band of the raw input
            else:
                fast.im2col_rows_fill(xflat, colf, geom, r0, rows, fill)
            np.matmul(col2d, wt, out=gemm)
            if plan is not None:
                fast.requant_rows(gemm, *plan, out2d)
            else:
                fast.requant_rows_int(gemm, self.corr, *self.rq, out2d)

    def _invoke_vnni(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if self.v_copy is not None:
            np.copyto(*self.v_copy)         # into the bordered copy (border stays zi)
        fn, args = self.v_call
        fn(*args)

    def bind(self, ictx: InvokeContext) -> None:
        self._x, self._out = ictx.inputs[0], ictx.outputs[0]
        if self.fast is not None:
            self._bind_compiled(ictx)
            self.invoke = self._invoke_vnni if self.vnni is not None else self._invoke_compiled
            return
        if self.small is not None:
            self.pad.bind(self.pad_own.transpose(1, 2, 0)[None] if self.small_t
                          else self.pad_own)
            self.pad.fill_border(self.zi)
        else:
            self.pad.bind(ictx.scratch[self.pad_idx])
        out_hw, kernel, strides, dil = self.geom
        win = None if self.direct else window_view(self.pad.buf, out_hw, kernel, strides, dil)
        oc = self._out.shape[-1]
        if self.small is not None:
            if self.small_w:
                (oh, ow), (kh, kw), _, (dh, dw) = self.geom
                c, hp, wp = self.pad_own.shape
                b = self.pad_flat.itemsize
                self.s_src = as_strided(self.pad_flat, shape=(kh, kw, c, oh * wp),
                                        strides=(dh * wp * b, dw * b, hp * wp * b, b),
                                        writeable=False)
                self.s_dst = self.col1[:self.k].reshape(self.s_src.shape)
                self.col_g = self.col1.T
                # the valid columns of the GEMM's rows, and the finish's buffers as [OH, OW, OC]
                self.u_out = self.u.reshape(oh, wp, oc)[:, :ow]
                self.out2d = self._out[0]
                self.s_bufs = _bufs_shaped(self.small[1], (oh, ow, oc))
                self.s_out = self.requant.finish_target(self.out2d, self.s_bufs)
                self.invoke = self._invoke_small
                return
            if self.small_t:
                self.s_src = win.transpose(3, 4, 5, 0, 1, 2)     # [KH, KW, C, 1, OH, OW]
                self.s_dst = self.col1[:self.k].reshape(self.s_src.shape)
                self.col_g = self.col1.T
            else:
                cols = self.col1[:, :self.k]
                self.s_src = self._x.reshape(self.rows, self.k) if self.direct else win
                self.s_dst = cols if self.direct else cols.reshape(win.shape)
                self.col_g = self.col1
            self.out2d = self._out.reshape(self.rows, oc)
            self.u_out, self.s_bufs = self.u, self.small[1]
            if self.rowcol:
                (oh, ow), (_, kw), (sh, sw), (_, dw) = self.geom
                img = self.pad.buf[0]                   # [Hp, Wp, C]
                si = img.strides
                c = img.shape[2]
                self.r_src = as_strided(img, shape=(ow, img.shape[0], kw, c),
                                        strides=(sw * si[1], si[0], dw * si[1], si[2]),
                                        writeable=False)
                self.r_dst = self.rbuf.reshape(self.r_src.shape)
                rs = self.rbuf.strides
                self.s_src = as_strided(self.rbuf, shape=(ow, oh, self.k),
                                        strides=(rs[0], sh * rs[1], rs[2]), writeable=False)
                self.s_dst = cols.reshape(ow, oh, self.k)
                self.out2d = self._out[0].transpose(1, 0, 2)      # [OW, OH, OC]
                self.u_out = self.u.reshape(ow, oh, oc)
                self.s_bufs = _bufs_shaped(self.small[1], (ow, oh, oc))
            self.s_out = self.requant.finish_target(self.out2d, self.s_bufs)
            self.invoke = self._invoke_small
            return
        if self.fold is not None:
            self.blocks = []
            for n0, n1, y0, y1 in self.band_list:
                rows = (n1 - n0) * (y1 - y0) * self.ow
                cols = self.col1[:rows, :self.k]
                if self.direct:
                    src = self._x[n0:n1, y0:y1].reshape(rows, -1)    # the raw input
                    dst = cols
                elif self.fold_t:
                    src = win[n0:n1, y0:y1].transpose(3, 4, 5, 0, 1, 2)
                    dst = self.col1[:self.k, :rows].reshape(src.shape)
                    assert np.shares_memory(dst, self.col1)
                else:
                    src = win[n0:n1, y0:y1]
                    dst = cols.reshape(src.shape)
                    assert np.shares_memory(dst, self.col1)
                out2d = self._out[n0:n1, y0:y1].reshape(rows, oc)
                self.blocks.append((src, dst, rows, out2d))
            self.invoke = self._invoke_fold
            return
        if self.groups == 1:
            gemm = ictx.scratch[self.gemm_idx]
            col = None if self.direct else ictx.scratch[self.col_idx]
            self.blocks = []
            for n0, n1, y0, y1 in self.band_list:
                rows = (n1 - n0) * (y1 - y0) * self.ow
                if self.direct:
                    src, dst = None, None
                    col2d = self.pad.buf[n0:n1, y0:y1].reshape(rows, -1)
                else:
                    src = win[n0:n1, y0:y1]
                    dst = col[:n1 - n0, :y1 - y0].reshape(src.shape)
                    col2d = dst.reshape(rows, self.k)
                out2d = self._out[n0:n1, y0:y1].reshape(rows, oc)
                self.blocks.append((src, dst, col2d, gemm[:rows], out2d))
            return
        g = self.groups
        self.out2d = self._out.reshape(self.rows, -1)
        self.gemm = ictx.scratch[self.gemm_idx]
        self.accf = ictx.scratch[self.accf_idx]
        win = win.reshape(*win.shape[:-1], g, -1)
        self.win = np.moveaxis(win, -2, 0)          # [G, N, OH, OW, KH, KW, Cg]
        self.col = ictx.scratch[self.col_idx]
        self.col_win = self.col.reshape(self.win.shape)
        self.accf_groups = self.accf.reshape(self.rows, g, -1).transpose(1, 0, 2)

    def _invoke_fold(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        pad = self.pad
        if not self.direct:
            pad.fill_border(self.zi)
            np.copyto(pad.inner, ictx.inputs[0])
        col1, w, requant, tr = self.col1, self.fold, self.requant, self.fold_t
        u = requant.wide_u(self.u_rows, self._out.shape[-1])
        for src, dst, rows, out2d in self.blocks:
            np.copyto(dst, src)
            np.matmul(col1[:, :rows].T if tr else col1[:rows], w, out=u[:rows])
            requant.finish_pooled(rows, out2d)          # (u is this thread's wide_u)

    def _invoke_small(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if not self.direct:
            np.copyto(self.pad.inner, ictx.inputs[0])     # (the border stays zi)
            if self.rowcol:
                np.copyto(self.r_dst, self.r_src)
        np.copyto(self.s_dst, self.s_src)
        np.matmul(self.col_g, self.small[0], out=self.u)
        self.requant.finish_u(self.u_out, self.s_out, self.s_bufs)

    def invoke(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
            if self.fast is not None:
                self._invoke_compiled(ictx)
                return
            if self.small is not None:
                self._invoke_small(ictx)
                return
            if self.fold is not None:
                self._invoke_fold(ictx)
                return
        pad = self.pad
        pad.fill_border(self.zi)
        np.copyto(pad.inner, ictx.inputs[0])
        if self.groups == 1:
            wt, corr, requant = self.wt, self.corr, self.requant
            for src, dst, col2d, gemm, out2d in self.blocks:
                if src is not None:
                    np.copyto(dst, src)
                np.matmul(col2d, wt, out=gemm)
                requant.from_float(gemm, corr, out2d)
            return
        np.copyto(self.col_win, self.win)
        np.matmul(self.col, self.wt, out=self.gemm)
        np.copyto(self.accf_groups, self.gemm)
        self.requant.from_float(self.accf, self.corr, self.out2d)


# ---------------------------------------------------------------- DEPTHWISE_CONV_2D
@register("DEPTHWISE_CONV_2D", versions=(1, 7), variant="quantized")
class QuantizedDepthwiseConv2D(Kernel):
    """Whole [N, OH, OW, C] planes multiply-accumulated one filter tap at a time."""
    BLOCK = 1 << 16     # output values per band of the numpy tier (A/B: 0.96-0.99x of 32K)

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((2, 3), 1)
        x, w = ctx.input(0), ctx.input(1)
        bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
        out = ctx.outputs[0]
        o = ctx.options
        ctx.check(len(x.shape) == 4, f"input must be 4-D [N, H, W, C], got {list(x.shape)}", x)
        ctx.check(len(w.shape) == 4, f"filter must be 4-D [1, KH, KW, C*M], got "
                                     f"{list(w.shape)}", w)
        n, h, wd, c = x.shape
        one, kh, kw, oc = w.shape
        _positive(ctx, input_height=h, input_width=wd, input_channels=c, filter_height=kh,
                  filter_width=kw, output_channels=oc)
        ctx.check(one == 1, f"filter's first dimension must be 1, got {one}", w)
        ctx.check(oc % c == 0, f"filter has {oc} channels, not a multiple of the input's {c}", w)
        mult = oc // c
        if x.dtype == I16:
            # LiteRT's int16 kernel loops over the option's depth_multiplier.
            dm = _opt(o, "depthMultiplier", 0)
            ctx.check(dm == mult, f"depth_multiplier option is {dm}, but the shapes give {mult}")
        sh, sw = _opt(o, "strideH", 1), _opt(o, "strideW", 1)
        dh, dw = _opt(o, "dilationHFactor", 1), _opt(o, "dilationWFactor", 1)
        _positive(ctx, stride_h=sh, stride_w=sw, dilation_h_factor=dh, dilation_w_factor=dw)
        padding = _padding(ctx, o)
        q = QuantSetup(ctx, x, w, bias, out, oc, 3)
        if x.dtype == I16 and bias is not None and bias.dtype != I64:
            raise ctx.error(f"int16 DEPTHWISE_CONV_2D needs an int64 bias, got {bias.dtype}",
                            bias)
        q.acc64 = x.dtype == I16
        wq = q.weights(_need_const(ctx, w)).reshape(kh * kw, oc)
        oh = conv_output_size(padding, h, kh, sh, dh)
        ow = conv_output_size(padding, wd, kw, sw, dw)
        ctx.set_output(0, (n, oh, ow, oc), x.dtype)
        pads = (same_valid_pads(padding, h, kh, sh, dh, oh),
                same_valid_pads(padding, wd, kw, sw, dw, ow))
        self.requant = q.requantizer()
        self.fast = compiled_tier(n * oh * ow * oc, small_ok=True) \
            if self.requant.compiled_ok else None
        if self.fast is not None:
            self.h, self.w_in = h, wd
            self._prepare_compiled(ctx, q, wq, (ow, kh, kw, oc),
                                   (sh, sw, dh, dw, pads[0][0], pads[1][0], mult))
            return
        ft = q.gemm_dtype(kh * kw)
        taps = wq.astype(ft).reshape(kh * kw, c, mult)
        self.taps = taps[:, :, 0] if mult == 1 else taps
        self.corr = q.correction(wq.sum(axis=0))
        self.requant.enable_float(self.corr, max_abs(q.x_dtype) * np.abs(wq).sum(axis=0))
        self.zi, self.mult, self.c = q.zi, mult, c
        # int8 input, multiplier 1: taps multiplied in int16 (|x| <= 128: a product with
        # |w| <= 255 fits) and summed in pairs when two products provably fit
        # (128 * (|w_a| + |w_b|) <= 32767), each pair then added into the float32 sum
        # (exact): half the bytes per pass, ~1.9x the float32 tap passes
        # Width stride 1, multiplier 1, float32-exact sums ("esum"): every tap of a band
        # in one einsum over a strided view of the float32 padded copy, [KH, KW, N, rows,
        # OW * C], against the weights tiled along the output row (numpy's sum-of-products
        # loop: each tap's products added in place along contiguous OW * C runs; 1.6-1.8
        # ns an output on MobileNetV2's stride-1 layers against 2.0-2.1 for the int16
        # pairs below, whose int32 sums then widen ~4 us per 64K values faster).
        self.esum = mult == 1 and sw == 1 and ft == np.float32 and x.dtype in (I8, U8)
        aw = np.abs(wq)
        self.i16 = (not self.esum and x.dtype == I8 and mult == 1 and ft == np.float32
                    and 128 * aw.max() <= 32767
                    and all(128 * int((aw[t] + aw[t + 1]).max()) <= 32767
                            for t in range(0, kh * kw - 1, 2)))
        if self.i16:
            self.taps16 = wq.astype(np.int16)
        # Stride 1, multiplier 1: each tap's weights tiled along the output row, [OW, C],
        # so a tap's multiply coalesces (x, c) into one inner loop of OW * C values (a
        # [C] vector broadcast runs one inner loop per output position: ~3x slower at
        # C = 32)
        # Stride 2 along the width (dilation 1): the padded copy is stored by column
        # parity, [N, Hp, 2, ceil(Wp / 2), C] (padded column x at [x % 2, x // 2]), so
        # each tap's plane has contiguous rows of OW * C values too (tap kx reads parity
        # kx % 2 from column kx // 2 on) and takes the tiled weights; the copy of the
        # input into it is two strided copies.
        self.phase = mult == 1 and sw == 2 and dw == 1
        self.tiled = mult == 1 and (sw == 1 or self.phase)
        if self.tiled:
            t16 = self.taps16 if self.i16 else self.taps
            self.taps_t = np.ascontiguousarray(np.broadcast_to(
                t16[:, None, :], (t16.shape[0], ow, c)))
        self.pad = Padded(x.shape, pads)
        ctx.check_bytes(self.pad.shape, np.float32, x, "its padded input")
        # Small int8 images, stride 1, multiplier 1 ("flat"): every tap of one image at
        # once. With the padded image flattened, output (y, x, c) at flat position
        # p = ((y * Wp) + x) * C + c reads tap (ky, kx) at p + (ky*dh*Wp + kx*dw) * C, so
        # the taps are one strided view [KH, KW, L] (L = ((OH-1)*Wp + OW) * C; the
        # positions x >= OW in between are computed and never read). When the image is
        # taller than wide (kws: 25x5), the padded copy is stored transposed, [Wp, Hp, C]
        # (L = ((OW-1)*Hp + OH) * C: fewer wasted positions; the output is written
        # through a transposed view). One float32 einsum of the taps against the weights
        # tiled along L (|x * w| <= 128 * 128, exact; the sum exact too: every partial
        # sum is an integer below max|x| * sum|w| < 2^24, the float32 condition above, in
        # any order), then one requantization. (numpy's sum-of-products loop adds each
        # tap's products in place: kws's 25x5x32 taps 9.0 -> 7.6 us against a multiply
        # into a [KH*KW, L] buffer and a GEMV of ones, and no product buffer.)
        t_all = kh * kw
        hp, wp = self.pad.shape[1], self.pad.shape[2]
        len_n = ((oh - 1) * wp + ow) * c
        len_t = ((ow - 1) * hp + oh) * c
        self.flat_t = len_t < len_n
        flat_len = min(len_n, len_t)
        fshape = (ow, oh, c) if self.flat_t else (oh, ow, c)
        self.flat = (x.dtype == I8 and mult == 1 and ft == np.float32 and sh == sw == 1
                     and t_all >= 2 and t_all * flat_len <= (1 << 16)
                     and self.requant.small_buffers(fshape, q.x_dtype.itemsize) is not None)
        if self.flat:
            self.flat_len = flat_len
            self.wtile = np.ascontiguousarray(np.broadcast_to(
                wq.astype(np.float32).reshape(kh, kw, 1, c), (kh, kw, flat_len // c, c))
            ).reshape(kh, kw, flat_len)
            pitch = hp if self.flat_t else wp
            self.facc_idx = ctx.request_scratch((fshape[0] * pitch * c,), np.float32)
            self.fbufs = self.requant.small_buffers(fshape, q.x_dtype.itemsize)
            # the plan's scale and offset tiled over the output (contiguous passes: the
            # per-channel broadcast over rows of C, and a float32 x float64 product, cost
            # ~2x more)
            ms, k0 = self.requant.fplan[1], self.requant.offset(q.x_dtype.itemsize)
            self.tms = tiled(ms, oh * ow).reshape(fshape)
            self.tk = tiled(k0, oh * ow).reshape(fshape)
            self.i16 = False
            # the node's own padded buffer (small, [N, Wp, Hp, C] when transposed): its
            # border is filled once, at bind
            self.pad_own = np.zeros((n, wp, hp, c) if self.flat_t else self.pad.shape,
                                    np.float32)
        else:
            pshape = self.pad.shape
            if self.phase:
                pshape = (pshape[0], pshape[1], 2, (pshape[2] + 1) // 2, pshape[3])
            self.pad_idx = ctx.request_scratch(pshape, I16 if self.i16 else ft)
        # Cache-sized blocks: whole images when they are small, else bands of rows.
        plane = oh * ow * oc
        block = self.BLOCK
        if plane <= block:
            self.nb, self.bh = max(1, min(n, block // max(plane, 1))), oh
        else:
            self.nb, self.bh = 1, max(1, block // max(ow * oc, 1))
        self.requant.BLOCK = max(self.requant.BLOCK, block)
        # (int16 tap pairs sum into int32: exact, and its widening to float64 in the
        # requantization costs ~13 against ~17 us per 64K values from float32)
        self.accf_idx = ctx.request_scratch((self.nb, self.bh, ow, oc), I32 if self.i16 else ft)
        self.tmp_idx = ctx.request_scratch((2, self.nb, self.bh, ow, oc), I16) if self.i16 \
            else None if self.esum else ctx.request_scratch((self.nb, self.bh, ow, oc), ft)
        if self.esum and not self.flat:
            self.wt_e = self.taps_t.reshape(kh, kw, ow * oc)
        self.geom = (n, oh, ow, kh, kw, sh, sw, dh, dw)
        self._x = None

    def _prepare_compiled(self, ctx: PrepareContext, q: QuantSetup, wq: np.ndarray, shape,
                          geom) -> None:
        """The compiled tier: padding, zero points, taps and requantization in one kernel
        (exact integer sums in float32 when they provably stay below 2^24, else float64)."""
        ow, kh, kw, oc = shape
        self.fast = _compiled_quant()
        self.rq = self.requant.params(oc)
        self.corr = np.zeros(oc, np.int64) if q.bias is None else q.bias.astype(np.int64)
        w_max = int(np.abs(wq).max(initial=0))
        sh, sw, dh, dw, pt, pl, mult = geom
        # 3x3, multiplier 1, dilation 1: nine raw products summed in float32 registers
        # (9 * 255 * 255 < 2^24: exact), the zero point folded into a per-channel constant
        self.three = (kh, kw, mult, dh, dw) == (3, 3, 1, 1, 1)
        # |a| = |sum (x - zi) * w + bias| <= max|x - zi| * sum|w| + |bias|
        bound = max_abs(q.x_dtype, q.zi) * np.abs(wq).sum(axis=0) + np.abs(self.corr)
        corr_z = self.corr - q.zi * wq.sum(axis=0)
        self.dw_v = None
        igemm = _compiled_igemm()
        if (igemm.ENABLED and q.x_dtype == I8 and (kh, kw, mult) == (3, 3, 1) and oc % 16 == 0
                and np.abs(wq).max(initial=0) <= 32767):
            # (the float64 plan, zero point folded in, only when the integer epilogue
            # does not apply)
            plan_v = igemm.epilogue(
                self.requant, lambda: _plan_matrix(self.requant, oc, corr_z, acc_bound=bound),
                corr_z, oc, oc, bound)
            if plan_v is not None:
                # int32 taps on AVX-512 (vpdpwssd), requantization fused (compiled_igemm)
                self.dw_v = igemm
                self.plan_v = plan_v
                self.w_v = igemm.depthwise_weights(wq)
                self.zv = np.full(self.w_in * oc, q.zi, I8)      # one row of zero points
                self.tmp_v = np.zeros(256, I8)
                self.geom_c = np.array(geom[:6], np.int64)
                self.acc_idx = ctx.request_scratch((ow, oc), I32)
                self.three = False
                self._x = None
                return
        if self.three:
            # the plan with the zero point folded in
            self.plan = _plan_matrix(self.requant, oc, corr_z, acc_bound=bound)
            self.three = self.plan is not None
        if self.three:
            self.w_c = np.ascontiguousarray(wq.reshape(-1), np.float32)   # [9 * C] flat
            self.zsw = (q.zi * wq.sum(axis=0)).astype(np.float32)
            self.zf = np.float32(q.zi)
            self.geom_c = np.array([self.h, oc, sh, sw, pt, pl], np.int64)
            self.acc_idx = ctx.request_scratch((ow * oc,), np.float32)
            self._x = None
            return
        self.plan = _plan_matrix(self.requant, oc, self.corr, acc_bound=bound)
        # exact float sums: every partial sum of (x - zi) * w below 2^24 (float32) or 2^53
        ft = gemm_float_dtype(kh * kw, max_abs(q.x_dtype, q.zi), w_max)
        self.zf = ft.type(q.zi)
        self.w_c = np.ascontiguousarray(wq.reshape(kh, kw, oc), ft)
        self.geom_c = np.array(geom, np.int64)        # [sh, sw, dh, dw, pt, pl, M]
        self.acc_idx = ctx.request_scratch((ow, oc), ft)
        self._x = None

    def _invoke_compiled(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if self.dw_v is not None:
            fn, args = self.v_call
            fn(*args)
        elif self.three:
            mat, zp, lo, hi, need = self.plan
            self.fast.depthwise_q3(self.x2, self.w_c, self.zsw, mat, self.zf, zp, lo, hi, need,
                                   self.out2, self.acc, self.geom_c)
        elif self.plan is not None:
            mat, zp, lo, hi, need = self.plan
            self.fast.depthwise_q(self._x, self.w_c, mat, self.zf, zp, lo, hi, need, self._out,
                                  self.acc, self.geom_c)
        else:
            self.fast.depthwise_q_int(self._x, self.w_c, self.corr, self.zf, self._out,
                                      self.acc, self.geom_c, *self.rq)

    def bind(self, ictx: InvokeContext) -> None:
        self._x, self._out = ictx.inputs[0], ictx.outputs[0]
        if self.fast is not None:
            self.acc = ictx.scratch[self.acc_idx]
            if self.dw_v is not None:
                args = (self._x, self.w_v, self.zv, self.plan_v, self._out, self.acc,
                        self.tmp_v, self.geom_c)
                self.v_call = (self.dw_v.entry(self.dw_v.depthwise3, args), args)
            if self.three:
                # (explicit widths: reshape(-1) cannot infer one for an empty batch)
                n, h, w, c = self._x.shape
                self.x2 = self._x.reshape(n * h, w * c)
                n, h, w, c = self._out.shape
                self.out2 = self._out.reshape(n * h, w * c)
            self.invoke = self._invoke_compiled
            return
        if self.flat:
            own = self.pad_own
            self.pad.bind(own.transpose(0, 2, 1, 3) if self.flat_t else own)
            self.pad.fill_border(self.zi)
        elif self.phase:
            self._bind_phase(ictx.scratch[self.pad_idx])
        else:
            self.pad.bind(ictx.scratch[self.pad_idx])
        n, oh, ow, kh, kw, sh, sw, dh, dw = self.geom
        src = None if self.phase else self.pad.buf
        if self.flat:
            c = src.shape[3]
            pitch = own.shape[2]                      # Wp, or Hp when transposed
            sy, sx = (dh * c, dw * pitch * c) if self.flat_t else (dh * pitch * c, dw * c)
            facc = ictx.scratch[self.facc_idx]
            a_, b_ = (ow, oh) if self.flat_t else (oh, ow)
            it = own.itemsize
            self.fblocks = []
            for i in range(n):
                img = own[i].reshape(-1)
                taps = as_strided(img, shape=(kh, kw, self.flat_len),
                                  strides=(sy * it, sx * it, it), writeable=False)
                out3 = self._out[i].transpose(1, 0, 2) if self.flat_t else self._out[i]
                self.fblocks.append((taps, facc.reshape(a_, pitch, c)[:, :b_],
                                     self.requant.finish_target(out3, self.fbufs)))
            self.facc = facc[:self.flat_len]
            self.invoke = self._invoke_flat
            return
        if self.esum:
            self._bind_esum(ictx, src)
            return
        planes = []
        for ky in range(kh):
            for kx in range(kw):
                y0, x0 = ky * dh, kx * dw
                if self.phase:
                    planes.append(self.pbuf[:, y0:y0 + (oh - 1) * sh + 1:sh, kx % 2,
                                            kx // 2:kx // 2 + ow, :])
                    continue
                planes.append(src[:, y0:y0 + (oh - 1) * sh + 1:sh,
                                  x0:x0 + (ow - 1) * sw + 1:sw, :])
        c, mult, oc = self.c, self.mult, self._out.shape[-1]
        accf_all, tmp_all = ictx.scratch[self.accf_idx], ictx.scratch[self.tmp_idx]
        self.blocks = []
        for n0 in range(0, n, self.nb):
            n1 = min(n, n0 + self.nb)
            for y0 in range(0, oh, self.bh):
                y1 = min(oh, y0 + self.bh)
                shape = (n1 - n0, y1 - y0, ow, c) if mult == 1 else (n1 - n0, y1 - y0, ow, c,
                                                                     mult)
                accf = accf_all[:n1 - n0, :y1 - y0].reshape(shape)
                if self.i16:
                    tmp = (tmp_all[0, :n1 - n0, :y1 - y0].reshape(shape),
                           tmp_all[1, :n1 - n0, :y1 - y0].reshape(shape))
                else:
                    tmp = tmp_all[:n1 - n0, :y1 - y0].reshape(shape)
                ps = [p[n0:n1, y0:y1] if mult == 1 else p[n0:n1, y0:y1, ..., None]
                      for p in planes]
                out = self._out[n0:n1, y0:y1].reshape(-1, oc)
                # (whole-image or single-image bands of C-contiguous buffers: these
                # reshapes are views, never copies)
                self.blocks.append((ps, accf, tmp, accf.reshape(-1, oc), out))

    def _bind_esum(self, ictx: InvokeContext, src: np.ndarray) -> None:
        """The einsum path's blocks: (taps [KH, KW, n, rows, OW * C] of the padded copy,
        the band's sums viewed [n, rows, OW * C], the sums [R, C], the output [R, C])."""
        n, oh, ow, kh, kw, sh, _, dh, dw = self.geom
        oc = self._out.shape[-1]
        s0, s1, s2, s3 = src.strides
        accf_all = ictx.scratch[self.accf_idx]
        self.eblocks = []
        for n0 in range(0, n, self.nb):
            n1 = min(n, n0 + self.nb)
            for y0 in range(0, oh, self.bh):
                y1 = min(oh, y0 + self.bh)
                taps = as_strided(src[n0:, y0 * sh:], shape=(kh, kw, n1 - n0, y1 - y0, ow * oc),
                                  strides=(dh * s1, dw * s2, s0, sh * s1, s3), writeable=False)
                accf = accf_all[:n1 - n0, :y1 - y0]
                self.eblocks.append((taps, accf.reshape(n1 - n0, y1 - y0, ow * oc),
                                     accf.reshape(-1, oc),
                                     self._out[n0:n1, y0:y1].reshape(-1, oc)))
        self.invoke = self._invoke_esum

    def _invoke_esum(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        self.pad.fill_border(self.zi)
        np.copyto(self.pad.inner, ictx.inputs[0])
        wt, requant, corr = self.wt_e, self.requant, self.corr
        for taps, acc3, accf2d, out2d in self.eblocks:
            _c_einsum("ijnyx,ijx->nyx", taps, wt, out=acc3)
            requant.from_float(accf2d, corr, out2d)

    def _bind_phase(self, buf: np.ndarray) -> None:
        """The parity-split padded copy (see prepare): its border views and the two
        strided copies of the input into it."""
        self.pbuf = buf
        (t, _), (left, _) = self.pad.pads
        _, h, w, _ = self.pad.in_shape
        borders = [buf[:, :t], buf[:, t + h:]]
        copies = []
        for par in (0, 1):
            j0 = (par - left) % 2                 # first input column of this parity
            cnt = len(range(j0, w, 2))
            a = (j0 + left) // 2                  # its column in the parity's half
            borders += [buf[:, t:t + h, par, :a], buf[:, t:t + h, par, a + cnt:]]
            if cnt:
                copies.append((buf[:, t:t + h, par, a:a + cnt], self._x[:, :, j0::2]))
        self.pborders = [b for b in borders if b.size]
        self.pcopies = copies

    def _fill_phase(self) -> None:
        for b in self.pborders:
            b.fill(self.zi)
        for dst, src in self.pcopies:
            np.copyto(dst, src)

    def _invoke_flat(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        np.copyto(self.pad.inner, ictx.inputs[0])         # (the border stays zi)
        wtile, facc = self.wtile, self.facc
        requant, bufs, tms, tk = self.requant, self.fbufs, self.tms, self.tk
        u = bufs[0]
        for taps, acc3, out3 in self.fblocks:
            _c_einsum("ijl,ijl->l", taps, wtile, out=facc)
            np.copyto(u, acc3)
            u *= tms
            u += tk
            requant.finish_u(u, out3, bufs)

    def invoke(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
            if self.fast is not None:
                self._invoke_compiled(ictx)
                return
            if self.flat:
                self._invoke_flat(ictx)
                return
            if self.esum:
                self._invoke_esum(ictx)
                return
        if self.phase:
            self._fill_phase()
        else:
            self.pad.fill_border(self.zi)
            np.copyto(self.pad.inner, ictx.inputs[0])
        taps, requant, corr = self.taps, self.requant, self.corr
        if self.i16:
            t16 = self.taps_t if self.tiled else self.taps16
            nt = len(t16)
            for planes, accf, (a, b), accf2d, out2d in self.blocks:
                for t in range(0, nt - 1, 2):
                    np.multiply(planes[t], t16[t], out=a)
                    np.multiply(planes[t + 1], t16[t + 1], out=b)
                    a += b
                    if t == 0:
                        np.copyto(accf, a)
                    else:
                        np.add(accf, a, out=accf)
                if nt % 2:
                    np.multiply(planes[nt - 1], t16[nt - 1], out=a)
                    if nt == 1:
                        np.copyto(accf, a)
                    else:
                        np.add(accf, a, out=accf)
                requant.from_float(accf2d, corr, out2d)
            return
        if self.tiled:
            taps = self.taps_t
        for planes, accf, tmp, accf2d, out2d in self.blocks:
            np.multiply(planes[0], taps[0], out=accf)
            for t in range(1, len(planes)):
                np.multiply(planes[t], taps[t], out=tmp)
                accf += tmp
            requant.from_float(accf2d, corr, out2d)


# ---------------------------------------------------------------- FULLY_CONNECTED
@register("FULLY_CONNECTED", versions=(1, 14), variant="quantized")
class QuantizedFullyConnected(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((2, 3), 1)
        x, w = ctx.input(0), ctx.input(1)
        bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
        out = ctx.outputs[0]
        o = ctx.options
        fmt = _opt(o, "weightsFormat", 0)
        ctx.check(fmt == 0, f"weights format {fmt} (shuffled) is not supported")
        ctx.check(len(w.shape) == 2, f"weights must be 2-D [units, K], got {list(w.shape)}", w)
        ctx.check(len(x.shape) >= 1, "input must have rank >= 1", x)
        units, k = w.shape
        q = QuantSetup(ctx, x, w, bias, out, units, 0)
        keep = bool(_opt(o, "keepNumDims", False))
        if k == 0:
            batch = math.prod(x.shape[:-1])
        else:
            batch = x.size // k
        if keep:
            ctx.check(x.shape[-1] == k, f"keep_num_dims needs the input's last dimension "
                                        f"({x.shape[-1]}) to equal the weights' K ({k})", x)
            out_shape = (*x.shape[:-1], units)
        else:
            out_shape = (batch, units)
        ctx.set_output(0, out_shape, x.dtype)
        self.batch, self.k, self.units = batch, k, units
        self.weights_const = w.data is not None
        wconst = q.weights_compact(np.asarray(w.data)) if self.weights_const else None
        self.q = q
        if self.weights_const:
            self._set_weights(wconst, with_wt=False)       # the float copy: below, if used
        # The reference kernel: round(double(acc) * in*w/out) + zo (no integer multiplier).
        self.eff = effective_scales(q.in_scale, q.w_scales, q.out_scale, units)
        self.zo, self.lo, self.hi = q.zo, q.lo, q.hi
        # the tier by output size, or by work: a big weight matrix (MobileNetV2's 1280 x 1000
        # head, one row) runs ~10x faster as packed int8 than as float32 BLAS
        size = batch * units
        if batch * k * units >= (1 << 20):
            size = max(size, _conv_module.COMPILED_MIN_OUTPUT)
        # (once numba is loaded anyway, one compiled call beats the numpy tier's calls at
        # any size: kws's 32 x 12 head ~7 -> ~1.5 us)
        self.fast = _conv_module.compiled_tier_if_loaded(size) if x.dtype in (I8, U8) \
            else None
        self.vnni = None
        self.ft = ft = np.dtype(np.float32)     # the float GEMM type: decided below when it runs
        if self.fast is not None:
            self.fast = _compiled_quant()
            igemm = _compiled_igemm()
            if self.weights_const and k > 0 and igemm.usable(x.dtype, wconst, k):
                # int8 GEMM on VNNI with the reference rounding fused (compiled_igemm)
                self.vnni = igemm
                self.wpk, self.kq, npad = igemm.pack_weights(wconst.T)
                self.corr_v = igemm.correction(self.corr, 0, self.w_sums).astype(F64)
                self.acc_idx = ctx.request_scratch((4, npad), I32)
                # rows are read 4 * kq bytes at a time: K % 4 != 0 goes through a copy
                # with room past the last row
                self.xpad_idx = (None if k % 4 == 0 else
                                 ctx.request_scratch((batch * k + 4,), I8))
        if self.vnni is None:
            # (the float32-exactness check reads every weight: only for the float GEMM)
            self.ft = ft = q.gemm_dtype(max(k, 1), wconst)
            self.x_idx = ctx.request_scratch((batch, max(k, 1)), ft)
            self.gemm_idx = ctx.request_scratch((batch, units), ft)
        if self.fast is None:
            self.acc_idx = ctx.request_scratch((batch, units), F64)
            self.tmp_idx = ctx.request_scratch((batch, units), F64)
        if self.weights_const and self.vnni is None:
            # a few rows (a GEMV): BLAS reads the [units, K] copy transposed, as fast as a
            # [K, units] one, and a transposing copy costs ~6x a straight one at prepare
            # (~2.7 ms for MobileNetV2's 1000 x 1280 head); more rows: a [K, units] copy
            # (as the float kernel, _FC_COPY_BATCH)
            self.wt = (np.ascontiguousarray(wconst.T, dtype=ft) if batch >= _conv_module._FC_COPY_BATCH
                       else wconst.astype(ft).T)
        # Tiny products (a classifier head): a float64 GEMM of [x, 1] against [wq; corr]
        # gives the exact accumulator with the correction (|sum| <= K * 2^16 + 2^31 <<
        # 2^53), and the epilogue runs in fewer calls with float scalars.
        self.tiny = (self.fast is None and self.weights_const and x.dtype in (I8, U8)
                     and batch * (k + 1) * units <= (1 << 16))
        if self.tiny:
            self.w1 = np.concatenate([self.wt.astype(F64), self.corr_f[None, :]])
            self.x1 = np.ones((batch, k + 1), F64)          # the last column stays 1
            self.x1k = self.x1[:, :k]
            # the scales as a full [batch, units] array: a same-shape multiply (no
            # broadcast) is ~2x faster on a few values
            self.eff_full = np.ascontiguousarray(np.broadcast_to(self.eff, (batch, units)))
            self.bounds = (float(self.lo - self.zo), float(self.hi - self.zo), float(self.zo))
            # one row of a few units (a classifier's head): the epilogue on Python floats
            # (the same IEEE operations per value as the numpy passes below) and one
            # write of the bytes: ~2 us against ~7 us of six numpy calls on 10 values
            self.row_scales = (self.eff_full[0].tolist()
                               if batch == 1 and units <= self._ROW_UNITS else None)
        self._x = None

    # a one-row tiny product's epilogue in Python up to this many units
    _ROW_UNITS = 32

    def _set_weights(self, wq: np.ndarray, with_wt: bool = True) -> None:
        """wq: the weights minus their zero point (QuantSetup.weights)."""
        self.wt = np.ascontiguousarray(wq.T, dtype=self.ft) if with_wt else None
        self.w_sums = row_sums(wq, wq.shape[0])
        self.corr = self.q.correction(self.w_sums)
        self.corr_f = self.corr.astype(F64)

    def bind(self, ictx: InvokeContext) -> None:
        self.__dict__.pop("invoke", None)   # (a closure of the last binding: made anew)
        self._x, self._out = ictx.inputs[0], ictx.outputs[0]
        n = self.batch * self.k
        flat = self._x.reshape(-1)
        self.x2d = (flat if flat.size == n else flat[:n]).reshape(self.batch, self.k)
        if self.vnni is None:
            self.xf = ictx.scratch[self.x_idx][:, :self.k]
            self.gemm = ictx.scratch[self.gemm_idx]
        self.out2d = self._out.reshape(self.batch, self.units)
        if self.vnni is not None:
            self.xv_src = self.x2d.reshape(-1)
            self.xv = (self.xv_src if self.xpad_idx is None
                       else ictx.scratch[self.xpad_idx])
            args = (self.xv, self.k, self.batch, self.kq, self.wpk, self.corr_v, self.eff,
                    float(self.zo), float(self.lo), float(self.hi), self.out2d,
                    ictx.scratch[self.acc_idx])
            self.v_call = (self.vnni.entry(self.vnni.gemm_fc, args), args)
        elif self.fast is None:
            self.acc = ictx.scratch[self.acc_idx]
            self.tmp = ictx.scratch[self.tmp_idx]
            self.row_run = None
            if (self.tiny and self.k > 0 and self.row_scales is not None
                    and self.out2d.flags.c_contiguous):
                self.row_run = self._row_runner()
                self.invoke = invoke_for_binding(self, QuantizedFullyConnected.invoke,
                                                 self.row_run)

    def _row_runner(self):
        """The tiny one-row product as a closure over this binding's arrays: the float64
        GEMM of [x, 1] against [wq; corr], then for each unit round(acc * scale) (halves
        away from zero: trunc(y + copysign(0.5 - 2^-54, y)), as the numpy passes) + zo,
        clamped to the output's bounds; the values written as the output's bytes."""
        x1k, x2d, x1, w1, acc = self.x1k, self.x2d, self.x1, self.w1, self.acc
        acc_row = acc.reshape(-1)
        scales = self.row_scales
        zo, lo, hi = int(self.zo), int(self.lo), int(self.hi)
        out = memoryview(self.out2d.reshape(-1))
        code = out.format
        trunc, copysign, copyto, matmul = math.trunc, math.copysign, np.copyto, np.matmul

        def run() -> None:
            copyto(x1k, x2d)
            matmul(x1, w1, out=acc)
            vals = []
            for a, e in zip(acc_row.tolist(), scales):
                y = a * e
                v = trunc(y + copysign(_HALF_BELOW, y)) + zo
                # (conditionals: ~2x faster than min / max calls)
                vals.append(lo if v < lo else hi if v > hi else v)  # noqa: FURB136
            out[:] = array(code, vals)
        return run

    def invoke(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if self.k == 0:
            self.out2d.fill(0)
            return
        if self.tiny:
            if self.row_run is not None:
                self.row_run()
                return
            acc, tmp = self.acc, self.tmp
            lo, hi, zo = self.bounds
            np.copyto(self.x1k, self.x2d)
            np.matmul(self.x1, self.w1, out=acc)
            acc *= self.eff_full
            np.copysign(_HALF_BELOW, acc, out=tmp)
            acc += tmp
            # clamp before the truncation (trunc is monotone and keeps the integer
            # bounds), then trunc and + zo into the output: one pass fewer
            _clip(acc, lo, hi, out=acc)
            np.trunc(acc, out=acc)
            np.add(acc, zo, out=self.out2d, casting="unsafe")
            return
        if self.vnni is not None:
            if self.xv is not self.xv_src:
                self.xv[:self.xv_src.size] = self.xv_src
            fn, args = self.v_call
            fn(*args)
            return
        if not self.weights_const:
            self._set_weights(self.q.weights(ictx.inputs[1]))
        np.copyto(self.xf, self.x2d)
        np.matmul(self.xf, self.wt, out=self.gemm)
        if self.fast is not None:
            self.fast.fc_rows(self.gemm, self.corr_f, self.eff, float(self.zo), float(self.lo),
                              float(self.hi), self.out2d)
            return
        acc, tmp = self.acc, self.tmp
        # widen, then add (a float32 + float64 add runs numpy's casting loop: ~1.4x the
        # two same-type passes)
        np.copyto(acc, self.gemm)
        acc += self.corr_f
        acc *= self.eff
        # std::round (halves away from zero) = trunc(y + copysign(0.5 - 2^-54, y)), exact
        # for every double (tests/kernels/test_speed_paths_quant_conv.py)
        np.copysign(_HALF_BELOW, acc, out=tmp)
        acc += tmp
        np.trunc(acc, out=acc)
        _clip(acc, self.lo - self.zo, self.hi - self.zo, out=acc)
        np.add(acc, self.zo, out=self.out2d, casting="unsafe")


# ---------------------------------------------------------------- TRANSPOSE_CONV
@register("TRANSPOSE_CONV", versions=(1, 5), variant="quantized")
class QuantizedTransposeConv(Kernel):
    """Inputs: output_shape (const int32 [4]), weights [O, KH, KW, I], input, bias.
    One float64 GEMM of the zero-point-adjusted input gives every input pixel's
    [KH, KW, O] contribution; they are scattered (summed) into the output taps."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((3, 4), 1)
        shape_t, w, x = ctx.input(0), ctx.input(1), ctx.input(2)
        bias = ctx.inputs[3] if len(ctx.inputs) > 3 else None
        out = ctx.outputs[0]
        o = ctx.options
        ctx.check_dtype(shape_t, np.int32, "output_shape")
        ctx.check(len(shape_t.shape) == 1 and shape_t.size == 4,
                  f"output_shape must hold 4 values, got shape {list(shape_t.shape)}", shape_t)
        ctx.check(len(x.shape) == 4, f"input must be 4-D [N, H, W, C], got {list(x.shape)}", x)
        ctx.check(len(w.shape) == 4, f"weights must be 4-D [O, KH, KW, I], got "
                                     f"{list(w.shape)}", w)
        n, h, wd, c = x.shape
        oc, kh, kw, ic = w.shape
        _positive(ctx, input_height=h, input_width=wd, input_channels=c, filter_height=kh,
                  filter_width=kw, output_channels=oc)
        ctx.check(c == ic, f"input has {c} channels, the weights expect {ic}", w)
        sh, sw = _opt(o, "strideH", 1), _opt(o, "strideW", 1)
        _positive(ctx, stride_h=sh, stride_w=sw)
        padding = _padding(ctx, o)
        q = QuantSetup(ctx, x, w, bias, out, oc, 0)
        if shape_t.data is None:
            raise ctx.error("a non-constant output_shape is not supported by the quantized "
                            "TRANSPOSE_CONV", shape_t)
        oshape = tuple(int(v) for v in np.asarray(shape_t.data).reshape(-1))
        if oshape[0] != n or oshape[3] != oc or oshape[1] <= 0 or oshape[2] <= 0:
            raise ctx.error(f"output_shape {list(oshape)} does not fit batch {n} and {oc} "
                            f"output channels with positive height and width")
        if (conv_output_size(padding, oshape[1], kh, sh), conv_output_size(
                padding, oshape[2], kw, sw)) != (h, wd):
            raise ctx.error(f"output_shape {list(oshape)} is inconsistent with the input's "
                            f"{h}x{wd}")
        ctx.set_output(0, oshape, x.dtype)
        wq = q.weights(_need_const(ctx, w))
        self.wt = np.ascontiguousarray(wq.transpose(3, 1, 2, 0).reshape(ic, -1), dtype=F64)
        self.corr = q.correction(np.zeros(oc, np.int64))
        self.requant = q.requantizer()
        self.zi = q.zi
        py = same_valid_pads(padding, oshape[1], kh, sh, 1, h)[0]
        px = same_valid_pads(padding, oshape[2], kw, sw, 1, wd)[0]
        full_h = max((h - 1) * sh + kh, py + oshape[1])
        full_w = max((wd - 1) * sw + kw, px + oshape[2])
        self.geom = (n, h, wd, c, oc, kh, kw, sh, sw, py, px)
        self.oshape = oshape
        self.x_idx = ctx.request_scratch((n * h * wd, c), F64)
        self.col_idx = ctx.request_scratch((n * h * wd, kh * kw * oc), F64)
        self.accf_idx = ctx.request_scratch((n, full_h, full_w, oc), F64)
        self.acc_idx = ctx.request_scratch(oshape, I64)
        self._x = None

    def bind(self, ictx: InvokeContext) -> None:
        n, h, wd, c, oc, kh, kw, sh, sw, py, px = self.geom
        self._x, self._out = ictx.inputs[2], ictx.outputs[0]
        self.xf = ictx.scratch[self.x_idx]
        self.x2d = self._x.reshape(-1, c)
        self.col = ictx.scratch[self.col_idx]
        col6 = self.col.reshape(n, h, wd, kh, kw, oc)
        self.accf = ictx.scratch[self.accf_idx]
        self.scatter = []
        for ky in range(kh):
            for kx in range(kw):
                dst = self.accf[:, ky:ky + (h - 1) * sh + 1:sh, kx:kx + (wd - 1) * sw + 1:sw, :]
                self.scatter.append((dst, col6[:, :, :, ky, kx, :]))
        self.crop = self.accf[:, py:py + self.oshape[1], px:px + self.oshape[2], :]
        self.acc = ictx.scratch[self.acc_idx]

    def invoke(self, ictx: InvokeContext) -> None:
        if ictx.inputs[2] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        np.subtract(self.x2d, self.zi, out=self.xf, dtype=F64)
        np.matmul(self.xf, self.wt, out=self.col)
        self.accf.fill(0.0)
        for dst, src in self.scatter:
            dst += src
        acc = self.acc
        np.copyto(acc, self.crop, casting="unsafe")
        acc += self.corr
        self.requant(acc, ictx.outputs[0])


# ---------------------------------------------------------------- BATCH_MATMUL
@register("BATCH_MATMUL", versions=(1, 4), variant="quantized")
class QuantizedBatchMatMul(Kernel):
    """int8 x int8 -> int8 (or int32, the raw products without zero points),
    int16 x int16 -> int16 and int16 x int8 -> int16 (64-bit accumulators)."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        a, b = ctx.input(0), ctx.input(1)
        out = ctx.outputs[0]
        o = ctx.options
        ok = (a.dtype, b.dtype) in ((I8, I8), (I16, I16), (I16, I8))
        if not ok:
            raise ctx.error(f"quantized BATCH_MATMUL takes int8 x int8, int16 x int16 or "
                            f"int16 x int8 operands, got {a.dtype} x {b.dtype}")
        self.raw32 = a.dtype == I8 and out.dtype == I32
        if out.dtype != a.dtype and not self.raw32:
            raise ctx.error(f"output has type {out.dtype}, expected {a.dtype}"
                            + (" or int32" if a.dtype == I8 else ""), out)
        adj_x, adj_y = bool(_opt(o, "adjX", False)), bool(_opt(o, "adjY", False))
        ea, eb, batch, rows, ka, cols = batch_matmul_shapes(ctx, a, b, adj_x, adj_y)
        out_shape = (*batch, rows, cols)
        ctx.set_output(0, out_shape, out.dtype)
        self.adj = (adj_x, adj_y)
        if self.raw32:
            self.za = self.zb = 0
        else:
            sa = float(scales_of(ctx, a, "lhs")[0])
            sb_ = scales_of(ctx, b, "rhs")
            so = float(scales_of(ctx, out, "output")[0])
            self.za, self.zb = int(zero_points_of(a)[0]), int(zero_points_of(b)[0])
            zo = int(zero_points_of(out)[0])
            if a.dtype == I16 and (self.za or self.zb or zo):
                raise ctx.error(f"int16 BATCH_MATMUL needs zero points 0 (got {self.za}, "
                                f"{self.zb}, {zo})")
            m, s = per_channel_multipliers(sa, sb_[:1], so, 1)
            lo, hi = (-128, 127) if a.dtype == I8 else (-32768, 32767)
            self.requant = Requantizer(m, s, zo, lo, hi, use_int64_path=a.dtype == I16)
        cols = out_shape[-1]
        self.plan = None
        if not self.raw32 and a.dtype == I8 and compiled_tier(math.prod(out_shape)):
            bound = ka * max_abs(a.dtype, self.za) * max_abs(b.dtype, self.zb)
            self.plan = _plan_matrix(self.requant, cols, np.zeros(cols), acc_bound=bound)
            self.fast = _compiled_quant() if self.plan is not None else None
        self.ft = gemm_float_dtype(ka, max_abs(a.dtype, self.za), max_abs(b.dtype, self.zb))
        if not self.raw32 and a.dtype == I8 and self.plan is None:
            # the numpy tier's float64 requantization, exact for every accumulator within
            # K * max|a - za| * max|b - zb| (Requantizer.enable_float; beyond what it can
            # prove, a run-time check per block): ~1.5-2.5 ns a value, against ~5 for the
            # int64 passes (the transformer encoder's attention products, whole node:
            # ~79 -> ~64 us and ~57 -> ~48 us)
            self.requant.enable_float(None, ka * max_abs(a.dtype, self.za)
                                      * max_abs(b.dtype, self.zb))
        self.a_idx = ctx.request_scratch(ea, self.ft)
        self.b_idx = ctx.request_scratch(eb, self.ft)
        self.gemm_idx = ctx.request_scratch(out_shape, self.ft)
        self._in = (None, None)

    def bind(self, ictx: InvokeContext) -> None:
        a, b = ictx.inputs
        self._in, self._out = (a, b), ictx.outputs[0]
        self.af = ictx.scratch[self.a_idx]
        self.bf = ictx.scratch[self.b_idx]
        self.a_src = a.reshape(self.af.shape)
        self.b_src = b.reshape(self.bf.shape)
        self.a = self.af.swapaxes(-1, -2) if self.adj[0] else self.af
        self.b = self.bf.swapaxes(-1, -2) if self.adj[1] else self.bf
        self.gemm = ictx.scratch[self.gemm_idx]
        cols = self.gemm.shape[-1]
        self.gemm2d = self.gemm.reshape(-1, cols)
        self.out2d = self._out.reshape(-1, cols)

    def invoke(self, ictx: InvokeContext) -> None:
        a, b = ictx.inputs
        if a is not self._in[0] or b is not self._in[1] or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        np.subtract(self.a_src, self.za, out=self.af, dtype=self.ft)
        np.subtract(self.b_src, self.zb, out=self.bf, dtype=self.ft)
        np.matmul(self.a, self.b, out=self.gemm)
        if self.raw32:
            np.copyto(ictx.outputs[0], self.gemm, casting="unsafe")
            return
        if self.plan is not None:
            self.fast.requant_rows(self.gemm2d, *self.plan, self.out2d)
            return
        self.requant.from_float(self.gemm2d, None, self.out2d)
