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


def _grid_reference(x1, x2, op, m, shift, zp, lo, hi):
    a, b = x1[:, None], x2[None, :]
    if op == 0:
        raw = a + b
    elif op == 1:
        raw = a * b
    else:
        d = arith._wrap_int32(a - b)
        raw = arith._wrap_int32(d * d)
    r = arith.multiply_by_quantized_multiplier(raw, m, shift) + zp
    return np.clip(r, lo, hi).reshape(-1)


@pytest.mark.parametrize("op", [0, 1, 2])
def test_grid_table_equals_integer_reference(op):
    """qutil.grid_table (the numpy tier's 8-bit binary-op and MEAN tables: the multiplier
    applied to each side's terms, the nudge and zero point inside one grid pass) against
    arith's MultiplyByQuantizedMultiplier over the whole grid: every right shift 0..31,
    zero points with and without room in int64 (then added after the shifts), terms at
    +-2^31's edge for the squared difference, 8- and 16-bit clamps."""
    from edgelite.kernels.quant.qutil import grid_table
    rng = np.random.default_rng([11, op])
    declined = 0
    for trial in range(160):
        right = trial % 32
        if op == 1:
            x1, x2 = rng.integers(-255, 256, 256), rng.integers(-255, 256, 64)
        else:
            top = 1 << int(rng.integers(8, 31))
            x1, x2 = rng.integers(-top, top, 256), rng.integers(-top, top, 64)
            if op == 0 and trial % 3 == 0:
                x1, x2 = x1 // 2, x2 // 2
        if op == 2 and trial % 5 == 0:
            x1[:2] = [-(1 << 30), (1 << 30) - 1]
            x2[:2] = [(1 << 30) - 1, -(1 << 30)]
        m = int(rng.integers(1 << 30, (1 << 31) - 1))
        zp = int(rng.integers(-32768, 32768)) if trial % 4 == 0 else \
            int(rng.integers(-128, 128))
        lo, hi = (-32768, 32767) if trial % 2 else (-128, 127)
        if trial % 7 == 0:
            lo = min(max(zp, lo), hi)                  # a RELU-like bound at the zero point
        out = np.zeros(x1.size * x2.size, np.int64)
        if op == 0 and int(np.abs(x1).max()) + int(np.abs(x2).max()) > (1 << 31):
            assert not grid_table(x1, x2, op, m, -right, zp, lo, hi, out)
            declined += 1
            continue
        assert grid_table(x1, x2, op, m, -right, zp, lo, hi, out), (trial, right, zp)
        want = _grid_reference(x1, x2, op, m, -right, zp, lo, hi)
        np.testing.assert_array_equal(out, want, err_msg=f"{op} {trial} {right} {zp}")
        o8 = np.zeros(out.size, np.int8 if -128 <= lo and hi <= 127 else np.int32)
        assert grid_table(x1, x2, op, m, -right, zp, lo, hi, o8)
        np.testing.assert_array_equal(o8.astype(np.int64), want)
    assert declined < 40
    # a left shift or a non-positive multiplier: declined, out untouched
    out = np.full(4, 7, np.int64)
    assert not grid_table(np.ones(2), np.ones(2), op, 1 << 30, 1, 0, -128, 127, out)
    assert not grid_table(np.ones(2), np.ones(2), op, 0, 0, 0, -128, 127, out)
    assert (out == 7).all()


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL", "SQUARED_DIFFERENCE"])
def test_numpy_tier_tables_equal_table_values(op, monkeypatch):
    """The numpy tier builds 8-bit binary-op tables with qutil.grid_table; every entry
    equals QuantBinary.table_values (the Requantizer over the grid), for random scales
    and zero points, both 8-bit types and the clamping activations."""
    import zlib

    import edgelite
    from edgelite.kernels import compiled
    from tests.kernels.test_quant_elementwise import ZP8, binary_model, q
    monkeypatch.setattr(compiled, "ENABLED", False)
    rng = np.random.default_rng(zlib.crc32(op.encode()))
    types = (np.int8,) if op == "SQUARED_DIFFERENCE" else (np.int8, np.uint8)
    acts = ("NONE",) if op == "SQUARED_DIFFERENCE" else ("NONE", "RELU", "RELU6")
    version = {"ADD": 2, "SUB": 2, "MUL": 2, "SQUARED_DIFFERENCE": 1}[op]
    for i in range(12):
        dtype = types[i % len(types)]
        info = np.iinfo(dtype)
        qs = [q(float(s), int(rng.choice(ZP8[dtype])) if rng.random() < 0.5 else
                int(rng.integers(info.min, int(info.max) + 1)))
              for s in 10.0 ** rng.uniform(-4, 0, 3)]
        opts = {} if op == "SQUARED_DIFFERENCE" else {
            "fused_activation_function": acts[i % len(acts)]}
        it = edgelite.Interpreter(model_content=binary_model(op, dtype, (2, 3), (2, 3), *qs,
                                                             version, **opts))
        it.allocate_tensors()
        k = it._main.kernels[0]
        vals = np.arange(256, dtype=np.uint8).view(dtype).astype(np.int64)
        want = np.broadcast_to(np.asarray(k.table_values(vals[:, None], vals[None, :])),
                               (256, 256)).reshape(-1).astype(k.table.dtype)
        np.testing.assert_array_equal(k.table, want, err_msg=f"{op} {dtype} {qs} {opts}")
