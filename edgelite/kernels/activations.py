"""Elementwise activations and unary maths: ABS ... GELU, CAST, ZEROS_LIKE.

Every kernel here maps one input to one output of the same shape. prepare
picks the arithmetic for the input's type (and allocates the few buffers a
type needs, e.g. float32 workspaces for float16 ops); invoke only runs numpy
ufuncs into the preallocated output.

Quantized (int8/uint8/int16 with quantization parameters) variants of these
ops exist in LiteRT; they raise a clear "quantized X not supported yet" here
until the integer kernels land.

Accuracy against LiteRT (float32; which default kernels are XNNPACK's):
results agree within 1e-5 relative to max(1, |ref|) for all ops; the worst
measured differences are in tests/kernels/test_activations.py.
"""
from __future__ import annotations

import abc
import functools
import math

import numpy as np

from edgelite.format import ir
from edgelite.kernels.base import Kernel, PrepareContext, TensorSpec
from edgelite.kernels.common import bound_like, negative
from edgelite.kernels.common import clip_ufunc as _clip
from edgelite.kernels.registry import register

QUANTIZED_TYPES = ("INT8", "UINT8", "INT16")

_F32_ZERO = np.asarray(np.float32(0.0))
_F32_SIX = np.asarray(np.float32(6.0))


def type_name(spec: TensorSpec) -> str:
    """TFLite's name of a tensor's type (BFLOAT16 and INT4 share numpy dtypes with others)."""
    return ir.TYPE_NAMES.get(spec.type, str(spec.dtype))


def is_quantized(spec: TensorSpec) -> bool:
    return spec.quant is not None and spec.quant.is_quantized


# ---------------------------------------------------------------- compiled tier
def compiled_ops_for(size: int):
    """kernels/compiled_ops.py if the compiled tier should run a float node with
    `size` output values (conv.compiled_tier decides), else None."""
    from edgelite.kernels.conv import compiled_tier
    if compiled_tier(size) is None:
        return None
    from edgelite.kernels import compiled_ops
    return compiled_ops


# ---------------------------------------------------------------- erf / erfc
# erfc(z) = exp(-z^2) * P((z - 2) / (z + 2)) for z >= 0, with P a degree-20
# polynomial interpolating erfc(z) * exp(z^2) at Chebyshev points of the mapped
# variable. The interpolated values come from math.erfc (scalar, once at import);
# evaluation is vectorized float64 Horner. Measured relative error of erfc on
# [0, 25]: < 1e-12 (float32 needs 6e-8).
_ERFC_MAP = 2.0
_ERFC_DEGREE = 20


def _erfc_scaled(z: float) -> float:
    """erfc(z) * exp(z^2), z >= 0 (asymptotic series where exp(z^2) overflows)."""
    if z < 25.0:
        return math.erfc(z) * math.exp(z * z)
    w = 1.0 / (2.0 * z * z)
    return (1.0 - w * (1.0 - 3.0 * w * (1.0 - 5.0 * w * (1.0 - 7.0 * w)))) / (z * math.sqrt(math.pi))


@functools.cache
def _erfc_coefficients() -> np.ndarray:
    """The fitted polynomial, made on first use (numpy.polynomial's import and the fit
    were ~10 ms of every cold start, GELU or not)."""
    n = _ERFC_DEGREE + 1
    nodes = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    z = _ERFC_MAP * (1.0 + nodes) / (1.0 - nodes)
    values = np.array([_erfc_scaled(float(v)) for v in z])
    cheb = np.polynomial.chebyshev.chebfit(nodes, values, _ERFC_DEGREE)
    return np.polynomial.chebyshev.cheb2poly(cheb)[::-1].copy()   # highest power first


class ErfcWorkspace:
    """Vectorized float64 erfc over arrays of up to `size` elements, writing into
    preallocated buffers (masked numpy operations are slow, so none are used)."""

    def __init__(self, size: int):
        self.a = np.zeros(size, np.float64)
        self.t = np.zeros(size, np.float64)
        self.sign = np.zeros(size, np.float64)

    def erfc(self, z: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out = erfc(z) for 1-D float64 z of at most `size` elements."""
        n = z.shape[0]
        a, t, sign = self.a[:n], self.t[:n], self.sign[:n]
        np.abs(z, out=a)
        np.add(a, _ERFC_MAP, out=t)
        np.divide(-2.0 * _ERFC_MAP, t, out=t)
        t += 1.0                                 # t = (|z| - 2) / (|z| + 2), 1 at infinity
        poly = _erfc_coefficients()
        out.fill(poly[0])
        for c in poly[1:]:
            out *= t
            out += c
        np.square(a, out=a)
        np.negative(a, out=a)
        np.exp(a, out=a)
        out *= a                                 # erfc(|z|)
        # erfc(z) = erfc(|z|) for z >= 0, 2 - erfc(|z|) below: s * e + (1 - s), s = +-1.
        np.copysign(1.0, z, out=sign)
        out *= sign
        np.subtract(1.0, sign, out=sign)
        out += sign
        return out


def erfc(z) -> np.ndarray:
    """erfc of an array (float64), for callers outside a kernel."""
    z = np.asarray(z, np.float64)
    flat = np.ascontiguousarray(z).reshape(-1)
    out = np.empty(flat.size, np.float64)
    ErfcWorkspace(flat.size).erfc(flat, out)
    return out.reshape(z.shape)


def erf(z) -> np.ndarray:
    return 1.0 - erfc(z)


# ---------------------------------------------------------------- the unary base
class Unary(Kernel):
    """y = f(x), same shape and type. Subclasses set `types` (TFLite type names
    handled here), `quantized` (types LiteRT runs as quantized kernels, not yet
    here), and implement `compute(x, out)`; `setup(ctx, x)` may add buffers."""

    types: tuple[str, ...] = ("FLOAT32",)
    quantized: tuple[str, ...] = ()

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x = ctx.input(0)
        out = ctx.outputs[0]
        name = type_name(x)
        if out is not None and type_name(out) != name:
            raise ctx.error(f"output has type {type_name(out)}, expected the input's type {name}",
                            out)
        if name in self.quantized and (is_quantized(x) or name != "INT16"):
            raise ctx.error(f"quantized {ctx.op_name} not supported yet", x)
        if name not in self.types:
            raise ctx.error(f"input type {name} is not supported (supported: "
                            f"{', '.join(self.types + self.quantized)})", x)
        ctx.set_output(0, x.shape, x.dtype)
        self.shape = x.shape
        self.setup(ctx, x)

    def setup(self, ctx: PrepareContext, x: TensorSpec) -> None:
        pass

    def invoke(self, ictx) -> None:
        # inf/NaN inputs are data, not errors: the interpreter runs invoke under
        # np.errstate(all="ignore") (a context here would cost ~1.5 us per node).
        self.compute(ictx.inputs[0], ictx.outputs[0])

    @abc.abstractmethod
    def compute(self, x: np.ndarray, out: np.ndarray) -> None:
        """Write op(x) into out."""


class UfuncUnary(Unary):
    """A numpy ufunc; float16 inputs are computed in float32 and rounded once."""

    ufunc = None

    def setup(self, ctx, x):
        self.buf = np.zeros(x.shape, np.float32) if x.dtype == np.float16 else None

    def compute(self, x, out):
        if self.buf is None:
            self.ufunc(x, out=out)
        else:
            np.copyto(self.buf, x)
            self.ufunc(self.buf, out=self.buf)
            np.copyto(out, self.buf, casting="same_kind")


# ---------------------------------------------------------------- plain maths
@register("ABS", versions=(1, 5))
class Abs(UfuncUnary):
    # int16 without quantization parameters is a plain integer abs in LiteRT.
    types = ("FLOAT32", "INT32", "INT16")
    quantized = ("INT8", "INT16")
    ufunc = np.abs


@register("NEG", versions=(1, 1))
class Neg(UfuncUnary):
    # LiteRT negates int8/int16 storage values as plain integers (wrapping -128 to
    # -128), whatever the quantization parameters say.
    types = ("FLOAT32", "FLOAT16", "INT32", "INT64", "INT8", "INT16")
    ufunc = np.negative

    def compute(self, x, out):
        negative(x, out)


@register("EXP", versions=(1, 2))
class Exp(UfuncUnary):
    quantized = ("INT8", "INT16")
    ufunc = np.exp


@register("LOG", versions=(1, 2))
class Log(UfuncUnary):
    quantized = ("INT8", "INT16")
    ufunc = np.log


@register("SQRT", versions=(1, 2))
class Sqrt(UfuncUnary):
    quantized = ("INT8", "INT16")
    ufunc = np.sqrt


@register("RSQRT", versions=(1, 3))
class Rsqrt(Unary):
    quantized = ("INT8", "INT16")

    def compute(self, x, out):
        np.sqrt(x, out=out)              # 1.f / std::sqrt(f): two roundings, like LiteRT
        np.reciprocal(out, out=out)


@register("SQUARE", versions=(1, 1))
class Square(UfuncUnary):
    ufunc = np.square


@register("SIN", versions=(1, 2))
class Sin(UfuncUnary):
    types = ("FLOAT32", "FLOAT16")
    ufunc = np.sin


@register("COS", versions=(1, 2))
class Cos(UfuncUnary):
    types = ("FLOAT32", "FLOAT16")
    ufunc = np.cos


@register("FLOOR", versions=(1, 1))
class Floor(UfuncUnary):
    types = ("FLOAT32", "FLOAT16")
    ufunc = np.floor


@register("CEIL", versions=(1, 1))
class Ceil(UfuncUnary):
    ufunc = np.ceil


@register("ROUND", versions=(1, 1))
class Round(UfuncUnary):
    # round.cc: halves to even (banker's rounding), like np.rint.
    types = ("FLOAT32", "FLOAT16")
    ufunc = np.rint


@register("SIGN", versions=(1, 2))
class Sign(UfuncUnary):
    # NaN stays NaN; np.sign(-0.0) is -0.0 where LiteRT gives +0.0 (equal values).
    types = ("FLOAT32", "FLOAT64", "INT32")
    ufunc = np.sign


# ---------------------------------------------------------------- activations
@register("LOGISTIC", versions=(1, 3))
class Logistic(Unary):
    # reference_ops::Logistic: 1 for x > 16.619047, exp(x) for x < -9, else
    # 1 / (1 + exp(-x)); XNNPACK (default) uses its own approximation.
    types = ("FLOAT32", "FLOAT16")
    quantized = QUANTIZED_TYPES
    UPPER = np.float32(16.619047164916992188)
    LOWER = np.float32(-9.0)
    _UPPER0, _LOWER0 = np.asarray(UPPER), np.asarray(LOWER)   # 0-d: cheapest ufunc scalars
    _ONE0 = np.asarray(np.float32(1.0))

    def setup(self, ctx, x):
        self.x32 = np.zeros(x.shape, np.float32) if x.dtype != np.float32 else None
        self.buf = np.zeros(x.shape, np.float32) if x.dtype != np.float32 else None
        self.e = np.zeros(x.shape, np.float32)
        self.low = np.zeros(x.shape, np.bool_)
        self.high = np.zeros(x.shape, np.bool_)

    def compute(self, x, out):
        # Masked ufuncs / copyto(where=) cost ~7 us each even on small arrays;
        # full-array ops plus np.putmask do the same selection for ~0.5 us each.
        if self.x32 is not None:
            np.copyto(self.x32, x)
            x = self.x32
        b = out if self.buf is None else self.buf
        np.less(x, self._LOWER0, out=self.low)
        np.greater(x, self._UPPER0, out=self.high)
        _clip(x, self._LOWER0, self._UPPER0, out=b)      # the replaced ends never overflow exp
        np.negative(b, out=b)
        np.exp(b, out=b)
        b += self._ONE0
        np.divide(self._ONE0, b, out=b)                 # (np.reciprocal is slower)
        np.putmask(b, self.high, self._ONE0)
        np.exp(x, out=self.e)
        np.putmask(b, self.low, self.e)
        if b is not out:
            np.copyto(out, b, casting="same_kind")


@register("TANH", versions=(1, 3))
class Tanh(UfuncUnary):
    types = ("FLOAT32", "FLOAT16")
    quantized = QUANTIZED_TYPES
    ufunc = np.tanh


class _Clamp(Unary):
    LOW: float | None = 0.0
    HIGH: float | None = None

    def setup(self, ctx, x):
        self.low = np.asarray(np.float32(self.LOW))
        self.high = None if self.HIGH is None else np.asarray(np.float32(self.HIGH))

    def compute(self, x, out):
        if self.high is None:
            b = bound_like(x, self.low)         # a same-shape bound: the SIMD loop
            np.maximum(x, self.low if b is None else b, out=out)
        else:
            _clip(x, self.low, self.high, out=out)


@register("RELU", versions=(1, 3))
class Relu(_Clamp):
    quantized = QUANTIZED_TYPES


@register("RELU6", versions=(1, 3))
class Relu6(_Clamp):
    quantized = QUANTIZED_TYPES
    HIGH = 6.0


@register("RELU_N1_TO_1", versions=(1, 1))
class ReluN1To1(_Clamp):
    quantized = ("INT8", "UINT8")
    LOW, HIGH = -1.0, 1.0


@register("RELU_0_TO_1", versions=(1, 1))
class Relu0To1(_Clamp):
    quantized = ("INT8", "UINT8")
    LOW, HIGH = 0.0, 1.0


@register("LEAKY_RELU", versions=(1, 2))
class LeakyRelu(Unary):
    # x > 0 ? x : x * alpha (alpha may be > 1 or negative, so not a max).
    quantized = QUANTIZED_TYPES

    def setup(self, ctx, x):
        alpha = getattr(ctx.options, "alpha", 0.0) if ctx.options is not None else 0.0
        self.alpha = np.float32(alpha)
        # For 0 <= alpha <= 1 the select is max(x, alpha x); for alpha > 1 it is
        # min(x, alpha x) (rounding is monotonic, so exact). Masked copies are slow.
        if 0.0 <= alpha <= 1.0:
            self.select = np.maximum
        elif alpha > 1.0:
            self.select = np.minimum
        else:
            self.select = None
            self.positive = np.zeros(x.shape, np.bool_)

    def compute(self, x, out):
        np.multiply(x, self.alpha, out=out)
        if self.select is not None:
            self.select(out, x, out=out)
        else:
            np.greater(x, 0.0, out=self.positive)
            np.copyto(out, x, where=self.positive)


@register("ELU", versions=(1, 1))
class Elu(Unary):
    # x < 0 ? expm1(x) : x.
    quantized = ("INT8",)

    def setup(self, ctx, x):
        self.buf = np.zeros(x.shape, x.dtype)

    def compute(self, x, out):
        # expm1(min(x, 0)) + max(x, 0): each side adds an exact zero.
        np.minimum(x, np.float32(0.0), out=out)
        np.expm1(out, out=out)
        np.maximum(x, np.float32(0.0), out=self.buf)
        out += self.buf


@register("HARD_SWISH", versions=(1, 1))
class HardSwish(Unary):
    # reference_ops::HardSwish: x * min(6, max(0, x + 3)) / 6.
    quantized = ("INT8", "UINT8")

    def setup(self, ctx, x):
        self.buf = np.zeros(x.shape, np.float32)

    def compute(self, x, out):
        b = self.buf
        np.add(x, np.float32(3.0), out=b)
        _clip(b, _F32_ZERO, _F32_SIX, out=b)
        np.multiply(x, b, out=out)
        out /= np.float32(6.0)


# Exact GELU in float32: x * Phi(x) = x / (1 + exp(-2 u(x))) with u(x) = x h(x^2),
# since Phi(x) = (1 + erf(x / sqrt(2))) / 2 = (1 + tanh(u)) / 2 for u = atanh(erf(x / sqrt(2))).
# h is a degree-6 polynomial fitted (weighted minimax, Lawson iterations, on
# x in [0, 6.5] with math.erfc as the truth) to atanh(erf(x / sqrt(2))) / x; the
# weight (1 - erf^2) x makes the fit error the error of Phi. Evaluated in float32
# (Horner, one exp, one divide): |error| <= 2.1e-7 * max(1, |gelu|) against the
# float64 definition over a dense grid (tests/kernels/test_speed_paths_float.py).
# h grows monotonically beyond the fit range (u(5.4) = 8.9, where 1 / (1 + exp(-2u))
# rounds to 1), so no clamping: exp overflows to inf for very negative x, giving
# x / inf = -0; NaN stays NaN; -inf gives NaN as 0.5 * x * erfc(-x / sqrt(2)) does.
GELU_H = (0.7978849414603766, 0.03633308457405303, -3.259497583963e-05,
          -5.530619354327362e-05, 3.964744377855388e-06, -1.322633356949816e-07,
          1.7561706176443729e-09)
_GELU_MINUS_2H = tuple(np.array(-2.0 * c, np.float32) for c in GELU_H)   # 0-d: fastest scalars
_F32_ONE = np.array(1.0, np.float32)


def gelu_float32(x: np.ndarray, out: np.ndarray, s: np.ndarray, h: np.ndarray) -> None:
    """out = exact GELU(x) for float32 1-D x, out, with scratch s, h of x's size."""
    k = _GELU_MINUS_2H
    np.multiply(x, x, out=s)
    np.multiply(s, k[6], out=h)
    for c in k[5:0:-1]:
        h += c
        h *= s
    h += k[0]
    h *= x                                   # -2 u(x)
    np.exp(h, out=h)
    h += _F32_ONE
    np.divide(x, h, out=out)


@register("GELU", versions=(1, 3))
class Gelu(Unary):
    # approximate: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) in the input's
    # float type; exact: float32 as gelu_float32 above, or the same formula in one
    # compiled pass (compiled_ops.gelu_f32) on the compiled tier (LiteRT: XNNPACK's rational
    # erf approximation by default, Eigen's float erfc in its built-in kernel);
    # float16 follows Eigen's half arithmetic: 0.5 x erfc(-x / sqrt(2)), every
    # operation rounded to half, erfc from a float64 evaluation.
    types = ("FLOAT32", "FLOAT16")
    quantized = QUANTIZED_TYPES
    SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

    BLOCK = 16384     # elements per pass: the buffers stay in cache

    def setup(self, ctx, x):
        self.approximate = bool(getattr(ctx.options, "approximate", False)) \
            if ctx.options is not None else False
        self.ft = x.dtype.type
        if self.approximate:
            self.buf = np.zeros(x.shape, x.dtype)
            return
        block = max(1, min(self.BLOCK, x.size))
        self.compiled = None
        if x.dtype == np.float32:
            compiled_ops = compiled_ops_for(x.size)
            if compiled_ops is not None:
                self.compiled = compiled_ops.gelu_f32
                self.bits = np.zeros(compiled_ops.CHUNK, np.int32)
                return
            self.s = np.zeros(block, np.float32)
            self.h = np.zeros(block, np.float32)
        else:
            self.buf = np.zeros(block, x.dtype)
            self.z = np.zeros(block, np.float64)
            self.e = np.zeros(block, np.float64)
            self.work = ErfcWorkspace(block)

    def compute(self, x, out):
        ft = self.ft
        if self.approximate:
            b = self.buf
            np.multiply(x, x, out=b)
            b *= x                                          # x^3
            b *= ft(0.044715)
            b += x
            b *= ft(self.SQRT_2_OVER_PI)
            np.tanh(b, out=b)
            b += ft(1.0)
            np.multiply(x, ft(0.5), out=out)
            out *= b
            return
        if not (x.flags.c_contiguous and out.flags.c_contiguous):
            # flat views below need contiguous arrays (the runtime's always are)
            tmp = np.empty(x.shape, x.dtype)
            self.compute(np.ascontiguousarray(x), tmp)
            np.copyto(out, tmp)
            return
        xf, of = x.reshape(-1), out.reshape(-1)
        if self.compiled is not None:
            self.compiled(xf, of, self.bits)
            return
        if ft is np.float32:
            s, h = self.s, self.h
            for start in range(0, xf.size, self.BLOCK):
                xb, ob = xf[start:start + self.BLOCK], of[start:start + self.BLOCK]
                n = xb.size
                gelu_float32(xb, ob, s[:n], h[:n])
            return
        b = self.buf
        for start in range(0, xf.size, self.BLOCK):
            xb, ob = xf[start:start + self.BLOCK], of[start:start + self.BLOCK]
            n = xb.size
            bb, z, e = b[:n], self.z[:n], self.e[:n]
            np.multiply(xb, ft(-1.0 / math.sqrt(2.0)), out=bb)  # rounded to the float type
            np.copyto(z, bb)
            self.work.erfc(z, e)
            np.copyto(bb, e, casting="same_kind")              # erfc rounded to the float type
            np.multiply(xb, ft(0.5), out=ob)
            ob *= bb


@register("PRELU", versions=(1, 1))
class Prelu(Kernel):
    # x >= 0 ? x : x * alpha, alpha broadcast against x; the broadcast shape must
    # be x's shape.
    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        x, alpha = ctx.input(0), ctx.input(1)
        name = type_name(x)
        if name in QUANTIZED_TYPES:
            raise ctx.error("quantized PRELU not supported yet", x)
        ctx.check(name == "FLOAT32", f"input type {name} is not supported (supported: FLOAT32)",
                  x)
        ctx.check(type_name(alpha) == "FLOAT32",
                  f"alpha has type {type_name(alpha)}, expected FLOAT32", alpha)
        try:
            shape = np.broadcast_shapes(x.shape, alpha.shape)
        except ValueError:
            raise ctx.error(f"alpha shape {list(alpha.shape)} does not broadcast against the "
                            f"input shape {list(x.shape)}", alpha) from None
        ctx.check(tuple(shape) == tuple(x.shape),
                  f"alpha shape {list(alpha.shape)} broadcasts the input {list(x.shape)} to "
                  f"{list(shape)}; the output must keep the input's shape", alpha)
        ctx.set_output(0, x.shape, np.float32)
        self.nonnegative = np.zeros(x.shape, np.bool_)

    @np.errstate(all="ignore")
    def invoke(self, ictx):
        x, alpha = ictx.inputs
        out = ictx.outputs[0]
        np.greater_equal(x, 0.0, out=self.nonnegative)
        np.multiply(x, alpha, out=out)
        np.copyto(out, x, where=self.nonnegative)


@register("ZEROS_LIKE", versions=(1, 1))
class ZerosLike(Unary):
    types = ("FLOAT32", "INT32", "INT64")

    def compute(self, x, out):
        out.fill(0)


# ---------------------------------------------------------------- CAST
CAST_TYPES = ("FLOAT32", "FLOAT16", "FLOAT64", "INT8", "UINT8", "INT16", "UINT16", "INT32",
              "UINT32", "INT64", "BOOL", "COMPLEX64")
CAST_FROM = CAST_TYPES
CAST_TO = tuple(t for t in CAST_TYPES if t != "UINT64")


@register("CAST", versions=(1, 9))
class Cast(Kernel):
    """cast.cc: integer <- float saturates (NaN -> the type's max, below min -> min,
    at or above max + 1 -> max, else truncation toward zero); integer <- integer
    wraps like a C static_cast; complex sources use their real part; float16
    results round once from float32 (so float64 -> float16 goes through float32)."""

    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        x = ctx.input(0)
        out = ctx.outputs[0]
        src, dst = type_name(x), type_name(out)
        ctx.check(src in CAST_FROM, f"cannot cast from {src} (supported: {', '.join(CAST_FROM)})",
                  x)
        ctx.check(dst in CAST_TO, f"cannot cast to {dst} (supported: {', '.join(CAST_TO)})", out)
        ctx.set_output(0, x.shape)
        self.src_complex = x.dtype.kind == "c" and out.dtype.kind != "c"
        self.src_float = x.dtype.kind in "fc"
        self.saturate = self.src_float and out.dtype.kind in "iu"
        # float16 / complex64 results are computed from float32 (static_cast<float> first).
        self.via_f32 = out.dtype in (np.float16, np.complex64) and x.dtype.kind in "iufc" \
            and x.dtype not in (np.float32, np.float16, np.complex64)
        if self.via_f32:
            self.f32 = np.zeros(x.shape, np.float32)
        if self.saturate:
            info = np.iinfo(out.dtype)
            self.int_min = info.min
            self.int_max = info.max
            # Smallest float64 >= max + 1 (a power of two), and the float64 below it.
            self.max_exclusive = float(info.max // 2 + 1) * 2.0
            self.clip_high = np.nextafter(self.max_exclusive, 0.0)
            self.buf = np.zeros(x.shape, np.float64)
            self.nan = np.zeros(x.shape, np.bool_)
            self.high = np.zeros(x.shape, np.bool_)

    @np.errstate(all="ignore")
    def invoke(self, ictx):
        x = ictx.inputs[0]
        out = ictx.outputs[0]
        if self.src_complex:
            x = x.real
        if self.saturate:
            b = self.buf
            np.copyto(b, x, casting="unsafe")
            np.isnan(b, out=self.nan)
            np.greater_equal(b, self.max_exclusive, out=self.high)
            self.high |= self.nan
            np.copyto(b, 0.0, where=self.nan)
            np.clip(b, float(self.int_min), self.clip_high, out=b)
            np.copyto(out, b, casting="unsafe")              # truncates toward zero
            np.copyto(out, self.int_max, where=self.high, casting="unsafe")
        elif self.via_f32:
            np.copyto(self.f32, x, casting="unsafe")
            np.copyto(out, self.f32, casting="unsafe")
        else:
            np.copyto(out, x, casting="unsafe")
