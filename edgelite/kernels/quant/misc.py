"""Quantized RESIZE_BILINEAR (int8, uint8, int16), bit-exact with LiteRT's reference kernel.

resize_bilinear.cc (kReference) runs
- int8 and int16 through reference_ops::ResizeBilinearInteger: source positions in
  fixed point with a 10-bit fraction, the four taps weighted in int64 (20 fractional
  bits) and rounded half away from zero (double rounding build: +-2^19, then C
  division by 2^20), the result cast (wrapping) to the output type;
- uint8 through the float reference_ops::ResizeBilinear<uint8_t>: float32 weights, the
  taps summed in the reference's order, + 0.5, truncated.
The optimized (default) kernels compute int8 in float too, so they can differ from the
reference by a step.

RESIZE_NEAREST_NEIGHBOR (edgelite/kernels/resize.py) and TRANSPOSE
(edgelite/kernels/shape.py) already handle the integer types: they only move values.
"""
from __future__ import annotations

import numpy as np

from edgelite.kernels.registry import register
from edgelite.kernels.resize import _Resize, bilinear_axis

F32 = np.dtype(np.float32)
_ONE = 1 << 10


def _c_div(a: np.ndarray, d: int) -> np.ndarray:
    """C integer division (truncates toward zero) by a positive d."""
    return np.where(a >= 0, a // d, -((-a) // d))


def _fixed_axis(in_size: int, out_size: int, align_corners: bool, half_pixel: bool):
    """ComputeInterpolationValuesInteger per output position: (lower index, upper index,
    lower weight, upper weight), weights in 1/1024 units (int64)."""
    if align_corners and out_size > 1:
        scale = (_ONE * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        scale = (_ONE * in_size + out_size // 2) // out_size
    pos = np.arange(out_size, dtype=np.int64) * scale
    if half_pixel:
        pos += scale // 2 - (1 << 9)
    lo = np.maximum(_c_div(pos, _ONE), 0)
    hi = np.minimum(_c_div(pos + _ONE - 1, _ONE), in_size - 1)
    w_hi = pos - _ONE * lo
    return lo, hi, _ONE - w_hi, w_hi


@register("RESIZE_BILINEAR", versions=(1, 4), variant="quantized")
class QuantizedResizeBilinear(_Resize):
    DTYPES = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16))

    def check_type(self, ctx, x):
        ctx.check_dtype(x, list(self.DTYPES))
        out = ctx.outputs[0]
        ctx.check(out is not None and out.dtype == x.dtype,
                  f"output must have the input's type {x.dtype}", out)
        if x.quant is not None and out.quant is not None and x.quant.scale.size \
                and out.quant.scale.size:
            ctx.check(np.float32(x.quant.scale[0]) == np.float32(out.quant.scale[0])
                      and x.zero_point == out.zero_point,
                      "input and output must have the same quantization parameters "
                      "(RESIZE_BILINEAR does not requantize)")

    def check_options(self, ctx):
        ctx.check(not (self.half_pixel and self.align_corners),
                  "if half_pixel_centers is true, align_corners must be false")

    def make_tables(self, h, w, oh, ow):
        self.integer = self.dtype != np.uint8
        axis = _fixed_axis if self.integer else bilinear_axis
        y0, y1, wy0, wy1 = axis(h, oh, self.align_corners, self.half_pixel)
        x0, x1, wx0, wx1 = axis(w, ow, self.align_corners, self.half_pixel)
        self.y0, self.y1, self.x0, self.x1 = y0, y1, x0, x1
        self.wy0, self.wy1 = wy0[None, :, None, None], wy1[None, :, None, None]
        self.wx0, self.wx1 = wx0[None, None, :, None], wx1[None, None, :, None]

    def new_scratch(self):
        return []

    def bind(self, ictx):
        self.scratch = []

    def compute(self, x, out):
        if self.integer:
            xi = x.astype(np.int64)
            rows0 = np.take(xi, self.y0, axis=1)
            rows1 = np.take(xi, self.y1, axis=1)
            acc = (np.take(rows0, self.x0, axis=2) * self.wy0 * self.wx0
                   + np.take(rows1, self.x0, axis=2) * self.wy1 * self.wx0
                   + np.take(rows0, self.x1, axis=2) * self.wy0 * self.wx1
                   + np.take(rows1, self.x1, axis=2) * self.wy1 * self.wx1)
            acc += np.where(acc > 0, 1 << 19, -(1 << 19))
            q = _c_div(acc, 1 << 20)
            np.copyto(out, q.astype(out.dtype))     # static_cast: wraps like C
            return
        xf = x.astype(F32)
        rows0 = np.take(xf, self.y0, axis=1)
        rows1 = np.take(xf, self.y1, axis=1)
        # The reference's order: a*wy0*wx0 + b*wy1*wx0 + c*wy0*wx1 + d*wy1*wx1 + 0.5.
        v = np.take(rows0, self.x0, axis=2) * self.wy0 * self.wx0
        v += np.take(rows1, self.x0, axis=2) * self.wy1 * self.wx0
        v += np.take(rows0, self.x1, axis=2) * self.wy0 * self.wx1
        v += np.take(rows1, self.x1, axis=2) * self.wy1 * self.wx1
        v += np.float32(0.5)
        np.copyto(out, np.trunc(v), casting="unsafe")
