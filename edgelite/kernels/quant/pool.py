"""Quantized 2-D pooling: AVERAGE_POOL_2D and MAX_POOL_2D (int8, uint8, int16).

As LiteRT's reference kernels: the input and output share scale and zero point
(LiteRT only DCHECKs it), so pooling works on the raw quantized values.
Padded positions are not part of a window: the average divides the integer sum
by the count of valid elements, rounding half away from zero with C's
truncating division (`(acc ± count/2) / count`; uint8 sums are never
negative), and the max ignores them. Then the fused activation's clamp.

Vectorized, separably: the input (or a bordered copy holding 0 for sums, the dtype's
lowest value for max) is combined over the window's rows into an [N, OH, W, C] buffer,
then over its columns into [N, OH, OW, C] (fh + fw - 2 whole-array passes instead of
fh * fw - 1; sums and maxima are associative, so the result is the same); a window
axis longer than _PAIRWISE_MAX is one strided reduction. 8-bit averages end in one
lookup: the rounded division by the window's element count and the activation clamp
are tabulated over every possible (count, sum).
"""
from __future__ import annotations

import numpy as np

from edgelite.format.schema.tflite_tables import Padding
from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext
from edgelite.kernels.common import activation_code, as_strided, conv_output_size
from edgelite.kernels.conv import compiled_tier, compiled_tier_if_loaded
from edgelite.kernels.quant.qutil import (
    I8,
    I16,
    I32,
    U8,
    Padded,
    _clip,
    activation_bounds,
    fill_cyclic,
    same_valid_pads,
)
from edgelite.kernels.registry import register

_PAIRWISE_MAX = 4                  # longer window axes: one strided reduction
INTP = np.dtype(np.intp)


def _opt(options, name: str, default):
    value = getattr(options, name, None) if options is not None else None
    return default if value is None else value


def _valid_counts(in_size: int, out_size: int, k: int, stride: int, pad: int) -> np.ndarray:
    start = np.arange(out_size) * stride - pad
    return np.minimum(start + k, in_size) - np.maximum(start, 0)


def _rounded_quotients(first: int, last: int, k: int) -> np.ndarray:
    """sign(s) * ((|s| + k // 2) // k) for s = first..last (first <= 0 <= last): the
    quotient of consecutive |s| steps once every k values, so it is a run of
    np.repeat(arange, k) read from k // 2 on (integer divisions over every sum cost
    ~0.1 ms at a 25 x 5 window). int32 when the quotients fit (16-bit inputs and
    narrower): at a 25 x 5 window of int8 sums the int64 arrays were 256 KB each, and
    their fresh pages cost ~0.12 ms of kws's load; int32: 0.014 ms."""
    h = k // 2
    reach = max(-first, last) + h + 1
    dt = np.int32 if reach // k + 1 < (1 << 31) else np.int64
    runs = np.repeat(np.arange(reach // k + 1, dtype=dt), k)     # runs[j] = j // k
    neg = -runs[h + 1:h - first + 1][::-1]               # s = first..-1: |s| + h
    return np.concatenate([neg, runs[h:h + last + 1]])


class _QuantizedPool2D(Kernel):
    mode = ""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x = ctx.input(0)
        out = ctx.outputs[0]
        if x.dtype not in (I8, U8, I16):
            raise ctx.error(f"input has type {x.dtype}; the quantized {ctx.op_name} takes "
                            f"int8, uint8 or int16", x)
        if out.dtype != x.dtype:
            raise ctx.error(f"output has type {out.dtype}, expected the input's {x.dtype}", out)
        o = ctx.options
        ctx.check(len(x.shape) == 4, f"input must be 4-D [N, H, W, C], got shape {list(x.shape)}",
                  x)
        n, h, w, c = x.shape
        sh, sw = _opt(o, "strideH", 1), _opt(o, "strideW", 1)
        fh, fw = _opt(o, "filterHeight", 1), _opt(o, "filterWidth", 1)
        for name, v in (("stride_h", sh), ("stride_w", sw), ("filter_height", fh),
                        ("filter_width", fw)):
            ctx.check(v > 0, f"{name} must be positive, got {v}")
        padding = _opt(o, "padding", Padding.SAME)
        ctx.check(padding in (Padding.SAME, Padding.VALID), f"unknown padding {padding}")
        self.lo, self.hi = activation_bounds(ctx, activation_code(o), out, x.dtype)
        oh = conv_output_size(padding, h, fh, sh)
        ow = conv_output_size(padding, w, fw, sw)
        ctx.set_output(0, (n, oh, ow, c), x.dtype)
        pads = (same_valid_pads(padding, h, fh, sh, 1, oh),
                same_valid_pads(padding, w, fw, sw, 1, ow))
        self.geom = (oh, ow, fh, fw, sh, sw)
        self.pad = Padded(x.shape, pads)
        ctx.check_bytes(self.pad.shape, np.float32, x, "its padded input")
        self.table = self.offsets = None
        if self.mode == "max":
            self.acc_dtype = x.dtype
            self.fill = int(np.iinfo(x.dtype).min)
            self.clamp = (self.lo, self.hi) != (int(np.iinfo(x.dtype).min),
                                                int(np.iinfo(x.dtype).max))
        else:
            self.fill = 0
            rows = _valid_counts(h, oh, fh, sh, pads[0][0])
            cols = _valid_counts(w, ow, fw, sw, pads[1][0])
            counts = (rows[:, None] * cols[None, :]).astype(np.int32)
            if counts.size and not bool((counts > 0).all()):
                raise ctx.error("a pooling window covers no input element")
            self.counts = counts[None, :, :, None]
            self.half = self.counts // 2
            self.signed = x.dtype != U8
            if x.dtype in (I8, U8) and counts.size:
                self.acc_dtype = INTP
                self._prepare_table(counts, x.dtype)
            else:
                self.acc_dtype = I32
        self.pad_idx = ctx.request_scratch(self.pad.shape, x.dtype) if self.pad.needed else None
        self.rows_idx = ctx.request_scratch((n, oh, self.pad.shape[2], c), self.acc_dtype) \
            if fh > 1 else None
        self.acc_idx = ctx.request_scratch((n, oh, ow, c), self.acc_dtype) \
            if self.mode != "max" else None
        # 8-bit average over the whole unpadded image (a global pool): the window sums as
        # one float32 GEMV of ones against the image widened to float32 (exact: integers
        # below 2^24), cast to intp and looked up in the one-count table (take's "wrap"
        # is the table's sum modulo its size): fewer passes than a casting reduction
        # over two axes.
        self.gemv = (self.mode != "max" and self.table is not None and self.offsets is None
                     and oh == ow == 1 and (fh, fw) == (h, w) and not self.pad.needed
                     and h * w * 256 < (1 << 24))
        self.g_kernel = None
        if self.gemv and compiled_tier_if_loaded(n * c):
            # once numba is loaded anyway: the sums and lookups in one call
            from edgelite.kernels import compiled_qops
            self.g_kernel = compiled_qops.sum_lookup
            self.g_acc = np.zeros(c, np.int32)
        if self.gemv:
            self.g_ones = np.ones((n, 1, h * w), np.float32)
            self.g_xf = np.zeros((n, h * w, c), np.float32)
            self.g_sum = np.zeros((n, 1, c), np.float32)
            self.g_idx = np.zeros((n, 1, 1, c), INTP)
            self.g_idx3 = self.g_idx.reshape(n, 1, c)
        # Compiled tier (8-bit, 2x2 windows of stride 2, no padding): one pass, the
        # clamp or the average's table lookup included (compiled_qops.pool2x2_q8)
        self.compiled = None
        if x.dtype in (I8, U8) and (fh, fw, sh, sw) == (2, 2, 2, 2) and not self.pad.needed \
                and (self.mode == "max" or (self.table is not None and self.offsets is None)) \
                and compiled_tier(n * oh * ow * c, small_ok=True) is not None:
            from edgelite.kernels import compiled_qops
            self.compiled = compiled_qops.pool2x2_q8
            self.c_args = (self.mode == "max", np.int32(self.lo), np.int32(self.hi),
                           self.table if self.table is not None else np.zeros(1, x.dtype))
        self._x = None

    def _prepare_table(self, counts: np.ndarray, dtype) -> None:
        """out = table[sum + offset[count]]: per distinct count k, the rounded quotients
        of every sum in [k * min, k * max], clamped. One count (no padding in any window):
        a cyclic table indexed by the sum itself (np.take mode="wrap")."""
        info = np.iinfo(dtype)
        lo_v, hi_v = int(info.min), int(info.max)
        distinct = sorted(set(counts.ravel().tolist()))    # (np.unique imports numpy.ma)
        parts, offset_of, base = [], {}, 0
        for k in distinct:
            q = _rounded_quotients(k * lo_v, k * hi_v, k)
            parts.append(np.clip(q, self.lo, self.hi).astype(dtype))
            offset_of[k] = base - k * lo_v
            base += q.size
        if len(distinct) == 1:
            # Up to 2^16 possible sums: wrapping 16-bit sums (faster numpy passes than
            # intp) read as uint16 index a 2^16 table, i.e. sum mod 2^16 is one-to-one.
            k = distinct[0]
            size = max(1 << 16, parts[0].size)
            if size == 1 << 16:
                self.acc_dtype = np.dtype(np.int16 if lo_v < 0 else np.uint16)
            table = np.zeros(size, dtype)
            fill_cyclic(table, k * lo_v, parts[0])          # sum s at s mod size
            self.table = table
            return
        self.table = np.concatenate(parts)
        lookup = np.vectorize(offset_of.get, otypes=[np.intp])
        self.offsets = lookup(counts)[None, :, :, None]

    def bind(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        self._x, self._out = x, ictx.outputs[0]
        if self.compiled is not None and x.flags.c_contiguous and self._out.flags.c_contiguous:
            self.invoke = self._invoke_compiled
            return
        self.invoke = self._invoke_numpy
        oh, ow, fh, fw, sh, sw = self.geom
        if self.pad.needed:
            self.pad.bind(ictx.scratch[self.pad_idx])
            src = self.pad.buf
        else:
            src = x
        acc = self._out if self.mode == "max" else ictx.scratch[self.acc_idx]
        if self.gemv:
            # (a strided input, which the runtime's own arrays never are, is reshaped at
            # every call: a reshape here could be a copy, stale at the next invoke)
            self.g_x = x.reshape(self.g_xf.shape) if x.flags.c_contiguous else None
            out = self._out
            self.g_out = out.reshape(out.shape[0], out.shape[3]) \
                if out.flags.c_contiguous and self.g_x is not None else None
            self.invoke = self._invoke_gemv
            return
        rows = ictx.scratch[self.rows_idx] if fh > 1 else None
        self.steps = []
        if oh == ow == 1 and fh == src.shape[1] and fw == src.shape[2] and fh * fw > 1:
            # one window over the whole (bordered) input: a single reduction
            combine = np.maximum if self.mode == "max" else np.add
            kw = {} if self.mode == "max" else {"dtype": self.acc_dtype}
            self.steps.append((combine.reduce, (src,), dict(kw, axis=(1, 2), out=acc,
                                                            keepdims=True)))
            self.acc = acc
            return
        # window rows: src [N, Hp, Wp, C] -> rows [N, OH, Wp, C]
        if fh > 1:
            self._add_steps(src, 1, oh, sh, fh, rows)
            src = rows
        else:
            src = src[:, :(oh - 1) * sh + 1:sh]
        # window columns: [N, OH, Wp, C] -> acc [N, OH, OW, C]
        if fw > 1 or fh == 1:
            self._add_steps(src, 2, ow, sw, fw, acc)
        else:
            self.steps.append((np.copyto, (acc, src[:, :, :(ow - 1) * sw + 1:sw]), {}))
        self.acc = acc

    def _add_steps(self, src, axis, out_len, stride, k, dst) -> None:
        """dst = combine over the k taps along `axis` of src (output positions strided)."""
        combine = np.maximum if self.mode == "max" else np.add
        kw = {} if self.mode == "max" else {"dtype": self.acc_dtype}

        def tap(t):
            idx = [slice(None)] * 4
            idx[axis] = slice(t, t + (out_len - 1) * stride + 1, stride)
            return src[tuple(idx)]
        if k == 1:
            self.steps.append((np.copyto, (dst, tap(0)), {"casting": "unsafe"}))
        elif k <= _PAIRWISE_MAX:
            self.steps.append((combine, (tap(0), tap(1)), dict(kw, out=dst)))
            for t in range(2, k):
                self.steps.append((combine, (dst, tap(t)), {"out": dst}))
        else:
            shape = list(dst.shape)
            strides = list(src.strides)
            strides[axis] = src.strides[axis] * stride
            shape.insert(axis + 1, k)
            strides.insert(axis + 1, src.strides[axis])
            view = as_strided(src, shape=shape, strides=strides, writeable=False)
            self.steps.append((combine.reduce, (view,), dict(kw, axis=axis + 1, out=dst)))

    def _invoke_gemv(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if self.g_kernel is not None and self.g_out is not None:
            self.g_kernel(self.g_x, self.table, self.g_out, self.g_acc)
            return
        gx = self.g_x if self.g_x is not None else ictx.inputs[0].reshape(self.g_xf.shape)
        np.copyto(self.g_xf, gx)
        np.matmul(self.g_ones, self.g_xf, out=self.g_sum)
        np.copyto(self.g_idx3, self.g_sum, casting="unsafe")
        self.table.take(self.g_idx, out=ictx.outputs[0], mode="wrap")

    def _invoke_compiled(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
            if self.invoke != self._invoke_compiled:
                self.invoke(ictx)
                return
        self.compiled(self._x, self._out, *self.c_args)

    def invoke(self, ictx: InvokeContext) -> None:
        self.bind(ictx)
        self.invoke(ictx)

    def _invoke_numpy(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
            if self.invoke != self._invoke_numpy:       # (compiled, gemv)
                self.invoke(ictx)
                return
        if self.pad.needed:
            self.pad.fill_border(self.fill)
            np.copyto(self.pad.inner, ictx.inputs[0])
        for fn, args, kw in self.steps:
            fn(*args, **kw)
        acc = self.acc
        out = ictx.outputs[0]
        if self.mode == "max":
            if self.clamp:
                _clip(acc, self.lo, self.hi, out=acc)
            return
        if self.table is not None:
            if self.offsets is None:
                if acc.dtype.itemsize == 2:
                    acc = acc.view(np.uint16)
                self.table.take(acc, out=out, mode="wrap")
            else:
                acc += self.offsets
                np.take(self.table, acc, out=out)
            return
        # C's (acc + half) / count for acc > 0, (acc - half) / count otherwise, both
        # truncating toward zero: sign(acc) * ((|acc| + half) // count).
        if self.signed:
            neg = acc < 0
            np.abs(acc, out=acc)
            acc += self.half
            acc //= self.counts
            np.negative(acc, out=acc, where=neg)
        else:
            acc += self.half
            acc //= self.counts
        _clip(acc, self.lo, self.hi, out=acc)
        np.copyto(out, acc, casting="unsafe")


@register("AVERAGE_POOL_2D", versions=(1, 3), variant="quantized")
class QuantizedAveragePool2D(_QuantizedPool2D):
    mode = "avg"


@register("MAX_POOL_2D", versions=(1, 3), variant="quantized")
class QuantizedMaxPool2D(_QuantizedPool2D):
    mode = "max"
