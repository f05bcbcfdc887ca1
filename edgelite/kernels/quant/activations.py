"""Quantized activations and unary maths, bit-exact with LiteRT's reference kernels.

A unary op on an 8-bit or int16 tensor has at most 65,536 possible inputs, so
prepare evaluates LiteRT's per-element arithmetic once over every input value
(vectorized: LUTPopulate's float maths, the fixed-point formulas) and invoke
is one `np.take` on the storage bits (x viewed as uint8/uint16).

SOFTMAX (8-bit: gemmlowp's fixed-point exp and reciprocal, reference_ops::Softmax;
int16: the exp and 1/(1+x) LUTs of SoftmaxInt16) works per row: a table lookup
of exp(diff) by diff = x - row max, a row sum, a per-row reciprocal. LOG_SOFTMAX
(gemmlowp exp, fixed-point log) and L2_NORMALIZATION (inverse-sqrt multiplier of
the row's sum of squares) are row ops too; HARD_SWISH and int16 LOGISTIC/TANH
(interpolating the sigmoid table of fixedpoint.sigmoid_table_uint16) are tables.

Speed: 8-bit tables of 512+ (even) values are looked up two bytes at a time
(`pair_table`); 8-bit SOFTMAX runs all rows in a few int64 passes (closed-form
reciprocal, fused roundings: see QuantSoftmax._invoke_rows), few rows through
memoized per-sum tables; big nodes use compiled_qops (`lut1`, `softmax_q8`).
"""
from __future__ import annotations

import abc
import math

import numpy as np

from edgelite.kernels.base import Kernel
from edgelite.kernels.conv import compiled_tier, compiled_tier_if_loaded
from edgelite.kernels.quant import arith
from edgelite.kernels.quant import fixedpoint as fp
from edgelite.kernels.quant import fixedpoint16 as fp16
from edgelite.kernels.registry import register

I8, U8, I16 = np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16)
UNSIGNED = {I8: np.uint8, U8: np.uint8, I16: np.uint16}


def _has_quant(spec) -> bool:
    q = spec.quant
    return q is not None and q.scale is not None and q.scale.size > 0


def _params(ctx, spec, what: str) -> tuple[float, int]:
    if not _has_quant(spec):
        raise ctx.error(f"{what} must be quantized (it has no scale)", spec)
    return float(np.float32(spec.quant.scale[0])), spec.zero_point


def all_values(dtype) -> np.ndarray:
    """Every value of the type in storage-code order (index = value viewed unsigned)."""
    n = 256 if np.dtype(dtype).itemsize == 1 else 65536
    return np.arange(n, dtype=np.int64).astype(UNSIGNED[np.dtype(dtype)]).view(dtype) \
        .astype(np.int64)


def pair_table(table: np.ndarray) -> np.ndarray:
    """For a 256-entry byte table: the uint16 table mapping every pair of input bytes
    (read as a native uint16) to the pair of output bytes."""
    t = table.view(np.uint8)
    out = np.empty(1 << 16, np.uint16)
    # index v's bytes in memory: v & 255 first on a little-endian machine. Entry v is
    # [hi = v >> 8, lo = v & 255] of the [256, 256] grid; each output byte maps the
    # input byte in the same place: two broadcast copies (a gather of the 65,536 byte
    # pairs took ~0.2 ms at prepare)
    grid = out.view(np.uint8).reshape(256, 256, 2)
    lo_first = bool(np.array([1], np.uint16).view(np.uint8)[0])
    grid[:, :, 0 if lo_first else 1] = t[None, :]
    grid[:, :, 1 if lo_first else 0] = t[:, None]
    return out


class TableUnary(Kernel):
    """y = table[x]: subclasses implement `values(ctx, x, out, v) -> int64 outputs` for an
    int64 array v of input values (plus optional checks)."""
    TYPES = (I8, U8, I16)
    SAME_TYPE = True
    BAD_MESSAGE = ""

    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        x = ctx.input(0)
        out = ctx.outputs[0]
        if x.dtype not in self.TYPES:
            names = ", ".join(str(t) for t in self.TYPES)
            raise ctx.error(f"quantized {ctx.op_name} supports {names}, got {x.dtype}", x)
        if self.SAME_TYPE and out.dtype != x.dtype:
            raise ctx.error(f"output has type {out.dtype}, expected the input's {x.dtype}", out)
        ctx.set_output(0, x.shape, out.dtype)
        self.setup(ctx, x, out)
        v = all_values(x.dtype)
        r = np.asarray(self.values(v), dtype=np.int64)
        info = np.iinfo(out.dtype)
        self.table = np.clip(r, info.min, info.max).astype(out.dtype)
        self.code_type = UNSIGNED[x.dtype]
        self.bad_input = self.invalid(v)     # inputs that make LiteRT's invoke fail
        if self.bad_input is not None and not self.bad_input.any():
            self.bad_input = None
        self.kernel = self.pair_table = None
        self._bound = (None, None, None, None)
        size = int(np.prod(x.shape, dtype=np.int64))
        if size and compiled_tier(size) is not None:
            from edgelite.kernels import compiled_qops
            self.kernel = compiled_qops.lut1
        elif size >= self.PAIR_MIN and size % 2 == 0 and x.dtype.itemsize == 1 \
                and out.dtype.itemsize == 1:
            self.pair_table = pair_table(self.table)

    # 8-bit in and out, even sizes from this many values: the lookups go two bytes at a
    # time through a 65,536-entry table of byte pairs (half the gathers: ~2x faster)
    PAIR_MIN = 512

    def invalid(self, v: np.ndarray):
        """A boolean array over the values (same order) marking invalid inputs, or None."""
        return

    def setup(self, ctx, x, out) -> None:
        pass

    @abc.abstractmethod
    def values(self, v: np.ndarray) -> np.ndarray:
        """The op's output for every possible input code v (the lookup table)."""

    def invoke(self, ictx):
        x, out = ictx.inputs[0], ictx.outputs[0]
        codes = x.view(self.code_type)
        if self.bad_input is not None and self.bad_input.take(codes).any():
            raise ictx.error(self.BAD_MESSAGE)
        if self.kernel is not None or self.pair_table is not None:
            if x is not self._bound[0] or out is not self._bound[1]:
                flat = x.flags.c_contiguous and out.flags.c_contiguous
                self._bound = (x, out, codes.reshape(-1) if flat else None,
                               out.reshape(-1) if flat else None)
            if self._bound[2] is not None:
                if self.kernel is not None:
                    self.kernel(self._bound[2], self.table, self._bound[3])
                else:
                    self.pair_table.take(self._bound[2].view(np.uint16),
                                         out=self._bound[3].view(np.uint16), mode="clip")
                return
        self.table.take(codes, out=out, mode="clip")


def _needs_int16_zero(ctx, x, out):
    ctx.check(x.zero_point == 0, "int16 input must have zero point 0", x)
    ctx.check(out.zero_point == 0, "int16 output must have zero point 0", out)


# ---------------------------------------------------------------- float LUT ops
class _FloatLut(TableUnary):
    """LUTPopulate: dequantize, a float32 function, requantize (int16: the 513-entry
    interpolated table)."""

    @abc.abstractmethod
    def transform(self, xf: np.ndarray) -> np.ndarray:
        """The float function applied to dequantized inputs."""

    def setup(self, ctx, x, out):
        self.si, self.zi = _params(ctx, x, "input")
        self.so, self.zo = _params(ctx, out, "output")
        self.dtype = x.dtype
        if x.dtype == I16:
            self.lut513 = fp.lut_int16_513(self.si, self.zi, self.so, self.zo, self.transform)

    def values(self, v):
        if self.dtype == I16:
            return fp.lut_int16_lookup(v, self.lut513)
        return fp.lut_int8_values(self.si, self.zi, self.so, self.zo, self.transform,
                                  self.dtype)[v - np.iinfo(self.dtype).min]


def _f32(fn):
    return fp.f32(fn)


_erfc = np.frompyfunc(math.erfc, 1, 1)


def gelu_exact(x):
    x = np.asarray(x, np.float32)
    arg = (x * np.float32(-math.sqrt(0.5))).astype(np.float32)
    e = np.asarray(_erfc(arg.astype(np.float64)), np.float64).astype(np.float32)
    return ((np.float32(0.5) * x).astype(np.float32) * e).astype(np.float32)


def gelu_tanh(x):
    x = np.asarray(x, np.float32)
    k = np.float32(2.0 / math.sqrt(math.pi) * math.sqrt(0.5))
    cube = (((np.float32(0.044715) * x).astype(np.float32) * x).astype(np.float32)
            * x).astype(np.float32)
    inner = (k * (x + cube).astype(np.float32)).astype(np.float32)
    t = np.tanh(inner.astype(np.float64)).astype(np.float32)
    return ((np.float32(0.5) * x).astype(np.float32) * (np.float32(1) + t)).astype(np.float32)


@register("GELU", versions=(1, 2), variant="quantized")
class QuantGelu(_FloatLut):
    def setup(self, ctx, x, out):
        self.approximate = bool(getattr(ctx.options, "approximate", False)) \
            if ctx.options is not None else False
        super().setup(ctx, x, out)

    def transform(self, xf):
        return gelu_tanh(xf) if self.approximate else gelu_exact(xf)


def _sigmoid(x):
    x = np.asarray(x, np.float32)
    e = np.exp(-x.astype(np.float64)).astype(np.float32)
    return (np.float32(1) / (np.float32(1) + e).astype(np.float32)).astype(np.float32)


class _LogisticTanh(_FloatLut):
    """int8/uint8 through LUTPopulate. int16 (integer_ops::Logistic / Tanh): the input is
    rescaled so that 4096 * 3 steps are one unit (tanh: twice that, as tanh(x) =
    2 sigmoid(2x) - 1), then |x| indexes the 256-entry sigmoid table
    (fp.sigmoid_table_uint16, 1/24 per entry) with linear interpolation on the low
    bits; negative inputs use the symmetry."""
    TYPES = (I8, U8, I16)
    TABLE_SHIFT = 9        # low bits interpolated between table entries (tanh: 8)
    POT_SHIFTS = (0,)      # input_left_shift values taken as a power-of-two scale

    def setup(self, ctx, x, out):
        if x.dtype != I16:
            super().setup(ctx, x, out)
            return
        self.dtype = x.dtype
        self.si, self.zi = _params(ctx, x, "input")
        self.so, self.zo = _params(ctx, out, "output")
        _needs_int16_zero(ctx, x, out)
        is_pot, log2_out = fp.checked_log2(self.so)
        ctx.check(is_pot and log2_out == -15, "int16 output scale must be 1/32768", out)
        is_pot, log2_in = fp.checked_log2(self.si)
        shift = 12 + log2_in
        if is_pot and shift in self.POT_SHIFTS:
            self.mult, self.shift = 3 << shift, 0
        else:
            # Rescale to 1/(3 * 4096) per step, doubling while the multiplier stays
            # below 2^14 (at most 31 times); the multiplier is then truncated.
            multiplier = float(np.float32(self.si)) * 4096.0 * 3.0
            shift = 0
            while multiplier <= 32767.0 / 2.0 and shift <= 30:
                shift += 1
                multiplier *= 2.0
            self.mult, self.shift = int(multiplier), shift

    def scaled_input(self, v):
        rounding = (1 << (self.shift - 1)) if self.shift > 0 else 0
        return fp.wrap32(v * self.mult + rounding) >> self.shift

    def interpolate(self, magnitude):
        """(table[|x| >> s] << s) + frac * (next - table), and whether |x| saturates."""
        table = fp.sigmoid_table_uint16()
        bits = self.TABLE_SHIFT
        hi = magnitude >> bits
        saturated = hi >= 255
        hi = np.minimum(hi, 254)
        lo = table[hi]
        return (lo << bits) + (magnitude & ((1 << bits) - 1)) * (table[hi + 1] - lo), saturated


@register("LOGISTIC", versions=(1, 3), variant="quantized")
class QuantLogistic(_LogisticTanh):
    def setup(self, ctx, x, out):
        super().setup(ctx, x, out)
        if x.dtype == I16:
            ctx.check(self.so == 1.0 / 32768 and self.zo == 0,
                      "int16 output must have scale 1/32768 and zero point 0", out)
        else:
            ctx.check(self.so == 1.0 / 256, "output scale must be 1/256", out)

    def transform(self, xf):
        return _sigmoid(xf)

    def values(self, v):
        if self.dtype != I16:
            return super().values(v)
        x = self.scaled_input(v)
        r, saturated = self.interpolate(np.abs(x))
        r = np.where(saturated, 0x7FFF << 10, r)
        r = np.where(x >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
        return fp.wrap16(r >> 10)


@register("TANH", versions=(1, 3), variant="quantized")
class QuantTanh(_LogisticTanh):
    TABLE_SHIFT = 8
    POT_SHIFTS = (0, 1)

    def transform(self, xf):
        return np.tanh(np.asarray(xf, np.float64)).astype(np.float32)

    def values(self, v):
        if self.dtype != I16:
            return super().values(v)
        x = self.scaled_input(v)
        r, saturated = self.interpolate(np.abs(x))
        r = np.where(saturated, 0xFFFF << 8, r)
        r = np.where(x >= 0, r - (1 << 23) + (1 << 7), (1 << 23) - r + (1 << 7) - 1)
        return fp.wrap16(fp.wrap32(r) >> 8)


@register("LOG", versions=(1, 2), variant="quantized")
class QuantLog(_FloatLut):
    TYPES = (I8, I16)

    def setup(self, ctx, x, out):
        super().setup(ctx, x, out)
        if x.dtype == I16:
            _needs_int16_zero(ctx, x, out)

    def transform(self, xf):
        lo = -128 if self.dtype == I8 else -32768
        out_min = np.float32(np.float32(lo - self.zo) * np.float32(self.so))
        xf = np.asarray(xf, np.float32)
        with np.errstate(all="ignore"):
            r = np.log(np.where(xf > 0, xf, 1).astype(np.float64)).astype(np.float32)
        return np.where(xf <= 0, out_min, r).astype(np.float32)

    def prepare(self, ctx):
        super().prepare(ctx)


@register("EXP", versions=(1, 2), variant="quantized")
class QuantExp(_FloatLut):
    TYPES = (I8, I16)

    def transform(self, xf):
        return np.exp(np.asarray(xf, np.float64)).astype(np.float32)


@register("ELU", versions=(1, 1), variant="quantized")
class QuantElu(_FloatLut):
    TYPES = (I8,)

    def transform(self, xf):
        xf = np.asarray(xf, np.float32)
        em1 = np.expm1(xf.astype(np.float64)).astype(np.float32)
        return np.where(xf < 0, em1, xf).astype(np.float32)


# ---------------------------------------------------------------- integer maths
def _mbqm(x, m, s):
    return arith.multiply_by_quantized_multiplier(x, m, s)


class _ReluBase(TableUnary):
    LOW: float = 0.0
    HIGH: float = math.inf

    def setup(self, ctx, x, out):
        si, zi = _params(ctx, x, "input")
        so, zo = _params(ctx, out, "output")
        if x.dtype == I16:
            _needs_int16_zero(ctx, x, out)
        self.m, self.s = arith.quantize_multiplier(float(np.float32(si / np.float32(so))))
        info = np.iinfo(x.dtype)

        def q(v):
            r = np.float32(np.float32(v) / np.float32(so))
            return zo + int(math.copysign(math.floor(abs(float(r)) + 0.5), float(r)))
        self.lo = max(int(info.min), q(self.LOW))
        self.hi = int(info.max) if self.HIGH == math.inf else min(int(info.max), q(self.HIGH))
        self.zi, self.zo = zi, zo

    def values(self, v):
        return np.clip(self.zo + _mbqm(v - self.zi, self.m, self.s), self.lo, self.hi)


@register("RELU", versions=(1, 3), variant="quantized")
class QuantRelu(_ReluBase):
    pass


@register("RELU6", versions=(1, 3), variant="quantized")
class QuantRelu6(_ReluBase):
    HIGH = 6.0


@register("RELU_N1_TO_1", versions=(1, 1), variant="quantized")
class QuantReluN1To1(_ReluBase):
    TYPES = (I8, U8)
    LOW, HIGH = -1.0, 1.0


@register("RELU_0_TO_1", versions=(1, 1), variant="quantized")
class QuantRelu0To1(_ReluBase):
    TYPES = (I8, U8)
    HIGH = 1.0


@register("LEAKY_RELU", versions=(1, 2), variant="quantized")
class QuantLeakyRelu(TableUnary):
    def setup(self, ctx, x, out):
        si, zi = _params(ctx, x, "input")
        so, zo = _params(ctx, out, "output")
        if x.dtype == I16:
            _needs_int16_zero(ctx, x, out)
        alpha = float(np.float32(getattr(ctx.options, "alpha", 0.0) or 0.0)) \
            if ctx.options is not None else 0.0
        real_alpha = float(np.float32(np.float32(np.float32(si) * np.float32(alpha))
                                      / np.float32(so)))
        self.ma, self.sa = arith.quantize_multiplier(real_alpha)
        self.mi, self.s_i = arith.quantize_multiplier(float(np.float32(si / np.float32(so))))
        self.zi, self.zo = zi, zo

    def values(self, v):
        d = v - self.zi
        ident = _mbqm(d, self.mi, self.s_i)
        scaled = _mbqm(d, abs(self.ma), self.sa)
        alpha = -scaled if self.ma < 0 else scaled
        return self.zo + np.where(d >= 0, ident, alpha)


@register("ABS", versions=(1, 5), variant="quantized")
class QuantAbs(TableUnary):
    TYPES = (I8, I16)

    def setup(self, ctx, x, out):
        self.plain = x.dtype == I16 and not _has_quant(x)
        if self.plain:
            return
        si, zi = _params(ctx, x, "input")
        so, zo = _params(ctx, out, "output")
        if x.dtype == I16:
            _needs_int16_zero(ctx, x, out)
        self.rescale = si != so
        self.m, self.s = arith.quantize_multiplier(float(np.float32(si / np.float32(so))))
        self.zi, self.zo = zi, zo
        self.dtype = x.dtype

    def values(self, v):
        if self.plain:
            return fp.wrap16(np.abs(v))
        a = np.abs(v - self.zi)
        if self.rescale:
            return _mbqm(a, self.m, self.s) + self.zo
        return a + self.zo


@register("SQRT", versions=(1, 2), variant="quantized")
class QuantSqrt(TableUnary):
    """Float maths per element; the result is truncated (a C cast), not rounded."""
    TYPES = (I8, I16)
    BAD_MESSAGE = "SQRT is only defined for non-negative values"

    def setup(self, ctx, x, out):
        self.si, self.zi = _params(ctx, x, "input")
        self.so, self.zo = _params(ctx, out, "output")

    def dequantized(self, v):
        return (np.float32(self.si) * (v - self.zi).astype(np.float32)).astype(np.float32)

    def invalid(self, v):
        return self.dequantized(v) < 0

    def values(self, v):
        deq = self.dequantized(v)
        r = np.sqrt(np.maximum(deq, 0).astype(np.float64)).astype(np.float32)
        return fp.float_to_int32((r / np.float32(self.so)).astype(np.float32)) + self.zo


_RSQRT_DATA8: list = []


def _rsqrt_data8() -> np.ndarray:
    """MultiplyByQuantizedMultiplier(1, GetInvSqrtQuantizedMultiplierExp(d, -1), shift +
    20) for d = 0..255 (entry 0 is d = 2's, as the array form's placeholder for d <= 0):
    the part of 8-bit RSQRT's table that no quantization parameter changes."""
    if not _RSQRT_DATA8:
        d = np.arange(256, dtype=np.int64)
        inv, shift = fp.inv_sqrt_quantized_multiplier_exp_array(np.where(d > 0, d, 2), -1)
        _RSQRT_DATA8.append(_mbqm(np.ones_like(d), inv, shift + 20))
    return _RSQRT_DATA8[0]


@register("RSQRT", versions=(1, 3), variant="quantized")
class QuantRsqrt(TableUnary):
    """int8: GetInvSqrtQuantizedMultiplierExp per value; int16: LUTPopulate."""
    TYPES = (I8, I16)
    BAD_MESSAGE = "RSQRT is only defined for positive values"

    def setup(self, ctx, x, out):
        self.si, self.zi = _params(ctx, x, "input")
        self.so, self.zo = _params(ctx, out, "output")
        self.dtype = x.dtype
        if x.dtype == I16:
            _needs_int16_zero(ctx, x, out)
            so = self.so

            def fn(xf):
                xf = np.asarray(xf, np.float32)
                safe = np.where(xf > 0, xf, 1).astype(np.float64)
                r = (np.float32(1) / np.sqrt(safe).astype(np.float32)).astype(np.float32)
                return np.where(xf <= 0, np.float32(32767 * np.float32(so)), r)
            self.lut513 = fp.lut_int16_513(self.si, self.zi, self.so, self.zo, fn)
        else:
            # 1. / (std::sqrt(float) * float): float maths, widened at the division.
            denom = np.float32(np.sqrt(np.float32(self.si)) * np.float32(self.so))
            self.m, self.s = arith.quantize_multiplier(1.0 / float(denom))

    def invalid(self, v):
        return v < 0 if self.dtype == I16 else v < self.zi

    def values(self, v):
        if self.dtype == I16:
            return fp.lut_int16_lookup(v, self.lut513)
        # every value at once (fixedpoint's array form of the per-value steps); the
        # first two steps depend on d = v - zi alone (0 < d <= 255): their 256 results
        # are made once per process (~0.3 ms of numpy steps per node otherwise)
        d = np.asarray(v, np.int64) - self.zi
        pos = d > 0
        data = _rsqrt_data8()[np.where(pos, d, 0)]
        res = _mbqm(data, self.m, self.s - 20) + self.zo
        return np.where(pos, res, np.where(d == 0, 127, 0)).astype(np.int64)


# ---------------------------------------------------------------- SOFTMAX
@register("SOFTMAX", versions=(1, 3), variant="quantized")
class QuantSoftmax(Kernel):
    """reference_ops::Softmax (8-bit in; 8-bit or int16 out) and SoftmaxInt16."""

    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        x = ctx.input(0)
        out = ctx.outputs[0]
        ctx.check(len(x.shape) >= 1, "input must have at least one dimension", x)
        allowed = {I8: (I8, I16), U8: (U8,), I16: (I16,)}
        if x.dtype not in allowed:
            raise ctx.error(f"quantized SOFTMAX supports int8, uint8, int16, got {x.dtype}", x)
        if out.dtype not in allowed[x.dtype]:
            raise ctx.error(f"output type {out.dtype} is not supported for a {x.dtype} input",
                            out)
        si, zi = _params(ctx, x, "input")
        so, zo = _params(ctx, out, "output")
        if x.dtype == I8 and out.dtype == I8:
            ctx.check(zo == -128, "int8 output zero point must be -128", out)
            ctx.check(abs(so - 1 / 256) <= 0.001 / 256, "int8 output scale must be 1/256", out)
        if out.dtype == I16:
            ctx.check(zo == 0, "int16 output zero point must be 0", out)
            ctx.check(abs(so - 1 / 32768) <= 0.001 / 32768, "int16 output scale must be "
                      "1/32768", out)
        beta = float(np.float32(getattr(ctx.options, "beta", 1.0))) \
            if ctx.options is not None else 1.0
        ctx.set_output(0, x.shape, out.dtype)
        self.int16 = x.dtype == I16
        self.fast = None
        self.out_min = int(np.iinfo(out.dtype).min)
        self.out_max = int(np.iinfo(out.dtype).max)
        if self.int16:
            ctx.check(zi == 0, "int16 input zero point must be 0", x)
            self.exp_lut = fp.lut_int16_513(10.0 / 65535, 32767, 2.0 / 65535, 0,
                                            np.exp, np.float64)
            self.recip_lut = fp.lut_int16_513(1.0 / 65535, -32768, 2.0 / 65535, 0,
                                              lambda v: 1.0 / (1.0 + v), np.float64)
            m, s = arith.quantize_multiplier(si * beta / (10.0 / 65535.0))
            d = -np.arange(65536, dtype=np.int64)           # diff = -index
            scaled = arith.multiply_by_quantized_multiplier(d, m, s) + 32767
            self.exp_table = fp.lut_int16_lookup(np.clip(scaled, -32768, 32767),
                                                 self.exp_lut)
            return
        real = min(beta * si * float(1 << 26), float((1 << 31) - 1))
        m, shift = arith.quantize_multiplier(real)
        radius = math.floor(31.0 * (1 << 26) / (1 << shift))
        d = -np.arange(256, dtype=np.int64)
        rescaled = arith.saturating_rounding_doubling_high_mul(fp.wrap32(d << shift), m)
        e0 = fp.exp_on_negative_values(rescaled, 5)
        valid = d >= -radius
        self.e0_table = np.where(valid, e0, 0)
        self.acc_table = np.where(valid, fp.rescale(e0, 0, 12), 0)
        self.valid_table = valid
        self.out_bits = 8 * out.dtype.itemsize
        self.out_dtype = out.dtype
        self.row_tables = {}
        n = int(x.shape[-1])
        rows = int(np.prod(x.shape[:-1], dtype=np.int64))
        if 0 < n and n << 19 < 1 << 31 and rows > 0:
            # Every row sum is in [2^19, 2^31) (the row max contributes exp(0) = 2^19 in
            # Q12.19): no int32 wrap, a positive reciprocal (fp.get_reciprocal_positive).
            self.fast = n << 19 < 1 << 28
            self.acc32 = self.acc_table.astype(np.int32)
            self.rows, self.n = rows, n
            self._bound = (None, None, None, None)
            self.kernel = None
            # (a few rows, e.g. a classifier's output, once numba is loaded anyway: one
            # compiled call instead of ~5 us of Python and numpy calls)
            tier = compiled_tier(rows * n) if rows > self._FEW_ROWS else \
                compiled_tier_if_loaded(rows * n)
            if tier is not None:
                from edgelite.kernels import compiled_qops
                self.kernel = compiled_qops.softmax_q8
                self.e0_64 = np.ascontiguousarray(self.e0_table, np.int64)
                self.acc_64 = np.ascontiguousarray(self.acc_table, np.int64)
                self.row_idx = np.zeros(n, np.uint64)
                return
            # One short row (a classifier's output): the row max and exp sum in Python
            # ints over the row's list (fewer calls than four numpy passes), then one
            # subtraction and one take of the memoized per-sum table.
            self.acc_list = self.acc32.tolist() if rows == 1 and n <= self._SHORT_ROW else None
            self.s_max = ctx.request_scratch((rows, 1), x.dtype)
            self.s_idx = ctx.request_scratch((rows, n), np.intp)
            self.s_tot = ctx.request_scratch((rows,), np.int32)
            self.acc_pairs = None
            if rows > self._FEW_ROWS:
                self.s_idx8 = ctx.request_scratch((rows, n), np.uint8)
                self.s_p = ctx.request_scratch((rows, n), np.int64)
                if n % 2 == 0:
                    # row sums two diffs at a time: byte pairs of idx index a table of
                    # acc[i] + acc[j] (half the gathers)
                    # (entry v = acc[v & 255] + acc[v >> 8]: the outer sum, row v >> 8,
                    # not a gather of 65,536 byte pairs, ~1.7 ms at prepare)
                    a32 = np.asarray(self.acc32, np.int32)
                    self.acc_pairs = np.add(a32[:, None], a32[None, :]).reshape(-1)
            self.s_acc = ctx.request_scratch((rows, n // 2 if self.acc_pairs is not None else n),
                                             np.int32)

    # Few rows (a classifier's output): each row's outputs are a 256-entry table of
    # idx = row max - x that depends only on the row's exp sum, memoized per sum (the
    # same fixed-point functions on all 256 indices at once: bit-identical).
    _FEW_ROWS = 8
    _SHORT_ROW = 64
    _MAX_TABLES = 4096

    def _row_table(self, total: int) -> np.ndarray:
        table = self.row_tables.get(total)
        if table is None and 0 < total < 1 << 31:
            # the reciprocal in Python ints, then the numpy tier's fused or two-step
            # rounding over the 256 entries (e0 = 0 beyond the radius gives out_min)
            scale, num_bits = fp.get_reciprocal_scalar(total, 12)
            exponent = num_bits + 31 - self.out_bits
            if exponent + 31 <= 62:
                r = scale * self.e0_table
                r += (1 << 30) + (1 << (exponent + 30))
                r >>= exponent + 31
            else:
                r = (scale * self.e0_table + (1 << 30)) >> 31
                r += 1 << (exponent - 1)
                r >>= exponent
            np.minimum(r, self.out_max - self.out_min, out=r)
            r += self.out_min
            table = r.astype(self.out_dtype)
            if len(self.row_tables) < self._MAX_TABLES:
                self.row_tables[total] = table
        elif table is None:                  # a wrapped sum (rows of 4096+ values)
            scale, num_bits = fp.get_reciprocal(np.array([total], np.int64), 12)
            exponent = num_bits + 31 - self.out_bits
            prod = arith.saturating_rounding_doubling_high_mul(scale, self.e0_table)
            r = arith.rounding_divide_by_pot(prod, exponent) + self.out_min
            table = np.where(self.valid_table, np.clip(r, self.out_min, self.out_max),
                             self.out_min).astype(self.out_dtype)
            if len(self.row_tables) < self._MAX_TABLES:
                self.row_tables[total] = table
        return table

    def _invoke_few_rows(self, x: np.ndarray, out: np.ndarray) -> None:
        n = x.shape[-1]
        x2 = x.reshape(-1, n)
        idx = x2.max(axis=1, keepdims=True).astype(np.int64) - x2
        totals = fp.wrap32(self.acc_table[idx].sum(axis=1)).tolist()
        out2 = out.reshape(-1, n)
        for r, total in enumerate(totals):
            np.copyto(out2[r], self._row_table(total)[idx[r]], casting="unsafe")

    def _invoke_rows(self, ictx) -> None:
        """All rows at once: idx = row max - x, the Q12.19 exp sums, each row's reciprocal,
        then out = min(RoundingDivideByPOT(SRDHM(scale, exp(-idx)), e), out range) +
        out_min in int64 passes. SRDHM(s, v) for s, v >= 0 is (s * v + 2^30) >> 31 and
        RoundingDivideByPOT(q >= 0, e) is (q + 2^(e-1)) >> e; floor(floor(A / 2^31) / 2^e)
        = floor(A / 2^(31+e)) folds them into one add and one shift while the row sum is
        below 2^28 (then 31 + e <= 62). Dropped exps (beyond the input radius) have
        e0 = 0 and give out_min, as the reference's select does."""
        x, out = ictx.inputs[0], ictx.outputs[0]
        if x is not self._bound[0] or out is not self._bound[1]:
            self._bound = (x, out, x.reshape(self.rows, self.n), out.reshape(self.rows, self.n))
        _, _, x2, out2 = self._bound
        if self.kernel is not None:
            self.kernel(x2, self.e0_64, self.acc_64, out2, self.out_bits, self.out_min,
                        self.out_max, self.fast, self.row_idx)
            return
        sc = ictx.scratch
        if self.acc_list is not None:
            xs = x2.tolist()[0]
            m = max(xs)
            accl = self.acc_list
            total = sum([accl[m - v] for v in xs])       # < n * 2^19 < 2^31: no wrap
            idx = sc[self.s_idx]
            np.subtract(m, x2, out=idx, dtype=np.intp)
            self._row_table(total).take(idx, out=out2)
            return
        mx, idx, acc, tot = sc[self.s_max], sc[self.s_idx], sc[self.s_acc], sc[self.s_tot]
        np.maximum.reduce(x2, axis=1, keepdims=True, out=mx)
        if self.rows <= self._FEW_ROWS:
            np.subtract(mx, x2, out=idx, dtype=np.intp)
            self.acc32.take(idx, out=acc)
            np.add.reduce(acc, axis=1, out=tot)
            for r, total in enumerate(tot.tolist()):
                self._row_table(total).take(idx[r], out=out2[r])
            return
        # row max - x is in [0, 255]: exact in wrapping uint8 arithmetic on the storage
        # bytes, then widened (cheaper than subtracting in intp).
        idx8 = sc[self.s_idx8]
        np.subtract(mx.view(np.uint8), x2.view(np.uint8), out=idx8)
        np.copyto(idx, idx8)
        if self.acc_pairs is not None:
            self.acc_pairs.take(idx8.view(np.uint16), out=acc)
        else:
            self.acc32.take(idx, out=acc)
        np.add.reduce(acc, axis=1, out=tot)
        scale, num_bits = fp.get_reciprocal_positive(tot, 12)
        exponent = num_bits + (31 - self.out_bits)
        p = sc[self.s_p]
        self.e0_table.take(idx, out=p)
        p *= scale[:, None]
        if self.fast:
            p += ((np.int64(1) << 30) + (np.int64(1) << (exponent + 30)))[:, None]
            p >>= (exponent + 31)[:, None]
        else:
            p += 1 << 30
            p >>= 31
            p += (np.int64(1) << (exponent - 1))[:, None]
            p >>= exponent[:, None]
        np.minimum(p, self.out_max - self.out_min, out=p)
        np.add(p, self.out_min, out=out2, casting="unsafe")

    def invoke(self, ictx):
        if not self.int16 and self.fast is not None and ictx.inputs[0].flags.c_contiguous \
                and ictx.outputs[0].flags.c_contiguous:
            self._invoke_rows(ictx)
            return
        if not self.int16 and ictx.outputs[0].flags.c_contiguous and \
                ictx.inputs[0].size <= self._FEW_ROWS * ictx.inputs[0].shape[-1]:
            if ictx.inputs[0].size:
                self._invoke_few_rows(ictx.inputs[0], ictx.outputs[0])
            return
        x = ictx.inputs[0].astype(np.int64)
        out = ictx.outputs[0]
        if x.size == 0:
            return
        idx = x.max(axis=-1, keepdims=True) - x               # -(x - row max) >= 0
        if self.int16:
            e = self.exp_table[idx]
            total = fp.wrap32(e.sum(axis=-1, keepdims=True))
            headroom_plus_one = fp.count_leading_zeros32(total)
            shifted = fp.wrap32((((total & 0xFFFFFFFF) << (headroom_plus_one - 1))
                                 + (1 << 13)) >> 14)
            sym = np.clip(shifted - ((1 << 15) + (1 << 16)), -32768, 32767)
            recip = fp.lut_int16_lookup(sym, self.recip_lut)
            right = 31 - headroom_plus_one
            r = (e * recip + (np.int64(1) << (right - 1))) >> right
            np.copyto(out, np.clip(r, 0, 32767), casting="unsafe")
            return
        total = fp.wrap32(self.acc_table[idx].sum(axis=-1, keepdims=True))
        scale, num_bits = fp.get_reciprocal(total, 12)
        exponent = num_bits + 31 - self.out_bits
        prod = arith.saturating_rounding_doubling_high_mul(scale, self.e0_table[idx])
        r = arith.rounding_divide_by_pot(prod, exponent) + self.out_min
        r = np.where(self.valid_table[idx], np.clip(r, self.out_min, self.out_max),
                     self.out_min)
        np.copyto(out, r, casting="unsafe")


# ---------------------------------------------------------------- HARD_SWISH
def _int16_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier then DownScaleInt32ToInt16Multiplier (rounded to 16 bits)."""
    m, e = arith.quantize_multiplier(real)
    return (32767 if m >= arith.INT32_MAX - (1 << 15) else (m + (1 << 15)) >> 16), e


@register("HARD_SWISH", versions=(1, 1), variant="quantized")
class QuantHardSwish(TableUnary):
    """reference_ops::HardSwish (8-bit): x * relu6(x + 3) / 6 in 16-bit fixed point. The
    input goes to a "hires" scale (x 128), a rounding high multiply takes it to the output
    scale, a second multiplier maps [-3, 3] to [-1, 1] (saturating), shifted to [0, 1],
    and a non-rounding doubling high multiply forms the product."""
    TYPES = (I8, U8)

    def setup(self, ctx, x, out):
        si, self.zi = _params(ctx, x, "input")
        so, self.zo = _params(ctx, out, "output")
        hires = np.float32(np.float32(1.0 / 128.0) * np.float32(si))
        self.om, self.oe = _int16_multiplier(float(np.float32(hires / np.float32(so))))
        ctx.check(self.oe <= 0, "input scale / (128 * output scale) must be below 1 "
                  f"(output multiplier exponent {self.oe} > 0)", out)
        reluish_scale = np.float32(3.0 / 32768.0)
        self.rm, self.re = _int16_multiplier(float(np.float32(hires / reluish_scale)))
        self.lo, self.hi = arith.dtype_range(out.dtype)

    def values(self, v):
        hires = fp16.wrap16((v - self.zi) * 128)
        on_output_scale = fp16.srdhm16(hires, self.om)
        reluish = hires
        if self.re > 0:
            reluish = fp.saturating_left_shift16(reluish, self.re - 1)
        reluish = fp16.srdhm16(reluish, self.rm)
        if self.re > 0:
            reluish = fp.saturating_left_shift16(reluish, 1)
        if self.re < 0:
            reluish = fp.rounding_divide_by_pot16(reluish, -self.re)
        reluish = (reluish + (1 << 15)) >> 1
        product = fp.doubling_high_mul16(reluish, on_output_scale)
        r = fp16.wrap16(fp.rounding_divide_by_pot16(product, -self.oe) + self.zo)
        return np.clip(r, self.lo, self.hi)


# ---------------------------------------------------------------- LOG_SOFTMAX
_LOG_SOFTMAX_ZP = {I8: 127, U8: 255}         # type -> the output zero point LiteRT requires
_L2_NORM_ZP = {I8: 0, U8: 128}
@register("LOG_SOFTMAX", versions=(1, 2), variant="quantized")
class QuantLogSoftmax(Kernel):
    """reference_ops::LogSoftmax (uint8) / reference_integer_ops::LogSoftmax (int8): per
    row over the last axis, diff = x - row max on a Q5.26 scale (beta 1), the sum of
    gemmlowp exps in Q12.19, its fixed-point log, output (diff - log) on scale 16/256.
    Diffs below the input radius are dropped from the sum; outputs whose result would
    leave the Q5.26 range are the minimum."""

    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        x, out = ctx.input(0), ctx.outputs[0]
        if x.dtype not in _LOG_SOFTMAX_ZP:
            raise ctx.error(f"quantized LOG_SOFTMAX supports int8, uint8, got {x.dtype}", x)
        ctx.check(out.dtype == x.dtype, f"output has type {out.dtype}, expected {x.dtype}",
                  out)
        ctx.check(len(x.shape) >= 1, "input must have at least one dimension", x)
        si, _ = _params(ctx, x, "input")
        so, zo = _params(ctx, out, "output")
        ctx.check(so == 16.0 / 256, f"output scale must be 16/256, got {so:g}", out)
        ctx.check(zo == _LOG_SOFTMAX_ZP[x.dtype],
                  f"output zero point must be {_LOG_SOFTMAX_ZP[x.dtype]}, got {zo}", out)
        ctx.set_output(0, x.shape, x.dtype)
        real = min(si * float(1 << 26), float((1 << 31) - 1))
        m, left_shift = arith.quantize_multiplier(real)
        ctx.check(left_shift >= 1, f"input scale {si:g} is too small for the Q5.26 diff "
                  "scale (multiplier below 2)", x)
        self.rev_m, rev_shift = arith.quantize_multiplier((1 << (31 - left_shift)) / m)
        self.rev_shift = rev_shift                           # <= 0
        self.diff_min = -math.floor(31.0 * (1 << 26) / (1 << left_shift))
        d = -np.arange(256, dtype=np.int64)                 # diff = -index
        self.q5_table = arith.multiply_by_quantized_multiplier(d, m, left_shift)
        e = fp.rescale(fp.exp_on_negative_values(self.q5_table, 5), 0, 12)
        self.exp_table = np.where(d >= self.diff_min, e, 0)
        self.diff_table = d
        self.zo = zo
        self.lo, self.hi = arith.dtype_range(x.dtype)

    def invoke(self, ictx):
        x = ictx.inputs[0]
        out = ictx.outputs[0]
        if x.size == 0:
            return
        xi = x.astype(np.int64)
        idx = xi.max(axis=-1, keepdims=True) - xi
        total = fp.wrap32(self.exp_table[idx].sum(axis=-1, keepdims=True))
        log_sum = fp.log_x_for_x_greater_than_or_equal_to_1(total, 12, 5)
        adjusted = np.maximum(self.diff_min - 1, arith.multiply_by_quantized_multiplier(
            fp.wrap32(log_sum + arith.INT32_MIN), self.rev_m, self.rev_shift))
        r = arith.rounding_divide_by_pot(fp.wrap32(self.q5_table[idx] - log_sum), 22) + self.zo
        r = np.where(self.diff_table[idx] > adjusted, np.clip(r, self.lo, self.hi), self.lo)
        np.copyto(out, r, casting="unsafe")


# ---------------------------------------------------------------- L2_NORMALIZATION
@register("L2_NORMALIZATION", versions=(1, 2), variant="quantized")
class QuantL2Normalization(Kernel):
    """reference_ops (uint8) / reference_integer_ops (int8) L2Normalization: per row over
    the last axis, the integer sum of squares gives an inverse-sqrt multiplier
    (GetInvSqrtQuantizedMultiplierExp); outputs on scale 1/128."""

    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        x, out = ctx.input(0), ctx.outputs[0]
        if x.dtype not in _L2_NORM_ZP:
            raise ctx.error(f"quantized L2_NORMALIZATION supports int8, uint8, got {x.dtype}",
                            x)
        ctx.check(out.dtype == x.dtype, f"output has type {out.dtype}, expected {x.dtype}",
                  out)
        ctx.check(len(x.shape) >= 1, "input must have at least one dimension", x)
        act = int(getattr(ctx.options, "fusedActivationFunction", 0) or 0) \
            if ctx.options is not None else 0
        ctx.check(act == 0, f"fused activation {act} is not supported (LiteRT requires NONE)")
        _, self.zi = _params(ctx, x, "input")
        so, zo = _params(ctx, out, "output")
        ctx.check(so == 1.0 / 128, f"output scale must be 1/128, got {so:g}", out)
        ctx.check(zo == _L2_NORM_ZP[x.dtype],
                  f"output zero point must be {_L2_NORM_ZP[x.dtype]}, got {zo}", out)
        ctx.set_output(0, x.shape, x.dtype)
        self.int8 = x.dtype == I8
        self.lo, self.hi = arith.dtype_range(x.dtype)

    def invoke(self, ictx):
        x = ictx.inputs[0]
        out = ictx.outputs[0]
        if x.size == 0:
            return
        d = x.astype(np.int64) - self.zi
        acc = fp.wrap32(np.einsum("...i,...i->...", d, d))[..., None]
        m, shift = fp16.inv_sqrt_multiplier_exp(acc, -1)
        if self.int8:
            r = arith.multiply_by_quantized_multiplier(d, m, shift + 7)
        else:
            r = arith.multiply_by_quantized_multiplier_smaller_than_one_exp(128 * d, m, shift) \
                + 128
        np.copyto(out, np.clip(r, self.lo, self.hi), casting="unsafe")
