"""Quantized RESIZE_BILINEAR (edgelite/kernels/quant/misc.py) and integer TRANSPOSE /
RESIZE_NEAREST_NEIGHBOR, bit-exact against LiteRT's reference kernels (BUILTIN_REF)."""
from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from oracle import check_against_litert, max_error, run_edgelite, run_litert

import edgelite
from edgelite.format.builder import ModelBuilder

QUANT = {np.int8: {"scale": [0.05], "zero_point": [-3]},
         np.uint8: {"scale": [0.02], "zero_point": [128]},
         np.int16: {"scale": [0.001], "zero_point": [0]}}


def sample(cases, n, seed=0):
    cases = list(cases)
    return cases if len(cases) <= n else random.Random(seed).sample(cases, n)


def rand_int(shape, dtype, seed):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, int(info.max) + 1, shape).astype(dtype)


def resize_model(op, shape, size, dtype, *, align=False, half=False, const_size=True):
    b = ModelBuilder()
    x = b.add_input("x", shape, dtype, quant=QUANT[dtype])
    if const_size:
        s = b.add_constant("size", np.array(size, np.int32))
    else:
        s = b.add_input("size", (2,), np.int32)
    y = b.add_tensor("y", (shape[0], size[0], size[1], shape[3]), dtype, quant=QUANT[dtype])
    if dtype == np.int16:
        version = 4
    elif half or (op == "RESIZE_NEAREST_NEIGHBOR" and align):
        version = 3
    else:
        version = 2 if dtype == np.int8 else 1
    b.add_op(op, [x, s], [y], version=version, align_corners=align, half_pixel_centers=half)
    b.add_output(y)
    return b.to_bytes()


SHAPES = [((1, 1, 1, 1), (1, 1)), ((1, 2, 2, 1), (3, 5)), ((2, 3, 4, 3), (7, 9)),
          ((1, 5, 7, 2), (2, 3)), ((1, 4, 4, 2), (4, 4)), ((3, 1, 6, 1), (4, 1)),
          ((1, 3, 3, 1), (8, 8)), ((1, 7, 5, 4), (13, 2))]
OPTIONS = [(False, False), (True, False), (False, True)]
DTYPES = [np.int8, np.uint8, np.int16]
GRID = [{"shape": s, "size": z, "dtype": d, "align": a, "half": h}
        for (s, z), d, (a, h) in itertools.product(SHAPES, DTYPES, OPTIONS)]


def _run(case, seed=0):
    model = resize_model("RESIZE_BILINEAR", case["shape"], case["size"], case["dtype"],
                         align=case["align"], half=case["half"])
    x = rand_int(case["shape"], case["dtype"], seed)
    return model, x


@pytest.mark.parametrize("case", sample(GRID, 40, seed=1), ids=str)
def test_resize_bilinear_quantized(case):
    model, x = _run(case)
    check_against_litert(model, [x], reference=True)


@pytest.mark.slow
@pytest.mark.parametrize("case", GRID, ids=str)
def test_resize_bilinear_quantized_full_grid(case):
    for seed in range(3):
        model, x = _run(case, seed)
        check_against_litert(model, [x], reference=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_resize_bilinear_extreme_values(dtype):
    # all-min / all-max inputs and half-pixel weights above 1 (negative source
    # positions): the int8/int16 path wraps on the cast like LiteRT's static_cast.
    info = np.iinfo(dtype)
    for fill in (info.min, info.max):
        model = resize_model("RESIZE_BILINEAR", (1, 3, 2, 2), (7, 5), dtype, half=True)
        x = np.full((1, 3, 2, 2), fill, dtype)
        x[0, 1, 0, 0] = info.max if fill == info.min else info.min
        check_against_litert(model, [x], reference=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_resize_bilinear_dynamic_size(dtype):
    model = resize_model("RESIZE_BILINEAR", (1, 3, 4, 2), (5, 6), dtype, const_size=False)
    x = rand_int((1, 3, 4, 2), dtype, 3)
    for size in ((5, 6), (2, 9)):
        got = run_edgelite(model, [x, np.array(size, np.int32)])
        want = run_litert(model, [x, np.array(size, np.int32)], reference=True)
        assert got[0].shape == want[0].shape and max_error(got[0], want[0]) == 0


def test_resize_bilinear_vs_default_kernels():
    """LiteRT's optimized int8 kernel computes in float: report, not require, agreement."""
    worst = 0
    for case in GRID:
        if case["dtype"] != np.int8:
            continue
        model, x = _run(case)
        got = run_edgelite(model, [x])[0]
        want = run_litert(model, [x])[0]
        worst = max(worst, int(np.abs(got.astype(int) - want.astype(int)).max()))
    assert worst <= 1


def test_resize_bilinear_bad_options():
    model = resize_model("RESIZE_BILINEAR", (1, 2, 2, 1), (3, 3), np.int8, align=True,
                         half=True)
    with pytest.raises(edgelite.OpError, match=r"operator 0 \(RESIZE_BILINEAR\)"):
        edgelite.Interpreter(model_content=model).allocate_tensors()


def test_resize_bilinear_requantizing_output_refused():
    b = ModelBuilder()
    x = b.add_input("x", (1, 2, 2, 1), np.int8, quant=QUANT[np.int8])
    s = b.add_constant("size", np.array([3, 3], np.int32))
    y = b.add_tensor("y", (1, 3, 3, 1), np.int8, quant={"scale": [0.1], "zero_point": [0]})
    b.add_op("RESIZE_BILINEAR", [x, s], [y], version=2)
    b.add_output(y)
    with pytest.raises(edgelite.OpError, match=r"operator 0 \(RESIZE_BILINEAR\)"):
        edgelite.Interpreter(model_content=b.to_bytes()).allocate_tensors()


# ----------------------------------------------------------------- moves only
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("align,half", [(False, False), (True, False), (False, True)])
def test_resize_nearest_neighbor_integer(dtype, align, half):
    model = resize_model("RESIZE_NEAREST_NEIGHBOR", (2, 3, 5, 2), (7, 4), dtype, align=align,
                         half=half)
    check_against_litert(model, [rand_int((2, 3, 5, 2), dtype, 1)], reference=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("perm", [(1, 0), (0, 2, 1), (3, 1, 0, 2), (4, 0, 3, 1, 2)])
def test_transpose_integer(dtype, perm):
    shape = (2, 3, 4, 5, 2)[:len(perm)]
    b = ModelBuilder()
    x = b.add_input("x", shape, dtype, quant=QUANT[dtype])
    p = b.add_constant("perm", np.array(perm, np.int32))
    y = b.add_tensor("y", tuple(shape[i] for i in perm), dtype, quant=QUANT[dtype])
    version = 6 if len(perm) == 5 else (5 if dtype == np.int16 else 2)
    b.add_op("TRANSPOSE", [x, p], [y], version=version)
    b.add_output(y)
    check_against_litert(b.to_bytes(), [rand_int(shape, dtype, 2)], reference=True)
