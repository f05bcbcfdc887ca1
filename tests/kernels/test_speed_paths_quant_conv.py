"""The fast paths of the integer convolutions and matrix products agree with the
formulations they replaced and with LiteRT's reference kernels:

- Requantizer.threshold_plan (the compiled tier's float64 requantization with the clamp
  moved to the accumulator) against arith's MultiplyByQuantizedMultiplier + clamp, over
  dense accumulator ranges around every threshold and random int32 values, for random
  multipliers, shifts, zero points and clamp bounds (plain numpy: runs without numba);
- FULLY_CONNECTED's rounding trunc(y + copysign(0.5 - 2^-54, y)) against std::round
  (qutil.round_half_away) on ties, neighbours of ties and random doubles of every size;
- the numpy and compiled tiers bit for bit on shapes taking the new kernels (3x3
  depthwise interior/border/stride cases, int8 FULLY_CONNECTED and BATCH_MATMUL), and
  those nodes against LiteRT's BUILTIN_REF.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from kernels.test_compiled import quant_conv_model, run
from kernels.test_quant_conv import bmm_model, check, conv_like

from edgelite.kernels import compiled
from edgelite.kernels.quant import arith
from edgelite.kernels.quant.qutil import Requantizer, round_half_away

I8, U8 = np.int8, np.uint8


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def numpy_tier_kernel(model: bytes):
    """Node 0's kernel of `model` prepared on the numpy tier."""
    import edgelite
    saved = compiled.ENABLED
    compiled.ENABLED = False
    try:
        it = edgelite.Interpreter(model_content=model)
        it.allocate_tensors()
    finally:
        compiled.ENABLED = saved
    return it._main.kernels[0]


def _plan_numpy(a: np.ndarray, plan, lo: int, hi: int) -> np.ndarray:
    """The compiled kernels' _rqf, written with numpy float64 operations."""
    _, _, ms, k0, d, zp = plan
    u = a.astype(np.float64) * ms + k0
    u = u - d * (u < 0.5)
    return np.clip(np.floor(u).astype(np.int64) + zp, lo, hi)


@pytest.mark.parametrize("seed", range(40))
def test_threshold_plan_matches_the_integer_reference(seed):
    rng = _rng("plan", seed)
    c = int(rng.integers(1, 12))
    real = 10.0 ** rng.uniform(-4.2, -0.05, c)
    if seed % 4 == 0:
        real[:] = real[0]                           # per-tensor
    m, s = arith.quantize_multiplier_array(real)
    zp = int(rng.integers(-128, 128))
    lo, hi = (-128, 127) if seed % 2 else sorted(int(v) for v in rng.integers(-128, 128, 2))
    rq = Requantizer(m, s, zp, lo, hi)
    plan = rq.threshold_plan(c)
    if plan is None:
        # only when the exactness bound fails: a tiny scale (huge thresholds)
        assert real.min() < 1e-4
        return
    alo, ahi = plan[0].astype(np.int64), plan[1].astype(np.int64)
    span = np.arange(-40, 41)[:, None]
    a = np.concatenate([alo + span, ahi + span, (alo + ahi) // 2 + span,
                        np.full((1, c), arith.INT32_MIN), np.full((1, c), arith.INT32_MAX),
                        rng.integers(arith.INT32_MIN, arith.INT32_MAX, (200, c)),
                        rng.integers(-3 * (ahi - alo).max() - 5, 3 * (ahi - alo).max() + 5,
                                     (2000, c))])
    a = np.clip(a, arith.INT32_MIN, arith.INT32_MAX)
    want = np.clip(arith.multiply_by_quantized_multiplier(a, m, s) + zp, lo, hi)
    np.testing.assert_array_equal(_plan_numpy(a, plan, lo, hi), want)
    # the thresholds are tight: R(alo) = lo, R(ahi) = hi
    r = arith.multiply_by_quantized_multiplier(np.stack([alo, ahi]), m, s) + zp
    assert np.all(r[0][alo > arith.INT32_MIN] == lo) and np.all(r[1][ahi < arith.INT32_MAX] == hi)


@pytest.mark.parametrize("seed", range(20))
def test_threshold_plan_with_an_accumulator_bound(seed):
    """Tiny scales: the thresholds are beyond exact float64 products, but the
    accumulators a kernel can produce are not; every a with |a| <= bound is exact."""
    rng = _rng("bound", seed)
    c = int(rng.integers(1, 9))
    real = 10.0 ** rng.uniform(-6.3, -3, c)
    m, s = arith.quantize_multiplier_array(real)
    zp = int(rng.integers(-128, 128))
    lo, hi = (-128, 127) if seed % 2 else (zp, 127)
    bound = rng.integers(1 << 10, 1 << 19, c)
    plan = Requantizer(m, s, zp, lo, hi).threshold_plan(c, bound)
    assert plan is not None
    a = np.concatenate([rng.integers(-bound, bound + 1, (3000, c)), bound[None], -bound[None],
                        np.clip(plan[0], -bound, bound).astype(np.int64)[None] + np.arange(-5, 6)[:, None]])
    a = np.clip(a, -bound, bound)
    want = np.clip(arith.multiply_by_quantized_multiplier(a, m, s) + zp, lo, hi)
    np.testing.assert_array_equal(_plan_numpy(a, plan, lo, hi), want)


@pytest.mark.skipif(not compiled.ENABLED, reason="needs the compiled tier (numba)")
@pytest.mark.parametrize("seed", range(12))
def test_compiled_threshold_search_equals_the_numpy_search(seed, monkeypatch):
    """compiled_quant.thresholds (the compiled tier's search) and the numpy search find
    the same thresholds, and decline the same plans (constant outputs, tiny scales)."""
    rng = _rng("search", seed)
    for trial in range(25):
        c = int(rng.integers(1, 40))
        real = 10.0 ** rng.uniform(-9 if trial % 5 == 0 else -4.5, -0.01, c)
        m, s = arith.quantize_multiplier_array(real)
        zp = int(rng.integers(-128, 128))
        lo, hi = (-128, 127) if trial % 3 else sorted(int(v) for v in rng.integers(-128, 128, 2))
        if trial % 7 == 0:
            zp = 127 + 300          # the output is lo... hi for no int32 accumulator
        plans = []
        for compiled_search in (True, False):
            monkeypatch.setattr(Requantizer, "COMPILED_SEARCH", compiled_search)
            plans.append(Requantizer(m, s, zp, lo, hi).threshold_plan(c))
        got, want = plans
        assert (got is None) == (want is None), (seed, trial)
        if want is not None:
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)


def test_threshold_plan_declines_left_shifts_and_int64():
    m, s = arith.quantize_multiplier_array([3.5])
    assert Requantizer(m, s, 0, -128, 127).threshold_plan(1) is None
    m, s = arith.quantize_multiplier_array([0.01])
    assert Requantizer(m, s, 0, -128, 127, use_int64_path=True).threshold_plan(1) is None


@pytest.mark.skipif(not compiled.ENABLED, reason="needs the compiled tier (numba)")
def test_compiled_requant_rows_matches_the_integer_reference():
    from edgelite.kernels import compiled_quant as cq
    rng = _rng("rows")
    for trial in range(20):
        c = int(rng.integers(1, 40))
        real = 10.0 ** rng.uniform(-3.5, -0.1, c)
        m, s = arith.quantize_multiplier_array(real)
        zp = int(rng.integers(-128, 128))
        lo, hi = (-128, 127) if trial % 2 else (zp, 127)
        rq = Requantizer(m, s, zp, lo, hi)
        plan = rq.threshold_plan(c)
        assert plan is not None
        corr = rng.integers(-30000, 30000, c)
        accf = rng.integers(-(1 << 22), 1 << 22, (257, c)).astype(np.float32)
        mat = np.concatenate([corr.astype(np.float64), plan[2], plan[3], plan[4]])
        got = np.empty((257, c), np.int8)
        cq.requant_rows(accf, mat, plan[5], np.int64(lo), np.int64(hi), lo < zp, got)
        a = accf.astype(np.int64) + corr
        want = np.clip(arith.multiply_by_quantized_multiplier(a, m, s) + zp, lo, hi)
        np.testing.assert_array_equal(got, want)


def test_round_half_away_by_adding_the_double_below_half():
    rng = _rng("round")
    ties = np.concatenate([np.arange(-3000, 3000) + 0.5,
                           (rng.integers(-(1 << 51), 1 << 51, 10000) + 0.5)])
    near = np.concatenate([np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf)])
    rand = np.concatenate([rng.standard_normal(100000) * 10.0 ** rng.uniform(-20, 18, 100000),
                           rng.integers(-(1 << 40), 1 << 40, 10000) * rng.random(10000)])
    special = np.array([0.0, -0.0, 0.49999999999999994, -0.49999999999999994, 0.5, -0.5,
                        1.5, 2.5, 2.0 ** 52, 2.0 ** 52 + 1, -(2.0 ** 52 + 1), 2.0 ** 53,
                        4503599627370495.5, -4503599627370495.5])
    y = np.concatenate([ties, near, rand, special])
    got = np.trunc(y + np.copysign(0.49999999999999994, y))
    np.testing.assert_array_equal(got, round_half_away(y))


# ---------------------------------------------------------------- tiers and LiteRT
@pytest.fixture
def every_size_compiled(monkeypatch):
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)


DW3_CASES = [
    # (dtype, x_shape, channels, stride, padding, act, factor)
    (I8, (1, 9, 9, 8), 8, 1, "SAME", "RELU6", 1.0),
    (I8, (2, 12, 7, 40), 40, 2, "SAME", "NONE", 1.0),
    (I8, (1, 3, 3, 5), 5, 1, "SAME", "NONE", 0.3),          # every pixel on the border
    (I8, (1, 8, 10, 17), 17, 2, "VALID", "RELU", 1.0),
    (U8, (1, 11, 6, 24), 24, 1, "SAME", "RELU6", 1.0),
    (U8, (1, 5, 13, 3), 3, 2, "VALID", "NONE", 0.5),
    (I8, (1, 2, 2, 4), 4, 1, "SAME", "NONE", 1.0),          # smaller than the filter
]


@pytest.mark.skipif(not compiled.ENABLED, reason="only the compiled tier has a kernel to compare")
@pytest.mark.parametrize("zi_kind", ["lo", "mid", "hi"])
@pytest.mark.parametrize("case", DW3_CASES, ids=repr)
def test_depthwise_3x3_tiers_bit_identical(case, zi_kind, every_size_compiled):
    dtype, xs, c, s, pad, act, factor = case
    rng = _rng("dw3", case, zi_kind)
    info = np.iinfo(dtype)
    zi = {"lo": int(info.min), "mid": int(info.min + info.max) // 2 + 3, "hi": int(info.max)}
    model = quant_conv_model("DEPTHWISE_CONV_2D", dtype, xs, (1, 3, 3, c), rng,
                             per_channel=dtype == I8, zi=zi[zi_kind], factor=factor, bias=True,
                             padding=pad, stride_h=s, stride_w=s, depth_multiplier=1,
                             fused_activation_function=act)
    x = rng.integers(info.min, info.max + 1, xs).astype(dtype)
    np.testing.assert_array_equal(run(model, [x], "compiled"), run(model, [x], "numpy"))


def _fc(dtype, seed, shape, units, per_channel, act):
    k = shape[-1]
    return conv_like("FULLY_CONNECTED", dtype, seed, x_shape=shape, w_shape=(units, k),
                     channels=units, axis=0, k=k, per_channel=per_channel, zp_kind="mid",
                     factor=1.0, bias_kind="i32", version=4 if dtype == I8 else 1,
                     w_zp=3 if dtype == U8 else 0, fused_activation_function=act)


FC_CASES = [(I8, (64, 128), 96, True, "NONE"), (I8, (33, 200), 130, False, "RELU"),
            (U8, (40, 70), 120, False, "RELU6"), (I8, (2, 1280), 1000, True, "NONE")]


@pytest.mark.parametrize("case", FC_CASES, ids=repr)
def test_fully_connected_big_against_litert(case):
    """Shapes big enough for the compiled tier (when installed) and for float32 GEMMs
    chosen from the weights' actual bound (k = 1280 > 1024)."""
    model, x = _fc(*case[:1], 71, *case[1:])
    check(model, x)


@pytest.mark.skipif(not compiled.ENABLED, reason="only the compiled tier has a kernel to compare")
@pytest.mark.parametrize("case", FC_CASES[:3], ids=repr)
def test_fully_connected_tiers_bit_identical(case, every_size_compiled):
    model, x = _fc(*case[:1], 72, *case[1:])
    np.testing.assert_array_equal(run(model, x, "compiled"), run(model, x, "numpy"))


BMM_CASES = [{"types": (I8, I8, I8), "sa": (4, 64, 32), "sb": (4, 32, 64), "adj_x": False,
              "adj_y": True, "zp": "mid"},
             {"types": (I8, I8, I8), "sa": (2, 70, 90), "sb": (90, 80), "adj_x": False,
              "adj_y": False, "zp": "lo"}]


@pytest.mark.parametrize("case", BMM_CASES, ids=repr)
def test_batch_matmul_big_against_litert(case):
    check(*bmm_model(case, 81))


@pytest.mark.skipif(not compiled.ENABLED, reason="only the compiled tier has a kernel to compare")
@pytest.mark.parametrize("case", BMM_CASES, ids=repr)
def test_batch_matmul_tiers_bit_identical(case, every_size_compiled):
    model, xs = bmm_model(case, 82)
    np.testing.assert_array_equal(run(model, xs, "compiled"), run(model, xs, "numpy"))


# ---------------------------------------------------------------- numpy depthwise in int16
def _dw_int8_model(w: np.ndarray, rng, stride: int, act: str) -> bytes:
    from edgelite.format.builder import ModelBuilder
    c = w.shape[-1]
    b = ModelBuilder()
    x = b.add_input("x", (1, 9, 8, c), I8, quant={"scale": [0.03], "zero_point": [-7]})
    scales = list(10.0 ** rng.uniform(-3, -2, c))
    wt = b.add_constant("w", w, quant={"scale": scales, "zero_point": [0] * c,
                                       "quantized_dimension": 3})
    bias = b.add_constant("b", rng.integers(-3000, 3000, c).astype(np.int32))
    y = b.add_tensor("y", (1,), I8, quant={"scale": [0.02], "zero_point": [5]})
    b.add_op("DEPTHWISE_CONV_2D", [x, wt, bias], [y], version=3, padding="SAME",
             stride_h=stride, stride_w=stride, depth_multiplier=1,
             fused_activation_function=act)
    b.add_output(y)
    return b.to_bytes()


@pytest.mark.parametrize("extreme", [False, True])
@pytest.mark.parametrize("stride,act", [(1, "NONE"), (2, "RELU6")])
def test_depthwise_int16_taps_against_litert(extreme, stride, act):
    """The numpy tier's int16 tap pairs (weights in [-127, 127]) and its float32 fallback
    (a -128 weight pair could overflow int16) both equal BUILTIN_REF, with the input at
    its extremes (-128 * -128 products)."""
    rng = _rng("dw16", extreme, stride, act)
    w = rng.integers(-127, 128, (1, 3, 3, 6)).astype(I8)
    if extreme:
        w[0, 0, :2, 1] = -128                         # taps 0 and 1 of channel 1
    model = _dw_int8_model(w, rng, stride, act)
    x = rng.choice(np.array([-128, 127, -127, 0, 3], I8), (1, 9, 8, 6))
    check(model, [x])
    k = numpy_tier_kernel(model)
    if stride == 1:                               # the small-image flat path takes it
        assert k.flat and not k.i16
    else:
        assert k.i16 == (not extreme) and not k.flat


ESUM_CASES = [
    # (dtype, x_shape, stride (h, w), dilation, padding, act): images too big for the
    # flat path, so the einsum path over bands of rows takes them
    (I8, (1, 40, 36, 32), (1, 1), 1, "SAME", "RELU6"),
    (I8, (2, 30, 30, 16), (1, 1), 1, "VALID", "NONE"),
    (I8, (1, 41, 33, 24), (2, 1), 2, "SAME", "NONE"),
    (U8, (1, 36, 40, 20), (1, 1), 1, "SAME", "RELU"),
    (I8, (1, 130, 20, 48), (1, 1), 1, "SAME", "RELU6"),         # several bands
]


@pytest.mark.parametrize("case", ESUM_CASES, ids=repr)
def test_depthwise_einsum_against_litert(case):
    """The numpy tier's width-stride-1 depthwise: every tap of a band in one float32
    einsum over a strided view of the padded copy (exact integer sums below 2^24), then
    the requantization; equals BUILTIN_REF on random and extreme inputs."""
    dt, xs, stride, dil, pad, act = case
    rng = _rng("dw-esum", case)
    lo, hi = (-127, 128) if dt == I8 else (0, 256)
    w = rng.integers(lo, hi, (1, 3, 3, xs[-1])).astype(dt)
    zi = int(rng.integers(-20, 20)) if dt == I8 else 128
    model = _dw_model(w, xs, rng, zi, pad, dil, act, dtype=dt, stride=stride)
    info = np.iinfo(dt)
    check(model, [rng.integers(info.min, int(info.max) + 1, xs).astype(dt)])
    check(model, [rng.choice(np.array([info.min, info.max], dt), xs)])
    k = numpy_tier_kernel(model)
    assert k.esum and not k.flat and not k.i16


# ---------------------------------------------------------------- numpy depthwise, flat taps
def _dw_model(w: np.ndarray, x_shape, rng, zi: int, padding: str, dil: int, act: str,
              dtype=I8, stride=(1, 1), dil_w=None) -> bytes:
    """A one-node quantized DEPTHWISE_CONV_2D model (dilation `dil` on the rows and,
    unless `dil_w` says otherwise, on the columns)."""
    from edgelite.format.builder import ModelBuilder
    c = w.shape[-1]
    b = ModelBuilder()
    x = b.add_input("x", x_shape, dtype, quant={"scale": [0.03], "zero_point": [zi]})
    scales = list(10.0 ** rng.uniform(-3, -2, c))
    wzp = 0 if dtype == I8 else 128
    wt = b.add_constant("w", w, quant={"scale": scales if dtype == I8 else scales[:1],
                                       "zero_point": [wzp] * (c if dtype == I8 else 1),
                                       "quantized_dimension": 3})
    bias = b.add_constant("b", rng.integers(-3000, 3000, c).astype(np.int32))
    y = b.add_tensor("y", (1,), dtype, quant={"scale": [0.02], "zero_point": [5]})
    b.add_op("DEPTHWISE_CONV_2D", [x, wt, bias], [y], version=3, padding=padding,
             stride_h=stride[0], stride_w=stride[1], dilation_h_factor=dil,
             dilation_w_factor=dil if dil_w is None else dil_w,
             depth_multiplier=1, fused_activation_function=act)
    b.add_output(y)
    return b.to_bytes()


FLAT_CASES = [
    # (x_shape, kernel hw, padding, dilation, act, zi, weights)
    ((1, 25, 5, 32), (3, 3), "SAME", 1, "RELU", -128, "random"),      # the kws fixture's
    ((2, 9, 8, 6), (3, 3), "SAME", 1, "NONE", -7, "random"),          # two images
    ((1, 7, 9, 5), (2, 3), "VALID", 1, "RELU6", 127, "random"),       # even kernel
    ((1, 9, 10, 3), (3, 3), "SAME", 2, "NONE", 0, "random"),          # dilation
    ((1, 6, 6, 4), (3, 3), "SAME", 1, "NONE", -128, "unpaired"),      # -128 weights
    ((1, 2, 3, 7), (3, 3), "SAME", 1, "NONE", 3, "random"),           # smaller than the filter
    ((1, 5, 1, 4), (1, 2), "SAME", 1, "NONE", -1, "random"),          # two taps
    ((1, 4, 12, 8), (3, 3), "SAME", 1, "RELU", -128, "random"),       # wide: not transposed
    ((1, 12, 4, 8), (3, 3), "VALID", 1, "RELU6", 5, "random"),        # tall, VALID
]


@pytest.mark.parametrize("case", FLAT_CASES, ids=repr)
def test_depthwise_flat_taps_against_litert(case):
    """The numpy tier's small-image depthwise (all taps as one strided view of the
    flattened padded image, stored transposed when that is shorter, float32 products,
    one float32 GEMV summing the taps, one-block requantization) equals BUILTIN_REF,
    inputs at their extremes included."""
    xs, (kh, kw), padding, dil, act, zi, kind = case
    rng = _rng("dwflat", case)
    c = xs[-1]
    w = rng.integers(-127, 128, (1, kh, kw, c)).astype(I8)
    h2 = (kh * kw + 1) // 2
    if kind == "unpaired":
        w.reshape(-1, c)[0, 1] = w.reshape(-1, c)[h2, 1] = -128
    model = _dw_model(w, xs, rng, zi, padding, dil, act)
    x = rng.choice(np.array([-128, 127, -127, 0, 3, 55, -90], I8), xs)
    check(model, [x])
    x2 = rng.integers(-128, 128, xs).astype(I8)
    check(model, [x2])
    k = numpy_tier_kernel(model)
    assert k.flat
    # both layouts are covered: the kws shape (tall) transposed, the wide ones not
    h, wd = xs[1:3]
    if (h, wd) in ((25, 5), (12, 4)):
        assert k.flat_t
    if (h, wd) in ((4, 12), (9, 10)):
        assert not k.flat_t


def test_depthwise_flat_not_for_uint8():
    rng = _rng("dwflat-u8")
    w = rng.integers(0, 256, (1, 3, 3, 4)).astype(U8)
    model = _dw_model(w, (1, 6, 6, 4), rng, 128, "SAME", 1, "NONE", dtype=U8)
    check(model, [rng.integers(0, 256, (1, 6, 6, 4)).astype(U8)])
    assert not numpy_tier_kernel(model).flat


# ---------------------------------------------------------------- numpy CONV_2D, folded GEMM
SMALL_CONV_CASES = [
    # (dtype, x_shape, w_shape, stride, padding, act, zp_kind, factor)
    (I8, (1, 25, 5, 32), (32, 1, 1, 32), 1, "SAME", "RELU", "lo", 1.0),     # kws 1x1
    (I8, (1, 49, 10, 1), (32, 10, 4, 1), 2, "SAME", "NONE", "mid", 1.0),    # kws first
    (I8, (2, 8, 8, 16), (32, 3, 3, 16), 2, "SAME", "NONE", "hi", 0.3),
    (U8, (1, 9, 7, 3), (5, 3, 3, 3), 1, "VALID", "RELU6", "mid", 1.0),
    (I8, (1, 6, 6, 4), (6, 2, 2, 4), 1, "SAME", "NONE", "lo", 30.0),
    (I8, (1, 12, 9, 2), (6, 5, 3, 2), 1, "SAME", "RELU6", "hi", 1.0),        # two-copy im2col
    (U8, (1, 13, 6, 3), (4, 4, 2, 3), 3, "VALID", "NONE", "mid", 0.5),
    (I8, (1, 32, 32, 3), (16, 3, 3, 3), 1, "SAME", "NONE", "mid", 1.0),     # cnn's stem
    (I8, (1, 11, 10, 2), (8, 3, 2, 2), 2, "SAME", "RELU", "lo", 3.0),
    (I8, (1, 16, 16, 16), (16, 1, 1, 16), 1, "VALID", "NONE", "hi", 1.0),   # cnn's 1x1
    # stride 1, short window rows: the padded-width columns (small_w), with the
    # negative-side correction, dilation, and even kernels (uneven SAME padding)
    (I8, (1, 10, 9, 3), (8, 3, 3, 3), 1, "SAME", "NONE", "hi", 0.3),
    (I8, (1, 11, 12, 2), (4, 3, 3, 2), 1, "SAME", "RELU", "mid", 1.0, 2),
    (U8, (1, 9, 8, 3), (6, 2, 3, 3), 1, "VALID", "NONE", "hi", 2.0, 3),
    (I8, (1, 7, 10, 5), (3, 2, 4, 5), 1, "SAME", "RELU6", "lo", 1.0),
]


@pytest.mark.parametrize("case", SMALL_CONV_CASES, ids=repr)
def test_small_conv_folded_gemm_against_litert(case):
    """The numpy tier's small CONV_2D (requantization scale and offset folded into a
    float64 GEMM of [im2col, 1], then clamp and floor; tall windows: im2col in two
    copies, output written transposed; short window rows: a channel-planar padded copy
    and transposed columns) equals BUILTIN_REF."""
    dtype, xs, ws, s, pad, act, zk, factor = case[:8]
    dil = case[8] if len(case) > 8 else 1
    k = ws[1] * ws[2] * ws[3]
    model, x = conv_like("CONV_2D", dtype, 91, x_shape=xs, w_shape=ws, channels=ws[0], axis=0,
                         k=k, per_channel=dtype == I8, zp_kind=zk, factor=factor,
                         bias_kind="i32", version=3 if dtype == I8 else 1,
                         w_zp=131 if dtype == U8 else 0, padding=pad, stride_h=s, stride_w=s,
                         dilation_h_factor=dil, dilation_w_factor=dil,
                         fused_activation_function=act)
    check(model, x)
    info = np.iinfo(dtype)
    check(model, [np.random.default_rng(5).choice(np.array([info.min, info.max, 0], dtype),
                                                  xs)])
    kern = numpy_tier_kernel(model)
    assert kern.small is not None
    assert kern.rowcol == (ws[1] >= 4 and xs[0] == 1)
    assert kern.small_t == (not kern.direct and xs[0] == 1 and ws[2] * ws[3] < 32
                            and not kern.rowcol)
    assert kern.small_w == (kern.small_t and s == 1)


TINY_FC_CASES = [(I8, (1, 32), 12, True, "NONE"), (I8, (1, 512), 10, False, "RELU"),
                 (U8, (3, 20), 7, False, "RELU6"), (I8, (2, 1, 1, 9), 5, True, "RELU_N1_TO_1")]


@pytest.mark.parametrize("case", TINY_FC_CASES, ids=repr)
def test_tiny_fully_connected_against_litert(case):
    """Tiny FULLY_CONNECTED (one float64 GEMM of [x, 1] against [wq; correction], the
    epilogue with the zero point added before the clamp) equals BUILTIN_REF."""
    import edgelite
    model, x = _fc(case[0], 73, *case[1:])
    check(model, x)
    info = np.iinfo(case[0])
    check(model, [np.random.default_rng(2).choice(np.array([info.min, info.max], case[0]),
                                                  case[1])])
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    assert it._main.kernels[0].tiny
