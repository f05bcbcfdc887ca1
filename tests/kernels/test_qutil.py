"""Requantizer fast paths vs arith.multiply_by_quantized_multiplier (bit for bit)."""
import numpy as np
import pytest

from edgelite.kernels.quant import arith
from edgelite.kernels.quant.qutil import Requantizer


def _reference(acc, m, s, zp, lo, hi):
    r = arith.multiply_by_quantized_multiplier(acc, m, s) + zp
    return np.clip(r, lo, hi)


def _accs(rng, channels, bound, m, s):
    """Random accumulators plus adversarial ones: 0, +-1, +-bound, and exact ties of both
    roundings (a*m near multiples of 2^(30+e)) for each channel's shift."""
    rows = [rng.integers(-bound, bound + 1, (256, channels))]
    special = np.array([0, 1, -1, 2, -2, bound, -bound, bound - 1, -bound + 1])
    rows.append(np.repeat(special[:, None], channels, axis=1))
    ties = []
    for c in range(channels):
        e = max(-int(s[c]), 0)
        for q in range(-40, 41):                   # a*m/2^31 close to q*2^(e-1) +- 1/2
            target = (q * (1 << max(e - 1, 0)) * 2 + 1) * (1 << 30)
            a = target // int(m[c])
            ties.extend([(a + d, c) for d in (-1, 0, 1)])
    col = np.zeros((len(ties), channels), np.int64)
    for i, (a, c) in enumerate(ties):
        col[i, :] = 0
        col[i, c] = max(-bound, min(bound, a))
    rows.append(col)
    return np.concatenate(rows).astype(np.int64)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("act", ["none", "relu"])
def test_float64_path_matches_reference(seed, act):
    rng = np.random.default_rng(seed)
    channels = 24
    m = rng.integers(1 << 30, 1 << 31, channels)
    m[0] = 1 << 30                                  # exact powers of two
    m[1] = (1 << 31) - 1
    s = rng.integers(-20, 1, channels)             # every right shift 0..20
    s[:21] = -np.arange(21)
    zp = int(rng.integers(-128, 128))
    lo, hi = (zp, 127) if act == "relu" else (-128, 127)
    corr = rng.integers(-(1 << 16), 1 << 16, channels)
    bound = 1 << 19
    rq = Requantizer(m, s, zp, lo, hi)
    assert rq.enable_float(corr, np.full(channels, bound))
    acc = _accs(rng, channels, bound, m, s)
    want = _reference(acc + corr, m, s, zp, lo, hi)
    for ft in (np.float32, np.float64):
        a = acc.astype(ft)
        if not np.array_equal(a.astype(np.int64), acc):
            continue                                # float32 cannot hold them: not a case
        out = np.empty(acc.shape, np.int8)
        rq.from_float(a, corr, out)
        np.testing.assert_array_equal(out.astype(np.int64), want)
    # the int64 path agrees too
    out = np.empty(acc.shape, np.int8)
    rq(acc + corr, out)
    np.testing.assert_array_equal(out.astype(np.int64), want)


def test_float64_path_every_shift_small_accs():
    rng = np.random.default_rng(7)
    for e in range(31):
        m = rng.integers(1 << 30, 1 << 31, 4)
        m[0] = 1 << 30
        s = np.full(4, -e)
        acc = np.arange(-3000, 3001, dtype=np.int64)[:, None].repeat(4, axis=1)
        acc = acc * (1 << max(e - 3, 0))
        acc = np.clip(acc, -(1 << 21), 1 << 21)
        for zp, lo, hi in ((0, -128, 127), (-5, -128, 127), (3, 3, 127), (-128, -128, 127)):
            rq = Requantizer(m, s, zp, lo, hi)
            if not rq.enable_float(None, np.full(4, 1 << 21)):
                continue
            out = np.empty(acc.shape, np.int8)
            rq.from_float(acc.astype(np.float64), None, out)
            np.testing.assert_array_equal(out.astype(np.int64),
                                          _reference(acc, m, s, zp, lo, hi), err_msg=f"e={e}")


def test_float64_path_refused_when_not_provably_exact():
    m = np.array([(1 << 31) - 1])
    big = Requantizer(m, np.array([-3]), 0, -128, 127)
    assert big.enable_float(None, [1 << 23]) and big.fplan[-1] is not None  # checked at run time
    assert not Requantizer(m, np.array([2]), 0, -128, 127).enable_float(None, [1])  # left
    assert not Requantizer(np.array([0]), np.array([0]), 0, -128, 127).enable_float(None, [1])
    rq = Requantizer(m, np.array([-3]), 0, -128, 127)
    assert not rq.enable_float(np.array([1 << 40]), [1])
    # a refused plan leaves the int64 path, still exact
    acc = np.array([[5 << 20], [-(5 << 20)]], np.float64)
    out = np.empty((2, 1), np.int8)
    rq.from_float(acc, np.array([1 << 40]), out)
    np.testing.assert_array_equal(out.astype(np.int64),
                                  _reference(acc.astype(np.int64) + (1 << 40), m, [-3], 0,
                                             -128, 127))


def test_float64_path_runtime_range_check():
    """Weights too large to prove the bound: blocks are checked at run time, and a block
    beyond the limit goes the int64 way."""
    m = np.array([(1 << 31) - 1, 1 << 30, 1_500_000_000])
    s = np.array([-9, -10, -11])
    corr = np.array([1000, -70000, 5])
    rq = Requantizer(m, s, -3, -128, 127)
    rq.BLOCK = 64
    assert rq.enable_float(corr, np.full(3, 1 << 30))
    assert rq.fplan[-1] is not None
    rng = np.random.default_rng(3)
    acc = rng.integers(-(1 << 20), 1 << 20, (200, 3))
    acc[150] = [(1 << 29) + 12345, -(1 << 28) - 1, 1 << 29]     # a block beyond the limit
    out = np.empty(acc.shape, np.int8)
    rq.from_float(acc.astype(np.float64), corr, out)
    np.testing.assert_array_equal(out.astype(np.int64),
                                  _reference(acc + corr, m, s, -3, -128, 127))
