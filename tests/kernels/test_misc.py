"""Conformance of misc.py (GATHER, GATHER_ND, SCATTER_ND, ONE_HOT, WHERE, TOPK_V2,
EMBEDDING_LOOKUP, UNIQUE, DYNAMIC_UPDATE_SLICE) against LiteRT."""
from __future__ import annotations

import numpy as np
import pytest
from oracle import check_against_litert

import edgelite
from edgelite.format.builder import ModelBuilder

F32, I8, U8, I16, I32, I64, BOOL = (np.float32, np.int8, np.uint8, np.int16, np.int32, np.int64,
                                    np.bool_)
DATA_TYPES = (F32, I8, U8, I16, I32, I64, BOOL)


def data(rng, shape, dtype, lo=-100, hi=100):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, lo), min(info.max, hi), shape, endpoint=True).astype(dtype)


def one_op(op, inputs, outputs, version=1, **options):
    """inputs: list of (name, array or shape+dtype, const?); outputs: list of dtypes."""
    b = ModelBuilder()
    ids = []
    for name, value, const, dtype in inputs:
        if const:
            ids.append(b.add_constant(name, np.asarray(value, dtype)))
        else:
            ids.append(b.add_input(name, np.shape(value), dtype))
    outs = [b.add_tensor(f"out{i}", (1,), dt) for i, dt in enumerate(outputs)]
    b.add_op(op, ids, outs, version=version, **options)
    for o in outs:
        b.add_output(o)
    return b.to_bytes()


def run(op, inputs, outputs, version=1, **options):
    """Build, feed the non-constant inputs, compare with LiteRT."""
    model = one_op(op, inputs, outputs, version=version, **options)
    feeds = [np.asarray(v, dt) for _, v, const, dt in inputs if not const]
    return check_against_litert(model, feeds)


def _sample(cases, n, seed):
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(cases), size=min(n, len(cases)), replace=False))
    return [cases[i] for i in pick]


def _expect_op_error(model, op_name, inputs=None, match=None):
    it = edgelite.Interpreter(model_content=model)
    with pytest.raises(edgelite.OpError) as e:
        it.allocate_tensors()
        for d, x in zip(it.get_input_details(), inputs or []):
            it.set_tensor(d["index"], x)
        it.invoke()
    assert f"operator 0 ({op_name})" in str(e.value)
    if match:
        assert match in str(e.value), str(e.value)


# ---------------------------------------------------------------- GATHER
GATHER_GEOM = [  # (params shape, positions shape, axis, batch_dims)
    ((5,), (3,), 0, 0), ((4, 3), (2,), 0, 0), ((4, 3), (2, 2), 1, 0), ((4, 3), (), 0, 0),
    ((2, 3, 4), (5,), -1, 0), ((2, 3, 4), (2, 2), 1, 0), ((1, 6, 1), (4,), 1, 0),
    ((2, 3, 4), (2, 5), 1, 1), ((2, 3, 4), (2, 5), 2, 1), ((2, 3, 4, 2), (2, 3, 2), 2, 2),
    ((2, 3, 4), (2, 5), -1, -1), ((3, 4), (0,), 0, 0),
]
GATHER_CASES = [(g, dt, it) for g in GATHER_GEOM for dt in DATA_TYPES for it in (I32, I64, I16)]


def _gather(geom, dtype, idx_type, const_params=False, seed=0):
    shape, ishape, axis, bd = geom
    rng = np.random.default_rng(seed)
    x = data(rng, shape, dtype)
    n = shape[axis]
    idx = rng.integers(0, n, ishape)
    return run("GATHER", [("x", x, const_params, dtype), ("idx", idx, False, idx_type)], [dtype],
               version=5, axis=axis, batch_dims=bd)


@pytest.mark.parametrize("geom,dtype,idx_type", _sample(GATHER_CASES, 40, 1))
def test_gather_sampled(geom, dtype, idx_type):
    _gather(geom, dtype, idx_type)


@pytest.mark.slow
@pytest.mark.parametrize("geom,dtype,idx_type", GATHER_CASES)
def test_gather_full(geom, dtype, idx_type):
    _gather(geom, dtype, idx_type)
    _gather(geom, dtype, idx_type, const_params=True, seed=1)


def test_gather_strings():
    b = ModelBuilder()
    x = b.add_constant("x", np.array(["a", "bb", "", "dddd"], dtype=object))
    i = b.add_input("i", (5,), np.int32)
    y = b.add_tensor("y", (5,), object)
    b.add_op("GATHER", [x, i], [y], axis=0)
    b.add_output(y)
    check_against_litert(b.to_bytes(), [np.array([3, 0, 2, 2, 1], np.int32)])


def test_gather_errors():
    m = one_op("GATHER", [("x", np.zeros((4, 3)), False, F32), ("i", np.zeros(2), False, I32)],
               [F32], axis=0)
    for bad in ([0, 4], [-1, 0]):
        _expect_op_error(m, "GATHER", [np.zeros((4, 3), F32), np.array(bad, I32)],
                         match="out of range")
    m = one_op("GATHER", [("x", np.zeros((4, 3)), False, F32), ("i", np.zeros(2), False, I32)],
               [F32], axis=2)
    _expect_op_error(m, "GATHER", match="axis")
    m = one_op("GATHER", [("x", np.zeros((4, 3)), False, F32), ("i", np.zeros(2), False, F32)],
               [F32], axis=0)
    _expect_op_error(m, "GATHER", match="positions")
    m = one_op("GATHER", [("x", np.zeros((4, 3)), False, F32), ("i", np.zeros((3, 2)), False,
                                                                 I32)], [F32], axis=1,
               batch_dims=1)
    _expect_op_error(m, "GATHER", match="batch dimension")


# ---------------------------------------------------------------- GATHER_ND
GND_GEOM = [((4, 3), (2, 2)), ((4, 3), (2, 1)), ((4, 3), (1,)), ((2, 3, 4), (5, 2)),
            ((2, 3, 4), (2, 2, 3)), ((1, 5, 1, 2), (4, 3)), ((6,), (3, 1))]
GND_CASES = [(g, dt, it) for g in GND_GEOM for dt in DATA_TYPES for it in (I32, I64, I16)]


def _gather_nd(geom, dtype, idx_type, seed=0):
    shape, ishape = geom
    rng = np.random.default_rng(seed)
    x = data(rng, shape, dtype)
    nd = ishape[-1]
    idx = np.stack([rng.integers(0, shape[j], ishape[:-1]) for j in range(nd)], axis=-1) \
        if nd else np.zeros(ishape, np.int64)
    return run("GATHER_ND", [("x", x, False, dtype), ("i", idx.reshape(ishape), False,
                                                      idx_type)], [dtype])


@pytest.mark.parametrize("geom,dtype,idx_type", _sample(GND_CASES, 30, 2))
def test_gather_nd_sampled(geom, dtype, idx_type):
    _gather_nd(geom, dtype, idx_type)


@pytest.mark.slow
@pytest.mark.parametrize("geom,dtype,idx_type", GND_CASES)
def test_gather_nd_full(geom, dtype, idx_type):
    _gather_nd(geom, dtype, idx_type)


def test_gather_nd_zero_depth():
    # Index depth 0 takes the whole params per index row (TensorFlow's semantics).
    # LiteRT fails here ("gather_nd index out of bounds") only because a zero-element
    # indices tensor has a null data pointer, so this case is checked against numpy.
    x = np.arange(24, dtype=F32).reshape(2, 3, 4)
    m = one_op("GATHER_ND", [("x", x, False, F32), ("i", np.zeros((3, 0)), False, I32)], [F32])
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    it.set_tensor(0, x)
    it.set_tensor(1, np.zeros((3, 0), I32))
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    np.testing.assert_array_equal(got, np.broadcast_to(x, (3, 2, 3, 4)))


def test_gather_nd_errors():
    m = one_op("GATHER_ND", [("x", np.zeros((4, 3)), False, F32),
                             ("i", np.zeros((2, 2)), False, I32)], [F32])
    for bad in ([[0, 3], [1, 1]], [[4, 0], [0, 0]], [[0, -1], [0, 0]]):
        _expect_op_error(m, "GATHER_ND", [np.zeros((4, 3), F32), np.array(bad, I32)],
                         match="out of range")
    m = one_op("GATHER_ND", [("x", np.zeros((4, 3)), False, F32),
                             ("i", np.zeros((2, 3)), False, I32)], [F32])
    _expect_op_error(m, "GATHER_ND", match="index depth")


# ---------------------------------------------------------------- SCATTER_ND
SND_GEOM = [((4, 1), (4,), (8,)), ((2, 1), (2, 3), (4, 3)), ((3, 2), (3,), (4, 3)),
            ((2, 2, 1), (2, 2, 5), (6, 5)), ((5, 2), (5, 2), (3, 3, 2))]
SND_CASES = [(g, dt, c) for g in SND_GEOM for dt in (F32, U8, BOOL, I8, I64, I32)
             for c in (True, False)]


def _scatter_nd(geom, dtype, const_shape, seed=0):
    ishape, ushape, shape = geom
    rng = np.random.default_rng(seed)
    nd = ishape[-1]
    # Duplicates on purpose: updates to the same place accumulate.
    idx = np.stack([rng.integers(0, shape[j], ishape[:-1]) for j in range(nd)], axis=-1)
    upd = data(rng, ushape, dtype, 0, 20)
    return run("SCATTER_ND", [("i", idx, False, I32), ("u", upd, False, dtype),
                              ("s", np.array(shape), const_shape, I32)], [dtype])


@pytest.mark.parametrize("geom,dtype,const_shape", _sample(SND_CASES, 24, 3))
def test_scatter_nd_sampled(geom, dtype, const_shape):
    _scatter_nd(geom, dtype, const_shape)


@pytest.mark.slow
@pytest.mark.parametrize("geom,dtype,const_shape", SND_CASES)
def test_scatter_nd_full(geom, dtype, const_shape):
    _scatter_nd(geom, dtype, const_shape)


def test_scatter_nd_errors():
    m = one_op("SCATTER_ND", [("i", np.zeros((2, 1)), False, I32), ("u", np.zeros(2), False, F32),
                              ("s", [4], True, I32)], [F32])
    _expect_op_error(m, "SCATTER_ND", [np.array([[1], [4]], I32), np.ones(2, F32)],
                     match="out of range")
    m = one_op("SCATTER_ND", [("i", np.zeros((2, 1)), False, I32), ("u", np.zeros(3), False, F32),
                              ("s", [4], True, I32)], [F32])
    _expect_op_error(m, "SCATTER_ND", match="do not fit")
    m = one_op("SCATTER_ND", [("i", np.zeros((2, 1)), False, I32), ("u", np.zeros(2), False, F32),
                              ("s", [4], True, I64)], [F32])
    _expect_op_error(m, "SCATTER_ND", match="same type")


# ---------------------------------------------------------------- ONE_HOT
OH_CASES = [(ishape, axis, dt, it)
            for ishape in ((4,), (2, 3), (2, 1, 3))
            for axis in range(-1, len(ishape) + 1)
            for dt in (F32, I8, U8, I32, I64, BOOL) for it in (I32, I64)]


def _one_hot(ishape, axis, dtype, idx_type, const_depth=True, depth=5, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(-1, depth + 1, ishape)       # out-of-range indices give all off
    on, off = data(rng, (2,), dtype)
    if dtype == BOOL:
        on, off = True, False
    return run("ONE_HOT", [("i", idx, False, idx_type), ("d", depth, const_depth, I32),
                           ("on", on, True, dtype), ("off", off, True, dtype)], [dtype],
               axis=axis)


@pytest.mark.parametrize("ishape,axis,dtype,idx_type", _sample(OH_CASES, 30, 4))
def test_one_hot_sampled(ishape, axis, dtype, idx_type):
    _one_hot(ishape, axis, dtype, idx_type)


@pytest.mark.slow
@pytest.mark.parametrize("ishape,axis,dtype,idx_type", OH_CASES)
def test_one_hot_full(ishape, axis, dtype, idx_type):
    _one_hot(ishape, axis, dtype, idx_type)
    _one_hot(ishape, axis, dtype, idx_type, const_depth=False, depth=3)


def test_one_hot_dynamic_depth():
    _one_hot((2, 3), -1, F32, I32, const_depth=False, depth=4)
    _one_hot((2, 3), 0, I64, I64, const_depth=False, depth=1)


def _invoke(model, inputs):
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def test_one_hot_zero_depth():
    # LiteRT's Python API cannot read a zero-element output ("Invalid tensor size"),
    # so the shape is checked against TensorFlow's definition instead.
    m = one_op("ONE_HOT", [("i", np.zeros((2, 3)), False, I32), ("d", 0, False, I32),
                           ("on", 1, True, F32), ("off", 0, True, F32)], [F32], axis=1)
    (got,) = _invoke(m, [np.zeros((2, 3), I32), np.array(0, I32)])
    assert got.shape == (2, 0, 3)


def test_one_hot_errors():
    m = one_op("ONE_HOT", [("i", np.zeros(3), False, I32), ("d", 3, True, I32),
                           ("on", 1, True, F32), ("off", 0, True, F32)], [F32], axis=3)
    _expect_op_error(m, "ONE_HOT", match="axis")
    m = one_op("ONE_HOT", [("i", np.zeros(3), False, I32), ("d", 3, True, I32),
                           ("on", 1, True, F32), ("off", 0, True, I32)], [F32])
    _expect_op_error(m, "ONE_HOT", match="off_value")
    m = one_op("ONE_HOT", [("i", np.zeros(3), False, F32), ("d", 3, True, I32),
                           ("on", 1, True, F32), ("off", 0, True, F32)], [F32])
    _expect_op_error(m, "ONE_HOT", match="indices")
    # LiteRT accepts int16 at prepare and then fails at invoke; we refuse at prepare.
    m = one_op("ONE_HOT", [("i", np.zeros(3), False, I32), ("d", 3, True, I32),
                           ("on", 1, True, I16), ("off", 0, True, I16)], [I16])
    _expect_op_error(m, "ONE_HOT", match="not supported")


# ---------------------------------------------------------------- WHERE
WHERE_CASES = [(shape, dt) for shape in ((5,), (3, 4), (2, 1, 3), (2, 2, 2, 2), (1, 7))
               for dt in (BOOL, F32, I64, I32, I8, U8)]


def _where(shape, dtype, const=False, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 2, shape) * rng.integers(1, 5, shape)
    if dtype == BOOL:
        c = c != 0
    return run("WHERE", [("c", c, const, dtype)], [I64])


@pytest.mark.parametrize("shape,dtype", _sample(WHERE_CASES, 15, 5))
def test_where_sampled(shape, dtype):
    _where(shape, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("shape,dtype", WHERE_CASES)
def test_where_full(shape, dtype):
    _where(shape, dtype)


def test_where_const_and_empty():
    # A constant condition gives a static output; an all-false or empty condition a
    # (0, rank) output, which LiteRT's Python API cannot read: checked against numpy.
    cond = np.array([[True, False], [False, True]])
    b = ModelBuilder()
    c = b.add_constant("c", cond)
    y = b.add_tensor("y", (1,), I64)
    b.add_op("WHERE", [c], [y])
    b.add_output(y)
    (got,) = _invoke(b.to_bytes(), [])
    np.testing.assert_array_equal(got, np.argwhere(cond))
    for c in (np.zeros((3, 2), bool), np.zeros((0, 3), bool)):
        (got,) = _invoke(one_op("WHERE", [("c", c, False, BOOL)], [I64]), [c])
        assert got.shape == (0, c.ndim) and got.dtype == np.int64


# ---------------------------------------------------------------- TOPK_V2
TOPK_CASES = [(shape, k, dt, ot) for shape in ((6,), (3, 5), (2, 2, 7), (4, 1))
              for k in (1, 2, 3, -1) for dt in (F32, U8, I8, I16, I32, I64) for ot in (I32, I16)]


def _topk(shape, k, dtype, out_type, const_k=True, seed=0):
    k = shape[-1] if k == -1 else min(k, shape[-1])
    rng = np.random.default_rng(seed)
    x = data(rng, shape, dtype, -3, 3) if dtype != F32 else \
        rng.integers(-3, 3, shape).astype(F32)       # many ties: the lower index comes first
    return run("TOPK_V2", [("x", x, False, dtype), ("k", k, const_k, I32)], [dtype, out_type],
               version=3 if out_type == I16 else 1)


@pytest.mark.parametrize("shape,k,dtype,out_type", _sample(TOPK_CASES, 30, 6))
def test_topk_sampled(shape, k, dtype, out_type):
    _topk(shape, k, dtype, out_type)


@pytest.mark.slow
@pytest.mark.parametrize("shape,k,dtype,out_type", TOPK_CASES)
def test_topk_full(shape, k, dtype, out_type):
    _topk(shape, k, dtype, out_type)
    _topk(shape, k, dtype, out_type, const_k=False, seed=1)


def test_topk_dynamic_k_and_floats():
    _topk((3, 8), 4, F32, I32, const_k=False)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 20)).astype(F32)
    run("TOPK_V2", [("x", x, False, F32), ("k", 7, True, I32)], [F32, I32])


def test_topk_zero_k():
    # k = 0 gives empty outputs, which LiteRT's Python API cannot read.
    m = one_op("TOPK_V2", [("x", np.zeros((2, 3)), False, F32), ("k", 0, True, I32)], [F32, I32])
    vals, inds = _invoke(m, [np.ones((2, 3), F32)])
    assert vals.shape == inds.shape == (2, 0)


def test_topk_errors():
    m = one_op("TOPK_V2", [("x", np.zeros((2, 3)), False, F32), ("k", 4, True, I32)], [F32, I32])
    _expect_op_error(m, "TOPK_V2", match="larger")
    m = one_op("TOPK_V2", [("x", np.zeros((2, 3)), False, F32), ("k", 2, True, I32)], [I32, I32])
    _expect_op_error(m, "TOPK_V2", match="values output")
    m = one_op("TOPK_V2", [("x", np.zeros((2, 3)), False, F32), ("k", 2, True, I64)], [F32, I32])
    _expect_op_error(m, "TOPK_V2", match="k tensor")


# ---------------------------------------------------------------- EMBEDDING_LOOKUP
EMB_CASES = [(tshape, n, dt) for tshape in ((5, 3), (4, 2, 3), (1, 4)) for n in (1, 4)
             for dt in (F32, I8, U8, I32, I64, I16, BOOL)]


def _embedding(tshape, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    table = data(rng, tshape, dtype)
    ids = rng.integers(0, tshape[0], (n,))
    return run("EMBEDDING_LOOKUP", [("ids", ids, False, I32), ("t", table, False, dtype)],
               [dtype])


@pytest.mark.parametrize("tshape,n,dtype", _sample(EMB_CASES, 20, 7))
def test_embedding_sampled(tshape, n, dtype):
    _embedding(tshape, n, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("tshape,n,dtype", EMB_CASES)
def test_embedding_full(tshape, n, dtype):
    _embedding(tshape, n, dtype)


def _hybrid_model(table, scale, dtype):
    b = ModelBuilder()
    ids = b.add_input("ids", (4,), I32)
    zp = [0] * len(scale) if len(scale) > 1 else 0
    quant = {"scale": scale, "zero_point": zp, "quantized_dimension": 0}
    t = b.add_constant("t", table.astype(dtype), quant=quant)
    y = b.add_tensor("y", (1,), F32)
    b.add_op("EMBEDDING_LOOKUP", [ids, t], [y], version=3)
    b.add_output(y)
    return b.to_bytes()


@pytest.mark.parametrize("dtype", [I8, U8])
@pytest.mark.parametrize("per_row", [False, True])
def test_embedding_hybrid(dtype, per_row):
    # LiteRT reads a uint8 table as int8 (values above 127 come out negative); we match it.
    rng = np.random.default_rng(8)
    lo, hi = (-128, 127) if dtype == I8 else (0, 255)
    table = rng.integers(lo, hi, (5, 2, 3))
    scale = list(rng.uniform(0.01, 0.5, 5)) if per_row else [0.125]
    check_against_litert(_hybrid_model(table, scale, dtype),
                         [rng.integers(0, 5, 4).astype(I32)])


def test_embedding_errors():
    m = one_op("EMBEDDING_LOOKUP", [("ids", np.zeros(2), False, I32),
                                    ("t", np.zeros((3, 2)), False, F32)], [F32])
    _expect_op_error(m, "EMBEDDING_LOOKUP", [np.array([0, 3], I32), np.zeros((3, 2), F32)],
                     match="out of range")
    m = one_op("EMBEDDING_LOOKUP", [("ids", np.zeros((2, 1)), False, I32),
                                    ("t", np.zeros((3, 2)), False, F32)], [F32])
    _expect_op_error(m, "EMBEDDING_LOOKUP", match="1-D")
    m = one_op("EMBEDDING_LOOKUP", [("ids", np.zeros(2), False, I32),
                                    ("t", np.zeros((3, 2)), False, I8)], [F32])
    _expect_op_error(m, "EMBEDDING_LOOKUP", match="scale")


# ---------------------------------------------------------------- UNIQUE
UNIQUE_CASES = [(n, dt, ot) for n in (1, 7, 40) for dt in (I8, I16, I32, I64, F32, U8)
                for ot in (I32, I64)]


def _unique(n, dtype, out_type, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, n).astype(dtype)
    return run("UNIQUE", [("x", x, False, dtype)], [dtype, out_type],
               idx_out_type="INT32" if out_type == I32 else "INT64")


@pytest.mark.parametrize("n,dtype,out_type", _sample(UNIQUE_CASES, 16, 9))
def test_unique_sampled(n, dtype, out_type):
    _unique(n, dtype, out_type)


@pytest.mark.slow
@pytest.mark.parametrize("n,dtype,out_type", UNIQUE_CASES)
def test_unique_full(n, dtype, out_type):
    _unique(n, dtype, out_type)
    _unique(n, dtype, out_type, seed=1)


def test_unique_errors():
    m = one_op("UNIQUE", [("x", np.zeros((2, 2)), False, I32)], [I32, I32], idx_out_type="INT32")
    _expect_op_error(m, "UNIQUE", match="1-D")
    m = one_op("UNIQUE", [("x", np.zeros(3), False, I32)], [I32, I32], idx_out_type="INT16")
    _expect_op_error(m, "UNIQUE", match="idx_out_type")
    m = one_op("UNIQUE", [("x", np.zeros(3), False, BOOL)], [BOOL, I32], idx_out_type="INT32")
    _expect_op_error(m, "UNIQUE")


# ---------------------------------------------------------------- DYNAMIC_UPDATE_SLICE
DUS_GEOM = [((6,), (2,)), ((4, 5), (2, 3)), ((3, 4, 5), (1, 4, 2)), ((2, 3), (2, 3)),
            ((1, 5, 1, 3), (1, 2, 1, 3)), ((4, 4), (0, 2))]
DUS_CASES = [(g, dt, it) for g in DUS_GEOM for dt in DATA_TYPES for it in (I32, I64)]


def _dus(geom, dtype, idx_type, seed=0):
    shape, ushape = geom
    rng = np.random.default_rng(seed)
    x = data(rng, shape, dtype)
    u = data(rng, ushape, dtype)
    # Start indices before 0 and past the end are clamped into the operand.
    start = rng.integers(-2, np.array(shape) + 2)
    return run("DYNAMIC_UPDATE_SLICE", [("x", x, False, dtype), ("u", u, False, dtype),
                                        ("s", start, False, idx_type)], [dtype])


@pytest.mark.parametrize("geom,dtype,idx_type", _sample(DUS_CASES, 25, 10))
def test_dus_sampled(geom, dtype, idx_type):
    _dus(geom, dtype, idx_type)


@pytest.mark.slow
@pytest.mark.parametrize("geom,dtype,idx_type", DUS_CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dus_full(geom, dtype, idx_type, seed):
    _dus(geom, dtype, idx_type, seed)


def test_dus_errors():
    m = one_op("DYNAMIC_UPDATE_SLICE", [("x", np.zeros((2, 3)), False, F32),
                                        ("u", np.zeros((3, 1)), False, F32),
                                        ("s", np.zeros(2), False, I32)], [F32])
    _expect_op_error(m, "DYNAMIC_UPDATE_SLICE", match="exceeds")
    m = one_op("DYNAMIC_UPDATE_SLICE", [("x", np.zeros((2, 3)), False, F32),
                                        ("u", np.zeros((1, 1)), False, I32),
                                        ("s", np.zeros(2), False, I32)], [F32])
    _expect_op_error(m, "DYNAMIC_UPDATE_SLICE", match="type")
    m = one_op("DYNAMIC_UPDATE_SLICE", [("x", np.zeros((2, 3)), False, F32),
                                        ("u", np.zeros((1, 1)), False, F32),
                                        ("s", np.zeros(3), False, I32)], [F32])
    _expect_op_error(m, "DYNAMIC_UPDATE_SLICE", match="start indices")


def test_gather_then_dynamic_consumer():
    # A data-dependent output (WHERE) feeding another of this module's kernels.
    b = ModelBuilder()
    c = b.add_input("c", (6,), BOOL)
    w = b.add_tensor("w", (1, 1), I64)
    x = b.add_constant("x", np.arange(12, dtype=F32).reshape(6, 2))
    g = b.add_tensor("g", (1,), F32)
    b.add_op("WHERE", [c], [w])
    b.add_op("GATHER_ND", [x, w], [g])
    b.add_output(g)
    m = b.to_bytes()
    for mask in ([1, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 1]):
        check_against_litert(m, [np.array(mask, bool)])

