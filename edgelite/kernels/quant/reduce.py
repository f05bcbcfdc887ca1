"""Quantized MEAN, SUM and REDUCE_PROD (int8/uint8/int16), as LiteRT's reference kernels.

- MEAN (reference_ops::QuantizedMeanOrSum, compute_sum=false): an int32 sum of the
  raw values, minus zero_point * n, times QuantizeMultiplier(in_scale / out_scale)
  with 1/n folded into the multiplier ((m << s) / n, s = min(floor(log2 n), 32,
  31 + shift)). Differs from LiteRT's default kernels (which compute in float for
  some layouts): see the tests.
- SUM: the same without 1/n. LiteRT's reference SUM kernel reads int8 tensors as
  uint8 (reduce.cc instantiates QuantizedMeanOrSum on uint8_t data for every 8-bit
  type), so an int8 SUM under BUILTIN_REF sums the storage bytes 0..255 and writes a
  clamped 0..255 byte; edgelite reproduces that. int16 SUM uses int16 values (the
  reference reads garbage there; the default kernel reads int16).
- REDUCE_PROD (int8/int16): a running product rescaled at every step by
  QuantizeMultiplier(in_scale / out_scale^(1/n)) with the int64 multiplier path, in
  the input's row-major order.
REDUCE_MAX/MIN of quantized tensors need no requantization: the generic kernels do them.

Speed: an 8-bit MEAN/SUM with constant axes is a function of the integer sum, so
prepare tabulates the formula over every possible sum and invoke is one reduction
and one lookup (16-bit wrapping sums index a 2^16 table when at most 65,536 sums are
possible); big inputs with the reduced axes in one block use the compiled tier's
`sum_lookup`. The formula path remains for dynamic axes, int16 and huge ranges.
"""
from __future__ import annotations

import math

import numpy as np

from edgelite.kernels.base import Kernel
from edgelite.kernels.conv import compiled_tier
from edgelite.kernels.quant import arith
from edgelite.kernels.quant.fixedpoint import wrap32
from edgelite.kernels.quant.qutil import fill_cyclic, grid_table, requantized
from edgelite.kernels.reduce import _Plan, resolve_axes
from edgelite.kernels.registry import register

I8, U8, I16, I32 = np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.int32)


def _params(ctx, spec, what):
    q = spec.quant
    if q is None or q.scale is None or q.scale.size == 0:
        raise ctx.error(f"{what} must be quantized (it has no scale)", spec)
    return float(np.float32(q.scale[0])), spec.zero_point


class _QuantReduce(Kernel):
    TYPES = (I8, U8, I16)

    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        x, axis = ctx.input(0), ctx.input(1)
        out = ctx.outputs[0]
        if x.dtype not in self.TYPES:
            names = ", ".join(str(t) for t in self.TYPES)
            raise ctx.error(f"quantized {ctx.op_name} supports {names}, got {x.dtype}", x)
        ctx.check_dtype(axis, I32, "axis tensor")
        ctx.check(out.dtype == x.dtype, f"output has type {out.dtype}, expected {x.dtype}", out)
        self.si, self.zi = _params(ctx, x, "input")
        self.so, self.zo = _params(ctx, out, "output")
        if x.dtype == I16:
            ctx.check(self.zi == 0, "int16 input zero point must be 0", x)
            ctx.check(self.zo == 0, "int16 output zero point must be 0", out)
        self.keep_dims = bool(getattr(ctx.options, "keepDims", False)) if ctx.options else False
        self.dtype = x.dtype
        self.in_shape = x.shape
        self.lo, self.hi = (int(v) for v in (np.iinfo(x.dtype).min, np.iinfo(x.dtype).max))
        self.setup(ctx)
        self.table = None
        if axis.is_const:
            self.plan = _Plan(x.shape, resolve_axes(ctx, axis.data, len(x.shape)), self.keep_dims)
            ctx.set_output(0, self.plan.out_shape, x.dtype)
            self.prepare_table(ctx, x)
        else:
            self.plan = None
            ctx.set_output_dynamic(0)

    # 8-bit inputs: the output depends only on the integer sum of the reduced values, an
    # integer in [n * min, n * max]; below this many possible sums the op is one int32
    # reduction and one lookup in a table made by `reduce_sums` (the op's own formula).
    TABLE_MAX = 1 << 20
    SUM_VIEW = None                 # dtype the sum reads the storage as (SUM: bytes)

    def prepare_table(self, ctx, x) -> None:
        plan = self.plan
        if x.dtype not in (I8, U8) or not plan.axes or x.size == 0:
            return
        n = plan.count
        view = np.dtype(self.SUM_VIEW or x.dtype)
        info = np.iinfo(view)
        if n * (int(info.max) - int(info.min)) + 1 > self.TABLE_MAX:
            return
        sums = np.arange(n * int(info.min), n * int(info.max) + 1, dtype=np.int64)
        r = self.table_values(sums, n)
        if r is None:
            return
        # Cyclic: the sums are consecutive integers, so sum mod size is one-to-one and
        # np.take(mode="wrap") looks a sum up without subtracting the smallest one. At
        # most 65,536 possible sums: indexed by the sum mod 2^16, i.e. a wrapping 16-bit
        # accumulation read as uint16 (numpy's int8 -> int16 reduction is ~3x faster
        # than to int32).
        size = max(1 << 16, sums.size)
        self.sum_dtype = np.dtype(np.int32)
        if size == 1 << 16:
            self.sum_dtype = np.dtype(np.int16 if info.min < 0 else np.uint16)
        self.table = np.zeros(size, x.dtype)
        fill_cyclic(self.table, int(sums[0]), np.asarray(r))     # sum s at s mod size
        self.sum_axes = tuple(plan.axes)
        self.kernel = None
        axes = sorted(plan.axes)
        if axes == list(range(axes[0], axes[-1] + 1)) and compiled_tier(x.size) is not None:
            # reduced axes in one block: x is [outer, n, inner]; sums and lookups in one
            # pass (gated by the input size: the work is the reduction)
            from edgelite.kernels import compiled_qops
            self.kernel = compiled_qops.sum_lookup
            outer = int(np.prod(x.shape[:axes[0]], dtype=np.int64))
            self.view3 = (outer, n, x.size // max(outer * n, 1))
            self.row_acc = np.zeros(self.view3[2], np.int32)   # |sums| < 2^20
            return
        self.s_sum = ctx.request_scratch(plan.keep_shape, self.sum_dtype)

    def reduce_sums(self, sums, n, has_axes=True):
        """The op's outputs (before clamping) for int64 sums of n reduced values; None
        when the op is not a function of the sum."""
        return

    def table_values(self, sums, n):
        """The clamped outputs for every possible sum (the lookup table's entries), or
        None when the op is not a function of the sum."""
        r = self.reduce_sums(sums, n)
        return None if r is None else np.clip(r, self.lo, self.hi)

    def setup(self, ctx) -> None:
        pass

    def invoke(self, ictx):
        plan = self.plan
        if plan is None:
            plan = _Plan(self.in_shape, resolve_axes(ictx, ictx.inputs[1], len(self.in_shape)),
                         self.keep_dims)
            out = ictx.resize_output(0, plan.out_shape)
        else:
            out = ictx.outputs[0]
        if out.size == 0:
            return
        x = ictx.inputs[0]
        if self.table is not None:
            if self.SUM_VIEW is not None:
                x = x.view(self.SUM_VIEW)
            if self.kernel is not None and x.flags.c_contiguous and out.flags.c_contiguous:
                self.kernel(x.reshape(self.view3), self.table,
                            out.reshape(self.view3[0], self.view3[2]), self.row_acc)
                return
            if self.kernel is not None:             # not plain arena views: numpy
                sums = np.empty(plan.keep_shape, self.sum_dtype)
            else:
                sums = ictx.scratch[self.s_sum]
            np.add.reduce(x, axis=self.sum_axes, dtype=self.sum_dtype, keepdims=True, out=sums)
            if self.sum_dtype.itemsize == 2:
                sums = sums.view(np.uint16)
            if out.flags.c_contiguous:
                self.table.take(sums, out=out.reshape(plan.keep_shape), mode="wrap")
            else:
                np.copyto(out, self.table.take(sums, mode="wrap").reshape(out.shape))
            return
        if x.size == 0:
            out.fill(0)
            return
        r = self.reduce(x, plan)
        np.copyto(out, np.clip(r, self.lo, self.hi).reshape(out.shape), casting="unsafe")

    def sum_int32(self, x, plan):
        s = x.sum(axis=plan.axes, dtype=np.int64, keepdims=True) if plan.axes else \
            x.astype(np.int64)
        return wrap32(s)


@register("MEAN", versions=(1, 3), variant="quantized")
class QuantMean(_QuantReduce):
    def setup(self, ctx):
        self.m, self.s = arith.quantize_multiplier(self.si / self.so)

    def reduce(self, x, plan):
        return self.reduce_sums(self.sum_int32(x, plan), plan.count, bool(plan.axes))

    def _scaling(self, n, has_axes):
        """(multiplier, shift) of the mean of n values: the sum's, divided by n."""
        m, s = self.m, self.s
        if has_axes:
            shift = min(n.bit_length() - 1, 32, 31 + s)
            m = (m << shift) // n
            s = s - shift
        return m, s

    def reduce_sums(self, sums, n, has_axes=True):
        m, s = self._scaling(n, has_axes)
        shifted = wrap32(sums - self.zi * n)
        return arith.multiply_by_quantized_multiplier(shifted, m, s) + self.zo

    def table_values(self, sums, n):
        # the table's sums are small (|sum - zi * n| < 2^21, no int32 wrap): Requantizer's
        # in-place passes, the same integers as reduce_sums' + the clamp
        m, s = self._scaling(n, True)
        # the same integers in one compiled pass, or in qutil.grid_table's numpy passes
        # (op 0: a zero first term, the sums along its inner loop)
        if compiled_tier(sums.size) is not None:
            from edgelite.kernels import compiled_qops
            build = compiled_qops.grid_table
        else:
            build = grid_table
        out = np.empty(sums.size, np.int64)
        if build(np.zeros(1, np.int64), sums - self.zi * n, 0, m, s, self.zo, self.lo, self.hi,
                 out):
            return out
        return requantized(sums - self.zi * n, m, s, self.zo, self.lo, self.hi, np.int64)


@register("SUM", versions=(1, 2), variant="quantized")
class QuantSum(_QuantReduce):
    def setup(self, ctx):
        self.m, self.s = arith.quantize_multiplier(self.si / self.so)
        self.as_bytes = self.dtype == I8
        self.SUM_VIEW = U8 if self.as_bytes else None

    def reduce(self, x, plan):
        if self.as_bytes:
            x = x.view(np.uint8)
        return self.reduce_sums(self.sum_int32(x, plan), plan.count)

    def reduce_sums(self, sums, n, has_axes=True):
        shifted = wrap32(sums - self.zi * n)
        r = arith.multiply_by_quantized_multiplier(shifted, self.m, self.s) + self.zo
        if self.as_bytes:
            return np.clip(r, 0, 255).astype(np.uint8).view(np.int8).astype(np.int64)
        return r


@register("REDUCE_PROD", versions=(1, 2), variant="quantized")
class QuantReduceProd(_QuantReduce):
    TYPES = (I8, I16)

    def scaling(self, n: int) -> tuple[int, int]:
        return arith.quantize_multiplier(self.si / math.pow(self.so, 1.0 / n))

    def reduce(self, x, plan):
        axes = plan.axes
        keep = [i for i in range(x.ndim) if i not in axes]
        n = plan.count
        m, s = self.scaling(max(n, 1))
        t = np.transpose(x, keep + sorted(axes)).reshape(-1, max(n, 1)).astype(np.int64)
        t -= self.zi
        p = t[:, 0]
        for j in range(1, n):
            p = arith.multiply_by_quantized_multiplier_int64(p * t[:, j], m, s)
        r = arith.multiply_by_quantized_multiplier_int64(p, m, s) + self.zo
        return r.reshape(plan.keep_shape)
