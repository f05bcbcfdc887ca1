"""Conformance of the layout ops (edgelite/kernels/shape.py) against LiteRT, plus invalid use.

Every op runs over a grid of shapes, options and dtypes, with its index inputs
(shapes, begin/end, paddings, axes, ...) both constant (planned in prepare) and
fed at run time (dynamic outputs). Float32 goes against LiteRT's default
kernels, integer and quantized dtypes against its reference kernels
(BUILTIN_REF); both must agree exactly since these ops only move values.
Each grid is split: a seeded sample runs by default, the rest is `slow`.
"""
from __future__ import annotations

import itertools
import random
import zlib

import numpy as np
import pytest
from oracle import check_against_litert, run_edgelite

import edgelite
from edgelite.format.builder import ModelBuilder

# dtype name -> (numpy dtype, quantization or None)
DTYPES = {
    "float32": (np.float32, None),
    "int8": (np.int8, (0.25, -3)),
    "uint8": (np.uint8, (0.5, 128)),
    "int16": (np.int16, (0.125, 0)),
    "int32": (np.int32, None),
    "int64": (np.int64, None),
    "bool": (np.bool_, None),
    "string": (np.dtype(object), None),
}
ALL = [d for d in DTYPES if d != "string"]
ALL_S = list(DTYPES)   # for the ops LiteRT also runs on strings


def split(cases: list, k: int, seed: int = 0):
    """(default sample of k cases, slow rest) as pytest params."""
    rng = random.Random(seed)
    idx = set(rng.sample(range(len(cases)), min(k, len(cases))))
    out = []
    for i, c in enumerate(cases):
        c = c if isinstance(c, tuple) else (c,)
        out.append(pytest.param(*c) if i in idx else pytest.param(*c, marks=pytest.mark.slow))
    return out


def seed_of(*params) -> int:
    return zlib.crc32(repr(params).encode())


def data(rng, shape, dtype: str):
    dt = DTYPES[dtype][0]
    if dtype == "string":
        words = np.array([b"", b"a", b"tflite", b"edge lite", b"\xff\x00z"], dtype=object)
        out = np.empty(shape, dtype=object)
        out[...] = words[rng.integers(0, len(words), size=shape)]
        return out
    if dt == np.float32:
        return rng.standard_normal(shape).astype(np.float32)
    if dt == np.bool_:
        return rng.random(shape) < 0.5
    info = np.iinfo(dt)
    lo, hi = max(info.min, -1000), min(info.max, 1000)
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dt)


class M:
    """A one-op model: inputs are ("x", array) fed at run time, ("c", array) constant,
    or None (omitted); outputs are (shape, dtype name or numpy dtype)."""

    def __init__(self, op, ins, outs, version=1, quant=None, **opts):
        b = ModelBuilder()
        self.feeds, idx = [], []
        for k, item in enumerate(ins):
            if item is None:
                idx.append(-1)
                continue
            kind, arr = item[0], np.asarray(item[1])
            q = item[2] if len(item) > 2 else None
            if kind == "x":
                idx.append(b.add_input(f"in{k}", arr.shape, arr.dtype, quant=q))
                self.feeds.append(arr)
            else:
                idx.append(b.add_constant(f"const{k}", arr, quant=q))
        oidx = []
        for k, (shape, dt) in enumerate(outs):
            if isinstance(dt, str):
                dt, q = DTYPES[dt]
            else:
                q = None
            t = b.add_tensor(f"out{k}", shape, dt, quant=q if quant is None else quant)
            oidx.append(t)
            b.add_output(t)
        b.add_op(op, idx, oidx, version=version, **opts)
        self.bytes = b.to_bytes()

    def check(self, dtype="float32", reference=None):
        ref = DTYPES.get(dtype, (np.float32,))[0] != np.float32 if reference is None else reference
        err = check_against_litert(self.bytes, self.feeds, reference=ref)
        assert err == 0.0
        return err

    def raises(self, op, match="", invoke=False):
        it = edgelite.Interpreter(model_content=self.bytes)
        with pytest.raises(edgelite.OpError, match=rf"operator 0 \({op}\).*{match}") as e:
            it.allocate_tensors()
            if invoke:
                for d, x in zip(it.get_input_details(), self.feeds):
                    it.set_tensor(d["index"], x)
                it.invoke()
        # Not a Python exception the runtime wrapped, but the kernel's own message.
        assert "failed to prepare: " not in str(e.value)
        assert "failed to invoke: " not in str(e.value)


def tin(dtype: str, arr):
    """An input item for a data tensor of `dtype` (with its quantization). LiteRT's
    Python set_tensor stores a pointer, not the bytes, for a 0-d string array, so
    scalar strings go in as constants."""
    kind = "c" if dtype == "string" and np.ndim(arr) == 0 else "x"
    return (kind, arr, DTYPES[dtype][1])


def idx_item(kind, values, dt=np.int32):
    return (kind, np.asarray(values, dt))


# ---------------------------------------------------------------- RESHAPE
RESHAPE_CASES = [
    (shape, new, src, dtype)
    for shape, new in [((2, 3, 4), (6, 4)), ((2, 3, 4), (-1, 4)), ((2, 3, 4), (2, -1)),
                       ((1, 1, 6), (6,)), ((6,), (1, 2, 1, 3)), ((2, 3, 4), (-1,)),
                       ((4, 1), (1, 4)), ((1,), ()), ((2, 0, 3), (0, -1)), ((3, 5), (5, 1, -1)),
                       ((2, 2, 2, 2, 2, 2), (4, 4, 4)), ((1, 1), ())]
    for src in ["const", "input", "option", "option_with_int64_tensor"]
    for dtype in ALL_S
]


@pytest.mark.parametrize("shape,new,src,dtype", split(RESHAPE_CASES, 60, 1))
def test_reshape(shape, new, src, dtype):
    rng = np.random.default_rng(seed_of(shape, new, src, dtype))
    x = data(rng, shape, dtype)
    # TFLite infers -1 from the non-zero dimensions: [2, 0, 3] -> [0, -1] is [0, 6].
    out = [((0, 6) if new == (0, -1) else np.empty(shape).reshape(new).shape, dtype)]
    if src == "const":
        m = M("RESHAPE", [tin(dtype, x), idx_item("c", list(new))], out)
    elif src == "input":
        m = M("RESHAPE", [tin(dtype, x), idx_item("x", list(new))], out)
    elif src == "option":
        m = M("RESHAPE", [tin(dtype, x)], out, new_shape=list(new))
    else:
        # A non-int32 shape tensor is ignored: LiteRT falls back to the option.
        m = M("RESHAPE", [tin(dtype, x), idx_item("c", [99], np.int64)], out,
              new_shape=list(new))
    m.check(dtype)


def test_reshape_legacy_zero_option_means_scalar():
    x = np.array([3.5], np.float32)
    M("RESHAPE", [tin("float32", x)], [((), "float32")], new_shape=[0]).check()


def test_reshape_empty_shape_tensor_means_scalar():
    x = np.array([[2.0]], np.float32)
    M("RESHAPE", [tin("float32", x), idx_item("c", np.zeros(0, np.int32))],
      [((), "float32")]).check()


@pytest.mark.parametrize("kind", ["c", "x"])
def test_reshape_scalar_shape_tensor_falls_back_to_option(kind):
    # Only a rank-1 int32 shape tensor counts; a scalar one defers to new_shape. That is
    # reshape.cc (BUILTIN_REF); LiteRT's default XNNPACK path instead takes a *constant*
    # shape tensor's values whatever its rank or type (gives [6] here), so LiteRT is
    # inconsistent and we match its reference kernel.
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    M("RESHAPE", [tin("float32", x), (kind, np.int32(6))], [((3, 2), "float32")],
      new_shape=[3, 2]).check(reference=True)


def test_reshape_errors_name_the_pinning_tensor():
    x = np.zeros((2, 3), np.float32)
    m = M("RESHAPE", [tin("float32", x), idx_item("c", [4, 2])], [((4, 2), "float32")])
    m.raises("RESHAPE", "constant shape tensor .* 'const1'")
    m = M("RESHAPE", [tin("float32", x)], [((4, 2), "float32")], new_shape=[4, 2])
    m.raises("RESHAPE", "new_shape option")
    m = M("RESHAPE", [tin("float32", x), idx_item("c", [-1, -1])], [((6,), "float32")])
    m.raises("RESHAPE", "more than one -1")
    m = M("RESHAPE", [tin("float32", x), idx_item("c", [-2, 3])], [((6,), "float32")])
    m.raises("RESHAPE", "negative")
    m = M("RESHAPE", [tin("float32", x), idx_item("x", [4, 2])], [((4, 2), "float32")])
    m.raises("RESHAPE", "non-constant shape tensor", invoke=True)


def test_reshape_after_resize_tells_which_constant_pins():
    b = ModelBuilder()
    x = b.add_input("x", (1, 6), np.float32)
    s = b.add_constant("pinned_shape", np.array([2, 3], np.int32))
    y = b.add_tensor("y", (2, 3), np.float32)
    b.add_op("RESHAPE", [x, s], [y])
    b.add_output(y)
    it = edgelite.Interpreter(model_content=b.to_bytes())
    it.resize_tensor_input(0, [2, 6])
    with pytest.raises(edgelite.OpError, match="pinned_shape"):
        it.allocate_tensors()


# ---------------------------------------------------------------- SQUEEZE / EXPAND_DIMS
SQUEEZE_CASES = [
    (shape, dims, dtype)
    for shape, dims in [((1, 3, 1, 4), []), ((1, 3, 1, 4), [0]), ((1, 3, 1, 4), [-2]),
                        ((1, 3, 1, 4), [0, 2]), ((1, 1, 1), []), ((2, 3), []), ((1,), []),
                        ((5, 1), [-1]), ((1, 2, 1, 1, 3), [3, 0, 0])]
    for dtype in ALL_S
]


@pytest.mark.parametrize("shape,dims,dtype", split(SQUEEZE_CASES, 20, 2))
def test_squeeze(shape, dims, dtype):
    rng = np.random.default_rng(seed_of(shape, dims, dtype))
    x = data(rng, shape, dtype)
    axes = tuple({d % len(shape) for d in dims}) if dims else None
    out = np.squeeze(x, axis=axes).shape
    M("SQUEEZE", [tin(dtype, x)], [(out, dtype)], squeeze_dims=dims).check(dtype)


EXPAND_CASES = [
    (shape, axis, kind, adt, dtype)
    for shape in [(3,), (2, 3), (1, 4, 5), ()]
    for axis in range(-len(shape) - 1, len(shape) + 1)
    for kind in ["c", "x"]
    for adt in [np.int32, np.int64]
    for dtype in ALL_S
]


@pytest.mark.parametrize("shape,axis,kind,adt,dtype", split(EXPAND_CASES, 30, 3))
def test_expand_dims(shape, axis, kind, adt, dtype):
    rng = np.random.default_rng(seed_of(shape, axis, kind, dtype))
    x = data(rng, shape, dtype)
    out = np.expand_dims(x, axis).shape
    M("EXPAND_DIMS", [tin(dtype, x), (kind, np.array([axis], adt))], [(out, dtype)]).check(dtype)


def test_squeeze_expand_errors():
    x = np.zeros((1, 3), np.float32)
    M("SQUEEZE", [tin("float32", x)], [((3,), "float32")], squeeze_dims=[1]).raises(
        "SQUEEZE", "size 3")
    M("SQUEEZE", [tin("float32", x)], [((3,), "float32")], squeeze_dims=[2]).raises(
        "SQUEEZE", "out of range")
    M("EXPAND_DIMS", [tin("float32", x), idx_item("c", [3])], [((1, 3, 1), "float32")]).raises(
        "EXPAND_DIMS", "out of range")
    M("EXPAND_DIMS", [tin("float32", x), idx_item("x", [-4])], [((1, 3, 1), "float32")]).raises(
        "EXPAND_DIMS", "out of range", invoke=True)
    M("EXPAND_DIMS", [tin("float32", x), idx_item("c", [0, 1])], [((1, 1, 3), "float32")]).raises(
        "EXPAND_DIMS", "one element")
    M("EXPAND_DIMS", [tin("int8", x.astype(np.int8)), idx_item("c", [0])],
      [((1, 1, 3), np.int8)]).raises("EXPAND_DIMS", "quantization")


# ---------------------------------------------------------------- TRANSPOSE
def _perms(rank, k, seed):
    allp = list(itertools.permutations(range(rank)))
    random.Random(seed).shuffle(allp)
    return allp[:k]


TRANSPOSE_CASES = [
    (shape, perm, neg, kind, dtype)
    for shape in [(5,), (2, 3), (2, 3, 4), (1, 3, 1, 2), (2, 3, 2, 2, 3), (2, 1, 2, 3, 2, 2)]
    for perm in _perms(len(shape), 4, len(shape))
    for neg in [False, True]
    for kind in ["c", "x"]
    for dtype in ALL
]


@pytest.mark.parametrize("shape,perm,neg,kind,dtype", split(TRANSPOSE_CASES, 40, 4))
def test_transpose(shape, perm, neg, kind, dtype):
    rng = np.random.default_rng(seed_of(shape, perm, kind, dtype))
    x = data(rng, shape, dtype)
    p = [q - len(shape) if neg and q % 2 else q for q in perm]
    out = x.transpose(perm).shape
    M("TRANSPOSE", [tin(dtype, x), idx_item(kind, p)], [(out, dtype)],
      version=6).check(dtype)


def test_transpose_errors():
    x = np.zeros((2, 3), np.float32)
    M("TRANSPOSE", [("x", x.astype(object)), idx_item("c", [1, 0])],
      [((3, 2), np.dtype(object))]).raises("TRANSPOSE", "string")
    M("TRANSPOSE", [tin("float32", x), idx_item("c", [0, 0])], [((2, 2), "float32")]).raises(
        "TRANSPOSE", "not a permutation")
    M("TRANSPOSE", [tin("float32", x), idx_item("c", [0, 2])], [((2, 3), "float32")]).raises(
        "TRANSPOSE", "out of bounds")
    M("TRANSPOSE", [tin("float32", x), idx_item("c", [1, 0, 2])], [((3, 2), "float32")]).raises(
        "TRANSPOSE", "3 entries")
    M("TRANSPOSE", [tin("float32", x), idx_item("x", [1, 1])], [((3, 2), "float32")]).raises(
        "TRANSPOSE", "not a permutation", invoke=True)


# ---------------------------------------------------------------- CONCATENATION / PACK / UNPACK
CONCAT_CASES = [
    (shapes, axis, consts, dtype)
    for shapes, axis in [([(2, 3), (2, 4)], 1), ([(2, 3), (2, 4)], -1), ([(1, 3), (2, 3), (4, 3)], 0),
                         ([(2, 1, 3, 2), (2, 2, 3, 2)], 1), ([(2, 2, 3), (2, 2, 1)], 2),
                         ([(3,), (5,)], 0), ([(1, 2, 2, 3)] * 4, 3), ([(2, 0, 3), (2, 2, 3)], 1),
                         ([(4, 5)], 0), ([(2, 2, 3), (3, 2, 3)], -3)]
    for consts in ["none", "some"]
    for dtype in ["float32", "int8", "uint8", "int16", "int32", "int64", "bool"]
]


@pytest.mark.parametrize("shapes,axis,consts,dtype", split(CONCAT_CASES, 30, 5))
def test_concatenation(shapes, axis, consts, dtype):
    rng = np.random.default_rng(seed_of(shapes, axis, consts, dtype))
    xs = [data(rng, s, dtype) for s in shapes]
    q = DTYPES[dtype][1]
    ins = [("c" if consts == "some" and i % 2 else "x", x, q) for i, x in enumerate(xs)]
    if all(k == "c" for k, *_ in ins):
        ins[0] = ("x",) + ins[0][1:]
    ins = [it for it in ins if not (it[0] == "x" and it[1].size == 0)] if consts == "none" else ins
    if any(it[0] == "x" and it[1].size == 0 for it in ins):
        ins = [("c",) + it[1:] if it[1].size == 0 else it for it in ins]
    out = np.concatenate([it[1] for it in ins], axis=axis).shape
    M("CONCATENATION", ins, [(out, dtype)], version=3, axis=axis).check(dtype)


def test_concatenation_of_constant_scalars():
    ins = [("c", np.float32(v)) for v in (1.5, -2.0, 3.25)] + [("x", np.float32(0.5))]
    # LiteRT stacks scalars only when every input is constant; with a fed one it errors.
    M("CONCATENATION", ins, [((4,), "float32")], axis=0).raises("CONCATENATION", "scalars")


def test_concatenation_errors():
    a, b = np.zeros((2, 3), np.float32), np.zeros((3, 4), np.float32)
    M("CONCATENATION", [("x", a), ("x", b)], [((2, 7), "float32")], axis=1).raises(
        "CONCATENATION", r"differs from input 0's \[2, 3\] in dimension 0")
    M("CONCATENATION", [("x", a), ("x", a[None])], [((2, 6), "float32")], axis=1).raises(
        "CONCATENATION", "rank")
    M("CONCATENATION", [("x", a), ("x", a)], [((2, 6), "float32")], axis=2).raises(
        "CONCATENATION", "out of range")
    M("CONCATENATION", [("x", a), ("x", a.astype(np.int32))], [((2, 6), "float32")],
      axis=1).raises("CONCATENATION", "type")
    # LiteRT's kernel rejects fused activations (its XNNPACK delegate silently ignores
    # them); we match the kernel.
    M("CONCATENATION", [("x", a), ("x", a)], [((2, 6), "float32")], axis=1,
      fused_activation_function="RELU").raises("CONCATENATION", "fused activation")
    q1, q2 = (0.5, 1), (0.25, 1)
    M("CONCATENATION", [("x", a.astype(np.int8), q1), ("x", a.astype(np.int8), q2)],
      [((2, 6), np.int8)], quant=q1, axis=1).raises("CONCATENATION", "requantizing")


PACK_CASES = [
    (shape, n, axis, dtype)
    for shape in [(), (3,), (2, 3), (1, 4, 2)]
    for n in [1, 2, 3]
    for axis in range(-len(shape) - 1, len(shape) + 1)
    for dtype in ["float32", "int8", "uint8", "int16", "int32", "int64"]
]


@pytest.mark.parametrize("shape,n,axis,dtype", split(PACK_CASES, 25, 6))
def test_pack(shape, n, axis, dtype):
    rng = np.random.default_rng(seed_of(shape, n, axis, dtype))
    xs = [data(rng, shape, dtype) for _ in range(n)]
    out = np.stack(xs, axis=axis).shape
    M("PACK", [tin(dtype, x) for x in xs], [(out, dtype)], version=3, values_count=n,
      axis=axis).check(dtype)


UNPACK_CASES = [
    (shape, axis, dtype)
    for shape in [(3,), (2, 3), (1, 4, 2), (2, 2, 3, 2)]
    for axis in range(-len(shape), len(shape))
    for dtype in ["float32", "int8", "uint8", "int16", "int32", "bool"]
]


@pytest.mark.parametrize("shape,axis,dtype", split(UNPACK_CASES, 20, 7))
def test_unpack(shape, axis, dtype):
    rng = np.random.default_rng(seed_of(shape, axis, dtype))
    x = data(rng, shape, dtype)
    parts = [np.take(x, i, axis=axis) for i in range(x.shape[axis])]
    M("UNPACK", [tin(dtype, x)], [(p.shape, dtype) for p in parts], version=3,
      num=len(parts), axis=axis).check(dtype)


def test_pack_unpack_errors():
    a = np.zeros((2, 3), np.float32)
    M("PACK", [("x", a), ("x", a[:1])], [((2, 2, 3), "float32")], values_count=2).raises(
        "PACK", "must match")
    M("PACK", [("x", a), ("x", a)], [((2, 2, 3), "float32")], values_count=3).raises(
        "PACK", "values_count")
    M("PACK", [("x", a), ("x", a)], [((2, 2, 3), "float32")], values_count=2, axis=3).raises(
        "PACK", "out of range")
    M("PACK", [("x", a > 0)], [((1, 2, 3), np.bool_)], values_count=1).raises("PACK", "bool")
    M("UNPACK", [("x", a)], [((3,), "float32")] * 3, num=3, axis=0).raises("UNPACK", "num is 3")
    M("UNPACK", [("x", a)], [((3,), "float32")] * 2, num=2, axis=2).raises(
        "UNPACK", "out of range")
    M("UNPACK", [("x", a.astype(np.int64))], [((3,), np.int64)] * 2, num=2).raises(
        "UNPACK", "int64")


# ---------------------------------------------------------------- SPLIT / SPLIT_V
SPLIT_CASES = [
    (shape, axis, n, kind, dtype)
    for shape, axis, n in [((6,), 0, 3), ((2, 6), 1, 2), ((2, 6), -1, 6), ((4, 3), 0, 4),
                           ((2, 4, 6), 2, 3), ((2, 4, 6), -2, 2), ((3, 2), 0, 1),
                           ((1, 2, 2, 8), 3, 4)]
    for kind in ["c", "x"]
    for dtype in ["float32", "int8", "uint8", "int16", "int32", "int64"]
]


@pytest.mark.parametrize("shape,axis,n,kind,dtype", split(SPLIT_CASES, 20, 8))
def test_split(shape, axis, n, kind, dtype):
    rng = np.random.default_rng(seed_of(shape, axis, n, kind, dtype))
    x = data(rng, shape, dtype)
    parts = np.split(x, n, axis=axis)
    M("SPLIT", [idx_item(kind, axis), tin(dtype, x)], [(p.shape, dtype) for p in parts],
      version=3, num_splits=n).check(dtype)


SPLITV_CASES = [
    (shape, axis, sizes, kind, sdt, dtype)
    for shape, axis, sizes in [((6,), 0, [1, 2, 3]), ((2, 6), 1, [4, -1]), ((2, 6), -1, [-1, 0, 6]),
                               ((5, 3), 0, [5]), ((2, 4, 6), 2, [1, 1, -1, 2]),
                               ((3, 4, 2), 1, [2, 2]), ((1, 7), 1, [3, -1, 3])]
    for kind in ["c", "x"]
    for sdt in [np.int32, np.int64]
    for dtype in ["float32", "int8", "uint8", "int16", "int32", "int64"]
]


@pytest.mark.parametrize("shape,axis,sizes,kind,sdt,dtype", split(SPLITV_CASES, 20, 9))
def test_split_v(shape, axis, sizes, kind, sdt, dtype):
    rng = np.random.default_rng(seed_of(shape, axis, sizes, kind, dtype))
    x = data(rng, shape, dtype)
    real = list(sizes)
    if -1 in real:
        real[real.index(-1)] = shape[axis] - sum(s for s in sizes if s != -1)
    parts = np.split(x, np.cumsum(real)[:-1], axis=axis)
    if any(p.size == 0 for p in parts):
        kind = "c"   # LiteRT's Python API cannot hand back dynamic zero-size outputs reliably
    M("SPLIT_V", [tin(dtype, x), (kind, np.array(sizes, sdt)), idx_item(kind, axis)],
      [(p.shape, dtype) for p in parts], version=2, num_splits=len(sizes)).check(dtype)


def test_split_errors():
    x = np.zeros((2, 6), np.float32)
    M("SPLIT", [idx_item("c", 1), ("x", x)], [((2, 2), "float32")] * 4, num_splits=4).raises(
        "SPLIT", "evenly")
    M("SPLIT", [idx_item("c", 2), ("x", x)], [((2, 3), "float32")] * 2, num_splits=2).raises(
        "SPLIT", "out of range")
    M("SPLIT", [idx_item("x", 1), ("x", x)], [((2, 2), "float32")] * 4, num_splits=4).raises(
        "SPLIT", "evenly", invoke=True)
    M("SPLIT", [("x", x), idx_item("c", 1)], [((2, 3), "float32")] * 2, num_splits=2).raises(
        "SPLIT", "axis")
    M("SPLIT", [idx_item("c", 1), ("x", x)], [((2, 3), "float32")] * 3, num_splits=2).raises(
        "SPLIT", "outputs")
    M("SPLIT_V", [("x", x), idx_item("c", [-1, -1]), idx_item("c", 1)],
      [((2, 3), "float32")] * 2, num_splits=2).raises("SPLIT_V", "more than one -1")
    M("SPLIT_V", [("x", x), idx_item("c", [2, 3]), idx_item("c", 1)],
      [((2, 3), "float32")] * 2, num_splits=2).raises("SPLIT_V", "add up to 5")
    M("SPLIT_V", [("x", x), idx_item("c", [7, -1]), idx_item("c", 1)],
      [((2, 3), "float32")] * 2, num_splits=2).raises("SPLIT_V", "more than dimension")
    M("SPLIT_V", [("x", x), idx_item("x", [2, 3]), idx_item("c", 1)],
      [((2, 3), "float32")] * 2, num_splits=2).raises("SPLIT_V", "add up to 5", invoke=True)


# ---------------------------------------------------------------- SLICE
SLICE_CASES = [
    (shape, begin, size, kind, idt, dtype)
    for shape, begin, size in [((5,), [1], [3]), ((5,), [2], [-1]), ((4, 6), [1, 2], [2, 3]),
                               ((4, 6), [0, 0], [-1, -1]), ((4, 6), [3, 5], [1, 1]),
                               ((2, 3, 4), [1, 0, 2], [1, -1, 2]), ((2, 3, 4, 5), [0, 1, 1, 0], [2, 2, 3, 5]),
                               ((2, 2, 3, 2, 3, 2), [1, 0, 1, 0, 2, 1], [1, 2, 2, -1, 1, 1]),
                               ((4, 6), [2, 6], [2, 0])]
    for kind in ["c", "x"]
    for idt in [np.int32, np.int64]
    for dtype in ALL_S
]


def _slice_shape(shape, begin, size):
    return tuple(n - b if s == -1 else s for n, b, s in zip(shape, begin, size))


@pytest.mark.parametrize("shape,begin,size,kind,idt,dtype", split(SLICE_CASES, 40, 10))
def test_slice(shape, begin, size, kind, idt, dtype):
    rng = np.random.default_rng(seed_of(shape, begin, size, kind, dtype))
    x = data(rng, shape, dtype)
    out = _slice_shape(shape, begin, size)
    if 0 in out:
        kind = "c"
    M("SLICE", [tin(dtype, x), (kind, np.array(begin, idt)), (kind, np.array(size, idt))],
      [(out, dtype)], version=4).check(dtype)


def test_slice_errors():
    x = np.zeros((4, 6), np.float32)
    for begin, size, msg in [([1, 2], [4, 1], "runs past"), ([-1, 0], [1, 1], "out of range"),
                             ([0, 0], [-2, 1], "invalid entry"), ([5, 0], [-1, 1], "out of range")]:
        M("SLICE", [("x", x), idx_item("c", begin), idx_item("c", size)],
          [((1, 1), "float32")]).raises("SLICE", msg)
    M("SLICE", [("x", x), idx_item("c", [0]), idx_item("c", [1])], [((1,), "float32")]).raises(
        "SLICE", "rank 2")
    M("SLICE", [("x", x), idx_item("x", [3, 0]), idx_item("x", [2, 1])],
      [((2, 1), "float32")]).raises("SLICE", "runs past", invoke=True)


# ---------------------------------------------------------------- STRIDED_SLICE
SS_CASES = [
    # shape, begin, end, strides, masks (begin, end, ellipsis, new_axis, shrink)
    ((5,), [1], [4], [1], (0, 0, 0, 0, 0)),
    ((5,), [-1], [-6], [-1], (0, 0, 0, 0, 0)),
    ((5,), [4], [0], [-2], (0, 0, 0, 0, 0)),
    ((5,), [0], [0], [1], (1, 1, 0, 0, 0)),
    ((5,), [0], [0], [-1], (1, 1, 0, 0, 0)),
    ((5,), [10], [-10], [-3], (0, 0, 0, 0, 0)),
    ((5,), [2], [3], [1], (0, 0, 0, 0, 1)),
    ((5,), [-2], [0], [1], (0, 0, 0, 0, 1)),
    ((4, 6), [1, 0], [3, 6], [1, 2], (0, 0, 0, 0, 0)),
    ((4, 6), [1, 0], [3, 6], [1, 2], (2, 1, 0, 0, 0)),
    ((4, 6), [3, 5], [0, 0], [-1, -2], (0, 2, 0, 0, 0)),
    ((4, 6), [1, 2], [2, 3], [1, 1], (0, 0, 0, 0, 3)),
    ((4, 6), [1, 0], [2, 6], [1, 3], (0, 0, 0, 0, 1)),
    ((4, 6), [0, 1], [4, 2], [1, 1], (0, 0, 0, 0, 2)),
    ((4, 6), [1], [3], [1], (0, 0, 0, 0, 0)),
    ((2, 3, 4), [0, 1], [0, 2], [1, 1], (0, 0, 1, 0, 0)),
    ((2, 3, 4), [0, 1], [0, 3], [1, 2], (0, 0, 1, 0, 0)),
    ((2, 3, 4), [1, 0], [2, 0], [1, 1], (0, 0, 2, 0, 1)),
    ((2, 3, 4), [0, 0, 0], [0, 0, 0], [1, 1, 1], (0, 0, 0, 1, 0)),
    ((2, 3, 4), [0, 1, 0], [1, 3, 4], [1, 1, 2], (0, 0, 0, 1, 0)),
    ((2, 3, 4), [0, 0, 1], [0, 0, 3], [1, 1, 1], (0, 0, 1, 2, 0)),
    ((2, 3, 4), [1, 0, 0, -1], [2, 0, 0, 0], [1, 1, 1, 1], (0, 0, 0, 2, 9)),
    ((2, 3, 4, 5), [0, 2, 1, 4], [2, 0, 4, 0], [1, -1, 2, -2], (0, 0, 0, 0, 0)),
    ((2, 3, 4, 5), [1, -1, 0, 0], [2, 0, 4, 5], [1, 1, 1, 1], (12, 0, 0, 0, 3)),
    ((1, 4, 4, 3), [0, 1, 1, 0], [1, 3, 3, 3], [1, 1, 1, 1], (0, 0, 0, 0, 0)),
    ((2, 2, 3, 2, 3), [0, 1, 0, 1, 0], [2, 2, 3, 2, 3], [1, 1, -1, 1, 2], (0, 0, 0, 0, 0)),
]


def _np_strided(x, begin, end, strides, masks):
    """numpy's view of TF strided-slice semantics (an independent check of the shape)."""
    bm, em, ell, new, shrink = masks
    idx = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        if ell >> i & 1:
            idx.append(Ellipsis)
        elif new >> i & 1:
            idx.append(None)
        elif shrink >> i & 1:
            idx.append(b)
        else:
            idx.append(slice(None if bm >> i & 1 else b, None if em >> i & 1 else e, s))
    return x[tuple(idx)]


@pytest.mark.parametrize("case", range(len(SS_CASES)))
@pytest.mark.parametrize("kind,dtype", split([(k, d) for k in ["c", "x"] for d in ALL_S], 4, 11))
def test_strided_slice(case, kind, dtype):
    shape, begin, end, strides, masks = SS_CASES[case]
    rng = np.random.default_rng(seed_of(case, kind, dtype))
    x = data(rng, shape, dtype)
    out = np.shape(_np_strided(x, begin, end, strides, masks))
    if 0 in out:
        kind = "c"   # LiteRT's get_tensor fails on an empty dynamic output
    bm, em, ell, new, shrink = masks
    M("STRIDED_SLICE", [tin(dtype, x), idx_item(kind, begin), idx_item(kind, end),
                        idx_item("c", strides)], [(out, dtype)], version=4,
      begin_mask=bm, end_mask=em, ellipsis_mask=ell, new_axis_mask=new,
      shrink_axis_mask=shrink).check(dtype)


def test_strided_slice_dynamic_strides():
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    M("STRIDED_SLICE", [("x", x), idx_item("c", [3, 0]), idx_item("c", [0, 6]),
                        idx_item("x", [-1, 2])], [((3, 3), "float32")]).check()


OFFSET_CASES = [
    ((5,), [1], [3], [1]), ((4, 6), [1, 2], [2, 3], [1, 1]), ((4, 6), [0, 1], [4, 4], [2, 3]),
    ((2, 3, 4), [1, 0, 1], [1, 3, 2], [1, 1, 1]), ((4, 6), [-3, 0], [2, 6], [1, 2]),
]


@pytest.mark.parametrize("shape,begin,size,strides", OFFSET_CASES)
@pytest.mark.parametrize("kind", ["c", "x"])
def test_strided_slice_offset(shape, begin, size, strides, kind):
    rng = np.random.default_rng(seed_of(shape, begin, kind))
    x = data(rng, shape, "float32")
    out = tuple(-(-s // st) for s, st in zip(size, strides))
    M("STRIDED_SLICE", [("x", x), idx_item(kind, begin), idx_item("c", size),
                        idx_item("c", strides)], [(out, "float32")], version=8,
      offset=True).check()


def test_strided_slice_errors():
    x = np.zeros((4, 6), np.float32)

    def ss(b, e, s, **kw):
        return M("STRIDED_SLICE", [("x", x), idx_item("c", b), idx_item("c", e),
                                   idx_item("c", s)], [((1, 1), "float32")], **kw)
    ss([0, 0], [1, 1], [1, 0]).raises("STRIDED_SLICE", "zero stride")
    ss([0, 0], [1, 1], [1]).raises("STRIDED_SLICE", "must be equal")
    ss([4, 0], [1, 1], [1, 1], shrink_axis_mask=1).raises("STRIDED_SLICE", "shrink_axis index")
    ss([0, 0, 0], [1, 1, 1], [1, 1, 1]).raises("STRIDED_SLICE", "rank 2")
    ss([0, 0, 0], [1, 1, 1], [1, 1, 1], ellipsis_mask=5).raises("STRIDED_SLICE", "rank 2")
    ss([3, 0], [3, 6], [1, 1], offset=True).raises("STRIDED_SLICE", "outside the input")
    M("STRIDED_SLICE", [("x", x), idx_item("x", [9, 0]), idx_item("c", [1, 1]),
                        idx_item("c", [1, 1])], [((1,), "float32")],
      shrink_axis_mask=1).raises("STRIDED_SLICE", "shrink_axis index", invoke=True)
    M("STRIDED_SLICE", [("x", x), idx_item("c", [0, 0], np.int64), idx_item("c", [1, 1]),
                        idx_item("c", [1, 1])], [((1, 1), "float32")]).raises(
        "STRIDED_SLICE", "begin has type int64")


# ---------------------------------------------------------------- TILE / BROADCAST_TO / BROADCAST_ARGS
TILE_CASES = [
    (shape, mult, kind, mdt, dtype)
    for shape, mult in [((3,), [2]), ((2, 3), [1, 1]), ((2, 3), [2, 3]), ((1, 2, 1), [3, 1, 4]),
                        ((2, 1, 2, 2), [1, 2, 1, 3]), ((2, 3), [0, 2])]
    for kind in ["c", "x"]
    for mdt in [np.int32, np.int64]
    for dtype in ALL_S
]


@pytest.mark.parametrize("shape,mult,kind,mdt,dtype", split(TILE_CASES, 25, 12))
def test_tile(shape, mult, kind, mdt, dtype):
    rng = np.random.default_rng(seed_of(shape, mult, kind, dtype))
    x = data(rng, shape, dtype)
    out = np.tile(x, mult).shape
    if 0 in out:
        kind = "c"
    M("TILE", [tin(dtype, x), (kind, np.array(mult, mdt))], [(out, dtype)],
      version=2).check(dtype)


BCAST_CASES = [
    (shape, target, kind, sdt, dtype)
    for shape, target in [((3,), [2, 3]), ((1,), [4]), ((2, 1), [2, 5]), ((1, 3, 1), [2, 2, 3, 4]),
                          ((), [2, 3]), ((2, 3), [2, 3]), ((1, 1, 1, 1), [1, 2, 1, 3]),
                          ((3, 1, 2), [2, 1, 3, 2, 2])]
    for kind in ["c", "x"]
    for sdt in [np.int32, np.int64]
    for dtype in ALL
]


@pytest.mark.parametrize("shape,target,kind,sdt,dtype", split(BCAST_CASES, 25, 13))
def test_broadcast_to(shape, target, kind, sdt, dtype):
    rng = np.random.default_rng(seed_of(shape, target, kind, dtype))
    x = data(rng, shape, dtype)
    M("BROADCAST_TO", [tin(dtype, x), (kind, np.array(target, sdt))], [(tuple(target), dtype)],
      version=2).check(dtype)


@pytest.mark.parametrize("s1,s2", [([2, 1, 3], [4, 1]), ([5], [1]), ([1], [2, 3, 4]),
                                   ([2, 3], [2, 3]), ([], [3, 1]), ([6, 1, 1, 2], [7, 1])])
@pytest.mark.parametrize("kind", ["c", "x"])
@pytest.mark.parametrize("dt", [np.int32, np.int64])
def test_broadcast_args(s1, s2, kind, dt):
    out = np.broadcast_shapes(tuple(s1), tuple(s2))
    M("BROADCAST_ARGS", [(kind, np.array(s1, dt)), (kind, np.array(s2, dt))],
      [((len(out),), dt)]).check("int32")


def test_broadcast_errors():
    x = np.zeros((2, 3), np.float32)
    M("TILE", [("x", x), idx_item("c", [1])], [((2, 3), "float32")]).raises("TILE", "1 entries")
    M("TILE", [("x", x), idx_item("c", [1, -1])], [((2, 3), "float32")]).raises(
        "TILE", "non-negative")
    M("BROADCAST_TO", [("x", x), idx_item("c", [4, 3])], [((4, 3), "float32")],
      version=2).raises("BROADCAST_TO", "cannot be broadcast")
    M("BROADCAST_TO", [("x", x), idx_item("c", [3])], [((3,), "float32")], version=2).raises(
        "BROADCAST_TO", "cannot be broadcast")
    M("BROADCAST_TO", [("x", x), idx_item("x", [5, 3])], [((5, 3), "float32")],
      version=3).raises("BROADCAST_TO", "cannot be broadcast", invoke=True)
    M("BROADCAST_ARGS", [idx_item("x", [2, 3]), idx_item("x", [4, 3])],
      [((2,), np.int32)]).raises("BROADCAST_ARGS", "not broadcastable", invoke=True)
    M("BROADCAST_ARGS", [idx_item("x", [2, 3]), idx_item("x", [4, 3], np.int64)],
      [((2,), np.int32)]).raises("BROADCAST_ARGS", "types")


# ---------------------------------------------------------------- SHAPE / RANK / FILL / RANGE
@pytest.mark.parametrize("shape", [(3,), (2, 1), (1, 4, 5), (2, 3, 1, 5, 2)])
@pytest.mark.parametrize("out_type", ["INT32", "INT64"])
@pytest.mark.parametrize("dtype", ["float32", "int8", "bool"])
def test_shape(shape, out_type, dtype):
    x = data(np.random.default_rng(0), shape, dtype)
    dt = np.int32 if out_type == "INT32" else np.int64
    M("SHAPE", [tin(dtype, x)], [((len(shape),), dt)], out_type=out_type).check("int32")


@pytest.mark.parametrize("shape", [(), (3,), (2, 1), (1, 4, 5), (2, 3, 1, 5, 2)])
@pytest.mark.parametrize("dtype", ["float32", "int16", "int64"])
def test_rank(shape, dtype):
    x = data(np.random.default_rng(1), shape, dtype)
    M("RANK", [tin(dtype, x)], [((), np.int32)]).check("int32")


def test_empty_outputs():
    # LiteRT's get_tensor raises "Invalid tensor size" on empty outputs, so these
    # cases are checked against numpy: SHAPE of a scalar, an empty RANGE.
    m = M("SHAPE", [("x", np.float32(2))], [((0,), np.int32)], out_type="INT32")
    (got,) = run_edgelite(m.bytes, m.feeds)
    assert got.shape == (0,) and got.dtype == np.int32
    for kind in ["c", "x"]:
        ins = [(kind, np.int32(7)), (kind, np.int32(7)), ("x", np.int32(1))]
        (got,) = run_edgelite(M("RANGE", ins, [((0,), np.int32)]).bytes, [v for k, v in ins
                                                                       if k == "x"])
        assert got.shape == (0,) and got.dtype == np.int32


def test_shape_follows_resized_input():
    b = ModelBuilder()
    x = b.add_input("x", (1, 4), np.float32)
    y = b.add_tensor("y", (2,), np.int32)
    b.add_op("SHAPE", [x], [y], out_type="INT32")
    b.add_output(y)
    check_against_litert(b.to_bytes(), [np.zeros((3, 7), np.float32)])


FILL_CASES = [
    (dims, kind, ddt, dtype)
    for dims in [[3], [2, 3], [1, 4, 1], [], [2, 0, 3], [2, 2, 2, 2, 2]]
    for kind in ["c", "x"]
    for ddt in [np.int32, np.int64]
    for dtype in ALL_S
]


@pytest.mark.parametrize("dims,kind,ddt,dtype", split(FILL_CASES, 25, 14))
def test_fill(dims, kind, ddt, dtype):
    value = data(np.random.default_rng(seed_of(dims, dtype)), (), dtype)
    if 0 in dims:
        kind = "c"   # LiteRT's get_tensor fails on an empty dynamic output
    M("FILL", [(kind, np.array(dims, ddt)), tin(dtype, value)], [(tuple(dims), dtype)],
      version=3).check(dtype)


RANGE_CASES = [
    (start, limit, delta, kind, dtype)
    for start, limit, delta in [(0, 10, 1), (3, 18, 4), (10, 0, -3), (-5, 5, 2), (2, -9, -2),
                                (0, 1, 5)]
    for kind in ["c", "x"]
    for dtype in ["int32", "int64", "float32"]
] + [
    (start, limit, delta, kind, "float32")
    for start, limit, delta in [(0.5, 3.7, 0.3), (1.0, -2.0, -0.25), (0.1, 100.0, 0.7),
                                (-3.3, 3.3, 0.1), (1e6, 1e6 + 10.0, 0.3)]
    for kind in ["c", "x"]
]


@pytest.mark.parametrize("start,limit,delta,kind,dtype", split(RANGE_CASES, 20, 15))
def test_range(start, limit, delta, kind, dtype):
    dt = DTYPES[dtype][0]
    vals = [np.array(v, dt) for v in (start, limit, delta)]
    if dt == np.float32:
        n = int(np.ceil(np.abs((vals[1] - vals[0]) / vals[2])))
    else:
        n = len(range(start, limit, delta))
    ins = [(kind, v) for v in vals]
    if kind == "c":
        # A fed input keeps LiteRT from folding the whole model away.
        ins[2] = ("x", vals[2])
    M("RANGE", ins, [((n,), dt)]).check("int32")


def test_shape_fill_range_errors():
    x = np.zeros((2, 3), np.float32)
    M("SHAPE", [("x", x)], [((2,), np.float32)], out_type="FLOAT32").raises("SHAPE", "out_type")
    M("FILL", [idx_item("c", [2, -1]), ("x", np.float32(1))], [((2, 1), "float32")]).raises(
        "FILL", "non-negative")
    M("FILL", [idx_item("x", [2, -1]), ("x", np.float32(1))], [((2, 1), "float32")]).raises(
        "FILL", "non-negative", invoke=True)
    M("FILL", [idx_item("c", [2]), ("x", np.ones(1, np.float32))], [((2,), "float32")]).raises(
        "FILL", "scalar")
    M("FILL", [idx_item("c", [2]), ("x", np.int8(1), (0.5, 0))], [((2,), np.int8)]).raises(
        "FILL", "quantization")
    M("RANGE", [("x", np.int32(0)), ("x", np.int32(5)), ("x", np.int32(-1))],
      [((5,), np.int32)]).raises("RANGE", "never ends", invoke=True)
    M("RANGE", [("x", np.int32(0)), ("x", np.int32(5)), ("c", np.int32(0))],
      [((5,), np.int32)]).raises("RANGE", "zero", invoke=True)
    M("RANGE", [("x", np.int32(0)), ("x", np.int64(5)), ("x", np.int32(1))],
      [((5,), np.int32)]).raises("RANGE", "one type")


# ---------------------------------------------------------------- PAD / PADV2 / MIRROR_PAD
PAD_SHAPES = [
    ((3,), [[1, 2]]), ((2, 3), [[0, 0], [1, 1]]), ((2, 3), [[2, 1], [0, 3]]),
    ((1, 3, 3, 2), [[0, 0], [1, 1], [2, 0], [0, 0]]), ((2, 2, 3, 2), [[1, 0], [0, 2], [1, 1], [1, 0]]),
    ((2, 1, 2, 2, 3), [[0, 1], [1, 0], [0, 0], [2, 1], [0, 1]]), ((2, 3), [[0, 0], [0, 0]]),
    ((1, 4, 4, 1), [[0, 0], [3, 3], [3, 3], [0, 0]]),
]
PAD_CASES = [
    (shape, pads, op, kind, pdt, dtype)
    for shape, pads in PAD_SHAPES
    for op in ["PAD", "PADV2"]
    for kind in ["c", "x"]
    for pdt in [np.int32, np.int64]
    for dtype in ALL
]


@pytest.mark.parametrize("shape,pads,op,kind,pdt,dtype", split(PAD_CASES, 40, 16))
def test_pad(shape, pads, op, kind, pdt, dtype):
    rng = np.random.default_rng(seed_of(shape, pads, op, kind, dtype))
    x = data(rng, shape, dtype)
    out = tuple(d + lo + hi for d, (lo, hi) in zip(shape, pads))
    ins = [tin(dtype, x), (kind, np.array(pads, pdt))]
    if op == "PADV2":
        ins.append(("c", data(rng, (), dtype), DTYPES[dtype][1]))
    M(op, ins, [(out, dtype)], version=2).check(dtype)


def test_padv2_value_fed_at_run_time():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    M("PADV2", [("x", x), idx_item("c", [[1, 0], [0, 2]]), ("x", np.float32(-7.5))],
      [((3, 5), "float32")]).check()


MIRROR_CASES = [
    (shape, pads, mode, kind, pdt, dtype)
    for shape, pads in [((4,), [[1, 2]]), ((3, 4), [[2, 2], [0, 3]]), ((2, 3, 4), [[1, 1], [2, 0], [1, 3]]),
                        ((1, 4, 5, 2), [[0, 0], [3, 2], [1, 4], [0, 1]]), ((3, 3), [[0, 0], [0, 0]])]
    for mode in ["REFLECT", "SYMMETRIC"]
    for kind in ["c", "x"]
    for pdt in [np.int32, np.int64]
    for dtype in ALL
]


@pytest.mark.parametrize("shape,pads,mode,kind,pdt,dtype", split(MIRROR_CASES, 30, 17))
def test_mirror_pad(shape, pads, mode, kind, pdt, dtype):
    rng = np.random.default_rng(seed_of(shape, pads, mode, kind, dtype))
    x = data(rng, shape, dtype)
    if mode == "REFLECT":
        pads = [[min(lo, d - 1), min(hi, d - 1)] for d, (lo, hi) in zip(shape, pads)]
    out = np.pad(x, pads, mode=mode.lower()).shape
    M("MIRROR_PAD", [tin(dtype, x), (kind, np.array(pads, pdt))], [(out, dtype)], version=2,
      mode=mode).check(dtype)


def test_pad_errors():
    x = np.zeros((2, 3), np.float32)
    M("PAD", [("x", x), idx_item("c", [[0, 0], [-1, 1]])], [((2, 3), "float32")]).raises(
        "PAD", "non-negative")
    M("PAD", [("x", x), idx_item("x", [[0, 0], [1, -1]])], [((2, 3), "float32")]).raises(
        "PAD", "non-negative", invoke=True)
    M("PAD", [("x", x), idx_item("c", [[0, 0]])], [((2, 3), "float32")]).raises(
        "PAD", r"shape \[2, 2\]")
    M("PADV2", [("x", x), idx_item("c", [[0, 0], [0, 1]]), ("c", np.int32(1))],
      [((2, 4), "float32")]).raises("PADV2", "constant_values has type")
    M("PAD", [("x", x), idx_item("c", [[0, 0], [1, 1]], np.float32)],
      [((2, 5), "float32")]).raises("PAD", "paddings has type float32")
    M("PAD", [("x", np.zeros((1,) * 6, np.float32)), idx_item("c", np.zeros((6, 2)))],
      [((1,) * 6, "float32")]).raises("PAD", "at most 5")
    M("MIRROR_PAD", [("x", x), idx_item("c", [[0, 0], [3, 0]])], [((2, 6), "float32")],
      mode="REFLECT").raises("MIRROR_PAD", "larger than")
    M("MIRROR_PAD", [("x", x), idx_item("c", [[0, 0], [4, 0]])], [((2, 7), "float32")],
      mode="SYMMETRIC").raises("MIRROR_PAD", "larger than")
    M("MIRROR_PAD", [("x", x), idx_item("c", [[0, 0], [-1, 0]])], [((2, 2), "float32")],
      mode="SYMMETRIC").raises("MIRROR_PAD", "non-negative")
    M("MIRROR_PAD", [("x", x), idx_item("x", [[3, 0], [0, 0]])], [((5, 3), "float32")],
      mode="REFLECT").raises("MIRROR_PAD", "larger than", invoke=True)


# ---------------------------------------------------------------- REVERSE_V2
REVERSE_CASES = [
    (shape, axes, kind, dtype)
    for shape, axes in [((5,), [0]), ((2, 3), [1]), ((2, 3), [-2]), ((2, 3), [0, 1]),
                        ((2, 3, 4), [1, 2]), ((2, 3, 4), [0]), ((2, 1, 3, 2), [3]),
                        ((2, 2, 3, 2, 2), [2, 3, 1])]
    for kind in ["c", "x"]
    for dtype in ["float32", "int8", "uint8", "int16", "int32", "int64", "bool"]
]


@pytest.mark.parametrize("shape,axes,kind,dtype", split(REVERSE_CASES, 25, 18))
def test_reverse_v2(shape, axes, kind, dtype):
    rng = np.random.default_rng(seed_of(shape, axes, kind, dtype))
    x = data(rng, shape, dtype)
    M("REVERSE_V2", [tin(dtype, x), (kind, np.array(axes, np.int32).reshape(-1))],
      [(shape, dtype)], version=3).check(dtype)


@pytest.mark.parametrize("axes,expect", [
    # LiteRT refuses non-adjacent axes ("Non-contiguous `axes` not supported"); TF's
    # semantics are well defined, so edgelite reverses them (checked against numpy).
    ([0, 2], (slice(None, None, -1), slice(None), slice(None, None, -1))),
    # LiteRT 2.3.0 segfaults on an empty axis tensor; reversing nothing is a copy.
    ([], ()),
])
def test_reverse_v2_beyond_litert(axes, expect):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    b = ModelBuilder()
    t = b.add_input("x", x.shape, np.float32)
    a = b.add_constant("axes", np.array(axes, np.int32))
    y = b.add_tensor("y", x.shape, np.float32)
    b.add_op("REVERSE_V2", [t, a], [y])
    b.add_output(y)
    it = edgelite.Interpreter(model_content=b.to_bytes())
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), x[expect])


def test_reverse_v2_errors():
    x = np.zeros((2, 3), np.float32)
    M("REVERSE_V2", [("x", x), idx_item("c", [2])], [((2, 3), "float32")]).raises(
        "REVERSE_V2", "out of range")
    M("REVERSE_V2", [("x", x), idx_item("c", [1, -1])], [((2, 3), "float32")]).raises(
        "REVERSE_V2", "twice")
    M("REVERSE_V2", [("x", x), idx_item("x", [5])], [((2, 3), "float32")]).raises(
        "REVERSE_V2", "out of range", invoke=True)
    M("REVERSE_V2", [("x", x), idx_item("c", [0], np.int64)], [((2, 3), "float32")]).raises(
        "REVERSE_V2", "int32")


# ---------------------------------------------------------------- DEPTH_TO_SPACE / SPACE_TO_DEPTH
D2S_CASES = [
    (shape, bs, dtype)
    for shape, bs in [((1, 2, 2, 4), 2), ((2, 3, 2, 8), 2), ((1, 1, 1, 9), 3), ((2, 2, 3, 18), 3),
                      ((1, 3, 3, 5), 1), ((3, 2, 1, 16), 4)]
    for dtype in ["float32", "int8", "uint8", "int32", "int64"]
]


@pytest.mark.parametrize("shape,bs,dtype", split(D2S_CASES, 12, 19))
def test_depth_to_space(shape, bs, dtype):
    x = data(np.random.default_rng(seed_of(shape, bs, dtype)), shape, dtype)
    n, h, w, c = shape
    M("DEPTH_TO_SPACE", [tin(dtype, x)], [((n, h * bs, w * bs, c // (bs * bs)), dtype)],
      block_size=bs).check(dtype)


S2D_CASES = [
    (shape, bs, dtype)
    for shape, bs in [((1, 2, 2, 1), 2), ((2, 4, 6, 3), 2), ((1, 3, 3, 2), 3), ((2, 6, 3, 1), 3),
                      ((1, 3, 3, 5), 1), ((1, 8, 4, 2), 4)]
    for dtype in ["float32", "int8", "uint8", "int32", "int64"]
]


@pytest.mark.parametrize("shape,bs,dtype", split(S2D_CASES, 12, 20))
def test_space_to_depth(shape, bs, dtype):
    x = data(np.random.default_rng(seed_of(shape, bs, dtype)), shape, dtype)
    n, h, w, c = shape
    M("SPACE_TO_DEPTH", [tin(dtype, x)], [((n, h // bs, w // bs, c * bs * bs), dtype)],
      block_size=bs).check(dtype)


def test_depth_space_errors():
    x = np.zeros((1, 2, 2, 6), np.float32)
    M("DEPTH_TO_SPACE", [("x", x)], [((1, 4, 4, 1), "float32")], block_size=2).raises(
        "DEPTH_TO_SPACE", "multiple of block_size")
    M("DEPTH_TO_SPACE", [("x", x)], [((1, 2, 2, 6), "float32")], block_size=0).raises(
        "DEPTH_TO_SPACE", "positive")
    M("SPACE_TO_DEPTH", [("x", np.zeros((1, 3, 4, 1), np.float32))], [((1, 1, 2, 4), "float32")],
      block_size=2).raises("SPACE_TO_DEPTH", "multiples")
    M("SPACE_TO_DEPTH", [("x", np.zeros((2, 4, 1), np.float32))], [((1, 1, 4), "float32")],
      block_size=2).raises("SPACE_TO_DEPTH", "rank 4")
    M("DEPTH_TO_SPACE", [("x", np.zeros((1, 1, 1, 4), np.int16))], [((1, 2, 2, 1), np.int16)],
      block_size=2).raises("DEPTH_TO_SPACE", "int16")


# ---------------------------------------------------------------- SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND
def _s2b_shape(shape, block, pads):
    m = len(block)
    spatial = [(d + lo + hi) // b for d, b, (lo, hi) in zip(shape[1:1 + m], block, pads)]
    return (shape[0] * int(np.prod(block)),) + tuple(spatial) + tuple(shape[1 + m:])


S2B_CASES = [
    (shape, block, pads, kind, dtype)
    for shape, block, pads in [((1, 4, 4, 1), [2, 2], [[0, 0], [0, 0]]),
                               ((2, 4, 6, 3), [2, 3], [[0, 0], [0, 0]]),
                               ((1, 5, 5, 2), [2, 2], [[1, 0], [0, 1]]),
                               ((2, 3, 2, 1), [3, 2], [[2, 1], [1, 1]]),
                               ((1, 6, 3), [3], [[0, 0]]), ((2, 5, 2), [2], [[1, 2]]),
                               ((1, 2, 2, 3), [1, 1], [[0, 0], [0, 0]]),
                               ((3, 4, 5, 2), [4, 1], [[2, 2], [0, 0]])]
    for kind in ["c", "x"]
    for dtype in ALL
]


@pytest.mark.parametrize("shape,block,pads,kind,dtype", split(S2B_CASES, 25, 21))
def test_space_to_batch_nd(shape, block, pads, kind, dtype):
    x = data(np.random.default_rng(seed_of(shape, block, pads, dtype)), shape, dtype)
    M("SPACE_TO_BATCH_ND", [tin(dtype, x), idx_item(kind, block), idx_item(kind, pads)],
      [(_s2b_shape(shape, block, pads), dtype)], version=2).check(dtype)


B2S_CASES = [
    (shape, block, crops, kind, dtype)
    for shape, block, crops in [((4, 2, 2, 1), [2, 2], [[0, 0], [0, 0]]),
                                ((12, 2, 3, 3), [2, 3], [[0, 0], [0, 0]]),
                                ((8, 3, 3, 2), [2, 2], [[1, 0], [0, 1]]),
                                ((6, 2, 2, 1), [3, 2], [[2, 1], [1, 1]]),
                                ((3, 2, 3), [3], [[0, 0]]), ((4, 3, 2), [2], [[1, 2]]),
                                ((2, 2, 2, 3), [1, 1], [[0, 0], [0, 0]]),
                                ((8, 2, 5, 2), [4, 1], [[2, 2], [0, 0]])]
    for kind in ["c", "x"]
    for dtype in ALL
]


@pytest.mark.parametrize("shape,block,crops,kind,dtype", split(B2S_CASES, 25, 22))
def test_batch_to_space_nd(shape, block, crops, kind, dtype):
    x = data(np.random.default_rng(seed_of(shape, block, crops, dtype)), shape, dtype)
    m = len(block)
    spatial = [d * b - lo - hi for d, b, (lo, hi) in zip(shape[1:1 + m], block, crops)]
    out = (shape[0] // int(np.prod(block)),) + tuple(spatial) + tuple(shape[1 + m:])
    M("BATCH_TO_SPACE_ND", [tin(dtype, x), idx_item(kind, block), idx_item(kind, crops)],
      [(out, dtype)], version=2).check(dtype)


def test_batch_space_errors():
    x = np.zeros((1, 5, 4, 1), np.float32)
    M("SPACE_TO_BATCH_ND", [("x", x), idx_item("c", [2, 2]), idx_item("c", [[0, 0], [0, 0]])],
      [((4, 2, 2, 1), "float32")]).raises("SPACE_TO_BATCH_ND", "not a multiple")
    M("SPACE_TO_BATCH_ND", [("x", x), idx_item("c", [2, 2]), idx_item("c", [[-1, 0], [0, 0]])],
      [((4, 2, 2, 1), "float32")]).raises("SPACE_TO_BATCH_ND", "non-negative")
    M("SPACE_TO_BATCH_ND", [("x", x), idx_item("c", [0, 2]), idx_item("c", [[0, 0], [0, 0]])],
      [((4, 2, 2, 1), "float32")]).raises("SPACE_TO_BATCH_ND", "positive")
    M("SPACE_TO_BATCH_ND", [("x", x), idx_item("c", [2]), idx_item("c", [[0, 0]])],
      [((4, 2, 2, 1), "float32")]).raises("SPACE_TO_BATCH_ND", r"shape \[2\]")
    M("SPACE_TO_BATCH_ND", [("x", x), idx_item("x", [2, 2]), idx_item("x", [[1, 0], [0, 1]])],
      [((4, 3, 2, 1), "float32")]).raises("SPACE_TO_BATCH_ND", "not a multiple", invoke=True)
    y = np.zeros((6, 2, 2, 1), np.float32)
    M("BATCH_TO_SPACE_ND", [("x", y), idx_item("c", [2, 2]), idx_item("c", [[0, 0], [0, 0]])],
      [((1, 4, 4, 1), "float32")]).raises("BATCH_TO_SPACE_ND", "multiple of the block")
    M("BATCH_TO_SPACE_ND", [("x", y), idx_item("c", [3, 2]), idx_item("c", [[0, 0], [0, -1]])],
      [((1, 6, 4, 1), "float32")]).raises("BATCH_TO_SPACE_ND", "non-negative")
    M("BATCH_TO_SPACE_ND", [("x", y), idx_item("c", [3, 2]), idx_item("c", [[4, 3], [0, 0]])],
      [((1, 6, 4, 1), "float32")]).raises("BATCH_TO_SPACE_ND", "remove more")
    M("BATCH_TO_SPACE_ND", [("x", np.zeros((4, 2), np.float32)), idx_item("c", []),
                            idx_item("c", np.zeros((0, 2)))], [((4, 2), "float32")]).raises(
        "BATCH_TO_SPACE_ND", "rank 3 or 4")


# ---------------------------------------------------------------- re-invoke and resize
def _fed(op, x, idx_values, out_shape, **opts):
    """A model whose data input and index inputs are all fed at run time."""
    b = ModelBuilder()
    ins = [b.add_input("x", x.shape, x.dtype)]
    for k, v in enumerate(idx_values):
        ins.append(b.add_input(f"i{k}", np.shape(v), np.int32))
    y = b.add_tensor("y", out_shape, x.dtype)
    b.add_op(op, ins, [y], **opts)
    b.add_output(y)
    return b.to_bytes()


REINVOKE = [
    ("SLICE", (4, 6), [[[1, 2], [2, 3]], [[0, 0], [4, 6]], [[3, 5], [1, 1]]], {}),
    ("STRIDED_SLICE", (4, 6), [[[0, 0], [4, 6], [1, 1]], [[3, 5], [0, 0], [-1, -2]],
                               [[1, 1], [3, 6], [2, 3]]], {}),
    ("PAD", (2, 3), [[[[0, 1], [2, 0]]], [[[1, 1], [1, 1]]], [[[0, 0], [0, 3]]]], {}),
    ("MIRROR_PAD", (3, 4), [[[[0, 1], [2, 0]]], [[[2, 2], [3, 3]]]], {"mode": "REFLECT"}),
    ("TILE", (2, 3), [[[1, 2]], [[3, 1]], [[2, 2]]], {}),
    ("RESHAPE", (2, 3, 4), [[[6, 4]], [[-1, 2]], [[12, 2]]], {}),
    ("TRANSPOSE", (2, 3, 4), [[[2, 0, 1]], [[1, 2, 0]]], {}),
    ("REVERSE_V2", (2, 3, 4), [[[0]], [[2]], [[-2]]], {}),
    ("SPACE_TO_BATCH_ND", (1, 4, 4, 1), [[[2, 2], [[0, 0], [0, 0]]], [[1, 2], [[1, 1], [0, 2]]]],
     {}),
    ("BATCH_TO_SPACE_ND", (4, 2, 2, 1), [[[2, 2], [[0, 0], [0, 0]]], [[2, 2], [[1, 0], [0, 1]]]],
     {}),
]


@pytest.mark.parametrize("op,shape,value_sets,opts", REINVOKE, ids=[r[0] for r in REINVOKE])
def test_reinvoke_with_new_index_values(op, shape, value_sets, opts):
    """Dynamic plans are recomputed when the fed index values change between invokes."""
    from ai_edge_litert.interpreter import Interpreter as LiteRT
    from ai_edge_litert.interpreter import OpResolverType
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    # A rank-0 declared output: LiteRT's SLICE insists a fully specified declared
    # output shape equals the computed one, which changes here.
    model = _fed(op, x, value_sets[0], (), **opts)
    ours = edgelite.Interpreter(model_content=model)
    ref = LiteRT(model_content=model,
                 experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    for it in (ours, ref):
        it.allocate_tensors()
    for values in value_sets * 2:
        outs = []
        for it in (ours, ref):
            feeds = [x] + [np.array(v, np.int32) for v in values]
            for d, v in zip(it.get_input_details(), feeds):
                it.set_tensor(d["index"], v)
            it.invoke()
            outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
        np.testing.assert_array_equal(outs[0], outs[1])


RESIZE = [
    ("TRANSPOSE", [("c", np.array([1, 0, 2], np.int32))], (1, 3, 2), (4, 3, 5), {}),
    ("TILE", [("c", np.array([2, 1, 3], np.int32))], (1, 3, 2), (4, 3, 5), {}),
    ("PAD", [("c", np.array([[1, 0], [0, 0], [2, 1]], np.int32))], (1, 3, 2), (4, 3, 5), {}),
    ("MIRROR_PAD", [("c", np.array([[0, 0], [1, 1], [1, 0]], np.int32))], (1, 3, 2), (4, 3, 5),
     {"mode": "SYMMETRIC"}),
    ("RESHAPE", [("c", np.array([-1, 6], np.int32))], (1, 3, 2), (4, 3, 2), {}),
    ("SQUEEZE", [], (1, 3, 1), (1, 5, 1), {"squeeze_dims": [0, 2]}),
    ("STRIDED_SLICE", [("c", np.array([0, 1, 0], np.int32)), ("c", np.array([0, 3, 0], np.int32)),
                       ("c", np.array([1, 1, -1], np.int32))], (1, 3, 2), (4, 3, 5),
     {"begin_mask": 5, "end_mask": 5}),
    ("SPLIT_V", None, (1, 3, 2), (4, 3, 6), {}),
    ("SHAPE", [], (1, 3, 2), (4, 3, 5), {"out_type": "INT64"}),
]


@pytest.mark.parametrize("op,extra,declared,fed,opts", RESIZE, ids=[r[0] for r in RESIZE])
def test_resized_input_reprepares(op, extra, declared, fed, opts):
    """Shapes planned in prepare follow resize_tensor_input (the oracle resizes first)."""
    rng = np.random.default_rng(seed_of(op))
    x = rng.standard_normal(fed).astype(np.float32)
    if op == "SPLIT_V":
        m = M("SPLIT_V", [("x", np.zeros(declared, np.float32)), idx_item("c", [1, -1]),
                          idx_item("c", -1)], [((1, 3, 1), "float32")] * 2, num_splits=2)
    else:
        out_dt = np.int64 if op == "SHAPE" else "float32"
        m = M(op, [("x", np.zeros(declared, np.float32))] + extra, [((1,), out_dt)], **opts)
    check_against_litert(m.bytes, [x])


def test_slice_after_resize():
    """LiteRT 2.3.0's SLICE fails to prepare after resize_tensor_input when the file
    declares the output shape ("output_shape_vector[idx] != SizeOfDimension(output,
    idx)"); edgelite recomputes it, so this is checked against numpy."""
    m = M("SLICE", [("x", np.zeros((1, 3, 2), np.float32)), idx_item("c", [0, 1, 0]),
                    idx_item("c", [-1, 2, -1])], [((1, 2, 2), "float32")])
    x = np.random.default_rng(5).standard_normal((4, 3, 5)).astype(np.float32)
    (got,) = run_edgelite(m.bytes, [x])
    np.testing.assert_array_equal(got, x[:, 1:3, :])


# ---------------------------------------------------------------- chains through dynamic outputs
def _chain(kind):
    b = ModelBuilder()
    x = b.add_input("x", (2, 3, 4), np.float32)
    if kind == "reshape_transpose":
        s = b.add_input("shape", (2,), np.int32)
        r = b.add_tensor("r", (6, 4), np.float32)
        b.add_op("RESHAPE", [x, s], [r])
        p = b.add_constant("perm", np.array([1, 0], np.int32))
        y = b.add_tensor("y", (4, 6), np.float32)
        b.add_op("TRANSPOSE", [r, p], [y])
        feeds = [np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.array([6, 4], np.int32)]
    elif kind == "shape_fill":
        s = b.add_tensor("s", (3,), np.int32)
        b.add_op("SHAPE", [x], [s], out_type="INT32")
        v = b.add_constant("v", np.float32(1.5))
        y = b.add_tensor("y", (2, 3, 4), np.float32)
        b.add_op("FILL", [s, v], [y])
        feeds = [np.zeros((2, 3, 4), np.float32)]
    else:   # slice with fed begin, then pad and concat with itself
        beg = b.add_input("begin", (3,), np.int32)
        size = b.add_constant("size", np.array([1, 2, -1], np.int32))
        s = b.add_tensor("s", (1, 2, 4), np.float32)
        b.add_op("SLICE", [x, beg, size], [s])
        pads = b.add_constant("pads", np.array([[0, 0], [1, 0], [0, 2]], np.int32))
        p = b.add_tensor("p", (1, 3, 6), np.float32)
        b.add_op("PAD", [s, pads], [p])
        y = b.add_tensor("y", (2, 3, 6), np.float32)
        b.add_op("CONCATENATION", [p, p], [y], axis=0)
        feeds = [np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.array([1, 1, 0], np.int32)]
    b.add_output(y)
    return b.to_bytes(), feeds


@pytest.mark.parametrize("kind", ["reshape_transpose", "shape_fill", "slice_pad_concat"])
def test_chains_through_dynamic_outputs(kind):
    model, feeds = _chain(kind)
    check_against_litert(model, feeds)


ARITY = [
    ("RESHAPE", 3, {}), ("SQUEEZE", 2, {}), ("EXPAND_DIMS", 1, {}), ("TRANSPOSE", 1, {}),
    ("SLICE", 2, {}), ("STRIDED_SLICE", 3, {}), ("TILE", 1, {}), ("BROADCAST_TO", 1, {}),
    ("SHAPE", 2, {"out_type": "INT32"}), ("RANK", 2, {}), ("FILL", 1, {}), ("RANGE", 2, {}),
    ("PAD", 1, {}), ("PADV2", 4, {}), ("MIRROR_PAD", 1, {}), ("REVERSE_V2", 1, {}),
    ("DEPTH_TO_SPACE", 2, {"block_size": 2}), ("SPACE_TO_DEPTH", 2, {"block_size": 2}),
    ("SPACE_TO_BATCH_ND", 2, {}), ("BATCH_TO_SPACE_ND", 2, {}), ("BROADCAST_ARGS", 1, {}),
    ("SPLIT_V", 2, {"num_splits": 1}), ("UNPACK", 2, {"num": 1}),
]


@pytest.mark.parametrize("op,n_inputs,opts", ARITY, ids=[a[0] for a in ARITY])
def test_wrong_input_count(op, n_inputs, opts):
    x = np.zeros((1, 2, 2, 4), np.float32)
    ins = [("x", x)] + [idx_item("c", [1, 1, 1, 1])] * (n_inputs - 1)
    version = 2 if op == "BROADCAST_TO" else 1
    M(op, ins, [((1,), "float32")], version=version, **opts).raises(op, "input")


def test_quantization_must_be_kept():
    a = np.zeros((2, 3), np.int8)
    q1, q2 = (0.5, 1), (0.25, 1)
    M("PACK", [("x", a, q1), ("x", a, q1)], [((2, 2, 3), np.int8)], quant=q2,
      values_count=2).raises("PACK", "quantization")
    M("UNPACK", [("x", a, q1)], [((3,), np.int8)] * 2, quant=q2, num=2).raises(
        "UNPACK", "quantization")
    M("MIRROR_PAD", [("x", a, q1), idx_item("c", [[0, 0], [1, 1]])], [((2, 5), np.int8)],
      quant=q2, mode="REFLECT").raises("MIRROR_PAD", "quantization")
    M("SPACE_TO_BATCH_ND", [("x", a[None], q1), idx_item("c", [1]), idx_item("c", [[0, 0]])],
      [((1, 2, 3), np.int8)], quant=q2).raises("SPACE_TO_BATCH_ND", "quantization")
    M("PADV2", [("x", a, q1), idx_item("c", [[0, 0], [1, 1]]), ("c", np.int8(3), q2)],
      [((2, 5), np.int8)], quant=q1).raises("PADV2", "constant_values must have")


def test_dynamic_plan_follows_resized_input():
    """A plan made at invoke from fed index values is redone when the data input is
    resized, even if the index values stay the same."""
    b = ModelBuilder()
    x = b.add_input("x", (2, 6), np.float32)
    beg = b.add_input("begin", (2,), np.int32)
    size = b.add_input("size", (2,), np.int32)
    y = b.add_tensor("y", (), np.float32)
    b.add_op("SLICE", [x, beg, size], [y])
    b.add_output(y)
    it = edgelite.Interpreter(model_content=b.to_bytes())
    begin, sz = np.array([1, 2], np.int32), np.array([-1, -1], np.int32)
    for shape in [(2, 6), (4, 5), (2, 6)]:
        it.resize_tensor_input(0, shape)
        it.allocate_tensors()
        xv = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        for i, v in enumerate([xv, begin, sz]):
            it.set_tensor(it.get_input_details()[i]["index"], v)
        it.invoke()
        np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]),
                                      xv[1:, 2:])


@pytest.mark.parametrize("op", ["PAD", "SPACE_TO_BATCH_ND"])
@pytest.mark.parametrize("dt", [np.int8, np.uint8, np.int16])
def test_padding_of_unquantized_integers_is_zero(op, dt):
    x = data(np.random.default_rng(9), (1, 3, 2, 2), "int32").astype(dt)
    if op == "PAD":
        ins = [("x", x), idx_item("c", [[0, 0], [1, 0], [0, 2], [0, 0]])]
        out = (1, 4, 4, 2)
    else:
        ins = [("x", x), idx_item("c", [2, 2]), idx_item("c", [[1, 0], [0, 2]])]
        out = (4, 2, 2, 2)
    M(op, ins, [(out, dt)]).check("int32")


@pytest.mark.parametrize("shape,begin,end,new_axis_mask", [
    ((1, 8, 16), [0, 0, 0], [1, 8, 16], -1),           # every effective axis new
    ((1, 8, 16), [0, 3, 4], [1, 8, 16], 0b111111),
    ((2, 3, 4), [1, 0], [2, 1], 0b1110),
    ((2, 3, 4), [1, 1], [2, 3], 0b1100),
    ((2, 3, 4), [1, 1, 1], [2, 3, 3], 0b11100),
])
def test_strided_slice_new_axis_bits_past_the_begin_entries(shape, begin, end, new_axis_mask):
    """new_axis_mask bits past the begin entries (a damaged mask; fuzzing found -1 failing
    at invoke with numpy's reshape error) leave input dimensions out of the effective
    shape: LiteRT then reads a prefix of the flat input as that shape, and so does
    edgelite."""
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + 100
    b = ModelBuilder()
    xi = b.add_input("x", shape, np.float32)
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op("STRIDED_SLICE", [xi, b.add_constant("b", np.array(begin, np.int32)),
                               b.add_constant("e", np.array(end, np.int32)),
                               b.add_constant("s", np.ones(len(begin), np.int32))], [y],
             new_axis_mask=new_axis_mask)
    b.add_output(y)
    check_against_litert(b.to_bytes(), [x], tol=0.0)
