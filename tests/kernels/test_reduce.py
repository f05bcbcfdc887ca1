"""Conformance of reduce.py (MEAN, SUM, REDUCE_*, ARG_MAX/MIN, CUMSUM) against LiteRT."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from oracle import check_against_litert

import edgelite
from edgelite.format.builder import ModelBuilder

F32, I8, U8, I16, I32, I64, BOOL = (np.float32, np.int8, np.uint8, np.int16, np.int32, np.int64,
                                    np.bool_)


def random_input(rng, shape, dtype, kind="any"):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "f":
        if kind == "prod":
            return (rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)).astype(dtype)
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    if kind == "prod":
        return rng.integers(-3 if info.min < 0 else 0, 4, shape).astype(dtype)
    if kind == "ties":
        return rng.integers(0, 3, shape).astype(dtype)
    lo, hi = max(info.min, -1000), min(info.max, 1000)
    return rng.integers(lo, hi, shape, endpoint=True).astype(dtype)


def reduce_model(op, shape, dtype, axes, keep_dims, const_axis=True, version=1, quant=None):
    b = ModelBuilder()
    x = b.add_input("x", shape, dtype, quant=quant)
    if const_axis:
        a = b.add_constant("axis", np.array(axes, np.int32).reshape(-1))
    else:
        a = b.add_input("axis", (len(axes),), np.int32)
    y = b.add_tensor("y", (1,), dtype, quant=quant)
    b.add_op(op, [x, a], [y], version=version, keep_dims=keep_dims)
    b.add_output(y)
    return b.to_bytes()


REDUCE_OPS = {
    "SUM": (F32, I32, I64),
    "MEAN": (F32, I32, I64),
    "REDUCE_PROD": (F32, I32, I64),
    "REDUCE_MAX": (F32, I32, I64, I8, U8, I16),
    "REDUCE_MIN": (F32, I32, I64, I8, U8, I16),
    "REDUCE_ANY": (BOOL,),
    "REDUCE_ALL": (BOOL,),
}
SHAPES_AXES = [
    ((2, 3, 4), [1]), ((2, 3, 4), [0, 2]), ((2, 3, 4), [-1, 0]), ((2, 3, 4), [1, 1]),
    ((2, 3, 4), [-1, 2]), ((2, 3, 4), []), ((2, 3, 4), [0, 1, 2]), ((7,), [0]),
    ((1, 4, 1, 3), [0, 1, 2, 3]), ((3, 1, 5, 2), [1, 3]), ((4, 6, 5, 3), [1, 2]),
    ((2, 50, 60), [2]), ((50, 60), [0]),
]
ALL_REDUCE = [(op, dt, sa, keep) for op, dts in REDUCE_OPS.items() for dt in dts
              for sa in SHAPES_AXES for keep in (False, True)]


def _sample(cases, n, seed):
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(cases), size=min(n, len(cases)), replace=False))
    return [cases[i] for i in pick]


def _run_reduce(op, dtype, shape, axes, keep, seed=0):
    rng = np.random.default_rng(seed)
    x = random_input(rng, shape, dtype, "prod" if op == "REDUCE_PROD" else "any")
    return check_against_litert(reduce_model(op, shape, dtype, axes, keep), [x])


@pytest.mark.parametrize("op,dtype,sa,keep", _sample(ALL_REDUCE, 70, 1))
def test_reduce_sampled(op, dtype, sa, keep):
    _run_reduce(op, dtype, sa[0], sa[1], keep)


@pytest.mark.slow
@pytest.mark.parametrize("op,dtype,sa,keep", ALL_REDUCE)
def test_reduce_full(op, dtype, sa, keep):
    _run_reduce(op, dtype, sa[0], sa[1], keep)


@pytest.mark.parametrize("op", ["SUM", "MEAN", "REDUCE_MAX", "REDUCE_ANY"])
@pytest.mark.parametrize("keep", [False, True])
def test_reduce_dynamic_axis(op, keep):
    dtype = BOOL if op == "REDUCE_ANY" else F32
    rng = np.random.default_rng(3)
    x = random_input(rng, (3, 4, 5), dtype)
    m = reduce_model(op, (3, 4, 5), dtype, [0, 0], keep, const_axis=False)
    check_against_litert(m, [x, np.array([-1, 1], np.int32)])


@pytest.mark.parametrize("op", ["SUM", "MEAN", "REDUCE_PROD", "REDUCE_MAX", "REDUCE_MIN"])
def test_reduce_rank0(op):
    # A rank-0 input ignores the axis tensor (LiteRT returns before resolving it).
    m = reduce_model(op, (), F32, [0], False)
    check_against_litert(m, [np.array(2.5, np.float32)])


@pytest.mark.parametrize("op,dtype", [("SUM", F32), ("SUM", I32), ("MEAN", F32), ("MEAN", I32),
                                      ("REDUCE_PROD", F32), ("REDUCE_MAX", F32),
                                      ("REDUCE_MIN", I32), ("REDUCE_ANY", BOOL),
                                      ("REDUCE_ALL", BOOL)])
def test_reduce_over_empty_dim(op, dtype):
    # Reducing a zero-sized axis gives the identity (MEAN: NaN, or 0 for ints).
    rng = np.random.default_rng(4)
    x = random_input(rng, (3, 0, 2), dtype)
    # LiteRT is inconsistent for float MAX/MIN over nothing: its default kernels give
    # -inf/+inf, its reference kernels the lowest/highest finite float. We match the
    # reference kernels.
    reference = op in ("REDUCE_MAX", "REDUCE_MIN") and dtype == F32
    check_against_litert(reduce_model(op, (3, 0, 2), dtype, [1], False), [x], reference=reference)


def test_int_mean_truncates_and_sum_wraps():
    x = np.array([[-7, 0, 0], [7, 1, 1], [2**31 - 1, 2**31 - 1, 5]], np.int32)
    check_against_litert(reduce_model("MEAN", (3, 3), I32, [1], False), [x])
    check_against_litert(reduce_model("SUM", (3, 3), I32, [1], False), [x])


@pytest.mark.parametrize("n", [10, 1000, 20000])
def test_float_sum_accuracy(n):
    # LiteRT accumulates float32 sequentially (or with XNNPACK's vector order);
    # numpy sums pairwise. The difference stays within the 1e-5 bar here.
    rng = np.random.default_rng(n)
    x = rng.standard_normal((3, n)).astype(np.float32)
    check_against_litert(reduce_model("SUM", (3, n), F32, [1], False), [x])
    check_against_litert(reduce_model("MEAN", (3, n), F32, [1], True), [x])


# ---------------------------------------------------------------- ARG_MAX / ARG_MIN
def arg_model(op, shape, dtype, axis, out_type, axis_dtype=np.int32, const_axis=True):
    b = ModelBuilder()
    x = b.add_input("x", shape, dtype)
    if const_axis:
        a = b.add_constant("axis", np.array([axis], axis_dtype))
    else:
        a = b.add_input("axis", (1,), axis_dtype)
    y = b.add_tensor("y", (1,), out_type)
    b.add_op(op, [x, a], [y], version=2, output_type="INT32" if out_type == I32 else "INT64")
    b.add_output(y)
    return b.to_bytes()


ARG_CASES = [(op, dt, shape, axis, ot)
             for op in ("ARG_MAX", "ARG_MIN")
             for dt in (F32, U8, I8, I32, BOOL)
             for shape, axis in [((5,), 0), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1),
                                 ((1, 7, 1, 3), 1), ((4, 1), 1)]
             for ot in (I32, I64)]


def _run_arg(op, dtype, shape, axis, out_type, axis_dtype=np.int32, seed=0):
    rng = np.random.default_rng(seed)
    x = random_input(rng, shape, dtype, "ties")  # many ties: the first index must win
    return check_against_litert(arg_model(op, shape, dtype, axis, out_type, axis_dtype), [x])


@pytest.mark.parametrize("op,dtype,shape,axis,ot", _sample(ARG_CASES, 40, 2))
def test_arg_sampled(op, dtype, shape, axis, ot):
    _run_arg(op, dtype, shape, axis, ot)


@pytest.mark.slow
@pytest.mark.parametrize("op,dtype,shape,axis,ot", ARG_CASES)
def test_arg_full(op, dtype, shape, axis, ot):
    _run_arg(op, dtype, shape, axis, ot)
    _run_arg(op, dtype, shape, axis, ot, axis_dtype=np.int64, seed=1)


@pytest.mark.parametrize("op", ["ARG_MAX", "ARG_MIN"])
def test_arg_dynamic_axis(op):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    m = arg_model(op, (3, 4, 5), F32, 0, I64, const_axis=False)
    check_against_litert(m, [x, np.array([-2], np.int32)])


# ---------------------------------------------------------------- CUMSUM
def cumsum_model(shape, dtype, axis, exclusive, reverse, const_axis=True):
    b = ModelBuilder()
    x = b.add_input("x", shape, dtype)
    a = b.add_constant("axis", np.array(axis, np.int32)) if const_axis \
        else b.add_input("axis", (), np.int32)
    y = b.add_tensor("y", shape, dtype)
    b.add_op("CUMSUM", [x, a], [y], exclusive=exclusive, reverse=reverse)
    b.add_output(y)
    return b.to_bytes()


CUMSUM_CASES = [(dt, shape, axis, ex, rev)
                for dt in (F32, I32, I64)
                for shape, axis in [((6,), 0), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1),
                                    ((1, 5, 1), 1), ((3, 1), 1), ((2, 300), 1)]
                for ex, rev in itertools.product((False, True), repeat=2)]


def _run_cumsum(dt, shape, axis, ex, rev, const_axis=True):
    rng = np.random.default_rng(7)
    x = random_input(rng, shape, dt)
    inputs = [x] if const_axis else [x, np.array(axis, np.int32)]
    return check_against_litert(cumsum_model(shape, dt, axis, ex, rev, const_axis), inputs)


@pytest.mark.parametrize("dt,shape,axis,ex,rev", _sample(CUMSUM_CASES, 30, 3))
def test_cumsum_sampled(dt, shape, axis, ex, rev):
    _run_cumsum(dt, shape, axis, ex, rev)


@pytest.mark.slow
@pytest.mark.parametrize("dt,shape,axis,ex,rev", CUMSUM_CASES)
def test_cumsum_full(dt, shape, axis, ex, rev):
    _run_cumsum(dt, shape, axis, ex, rev)
    _run_cumsum(dt, shape, axis, ex, rev, const_axis=False)


@pytest.mark.parametrize("ex,rev", itertools.product((False, True), repeat=2))
def test_cumsum_dynamic_axis(ex, rev):
    _run_cumsum(F32, (3, 4), -2, ex, rev, const_axis=False)


# ---------------------------------------------------------------- invalid use
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


def test_errors_reduce():
    _expect_op_error(reduce_model("SUM", (2, 3), F32, [2], False), "SUM", match="out of range")
    _expect_op_error(reduce_model("MEAN", (2, 3), F32, [-3], False), "MEAN")
    _expect_op_error(reduce_model("REDUCE_ANY", (2, 3), F32, [0], False), "REDUCE_ANY")
    m = reduce_model("SUM", (2, 3), F32, [0], False, const_axis=False)
    _expect_op_error(m, "SUM", [np.zeros((2, 3), np.float32), np.array([5], np.int32)])
    b = ModelBuilder()
    x = b.add_input("x", (2, 3), F32)
    a = b.add_constant("axis", np.array([0], np.int64))
    y = b.add_tensor("y", (3,), F32)
    b.add_op("SUM", [x, a], [y])
    b.add_output(y)
    _expect_op_error(b.to_bytes(), "SUM", match="axis")


def test_errors_arg_and_cumsum():
    _expect_op_error(arg_model("ARG_MAX", (2, 3), F32, 2, I32), "ARG_MAX")
    _expect_op_error(arg_model("ARG_MIN", (2, 0), F32, 1, I32), "ARG_MIN", match="empty")
    _expect_op_error(arg_model("ARG_MAX", (2, 3), I64, 0, I32), "ARG_MAX")
    _expect_op_error(cumsum_model((2, 3), I8, 0, False, False), "CUMSUM")
    _expect_op_error(cumsum_model((2, 3), F32, 2, False, False), "CUMSUM", match="out of range")
    b = ModelBuilder()
    x = b.add_input("x", (2, 3), F32)
    a = b.add_constant("axis", np.array([0], np.int32))
    y = b.add_tensor("y", (3,), F32)
    b.add_op("ARG_MAX", [x, a], [y], output_type="FLOAT32")
    b.add_output(y)
    _expect_op_error(b.to_bytes(), "ARG_MAX", match="output_type")
