"""The integer core against a straightforward scalar transcription of TFLite's C."""
import math

import numpy as np
import pytest

from edgelite.kernels.quant import arith


def _c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _wrap32(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


def srdhm_scalar(a: int, b: int) -> int:
    if a == b == -(2**31):
        return 2**31 - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _c_div(ab + nudge, 1 << 31)


def rdbpot_scalar(x: int, e: int) -> int:
    mask = (1 << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if rem > thr else 0)


def mbqm_scalar(x: int, m: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    return rdbpot_scalar(srdhm_scalar(_wrap32(x * (1 << left)), m), right)


@pytest.mark.parametrize("seed", range(5))
def test_multiply_by_quantized_multiplier_matches_scalar(seed):
    rng = np.random.default_rng(seed)
    xs = np.concatenate([rng.integers(-2**31, 2**31, 300), [0, 1, -1, 2**31 - 1, -2**31]])
    for _ in range(20):
        real = float(np.exp(rng.uniform(-20, 3)))
        m, s = arith.quantize_multiplier(real)
        got = arith.multiply_by_quantized_multiplier(xs, m, s)
        want = [mbqm_scalar(int(x), m, s) for x in xs]
        assert got.tolist() == want


def test_quantize_multiplier_represents_real():
    for real in [1e-9, 0.0003, 0.25, 0.5, 0.999999999, 1.0, 1.5, 123.0]:
        m, s = arith.quantize_multiplier(real)
        assert 2**30 <= m < 2**31
        assert math.isclose(m * 2.0 ** (s - 31), real, rel_tol=1e-9)
    assert arith.quantize_multiplier(0.0) == (0, 0)
    assert arith.quantize_multiplier(1e-12) == (0, 0)   # flushed like TFLite (shift < -31)


def test_round_half_away_from_zero():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    assert arith.tflite_round(x).tolist() == [-3, -2, -1, 1, 2, 3]
    assert arith.tflite_round(2.5) == 3.0 and arith.tflite_round(-2.5) == -3.0


def test_rounding_divide_by_pot_negative_ties():
    xs = np.arange(-20, 21)
    for e in range(5):
        assert arith.rounding_divide_by_pot(xs, e).tolist() == [rdbpot_scalar(int(x), e) for x in xs]


def test_per_channel_broadcast():
    acc = np.arange(-12, 12, dtype=np.int64).reshape(4, 6)
    m, s = arith.quantize_multiplier_array([0.1, 0.2, 0.7, 1.3, 0.01, 2.0])
    got = arith.multiply_by_quantized_multiplier(acc, m, s)
    for c in range(6):
        assert got[:, c].tolist() == [mbqm_scalar(int(v), int(m[c]), int(s[c])) for v in acc[:, c]]


def _edge_values(rng, n=400):
    specials = [0, 1, -1, 2, -2, 2**30, -2**30, 2**31 - 1, -2**31, 2**31 - 2, -2**31 + 1,
                2**15, -2**15, 3 << 29, -(3 << 29)]
    return np.concatenate([rng.integers(-2**31, 2**31, n), specials]).astype(np.int64)


def test_srdhm_matches_the_c_definition_on_extremes():
    rng = np.random.default_rng(11)
    a = _edge_values(rng)
    for b in [*_edge_values(rng, 40).tolist()]:
        got = arith.saturating_rounding_doubling_high_mul(a, b)
        assert got.tolist() == [srdhm_scalar(int(x), b) for x in a], b
    # array against array, including the one saturating pair
    b = rng.permutation(a)
    b[:3] = -2**31
    a2 = a.copy()
    a2[:2] = -2**31
    got = arith.saturating_rounding_doubling_high_mul(a2, b)
    assert got.tolist() == [srdhm_scalar(int(x), int(y)) for x, y in zip(a2, b)]
    assert got[0] == 2**31 - 1


def test_rdbpot_matches_the_c_definition_for_every_exponent():
    rng = np.random.default_rng(12)
    x = _edge_values(rng)
    ties = np.array([k * 2**e + s * 2**(e - 1) for e in range(1, 31) for k in (-3, 0, 3)
                     for s in (-1, 1)], np.int64)
    x = np.concatenate([x, ties, ties + 1, ties - 1])
    for e in range(32):
        got = arith.rounding_divide_by_pot(x, e)
        assert got.tolist() == [rdbpot_scalar(int(v), e) for v in x], e
    # per-channel exponents, 0 included
    e = np.arange(32) % 7
    xs = x[:len(x) // 32 * 32].reshape(-1, 32)
    got = arith.rounding_divide_by_pot(xs, e)
    want = [[rdbpot_scalar(int(v), int(k)) for v, k in zip(row, e)] for row in xs]
    assert got.tolist() == want


def test_quantize_multiplier_array_equals_the_scalar_form():
    """The vectorized per-channel QuantizeMultiplier equals the scalar one on random
    reals of every magnitude, zero, the 2^31 carry, shifts below -31, and reals whose
    q * 2^31 lies on or next to a .5 rounding boundary."""
    import numpy as np

    from edgelite.kernels.quant import arith
    rng = np.random.default_rng(0)
    k = rng.integers(1 << 30, 1 << 31, 2000).astype(np.float64)
    ties = (k + 0.5) / 2 ** 31
    vals = np.concatenate([
        rng.uniform(-2, 2, 5000), np.exp(rng.uniform(-60, 40, 5000)),
        [0.0, 0.5, 1.0, -0.5, 2.0 ** -32, 2.0 ** -31, 2.0 ** -33, 1 - 2.0 ** -40,
         (2 ** 31 - 0.5) / 2 ** 31, -0.75],
        ties, np.nextafter(ties, 0), np.nextafter(ties, 2),
        rng.random(2000).astype(np.float32).astype(np.float64)])
    m, s = arith.quantize_multiplier_array(vals)
    want = [arith.quantize_multiplier(float(v)) for v in vals]
    assert [(int(a), int(b)) for a, b in zip(m, s)] == want


def test_inv_sqrt_multiplier_array_equals_the_scalar_form():
    """fixedpoint.inv_sqrt_quantized_multiplier_exp_array (RSQRT's int8 table at prepare)
    equals the per-value GetInvSqrtQuantizedMultiplierExp on small values, random int32
    values and the 2^29 / 2^31 edges."""
    import numpy as np

    from edgelite.kernels.quant import fixedpoint as fp
    rng = np.random.default_rng(5)
    vals = np.concatenate([np.arange(0, 600), rng.integers(0, 2 ** 31 - 1, 3000),
                           [2 ** 29 - 1, 2 ** 29, 2 ** 30, 2 ** 31 - 1, 2 ** 28]])
    for rev in (-1, 1):
        xs, ss = fp.inv_sqrt_quantized_multiplier_exp_array(vals, rev)
        want = [tuple(int(t) for t in fp.inv_sqrt_quantized_multiplier_exp(int(v), rev))
                for v in vals]
        assert list(zip(xs.tolist(), ss.tolist())) == want


def _gemmlowp_reciprocal(x: int, integer_digits: int) -> tuple[int, int]:
    """GetReciprocal with gemmlowp's one_over_one_plus_x_for_x_in_0_1, written out in
    scalar Python integers: SaturatingRoundingDoublingHighMul, RoundingHalfSum, and
    the final Rescale<0>(ExactMulByPot<-1>(x)), which relabels x as Q1.30 and doubles
    it (saturating)."""
    def srdhm(a, b):
        if a == b == -2**31:
            return 2**31 - 1
        t = a * b + ((1 << 30) if a * b >= 0 else 1 - (1 << 30))
        return t // 2**31 if t >= 0 else -((-t) // 2**31)

    def sat(v):
        return max(-2**31, min(2**31 - 1, v))

    headroom_plus_one = 32 - x.bit_length()
    a = ((x << headroom_plus_one) - 2**31 + 2**31) % 2**32 - 2**31
    s = a + 2**31 - 1
    half = (s + 1) // 2 if s >= 0 else -((-s + 1) // 2)       # RoundingHalfSum(a, One)
    r = sat(1515870810 + srdhm(half, -1010580540))
    for _ in range(3):
        r = sat(r + sat(srdhm(r, sat((1 << 29) - srdhm(half, r))) * 4))
    return sat(r * 2), integer_digits - headroom_plus_one


def test_reciprocal_equals_gemmlowp_written_out():
    """The three GetReciprocal forms (any int32, positive closed form, scalar) equal the
    scalar gemmlowp definition (DIV's all-pairs test found a 2-unit error on odd Newton
    results, since fixed)."""
    from edgelite.kernels.quant import fixedpoint as fp
    rng = np.random.default_rng(3)
    xs = np.unique(np.concatenate([np.arange(1, 3000), rng.integers(1, 2**31 - 1, 3000),
                                   [2**31 - 1, 2**30, 2**30 - 1]]))
    for digits in (31, 12):
        want = np.array([_gemmlowp_reciprocal(int(x), digits) for x in xs]).T
        np.testing.assert_array_equal(np.stack(fp.get_reciprocal(xs, digits)), want)
        np.testing.assert_array_equal(np.stack(fp.get_reciprocal_positive(xs, digits)), want)
        assert [fp.get_reciprocal_scalar(int(x), digits) for x in xs[::97]] == \
            [tuple(int(v) for v in w) for w in want.T[::97]]
