"""Reductions: MEAN, SUM, REDUCE_PROD/MAX/MIN/ANY/ALL, ARG_MAX/ARG_MIN, CUMSUM.

Semantics follow LiteRT's reduce.cc / arg_min_max.cc / cumsum.cc:
- the axis tensor is int32; negative axes count from the end, repeated axes
  count once, an empty axis list reduces nothing (a copy); a rank-0 input
  ignores the axis tensor entirely.
- a constant axis fixes the output shape at prepare; otherwise the output is
  dynamic and sized at invoke.
- integer SUM/PROD wrap around; integer MEAN sums in int64 and divides
  truncating toward zero; MEAN over zero elements gives NaN (0 for ints);
  MAX/MIN over zero elements give the type's lowest/highest value.
- float SUM/MEAN accumulate in float32 (numpy's pairwise order along a
  contiguous axis differs from LiteRT's sequential order by a few ulp).
Quantized (int8/uint8/int16 with scales) MEAN/SUM/PROD are not implemented yet.
"""
from __future__ import annotations

import abc

import numpy as np

from edgelite.kernels.base import Kernel
from edgelite.kernels.registry import register

F32, I8, U8, I16, I32, I64, BOOL = (np.dtype(t) for t in (
    np.float32, np.int8, np.uint8, np.int16, np.int32, np.int64, np.bool_))


def _is_quantized(spec) -> bool:
    q = spec.quant
    return q is not None and q.scale is not None and q.scale.size > 0


def resolve_axes(where, axis_values, rank: int) -> tuple[int, ...]:
    """Normalize an axis list like LiteRT's ResolveAxis (dedupe, keep order)."""
    if rank == 0:
        return ()
    out: list[int] = []
    for a in np.asarray(axis_values).reshape(-1).tolist():
        a = int(a)
        if a < 0:
            a += rank
        if not 0 <= a < rank:
            raise where.error(f"axis {a if a >= 0 else a - rank} is out of range for an input "
                              f"of rank {rank}")
        if a not in out:
            out.append(a)
    return tuple(out)


class _Plan:
    """Shapes of one reduction: output shape, keep-dims view shape, element count."""
    __slots__ = ("axes", "count", "keep_shape", "out_shape")

    def __init__(self, in_shape, axes, keep_dims):
        self.axes = axes
        self.keep_shape = tuple(1 if i in axes else d for i, d in enumerate(in_shape))
        if not in_shape:
            self.out_shape = ()
        elif keep_dims:
            self.out_shape = self.keep_shape
        else:
            self.out_shape = tuple(d for i, d in enumerate(in_shape) if i not in axes)
        n = 1
        for a in axes:
            n *= in_shape[a]
        self.count = n


def gemv_sum_plan(in_shape, axes):
    """(x shape, ones shape, out shape) to sum a C-contiguous float32 input over
    `axes` with one matmul, or None. It applies when the reduced axes (ignoring
    size-1 dims) form one contiguous block: x is seen as [outer, mid, inner] and
    summed over mid. numpy's own reduce over short contiguous rows costs ~60 ns
    per row (a [64, 128] MEAN over its last axis ~8 us; the matmul ~1.5 us)."""
    dims = [i for i, d in enumerate(in_shape) if d != 1]
    red = [i for i in dims if i in axes]
    if not red:
        return None
    first, last = dims.index(red[0]), dims.index(red[-1])
    if last - first + 1 != len(red):
        return None
    outer = mid = inner = 1
    for i, d in enumerate(in_shape):
        if i < red[0]:
            outer *= d
        elif i <= red[-1]:
            mid *= d
        else:
            inner *= d
    if inner == 1:
        return (outer, mid), (mid, 1), (outer, 1)
    if outer == 1:      # a 2-D product: numpy's batched matmul path costs more
        return (mid, inner), (1, mid), (1, inner)
    return (outer, mid, inner), (1, mid), (outer, 1, inner)


class _Reduce(Kernel):
    """Shared prepare/invoke; subclasses set the dtypes and `_reduce`."""
    DTYPES: tuple = ()
    SUMS = False                  # float32 result = f(sum): constant axes may sum by matmul
    QUANTIZED_OK: tuple = ()      # dtypes that may carry quantization (plain comparisons)

    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        x, axis = ctx.input(0), ctx.input(1)
        ctx.check_dtype(x, list(self.DTYPES))
        ctx.check_dtype(axis, I32, "axis tensor")
        if _is_quantized(x) and x.dtype in (I8, U8, I16):
            if x.dtype not in self.QUANTIZED_OK:
                raise ctx.error(f"quantized {x.dtype} {ctx.op_name} is not implemented yet", x)
            out = ctx.outputs[0]
            ctx.check(out.quant is not None and out.scale == x.scale
                      and out.zero_point == x.zero_point,
                      "input and output must have the same scale and zero point", out)
        self.keep_dims = bool(getattr(ctx.options, "keepDims", False)) if ctx.options else False
        self.dtype = x.dtype
        self.in_shape = x.shape
        self.acc_scratch = None
        self.gemv = None
        if axis.is_const:
            self.plan = _Plan(x.shape, resolve_axes(ctx, axis.data, len(x.shape)), self.keep_dims)
            if self.SUMS and x.dtype == F32 and self.plan.count > 0 and x.size > 0:
                g = gemv_sum_plan(x.shape, self.plan.axes)
                if g is not None:
                    self.gemv = (g[0], np.ones(g[1], F32), g[2])
            ctx.set_output(0, self.plan.out_shape, x.dtype)
            if self.needs_int64_scratch():
                self.acc_scratch = (ctx.request_scratch(self.plan.keep_shape, I64),
                                    ctx.request_scratch(self.plan.keep_shape, I64))
        else:
            self.plan = None
            ctx.set_output_dynamic(0)
            ctx.check(ctx.outputs[0].dtype == x.dtype,
                      f"output has type {ctx.outputs[0].dtype}, the op produces {x.dtype}",
                      ctx.outputs[0])

    def needs_int64_scratch(self) -> bool:
        return False

    def bind(self, ictx):
        if self.plan is not None:
            self.bound_out = ictx.outputs[0]
            self.out_view = ictx.outputs[0].reshape(self.plan.keep_shape)
            if self.gemv is not None:
                self.gemv_out = ictx.outputs[0].reshape(self.gemv[2])
            if self.acc_scratch is not None:
                self.scratch = [ictx.scratch[i] for i in self.acc_scratch]

    def invoke(self, ictx):
        plan = self.plan
        if plan is None:
            plan = _Plan(self.in_shape, resolve_axes(ictx, ictx.inputs[1], len(self.in_shape)),
                         self.keep_dims)
            out = ictx.resize_output(0, plan.out_shape).reshape(plan.keep_shape)
            scratch = [np.empty(plan.keep_shape, I64), np.empty(plan.keep_shape, I64)] \
                if self.needs_int64_scratch() else None
        else:
            out, scratch = self.out_view, (self.scratch if self.acc_scratch else None)
            if ictx.outputs[0] is not self.bound_out:     # not the bound array: a view of it
                out = ictx.outputs[0].reshape(plan.keep_shape)
        if out.size == 0:
            return
        x = ictx.inputs[0]
        if self.gemv is not None and x.flags.c_contiguous and \
                ictx.outputs[0] is self.bound_out:
            shape, ones, _ = self.gemv
            if ones.shape[1] == 1:
                np.matmul(x.reshape(shape), ones, out=self.gemv_out)
            else:
                np.matmul(ones, x.reshape(shape), out=self.gemv_out)
            self._finish_sum(self.gemv_out, plan)
            return
        self._reduce(x, plan, out, scratch)

    def _finish_sum(self, out, plan):
        """After a matmul sum (SUMS kernels): turn the sum into the op's result."""

    @abc.abstractmethod
    def _reduce(self, x, plan, out, scratch):
        """Reduce x over the plan's axes into out."""


class _UfuncReduce(_Reduce):
    UFUNC = None

    @abc.abstractmethod
    def _empty_value(self):
        """The result of reducing an empty axis (the ufunc's identity as LiteRT gives it)."""

    def _reduce(self, x, plan, out, scratch):
        if plan.count == 0:
            out.fill(self._empty_value())
        else:
            self.UFUNC.reduce(x, axis=plan.axes, dtype=self.dtype, out=out, keepdims=True)


@register("SUM", versions=(1, 2))
class Sum(_UfuncReduce):
    DTYPES = (F32, I32, I64, I8, U8, I16)
    UFUNC = np.add
    SUMS = True

    def _empty_value(self):
        return 0


@register("REDUCE_PROD", versions=(1, 2))
class ReduceProd(_UfuncReduce):
    DTYPES = (F32, I32, I64, I8, U8, I16)
    UFUNC = np.multiply

    def _empty_value(self):
        return 1


@register("REDUCE_MAX", versions=(1, 3))
class ReduceMax(_UfuncReduce):
    DTYPES = (F32, I32, I64, I8, U8, I16)
    QUANTIZED_OK = (I8, U8, I16)
    UFUNC = np.maximum

    def _empty_value(self):
        return np.finfo(self.dtype).min if self.dtype.kind == "f" else np.iinfo(self.dtype).min


@register("REDUCE_MIN", versions=(1, 3))
class ReduceMin(_UfuncReduce):
    DTYPES = (F32, I32, I64, I8, U8, I16)
    QUANTIZED_OK = (I8, U8, I16)
    UFUNC = np.minimum

    def _empty_value(self):
        return np.finfo(self.dtype).max if self.dtype.kind == "f" else np.iinfo(self.dtype).max


@register("REDUCE_ANY", versions=(1, 1))
class ReduceAny(_UfuncReduce):
    DTYPES = (BOOL,)
    UFUNC = np.logical_or

    def _empty_value(self):
        return False


@register("REDUCE_ALL", versions=(1, 1))
class ReduceAll(_UfuncReduce):
    DTYPES = (BOOL,)
    UFUNC = np.logical_and

    def _empty_value(self):
        return True


@register("MEAN", versions=(1, 3))
class Mean(_Reduce):
    DTYPES = (F32, I32, I64, I8, U8, I16)
    SUMS = True

    def _finish_sum(self, out, plan):
        np.divide(out, np.float32(plan.count), out=out)

    def needs_int64_scratch(self) -> bool:
        return self.dtype != F32

    def _reduce(self, x, plan, out, scratch):
        if plan.count == 0:
            out.fill(np.nan if self.dtype == F32 else 0)
            return
        if self.dtype == F32:
            np.add.reduce(x, axis=plan.axes, dtype=F32, out=out, keepdims=True)
            np.divide(out, np.float32(plan.count), out=out)
            return
        # int64 sum, then C's truncating division: (s - fmod(s, n)) is a multiple of n.
        total, rem = scratch
        np.add.reduce(x, axis=plan.axes, dtype=I64, out=total, keepdims=True)
        n = np.int64(plan.count)
        np.fmod(total, n, out=rem)
        np.subtract(total, rem, out=total)
        np.floor_divide(total, n, out=total)
        np.copyto(out, total, casting="unsafe")


class _ArgMinMax(Kernel):
    IS_MAX = True

    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        x, axis = ctx.input(0), ctx.input(1)
        ctx.check_dtype(x, [F32, U8, I8, I32, BOOL])
        ctx.check_dtype(axis, [I32, I64], "axis tensor")
        ctx.check(axis.size == 1, f"axis tensor must have one element, has {axis.size}", axis)
        ctx.check(len(x.shape) >= 1, "input must have rank >= 1", x)
        out = ctx.outputs[0]
        code = getattr(ctx.options, "outputType", None) if ctx.options is not None else None
        # LiteRT leaves output_type unset when the options table is missing;
        # we then take the output tensor's type.
        want = {2: I32, 4: I64}.get(code) if code is not None else out.dtype
        ctx.check(want in (I32, I64), f"output_type must be INT32 or INT64, got {code}")
        ctx.check(out.dtype == want, f"output has type {out.dtype}, output_type says {want}", out)
        self.rank = len(x.shape)
        self.in_shape = x.shape
        self.dynamic = not axis.is_const
        if self.dynamic:
            ctx.set_output_dynamic(0)
        else:
            self.axis = self._axis(ctx, axis.data)
            ctx.set_output(0, self._out_shape(), want)

    def _axis(self, where, value) -> int:
        a = int(np.asarray(value).reshape(-1)[0])
        n = a + self.rank if a < 0 else a
        if not 0 <= n < self.rank:
            raise where.error(f"axis {a} is out of range for an input of rank {self.rank}")
        if self.in_shape[n] == 0:
            raise where.error("cannot compute ArgMin/ArgMax over an empty axis")
        return n

    def _out_shape(self):
        return tuple(d for i, d in enumerate(self.in_shape) if i != self.axis)

    def invoke(self, ictx):
        if self.dynamic:
            self.axis = self._axis(ictx, ictx.inputs[1])
            out = ictx.resize_output(0, self._out_shape())
        else:
            out = ictx.outputs[0]
        if out.size == 0:
            return
        x = ictx.inputs[0]
        # numpy returns the first index among ties, as LiteRT's strict compare does.
        if self.IS_MAX:
            r = np.argmax(x, axis=self.axis)
        else:
            r = np.argmin(x, axis=self.axis)
        np.copyto(out, r, casting="unsafe")


@register("ARG_MAX", versions=(1, 3))
class ArgMax(_ArgMinMax):
    IS_MAX = True


@register("ARG_MIN", versions=(1, 3))
class ArgMin(_ArgMinMax):
    IS_MAX = False


@register("CUMSUM", versions=(1, 1))
class Cumsum(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        x, axis = ctx.input(0), ctx.input(1)
        ctx.check_dtype(x, [I32, F32, I64])
        ctx.check_dtype(axis, I32, "axis tensor")
        ctx.check(axis.size == 1, f"axis tensor must have one element, has {axis.size}", axis)
        ctx.check(len(x.shape) >= 1, "input must have rank >= 1", x)
        o = ctx.options
        self.exclusive = bool(o.exclusive) if o is not None else False
        self.reverse = bool(o.reverse) if o is not None else False
        self.rank = len(x.shape)
        self.const_axis = self._axis(ctx, axis.data) if axis.is_const else None
        ctx.set_output(0, x.shape, x.dtype)

    def _axis(self, where, value) -> int:
        a = int(np.asarray(value).reshape(-1)[0])
        n = a + self.rank if a < 0 else a
        if not 0 <= n < self.rank:
            raise where.error(f"axis {a} is out of range for an input of rank {self.rank}")
        return n

    def invoke(self, ictx):
        axis = self.const_axis if self.const_axis is not None else self._axis(ictx, ictx.inputs[1])
        x, out = ictx.inputs[0], ictx.outputs[0]
        if out.size == 0:
            return
        n = x.shape[axis]
        if self.reverse:
            x = np.flip(x, axis)
            dst = np.flip(out, axis)
        else:
            dst = out
        if not self.exclusive:
            np.cumsum(x, axis=axis, dtype=x.dtype, out=dst)
            return
        head = [slice(None)] * x.ndim
        tail = list(head)
        head[axis] = slice(0, 1)
        dst[tuple(head)] = 0
        if n > 1:
            tail[axis] = slice(1, None)
            src = list(head)
            src[axis] = slice(0, n - 1)
            np.cumsum(x[tuple(src)], axis=axis, dtype=x.dtype, out=dst[tuple(tail)])
