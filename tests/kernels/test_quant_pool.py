"""Quantized AVERAGE_POOL_2D and MAX_POOL_2D (int8, uint8, int16) against LiteRT's
reference kernels (BUILTIN_REF), bit for bit: every padding, window and stride
shape (incl. windows larger than the input with SAME padding, global pools and
windows above the tap-loop threshold), fused activations, zero points at the
extremes, batch > 1 and size-1 dims. Default run: a seeded sample; `-m slow`: all."""
from __future__ import annotations

import random

import numpy as np
import pytest
from oracle import check_against_litert

import edgelite
from edgelite.format.builder import ModelBuilder

I8, U8, I16 = np.int8, np.uint8, np.int16

GRID = [
    {"op": op, "dtype": dt, "shape": sh, "f": f, "s": s, "pad": p, "act": a, "zp": z}
    for op in ("AVERAGE_POOL_2D", "MAX_POOL_2D")
    for dt in (I8, U8, I16)
    for sh in ((1, 7, 9, 3), (2, 4, 4, 1), (1, 1, 1, 5), (1, 12, 10, 2))
    for f in ((1, 1), (2, 2), (3, 2), (4, 4), (12, 10))
    for s in ((1, 1), (2, 2), (3, 1))
    for p in ("SAME", "VALID")
    for a in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
    for z in ("lo", "mid", "hi")
    if p == "SAME" or (f[0] <= sh[1] and f[1] <= sh[2])
]


def pool_model(case, seed):
    rng = np.random.default_rng(seed)
    dt = case["dtype"]
    info = np.iinfo(dt)
    if dt == I16:
        zp = 0
    else:
        zp = {"lo": int(info.min), "mid": int(rng.integers(info.min + 1, info.max)),
              "hi": int(info.max)}[case["zp"]]
    q = {"scale": [float(rng.choice([0.004, 0.05, 0.7]))], "zero_point": [zp]}
    b = ModelBuilder()
    x = b.add_input("x", case["shape"], dt, quant=q)
    y = b.add_tensor("y", (1,), dt, quant=q)
    version = {I8: 2, U8: 1, I16: 3}[dt]
    b.add_op(case["op"], [x], [y], version=version, padding=case["pad"],
             stride_h=case["s"][0], stride_w=case["s"][1], filter_height=case["f"][0],
             filter_width=case["f"][1], fused_activation_function=case["act"])
    b.add_output(y)
    xv = rng.integers(info.min, int(info.max) + 1, case["shape"]).astype(dt)
    return b.to_bytes(), [xv]


def _sample(k, seed):
    return random.Random(seed).sample(GRID, k)


DEFAULT = _sample(150, 7)
_picked = set(map(repr, DEFAULT))
REST = [c for c in GRID if repr(c) not in _picked]


@pytest.mark.parametrize("case", DEFAULT, ids=repr)
def test_pool(case):
    check_against_litert(*pool_model(case, 3), reference=True, int_tol=0)


@pytest.mark.slow
@pytest.mark.parametrize("case", REST, ids=repr)
def test_pool_all(case):
    check_against_litert(*pool_model(case, 4), reference=True, int_tol=0)


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("dtype", [I8, U8, I16])
def test_global_pool_large_window(op, dtype):
    # 20x20 window: reduced over a window view rather than a loop over taps
    case = {"op": op, "dtype": dtype, "shape": (2, 20, 20, 4), "f": (20, 20), "s": (1, 1),
            "pad": "VALID", "act": "NONE", "zp": "mid"}
    check_against_litert(*pool_model(case, 5), reference=True, int_tol=0)


def test_average_rounding_ties():
    # sums of +-half the count: C's (acc +- count/2) / count rounds ties away from zero
    b = ModelBuilder()
    q = {"scale": [0.1], "zero_point": [0]}
    x = b.add_input("x", (1, 2, 4, 1), I8, quant=q)
    y = b.add_tensor("y", (1,), I8, quant=q)
    b.add_op("AVERAGE_POOL_2D", [x], [y], version=2, padding="VALID", stride_h=2, stride_w=2,
             filter_height=2, filter_width=2)
    b.add_output(y)
    xv = np.array([[1, 1, -1, -1], [0, 0, 0, 0]], I8).reshape(1, 2, 4, 1)
    check_against_litert(b.to_bytes(), [xv], reference=True, int_tol=0)


def _bad(dtype_in, dtype_out, act="NONE", shape=(1, 4, 4, 1), stride=1):
    b = ModelBuilder()
    q = {"scale": [0.1], "zero_point": [0]}
    x = b.add_input("x", shape, dtype_in, quant=q)
    y = b.add_tensor("y", (1,), dtype_out, quant=q)
    b.add_op("MAX_POOL_2D", [x], [y], version=2, padding="SAME", stride_h=stride,
             stride_w=stride, filter_height=2, filter_width=2, fused_activation_function=act)
    b.add_output(y)
    return b.to_bytes()


@pytest.mark.parametrize("args,msg", [
    ((I8, U8), "output has type"),
    ((I8, I8, "TANH"), "activation"),
    ((I8, I8, "NONE", (4, 4, 1)), "4-D"),
    ((I8, I8, "NONE", (1, 4, 4, 1), 0), "stride"),
])
def test_invalid(args, msg):
    with pytest.raises(edgelite.OpError, match=rf"operator 0 \(MAX_POOL_2D\).*{msg}"):
        edgelite.Interpreter(model_content=_bad(*args)).allocate_tensors()


@pytest.mark.parametrize("dtype", [I8, U8])
def test_average_every_window_sum(dtype):
    """3x3 windows (a count of 9) whose sums take every possible value, against the
    reference kernels: the rounding of sum / count everywhere, ties included."""
    info = np.iinfo(dtype)
    lo, span = int(info.min), int(info.max) - int(info.min)
    rows = []
    for extra in range(9 * span + 1):
        full, rest = divmod(extra, span)
        row = [lo + span] * full + ([lo + rest] if full < 9 else []) + [lo] * 9
        rows.append(row[:9])
    rows = np.array(rows, dtype=dtype)                     # [R, 9], sums all distinct
    r = len(rows)
    xv = rows.reshape(r, 3, 3).transpose(1, 0, 2).reshape(1, 3, 3 * r, 1)
    zp = int(info.min) + 7
    q = {"scale": [0.05], "zero_point": [zp]}
    b = ModelBuilder()
    x = b.add_input("x", xv.shape, dtype, quant=q)
    y = b.add_tensor("y", (1,), dtype, quant=q)
    b.add_op("AVERAGE_POOL_2D", [x], [y], version=2 if dtype == I8 else 1, padding="VALID",
             stride_h=3, stride_w=3, filter_height=3, filter_width=3)
    b.add_output(y)
    check_against_litert(b.to_bytes(), [xv.astype(dtype)], reference=True, int_tol=0)


def test_rounded_quotients_equal_integer_division():
    """The average pool's table of rounded quotients, built from runs of np.repeat,
    equals sign(s) * ((|s| + k // 2) // k) on every sum of every window size up to 300
    (8-bit ranges) and up to 40 (int16 ranges)."""
    from edgelite.kernels.quant.pool import _rounded_quotients
    for k in range(1, 301):
        ranges = [(-128, 127), (0, 255)] + ([(-32768, 32767)] if k <= 40 else [])
        for lo_v, hi_v in ranges:
            sums = np.arange(k * lo_v, k * hi_v + 1, dtype=np.int64)
            want = np.where(sums < 0, -1, 1) * ((np.abs(sums) + k // 2) // k)
            got = _rounded_quotients(k * lo_v, k * hi_v, k)
            assert got.dtype == np.int32 and np.array_equal(got, want), (k, lo_v)
