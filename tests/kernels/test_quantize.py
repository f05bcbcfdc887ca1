"""Conformance of DEQUANTIZE and QUANTIZE (float <-> int8/uint8/int16, integer
requantization) against LiteRT, plus invalid use.

Integer outputs are bit-exact against LiteRT's reference kernels (BUILTIN_REF).
LiteRT's default QUANTIZE kernels (XNNPACK for int8/uint8; for int16 the
optimized kernel, built with NEON-on-SSE: multiply by 1/scale and round halves
to even in blocks of 8, the reference formula on the tail) round halves to even
and saturate NaN/inf differently, so against them we allow one step on finite
data (measured: 1). Each grid is split: a seeded sample runs by
default, the rest is `slow`.
"""
from __future__ import annotations

import os
import random
import zlib

import numpy as np
import pytest
from oracle import check_against_litert, max_error, run_edgelite, run_litert

import edgelite
from edgelite.format.builder import ModelBuilder
from edgelite.runtime.interpreter import OpResolverType

REPORT = os.environ.get("EDGELITE_REPORT_ERRORS")


def split(cases: list, k: int, seed: int = 0):
    rng = random.Random(seed)
    idx = set(rng.sample(range(len(cases)), min(k, len(cases))))
    fast = [c for i, c in enumerate(cases) if i in idx]
    slow = [pytest.param(*c, marks=pytest.mark.slow) if isinstance(c, tuple)
            else pytest.param(c, marks=pytest.mark.slow)
            for i, c in enumerate(cases) if i not in idx]
    return fast + slow


def seed_of(*params) -> int:
    return zlib.crc32(repr(params).encode())


def check(op, m, inputs, *, tol=1e-5, int_tol=0, reference=False) -> float:
    assert edgelite.Interpreter(model_content=m).get_output_details(), "model has no output"
    err = check_against_litert(m, inputs, tol=tol, int_tol=int_tol, reference=reference)
    if REPORT:
        print(f"\nERR {op}{'-ref' if reference else ''} {err!r}")
    return err


def check_reference(op, m, inputs) -> float:
    """Bit-exact against BUILTIN_REF, with edgelite asked for reference semantics."""
    want = run_litert(m, inputs, reference=True)
    got = run_edgelite(m, inputs, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    assert len(got) == len(want) >= 1
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
    if REPORT:
        print(f"\nERR {op}-ref 0.0")
    return 0.0


def expect_op_error(m: bytes, op: str, match: str = ""):
    it = edgelite.Interpreter(model_content=m)
    with pytest.raises(edgelite.OpError, match=rf"operator 0 \({op}\).*{match}"):
        it.allocate_tensors()


def one_op(op, x_shape, x_dtype, y_dtype, *, x_quant=None, y_quant=None, const=None,
           version=1) -> bytes:
    b = ModelBuilder()
    if const is not None:
        x = b.add_constant("x", const, quant=x_quant)
    else:
        x = b.add_input("x", x_shape, x_dtype, quant=x_quant)
    y = b.add_tensor("y", x_shape, y_dtype, quant=y_quant)
    b.add_op(op, [x], [y], version=version)
    b.add_output(y)
    return b.to_bytes()


def int_values(rng, dtype, shape):
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    flat = x.reshape(-1)
    for i, v in enumerate([info.min, info.max, 0][:flat.size]):
        flat[i] = v
    return x


SHAPES = [(1,), (7,), (2, 3), (1, 4, 4, 3), (2, 3, 1, 5), (3, 1, 2, 1, 4), (16, 40)]
PER_TENSOR = {np.int8: [(0.1, 0), (0.0123, -7), (2.5, 100), (1e-4, -128)],
              np.uint8: [(0.1, 128), (0.037, 0), (3.0, 255), (0.5, 17)],
              np.int16: [(1e-3, 0), (0.25, 0), (3.0517578125e-05, 0)]}


# ---------------------------------------------------------------- DEQUANTIZE
DEQ_CASES = [(np.dtype(dt).name, shape, q) for dt, qs in PER_TENSOR.items() for shape in SHAPES
             for q in qs]


@pytest.mark.parametrize("dtype,shape,quant", split(DEQ_CASES, 30))
def test_dequantize_per_tensor(dtype, shape, quant):
    rng = np.random.default_rng(seed_of("deq", dtype, shape, quant))
    x = int_values(rng, np.dtype(dtype), shape)
    m = one_op("DEQUANTIZE", shape, x.dtype, np.float32, x_quant=quant)
    check("DEQUANTIZE", m, [x], tol=0.0)
    check_reference("DEQUANTIZE", m, [x])


PER_CHANNEL_CASES = [(dt, shape, axis) for dt in ("int8", "uint8")
                     for shape in [(4, 3), (3, 2, 2, 5), (1, 3, 3, 8), (2, 1, 3, 1, 2)]
                     for axis in range(len(shape))]


def per_channel_quant(rng, dtype, n, axis):
    scale = rng.uniform(1e-3, 0.5, size=n)
    zp = rng.integers(-20, 20, size=n) if dtype == "int8" else rng.integers(100, 150, size=n)
    return {"scale": scale, "zero_point": zp, "quantized_dimension": axis}


@pytest.mark.parametrize("const", [False, True])
@pytest.mark.parametrize("dtype,shape,axis", split(PER_CHANNEL_CASES, 12))
def test_dequantize_per_channel(dtype, shape, axis, const):
    rng = np.random.default_rng(seed_of("deqpc", dtype, shape, axis))
    x = int_values(rng, np.dtype(dtype), shape)
    q = per_channel_quant(rng, dtype, shape[axis], axis)
    if const:
        m = one_op("DEQUANTIZE", shape, x.dtype, np.float32, x_quant=q, const=x)
        # LiteRT's default resolver fails to run a model whose only op dequantizes a
        # constant into an output ("failed to setup XNNPACK runtime"): use BUILTIN_REF.
        check_reference("DEQUANTIZE", m, [])
    else:
        m = one_op("DEQUANTIZE", shape, x.dtype, np.float32, x_quant=q)
        check_reference("DEQUANTIZE", m, [x])
        # LiteRT's default (XNNPACK) per-channel path differs from its reference
        # kernel (measured up to 8.3e-7 relative to max(1, |ref|), cancellation in
        # q * scale - zp * scale): the project tolerance against it.
        check("DEQUANTIZE", m, [x])


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "float16"])
def test_dequantize_constant(dtype):
    """A constant input (float16 / dynamic-range weights) is dequantized once in
    prepare; every invoke returns the same values."""
    rng = np.random.default_rng(seed_of("deqc", dtype))
    shape = (3, 4, 5)
    if dtype == "float16":
        x, quant = (rng.standard_normal(shape) * 50).astype(np.float16), None
    else:
        x = int_values(rng, np.dtype(dtype), shape)
        quant = (0.0173, 0) if dtype != "uint8" else (0.0173, 131)
    m = one_op("DEQUANTIZE", shape, x.dtype, np.float32, x_quant=quant, const=x)
    check_reference("DEQUANTIZE", m, [])
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    idx = it.get_output_details()[0]["index"]
    it.invoke()
    first = it.get_tensor(idx).copy()
    it.invoke()
    np.testing.assert_array_equal(it.get_tensor(idx), first)


def test_dequantize_float16():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((4, 33)) * 1000).astype(np.float16)
    x.reshape(-1)[:6] = [np.inf, -np.inf, np.nan, 6.1e-5, -6e-8, 65504]
    m = one_op("DEQUANTIZE", x.shape, np.float16, np.float32)
    check("DEQUANTIZE", m, [x], tol=0.0)
    check_reference("DEQUANTIZE", m, [x])


@pytest.mark.parametrize("version", range(1, 10))
def test_dequantize_versions(version):
    x = int_values(np.random.default_rng(version), np.int8, (2, 6))
    check("DEQUANTIZE", one_op("DEQUANTIZE", x.shape, np.int8, np.float32, x_quant=(0.3, 4),
                               version=version), [x], tol=0.0)


# ---------------------------------------------------------------- QUANTIZE float -> int
QUANT_CASES = [(np.dtype(dt).name, shape, q) for dt, qs in PER_TENSOR.items() for shape in SHAPES
               for q in qs]


def float_values(rng, shape, quant, dtype):
    """Values spanning the quantized range and beyond, with exact halves planted."""
    scale = quant[0]
    info = np.iinfo(np.dtype(dtype))
    span = (info.max - info.min) * scale
    x = rng.uniform(-span, span, size=shape).astype(np.float32)
    flat = x.reshape(-1)
    halves = (np.arange(-5, 6) + 0.5) * np.float32(scale)
    n = min(flat.size // 2, halves.size)
    flat[:n] = halves[:n]
    return x


@pytest.mark.parametrize("dtype,shape,quant", split(QUANT_CASES, 30))
def test_quantize_per_tensor(dtype, shape, quant):
    rng = np.random.default_rng(seed_of("q", dtype, shape, quant))
    x = float_values(rng, shape, quant, dtype)
    m = one_op("QUANTIZE", shape, np.float32, np.dtype(dtype), y_quant=quant)
    check_reference("QUANTIZE", m, [x])
    # Default kernels (XNNPACK for int8/uint8, NEON-on-SSE for int16) round the
    # planted halves to even.
    check("QUANTIZE", m, [x], int_tol=1)


@pytest.mark.parametrize("dtype,quant", [("int8", (0.1, 3)), ("int8", (0.1, -5)),
                                         ("uint8", (0.05, 128)), ("int16", (1e-3, 0))])
def test_quantize_special_values(dtype, quant):
    """NaN, inf and values beyond int32 after scaling: the reference kernel converts
    them to INT32_MIN (x86) before adding the zero point in wrapping int32 maths, so
    with a negative zero point -inf quantizes to the maximum."""
    x = np.array([np.nan, np.inf, -np.inf, 1e20, -1e20, 3e9, -3e9, 2.1e8, -2.1e8, 0.0, -0.0,
                  0.49999997, 1e-45], np.float32) * np.float32(quant[0])
    m = one_op("QUANTIZE", x.shape, np.float32, np.dtype(dtype), y_quant=quant)
    check_reference("QUANTIZE", m, [x])


QUANT_PC_CASES = [(dt, shape, axis) for dt in ("int8", "uint8", "int16")
                  for shape in [(4, 3), (3, 2, 2, 5), (1, 3, 3, 8)]
                  for axis in range(len(shape))]


@pytest.mark.parametrize("dtype,shape,axis", split(QUANT_PC_CASES, 8))
def test_quantize_per_channel(dtype, shape, axis):
    rng = np.random.default_rng(seed_of("qpc", dtype, shape, axis))
    n = shape[axis]
    scale = rng.uniform(1e-3, 0.2, size=n)
    zp = np.zeros(n, np.int64) if dtype == "int16" else rng.integers(-10, 10, size=n) + (
        128 if dtype == "uint8" else 0)
    q = {"scale": scale, "zero_point": zp, "quantized_dimension": axis}
    x = (rng.standard_normal(shape) * 10).astype(np.float32)
    m = one_op("QUANTIZE", shape, np.float32, np.dtype(dtype), y_quant=q)
    check_reference("QUANTIZE", m, [x])
    check("QUANTIZE", m, [x])


@pytest.mark.parametrize("version", range(1, 7))
def test_quantize_versions(version):
    x = (np.random.default_rng(version).standard_normal((3, 4)) * 5).astype(np.float32)
    m = one_op("QUANTIZE", x.shape, np.float32, np.int16, y_quant=(0.01, 0), version=version)
    check("QUANTIZE", m, [x])


# ---------------------------------------------------------------- requantization
REQUANT_PAIRS = [("int8", "int8"), ("int8", "uint8"), ("int8", "int16"), ("uint8", "int8"),
                 ("uint8", "uint8"), ("uint8", "int16"), ("int16", "int8"),
                 ("int16", "int16"), ("int16", "int32"), ("int32", "int8"), ("int32", "int16")]


def requant_params(rng, dtype):
    scale = float(rng.choice([1e-4, 3e-3, 0.02, 0.1, 0.7, 4.0]) * rng.uniform(0.5, 2))
    if dtype in ("int16", "int32"):
        zp = 0 if dtype == "int16" else int(rng.integers(-50, 50))
    elif dtype == "int8":
        zp = int(rng.integers(-128, 128))
    else:
        zp = int(rng.integers(0, 256))
    return scale, zp


REQUANT_CASES = [(src, dst, k) for src, dst in REQUANT_PAIRS for k in range(6)]


@pytest.mark.parametrize("src,dst,k", split(REQUANT_CASES, 22))
def test_requantize(src, dst, k):
    rng = np.random.default_rng(seed_of("rq", src, dst, k))
    sq, dq = requant_params(rng, src), requant_params(rng, dst)
    if k == 0:
        dq = (sq[0], dq[1])           # same scale: the int8 <-> uint8 shift fast path
        if {src, dst} == {"int8", "uint8"}:
            dq = (sq[0], sq[1] + (128 if dst == "uint8" else -128))
    shape = (3, 40, 5)
    if src == "int32":
        x = rng.integers(-2 ** 20, 2 ** 20, size=shape).astype(np.int32)
    else:
        x = int_values(rng, np.dtype(src), shape)
    m = one_op("QUANTIZE", shape, np.dtype(src), np.dtype(dst), x_quant=sq, y_quant=dq)
    check_reference("QUANTIZE", m, [x])
    check("QUANTIZE", m, [x], int_tol=1)


@pytest.mark.parametrize("src,dst,sq,dq,step", [
    ("uint8", "int8", (0.038, 127), (0.038, -1), True),     # a uint8-I/O model's input
    ("int8", "uint8", (2 ** -8, -128), (2 ** -8, 0), True),  # ... and its output
    ("int8", "int8", (0.5, 3), (0.5, 3), True),               # the identity
    ("uint8", "uint8", (0.1, 200), (0.1, 10), False),         # zero points apart: clamps
    ("int8", "uint8", (0.1, 0), (0.2, 128), False)])          # another scale
def test_requantize_byte_step(src, dst, sq, dq, step):
    """8-bit -> 8-bit QUANTIZE whose table is a constant step on the bytes takes one
    wrapping uint8 add ("step"), else the table; both equal LiteRT's reference kernels
    on every input value."""
    x = np.arange(256, dtype=np.uint8).view(np.dtype(src)).reshape(1, 16, 16)
    m = one_op("QUANTIZE", x.shape, np.dtype(src), np.dtype(dst), x_quant=sq, y_quant=dq)
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    (k,) = it._main.kernels
    assert (k.mode == "step") == step
    check_reference("QUANTIZE", m, [x])


# ---------------------------------------------------------------- invalid use
def test_quantize_output_without_quantization():
    m = one_op("QUANTIZE", (2, 3), np.float32, np.int8)
    expect_op_error(m, "QUANTIZE", "no quantization parameters")


@pytest.mark.parametrize("src,dst", [("float32", "int32"), ("float32", "float16"),
                                     ("int8", "int32"), ("int32", "int32"),
                                     ("float16", "int8"), ("uint8", "uint16")])
def test_quantize_unsupported_types(src, dst):
    sq = None if src.startswith("float") else (0.1, 0)
    m = one_op("QUANTIZE", (2, 3), np.dtype(src), np.dtype(dst), x_quant=sq, y_quant=(0.1, 0))
    expect_op_error(m, "QUANTIZE", "QUANTIZE|not supported|cannot")


def test_requantize_int16_nonzero_zero_point():
    m = one_op("QUANTIZE", (4,), np.int16, np.int16, x_quant=(0.1, 3), y_quant=(0.2, 0))
    expect_op_error(m, "QUANTIZE", "zero points of 0")


@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
def test_dequantize_unsupported_type(dtype):
    m = one_op("DEQUANTIZE", (2, 3), np.dtype(dtype), np.float32)
    expect_op_error(m, "DEQUANTIZE", "not supported")


def test_dequantize_int16_zero_point():
    m = one_op("DEQUANTIZE", (2, 3), np.int16, np.float32, x_quant=(0.1, 5))
    expect_op_error(m, "DEQUANTIZE", "zero point 0")


def test_dequantize_per_channel_mismatch():
    # The reader already rejects scales that do not match the quantized dimension.
    for q in [{"scale": [0.1, 0.2, 0.3], "zero_point": [0, 0, 0], "quantized_dimension": 1},
              {"scale": [0.1, 0.2], "zero_point": [0, 0], "quantized_dimension": 5}]:
        m = one_op("DEQUANTIZE", (2, 4), np.int8, np.float32, x_quant=q)
        with pytest.raises(edgelite.EdgeliteError, match="tensor 0 'x'"):
            edgelite.Interpreter(model_content=m).allocate_tensors()


def test_dequantize_int16_per_channel_rejected():
    q = {"scale": [0.1, 0.2], "zero_point": [0, 0], "quantized_dimension": 0}
    m = one_op("DEQUANTIZE", (2, 4), np.int16, np.float32, x_quant=q)
    expect_op_error(m, "DEQUANTIZE", "per-channel")


def test_dequantize_int8_without_quantization_is_zero():
    # No quantization parameters: LiteRT's scale is 0, so every output is 0.
    x = int_values(np.random.default_rng(0), np.int8, (2, 5))
    m = one_op("DEQUANTIZE", x.shape, np.int8, np.float32)
    check_reference("DEQUANTIZE", m, [x])
    assert max_error(run_edgelite(m, [x])[0], np.zeros(x.shape, np.float32)) == 0.0


@pytest.mark.parametrize("op,version", [("QUANTIZE", 7), ("DEQUANTIZE", 10)])
def test_version_beyond_litert_rejected(op, version):
    m = one_op(op, (2, 3), np.float32 if op == "QUANTIZE" else np.int8,
               np.int8 if op == "QUANTIZE" else np.float32, x_quant=(0.1, 0) if op != "QUANTIZE"
               else None, y_quant=(0.1, 0) if op == "QUANTIZE" else None, version=version)
    with pytest.raises(edgelite.OpError, match=rf"{op} version {version} is not supported"):
        edgelite.Interpreter(model_content=m).allocate_tensors()
