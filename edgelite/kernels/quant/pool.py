"""Quantized 2-D pooling: AVERAGE_POOL_2D and MAX_POOL_2D (int8, uint8, int16).

As LiteRT's reference kernels: the input and output share scale and zero point
(LiteRT only DCHECKs it), so pooling works on the raw quantized values.
Padded positions are not part of a window: the average divides the integer sum
by the count of valid elements, rounding half away from zero with C's
truncating division (`(acc ± count/2) / count`; uint8 sums are never
negative), and the max ignores them. Then the fused activation's clamp.

Vectorized: the input goes into a bordered scratch buffer (zeros for sums, the
dtype's lowest value for max) and whole [N, OH, OW, C] strided planes are
combined one window tap at a time (or a window view is reduced when the window
is large, e.g. global pooling).
"""
from __future__ import annotations

import numpy as np

from edgelite.format.schema.tflite_generated import Padding
from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext
from edgelite.kernels.common import activation_code, conv_output_size
from edgelite.kernels.quant.qutil import (
    I8,
    I16,
    I32,
    U8,
    Padded,
    activation_bounds,
    same_valid_pads,
    window_view,
)
from edgelite.kernels.registry import register

_MAX_TAP_LOOP = 64


def _opt(options, name: str, default):
    value = getattr(options, name, None) if options is not None else None
    return default if value is None else value


def _valid_counts(in_size: int, out_size: int, k: int, stride: int, pad: int) -> np.ndarray:
    start = np.arange(out_size) * stride - pad
    return np.minimum(start + k, in_size) - np.maximum(start, 0)


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
        if self.mode == "max":
            self.work = x.dtype
            self.fill = int(np.iinfo(x.dtype).min)
        else:
            self.work = I32
            self.fill = 0
            rows = _valid_counts(h, oh, fh, sh, pads[0][0])
            cols = _valid_counts(w, ow, fw, sw, pads[1][0])
            counts = (rows[:, None] * cols[None, :]).astype(np.int32)
            if counts.size and not bool((counts > 0).all()):
                raise ctx.error("a pooling window covers no input element")
            self.counts = counts[None, :, :, None]
            self.half = self.counts // 2
            self.signed = x.dtype != U8
        self.copy = self.pad.needed or self.mode != "max"
        self.pad_idx = ctx.request_scratch(self.pad.shape, self.work) if self.copy else None
        self.acc_idx = ctx.request_scratch((n, oh, ow, c), self.work)
        self._x = None

    def bind(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        self._x, self._out = x, ictx.outputs[0]
        oh, ow, fh, fw, sh, sw = self.geom
        if self.copy:
            self.pad.bind(ictx.scratch[self.pad_idx])
            src = self.pad.buf
        else:
            src = x
        self.acc = ictx.scratch[self.acc_idx]
        if fh * fw > _MAX_TAP_LOOP:
            self.window = window_view(src, (oh, ow), (fh, fw), (sh, sw), (1, 1))
            self.planes = None
        else:
            self.window = None
            self.planes = [src[:, ky:ky + (oh - 1) * sh + 1:sh, kx:kx + (ow - 1) * sw + 1:sw, :]
                           for ky in range(fh) for kx in range(fw)]

    def invoke(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if self.copy:
            self.pad.fill_border(self.fill)
            np.copyto(self.pad.inner, ictx.inputs[0])
        acc = self.acc
        combine = np.maximum if self.mode == "max" else np.add
        if self.planes is None:
            combine.reduce(self.window, axis=(3, 4), out=acc)
        else:
            np.copyto(acc, self.planes[0])
            for p in self.planes[1:]:
                combine(acc, p, out=acc)
        if self.mode != "max":
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
        np.clip(acc, self.lo, self.hi, out=acc)
        np.copyto(ictx.outputs[0], acc, casting="unsafe")


@register("AVERAGE_POOL_2D", versions=(1, 3), variant="quantized")
class QuantizedAveragePool2D(_QuantizedPool2D):
    mode = "avg"


@register("MAX_POOL_2D", versions=(1, 3), variant="quantized")
class QuantizedMaxPool2D(_QuantizedPool2D):
    mode = "max"
