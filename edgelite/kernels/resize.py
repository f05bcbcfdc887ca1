"""RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (NHWC), after LiteRT's reference kernels.

Source coordinates are computed in float32 exactly as the reference does
(scale = in / out, or (in - 1) / (out - 1) with align_corners; half-pixel
centers shift by 0.5). prepare turns them into row/column index arrays and
weights; invoke is gathers (np.take) and weighted sums over whole planes, in
the reference's order of operations.
"""
from __future__ import annotations

import numpy as np

from edgelite.kernels.base import Kernel
from edgelite.kernels.registry import register

F32 = np.dtype(np.float32)


def _scale(in_size: int, out_size: int, align_corners: bool) -> np.float32:
    if align_corners and out_size > 1:
        return np.float32(in_size - 1) / np.float32(out_size - 1)
    return np.float32(in_size) / np.float32(out_size)


def bilinear_axis(in_size: int, out_size: int, align_corners: bool, half_pixel: bool):
    """(lower index, upper index, lower weight, upper weight) per output position."""
    scale = _scale(in_size, out_size, align_corners)
    pos = np.arange(out_size, dtype=np.float32)
    if half_pixel:
        src = (pos + np.float32(0.5)) * scale - np.float32(0.5)
    else:
        src = pos * scale
    src = src.astype(np.float32)
    lo = np.maximum(np.floor(src).astype(np.int64), 0)
    hi = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
    frac = (src - lo.astype(np.float32)).astype(np.float32)
    return lo, hi, (np.float32(1) - frac).astype(np.float32), frac


def nearest_axis(in_size: int, out_size: int, align_corners: bool, half_pixel: bool):
    scale = _scale(in_size, out_size, align_corners)
    pos = np.arange(out_size, dtype=np.float32)
    if half_pixel:
        pos = pos + np.float32(0.5)
    src = (pos * scale).astype(np.float32)
    if align_corners:
        idx = np.sign(src) * np.floor(np.abs(src) + np.float32(0.5))   # TfLiteRound
    else:
        idx = np.floor(src)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    if half_pixel:
        idx = np.maximum(idx, 0)
    return idx


class _Resize(Kernel):
    DTYPES: tuple = ()

    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        x, size = ctx.input(0), ctx.input(1)
        ctx.check(len(x.shape) == 4, f"input must be 4-D (NHWC), has shape {list(x.shape)}", x)
        ctx.check(len(size.shape) == 1 and size.shape[0] == 2,
                  f"size tensor must have shape [2], has {list(size.shape)}", size)
        ctx.check_dtype(size, np.int32, "size tensor")
        self.check_type(ctx, x)
        o = ctx.options
        self.align_corners = bool(o.alignCorners) if o is not None else False
        self.half_pixel = bool(o.halfPixelCenters) if o is not None else False
        self.in_shape = x.shape
        self.dtype = x.dtype
        self.dynamic = not size.is_const
        self.size = None
        if self.dynamic:
            ctx.set_output_dynamic(0)
        else:
            self.check_options(ctx)
            self._plan(ctx, size.data, lambda shape: ctx.set_output(0, shape, x.dtype))
            self.request(ctx)

    def check_type(self, ctx, x):
        ctx.check_dtype(x, list(self.DTYPES))

    def check_options(self, ctx):
        pass

    def request(self, ctx):
        pass

    def _plan(self, where, size, shape_out=None):
        """The output shape for `size`, given to shape_out (which checks it against the
        arena limit, or allocates the output) before the tables sized by it are made."""
        oh, ow = (int(v) for v in np.asarray(size).reshape(-1)[:2])
        if oh <= 0 or ow <= 0:
            raise where.error(f"output size must be positive, got [{oh}, {ow}]")
        n, h, w, c = self.in_shape
        self.size = (oh, ow)
        self.out_shape = (n, oh, ow, c)
        if shape_out is not None:
            shape_out(self.out_shape)
        self.make_tables(h, w, oh, ow)

    def invoke(self, ictx):
        if self.dynamic:
            size = tuple(int(v) for v in ictx.inputs[1].reshape(-1)[:2])
            if size != self.size:
                self._plan(ictx, size, lambda shape: ictx.resize_output(0, shape))
                self.scratch = None
            out = ictx.resize_output(0, self.out_shape)
            if self.scratch is None:
                self.scratch = self.new_scratch()
        else:
            out = ictx.outputs[0]
        if out.size == 0:
            return
        self.compute(ictx.inputs[0], out)


@register("RESIZE_BILINEAR", versions=(1, 4))
class ResizeBilinear(_Resize):
    DTYPES = (F32,)

    def check_type(self, ctx, x):
        if x.dtype in (np.int8, np.uint8, np.int16):
            raise ctx.error(f"{x.dtype} RESIZE_BILINEAR is not implemented yet (float32 only)", x)
        ctx.check_dtype(x, list(self.DTYPES))

    def check_options(self, ctx):
        # LiteRT checks this only when the size is constant (at prepare).
        ctx.check(not (self.half_pixel and self.align_corners),
                  "if half_pixel_centers is true, align_corners must be false")

    def make_tables(self, h, w, oh, ow):
        y0, y1, wy0, wy1 = bilinear_axis(h, oh, self.align_corners, self.half_pixel)
        x0, x1, wx0, wx1 = bilinear_axis(w, ow, self.align_corners, self.half_pixel)
        self.y0, self.y1, self.x0, self.x1 = y0, y1, x0, x1
        # The weights laid out for [N, OH, OW * C] views of the output: a row weight
        # broadcast along a whole output row, a column weight repeated over the C
        # channels, so every multiply runs inner loops of OW * C values (broadcasting
        # [1, 1, OW, 1] over NHWC ran loops of C values: ~2x slower at C = 4)
        c = self.in_shape[3]
        self.wy0, self.wy1 = wy0[None, :, None], wy1[None, :, None]
        self.wx0 = np.repeat(wx0, c)[None, None, :]
        self.wx1 = np.repeat(wx1, c)[None, None, :]

    def scratch_shapes(self):
        n, _h, w, c = self.in_shape
        oh, ow = self.size
        return [(n, oh, w, c), (n, oh, w, c), (n, oh, ow, c)]

    def request(self, ctx):
        self.scratch_ids = [ctx.request_scratch(s, F32) for s in self.scratch_shapes()]

    def new_scratch(self):
        return [np.empty(s, F32) for s in self.scratch_shapes()]

    def bind(self, ictx):
        self.scratch = None if self.dynamic else [ictx.scratch[i] for i in self.scratch_ids]

    def compute(self, x, out):
        if not out.flags.c_contiguous:
            # the [N, OH, OW * C] views below need a contiguous output (the runtime's
            # always is)
            tmp = np.empty(out.shape, out.dtype)
            self.compute(x, tmp)
            np.copyto(out, tmp)
            return
        rows0, rows1, t = self.scratch
        np.take(x, self.y0, axis=1, out=rows0, mode="clip")
        np.take(x, self.y1, axis=1, out=rows1, mode="clip")
        # The reference's order: ((a*wy0)*wx0 + (b*wy1)*wx0) + (c*wy0)*wx1 + (d*wy1)*wx1.
        terms = ((rows0, self.x0, self.wy0, self.wx0), (rows1, self.x0, self.wy1, self.wx0),
                 (rows0, self.x1, self.wy0, self.wx1), (rows1, self.x1, self.wy1, self.wx1))
        n, oh, ow, c = out.shape
        out3 = out.reshape(n, oh, ow * c)           # (views: both are contiguous)
        t3 = t.reshape(n, oh, ow * c)
        for k, (rows, cols, wy, wx) in enumerate(terms):
            dst, dst3 = (out, out3) if k == 0 else (t, t3)
            np.take(rows, cols, axis=2, out=dst, mode="clip")
            np.multiply(dst3, wy, out=dst3)
            np.multiply(dst3, wx, out=dst3)
            if k:
                np.add(out3, t3, out=out3)


@register("RESIZE_NEAREST_NEIGHBOR", versions=(1, 4))
class ResizeNearestNeighbor(_Resize):
    # Pure data movement: LiteRT dispatches on element width (8/16/32 bits).
    DTYPES = (F32, np.dtype(np.int32), np.dtype(np.int8), np.dtype(np.uint8),
              np.dtype(np.int16), np.dtype(np.bool_))

    def make_tables(self, h, w, oh, ow):
        self.rows = nearest_axis(h, oh, self.align_corners, self.half_pixel)
        self.cols = nearest_axis(w, ow, self.align_corners, self.half_pixel)

    def scratch_shapes(self):
        n, _h, w, c = self.in_shape
        return [(n, self.size[0], w, c)]

    def request(self, ctx):
        self.scratch_ids = [ctx.request_scratch(s, self.dtype) for s in self.scratch_shapes()]

    def new_scratch(self):
        return [np.empty(s, self.dtype) for s in self.scratch_shapes()]

    def bind(self, ictx):
        self.scratch = None if self.dynamic else [ictx.scratch[i] for i in self.scratch_ids]

    def compute(self, x, out):
        rows = self.scratch[0]
        np.take(x, self.rows, axis=1, out=rows, mode="clip")
        np.take(rows, self.cols, axis=2, out=out, mode="clip")
