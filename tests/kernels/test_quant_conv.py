"""Quantized CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV and
BATCH_MATMUL against LiteRT's reference kernels (BUILTIN_REF), bit for bit.

Grids cover int8 (per-tensor and per-channel weights), uint8 (per-tensor, weight
zero points) and int16 activations x int8 weights (int64 and int32 biases),
zero points at the extremes, scales over orders of magnitude, every padding,
stride, dilation, fused activation, batch > 1 and size-1 dims. The default run
takes a seeded sample of each grid; `-m slow` runs all of it.

LiteRT behaviour we match (and check here):
- FULLY_CONNECTED's reference kernel rounds `double(acc) * in*w/out` instead of
  using the integer multiplier (its default kernels use the multiplier).
- int16 DEPTHWISE_CONV_2D takes only an int64 bias, and loops over the
  depth_multiplier option (we require it to match the shapes).
- An int16 CONV/FC/TRANSPOSE_CONV int32 bias is read as int32 only when the
  options' quantized_bias_type is INT32 (LiteRT otherwise reads it as int64).
"""
from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from oracle import check_against_litert

import edgelite
from edgelite.format.builder import ModelBuilder
from edgelite.kernels.quant import arith
from edgelite.kernels.quant.qutil import Requantizer

I8, U8, I16 = np.int8, np.uint8, np.int16
ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


def fits(case) -> bool:
    """A VALID window must fit in the input (LiteRT rejects an empty output too)."""
    if case["pad"] != "VALID":
        return True
    (h, w), (kh, kw), d = case["hw"], case["k"], case.get("dil", 1)
    return (kh - 1) * d + 1 <= h and (kw - 1) * d + 1 <= w


def sample(grid: list, k: int, seed: int = 0) -> list:
    return random.Random(seed).sample(grid, min(k, len(grid)))


def slow_rest(grid: list, k: int, seed: int = 0) -> list:
    picked = set(map(repr, sample(grid, k, seed)))
    return [g for g in grid if repr(g) not in picked]


# ---------------------------------------------------------------- model pieces
def act_params(rng, dtype, zp_kind: str):
    """(scale, zero_point) of an activation tensor; zp_kind: lo / mid / hi."""
    if dtype == I16:
        return float(rng.choice([1e-4, 3e-3, 0.05])), 0
    lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    zp = {"lo": lo, "mid": int(rng.integers(lo + 1, hi)), "hi": hi}[zp_kind]
    return float(rng.choice([0.0039, 0.05, 1.7])), zp


def weights(rng, dtype, shape, channels: int, axis: int, per_channel: bool, w_zp: int = 0):
    wd = U8 if dtype == U8 else I8
    lo = 0 if wd == U8 else -127
    hi = 255 if wd == U8 else 127
    w = rng.integers(lo, hi + 1, shape).astype(wd)
    if per_channel:
        scales = list(10.0 ** rng.uniform(-4, -1, channels))
    else:
        scales = [float(10.0 ** rng.uniform(-4, -1))]
    q = {"scale": scales, "zero_point": [w_zp] * len(scales), "quantized_dimension": axis}
    return w, q, float(np.mean(scales))


def random_input(rng, dtype, shape):
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)


def out_scale(rng, in_scale, w_scale, k, dtype, factor):
    std = {I8: 74.0, U8: 74.0, I16: 18900.0}[dtype] * 74.0 * np.sqrt(k)
    target = {I8: 40.0, U8: 40.0, I16: 9000.0}[dtype]
    return float(std * in_scale * w_scale / target * factor)


def bias_array(rng, dtype, n, bias_kind):
    bt = np.int64 if bias_kind == "i64" else np.int32
    amp = 20000 if dtype != I16 else 2_000_000
    return rng.integers(-amp, amp, n).astype(bt)


def conv_like(op, dtype, seed, *, x_shape, w_shape, channels, axis, k, per_channel, zp_kind,
              factor, bias_kind, version, w_zp=0, **options):
    """A one-op model for CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    s_in, z_in = act_params(rng, dtype, zp_kind)
    w, wq, w_mean = weights(rng, dtype, w_shape, channels, axis, per_channel, w_zp)
    s_out = out_scale(rng, s_in, w_mean, k, dtype, factor)
    z_out = 0 if dtype == I16 else int(rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max))
    x = b.add_input("x", x_shape, dtype, quant={"scale": [s_in], "zero_point": [z_in]})
    ins = [x, b.add_constant("w", w, quant=wq)]
    if bias_kind != "none":
        bias = bias_array(rng, dtype, channels, bias_kind)
        bq = {"scale": [s_in * s for s in wq["scale"]], "zero_point": [0] * len(wq["scale"])}
        ins.append(b.add_constant("b", bias, quant=bq))
    y = b.add_tensor("y", (1,), dtype, quant={"scale": [s_out], "zero_point": [z_out]})
    if bias_kind == "i32" and dtype == I16:
        options["quantized_bias_type"] = "INT32"
    b.add_op(op, ins, [y], version=version, **options)
    b.add_output(y)
    return b.to_bytes(), [random_input(rng, dtype, x_shape)]


def check(model, inputs):
    check_against_litert(model, inputs, reference=True, int_tol=0)


# ---------------------------------------------------------------- CONV_2D
CONV_GRID = [
    {"dtype": dt, "n": n, "hw": hw, "c": c, "oc": oc, "k": k, "stride": s, "dil": d, "pad": p, "act": a, "pc": pc, "zp": z,
         "groups": g}
    for dt, pc in ((I8, True), (I8, False), (U8, False), (I16, True))
    for n, hw, c, oc in ((1, (7, 6), 3, 4), (2, (5, 5), 4, 6), (1, (1, 1), 8, 3), (1, (9, 4), 1, 1))
    for k in ((1, 1), (3, 3), (2, 3))
    for s in (1, 2)
    for d in (1, 2)
    for p in ("SAME", "VALID")
    for a in ACTS
    for z in ("lo", "hi")
    for g in (1, 2)
    if not (g == 2 and (c % 2 or oc % 2))
]
CONV_GRID = [c for c in CONV_GRID if fits(c)]


def conv_model(case, seed):
    dt, n, (h, w), c, oc = case["dtype"], case["n"], case["hw"], case["c"], case["oc"]
    kh, kw = case["k"]
    g = case["groups"]
    version = {I8: 3, U8: 1, I16: 4}[dt] if g == 1 else 6
    w_zp = 131 if dt == U8 else 0
    bias_kind = "i64" if dt == I16 else "i32"
    return conv_like("CONV_2D", dt, seed, x_shape=(n, h, w, c), w_shape=(oc, kh, kw, c // g),
                     channels=oc, axis=0, k=kh * kw * c // g, per_channel=case["pc"],
                     zp_kind=case["zp"], factor=1.0, bias_kind=bias_kind, version=version,
                     w_zp=w_zp, padding=case["pad"], stride_w=case["stride"],
                     stride_h=case["stride"], dilation_w_factor=case["dil"],
                     dilation_h_factor=case["dil"], fused_activation_function=case["act"])


def _run_conv(case, seed):
    check(*conv_model(case, seed))


@pytest.mark.parametrize("case", sample(CONV_GRID, 60, 1), ids=repr)
def test_conv2d(case):
    _run_conv(case, 11)


@pytest.mark.slow
@pytest.mark.parametrize("case", slow_rest(CONV_GRID, 60, 1), ids=repr)
def test_conv2d_all(case):
    _run_conv(case, 12)


@pytest.mark.parametrize("dtype,factor", [(I8, 0.01), (I8, 100.0), (U8, 0.01), (U8, 50.0),
                                          (I16, 0.01), (I16, 100.0)])
def test_conv2d_output_scale_extremes(dtype, factor):
    # saturating and nearly-all-zero outputs
    model, x = conv_like("CONV_2D", dtype, 5, x_shape=(1, 5, 5, 3), w_shape=(4, 3, 3, 3),
                         channels=4, axis=0, k=27, per_channel=dtype != U8, zp_kind="mid",
                         factor=factor, bias_kind="i64" if dtype == I16 else "i32",
                         version=3, w_zp=7 if dtype == U8 else 0, padding="SAME", stride_w=1,
                         stride_h=1)
    check(model, x)


def test_conv2d_large_k_uses_exact_float64():
    # K = 3*3*128 = 1152 > the float32-exact bound for int8: the float64 GEMM path.
    model, x = conv_like("CONV_2D", I8, 6, x_shape=(1, 6, 6, 128), w_shape=(8, 3, 3, 128),
                         channels=8, axis=0, k=1152, per_channel=True, zp_kind="lo",
                         factor=1.0, bias_kind="i32", version=3, padding="SAME", stride_w=1,
                         stride_h=1)
    check(model, x)


def test_conv2d_int16_int32_bias():
    model, x = conv_like("CONV_2D", I16, 7, x_shape=(2, 6, 5, 3), w_shape=(5, 3, 3, 3),
                         channels=5, axis=0, k=27, per_channel=True, zp_kind="mid", factor=1.0,
                         bias_kind="i32", version=8, padding="SAME", stride_w=1, stride_h=1)
    check(model, x)


# ---------------------------------------------------------------- DEPTHWISE_CONV_2D
DW_GRID = [
    {"dtype": dt, "n": n, "hw": hw, "c": c, "mult": m, "k": k, "stride": s, "dil": d, "pad": p, "act": a, "pc": pc, "zp": z}
    for dt, pc in ((I8, True), (I8, False), (U8, False), (I16, True))
    for n, hw, c in ((1, (7, 6), 3), (2, (5, 5), 4), (1, (1, 1), 8))
    for m in (1, 2)
    for k in ((1, 1), (3, 3), (2, 3))
    for s in (1, 2)
    for d in (1, 2)
    for p in ("SAME", "VALID")
    for a in ACTS
    for z in ("lo", "hi")
]
DW_GRID = [c for c in DW_GRID if fits(c)]


def dw_model(case, seed):
    dt, n, (h, w), c, m = case["dtype"], case["n"], case["hw"], case["c"], case["mult"]
    kh, kw = case["k"]
    version = {I8: 3, U8: 2, I16: 5}[dt]
    return conv_like("DEPTHWISE_CONV_2D", dt, seed, x_shape=(n, h, w, c), w_shape=(1, kh, kw, c * m),
                     channels=c * m, axis=3, k=kh * kw, per_channel=case["pc"],
                     zp_kind=case["zp"], factor=1.0, bias_kind="i64" if dt == I16 else "i32",
                     version=version, w_zp=250 if dt == U8 else 0, padding=case["pad"],
                     stride_w=case["stride"], stride_h=case["stride"],
                     dilation_w_factor=case["dil"], dilation_h_factor=case["dil"],
                     depth_multiplier=m, fused_activation_function=case["act"])


def _run_dw(case, seed):
    check(*dw_model(case, seed))


@pytest.mark.parametrize("case", sample(DW_GRID, 50, 2), ids=repr)
def test_depthwise(case):
    _run_dw(case, 21)


@pytest.mark.slow
@pytest.mark.parametrize("case", slow_rest(DW_GRID, 50, 2), ids=repr)
def test_depthwise_all(case):
    _run_dw(case, 22)


def test_depthwise_int8_no_bias():
    model, x = conv_like("DEPTHWISE_CONV_2D", I8, 23, x_shape=(1, 5, 5, 4), w_shape=(1, 3, 3, 4),
                         channels=4, axis=3, k=9, per_channel=True, zp_kind="hi", factor=1.0,
                         bias_kind="none", version=3, padding="SAME", stride_w=1, stride_h=1,
                         depth_multiplier=1)
    check(model, x)


# ---------------------------------------------------------------- FULLY_CONNECTED
FC_GRID = [
    {"dtype": dt, "pc": pc, "shape": sh, "units": u, "act": a, "zp": z, "keep": keep, "bias": bias}
    for dt, pc in ((I8, True), (I8, False), (U8, False), (I16, True), (I16, False))
    for sh in ((1, 16), (3, 20), (2, 3, 8), (1, 1), (4, 300))
    for u in (1, 7)
    for a in ACTS
    for z in ("lo", "mid", "hi")
    for keep in (False, True)
    for bias in (True, False)
]


def fc_model(case, seed):
    dt = case["dtype"]
    shape = case["shape"]
    k = shape[-1]
    bias_kind = ("i64" if dt == I16 else "i32") if case["bias"] else "none"
    version = {I8: 4, U8: 1, I16: 7}[dt]
    return conv_like("FULLY_CONNECTED", dt, seed, x_shape=shape, w_shape=(case["units"], k),
                     channels=case["units"], axis=0, k=k, per_channel=case["pc"],
                     zp_kind=case["zp"], factor=1.0, bias_kind=bias_kind, version=version,
                     w_zp=3 if dt == U8 else 0, keep_num_dims=case["keep"],
                     fused_activation_function=case["act"])


@pytest.mark.parametrize("case", sample(FC_GRID, 60, 3), ids=repr)
def test_fully_connected(case):
    check(*fc_model(case, 31))


@pytest.mark.slow
@pytest.mark.parametrize("case", slow_rest(FC_GRID, 60, 3), ids=repr)
def test_fully_connected_all(case):
    check(*fc_model(case, 32))


@pytest.mark.parametrize("dtype", [I8, U8, I16])
def test_fully_connected_flattens_higher_rank(dtype):
    # [2, 3, 4] flattened to [size / K, K] = [3, 8] without keep_num_dims
    model, x = conv_like("FULLY_CONNECTED", dtype, 33, x_shape=(2, 3, 4), w_shape=(5, 8),
                         channels=5, axis=0, k=8, per_channel=False, zp_kind="mid", factor=1.0,
                         bias_kind="i64" if dtype == I16 else "i32", version=4,
                         w_zp=200 if dtype == U8 else 0)
    check(model, x)


def test_fully_connected_int16_int32_bias():
    model, x = conv_like("FULLY_CONNECTED", I16, 34, x_shape=(3, 12), w_shape=(4, 12),
                         channels=4, axis=0, k=12, per_channel=True, zp_kind="mid", factor=1.0,
                         bias_kind="i32", version=11)
    check(model, x)


# ---------------------------------------------------------------- TRANSPOSE_CONV
TC_GRID = [
    {"dtype": dt, "pc": pc, "n": n, "hw": hw, "c": c, "oc": oc, "k": k, "stride": s, "pad": p, "zp": z, "bias": bias}
    for dt, pc in ((I8, True), (I8, False), (U8, False), (I16, True))
    for n, hw, c, oc in ((1, (3, 4), 2, 3), (2, (4, 4), 3, 1), (1, (1, 1), 4, 2))
    for k in ((1, 1), (3, 3), (2, 3))
    for s in (1, 2, 3)
    for p in ("SAME", "VALID")
    for z in ("lo", "hi")
    for bias in (True, False)
]


def tc_model(case, seed):
    rng = np.random.default_rng(seed)
    dt, n, (h, w), c, oc = case["dtype"], case["n"], case["hw"], case["c"], case["oc"]
    kh, kw = case["k"]
    s = case["stride"]
    if case["pad"] == "SAME":
        oh, ow = h * s, w * s
    else:
        oh, ow = (h - 1) * s + kh, (w - 1) * s + kw
    b = ModelBuilder()
    s_in, z_in = act_params(rng, dt, case["zp"])
    wv, wq, w_mean = weights(rng, dt, (oc, kh, kw, c), oc, 0, case["pc"], 77 if dt == U8 else 0)
    s_out = out_scale(rng, s_in, w_mean, c * kh * kw / (s * s), dt, 1.0)
    z_out = 0 if dt == I16 else int(rng.integers(np.iinfo(dt).min, np.iinfo(dt).max))
    shape_t = b.add_constant("output_shape", np.array([n, oh, ow, oc], np.int32))
    ins = [shape_t, b.add_constant("w", wv, quant=wq),
           b.add_input("x", (n, h, w, c), dt, quant={"scale": [s_in], "zero_point": [z_in]})]
    bias_kind = "i64" if dt == I16 else "i32"
    if case["bias"]:
        ins.append(b.add_constant("b", bias_array(rng, dt, oc, bias_kind)))
    y = b.add_tensor("y", (n, oh, ow, oc), dt, quant={"scale": [s_out], "zero_point": [z_out]})
    version = 3 if case["bias"] else (2 if dt != U8 else 1)
    b.add_op("TRANSPOSE_CONV", ins, [y], version=version, padding=case["pad"], stride_w=s,
             stride_h=s)
    b.add_output(y)
    return b.to_bytes(), [random_input(rng, dt, (n, h, w, c))]


@pytest.mark.parametrize("case", sample(TC_GRID, 40, 4), ids=repr)
def test_transpose_conv(case):
    check(*tc_model(case, 41))


@pytest.mark.slow
@pytest.mark.parametrize("case", slow_rest(TC_GRID, 40, 4), ids=repr)
def test_transpose_conv_all(case):
    check(*tc_model(case, 42))


# ---------------------------------------------------------------- BATCH_MATMUL
BMM_GRID = [
    {"types": t, "sa": sa, "sb": sb, "adj_x": ax, "adj_y": ay, "zp": z}
    for t in ((I8, I8, I8), (I8, I8, np.int32), (I16, I16, I16), (I16, I8, I16))
    for sa, sb in (((3, 5), (5, 4)), ((2, 3, 5), (2, 5, 4)), ((2, 3, 5), (5, 4)),
                   ((1, 3, 5), (2, 5, 4)), ((2, 1, 3, 5), (3, 5, 2)), ((1, 1), (1, 1)),
                   ((2, 2, 1, 4, 6), (1, 2, 3, 6, 2)), ((2, 40, 300), (300, 3)))
    for ax in (False, True)
    for ay in (False, True)
    for z in ("lo", "mid", "hi")
]


def bmm_model(case, seed):
    rng = np.random.default_rng(seed)
    ta, tb, to = case["types"]
    sa, sb = list(case["sa"]), list(case["sb"])
    k = sa[-1]
    if case["adj_x"]:
        sa[-1], sa[-2] = sa[-2], sa[-1]
    if case["adj_y"]:
        sb[-1], sb[-2] = sb[-2], sb[-1]
    b = ModelBuilder()
    s_a, z_a = act_params(rng, ta, case["zp"])
    s_b, z_b = act_params(rng, tb, "mid")
    if ta == I16:
        z_b = 0             # LiteRT requires symmetric int16 x int8 / int16 operands
    s_out = out_scale(rng, s_a, s_b, k, ta, 1.0)
    z_out = 0 if to != I8 else int(rng.integers(-128, 128))
    a = b.add_input("a", tuple(sa), ta, quant={"scale": [s_a], "zero_point": [z_a]})
    bb = b.add_input("b", tuple(sb), tb, quant={"scale": [s_b], "zero_point": [z_b]})
    y = b.add_tensor("y", (1,), to, quant={"scale": [s_out], "zero_point": [z_out]})
    b.add_op("BATCH_MATMUL", [a, bb], [y], version={I8: 2, I16: 3}[ta], adj_x=case["adj_x"],
             adj_y=case["adj_y"])
    b.add_output(y)
    return b.to_bytes(), [random_input(rng, ta, tuple(sa)), random_input(rng, tb, tuple(sb))]


@pytest.mark.parametrize("case", sample(BMM_GRID, 40, 5), ids=repr)
def test_batch_matmul(case):
    check(*bmm_model(case, 51))


@pytest.mark.slow
@pytest.mark.parametrize("case", slow_rest(BMM_GRID, 40, 5), ids=repr)
def test_batch_matmul_all(case):
    check(*bmm_model(case, 52))


# ---------------------------------------------------------------- requantization core
@pytest.mark.parametrize("seed", range(6))
def test_requantizer_matches_arith(seed):
    rng = np.random.default_rng(seed)
    reals = 10.0 ** rng.uniform(-9, 0.9, 16)            # includes left shifts (>= 0.5)
    m, s = arith.quantize_multiplier_array(reals)
    acc = rng.integers(-(1 << 31), 1 << 31, (200, 16), dtype=np.int64)
    acc[:, :4] = rng.integers(-3000, 3000, (200, 4))
    want = arith.multiply_by_quantized_multiplier(acc, m, s) + 3
    want = np.clip(want, -128, 127)
    got = np.empty(acc.shape, np.int8)
    Requantizer(m, s, 3, -128, 127)(acc.copy(), got)
    np.testing.assert_array_equal(got, want)


def test_requantizer_int64_path():
    rng = np.random.default_rng(9)
    m, s = arith.quantize_multiplier_array(10.0 ** rng.uniform(-6, -2, 8))
    acc = rng.integers(-(1 << 40), 1 << 40, (50, 8), dtype=np.int64)
    want = np.clip(arith.multiply_by_quantized_multiplier_int64(acc, m, s), -32768, 32767)
    got = np.empty(acc.shape, np.int16)
    Requantizer(m, s, 0, -32768, 32767, use_int64_path=True)(acc.copy(), got)
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- invalid use
def _bad_conv(**over):
    p = {"dtype": I8, "w_dtype": I8, "w_zp": 0, "pc": True, "in_zp": 0, "out_zp": 0, "bias_dtype": np.int32,
             "act": "NONE", "out_dtype": None, "op": "CONV_2D", "qbt": None}
    p.update(over)
    b = ModelBuilder()
    dt = p["dtype"]
    x = b.add_input("x", (1, 5, 5, 2), dt, quant={"scale": [0.1], "zero_point": [p["in_zp"]]})
    if p["op"] == "CONV_2D":
        wshape, axis = (3, 3, 3, 2), 0
    else:
        wshape, axis = (1, 3, 3, 2), 3
    n = wshape[axis]
    scales = [0.01 * (i + 1) for i in range(n)] if p["pc"] else [0.01]
    w = b.add_constant("w", np.ones(wshape, p["w_dtype"]),
                       quant={"scale": scales, "zero_point": [p["w_zp"]] * len(scales),
                                  "quantized_dimension": axis})
    bias = b.add_constant("b", np.zeros(n, p["bias_dtype"]))
    y = b.add_tensor("y", (1,), p["out_dtype"] or dt, quant={"scale": [0.2],
                                                                 "zero_point": [p["out_zp"]]})
    opts = {"padding": "SAME", "stride_w": 1, "stride_h": 1, "fused_activation_function": p["act"]}
    if p["op"] == "DEPTHWISE_CONV_2D":
        opts["depth_multiplier"] = 1
    if p["qbt"]:
        opts["quantized_bias_type"] = p["qbt"]
    b.add_op(p["op"], [x, w, bias], [y], version=3, **opts)
    b.add_output(y)
    return b.to_bytes()


@pytest.mark.parametrize("over,msg", [
    ({"w_dtype": U8}, "weights"),
    ({"w_zp": 3}, "zero point"),
    ({"dtype": U8, "w_dtype": U8, "in_zp": 128, "out_zp": 128}, "per-channel"),
    ({"dtype": I16, "in_zp": 5, "bias_dtype": np.int64}, "zero points 0"),
    ({"bias_dtype": np.int64}, "bias"),
    ({"dtype": I16, "bias_dtype": np.int32}, "bias"),
    ({"dtype": I16, "bias_dtype": np.int64, "qbt": "INT32"}, "bias"),
    ({"act": "TANH"}, "activation"),
    ({"out_dtype": I16}, "output"),
    ({"op": "DEPTHWISE_CONV_2D", "w_dtype": U8}, "weights"),
    ({"op": "DEPTHWISE_CONV_2D", "dtype": I16, "bias_dtype": np.int32}, "int64"),
])
def test_invalid_conv(over, msg):
    model = _bad_conv(**over)
    op = over.get("op", "CONV_2D")
    with pytest.raises(edgelite.OpError, match=rf"operator 0 \({op}\).*{msg}"):
        edgelite.Interpreter(model_content=model).allocate_tensors()


def test_invalid_fc_weights_rank():
    b = ModelBuilder()
    x = b.add_input("x", (2, 4), I8, quant={"scale": [0.1], "zero_point": [0]})
    w = b.add_constant("w", np.ones((4,), I8), quant={"scale": [0.1], "zero_point": [0]})
    y = b.add_tensor("y", (1,), I8, quant={"scale": [0.1], "zero_point": [0]})
    b.add_op("FULLY_CONNECTED", [x, w], [y], version=4)
    b.add_output(y)
    with pytest.raises(edgelite.OpError, match=r"operator 0 \(FULLY_CONNECTED\).*2-D"):
        edgelite.Interpreter(model_content=b.to_bytes()).allocate_tensors()


@pytest.mark.parametrize("types", [(I8, I16), (U8, U8), (I8, U8)])
def test_invalid_batch_matmul_types(types):
    b = ModelBuilder()
    q = {"scale": [0.1], "zero_point": [0]}
    a = b.add_input("a", (2, 3), types[0], quant=q)
    c = b.add_input("b", (3, 2), types[1], quant=q)
    y = b.add_tensor("y", (1,), types[0], quant=q)
    b.add_op("BATCH_MATMUL", [a, c], [y], version=2)
    b.add_output(y)
    with pytest.raises(edgelite.OpError, match=r"operator 0 \(BATCH_MATMUL\)"):
        edgelite.Interpreter(model_content=b.to_bytes()).allocate_tensors()


def test_invalid_transpose_conv_output_shape():
    b = ModelBuilder()
    q = {"scale": [0.1], "zero_point": [0]}
    shape_t = b.add_constant("os", np.array([1, 9, 9, 2], np.int32))
    w = b.add_constant("w", np.ones((2, 3, 3, 2), I8), quant=q)
    x = b.add_input("x", (1, 4, 4, 2), I8, quant=q)
    y = b.add_tensor("y", (1, 9, 9, 2), I8, quant=q)
    b.add_op("TRANSPOSE_CONV", [shape_t, w, x], [y], version=2, padding="SAME", stride_w=2,
             stride_h=2)
    b.add_output(y)
    with pytest.raises(edgelite.OpError, match=r"operator 0 \(TRANSPOSE_CONV\).*output_shape"):
        edgelite.Interpreter(model_content=b.to_bytes()).allocate_tensors()


def test_grid_sizes():
    # keep the grids honest: every dtype family is represented in each default sample
    for grid, k, seed in ((CONV_GRID, 60, 1), (DW_GRID, 50, 2), (FC_GRID, 60, 3)):
        kinds = {c["dtype"] for c in sample(grid, k, seed)}
        assert kinds == {I8, U8, I16}
    assert len(list(itertools.chain(CONV_GRID, DW_GRID, FC_GRID, TC_GRID, BMM_GRID))) > 2000


def test_quantize_multiplier_array_equals_scalar():
    """quantize_multiplier_array (its all-positive fast path and the general form) gives
    QuantizeMultiplier's (multiplier, shift) on every value: random scales over the
    whole exponent range, values that round up to 2^31, ones whose shift is below -31,
    zeros, negatives, subnormals, and mixed arrays that take the general form."""
    rng = np.random.default_rng(3)
    pos = np.concatenate([
        10.0 ** rng.uniform(-15, 5, 2000),
        np.nextafter(1.0, 0.0) * 2.0 ** rng.integers(-40, 10, 50),   # m rounds to 2^31
        2.0 ** rng.integers(-45, -30, 50) * rng.uniform(0.5, 1, 50),  # shifts < -31
        [5e-324, 2.2250738585072014e-308, 1.0, 0.5, 2.0 ** -31, 2.0 ** -32],
    ])
    for reals in (pos, np.concatenate([pos, [0.0, -0.25, -3e-7]]), -pos):
        m, s = arith.quantize_multiplier_array(reals)
        want = [arith.quantize_multiplier(float(v)) for v in reals]
        assert m.tolist() == [w[0] for w in want]
        assert s.tolist() == [w[1] for w in want]
        assert m.dtype == np.int64 and s.dtype == np.int64
