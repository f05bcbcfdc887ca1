"""gemmlowp fixed-point maths on int16 raw values (FixedPoint<std::int16_t, k>), vectorized.

The integer LSTM (lstm_eval.cc, portable_tensor_utils.cc ApplySigmoid / ApplyTanh)
evaluates gemmlowp::logistic and gemmlowp::tanh on int16 fixed-point values. The
int16 instantiation differs from the int32 one: every sum is narrowed to int16 (C
integer promotion then a narrowing cast, i.e. wrapping), the int32 constants are
rescaled with RescaleConstantInitializer (rounding division by 2^16), the doubling
high multiply divides by 2^15, and the last add of the exp polynomial saturates.

Values are numpy int64 arrays holding int16 values. `k` is the number of integer bits.
Also here: GetInvSqrtQuantizedMultiplierExp (common.h), vectorized over int32 inputs.
"""
from __future__ import annotations

import numpy as np

from edgelite.kernels.quant.arith import (
    INT32_MAX,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

I16_MIN, I16_MAX = -32768, 32767


def wrap16(x) -> np.ndarray:
    return ((np.asarray(x, np.int64) + 32768) & 0xFFFF) - 32768


def wrap32(x) -> np.ndarray:
    return ((np.asarray(x, np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def c_div(a, d: int) -> np.ndarray:
    """C division (truncation toward zero) by a positive constant."""
    a = np.asarray(a, np.int64)
    return np.where(a >= 0, a // d, -((-a) // d))


def constant16(int32_value: int) -> int:
    """RescaleConstantInitializer<int16>: RoundingDivideByPOT(v, 16)."""
    return int(rounding_divide_by_pot(np.int64(int32_value), 16))


def srdhm16(a, b) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul(int16, int16)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    r = wrap16(c_div_signed(ab + nudge, 1 << 15))
    return np.where((a == I16_MIN) & (b == I16_MIN), I16_MAX, r)


def c_div_signed(a, d: int) -> np.ndarray:
    a = np.asarray(a, np.int64)
    return np.where(a >= 0, a // d, -((-a) // d))


def mul_pot16(x, exponent: int) -> np.ndarray:
    """SaturatingRoundingMultiplyByPOT<exponent> on int16 values."""
    x = np.asarray(x, np.int64)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (15 - exponent)) - 1
    r = wrap16(x << exponent)
    r = np.where(x > threshold, I16_MAX, r)
    return np.where(x < -threshold, I16_MIN, r)


def _exp_quarter(a) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.15."""
    constant_term = constant16(1895147668)
    one_third = constant16(715827883)
    x = wrap16(a + (1 << 12))
    x2 = srdhm16(x, x)
    x3 = srdhm16(x2, x)
    x4 = srdhm16(x2, x2)
    x4_over_4 = mul_pot16(x4, -2)
    poly = mul_pot16(wrap16(srdhm16(wrap16(x4_over_4 + x3), one_third) + x2), -1)
    s = constant_term + srdhm16(constant_term, wrap16(x + poly))
    return np.clip(s, I16_MIN, I16_MAX)       # AddSaturatingIf16Bit


_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
           (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values16(a, k: int) -> np.ndarray:
    a = np.asarray(a, np.int64)
    frac = 15 - k
    quarter = 1 << (frac - 2)
    amq = wrap16((a & (quarter - 1)) - quarter)
    result = _exp_quarter(mul_pot16(amq, k))
    remainder = wrap16(amq - a)
    for exponent, multiplier in _BARREL:
        if k > exponent:
            bit = 1 << (frac + exponent)
            result = np.where((remainder & bit) != 0,
                              srdhm16(result, constant16(multiplier)), result)
    if k > 5:
        clamp = constant16(-(1 << (36 - k)))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, I16_MAX, result)


def _newton_reciprocal(a) -> np.ndarray:
    """The shared Newton-Raphson loop: x ~ 1 / (1 + a) in F2 (a in Q0.15)."""
    a = np.asarray(a, np.int64)
    s = a + I16_MAX
    half_den = wrap16(c_div_signed(s + np.where(s >= 0, 1, -1), 2))   # RoundingHalfSum
    c48 = constant16(1515870810)
    cn32 = constant16(-1010580540)
    x = wrap16(c48 + srdhm16(half_den, cn32))
    one_f2 = 1 << 13
    for _ in range(3):
        om = wrap16(one_f2 - srdhm16(half_den, x))
        x = wrap16(x + mul_pot16(srdhm16(x, om), 2))
    return x


def logistic16(a, k: int) -> np.ndarray:
    """gemmlowp::logistic(FixedPoint<int16, k>) -> Q0.15 raw values."""
    a = np.asarray(a, np.int64)
    pos = a > 0
    abs_a = np.where(pos, a, wrap16(-a))
    e = exp_on_negative_values16(wrap16(-abs_a), k)
    rp = mul_pot16(_newton_reciprocal(e), 1)      # Rescale<0>(ExactMulByPot<-1>(x))
    rn = wrap16(I16_MAX - rp)
    return np.where(a == 0, constant16(1 << 30), np.where(pos, rp, rn))


def tanh16(a, k: int) -> np.ndarray:
    """gemmlowp::tanh(FixedPoint<int16, k>) -> Q0.15 raw values."""
    a = np.asarray(a, np.int64)
    neg = a < 0
    n = np.where(neg, a, wrap16(-a))
    e = exp_on_negative_values16(n, k + 1)        # ExactMulByPot<1>
    t = mul_pot16(wrap16(_newton_reciprocal(e) - (1 << 13)), 2)
    return np.where(a == 0, 0, np.where(neg, wrap16(-t), t))


def _mul_pot32(x, exponent: int) -> np.ndarray:
    """SaturatingRoundingMultiplyByPOT<exponent> on int32 values (exponent > 0)."""
    x = np.asarray(x, np.int64)
    threshold = (1 << (31 - exponent)) - 1
    r = wrap32(x << exponent)
    r = np.where(x > threshold, INT32_MAX, r)
    return np.where(x < -threshold, -(1 << 31), r)


def inv_sqrt_multiplier_exp(values, reverse_shift: int) -> tuple[np.ndarray, np.ndarray]:
    """GetInvSqrtQuantizedMultiplierExp for each int32 value (>= 0)."""
    v = np.asarray(values, np.int64).copy()
    shift = np.full(v.shape, 11, np.int64)
    small = v <= 1
    v = np.where(small, 2, v)
    while np.any(v >= (1 << 29)):
        big = v >= (1 << 29)
        v = np.where(big, v // 4, v)
        shift += big
    _, e = np.frexp(v.astype(np.float64))           # v < 2^29: exact
    clz = 32 - e.astype(np.int64)
    pairs = (clz - 1) // 2 - 1
    shift -= pairs
    v = v << (2 * pairs)
    half_input = rounding_divide_by_pot(v >> 1, 1)
    half_three = (1 << 28) + (1 << 27)
    x = np.full(v.shape, 1 << 28, np.int64)           # F3 one
    srdhm = saturating_rounding_doubling_high_mul
    for _ in range(5):
        x3 = _mul_pot32(srdhm(srdhm(x, x), x), 6)
        x = _mul_pot32(wrap32(srdhm(half_three, x) - srdhm(half_input, x3)), 3)
    x = srdhm(x, 1518500250)
    neg = shift < 0
    x = np.where(neg, wrap32(x << np.where(neg, -shift, 0)), x)
    shift = np.where(neg, 0, shift)
    x = np.where(small, INT32_MAX, x)
    shift = np.where(small, 0, shift)
    return x, shift * reverse_shift


_TABLES: dict[tuple[str, int], np.ndarray] = {}


def table16(fn: str, k: int) -> np.ndarray:
    """The whole int16 domain of logistic16 / tanh16 at k integer bits, as an int64 table
    indexed by raw + 32768 (built once per process: an exact, fast lookup)."""
    key = (fn, k)
    t = _TABLES.get(key)
    if t is None:
        raw = np.arange(I16_MIN, I16_MAX + 1, dtype=np.int64)
        t = (logistic16 if fn == "logistic" else tanh16)(raw, k).astype(np.int64)
        t.setflags(write=False)
        _TABLES[key] = t
    return t
