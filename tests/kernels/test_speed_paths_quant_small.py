"""Numpy-tier paths for tiny int8 nodes (the kws model's tail): one-row SOFTMAX in
Python ints, AVERAGE_POOL_2D over the whole image by a float32 GEMV. Each is checked
against LiteRT's reference kernels (tests/oracle.py), inputs at their extremes
included, and against the reference formulation."""
from __future__ import annotations

import numpy as np
import pytest
from kernels.test_quant_elementwise import compare
from kernels.test_speed_paths_quant_ops import _softmax8_model, softmax8_reference
from oracle import run_edgelite

import edgelite
from edgelite.kernels import compiled
from edgelite.kernels.quant.conv import QuantizedFullyConnected

I8, U8, I16 = np.int8, np.uint8, np.int16


@pytest.mark.parametrize("n", [1, 2, 12, 64, 65])
@pytest.mark.parametrize("dtype,out_dtype", [(I8, I8), (I8, I16), (U8, U8)])
@pytest.mark.parametrize("si,beta", [(0.0039, 1.0), (0.1, 2.7), (3.0, 0.3), (1e-4, 1.0)])
def test_softmax_one_row(n, dtype, out_dtype, si, beta, monkeypatch):
    monkeypatch.setattr(compiled, "ENABLED", False)
    info = np.iinfo(dtype)
    rng = np.random.default_rng([n, si > 1, int(beta * 10), np.dtype(dtype).num])
    m = _softmax8_model((1, n), dtype, si, 0 if dtype == I8 else 128, out_dtype, beta)
    rows = [rng.integers(info.min, int(info.max) + 1, n),
            np.full(n, info.min), np.full(n, info.max),
            np.where(np.arange(n) == n // 2, info.max, info.min),     # max - x = 255
            info.max - rng.integers(0, 3, n)]
    for row in rows:
        x = row.astype(dtype).reshape(1, n)
        got = run_edgelite(m, [x])[0]
        np.testing.assert_array_equal(got, softmax8_reference(
            x, float(np.float32(si)), float(np.float32(beta)), out_dtype))
        compare(m, [x], "SOFTMAX-one-row")
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    assert (it._main.kernels[0].acc_list is not None) == (n <= 64)


GLOBAL_POOL_CASES = [
    # (dtype, shape, padding, act, zp)
    (I8, (1, 25, 5, 32), "VALID", "NONE", "lo"),        # the kws fixture's
    (I8, (2, 7, 9, 3), "VALID", "RELU", "mid"),
    (I8, (1, 64, 64, 2), "VALID", "RELU6", "hi"),      # count 4096: a table beyond 2^16
    (U8, (1, 25, 5, 8), "VALID", "NONE", "mid"),
    (U8, (2, 3, 1, 5), "SAME", "RELU_N1_TO_1", "lo"),
    (I8, (1, 1, 1, 4), "VALID", "NONE", "mid"),
]


@pytest.mark.parametrize("case", GLOBAL_POOL_CASES, ids=repr)
def test_global_average_pool_gemv(case, monkeypatch):
    """8-bit global AVERAGE_POOL_2D (float32 GEMV sums, one table lookup) equals
    BUILTIN_REF: random inputs and all-min / all-max / alternating images."""
    from kernels.test_quant_pool import pool_model
    from oracle import check_against_litert
    monkeypatch.setattr(compiled, "ENABLED", False)
    dt, shape, pad, act, zp = case
    c = {"op": "AVERAGE_POOL_2D", "dtype": dt, "shape": shape, "f": shape[1:3], "s": shape[1:3],
         "pad": pad, "act": act, "zp": zp}
    model, (x,) = pool_model(c, 11)
    info = np.iinfo(dt)
    alt = np.where(np.indices(shape).sum(axis=0) % 2 == 0, info.max, info.min)
    for xv in (x, np.full(shape, info.min), np.full(shape, info.max), alt):
        check_against_litert(model, [xv.astype(dt)], reference=True, int_tol=0)
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    assert it._main.kernels[0].gemv


TINY_FC_CASES = [
    {"dtype": dt, "pc": pc, "shape": sh, "units": u, "act": a, "zp": z, "keep": False,
     "bias": bias}
    for dt, pc in ((I8, True), (I8, False), (U8, False))
    for sh, u, a, z, bias in (((1, 32), 12, "NONE", "lo", True),
                              ((3, 20), 7, "RELU6", "hi", False),
                              ((2, 8), 5, "RELU", "mid", True))
]


@pytest.mark.parametrize("case", TINY_FC_CASES, ids=repr)
def test_tiny_fully_connected(case, monkeypatch):
    """The tiny FULLY_CONNECTED epilogue (scales as a full array, clamp before the
    truncation, + zo into the output) equals BUILTIN_REF, inputs at their extremes."""
    from kernels.test_quant_conv import check, fc_model
    monkeypatch.setattr(compiled, "ENABLED", False)
    model, (x,) = fc_model(case, 5)
    info = np.iinfo(case["dtype"])
    for xv in (x, np.full(x.shape, info.min), np.full(x.shape, info.max)):
        check(model, [xv.astype(case["dtype"])])
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    assert it._main.kernels[0].tiny
    if case["shape"][0] == 1:
        # one row: the Python epilogue (row_run) against the numpy passes (an interpreter
        # with the row path off), bit for bit, on many inputs
        k = it._main.kernels[0]
        assert k.row_run is not None
        monkeypatch.setattr(QuantizedFullyConnected, "_ROW_UNITS", 0)
        ref = edgelite.Interpreter(model_content=model)
        ref.allocate_tensors()
        assert ref._main.kernels[0].row_run is None
        rng = np.random.default_rng(3)
        for _ in range(200):
            xv = rng.integers(info.min, info.max + 1, x.shape).astype(case["dtype"])
            got, want = [], []
            for interp, res in ((it, got), (ref, want)):
                interp.set_tensor(interp.get_input_details()[0]["index"], xv)
                interp.invoke()
                res.append(interp.get_tensor(interp.get_output_details()[0]["index"]))
            np.testing.assert_array_equal(got[0], want[0])


def test_shifted_finish_matches_integer_requantization():
    """Requantizer's shifted small-block path (u - lo in the offset, trunc into int16,
    clamp to [0, hi - lo], + lo) equals clamp(MultiplyByQuantizedMultiplier(acc + corr)
    + zp, lo, hi) from arith, over random multipliers, zero points and bounds, with
    accumulators at +-acc_bound, near every output step and random."""
    from edgelite.kernels.quant import arith
    from edgelite.kernels.quant.qutil import Requantizer
    rng = np.random.default_rng(2024)
    used = skipped = preferred_all = 0
    for trial in range(600):
        c, real, m, s, dt, info, zp = _multiplier_case(rng, trial)
        lo = int(rng.choice([info.min, zp if trial % 3 else info.min,
                             int(rng.integers(info.min, int(info.max)))]))
        lo = min(max(lo, int(info.min)), int(info.max))
        hi = int(rng.integers(lo, int(info.max) + 1))
        bound = rng.integers(1, 1 << int(rng.integers(4, 22)), c)
        corr = rng.integers(-(1 << 20), 1 << 20, c)
        rq = Requantizer(m, s, zp, lo, hi)
        if not rq.enable_float(corr, bound) or rq.splan is None:
            skipped += 1
            continue
        used += 1
        acc = _accumulators(rng, 64, bound, corr, real, zp, lo, hi, 0.5)
        want = np.clip(arith.multiply_by_quantized_multiplier(acc + corr, m, s) + zp, lo, hi)
        # 8-bit outputs take the wide plan's integer passes where they truncate into
        # int16 with lo mod 256 in the offset (their last pass a narrowing cast); the
        # shifted plan is taken without them
        kind = rq.small_buffers(acc.shape, 1)[-1]
        preferred = rq.wplan[3] == np.int16 and rq.wextra == lo % 256
        assert kind == (1 if preferred else 0), (kind, rq.wplan[3], rq.wextra, lo)
        preferred_all += preferred
        _check_finish(rq, acc, dt, rq.small_buffers(acc.shape, 1), want)
        rq.wplan = None
        bufs = rq.small_buffers(acc.shape, 1)
        assert bufs[-1] == 0
        _check_finish(rq, acc, dt, bufs, want)
    assert used >= 50 and preferred_all >= 25, (used, skipped, preferred_all)


def _multiplier_case(rng, trial):
    """(C, real multipliers, m, s, 8-bit dtype, its iinfo, zero point) of one trial."""
    from edgelite.kernels.quant import arith
    c = int(rng.integers(1, 9))
    real = np.exp(rng.uniform(np.log(1e-5), np.log(0.9), c))
    m, s = arith.quantize_multiplier_array(real)
    dt = [I8, U8][trial % 2]
    info = np.iinfo(dt)
    return c, real, m, s, dt, info, int(rng.integers(info.min, int(info.max) + 1))


def _accumulators(rng, rows, bound, corr, real, zp, lo, hi, near_share):
    """[rows, C] accumulators: +-bound, then random ones and (a share near_share of
    them) ones around the output steps, a - corr where a ~ (q - zp) / real."""
    c = len(bound)
    acc = rng.integers(-bound, bound + 1, (rows, c))
    acc[0], acc[1] = bound, -bound
    q = rng.integers(lo - 1, hi + 2, (rows - 2, c)).astype(np.float64)
    near = np.round((q - zp) / real - corr) + rng.integers(-2, 3, (rows - 2, c))
    pick = rng.random((rows - 2, c)) < near_share
    acc[2:] = np.where(pick, np.clip(near, -bound, bound), acc[2:])
    return acc


def _check_finish(rq, acc, dt, bufs, want) -> None:
    """finish_u on u = acc * ms + offset() equals want (8-bit outputs)."""
    u = acc.astype(np.float64) * rq.fplan[1] + rq.offset(1)
    out = np.empty(acc.shape, dt)
    rq.finish_u(u, rq.finish_target(out, bufs), bufs)
    np.testing.assert_array_equal(out.astype(np.int64), want)


def test_small_finish_every_plan_matches_integer_requantization():
    """finish_u's three forms (the shifted plan; the wide plan's integer passes; the
    float64 plan), the negative-side correction included (lo < zp), equal
    clamp(MultiplyByQuantizedMultiplier(acc + corr) + zp, lo, hi) from arith."""
    from edgelite.kernels.quant import arith
    from edgelite.kernels.quant.qutil import Requantizer
    rng = np.random.default_rng(2025)
    kinds = {0: 0, 1: 0, 2: 0}
    corrected = 0
    for trial in range(500):
        c, real, m, s, dt, info, zp = _multiplier_case(rng, trial)
        lo = int(info.min) if trial % 4 else int(rng.integers(info.min, zp + 1))
        hi = int(rng.integers(max(lo, zp), int(info.max) + 1))
        bound = rng.integers(1, 1 << int(rng.integers(4, 22)), c)
        corr = rng.integers(-(1 << 20), 1 << 20, c)
        rq = Requantizer(m, s, zp, lo, hi)
        if not rq.enable_float(corr, bound):
            continue
        acc = _accumulators(rng, 48, bound, corr, real, zp, lo, hi, 0.6)
        want = np.clip(arith.multiply_by_quantized_multiplier(acc + corr, m, s) + zp, lo, hi)
        for drop_wide in (False, True):
            if drop_wide:
                if rq.splan is not None or rq.wplan is None:
                    break
                rq.wplan = None             # (the float64 plan's form)
            bufs = rq.small_buffers(acc.shape, 1)
            if bufs is None:
                break
            kinds[bufs[-1]] += 1
            corrected += bufs[6] is not None
            _check_finish(rq, acc, dt, bufs, want)
    # (the shifted plan, kind 0, rarely applies here: it needs no correction; the test
    # above covers it)
    assert kinds[1] >= 30 and kinds[2] >= 30 and corrected >= 30, (kinds, corrected)
