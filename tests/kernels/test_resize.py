"""Conformance of resize.py (RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR) against LiteRT."""
from __future__ import annotations

import numpy as np
import pytest
from oracle import check_against_litert

import edgelite
from edgelite.format.builder import ModelBuilder


def resize_model(op, in_shape, size, dtype=np.float32, align=False, half=False, const=True,
                 version=1, size_shape=None):
    b = ModelBuilder()
    x = b.add_input("x", in_shape, dtype)
    if const:
        s = b.add_constant("size", np.array(size, np.int32))
    else:
        s = b.add_input("size", size_shape or (2,), np.int32)
    y = b.add_tensor("y", (1,), dtype)
    b.add_op(op, [x, s], [y], version=version, align_corners=align, half_pixel_centers=half)
    b.add_output(y)
    return b.to_bytes()


def _input(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < 0.5
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 1000), shape).astype(dtype)


GEOMETRY = [((1, 4, 4, 1), (8, 8)), ((2, 3, 5, 3), (7, 4)), ((1, 8, 6, 2), (3, 2)),
            ((1, 1, 1, 2), (3, 3)), ((3, 5, 5, 1), (5, 5)), ((1, 4, 6, 4), (1, 1)),
            ((1, 2, 3, 1), (4, 6)), ((1, 10, 7, 2), (13, 5)), ((2, 3, 3, 2), (2, 8))]
MODES = [(False, False), (True, False), (False, True)]
BILINEAR = [(g, s, a, h) for g, s in GEOMETRY for a, h in MODES]
NEAREST = [(g, s, a, h, dt) for g, s in GEOMETRY for a, h in MODES + [(True, True)]
           for dt in (np.float32, np.int8, np.uint8, np.int16, np.int32)]


def _sample(cases, n, seed):
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(cases), size=min(n, len(cases)), replace=False))
    return [cases[i] for i in pick]


def _bilinear(shape, size, align, half, reference=False):
    m = resize_model("RESIZE_BILINEAR", shape, size, align=align, half=half, version=3)
    return check_against_litert(m, [_input(shape, np.float32)], reference=reference)


@pytest.mark.parametrize("shape,size,align,half", _sample(BILINEAR, 20, 1))
def test_bilinear_sampled(shape, size, align, half):
    _bilinear(shape, size, align, half)


@pytest.mark.slow
@pytest.mark.parametrize("shape,size,align,half", BILINEAR)
@pytest.mark.parametrize("reference", [False, True])
def test_bilinear_full(shape, size, align, half, reference):
    _bilinear(shape, size, align, half, reference)


def _nearest(shape, size, align, half, dtype):
    m = resize_model("RESIZE_NEAREST_NEIGHBOR", shape, size, dtype, align=align, half=half,
                     version=3)
    return check_against_litert(m, [_input(shape, dtype)])


@pytest.mark.parametrize("shape,size,align,half,dtype", _sample(NEAREST, 30, 2))
def test_nearest_sampled(shape, size, align, half, dtype):
    _nearest(shape, size, align, half, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("shape,size,align,half,dtype", NEAREST)
def test_nearest_full(shape, size, align, half, dtype):
    _nearest(shape, size, align, half, dtype)


@pytest.mark.parametrize("op", ["RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"])
def test_dynamic_size(op):
    shape = (2, 4, 5, 3)
    m = resize_model(op, shape, None, const=False)
    x = _input(shape, np.float32)
    for size in ([7, 3], [2, 9]):
        check_against_litert(m, [x, np.array(size, np.int32)])


def test_dynamic_size_reinvoke():
    shape = (1, 4, 5, 2)
    m = resize_model("RESIZE_BILINEAR", shape, None, const=False)
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    x = _input(shape, np.float32)
    it.set_tensor(0, x)
    shapes = []
    for size in ([3, 3], [6, 2], [3, 3]):
        it.set_tensor(1, np.array(size, np.int32))
        it.invoke()
        shapes.append(it.get_tensor(it.get_output_details()[0]["index"]).shape)
    assert shapes == [(1, 3, 3, 2), (1, 6, 2, 2), (1, 3, 3, 2)]


def _expect_op_error(model, op_name, inputs=None, match=None):
    it = edgelite.Interpreter(model_content=model)
    with pytest.raises(edgelite.OpError) as e:
        it.allocate_tensors()
        for d, x in zip(it.get_input_details(), inputs or []):
            it.set_tensor(d["index"], x)
        it.invoke()
    assert f"operator 0 ({op_name})" in str(e.value)
    if match:
        assert match in str(e.value)


def test_errors():
    bl, nn = "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"
    _expect_op_error(resize_model(bl, (1, 4, 4, 1), (2, 2), np.int8), bl, match="not implemented")
    _expect_op_error(resize_model(bl, (1, 4, 4, 1), (2, 2), np.uint8), bl, match="not implemented")
    _expect_op_error(resize_model(bl, (4, 4, 1), (2, 2)), bl, match="4-D")
    _expect_op_error(resize_model(nn, (1, 4, 4, 1), (2, 2, 2)), nn, match="size")
    _expect_op_error(resize_model(bl, (1, 4, 4, 1), (2, 2), align=True, half=True), bl,
                     match="half_pixel_centers")
    _expect_op_error(resize_model(nn, (1, 4, 4, 1), (0, 2)), nn, match="positive")
    _expect_op_error(resize_model(nn, (1, 4, 4, 1), (2, 2), np.int64), nn)
    m = resize_model(bl, (1, 4, 4, 1), None, const=False)
    _expect_op_error(m, bl, [np.zeros((1, 4, 4, 1), np.float32), np.array([-1, 3], np.int32)],
                     match="positive")


def test_bilinear_into_a_strided_output():
    """The kernel's row views need a contiguous output; given a strided one (the runtime
    never does) it computes into a temporary and copies: the same values."""
    shape, size = (2, 3, 5, 3), (7, 4)
    m = resize_model("RESIZE_BILINEAR", shape, size, version=3)
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    x = _input(shape, np.float32)
    it.set_tensor(0, x)
    it.invoke()
    want = it.get_tensor(it.get_output_details()[0]["index"])
    k = it._main.kernels[0]
    big = np.full((2, 7, 8, 3), np.nan, np.float32)
    strided = big[:, :, ::2]
    assert not strided.flags.c_contiguous
    k.compute(x, strided)
    np.testing.assert_array_equal(strided, want)
    assert np.isnan(big[:, :, 1::2]).all()         # nothing written between
