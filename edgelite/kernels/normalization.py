"""Normalizations over the last axis: SOFTMAX, LOG_SOFTMAX, L2_NORMALIZATION,
LOCAL_RESPONSE_NORMALIZATION (float32; quantized variants raise "not supported yet")."""
from __future__ import annotations

import math

import numpy as np

from edgelite.kernels.activations import QUANTIZED_TYPES, compiled_ops_for, type_name
from edgelite.kernels.base import Kernel, PrepareContext
from edgelite.kernels.registry import register


def _prepare_float(ctx: PrepareContext, min_rank: int = 1, types=("FLOAT32",)):
    """Common checks: one input, one output of the same type, rank >= min_rank."""
    ctx.check_arity(1, 1)
    x = ctx.input(0)
    out = ctx.outputs[0]
    name = type_name(x)
    if name in QUANTIZED_TYPES:
        raise ctx.error(f"quantized {ctx.op_name} not supported yet", x)
    ctx.check(name in types, f"input type {name} is not supported (supported: "
              f"{', '.join(types)})", x)
    if out is not None:
        ctx.check(type_name(out) == name,
                  f"output has type {type_name(out)}, expected the input's type {name}", out)
    ctx.check(len(x.shape) >= min_rank,
              f"input must have rank >= {min_rank}, got shape {list(x.shape)}", x)
    ctx.set_output(0, x.shape, x.dtype)
    return x


def _row_shape(shape) -> tuple[int, ...]:
    return tuple(shape[:-1]) + (1,)


@register("SOFTMAX", versions=(1, 4))
class Softmax(Kernel):
    """exp((x - max) * beta) / sum over the last axis, in float32.

    numpy reduces short contiguous rows slowly (a max over each 64-element row
    of [1, 4, 64, 64] takes ~28 us, the exp of all of it ~8 us), so float32 with
    beta > 0 shifts by the whole tensor's max instead of each row's, sums the
    rows with one matmul and divides: softmax is the same for any per-row shift;
    only the rounding of x - shift changes, by at most 2^-24 |x - shift| relative
    in each exp. So the shift is used only when it is within T = 16 of every
    row's max (guaranteed by a row sum >= n e^-T); else each row is shifted by
    g + log(row sum) / beta, which lies within log(n) / beta above its max (one
    more exp pass); rows whose sum underflowed, inf/NaN maxima and beta <= 0
    take the per-row-max path (the reference formulation, also float16's)."""

    T = 16.0
    MIN_ROWS = 8

    def prepare(self, ctx):
        x = _prepare_float(ctx, types=("FLOAT32", "FLOAT16"))
        self.beta = np.float32(ctx.options.beta if ctx.options is not None else 1.0)
        self.empty = x.size == 0
        self.rows = np.zeros(_row_shape(x.shape), np.float32)
        self.buf = np.zeros(x.shape, np.float32) if x.dtype != np.float32 else None
        n = x.shape[-1] if x.shape else 1
        rows = x.size // n if n else 0
        # a few rows: the per-row max path is as few numpy calls
        self.fast = x.dtype == np.float32 and self.beta > 0 and rows >= self.MIN_ROWS
        # One float32 row (a classifier's output): the same five passes over flat
        # views with a 0-d max/sum (no axis/keepdims handling: ~4.5 -> ~2.5 us at 10).
        self.one_row = x.dtype == np.float32 and rows == 1
        self.compiled = None
        self._cviews = (None, None, None, None, None, None)
        if x.dtype == np.float32 and self.beta > 0 and n and rows:
            compiled_ops = compiled_ops_for(x.size)
            from edgelite.kernels.conv import compiled_tier_if_loaded
            if compiled_ops is None and rows <= self.MIN_ROWS and \
                    compiled_tier_if_loaded(x.size) is not None:
                # a few rows (a classifier's output) once numba is loaded anyway: one
                # compiled call instead of five numpy calls (~3 -> ~1 us at 12 values)
                from edgelite.kernels import compiled_ops
            if compiled_ops is not None:
                # one numba kernel (compiled_ops.softmax_rows_f32) for finite inputs
                self.compiled = compiled_ops
                self.shape2 = (rows, n)
                self.bits = np.zeros(n, np.int32)
        self.g0 = np.zeros((), np.float32)
        self.beta0 = np.asarray(self.beta)
        self._views = (None, None, None, None)
        if self.fast:
            self.shape2 = (x.size // n, n)
            self.e = np.zeros(self.shape2, np.float32)
            self.sums = np.zeros((self.shape2[0], 1), np.float32)
            self.ones = np.ones((n, 1), np.float32)
            self.gmax = np.zeros((), np.float32)
            self.inv_beta = np.asarray(np.float32(1.0) / self.beta)
            self.min_sum = np.float32(n * np.exp(-self.T))
            self.tiny = np.float32(1e-30)     # far above the subnormals: log(sum) accurate

    def invoke(self, ictx):
        if self.empty:
            return
        x, out = ictx.inputs[0], ictx.outputs[0]
        c = self.compiled
        if c is not None:
            views = self._cviews
            if views[0] is not x or views[1] is not out:
                # the [rows, n] views, made once per pair of arrays (not per invoke)
                ok = x.flags.c_contiguous and out.flags.c_contiguous
                x2 = x.reshape(self.shape2) if ok else None
                views = (x, out, x2, x2.view(np.int32) if ok else None,
                         out.reshape(self.shape2) if ok else None)
                # the compiled entry point for these arrays (no per-call typing)
                fn = c.softmax_rows_f32
                if ok:
                    from edgelite.kernels.compiled_igemm import entry
                    fn = entry(fn, (views[2], views[3], self.beta, views[4], self.bits))
                views = self._cviews = (*views, fn)
            x2 = views[2]
            if x2 is not None and views[5](x2, views[3], self.beta, views[4], self.bits):
                return
        if self.one_row:
            sx, so, xf, of = self._views
            if x is not sx or out is not so:
                if not (x.flags.c_contiguous and out.flags.c_contiguous):
                    self._invoke_rowmax(x, out)
                    return
                xf, of = x.reshape(-1), out.reshape(-1)
                self._views = (x, out, xf, of)
            g = self.g0
            # x[argmax]: the max (a NaN when there is one, as maximum.reduce), at a
            # third of the reduction's cost on a short row
            g[()] = xf[xf.argmax()]
            np.subtract(xf, g, out=of)
            if self.beta != 1.0:
                np.multiply(of, self.beta0, out=of)
            np.exp(of, out=of)
            np.add.reduce(of, out=g)
            np.divide(of, g, out=of)
            return
        if not (self.fast and x.flags.c_contiguous and out.flags.c_contiguous
                and self._invoke_shifted(x.reshape(self.shape2), out.reshape(self.shape2))):
            self._invoke_rowmax(x, out)

    def _invoke_shifted(self, x, out) -> str | None:
        """The shifted paths ("shared" or "logsum"); None (out untouched) when
        neither applies."""
        g, e, sums = self.gmax, self.e, self.sums
        # x[argmax] and sums[argmin] for the max and min (a NaN when there is one, as
        # the reductions give; ~0.35 us against ~1 us for a reduction of 512 values)
        xf = x.reshape(-1)
        g[()] = xf[xf.argmax()]
        if not math.isfinite(g):
            return None
        np.subtract(x, g, out=e)
        if self.beta != 1.0:
            e *= self.beta0
        np.exp(e, out=e)
        np.matmul(e, self.ones, out=sums)
        low = sums[sums.argmin(), 0]
        path = "shared"
        if not low >= self.min_sum:
            if not low >= self.tiny:
                return None
            path = "logsum"
            # Per-row shift g + log(sum) / beta: at most log(n) / beta above the row's max.
            np.log(sums, out=sums)
            if self.beta != 1.0:
                sums *= self.inv_beta
            sums += g
            np.subtract(x, sums, out=e)
            if self.beta != 1.0:
                e *= self.beta0
            np.exp(e, out=e)
            np.matmul(e, self.ones, out=sums)
        np.divide(e, sums, out=out)
        return path

    def _invoke_rowmax(self, x, out):
        b = out if self.buf is None else self.buf
        if self.buf is not None:
            np.copyto(b, x)
            x = b
        # ufunc.reduce: np.max / np.sum add ~3 us of Python wrapper per call
        np.maximum.reduce(x, axis=-1, keepdims=True, out=self.rows)
        np.subtract(x, self.rows, out=b)
        if self.beta != 1.0:
            b *= self.beta
        np.exp(b, out=b)
        np.add.reduce(b, axis=-1, keepdims=True, out=self.rows)
        if b is not out:
            # float16 (reference_ops::Softmax<half>): each exp is stored as half
            # before the division by the float sum.
            np.copyto(out, b, casting="same_kind")
            np.copyto(b, out)
        b /= self.rows
        if b is not out:
            np.copyto(out, b, casting="same_kind")


@register("LOG_SOFTMAX", versions=(1, 2))
class LogSoftmax(Kernel):
    # x - max - log(sum(exp(x - max))) over the last axis.
    def prepare(self, ctx):
        x = _prepare_float(ctx)
        self.empty = x.size == 0
        self.rows = np.zeros(_row_shape(x.shape), np.float32)
        self.buf = np.zeros(x.shape, np.float32)

    def invoke(self, ictx):
        if self.empty:
            return
        x, out = ictx.inputs[0], ictx.outputs[0]
        np.maximum.reduce(x, axis=-1, keepdims=True, out=self.rows)
        np.subtract(x, self.rows, out=out)
        np.exp(out, out=self.buf)
        np.add.reduce(self.buf, axis=-1, keepdims=True, out=self.rows)
        np.log(self.rows, out=self.rows)
        out -= self.rows


@register("L2_NORMALIZATION", versions=(1, 2))
class L2Normalization(Kernel):
    # x / max(sqrt(sum(x^2)), 1e-6) over the last axis (l2norm.cc's epsilon).
    EPSILON = np.float32(1e-6)

    def prepare(self, ctx):
        x = _prepare_float(ctx)
        act = getattr(ctx.options, "fusedActivationFunction", 0) if ctx.options else 0
        ctx.check(not act, f"fused activation {act} is not supported (LiteRT requires NONE)")
        self.empty = x.size == 0
        self.rows = np.zeros(_row_shape(x.shape), np.float32)
        self.buf = np.zeros(x.shape, np.float32)

    def invoke(self, ictx):
        if self.empty:
            return
        x, out = ictx.inputs[0], ictx.outputs[0]
        np.square(x, out=self.buf)
        np.add.reduce(self.buf, axis=-1, keepdims=True, out=self.rows)
        np.sqrt(self.rows, out=self.rows)
        np.maximum(self.rows, self.EPSILON, out=self.rows)
        np.divide(x, self.rows, out=out)


@register("LOCAL_RESPONSE_NORMALIZATION", versions=(1, 1))
class LocalResponseNormalization(Kernel):
    """x * (bias + alpha * sum of squares in a window over the last axis) ^ -beta.

    LiteRT's two float kernels disagree on the window: the default (optimized)
    one sums channels [c - radius, c + radius] (TensorFlow's definition) and
    scales each square by alpha before summing; the reference kernel
    (BUILTIN_REF) sums [c - radius, c + radius), one channel fewer, and applies
    alpha to the sum. We follow whichever the interpreter asked for."""

    def prepare(self, ctx):
        x = _prepare_float(ctx)
        ctx.check(len(x.shape) == 4, f"input must have rank 4, got shape {list(x.shape)}", x)
        o = ctx.options
        self.radius = int(o.radius) if o is not None else 0
        ctx.check(self.radius >= 0, f"radius must be >= 0, got {self.radius}")
        self.bias = np.float32(o.bias if o is not None else 0.0)
        self.alpha = np.float32(o.alpha if o is not None else 0.0)
        self.beta = np.float32(o.beta if o is not None else 0.0)
        self.reference = bool(ctx.reference)
        depth = x.shape[-1]
        self.empty = x.size == 0
        r = min(self.radius, depth)
        self.pad = r
        # The window's offsets relative to the channel, clipped to those that can
        # ever hit a channel.
        last = r if not self.reference else r - 1
        self.offsets = range(-r, last + 1)
        self.squares = np.zeros(tuple(x.shape[:-1]) + (depth + 2 * r,), np.float32)
        self.acc = np.zeros(x.shape, np.float32)

    def invoke(self, ictx):
        if self.empty:
            return
        x, out = ictx.inputs[0], ictx.outputs[0]
        depth = x.shape[-1]
        sq, acc, r = self.squares, self.acc, self.pad
        inner = sq[..., r:r + depth]
        np.square(x, out=inner)
        if not self.reference:
            inner *= self.alpha
        acc.fill(0.0)
        for k in self.offsets:
            acc += sq[..., r + k:r + k + depth]
        if self.reference:
            acc *= self.alpha
        acc += self.bias
        np.power(acc, -self.beta, out=acc)
        np.multiply(x, acc, out=out)
