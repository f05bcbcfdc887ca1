"""gemmlowp fixed-point maths and LiteRT's lookup-table builders, vectorized.

Every function takes int32 values held in numpy int64 arrays (or Python ints)
and returns int64 arrays holding the int32 results of the C code, wrapping
where C wraps. A FixedPoint<int32, k> value is represented by its raw int32;
k (the integer bits) is a Python argument.

Used by the quantized activations (softmax's exp and reciprocal, rsqrt, the
int16 logistic/tanh) and to build the tables that turn every int8/uint8/int16
unary op into one lookup (`full_table`).
"""
from __future__ import annotations

import math

import numpy as np

from edgelite.kernels.quant.arith import (
    INT32_MAX,
    INT32_MIN,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

srdhm = saturating_rounding_doubling_high_mul


def i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap32(x) -> np.ndarray:
    """int32 wraparound of int64 values (C's int32 arithmetic on x86)."""
    x = i64(x)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def wrap16(x) -> np.ndarray:
    x = i64(x)
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def c_div(a, b) -> np.ndarray:
    """C integer division (truncates toward zero)."""
    a, b = i64(a), i64(b)
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q)


def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent> on int32 values."""
    x = i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    r = wrap32(x << exponent)
    r = np.where(x > threshold, INT32_MAX, r)
    return np.where(x < -threshold, INT32_MIN, r)


def saturating_rounding_multiply_by_pot16(x, exponent: int) -> np.ndarray:
    """The int16 flavour of SaturatingRoundingMultiplyByPOT."""
    x = i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (15 - exponent)) - 1
    r = wrap16(x << exponent)
    r = np.where(x > threshold, 32767, r)
    return np.where(x < -threshold, -32768, r)


def rescale(x, src_bits: int, dst_bits: int) -> np.ndarray:
    """gemmlowp Rescale<dst_bits>(FixedPoint<int32, src_bits>)."""
    return saturating_rounding_multiply_by_pot(x, src_bits - dst_bits)


def one(integer_bits: int) -> int:
    return INT32_MAX if integer_bits == 0 else 1 << (31 - integer_bits)


def constant_pot(integer_bits: int, exponent: int) -> int:
    return 1 << (31 - integer_bits + exponent)


def rounding_half_sum(a, b) -> np.ndarray:
    s = i64(a) + i64(b)
    return c_div(s + np.where(s >= 0, 1, -1), 2)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), a and result in Q0.31."""
    constant_term = 1895147668
    constant_1_over_3 = 715827883
    x = wrap32(i64(a) + constant_pot(0, -3))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(
        wrap32(srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), -1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """gemmlowp exp_on_negative_values(FixedPoint<int32, integer_bits> a) -> Q0.31."""
    a = i64(a)
    frac_bits = 31 - integer_bits
    one_quarter = constant_pot(integer_bits, -2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = wrap32((a & mask) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (frac_bits + exponent)
            result = np.where((remainder & bit) != 0, srdhm(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits)) if integer_bits < 36 else 0
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, one(0), result)


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out)."""
    half_denominator = rounding_half_sum(a, one(0))
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    x = wrap32(constant_48_over_17 + srdhm(half_denominator, constant_neg_32_over_17))
    one_f2 = one(2)
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus = wrap32(one_f2 - half_denominator_times_x)
        x = wrap32(x + rescale(srdhm(x, one_minus), 4, 2))
    # Rescale<0>(ExactMulByPot<-1>(x)): ExactMulByPot relabels the raw value as Q1.30
    # (no shift), so the result is x * 2, saturated (not (x >> 1) * 4, which drops
    # x's low bit: 2 units off for odd x; tests/kernels/test_quant_elementwise.py's
    # all-pairs DIV found it)
    return rescale(x, 1, 0)


def count_leading_zeros32(x) -> np.ndarray:
    """CountLeadingZeros of uint32 values (32 for 0)."""
    u = i64(x) & 0xFFFFFFFF
    n = np.full(u.shape, 32, dtype=np.int64)
    nz = u > 0
    # floor(log2) exactly via frexp on float64 (exact for integers < 2^53).
    _, e = np.frexp(np.where(nz, u, 1).astype(np.float64))
    return np.where(nz, 32 - e.astype(np.int64), n)


def count_leading_sign_bits32(x) -> np.ndarray:
    """CountLeadingSignBits of int32 values (gcc's __builtin_clrsb; 31 for 0)."""
    x = i64(x)
    pos = count_leading_zeros32(x) - 1
    neg = count_leading_zeros32(np.where(x < 0, 2 * (-x) - 1, 1))
    r = np.where(x >= 0, pos, np.where(x == INT32_MIN, 0, neg))
    return np.where(x == 0, 31, r)


def get_reciprocal(x, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """common.h GetReciprocal: (Q0.31 reciprocal scale, num_bits_over_unit)."""
    x = i64(x)
    headroom_plus_one = count_leading_zeros32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted = (((x & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31)) & 0xFFFFFFFF
    shifted_sum_minus_one = wrap32(shifted)
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def get_reciprocal_positive(x, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """get_reciprocal for int32 x in [1, 2^31), in a few int64 passes (softmax's row sums).

    The same arithmetic with the case analysis done once: SaturatingRoundingDoublingHighMul
    is (a * b + 2^30) >> 31 for every sign (C's truncating division of ab + nudge equals
    this floor division), its only saturating case (INT32_MIN * INT32_MIN) cannot occur
    (half_denominator is in [2^30, 2^31), x stays positive); RoundingHalfSum(a, one) of
    the shifted sum is x << (31 - bit_length(x)); and over all 2^31 inputs of
    one_over_one_plus_x_for_x_in_0_1 the Newton correction stays within (-2^29, 2^29)
    and x within (0, 2^31) (checked exhaustively), so its Rescale<2> never saturates and
    the int32 additions never wrap. tests/kernels/test_speed_paths_quant_ops.py compares
    it with get_reciprocal."""
    x = i64(x)
    bit_length = np.frexp(x.astype(np.float64))[1].astype(np.int64)
    num_bits_over_unit = bit_length + (x_integer_digits - 32)
    half_denominator = x << (31 - bit_length)
    r = half_denominator * -1010580540               # constant_neg_32_over_17
    r += 1 << 30
    r >>= 31
    r += 1515870810                                  # constant_48_over_17
    t = np.empty_like(r)
    for _ in range(3):
        np.multiply(half_denominator, r, out=t)
        t += 1 << 30
        t >>= 31
        np.subtract(1 << 29, t, out=t)              # one(2) - half_denominator * x
        t *= r
        t += 1 << 30
        t >>= 31
        t <<= 2
        r += t
    r <<= 1                                          # Rescale<0>(ExactMulByPot<-1>(r))
    np.minimum(r, INT32_MAX, out=r)
    return r, num_bits_over_unit


def get_reciprocal_scalar(x: int, x_integer_digits: int) -> tuple[int, int]:
    """get_reciprocal_positive for one Python int x in [1, 2^31) (the same closed-form
    arithmetic; Python's >> floors like numpy's on int64)."""
    bit_length = x.bit_length()
    half_denominator = x << (31 - bit_length)
    r = ((half_denominator * -1010580540 + (1 << 30)) >> 31) + 1515870810
    for _ in range(3):
        t = (1 << 29) - ((half_denominator * r + (1 << 30)) >> 31)
        r += ((t * r + (1 << 30)) >> 31) * 4
    return min(r * 2, INT32_MAX), bit_length + (x_integer_digits - 32)


def inv_sqrt_quantized_multiplier_exp(value: int, reverse_shift: int) -> tuple[int, int]:
    """common.h GetInvSqrtQuantizedMultiplierExp for one int32 value."""
    if value <= 1:
        return INT32_MAX, 0
    shift = 11
    while value >= (1 << 29):
        value //= 4
        shift += 1
    max_left_shift_bits = int(count_leading_zeros32(value)) - 1
    left_shift_bit_pairs = max_left_shift_bits // 2 - 1
    shift -= left_shift_bit_pairs
    value <<= 2 * left_shift_bit_pairs
    fixed_input = value >> 1                                    # F3
    half_input = int(saturating_rounding_multiply_by_pot(fixed_input, -1))
    half_three = (1 << 28) + (1 << 27)
    x = one(3)
    for _ in range(5):
        x3 = int(rescale(srdhm(srdhm(x, x), x), 9, 3))
        x = int(rescale(wrap32(srdhm(half_three, x) - srdhm(half_input, x3)), 6, 3))
    x = int(srdhm(x, 1518500250))
    if shift < 0:
        x = int(wrap32(x << -shift))
        shift = 0
    return x, shift * reverse_shift


def inv_sqrt_quantized_multiplier_exp_array(values, reverse_shift: int):
    """inv_sqrt_quantized_multiplier_exp over an array of int32 values at once (the
    same steps, each per element): (multipliers, shifts) as int64 arrays."""
    v = i64(values).copy()
    small = v <= 1
    v[small] = 2
    shift = np.full(v.shape, 11, np.int64)
    big = v >= (1 << 29)                # one division by 4 brings any int32 below 2^29
    v[big] //= 4
    shift += big
    pairs = (count_leading_zeros32(v) - 1) // 2 - 1
    shift -= pairs
    v <<= 2 * pairs
    half_input = saturating_rounding_multiply_by_pot(v >> 1, -1)
    half_three = (1 << 28) + (1 << 27)
    x = np.full(v.shape, one(3), np.int64)
    for _ in range(5):
        x3 = rescale(srdhm(srdhm(x, x), x), 9, 3)
        x = rescale(wrap32(srdhm(half_three, x) - srdhm(half_input, x3)), 6, 3)
    x = i64(srdhm(x, 1518500250))
    neg = shift < 0
    x = np.where(neg, wrap32(x << np.where(neg, -shift, 0)), x)
    shift = np.where(neg, 0, shift)
    return np.where(small, INT32_MAX, x), np.where(small, 0, shift) * reverse_shift


# ------------------------------------------------------------------ float LUTs
def lut_int8_values(input_scale: float, input_zp: int, output_scale: float, output_zp: int,
                    fn, dtype) -> np.ndarray:
    """LUTPopulateInt8: the output for every input value of the 8-bit type, in input
    order (index 0 = the type's minimum). `fn` maps a float32 array to float32."""
    info = np.iinfo(dtype)
    vals = np.arange(info.min, info.max + 1, dtype=np.int64)
    deq = (np.float32(input_scale) * (vals - input_zp).astype(np.float32)).astype(np.float32)
    with np.errstate(all="ignore"):
        tr = np.asarray(fn(deq), dtype=np.float32)
        inv = np.float32(1.0) / np.float32(output_scale)
        rescaled = round_half_away_f32((tr * inv).astype(np.float32))
        q = (rescaled + np.float32(output_zp)).astype(np.float32)
    q = float_to_int32(q)
    return np.clip(q, info.min, info.max).astype(np.int64)


def lut_int16_513(input_scale: float, input_zp: int, output_scale: float, output_zp: int,
                  fn, float_type=np.float32) -> np.ndarray:
    """LUTPopulateInt16: the 513-entry interpolation table (as int64)."""
    ft = float_type
    in_min = ft(ft(input_scale) * ft(-32768 - input_zp))
    in_max = ft(ft(input_scale) * ft(32767 - input_zp))
    out_min = ft(ft(output_scale) * ft(-32768 - output_zp))
    out_max = ft(ft(output_scale) * ft(32767 - output_zp))
    nb_steps = 512
    step = ft((in_max - in_min) / ft(nb_steps))
    half_step = ft(step / ft(2))
    scaling_inv = ft(ft(65536) / ft(out_max - out_min))
    i = np.arange(nb_steps, dtype=float_type)
    with np.errstate(all="ignore"):
        x0 = (in_min + (i * step).astype(ft)).astype(ft)
        xm = (x0 + half_step).astype(ft)
        x1 = (in_min + ((i + 1) * step).astype(ft)).astype(ft)
        val = np.asarray(fn(x0), ft)
        val_mid = np.asarray(fn(xm), ft)
        val_next = np.asarray(fn(x1), ft)
        sample = round_half_away_f32((val * scaling_inv).astype(ft))
        interp = round_half_away_f32(
            (((val_next * scaling_inv).astype(ft) + sample).astype(ft) / ft(2)).astype(ft))
        mid = round_half_away_f32((val_mid * scaling_inv).astype(ft))
        err = (interp - mid).astype(ft)
        bias = round_half_away_f32((err / ft(2)).astype(ft))
        lut = np.clip((sample - bias).astype(ft), -32768, 32767)
        last = np.asarray(fn(np.asarray([in_max], ft)), ft)
        last = np.clip(round_half_away_f32((last * scaling_inv).astype(ft)), -32768, 32767)
        table = np.concatenate([lut, last])
    # A NaN entry (inf - inf where the function overflows the output scale) passes
    # LiteRT's min / max and its static_cast<int16_t> gives 0 on x86 (the low half of
    # cvttss2si's 0x80000000)
    table[np.isnan(table)] = 0
    return table.astype(np.int64)


def lut_int16_lookup(values, lut513: np.ndarray) -> np.ndarray:
    """LUTLookup(int16 value, lut) with its 7-bit linear interpolation; the slope, the
    delta and the sum are int16 there, so each wraps (a table that jumps from one end of
    the output range to the other, where the function overflows it, interpolates
    through the wrap)."""
    v = i64(values)
    index = 256 + (v >> 7)
    offset = v & 0x7F
    base = lut513[index]
    slope = wrap16(lut513[index + 1] - base)          # int16 in LiteRT: wraps
    return wrap16(base + wrap16((slope * offset + 64) >> 7))


def round_half_away_f32(x: np.ndarray) -> np.ndarray:
    """roundf: halves away from zero, in the array's float type."""
    t = np.trunc(x)
    return t + np.where(np.abs(x - t) >= 0.5, np.sign(x), 0).astype(x.dtype)


def float_to_int32(x: np.ndarray) -> np.ndarray:
    """static_cast<int32_t>(float) as LiteRT's build behaves (measured on EXP's LUT):
    out-of-range values saturate (+inf -> INT32_MAX), NaN gives INT32_MIN."""
    x = np.asarray(x, np.float64)
    nan = np.isnan(x)
    r = np.trunc(np.clip(np.where(nan, 0, x), INT32_MIN, INT32_MAX))
    return np.where(nan, INT32_MIN, r).astype(np.int64)


def f32(fn_double):
    """Lift a float64 maths function to float32 in/out (rounded once, like a
    correctly rounded libm float function)."""
    def g(x):
        return np.asarray(fn_double(np.asarray(x, np.float64)), np.float64).astype(np.float32)
    return g


def checked_log2(x: float) -> tuple[bool, int]:
    """CheckedLog2 (float maths): (x is a power of two within 1e-3 in log2, rounded log2)."""
    x_log2 = np.float32(np.float32(math.log(np.float32(x))) * np.float32(1.0 / math.log(2.0)))
    rounded = np.float32(math.copysign(math.floor(abs(float(x_log2)) + 0.5), float(x_log2)))
    return bool(abs(np.float32(x_log2 - rounded)) < np.float32(1e-3)), int(rounded)


# ------------------------------------------------------------------ int16 sigmoid table
def sigmoid_table_uint16() -> np.ndarray:
    """The 256-entry table LiteRT's int16 LOGISTIC/TANH interpolate linearly: entry k
    samples 65536 * sigmoid(k / 24) on [0, 10.625], lowered by half of the linear
    interpolation's error at the interval's midpoint (so the chord's error is split
    between the knots and the middle), rounded to nearest; the last entry is the
    saturated value 65535, so interpolation joins the kernels' saturation branch.
    Derived here from that rule (float64 maths; every entry is >= 0.004 away from a
    rounding tie) and checked against all 65,536 int16 inputs of both ops in
    tests/kernels/test_quant_activations.py."""
    k = np.arange(255, dtype=np.float64)

    def scaled(x):
        return 65536.0 / (1.0 + np.exp(-x / 24.0))
    at, nxt, mid = scaled(k), scaled(k + 1), scaled(k + 0.5)
    half_chord_error = ((at + nxt) / 2 - mid) / 2
    table = np.floor(at - half_chord_error + 0.5).astype(np.int64)
    return np.append(table, 65535)


# ------------------------------------------------------------------ logarithm
def saturating_rounding_multiply_by_pot_param(x, exponent) -> np.ndarray:
    """common.h SaturatingRoundingMultiplyByPOTParam for exponents >= 0 (arrays allowed):
    a left shift saturating to int32."""
    x, e = i64(x), i64(exponent)
    threshold = (np.int64(1) << (31 - e)) - 1
    r = wrap32(x << e)
    r = np.where(x > threshold, INT32_MAX, r)
    return np.where(x < -threshold, INT32_MIN, r)


def saturating_add32(a, b) -> np.ndarray:
    return np.clip(i64(a) + i64(b), INT32_MIN, INT32_MAX)


def saturating_sub32(a, b) -> np.ndarray:
    return np.clip(i64(a) - i64(b), INT32_MIN, INT32_MAX)


def log_x_for_x_greater_than_or_equal_to_1(x, input_integer_bits: int,
                                           output_integer_bits: int) -> np.ndarray:
    """common.h log_x_for_x_greater_than_or_equal_to_1_impl: ln(x) for a
    FixedPoint<int32, input_integer_bits> x >= 1, as FixedPoint<int32, output_integer_bits>
    (a rational approximation around sqrt(sqrt(2)), the exponent taken from the
    leading-zero count)."""
    log_2, sqrt_sqrt_half, sqrt_half = 1488522236, 1805811301, 1518500250
    alpha_n, alpha_d, alpha_i, alpha_f = 117049297, 127690142, 1057819769, 638450708
    accum_bits = output_integer_bits + 1
    shifted_quarter = int(rescale(536870912, 0, accum_bits))
    z_a = i64(x)
    z_a_headroom_plus_1 = count_leading_zeros32(z_a)
    r_a_tmp = saturating_rounding_multiply_by_pot_param(z_a, z_a_headroom_plus_1 - 1)
    r_a = saturating_rounding_multiply_by_pot_param(srdhm(r_a_tmp, sqrt_half), 1)
    z_a_pow_2_adj = saturating_add32(saturating_rounding_multiply_by_pot_param(
        input_integer_bits - z_a_headroom_plus_1, 31 - accum_bits), shifted_quarter)
    z_b = srdhm(z_a, sqrt_half)
    z_b_headroom = count_leading_zeros32(z_b) - 1
    r_b = saturating_rounding_multiply_by_pot_param(z_a, z_b_headroom)
    z_b_pow_2_adj = saturating_sub32(saturating_rounding_multiply_by_pot_param(
        input_integer_bits - z_b_headroom, 31 - accum_bits), shifted_quarter)
    r = np.minimum(r_a, r_b)
    z_pow_2_adj = np.maximum(z_a_pow_2_adj, z_b_pow_2_adj)
    p = rounding_half_sum(r, sqrt_sqrt_half)
    q = wrap32(r - sqrt_sqrt_half)
    q = wrap32(q + q)
    common_sq = srdhm(q, q)
    num = wrap32(srdhm(q, r) + srdhm(srdhm(q, common_sq), alpha_n))
    denom_minus_one = wrap32(srdhm(p, wrap32(wrap32(alpha_i + q) + srdhm(alpha_d, common_sq)))
                             + srdhm(alpha_f, q))
    recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one)
    num_scaled = rescale(num, 0, accum_bits)
    total = wrap32(srdhm(z_pow_2_adj, log_2) + srdhm(num_scaled, recip_denom))
    return rescale(total, accum_bits, output_integer_bits)


# ------------------------------------------------------------------ int16 helpers
def rounding_divide_by_pot16(x, exponent: int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT on int16 values: the mask (1 << exponent) - 1 is
    narrowed to int16 (so -1 from exponent 16 on, where a non-negative x gives 1)."""
    x = i64(x)
    mask = int(wrap16((1 << exponent) - 1))
    threshold = wrap16((mask >> 1) + (x < 0))
    return wrap16((x >> exponent) + ((x & mask) > threshold))


def saturating_left_shift16(x, amount: int) -> np.ndarray:
    return np.clip(i64(x) * (1 << amount), -32768, 32767)


def doubling_high_mul16(a, b) -> np.ndarray:
    """hard_swish.h SaturatingDoublingHighMul: a * b / 2^15 truncated, saturating only
    -32768 * -32768."""
    a, b = i64(a), i64(b)
    r = wrap16(c_div(a * b, 1 << 15))
    return np.where((a == -32768) & (b == -32768), 32767, r)
