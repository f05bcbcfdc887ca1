"""Elementwise binary ops with numpy broadcasting, comparisons, logical ops, SELECT, ADD_N.

Semantics follow LiteRT's kernels (tflite/kernels/*.cc):
- Float ADD/SUB/MUL/DIV clamp to the fused activation's range. With no
  activation (or TANH / SIGN_BIT, which these kernels ignore) LiteRT's
  built-in kernels still clamp to [lowest, max] of the type, so +-inf become
  +-FLT_MAX; its default XNNPACK path does not. edgelite follows XNNPACK by
  default and the built-in kernels when the reference resolver is requested.
- int32 DIV rounds toward zero (C division) and fails on a zero divisor;
  FLOOR_DIV computes floor(double(a) / double(b)) and fails on any zero divisor
  (floats too); FLOOR_MOD fails on zero only for integers.
- int32 POW is std::pow in double cast back to int32 (out-of-range results
  become INT32_MIN, as on x86) and fails on a negative exponent.
- MAXIMUM / MINIMUM are `a > b ? a : b` / `a < b ? a : b`: NaN comes out
  only where b is NaN.
- Integer arithmetic wraps (numpy same-dtype arithmetic does too).
- int8 / uint8 (and quantized int16) tensors take LiteRT's quantized paths,
  which are not implemented here yet: prepare raises a clear error.
"""
from __future__ import annotations

import functools

import numpy as np

from edgelite.format.schema.tflite_tables import ActivationFunctionType as Act
from edgelite.kernels.base import Kernel
from edgelite.kernels.common import MaximumInplace, activation_code, broadcast_shape
from edgelite.kernels.common import clip_ufunc as _clip
from edgelite.kernels.registry import register

F32, F16, F64 = np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.float64)
I8, U8, I16, I32, I64 = (np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.int32, np.int64))
U32, C64, BOOL, STR = np.dtype(np.uint32), np.dtype(np.complex64), np.dtype(np.bool_), np.dtype(object)


def _quantized(spec) -> bool:
    return spec.quant is not None and spec.quant.is_quantized


def _type_range(dtype: np.dtype):
    info = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
    return info.min, info.max


def _clamp_fn(ctx, code: int, dtype: np.dtype):
    """The in-place clamp LiteRT applies after a fused-activation op, or None.

    CalculateActivationRange: RELU [0, max], RELU6 [0, 6], RELU_N1_TO_1 [-1, 1],
    anything else (NONE, TANH, SIGN_BIT) [lowest, max]."""
    lowest, highest = _type_range(dtype)
    lo, hi = {Act.RELU: (0, highest), Act.RELU6: (0, 6),
              Act.RELU_N1_TO_1: (-1, 1)}.get(code, (lowest, highest))
    if dtype.kind != "f":
        lo = None if lo == lowest else lo
        hi = None if hi == highest else hi
    elif dtype == F32 and not ctx.reference and code in (Act.NONE, Act.RELU):
        # XNNPACK (LiteRT's default for these) leaves infinities alone.
        lo = None if lo == lowest else lo
        hi = None if hi == highest else hi
    # Bounds converted as C does (for uint32, RELU_N1_TO_1's -1 wraps to UINT32_MAX),
    # kept as 0-d arrays: ufuncs take those faster than numpy or Python scalars.
    if lo is not None:
        lo = np.asarray(lo).astype(dtype)
    if hi is not None:
        hi = np.asarray(hi).astype(dtype)
    if lo is None and hi is None:
        return None
    # (partials of module-level functions, not lambdas: a prepared kernel pickles into
    # the prepared-model cache)
    if hi is None:
        if dtype.kind == "f":
            return MaximumInplace(lo)
        return functools.partial(_max_into, lo)
    if lo is None:
        return functools.partial(_min_into, hi)
    return functools.partial(_clip_into, lo, hi)


def _max_into(lo, x):
    np.maximum(x, lo, out=x)


def _min_into(hi, x):
    np.minimum(x, hi, out=x)


def _clip_into(lo, hi, x):
    _clip(x, lo, hi, out=x)


class Binary(Kernel):
    """Two same-typed inputs broadcast numpy-style into one output.

    Subclasses set DTYPES (unquantized types accepted), QUANT_DTYPES (types
    that take LiteRT's quantized path: always for int8/uint8, for int16 only
    when the tensor carries quantization), ACTIVATION (has a fused
    activation), OUT_BOOL, and `setup(ctx, dtype)`, which picks `self.fn`
    (a ufunc called as fn(a, b, out=out)) or overrides invoke.
    """
    DTYPES: tuple = (F32, I32)
    QUANT_DTYPES: tuple = ()
    ACTIVATION = False
    OUT_BOOL = False

    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        a, b = ctx.input(0), ctx.input(1)
        if a.dtype != b.dtype:
            raise ctx.error(f"input types differ: {a.dtype} and {b.dtype}", b)
        dtype = a.dtype
        if dtype in self.QUANT_DTYPES and (dtype != I16 or _quantized(a) or _quantized(b)):
            raise ctx.error(f"quantized {ctx.op_name} ({dtype}) not supported yet", a)
        if dtype not in self.DTYPES:
            names = ", ".join(str(t) for t in self.DTYPES)
            raise ctx.error(f"input has type {dtype}, {ctx.op_name} supports {names}", a)
        shape = broadcast_shape(a.shape, b.shape)
        if shape is None:
            raise ctx.error(f"input shapes {list(a.shape)} and {list(b.shape)} do not broadcast")
        self.shape = shape
        self.broadcast = a.shape != b.shape
        ctx.set_output(0, shape, BOOL if self.OUT_BOOL else dtype)
        self.clamp = None
        if self.ACTIVATION:
            code = activation_code(ctx.options)
            if code not in (Act.NONE, Act.RELU, Act.RELU_N1_TO_1, Act.RELU6, Act.TANH,
                            Act.SIGN_BIT):
                raise ctx.error(f"unknown fused activation {code}")
            if dtype == C64 and code != Act.NONE:
                raise ctx.error("a fused activation is not allowed for complex64 inputs")
            if dtype.kind in "fiu":
                self.clamp = _clamp_fn(ctx, code, dtype)
        self.setup(ctx, dtype)
        if self.broadcast and dtype == F32 and type(self).invoke is Binary.invoke:
            self._prebroadcast_constant(a, b, shape)

    # A constant operand broadcast along the output's rows (a LayerNorm's gamma or
    # beta, a bias) makes numpy run one short inner loop per row (~60 ns each);
    # stored at the output's shape once, the op runs over whole contiguous rows.
    PREBROADCAST_MAX = 1 << 16

    def _prebroadcast_constant(self, a, b, shape) -> None:
        size = 1
        for d in shape:
            size *= d
        if size > self.PREBROADCAST_MAX:
            return
        for i, t in ((0, a), (1, b)):
            # (a one-element constant is numpy's fast scalar case already)
            if t.is_const and t.shape != tuple(shape) and t.size > 1:
                full = np.ascontiguousarray(np.broadcast_to(t.data, shape))
                self.full_const = (i, full)
                self.invoke = self._invoke_full_const
                return

    def _invoke_full_const(self, ictx):
        i, full = self.full_const
        out = ictx.outputs[0]
        if i == 0:
            self.fn(full, ictx.inputs[1], out=out)
        else:
            self.fn(ictx.inputs[0], full, out=out)
        if self.clamp is not None:
            self.clamp(out)

    def setup(self, ctx, dtype) -> None:
        pass

    def invoke(self, ictx):
        ins = ictx.inputs
        out = ictx.outputs[0]
        self.fn(ins[0], ins[1], out=out)
        if self.clamp is not None:
            self.clamp(out)


def _ufunc_kernel(op: str, versions, fn, dtypes, quant=(), activation=False, out_bool=False):
    cls = type(op.title().replace("_", ""), (Binary,),
               {"DTYPES": dtypes, "QUANT_DTYPES": quant, "ACTIVATION": activation,
                "OUT_BOOL": out_bool, "fn": staticmethod(fn),
                "__doc__": f"{op}: numpy {fn.__name__} with broadcasting.",
                "__module__": __name__})     # (named where it is bound: it pickles)
    return register(op, versions)(cls)


# ---------------------------------------------------------------- arithmetic
Add = _ufunc_kernel("ADD", (1, 6), np.add, (F32, I32, I64, I16, F16), quant=(I8, U8, I16),
                    activation=True)
Sub = _ufunc_kernel("SUB", (1, 5), np.subtract, (F32, I32, I64), quant=(I8, U8, I16),
                    activation=True)
Mul = _ufunc_kernel("MUL", (1, 8), np.multiply, (F32, I32, I64, I16, F16, U32, C64),
                    quant=(I8, U8, I16), activation=True)


@register("ATAN2", versions=(1, 1))
class Atan2(Binary):
    """atan2(y, x) elementwise; LiteRT does not broadcast (it reads both flat)."""
    DTYPES = (F32, F64, F16)
    fn = staticmethod(np.arctan2)

    def setup(self, ctx, dtype):
        y, x = ctx.inputs
        if y.shape != x.shape:
            raise ctx.error(f"y {list(y.shape)} and x {list(x.shape)} must have the same shape")


@register("DIV", versions=(1, 2))
class Div(Binary):
    DTYPES = (F32, I32)
    QUANT_DTYPES = (I8, U8, I16)
    ACTIVATION = True
    fn = staticmethod(np.divide)

    def setup(self, ctx, dtype):
        self.integer = dtype.kind == "i"
        b = ctx.inputs[1]
        self.check_zero = self.integer and not (b.is_const and b.data.all())

    def invoke(self, ictx):
        a, b = ictx.inputs
        out = ictx.outputs[0]
        if not self.integer:
            np.divide(a, b, out=out)
        else:
            if self.check_zero and not b.all():
                raise ictx.error("division by zero")
            # C division truncates: a - fmod(a, b) is an exact multiple of b.
            np.fmod(a, b, out=out)
            np.subtract(a, out, out=out)
            np.floor_divide(out, b, out=out)
        if self.clamp is not None:
            self.clamp(out)


@register("FLOOR_DIV", versions=(1, 3))
class FloorDiv(Binary):
    DTYPES = (F32, I32, I16, I8)

    def setup(self, ctx, dtype):
        b = ctx.inputs[1]
        self.check_zero = not (b.is_const and b.data.all())
        self.float = dtype.kind == "f"
        if self.float:   # LiteRT divides in double: floor(1 / 0.1f) is 9
            self.tmp = ctx.request_scratch(self.shape, F64)

    def invoke(self, ictx):
        a, b = ictx.inputs
        out = ictx.outputs[0]
        if self.check_zero and not b.all():
            raise ictx.error("division by zero")
        if self.float:
            tmp = ictx.scratch[self.tmp]
            np.divide(a, b, out=tmp, dtype=F64)
            np.floor(tmp, out=out, casting="same_kind")
        else:
            np.floor_divide(a, b, out=out)


@register("FLOOR_MOD", versions=(1, 2))
class FloorMod(Binary):
    DTYPES = (F32, I32, I64, I16, I8)
    fn = staticmethod(np.mod)

    def setup(self, ctx, dtype):
        b = ctx.inputs[1]
        self.check_zero = dtype.kind == "i" and not (b.is_const and b.data.all())

    def invoke(self, ictx):
        a, b = ictx.inputs
        if self.check_zero and not b.all():
            raise ictx.error("division by zero")
        np.mod(a, b, out=ictx.outputs[0])


@register("POW", versions=(1, 1))
class Pow(Binary):
    DTYPES = (F32, I32)
    fn = staticmethod(np.power)

    def setup(self, ctx, dtype):
        self.integer = dtype == I32
        if self.integer:
            b = ctx.inputs[1]
            self.check_negative = not (b.is_const and (b.data >= 0).all())
            self.tmp = ctx.request_scratch(self.shape, F64)

    def invoke(self, ictx):
        a, b = ictx.inputs
        out = ictx.outputs[0]
        if not self.integer:
            np.power(a, b, out=out)
            return
        if self.check_negative and (b < 0).any():
            raise ictx.error("POW does not support negative exponents for int32")
        tmp = ictx.scratch[self.tmp]
        np.power(a, b, out=tmp, dtype=F64)
        with np.errstate(invalid="ignore"):   # out of int32 range -> INT32_MIN, like C on x86
            np.copyto(out, tmp, casting="unsafe")


@register("SQUARED_DIFFERENCE", versions=(1, 2))
class SquaredDifference(Binary):
    DTYPES = (F32, I32)
    QUANT_DTYPES = (I8,)

    def invoke(self, ictx):
        ins = ictx.inputs
        out = ictx.outputs[0]
        np.subtract(ins[0], ins[1], out=out)
        np.multiply(out, out, out=out)


class _MaxMin(Binary):
    """`a > b ? a : b` (MAXIMUM) or `a < b ? a : b` (MINIMUM), LiteRT's NaN behaviour."""
    DTYPES = (F32, I32, I64, I16, I8, U8, F16)
    nan_fn = None   # fmax / fmin: the right answer except where b is NaN

    def setup(self, ctx, dtype):
        b = ctx.inputs[1]
        self.float = dtype.kind == "f"
        self.fix_nan = self.float and not (b.is_const and not np.isnan(b.data).any())
        if self.fix_nan:
            self.mask = ctx.request_scratch(b.shape, BOOL)

    def invoke(self, ictx):
        a, b = ictx.inputs
        out = ictx.outputs[0]
        if not self.float:
            self.fn(a, b, out=out)
            return
        self.nan_fn(a, b, out=out)
        if self.fix_nan:
            mask = ictx.scratch[self.mask]
            np.isnan(b, out=mask)
            np.copyto(out, b, where=mask)


@register("MAXIMUM", versions=(1, 4))
class Maximum(_MaxMin):
    fn = staticmethod(np.maximum)
    nan_fn = staticmethod(np.fmax)


@register("MINIMUM", versions=(1, 4))
class Minimum(_MaxMin):
    fn = staticmethod(np.minimum)
    nan_fn = staticmethod(np.fmin)


# ---------------------------------------------------------------- comparisons
_CMP_TYPES = (F32, I32, I64, I16, F16)
_CMP_QUANT = (I8, U8, I16)
Less = _ufunc_kernel("LESS", (1, 3), np.less, _CMP_TYPES, _CMP_QUANT, out_bool=True)
LessEqual = _ufunc_kernel("LESS_EQUAL", (1, 2), np.less_equal, _CMP_TYPES, _CMP_QUANT,
                          out_bool=True)
Greater = _ufunc_kernel("GREATER", (1, 2), np.greater, _CMP_TYPES, _CMP_QUANT, out_bool=True)
GreaterEqual = _ufunc_kernel("GREATER_EQUAL", (1, 3), np.greater_equal, _CMP_TYPES, _CMP_QUANT,
                             out_bool=True)
Equal = _ufunc_kernel("EQUAL", (1, 5), np.equal, _CMP_TYPES + (BOOL, STR), _CMP_QUANT,
                      out_bool=True)
NotEqual = _ufunc_kernel("NOT_EQUAL", (1, 4), np.not_equal, _CMP_TYPES + (BOOL, STR), _CMP_QUANT,
                         out_bool=True)

# ---------------------------------------------------------------- logical
LogicalAnd = _ufunc_kernel("LOGICAL_AND", (1, 1), np.logical_and, (BOOL,))
LogicalOr = _ufunc_kernel("LOGICAL_OR", (1, 1), np.logical_or, (BOOL,))


@register("LOGICAL_NOT", versions=(1, 1))
class LogicalNot(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        x = ctx.input(0)
        ctx.check_dtype(x, BOOL)
        ctx.set_output(0, x.shape, BOOL)

    def invoke(self, ictx):
        np.logical_not(ictx.inputs[0], out=ictx.outputs[0])


# ---------------------------------------------------------------- SELECT
class _Select(Kernel):
    """out = x where condition else y; SELECT_V2 broadcasts all three."""
    V2 = False

    def prepare(self, ctx):
        ctx.check_arity(3, 1)
        cond, x, y = ctx.input(0), ctx.input(1), ctx.input(2)
        ctx.check_dtype(cond, BOOL, "condition")
        if x.dtype != y.dtype:
            raise ctx.error(f"x and y types differ: {x.dtype} and {y.dtype}", y)
        if x.dtype == STR:
            raise ctx.error("string inputs are not supported", x)
        self.row_shape = None       # SELECT's rank-1 condition picks rows of x
        self.flat = None            # all four tensors hold one element: keep the output's shape
        out = ctx.outputs[0]
        if all(t.size == 1 for t in (cond, x, y)) and out is not None and out.size == 1:
            shape = out.shape
            self.flat = shape
        elif cond.shape == x.shape == y.shape:
            shape = x.shape
        elif self.V2:
            shape = broadcast_shape(cond.shape, x.shape)
            shape = broadcast_shape(shape, y.shape) if shape is not None else None
            if shape is None:
                raise ctx.error(f"condition {list(cond.shape)}, x {list(x.shape)} and y "
                                f"{list(y.shape)} do not broadcast")
            if len(shape) > 8:
                raise ctx.error(f"output rank {len(shape)} exceeds 8")
        else:
            if x.shape != y.shape:
                raise ctx.error(f"x {list(x.shape)} and y {list(y.shape)} must have the same "
                                f"shape")
            rank_one = len(cond.shape) == 1 and len(x.shape) >= 1 and cond.shape[0] == x.shape[0]
            if not (len(cond.shape) == 0 or rank_one):
                raise ctx.error(f"condition {list(cond.shape)} must match x {list(x.shape)}, be "
                                f"a scalar, or be rank 1 with x's first dimension")
            if rank_one:
                self.row_shape = (x.shape[0],) + (1,) * (len(x.shape) - 1)
            shape = x.shape
        ctx.set_output(0, shape, x.dtype)

    def invoke(self, ictx):
        cond, x, y = ictx.inputs
        out = ictx.outputs[0]
        if self.row_shape is not None:
            cond = cond.reshape(self.row_shape)
        elif self.flat is not None:
            cond, x, y = cond.reshape(self.flat), x.reshape(self.flat), y.reshape(self.flat)
        np.copyto(out, y)
        np.copyto(out, x, where=cond)


@register("SELECT", versions=(1, 4))
class Select(_Select):
    V2 = False


@register("SELECT_V2", versions=(1, 2))
class SelectV2(_Select):
    V2 = True


# ---------------------------------------------------------------- ADD_N
@register("ADD_N", versions=(1, 1))
class AddN(Kernel):
    def prepare(self, ctx):
        ctx.check(len(ctx.inputs) >= 2, f"expects at least 2 inputs, got {len(ctx.inputs)}")
        ctx.check_arity((2, len(ctx.inputs)), 1)
        first = ctx.input(0)
        ctx.check_dtype(first, (F32, I32))
        for i in range(1, len(ctx.inputs)):
            t = ctx.input(i)
            if t.dtype != first.dtype:
                raise ctx.error(f"input {i} has type {t.dtype}, input 0 {first.dtype}", t)
            if t.shape != first.shape:
                raise ctx.error(f"input {i} has shape {list(t.shape)}, input 0 "
                                f"{list(first.shape)}", t)
        ctx.set_output(0, first.shape, first.dtype)

    def invoke(self, ictx):
        ins = ictx.inputs
        out = ictx.outputs[0]
        np.add(ins[0], ins[1], out=out)
        for x in ins[2:]:
            np.add(out, x, out=out)
