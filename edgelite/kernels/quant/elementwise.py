"""Quantized binary ops: ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE, the comparisons and PRELU.

Each op is a vectorized int64 transcription of LiteRT's reference kernel
(add.cc/sub.cc/mul.cc/div.cc/squared_difference.cc/comparisons.cc and
reference/integer_ops/*.h), exact in int32 semantics (double rounding).

Speed: with 8-bit inputs the output depends only on the pair of input values,
so prepare evaluates the formula once over all 65,536 pairs and invoke is a
table lookup: index = (a as uint8) << 8 | (b as uint8), a few numpy passes on
views collapsed to at most three dims (collapse_broadcast), no allocation. A
constant scalar operand makes it a 256-entry table of the other input (a unary
lookup). Big nodes use the compiled tier's `lut2` / `lut1` (compiled_qops.py),
bit-identical. int16 inputs run the formula directly.

Not registered here (the generic kernels already do what LiteRT does for
quantized tensors): MAXIMUM/MINIMUM (compare raw values, no requantization),
SELECT/SELECT_V2 (copy raw values). CONCATENATION/PACK with requantization: quant/layout.py.
"""
from __future__ import annotations

import abc

import numpy as np

from edgelite.kernels.base import Kernel
from edgelite.kernels.common import activation_code, broadcast_shape
from edgelite.kernels.conv import compiled_tier
from edgelite.kernels.quant import arith
from edgelite.kernels.quant.fixedpoint import (
    checked_log2,
    count_leading_sign_bits32,
    get_reciprocal,
    wrap32,
)
from edgelite.kernels.quant.qutil import grid_table, requantized
from edgelite.kernels.registry import register

I8, U8, I16 = np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16)
BOOL = np.dtype(np.bool_)


def _has_quant(spec) -> bool:
    q = spec.quant
    return q is not None and q.scale is not None and q.scale.size > 0


def _scale_zp(ctx, spec, what):
    if not _has_quant(spec):
        raise ctx.error(f"{what} must be quantized (it has no scale)", spec)
    return float(np.float32(spec.quant.scale[0])), spec.zero_point


def mul_smaller(x, m: int, shift: int):
    """MultiplyByQuantizedMultiplierSmallerThanOneExp (double rounding). A positive
    shift (undefined behaviour in LiteRT's double-rounding build) is done as
    MultiplyByQuantizedMultiplier."""
    if shift > 0:
        return arith.multiply_by_quantized_multiplier(x, m, shift)
    return arith.multiply_by_quantized_multiplier_smaller_than_one_exp(x, m, shift)


def _quantize_smaller_than_one(real: float) -> tuple[int, int]:
    return arith.quantize_multiplier(real)


def rounding_divide_by_pot_x86(x, exponent):
    """gemmlowp RoundingDivideByPOT also for exponents 32..63, which LiteRT's DIV reaches
    (a zero dividend has 31 bits of headroom): the mask (1ll << e) - 1 truncated to int32
    is -1 and x86 shifts int32 by e & 31, so e.g. 0 comes out as 1."""
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    mask = wrap32((np.int64(1) << np.minimum(e, 62)) - 1)
    remainder = wrap32(x & mask)
    threshold = (mask >> 1) + (x < 0)
    return (x >> (e & 31)) + (remainder > threshold)


def collapse_broadcast(out_shape, a_shape, b_shape):
    """(dims, a_strides, b_strides) or None: the broadcast of two C-contiguous arrays as at most
    three output dims (merging neighbours where both inputs stay contiguous), with each
    input's element strides (0 along its broadcast dims)."""
    nd = len(out_shape)

    def strides(shape):
        shape = (1,) * (nd - len(shape)) + tuple(shape)
        st, acc = [0] * nd, 1
        for i in range(nd - 1, -1, -1):
            st[i] = 0 if shape[i] == 1 else acc
            acc *= shape[i]
        return st
    dims = list(out_shape)
    sa, sb = strides(a_shape), strides(b_shape)
    keep = [i for i in range(nd) if dims[i] != 1]
    dims = [dims[i] for i in keep]
    sa, sb = [sa[i] for i in keep], [sb[i] for i in keep]
    i = len(dims) - 2
    while i >= 0:
        if sa[i] == sa[i + 1] * dims[i + 1] and sb[i] == sb[i + 1] * dims[i + 1]:
            dims[i + 1] *= dims[i]
            del dims[i], sa[i], sb[i]
        i -= 1
    if len(dims) > 3:                    # irregular 4-D broadcasts: the numpy path
        return None
    if dims and (sa[-1] not in (0, 1) or sb[-1] not in (0, 1)):
        return None                      # (cannot happen: the innermost stride is 0 or 1)
    pad = 3 - len(dims)
    return [1] * pad + dims, [0] * pad + sa, [0] * pad + sb


def _flat_codes(x: np.ndarray):
    """A flat uint8 view of an 8-bit array's storage (None unless C-contiguous)."""
    return x.reshape(-1).view(np.uint8) if x.flags.c_contiguous else None


def _compiled_qops():
    """compiled_qops (call only after conv.compiled_tier said yes)."""
    from edgelite.kernels import compiled_qops
    return compiled_qops


class QuantBinary(Kernel):
    """Two quantized inputs of one type, broadcast; `compute(a, b)` maps int64 arrays of
    input values to int64 output values (clamped); 8-bit inputs go through a table."""
    TYPES = (I8, U8, I16)
    ACTIVATION = True
    OUT_BOOL = False

    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        a, b = ctx.input(0), ctx.input(1)
        out = ctx.outputs[0]
        if a.dtype != b.dtype:
            raise ctx.error(f"input types differ: {a.dtype} and {b.dtype}", b)
        dtype = a.dtype
        if dtype not in self.TYPES:
            names = ", ".join(str(t) for t in self.TYPES)
            raise ctx.error(f"quantized {ctx.op_name} supports {names}, got {dtype}", a)
        shape = broadcast_shape(a.shape, b.shape)
        if shape is None:
            raise ctx.error(f"input shapes {list(a.shape)} and {list(b.shape)} do not broadcast")
        self.in_dtype = dtype
        self.out_dtype = BOOL if self.OUT_BOOL else out.dtype
        if not self.OUT_BOOL and self.out_dtype not in self.TYPES:
            names = ", ".join(str(t) for t in self.TYPES)
            raise ctx.error(f"quantized {ctx.op_name} outputs {names}, the output tensor has "
                            f"type {out.dtype}", out)
        ctx.set_output(0, shape, self.out_dtype)
        self.activation = activation_code(ctx.options) if self.ACTIVATION else 0
        if self.activation not in (0, 1, 2, 3):
            raise ctx.error(f"fused activation {self.activation} is not supported by a "
                            f"quantized {ctx.op_name}")
        if not self.OUT_BOOL:
            oscale, ozp = _scale_zp(ctx, out, "output")
            self.lo, self.hi = arith.quantized_activation_range(self.activation, oscale, ozp,
                                                                out.dtype)
        self.setup(ctx, a, b, out)
        self.table = None
        if dtype in (I8, U8):
            # table[(code a << 8) | code b]: compute() broadcast over the 256 values of a
            # (a column) against the 256 of b (a row) gives that order directly
            vals = np.arange(256, dtype=np.uint8).view(dtype).astype(np.int64)
            terms = self.table_terms(vals)
            build = (_compiled_qops().grid_table if compiled_tier(1 << 16) is not None
                     else grid_table)
            self.kernel = None
            self._bound = (None, None, None, None, None, None)
            size = int(np.prod(shape, dtype=np.int64))
            self.unary = None
            if size and self._prepare_unary(a, b, size, vals, terms, build):
                return
            self.table = self._full_table(vals, terms, build)
            geom = collapse_broadcast(shape, a.shape, b.shape) if size else None
            if geom is not None and compiled_tier(size, small_ok=True) is not None:
                from edgelite.kernels import compiled_qops
                self.kernel = compiled_qops.lut2
                dims, sa, sb = geom
                self.geom = (*dims, *sa, *sb)
                return
            # numpy: the same lookups on views with the fewest dims (ufunc loops over
            # a 1-D or 2-D view cost less than over the 4-D shapes)
            self.views = None
            if geom is not None:
                dims, sa, sb = geom
                self.views = (tuple(d if st else 1 for d, st in zip(dims, sa)),
                              tuple(d if st else 1 for d, st in zip(dims, sb)), tuple(dims))
            self.ia = ctx.request_scratch(self.views[0] if self.views else a.shape, np.uint16)
            self.idx = ctx.request_scratch(self.views[2] if self.views else shape, np.uint16)
            # a broadcast b is widened into its own small buffer first: a uint16 | uint8
            # operation broadcasting the uint8 side is ~2x slower than uint16 | uint16
            b_size = int(np.prod(b.shape, dtype=np.int64))
            self.ib = ctx.request_scratch(self.views[1] if self.views else b.shape,
                                          np.uint16) if b_size < size else None

    def _full_table(self, vals, terms, build) -> np.ndarray:
        """table[(code a << 8) | code b] over all 65,536 pairs: from the terms in one
        compiled pass, or in numpy passes with the multiplier applied to each side's 256
        terms (qutil.grid_table); else table_values over the grid (compute() broadcast over
        the 256 values of a, a column, against the 256 of b, a row: that order)."""
        if terms is not None:
            table = np.empty(1 << 16, self.out_dtype)
            if build(*terms, self.lo, self.hi, table):
                return table
        grid = np.asarray(self.table_values(vals[:, None], vals[None, :]))
        return np.broadcast_to(grid, (256, 256)).reshape(-1).astype(self.out_dtype)

    def _prepare_unary(self, a, b, size, vals, terms, build) -> bool:
        """One input a constant scalar (x + eps, x * k): the op is a 256-entry table of the
        other input, looked up like a unary op (byte pairs or the compiled kernel). That
        table is the full table's row (or column) at the constant's code, built alone
        from the terms when they apply (1/256 of the work)."""
        for i, (const, other) in enumerate(((b, a), (a, b))):
            if const.data is None or const.data.size != 1 or \
                    int(np.prod(other.shape, dtype=np.int64)) != size:
                continue
            code = int(np.asarray(const.data).reshape(-1).view(np.uint8)[0])
            row = None
            if terms is not None:
                x1, x2, *rest = terms
                x1, x2 = (x1, x2[code:code + 1]) if i == 0 else (x1[code:code + 1], x2)
                row = np.empty(256, self.out_dtype)
                if not build(x1, x2, *rest, self.lo, self.hi, row):
                    row = None
            if row is None:
                codes = np.arange(256, dtype=np.int64)
                pairs = (codes << 8) | code if i == 0 else (code << 8) | codes
                row = self._full_table(vals, None, build)[pairs]     # (the terms declined)
            self.table = row
            self.unary = (i == 0, row)                   # (first input varies, table)
            self.unary_kernel = self.unary_pairs = None
            if compiled_tier(size) is not None:
                from edgelite.kernels import compiled_qops
                self.unary_kernel = compiled_qops.lut1
            elif size >= 512 and size % 2 == 0 and self.unary[1].dtype.itemsize == 1:
                from edgelite.kernels.quant.activations import pair_table
                self.unary_pairs = pair_table(self.unary[1])
            return True
        return False

    def _invoke_unary(self, x, out) -> None:
        table = self.unary[1]
        if x is not self._bound[0] or out is not self._bound[2]:
            flat = x.flags.c_contiguous and out.flags.c_contiguous
            self._bound = (x, None, out, x.reshape(-1).view(np.uint8) if flat else None,
                           None, out.reshape(-1) if flat else None)
        _, _, _, fx, _, fo = self._bound
        if fx is None:
            np.copyto(out, table.take(x.view(np.uint8)).reshape(out.shape))
        elif self.unary_kernel is not None:
            self.unary_kernel(fx, table, fo)
        elif self.unary_pairs is not None:
            self.unary_pairs.take(fx.view(np.uint16), out=fo.view(np.uint16), mode="clip")
        else:
            table.take(fx, out=fo, mode="clip")

    def _views(self, a, b, out):
        """uint8 code views of a and b and the output view the numpy lookups use (None
        for arrays that are not C-contiguous, which the collapsed views need)."""
        if self.views is None:
            return a.view(np.uint8), b.view(np.uint8), out
        if a.flags.c_contiguous and b.flags.c_contiguous and out.flags.c_contiguous:
            sa, sb, so = self.views
            return a.reshape(sa).view(np.uint8), b.reshape(sb).view(np.uint8), out.reshape(so)
        return None, None, None

    @abc.abstractmethod
    def setup(self, ctx, a, b, out) -> None:
        """Validate and precompute the op's quantized parameters."""

    @abc.abstractmethod
    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The op's integer result for int64 input codes a, b (broadcasting)."""

    def table_values(self, av: np.ndarray, bv: np.ndarray) -> np.ndarray:
        """compute() over every pair of 8-bit values: av [256, 1] against bv [1, 256] (the
        256 values of each input in code order; broadcast, each input's own terms are
        computed once per value, not once per pair)."""
        return self.compute(av, bv)

    def table_terms(self, vals: np.ndarray):
        """(x1, x2, op, m, shift, zp) when table_values(vals[:, None], vals[None, :]) is
        clamp(MultiplyByQuantizedMultiplier(raw, m, shift) + zp, lo, hi) of raw = x1 + x2
        (op 0), x1 * x2 (op 1) or wrap32(wrap32(x1 - x2)^2) (op 2) over the grid, with
        |raw| < 2^31 (compiled_qops.grid_table builds it when m > 0 and there is no left
        shift); else None."""
        return

    def clamp(self, x):
        return np.clip(x, self.lo, self.hi)

    def invoke(self, ictx):
        a, b = ictx.inputs
        out = ictx.outputs[0]
        if self.table is not None and self.unary is not None:
            self._invoke_unary(a if self.unary[0] else b, out)
        elif self.table is not None and self.kernel is not None:
            if a is not self._bound[0] or b is not self._bound[1] or out is not self._bound[2]:
                self._bound = (a, b, out, _flat_codes(a), _flat_codes(b),
                               out.reshape(-1) if out.flags.c_contiguous else None)
            _, _, _, fa, fb, fo = self._bound
            if fa is None or fb is None:    # not plain arena views: through copies
                fa = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
                fb = np.ascontiguousarray(b).reshape(-1).view(np.uint8)
            if fo is None:
                fo = np.empty(out.size, out.dtype)
                self.kernel(fa, fb, self.table, fo, *self.geom)
                np.copyto(out, fo.reshape(out.shape))
                return
            self.kernel(fa, fb, self.table, fo, *self.geom)
        elif self.table is not None:
            if a is not self._bound[0] or b is not self._bound[1] or out is not self._bound[2]:
                self._bound = (a, b, out) + self._views(a, b, out)
            _, _, _, va, vb, vo = self._bound
            ia, idx = ictx.scratch[self.ia], ictx.scratch[self.idx]
            if va is None:                  # not plain arena views: through copies
                sa, sb, _ = self.views
                va = np.ascontiguousarray(a).reshape(sa).view(np.uint8)
                vb = np.ascontiguousarray(b).reshape(sb).view(np.uint8)
                np.left_shift(va, 8, out=ia, dtype=np.uint16)
                np.bitwise_or(ia, vb, out=idx)
                np.copyto(out, self.table.take(idx).reshape(out.shape))
                return
            np.copyto(ia, va)                       # (widening, then an in-place shift:
            np.left_shift(ia, 8, out=ia)            # faster than a shift with a cast)
            if self.ib is not None:
                ib = ictx.scratch[self.ib]
                np.copyto(ib, vb)
                vb = ib
            np.bitwise_or(ia, vb, out=idx)
            self.table.take(idx, out=vo, mode="clip")
        else:
            r = self.compute(a.astype(np.int64), b.astype(np.int64))
            np.copyto(out, r, casting="unsafe")


class _AddSub(QuantBinary):
    SIGN = 1

    def setup(self, ctx, a, b, out):
        s1, z1 = _scale_zp(ctx, a, "input 1")
        s2, z2 = _scale_zp(ctx, b, "input 2")
        so, zo = _scale_zp(ctx, out, "output")
        if out.dtype != a.dtype:
            raise ctx.error(f"output has type {out.dtype}, expected {a.dtype}", out)
        dtype = a.dtype
        info = np.iinfo(dtype)
        # (the message is formatted only on failure: a dtype takes ~7 us to format, and
        # this runs three times per ADD / SUB at every load)
        for z, spec in ((z1, a), (z2, b), (zo, out)):
            if not info.min <= z <= info.max:
                raise ctx.error(f"zero point {z} is out of range for {dtype}", spec)
        self.pot = False
        if dtype == I16:
            for z, spec in ((z1, a), (z2, b), (zo, out)):
                ctx.check(z == 0, "int16 tensors must have zero point 0", spec)
            pot_option = bool(getattr(ctx.options, "potScaleInt16", True)) \
                if ctx.options is not None else True
            if ctx.op_name == "SUB" and ctx.options is None:
                pot_option = False
            if pot_option:
                p1, l1 = checked_log2(s1)
                p2, l2 = checked_log2(s2)
                po, lo = checked_log2(so)
                self.pot = p1 and p2 and po
                if self.pot:
                    self.sh1, self.sh2 = l1 - lo, l2 - lo
                    ctx.check(self.sh1 == 0 or self.sh2 == 0,
                              "with power-of-two int16 scales, one input must have the "
                              "output's scale")
                    ctx.check(self.sh1 <= 0 and self.sh2 <= 0,
                              "with power-of-two int16 scales, input scales must not be "
                              "larger than the output's")
                    return
        self.off1, self.off2, self.offo = -z1, -z2, zo
        self.left_shift = 15 if dtype == I16 else 20
        twice_max = 2.0 * float(np.float32(max(s1, s2)))
        self.m1, self.e1 = _quantize_smaller_than_one(s1 / twice_max)
        self.m2, self.e2 = _quantize_smaller_than_one(s2 / twice_max)
        real_out = twice_max / float(np.float32((1 << self.left_shift) * np.float32(so)))
        self.mo, self.eo = arith.quantize_multiplier(real_out)

    def table_terms(self, vals):
        if self.pot:
            return None
        x1 = mul_smaller((vals + self.off1) << self.left_shift, self.m1, self.e1)
        x2 = mul_smaller((vals + self.off2) << self.left_shift, self.m2, self.e2)
        if int(np.abs(x1).max()) + int(np.abs(x2).max()) >= 1 << 31:
            return None
        return x1, self.SIGN * x2, 0, self.mo, self.eo, self.offo

    def table_values(self, av, bv):
        if self.pot:
            return self.compute(av, bv)
        x1 = mul_smaller((av + self.off1) << self.left_shift, self.m1, self.e1)
        x2 = mul_smaller((bv + self.off2) << self.left_shift, self.m2, self.e2)
        if int(np.abs(x1).max()) + int(np.abs(x2).max()) >= 1 << 31:
            return self.compute(av, bv)     # would wrap (8-bit inputs stay below 2^29)
        return requantized(x1 + self.SIGN * x2, self.mo, self.eo, self.offo, self.lo,
                            self.hi, self.out_dtype)

    def compute(self, a, b):
        if self.pot:
            if self.sh1 == 0:
                x1, x2 = a, arith.rounding_divide_by_pot(b, -self.sh2)
            else:
                x1, x2 = arith.rounding_divide_by_pot(a, -self.sh1), b
            return self.clamp(x1 + self.SIGN * x2)
        x1 = mul_smaller((a + self.off1) << self.left_shift, self.m1, self.e1)
        x2 = mul_smaller((b + self.off2) << self.left_shift, self.m2, self.e2)
        raw = wrap32(x1 + self.SIGN * x2)
        return self.clamp(mul_smaller(raw, self.mo, self.eo) + self.offo)


@register("ADD", versions=(1, 5), variant="quantized")
class QuantAdd(_AddSub):
    SIGN = 1


@register("SUB", versions=(1, 5), variant="quantized")
class QuantSub(_AddSub):
    SIGN = -1


@register("MUL", versions=(1, 7), variant="quantized")
class QuantMul(QuantBinary):
    def setup(self, ctx, a, b, out):
        s1, z1 = _scale_zp(ctx, a, "input 1")
        s2, z2 = _scale_zp(ctx, b, "input 2")
        so, zo = _scale_zp(ctx, out, "output")
        self.int16_to_8 = a.dtype == I16 and out.dtype in (I8, U8)
        if not self.int16_to_8 and out.dtype != a.dtype:
            raise ctx.error(f"output has type {out.dtype}, expected {a.dtype}", out)
        if a.dtype == I16 and not self.int16_to_8:
            ctx.check(z1 == 0 and z2 == 0 and zo == 0, "int16 MUL needs zero points 0")
        if self.int16_to_8:
            ctx.check(a.shape == b.shape, "int16 x int16 -> 8-bit MUL does not broadcast")
        # C++ float arithmetic: s1 * s2 / so in float32, then widened.
        real = float(np.float32(np.float32(s1 * np.float32(s2)) / np.float32(so)))
        self.m, self.e = arith.quantize_multiplier(real)
        self.off1, self.off2, self.offo = -z1, -z2, zo

    def table_terms(self, vals):
        if self.int16_to_8:
            return None
        return vals + self.off1, vals + self.off2, 1, self.m, self.e, self.offo

    def table_values(self, av, bv):
        # 8-bit inputs: |product| <= 255 * 255, within int32 (no wrap)
        return requantized((av + self.off1) * (bv + self.off2), self.m, self.e, self.offo,
                            self.lo, self.hi, self.out_dtype)

    def compute(self, a, b):
        if self.int16_to_8:
            ab = a * b
            nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
            s = ab + nudge
            q = np.where(s >= 0, s >> 15, -((-s) >> 15))
            q = np.where((a == -32768) & (b == -32768), 32767, q)
            r = arith.rounding_divide_by_pot(q, 8)
            r = np.clip(r, self.lo - self.offo, self.hi - self.offo)
            return r + self.offo
        prod = wrap32((a + self.off1) * (b + self.off2))
        return self.clamp(arith.multiply_by_quantized_multiplier(prod, self.m, self.e)
                          + self.offo)


@register("DIV", versions=(1, 2), variant="quantized")
class QuantDiv(QuantBinary):
    def setup(self, ctx, a, b, out):
        s1, z1 = _scale_zp(ctx, a, "input 1")
        s2, z2 = _scale_zp(ctx, b, "input 2")
        so, zo = _scale_zp(ctx, out, "output")
        if out.dtype != a.dtype:
            raise ctx.error(f"output has type {out.dtype}, expected {a.dtype}", out)
        real = float(np.float32(s1 / np.float32(np.float32(s2) * np.float32(so))))
        self.m, self.e = arith.quantize_multiplier(real)
        self.off1, self.off2, self.offo = -z1, -z2, zo
        self.zero_code = z2

    def invoke(self, ictx):
        b = ictx.inputs[1]
        if np.any(b == self.zero_code):
            raise ictx.error("division by zero (a divisor equals its zero point)")
        super().invoke(ictx)

    def compute(self, a, b):
        v1 = a + self.off1
        v2 = b + self.off2
        zero = v2 == 0
        v2 = np.where(zero, 1, v2)
        neg = v2 < 0
        v1 = np.where(neg, -v1, v1)
        v2 = np.where(neg, -v2, v2)
        inv, num_bits = get_reciprocal(v2, 31)
        headroom = count_leading_sign_bits32(v1)
        unscaled = arith.saturating_rounding_doubling_high_mul(wrap32(v1 << headroom), inv)
        total_shift = self.e - num_bits - headroom
        pos = np.maximum(total_shift, 0)
        unscaled = wrap32(unscaled << pos)
        r = rounding_divide_by_pot_x86(
            arith.saturating_rounding_doubling_high_mul(unscaled, self.m),
            np.maximum(-total_shift, 0))
        return self.clamp(r + self.offo)


@register("SQUARED_DIFFERENCE", versions=(1, 2), variant="quantized")
class QuantSquaredDifference(QuantBinary):
    TYPES = (I8,)
    ACTIVATION = False

    def setup(self, ctx, a, b, out):
        s1, z1 = _scale_zp(ctx, a, "input 1")
        s2, z2 = _scale_zp(ctx, b, "input 2")
        so, zo = _scale_zp(ctx, out, "output")
        if out.dtype != a.dtype:
            raise ctx.error(f"output has type {out.dtype}, expected {a.dtype}", out)
        self.off1, self.off2, self.offo = -z1, -z2, zo
        self.left_shift = 7
        twice_max = 2.0 * float(np.float32(max(s1, s2)))
        self.m1, self.e1 = arith.quantize_multiplier(s1 / twice_max)
        self.m2, self.e2 = arith.quantize_multiplier(s2 / twice_max)
        real_out = (twice_max * twice_max) / float(np.float32((1 << 14) * np.float32(so)))
        self.mo, self.eo = arith.quantize_multiplier(real_out)
        self.lo, self.hi = -128, 127

    def _square(self, a, b):
        x1 = mul_smaller((a + self.off1) << self.left_shift, self.m1, self.e1)
        x2 = mul_smaller((b + self.off2) << self.left_shift, self.m2, self.e2)
        d = wrap32(x1 - x2)
        return wrap32(d * d)

    def table_terms(self, vals):
        x1 = mul_smaller((vals + self.off1) << self.left_shift, self.m1, self.e1)
        x2 = mul_smaller((vals + self.off2) << self.left_shift, self.m2, self.e2)
        return x1, x2, 2, self.mo, self.eo, self.offo

    def table_values(self, av, bv):
        return requantized(self._square(av, bv), self.mo, self.eo, self.offo, self.lo,
                            self.hi, self.out_dtype)

    def compute(self, a, b):
        return self.clamp(mul_smaller(self._square(a, b), self.mo, self.eo) + self.offo)


class _Compare(QuantBinary):
    """LiteRT's ComparisonWithScaling: both sides rescaled with left shift 8 and their
    own scale's multiplier, then compared. int16 without quantization is a plain
    comparison, and so is any int16 LESS/LESS_EQUAL/GREATER/GREATER_EQUAL (only
    EQUAL/NOT_EQUAL rescale int16 in LiteRT)."""
    ACTIVATION = False
    OUT_BOOL = True
    INT16_RESCALES = False
    fn = None

    def setup(self, ctx, a, b, out):
        self.plain = a.dtype == I16 and not (self.INT16_RESCALES and _has_quant(a))
        if self.plain:
            return
        s1, z1 = _scale_zp(ctx, a, "input 1")
        s2, z2 = _scale_zp(ctx, b, "input 2")
        self.off1, self.off2 = -z1, -z2
        self.m1, self.e1 = arith.quantize_multiplier(s1)
        self.m2, self.e2 = arith.quantize_multiplier(s2)

    def compute(self, a, b):
        if self.plain:
            return self.fn(a, b)
        x1 = mul_smaller((a + self.off1) << 8, self.m1, self.e1)
        x2 = mul_smaller((b + self.off2) << 8, self.m2, self.e2)
        return self.fn(x1, x2)


def _compare(op, versions, fn):
    cls = type("Quant" + op.title().replace("_", ""), (_Compare,),
               {"fn": staticmethod(fn), "INT16_RESCALES": op in ("EQUAL", "NOT_EQUAL"),
                "__doc__": f"Quantized {op} (rescaled comparison).", "__module__": __name__})
    return register(op, versions, variant="quantized")(cls)


QuantLess = _compare("LESS", (1, 3), np.less)
QuantLessEqual = _compare("LESS_EQUAL", (1, 2), np.less_equal)
QuantGreater = _compare("GREATER", (1, 2), np.greater)
QuantGreaterEqual = _compare("GREATER_EQUAL", (1, 3), np.greater_equal)
QuantEqual = _compare("EQUAL", (1, 5), np.equal)
QuantNotEqual = _compare("NOT_EQUAL", (1, 4), np.not_equal)


# ---------------------------------------------------------------- PRELU
@register("PRELU", versions=(1, 1), variant="quantized")
class QuantPrelu(Kernel):
    """reference_ops::Prelu / BroadcastPrelu4DSlow: x >= 0 (after the zero point) is
    rescaled by input/output scale, x < 0 by input*alpha/output scale times (alpha - its
    zero point); alpha broadcasts against x and the output keeps x's shape. 8-bit inputs
    (alpha of the same type) go through a 65,536-entry table over (x, alpha) pairs;
    int16 inputs take int8 alpha and run the formula."""

    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        x, alpha = ctx.input(0), ctx.input(1)
        out = ctx.outputs[0]
        want_alpha = {I8: I8, U8: U8, I16: I8}.get(x.dtype)
        if want_alpha is None:
            raise ctx.error(f"quantized PRELU supports int8, uint8, int16, got {x.dtype}", x)
        ctx.check(alpha.dtype == want_alpha, f"alpha has type {alpha.dtype}, expected "
                  f"{np.dtype(want_alpha)} for a {x.dtype} input", alpha)
        ctx.check(out.dtype == x.dtype, f"output has type {out.dtype}, expected {x.dtype}",
                  out)
        shape = broadcast_shape(x.shape, alpha.shape)
        if shape is None:
            raise ctx.error(f"alpha shape {list(alpha.shape)} does not broadcast against the "
                            f"input shape {list(x.shape)}", alpha)
        ctx.check(tuple(shape) == tuple(x.shape), f"alpha shape {list(alpha.shape)} "
                  f"broadcasts the input {list(x.shape)} to {list(shape)}; the output must "
                  "keep the input's shape", alpha)
        si, self.zi = _scale_zp(ctx, x, "input")
        sa, self.za = _scale_zp(ctx, alpha, "alpha")
        so, self.zo = _scale_zp(ctx, out, "output")
        # float32 maths (the scales are floats), widened to double for QuantizeMultiplier.
        f = np.float32
        self.m1, self.s1 = arith.quantize_multiplier(float(f(f(si) / f(so))))
        self.m2, self.s2 = arith.quantize_multiplier(float(f(f(f(si) * f(sa)) / f(so))))
        self.lo, self.hi = arith.dtype_range(x.dtype)
        ctx.set_output(0, x.shape, x.dtype)
        self.table = None
        if x.dtype in (I8, U8):
            codes = np.arange(1 << 16, dtype=np.int64)
            xv = (codes >> 8).astype(np.uint8).view(x.dtype).astype(np.int64)
            av = (codes & 0xFF).astype(np.uint8).view(x.dtype).astype(np.int64)
            self.table = self.compute(xv, av).astype(x.dtype)
            self.ix = ctx.request_scratch(x.shape, np.uint16)

    def compute(self, x, a):
        d = x - self.zi
        pos = arith.multiply_by_quantized_multiplier(d, self.m1, self.s1)
        neg = arith.multiply_by_quantized_multiplier(d * (a - self.za), self.m2, self.s2)
        return np.clip(np.where(d >= 0, pos, neg) + self.zo, self.lo, self.hi)

    def invoke(self, ictx):
        x, alpha = ictx.inputs
        out = ictx.outputs[0]
        if self.table is None:
            np.copyto(out, self.compute(x.astype(np.int64), alpha.astype(np.int64)),
                      casting="unsafe")
            return
        ix = ictx.scratch[self.ix]
        np.left_shift(x.view(np.uint8), 8, out=ix, dtype=np.uint16)
        np.bitwise_or(ix, alpha.view(np.uint8), out=ix)
        np.take(self.table, ix, out=out, mode="clip")
