"""2-D pooling: AVERAGE_POOL_2D, MAX_POOL_2D, L2_POOL_2D (float32 for now).

The input is copied once into a bordered scratch buffer (zeros for sums,
the lowest float for max); invoke then combines whole [N, OH, OW, C] strided
planes, one window tap at a time (or reduces a window view when the window is
large, e.g. a global pool). TFLite divides average and L2 sums by the number
of *valid* (non-padded) elements under each window, precomputed in prepare.
"""
from __future__ import annotations

import numpy as np

from edgelite.format.schema.tflite_tables import Padding
from edgelite.kernels.activations import compiled_ops_for
from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext
from edgelite.kernels.common import conv_output_size, invoke_for_binding
from edgelite.kernels.conv import (
    F32,
    PaddedInput,
    _opt,
    _same_valid_pads,
    clamp_inplace,
    clamp_op,
    compiled_tier,
    float_activation,
    window_view,
)
from edgelite.kernels.registry import register

_QUANTIZED = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16))
# Above this many window taps, reduce over a window view instead of looping over taps.
_MAX_TAP_LOOP = 64


def _valid_counts(in_size: int, out_size: int, k: int, stride: int, pad: int) -> np.ndarray:
    """How many of each output position's k window rows fall inside the input."""
    start = np.arange(out_size) * stride - pad
    return np.minimum(start + k, in_size) - np.maximum(start, 0)


class _Pool2D(Kernel):
    mode = ""           # "avg", "max" or "l2"

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x = ctx.input(0)
        if x.dtype in _QUANTIZED:
            raise ctx.error(f"{x.dtype} {ctx.op_name} is not supported yet", x)
        ctx.check_dtype(x, F32)
        self._prepare_float(ctx, x)

    def _prepare_float(self, ctx: PrepareContext, x) -> None:
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
        self.bounds = float_activation(ctx, o)
        oh = conv_output_size(padding, h, fh, sh)
        ow = conv_output_size(padding, w, fw, sw)
        ctx.set_output(0, (n, oh, ow, c), F32)
        pads = [_same_valid_pads(padding, h, fh, sh, 1, oh),
                _same_valid_pads(padding, w, fw, sw, 1, ow)]
        fill = float(np.finfo(np.float32).min) if self.mode == "max" else 0.0
        self.pad = PaddedInput(x.shape, [(0, 0), *pads, (0, 0)], fill)
        ctx.check_bytes(self.pad.shape, np.float32, x, "its padded input")
        # A global pool (one output position whose window holds every input position:
        # a classifier's AVERAGE_POOL_2D over the whole feature map) sees the input as
        # [N, H * W, C]: an average is a GEMV of ones (BLAS: ~1 us at 125 x 32, where
        # numpy's reduction over the middle axis takes ~3.5 and the one over a 6-D
        # window view ~5) and the division by H * W; a max one maximum reduction.
        # Padding cells never count (TFLite divides by the valid count, H * W here; a
        # max ignores them). Float results: the sum's order is BLAS's.
        # (A 2x2 input keeps the 2x2 paths: the compiled tier's one call.)
        self.global_ = (self.mode in ("max", "avg") and oh == 1 and ow == 1 and h * w > 4
                        and int(_valid_counts(h, 1, fh, sh, pads[0][0])[0]) == h
                        and int(_valid_counts(w, 1, fw, sw, pads[1][0])[0]) == w)
        self.hw_count = np.asarray(np.float32(h * w)) if self.global_ else None
        self.hw_ones = np.ones((1, h * w), F32) if self.global_ and self.mode == "avg" else None
        # L2 squares the input, so it always works on a copy.
        self.copy = (self.pad.needed or self.mode == "l2") and not self.global_
        self.pad_idx = ctx.request_scratch(self.pad.shape, F32) if self.copy else None
        self.geom = (oh, ow, fh, fw, sh, sw)
        # Non-overlapping windows without padding (stride == filter, e.g. 2x2/2):
        # combine the fh input rows of each output row as whole contiguous
        # [OW * fw * C] runs, then the fw columns; ~2 numpy calls for a 2x2 pool
        # instead of 4 calls over [N, OH, OW, C] planes of C-element runs.
        self.blocked = (self.mode in ("max", "avg") and (fh, fw) == (sh, sw) and fh * fw > 1
                        and not self.pad.needed and fh * fw <= _MAX_TAP_LOOP
                        and not self.global_)
        self.row_parity = False         # (set by use_row_parity, after every prepare)
        if self.blocked:
            self.rows_idx = ctx.request_scratch((n, oh, ow * fw, c), F32) if fw > 1 else None
            self.window_size = np.asarray(np.float32(fh * fw))
        # Compiled tier, 2x2 windows of stride 2 without padding: one pass, clamp included.
        pool2x2 = self.blocked and (fh, fw) == (2, 2)
        compiled_ops = compiled_ops_for(n * oh * ow * c) if pool2x2 else None
        if pool2x2 and compiled_ops is None and compiled_tier(n * oh * ow * c, small_ok=True):
            # a smaller node once numba is loaded anyway (conv.COMPILED_SMALL_OUTPUT)
            from edgelite.kernels import compiled_ops
        self.compiled = compiled_ops.pool2x2_f32 if compiled_ops is not None else None
        if self.compiled is not None:
            from edgelite.kernels.compiled import float_bounds
            self.lo, self.hi = float_bounds(self.bounds)
        if self.mode != "max":
            rows = _valid_counts(h, oh, fh, sh, pads[0][0])
            cols = _valid_counts(w, ow, fw, sw, pads[1][0])
            counts = (rows[:, None] * cols[None, :]).astype(np.float32)
            ctx.check(bool((counts > 0).all()) or counts.size == 0,
                      "a pooling window covers no input element")
            self.counts = counts[None, :, :, None]

    def accepts_clamp(self) -> bool:
        """Whether the clamp of the node before can move after this one: a max pool
        without an activation of its own. max(clamp(a), clamp(b)) = clamp(max(a, b)),
        NaN included; a SAME window's padding cells (the lowest float32) never exceed
        a clamped valid cell, and clamp to the same bound when they win unclamped."""
        return self.mode == "max" and self.bounds == (None, None)

    def accepts_row_parity(self) -> bool:
        """Whether this node can read its input stored with rows by parity, [2, N, H / 2,
        W, C] (the conv before it writes that way: take_row_parity): a numpy-tier max
        pool of 2-row windows, stride 2, no padding, over an even height, whose two row
        taps are then the input's two contiguous halves."""
        return (self.mode == "max" and self.blocked and self.compiled is None
                and self.geom[2] == 2 and self.geom[4] == 2 and self.pad.in_shape[1] % 2 == 0)

    def use_row_parity(self) -> None:
        self.row_parity = True

    def add_clamp(self, bounds) -> None:
        """Clamp this node's output to bounds, the clamp moved from the node before."""
        self.bounds = bounds
        if self.compiled is not None:
            from edgelite.kernels.compiled import float_bounds
            self.lo, self.hi = float_bounds(bounds)

    def bind(self, ictx: InvokeContext) -> None:
        self.__dict__.pop("invoke", None)   # (a closure of the last binding: made anew)
        x = ictx.inputs[0]
        self._x = x
        self._out = ictx.outputs[0]
        oh, ow, fh, fw, sh, sw = self.geom
        self.fast_run = None
        if self.global_:
            n, h, w, c = x.shape
            self.g_in = x.reshape(n, h * w, c) if x.flags.c_contiguous else None
            self.g_out = self._out.reshape(n, 1, c) if self._out.flags.c_contiguous else None
            self.compiled_now = False
            if self.g_in is not None and self.g_out is not None:
                self.fast_run = self._global_closure()
                self.invoke = invoke_for_binding(self, _Pool2D.invoke, self.fast_run)
            return
        # arrays the runtime did not bind may be strided: the numpy path then
        self.compiled_now = (self.compiled is not None and x.flags.c_contiguous
                             and self._out.flags.c_contiguous)
        if self.blocked:
            if self.row_parity:
                # input row y at [y % 2, n, y // 2] (use_row_parity): the halves
                if not x.flags.c_contiguous:
                    raise RuntimeError("a row-parity input needs a contiguous input array")
                n, h, w, c = x.shape
                halves = x.reshape(-1).reshape(2, n, h // 2, w, c)
                self.row_views = [halves[0][:, :oh, :ow * fw], halves[1][:, :oh, :ow * fw]]
            else:
                self.row_views = [x[:, ky::fh][:, :oh, :ow * fw, :] for ky in range(fh)]
            rows = ictx.scratch[self.rows_idx] if fw > 1 else ictx.outputs[0]
            self.rows = rows
            self.col_views = [rows[:, :, kx::fw, :] for kx in range(fw)]
            if not self.compiled_now:
                self.fast_run = self._blocked_closure(self._out)
                self.invoke = invoke_for_binding(self, _Pool2D.invoke, self.fast_run)
            return
        if self.copy:
            self.pad.bind(ictx.scratch[self.pad_idx])
            src = self.pad.buf
        else:
            src = x
        self.src = src
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
        if self.fast_run is not None:
            self.fast_run()
            return
        out = ictx.outputs[0]
        if self.compiled_now:
            self.compiled(self._x, out, self.mode == "max", self.lo, self.hi)
            return
        if self.global_:
            self._invoke_global(ictx.inputs[0], out)
            return
        if self.copy:
            self.pad.fill(ictx.inputs[0])
            if self.mode == "l2":
                np.square(self.pad.inner, out=self.pad.inner)
        combine = np.maximum if self.mode == "max" else np.add
        if self.planes is None:
            combine.reduce(self.window, axis=(3, 4), out=out)
        else:
            planes = self.planes
            np.copyto(out, planes[0])
            for p in planes[1:]:
                combine(out, p, out=out)
        if self.mode != "max":
            np.divide(out, self.counts, out=out)
            if self.mode == "l2":
                np.sqrt(out, out=out)
        clamp_inplace(out, self.bounds)

    def _global_closure(self):
        """_invoke_global on this binding's arrays as a closure (operands as locals, the
        clamp's looked up once)."""
        xin, res, ones, count = self.g_in, self.g_out, self.hw_ones, self.hw_count
        clamp = clamp_op(self._out, self.bounds)
        avg, matmul, divide, reduce_max = (self.mode == "avg", np.matmul, np.divide,
                                           np.maximum.reduce)
        res2 = res[:, 0]

        def fast() -> None:
            if avg:
                matmul(ones, xin, out=res)
                divide(res, count, out=res)
            else:
                reduce_max(xin, axis=1, out=res2)
            if clamp is not None:
                clamp[0](*clamp[1], out=clamp[2])
        return fast

    def _blocked_closure(self, out):
        """The blocked path (stride == filter, no padding) on this binding's arrays: the fh
        row views combined into rows, then the fw column views into out (divided by the
        window size for an average), then the clamp, as a closure (operands as locals, the
        clamp's looked up once: ~1 us a call less on a 16x16x16 pool). bind always makes
        it for that path on the numpy tier."""
        combine = np.maximum if self.mode == "max" else np.add
        rv, rows, cv = self.row_views, self.rows, self.col_views
        copyto, divide = np.copyto, np.divide
        ws = self.window_size if self.mode == "avg" else None
        clamp = clamp_op(out, self.bounds)

        def fast() -> None:
            if len(rv) > 1:
                combine(rv[0], rv[1], out=rows)
                for v in rv[2:]:
                    combine(rows, v, out=rows)
            else:
                copyto(rows, rv[0])
            if len(cv) > 1:
                combine(cv[0], cv[1], out=out)
                for v in cv[2:]:
                    combine(out, v, out=out)
            if ws is not None:
                divide(out, ws, out=out)    # every window is whole
            if clamp is not None:
                clamp[0](*clamp[1], out=clamp[2])
        return fast

    def _invoke_global(self, x, out) -> None:
        xin, res = self.g_in, self.g_out
        if xin is None or res is None:      # strided arrays (a direct caller)
            n, h, w, c = x.shape
            xin, res = x.reshape(n, h * w, c), np.empty((n, 1, c), F32)
        if self.mode == "avg":
            np.matmul(self.hw_ones, xin, out=res)
            np.divide(res, self.hw_count, out=res)
        else:
            np.maximum.reduce(xin, axis=1, out=res[:, 0])
        if res is not self.g_out:
            np.copyto(out, res.reshape(out.shape))
        clamp_inplace(out, self.bounds)


@register("AVERAGE_POOL_2D", versions=(1, 3))
class AveragePool2D(_Pool2D):
    mode = "avg"


@register("MAX_POOL_2D", versions=(1, 3))
class MaxPool2D(_Pool2D):
    mode = "max"


@register("L2_POOL_2D", versions=(1, 1))
class L2Pool2D(_Pool2D):
    mode = "l2"
