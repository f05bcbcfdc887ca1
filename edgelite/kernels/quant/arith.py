"""TFLite's integer arithmetic, vectorized over numpy int64.

Bit-exact with LiteRT's reference kernels as built by default (double
rounding; TFLITE_SINGLE_ROUNDING off). Traps when porting from C (STYLE.md):
C integer division truncates toward zero, `//` floors; TfLiteRound rounds
halves away from zero, np.round to even; `x * (1 << left)` wraps in int32.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def tflite_round(x):
    """TfLiteRound / std::round: halves away from zero (scalar or array)."""
    if isinstance(x, np.ndarray):
        # float64: in float32, |x| + 0.5 rounds 0.49999997 up to 1.
        x64 = x.astype(np.float64)
        return np.sign(x64) * np.floor(np.abs(x64) + 0.5)
    return float(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(tflite_round(q * (1 << 31)))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return q_fixed, shift


def quantize_multiplier_array(reals) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel QuantizeMultiplier: (int64 multipliers, int64 shifts), vectorized and
    equal to quantize_multiplier on every element: np.frexp is C's frexp, q * 2^31 is
    exact (a power-of-two scaling), and |q| * 2^31 + 0.5 is exact too (|q| * 2^31 <
    2^31 leaves 22 bits below the point), so sign * floor(|x| + 0.5) is TfLiteRound."""
    r = np.asarray(reals, np.float64).ravel()
    q, shift = np.frexp(r)
    x = np.ldexp(q, 31)
    if (r > 0).all():
        # every scale positive (the usual case): floor(x + 0.5), and the two corrections
        # only when some value needs them (~half the numpy calls of the general form)
        m = np.floor(x + 0.5).astype(np.int64)
        shift = shift.astype(np.int64)
        top = m == (1 << 31)
        if top.any():
            m = np.where(top, m // 2, m)
            shift = np.where(top, shift + 1, shift)
        small = shift < -31
        if small.any():
            m = np.where(small, 0, m)
            shift = np.where(small, 0, shift)
        return m, shift
    m = (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)
    shift = shift.astype(np.int64)
    top = m == (1 << 31)
    m = np.where(top, m // 2, m)
    shift = np.where(top, shift + 1, shift)
    small = shift < -31
    m = np.where(small, 0, m)
    shift = np.where(small, 0, shift)
    zero = r == 0.0
    return np.where(zero, 0, m), np.where(zero, 0, shift)


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: (multiplier, left_shift <= 0)."""
    return quantize_multiplier(real)


def _wrap_int32(x: np.ndarray) -> np.ndarray:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values held in int64."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    # gemmlowp adds 2^30 (ab >= 0) or 1 - 2^30 (ab < 0) and divides by 2^31
    # truncating toward zero; for every integer ab that equals floor((ab + 2^30) / 2^31),
    # one add and one arithmetic shift (tests check it against the definition).
    q = a * b
    q += 1 << 30
    q >>= 31
    # The one saturating case, INT32_MIN * INT32_MIN; the multiplier side is checked
    # first (it is a scalar or per-channel array, and never INT32_MIN in practice).
    if np.any(b == INT32_MIN) and np.any(a == INT32_MIN):
        q = np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)
    return q


def rounding_divide_by_pot(x, exponent):
    """gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    # gemmlowp: (x >> e) + (remainder > (mask >> 1) + (x < 0)). Equal to
    # floor((x + 2^(e-1) - [x < 0]) / 2^e) for e >= 1 (and to x for e == 0), which
    # is one add and one shift (tests check it against the definition).
    half = (np.int64(1) << exponent) >> 1
    neg = x < 0
    if exponent.ndim == 0:
        if not exponent:
            return x.copy()
        return (x + half - neg) >> exponent
    return (x + half - (neg & (exponent > 0))) >> exponent


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """MultiplyByQuantizedMultiplier(int32 x, int32 multiplier, int shift), double rounding.

    `multiplier` and `shift` may be arrays broadcasting against x (per-channel).
    Returns int64 holding int32 values.
    """
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    xs = _wrap_int32(x << left) if np.any(left) else x
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(xs, multiplier), right)


def multiply_by_quantized_multiplier_int64(x, multiplier, shift):
    """MultiplyByQuantizedMultiplier(int64 x, int32 multiplier, int shift) (int16 kernels)."""
    x = np.asarray(x, dtype=np.int64)
    multiplier = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    reduced = np.where(multiplier < 0x7FFF0000, (multiplier + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - shift
    r = x * reduced + (np.int64(1) << (total - 1))
    return _wrap_int32(r >> total)


def multiply_by_quantized_multiplier_smaller_than_one_exp(x, multiplier, left_shift):
    """RoundingDivideByPOT(SRDHM(x, m), -left_shift), left_shift <= 0."""
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier),
                                  -np.asarray(left_shift, np.int64))


def multiply_by_quantized_multiplier_greater_than_one(x, multiplier, left_shift):
    x = np.asarray(x, dtype=np.int64)
    return saturating_rounding_doubling_high_mul(_wrap_int32(x << np.int64(left_shift)), multiplier)


def dtype_range(dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def quantized_activation_range(activation: int, scale: float, zero_point: int,
                               dtype) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: clamp bounds for a fused activation."""
    qmin, qmax = dtype_range(dtype)

    def q(v: float) -> int:
        return zero_point + int(tflite_round(v / scale))
    if activation == 1:      # RELU
        return max(qmin, q(0.0)), qmax
    if activation == 3:      # RELU6
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == 2:      # RELU_N1_TO_1
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    return qmin, qmax


def quantize(x: np.ndarray, scale, zero_point, dtype) -> np.ndarray:
    """Reference float -> int quantization: round half away from zero, clamp."""
    lo, hi = dtype_range(dtype)
    q = tflite_round(np.asarray(x, np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, lo, hi).astype(dtype)
