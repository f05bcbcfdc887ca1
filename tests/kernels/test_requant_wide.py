"""The numpy tier's requantization of float-held accumulators in blocks of any size
(Requantizer's wide plan: tiled scale and offset, trunc into int16 or int32, clamp,
the output's lower bound added in its unsigned view) against the integer reference
(arith), for every output type it serves, with and without the negative-side
correction, row counts that are and are not multiples of the tile, several blocks."""
from __future__ import annotations

import numpy as np
import pytest

from edgelite.kernels.quant import arith
from edgelite.kernels.quant.qutil import Requantizer

I8, U8, I16 = np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16)


def _case(rng, trial, dt, c):
    real = np.exp(rng.uniform(np.log(1e-5), np.log(0.9), c))
    m, s = arith.quantize_multiplier_array(real)
    info = np.iinfo(dt)
    zp = int(rng.integers(info.min, int(info.max) + 1)) if dt != I16 else \
        int(rng.integers(-300, 300))
    lo = int(rng.choice([info.min, zp, int(rng.integers(info.min, int(info.max)))]))
    lo = min(max(lo, int(info.min)), int(info.max))
    hi = int(rng.integers(lo, int(info.max) + 1))
    return real, m, s, zp, lo, hi


@pytest.mark.parametrize("dt", [I8, U8, I16])
@pytest.mark.parametrize("acc_dtype", [np.float32, np.float64])
def test_wide_plan_equals_integer_reference(dt, acc_dtype):
    rng = np.random.default_rng([7, dt.num, np.dtype(acc_dtype).num])
    used = corrected = 0
    kinds, extras = set(), set()
    for trial in range(120):
        c = int(rng.choice([1, 3, 16, 96, 200, 1280]))
        real, m, s, zp, lo, hi = _case(rng, trial, dt, c)
        # float32-held accumulators are exact integers below 2^24
        top = 24 if acc_dtype == np.float32 else 30
        bound = rng.integers(1, 1 << int(rng.integers(4, top)), c)
        corr = rng.integers(-(1 << 20), 1 << 20, c)
        rq = Requantizer(m, s, zp, lo, hi)
        if not rq.enable_float(corr, bound) or rq.wplan is None or rq.fplan[6] is not None:
            continue            # (a run-time limit: test_wide_plan_with_a_runtime_limit)
        used += 1
        corrected += rq.wplan[2] is not None
        kinds.add(np.dtype(rq.wplan[3]).name)
        extras.add(rq.wextra > 0)
        rows = int(rng.choice([1, 5, 33, 700, (Requantizer.BLOCK // c) * 2 + 3]))
        acc = rng.integers(-bound, bound + 1, (rows, c))
        acc[0] = bound
        if rows > 1:
            acc[1] = -bound
        # around the output steps: a ~ (q - zp) / real - corr, +-2
        q = rng.integers(lo - 1, hi + 2, (rows, c)).astype(np.float64)
        near = np.round((q - zp) / real - corr) + rng.integers(-2, 3, (rows, c))
        pick = rng.random((rows, c)) < 0.6
        pick[:2] = False
        acc = np.where(pick, np.clip(near, -bound, bound), acc).astype(np.int64)
        out = np.empty((rows, c), dt)
        rq.from_float(acc.astype(acc_dtype), corr, out)
        want = np.clip(arith.multiply_by_quantized_multiplier(acc + corr, m, s) + zp, lo, hi)
        np.testing.assert_array_equal(out.astype(np.int64), want, err_msg=f"trial {trial}")
        # a second call reuses the buffers (and a smaller one after a larger one)
        sub = acc[: max(1, rows // 3)]
        out2 = np.empty(sub.shape, dt)
        rq.from_float(sub.astype(acc_dtype), corr, out2)
        np.testing.assert_array_equal(
            out2.astype(np.int64),
            np.clip(arith.multiply_by_quantized_multiplier(sub + corr, m, s) + zp, lo, hi))
    assert used >= 30 and corrected >= 3, (used, corrected)
    assert kinds == {"int16", "int32"}, kinds        # both widths of the truncation
    # the lower bound folded into the offset (lo mod 256 > 0) and not
    assert extras == {True, False}, extras


def test_wide_plan_writes_through_strided_outputs():
    """Outputs that are views with a row pitch wider than C are written in place, through
    the unsigned view, and nothing around them changes."""
    rng = np.random.default_rng(3)
    c = 24
    m, s = arith.quantize_multiplier_array(np.full(c, 0.004))
    rq = Requantizer(m, s, -5, -128, 127)
    corr = rng.integers(-1000, 1000, c)
    assert rq.enable_float(corr, np.full(c, 40000)) and rq.wplan is not None
    big = np.zeros((40, c + 7), I8)
    view = big[:, 3:3 + c]
    acc = rng.integers(-40000, 40001, (40, c))
    rq.from_float(acc.astype(np.float32), corr, view)
    want = np.clip(arith.multiply_by_quantized_multiplier(acc + corr, m, s) - 5, -128, 127)
    np.testing.assert_array_equal(view.astype(np.int64), want)
    assert not big[:, :3].any() and not big[:, 3 + c:].any()


# ---------------------------------------------------------------- numpy CONV_2D, folded wide
FOLD_CASES = [
    # (dtype, x_shape, w_shape, stride, padding, act, zp_kind, factor, folded)
    (np.int8, (1, 40, 40, 16), (96, 1, 1, 16), 1, "SAME", "RELU6", "lo", 1.0, True),
    (np.int8, (1, 48, 48, 24), (48, 1, 1, 24), 1, "SAME", "NONE", "mid", 0.01, True),
    (np.int8, (1, 48, 48, 24), (48, 1, 1, 24), 1, "SAME", "NONE", "mid", 1.0, False),
    (np.int8, (1, 96, 96, 3), (32, 3, 3, 3), 2, "SAME", "RELU6", "lo", 1.0, True),   # a stem
    (np.int8, (2, 40, 40, 8), (40, 2, 2, 8), 1, "VALID", "NONE", "hi", 0.3, True),
    (np.uint8, (1, 36, 36, 12), (64, 1, 1, 12), 1, "SAME", "RELU", "mid", 1.0, True),
    (np.int8, (1, 40, 40, 32), (16, 1, 1, 32), 1, "SAME", "NONE", "mid", 1.0, False),
    (np.int8, (1, 24, 24, 64), (96, 1, 1, 64), 1, "SAME", "RELU6", "lo", 1.0, False),
]


@pytest.mark.parametrize("case", FOLD_CASES, ids=repr)
def test_conv_folded_wide_against_litert(case, monkeypatch):
    """The numpy tier's CONV_2D with few inputs per output (the wide requantization's
    scale and offset folded into a float64 GEMM of [im2col, 1], then the integer finish)
    equals BUILTIN_REF, extremes included; wider K or fewer outputs than K stay on the
    float32 GEMM."""
    from kernels.test_quant_conv import check, conv_like

    import edgelite
    from edgelite.kernels import compiled
    monkeypatch.setattr(compiled, "ENABLED", False)
    dtype, xs, ws, s, pad, act, zk, factor, folded = case
    k = ws[1] * ws[2] * ws[3]
    model, x = conv_like("CONV_2D", dtype, 17, x_shape=xs, w_shape=ws, channels=ws[0], axis=0,
                         k=k, per_channel=dtype == np.int8, zp_kind=zk, factor=factor,
                         bias_kind="i32", version=3 if dtype == np.int8 else 1,
                         w_zp=131 if dtype == np.uint8 else 0, padding=pad, stride_h=s,
                         stride_w=s, fused_activation_function=act)
    check(model, x)
    info = np.iinfo(dtype)
    check(model, [np.random.default_rng(5).choice(np.array([info.min, info.max, 0], dtype),
                                                  xs)])
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    kern = it._main.kernels[0]
    assert kern.small is None
    assert (kern.fold is not None) == folded
    # short window rows (the stem's 3 x 3 channels) take the transposed columns
    assert kern.fold_t == (folded and (ws[1], ws[2]) != (1, 1) and ws[2] * ws[3] < 32)


def test_wide_buffers_are_per_thread():
    """The wide plan's scratch is shared by requantizers on one thread only: two threads
    requantizing different layers at the same time each get the reference result."""
    import threading

    def job(seed, errors):
        rng = np.random.default_rng(seed)
        c = [24, 96][seed % 2]
        m, s = arith.quantize_multiplier_array(np.exp(rng.uniform(-7, -3, c)))
        rq = Requantizer(m, s, int(rng.integers(-20, 20)), -128, 127)
        corr = rng.integers(-1000, 1000, c)
        assert rq.enable_float(corr, np.full(c, 1 << 20)) and rq.wplan is not None
        for _ in range(40):
            rows = int(rng.integers(1, 3000))
            acc = rng.integers(-(1 << 20), 1 << 20, (rows, c))
            out = np.empty((rows, c), I8)
            rq.from_float(acc.astype(np.float32), corr, out)
            want = np.clip(arith.multiply_by_quantized_multiplier(acc + corr, m, s) + rq.zp,
                           -128, 127)
            if not np.array_equal(out.astype(np.int64), want):
                errors.append(seed)
                return

    errors: list = []
    threads = [threading.Thread(target=job, args=(seed, errors)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_wide_buffer_views_follow_a_regrown_pool():
    """_wide_bufs caches its views per thread, and _wide_steps the passes' arguments;
    when a larger block regrows the shared buffers, a smaller block's views are rebuilt
    on the new buffers (not left on the old ones), and the results stay the
    reference's throughout."""
    from edgelite.kernels.quant import qutil

    rng = np.random.default_rng(11)
    c = 16
    m, s = arith.quantize_multiplier_array(np.exp(rng.uniform(-7, -3, c)))
    rq = Requantizer(m, s, 3, -128, 127)
    corr = rng.integers(-1000, 1000, c)
    assert rq.enable_float(corr, np.full(c, 1 << 20)) and rq.wplan is not None
    qutil._POOL.__dict__.clear()           # this thread's pool starts empty
    for rows in (5, 5, 50_000, 5, 70_000, 5):
        small = rq._wide_bufs(5, c)
        for v in small:
            if v is not None:
                owner = [b for b in qutil._POOL.bufs.values() if np.shares_memory(b, v)]
                assert len(owner) == 1
        # the cached pass arguments (_wide_steps) are on the current buffers too
        for step in rq._wide_steps(5, c, 1):
            un, _, iv = step[5][:3]
            for v in (step[2], un, iv):
                assert any(np.shares_memory(b, v) for b in qutil._POOL.bufs.values())
        acc = rng.integers(-(1 << 20), 1 << 20, (rows, c))
        out = np.empty((rows, c), I8)
        rq.from_float(acc.astype(np.float32), corr, out)
        want = np.clip(arith.multiply_by_quantized_multiplier(acc + corr, m, s) + 3,
                       -128, 127)
        assert np.array_equal(out.astype(np.int64), want)
    assert rq._wide_bufs(5, c) is rq._wide_bufs(5, c)        # cached


def _full_search(m: int, s: int, zp: int, lo: int, hi: int) -> tuple[int, int]:
    """(least a with R(a) >= lo, greatest a with R(a) <= hi) over int32 by plain bisection,
    R(a) = MultiplyByQuantizedMultiplier(a, m, s) + zp."""
    mm, ss = np.array([m]), np.array([s])

    def r(a):
        return int(arith.multiply_by_quantized_multiplier(np.array([a]), mm, ss)[0]) + zp

    def least(pred):
        a0, a1 = arith.INT32_MIN, arith.INT32_MAX
        while a0 < a1:
            mid = (a0 + a1) // 2
            a0, a1 = (a0, mid) if pred(mid) else (mid + 1, a1)
        return a1
    top = arith.INT32_MAX if r(arith.INT32_MAX) <= hi else least(lambda a: r(a) > hi) - 1
    return least(lambda a: r(a) >= lo), top


def test_threshold_plan_bounds_equal_a_full_search():
    """Requantizer.threshold_plan's clamp points (found from a bracket around an
    estimate) are the least accumulator reaching lo and the greatest staying at hi, as a
    plain bisection over the whole int32 range finds them."""
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(150):
        c = int(rng.integers(1, 12))
        real = np.exp(rng.uniform(np.log(1e-6), np.log(0.99), c))
        m, s = arith.quantize_multiplier_array(real)
        zp = int(rng.integers(-128, 128))
        lo = int(rng.choice([-128, zp, int(rng.integers(-128, 127))]))
        hi = int(rng.integers(lo, 128))
        plan = Requantizer(m, s, zp, lo, hi).threshold_plan(c)
        if plan is None:
            continue
        got = list(zip(plan[0].astype(np.int64).tolist(), plan[1].astype(np.int64).tolist()))
        assert got == [_full_search(int(m[i]), int(s[i]), zp, lo, hi) for i in range(c)]
        checked += 1
    assert checked >= 20, checked


@pytest.mark.parametrize("dt", [I8, U8, I16])
def test_wide_plan_with_a_runtime_limit(dt):
    """Bounds too large to prove exactness from (MobileNetV2's K = 576 / 960
    projections): the wide plan checks each block's max |accf| against the limit, and a
    block beyond it goes the int64 way; every value equals the integer reference."""
    rng = np.random.default_rng([11, dt.num])
    used = beyond = 0
    for trial in range(150):
        c = int(rng.choice([1, 3, 16, 96, 200]))
        _real, m, s, zp, lo, hi = _case(rng, trial, dt, c)
        corr = rng.integers(-(1 << 20), 1 << 20, c)
        rq = Requantizer(m, s, zp, lo, hi)
        rq.BLOCK = 256
        if not rq.enable_float(corr, np.full(c, 1 << 31)) or rq.wplan is None:
            continue
        limit = rq.fplan[6]
        assert limit is not None
        used += 1
        rows = int(rng.choice([3, 40, 300]))
        acc = rng.integers(-int(limit), int(limit) + 1, (rows, c))
        if rows >= 40 and trial % 2:
            # one block with values beyond the limit (still within int32 after corr)
            acc[rows // 2] = np.where(rng.random(c) < 0.5, 1, -1) * (int(limit) + 1
                                                                     + rng.integers(0, 1000, c))
            beyond += 1
        out = np.empty((rows, c), dt)
        rq.from_float(acc.astype(np.float64), corr, out)
        want = np.clip(arith.multiply_by_quantized_multiplier(acc + corr, m, s) + zp, lo, hi)
        np.testing.assert_array_equal(out.astype(np.int64), want, err_msg=f"trial {trial}")
    assert used >= 20 and beyond >= 5, (used, beyond)
