"""Conformance of the unary activations / maths, CAST and ZEROS_LIKE against LiteRT,
plus invalid use.

LiteRT's default kernels for float32 are mostly XNNPACK's, which approximate
exp/tanh/logistic/erf; every op here still agrees within the project tolerance
(1e-5 relative to max(1, |ref|)); measured worst differences are ~1-4 float32
ulps (e.g. GELU ~3e-7, TANH ~2e-7, SIN/COS ~2.4e-7). Each grid is split: a seeded
sample runs by default, the rest is `slow`.
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
from edgelite.kernels.activations import erf, erfc
from edgelite.runtime.interpreter import OpResolverType

REPORT = os.environ.get("EDGELITE_REPORT_ERRORS")


def split(cases: list, k: int, seed: int = 0):
    """(default sample of k cases, slow rest) as pytest params."""
    rng = random.Random(seed)
    idx = set(rng.sample(range(len(cases)), min(k, len(cases))))
    fast = [c for i, c in enumerate(cases) if i in idx]
    slow = [pytest.param(*c, marks=pytest.mark.slow) if isinstance(c, tuple)
            else pytest.param(c, marks=pytest.mark.slow)
            for i, c in enumerate(cases) if i not in idx]
    return fast + slow


def seed_of(*params) -> int:
    return zlib.crc32(repr(params).encode())


def unary_model(op, shape, dtype, out_dtype=None, *, version=1, quant=None, **opts) -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", shape, dtype, quant=quant)
    y = b.add_tensor("y", shape, out_dtype if out_dtype is not None else dtype, quant=quant)
    b.add_op(op, [x], [y], version=version, **opts)
    b.add_output(y)
    return b.to_bytes()


def check(op: str, model: bytes, inputs, *, tol=1e-5, reference=False) -> float:
    """check_against_litert, also asserting the model has an output to compare."""
    assert edgelite.Interpreter(model_content=model).get_output_details(), "model has no output"
    err = check_against_litert(model, inputs, tol=tol, reference=reference)
    if REPORT:
        print(f"\nERR {op} {err!r}")
    return err


def expect_op_error(model: bytes, op: str, match: str = "", invoke: bool = False, inputs=()):
    it = edgelite.Interpreter(model_content=model)
    with pytest.raises(edgelite.OpError, match=rf"operator 0 \({op}\).*{match}"):
        it.allocate_tensors()
        if invoke:
            for d, x in zip(it.get_input_details(), inputs):
                it.set_tensor(d["index"], x)
            it.invoke()


SHAPES = [(), (1,), (7,), (2, 3), (1, 1, 5), (3, 1, 4), (2, 3, 4, 5), (1, 4, 4, 3),
          (2, 1, 3, 1, 4), (64, 33)]
SPECIAL = np.array([0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.0, -3.0, 6.0, -6.0,
                    1e-8, -1e-8, 20.0, -20.0], np.float32)


def values(rng, shape, low=-8.0, high=8.0, special=SPECIAL, dtype=np.float32):
    """Uniform values in [low, high], with the special values planted first."""
    x = rng.uniform(low, high, size=shape).astype(dtype)
    flat = x.reshape(-1)
    sp = special[(special >= low) & (special <= high)] if special is not None else []
    n = min(flat.size, len(sp))
    flat[:n] = sp[:n]
    return x


# LiteRT's BUILTIN_REF resolver has no kernel for these.
NOT_IN_BUILTIN_REF = ("CEIL", "ROUND", "ELU")


# ---------------------------------------------------------------- float unary ops
# op -> (input range, options, versions)
FLOAT_OPS = {
    "ABS": ((-8, 8), {}), "NEG": ((-8, 8), {}), "EXP": ((-80, 80), {}),
    "LOG": ((1e-6, 1e4), {}), "SQRT": ((0, 1e4), {}), "RSQRT": ((1e-4, 1e4), {}),
    "SQUARE": ((-1e3, 1e3), {}), "SIN": ((-20, 20), {}), "COS": ((-20, 20), {}),
    "FLOOR": ((-8, 8), {}), "CEIL": ((-8, 8), {}), "ROUND": ((-8, 8), {}),
    "SIGN": ((-8, 8), {}), "LOGISTIC": ((-30, 30), {}), "TANH": ((-12, 12), {}),
    "RELU": ((-8, 8), {}), "RELU6": ((-10, 10), {}), "RELU_N1_TO_1": ((-3, 3), {}),
    "RELU_0_TO_1": ((-3, 3), {}), "ELU": ((-10, 10), {}), "HARD_SWISH": ((-8, 8), {}),
    "LEAKY_RELU": ((-8, 8), {"alpha": 0.2}), "GELU": ((-10, 10), {"approximate": False}),
    "ZEROS_LIKE": ((-8, 8), {}),
}
VERSIONS = {"ABS": 5, "EXP": 2, "LOG": 2, "SQRT": 2, "RSQRT": 3, "SIN": 2, "COS": 2, "SIGN": 2,
            "LOGISTIC": 3, "TANH": 3, "RELU": 3, "RELU6": 3, "LEAKY_RELU": 2, "GELU": 3}

UNARY_CASES = [(op, shape, seed) for op in FLOAT_OPS for shape in SHAPES for seed in range(3)]


@pytest.mark.parametrize("op,shape,seed", split(UNARY_CASES, 100))
def test_float_unary(op, shape, seed):
    rng = np.random.default_rng(seed_of(op, shape, seed))
    (low, high), opts = FLOAT_OPS[op]
    x = values(rng, shape, low, high)
    check(op, unary_model(op, shape, np.float32, **opts), [x])


@pytest.mark.parametrize("op", list(FLOAT_OPS))
def test_float_unary_versions(op):
    """Every registered version runs the same float kernel."""
    rng = np.random.default_rng(seed_of(op, "v"))
    (low, high), opts = FLOAT_OPS[op]
    x = values(rng, (3, 5), low, high)
    for v in range(1, VERSIONS.get(op, 1) + 1):
        check(op, unary_model(op, (3, 5), np.float32, version=v, **opts), [x])


@pytest.mark.parametrize("op", ["ABS", "NEG", "EXP", "LOG", "SQRT", "RSQRT", "SQUARE", "SIN",
                                "COS", "FLOOR", "CEIL", "ROUND", "SIGN", "LOGISTIC", "TANH",
                                "ELU", "HARD_SWISH", "GELU", "LEAKY_RELU", "RELU", "RELU6",
                                "RELU_N1_TO_1", "RELU_0_TO_1"])
def test_float_unary_special_values(op):
    """inf, NaN, huge, tiny and subnormal inputs, against LiteRT's reference kernels.

    LiteRT's default (XNNPACK) kernels differ from its own reference kernels here:
    EXP(NaN) = 0 and EXP(88.5) = inf; LOG(3e38) = inf; LOG/RSQRT/FLOOR/CEIL flush
    subnormals to zero; SQRT(3e38) = 2.598e19 (true value 1.732e19); SIN/COS of
    |x| >= 1e10 are far outside [-1, 1]; HARD_SWISH(3e38) = 3e38 (reference: inf).
    We match the reference kernels. CEIL, ROUND and ELU have no reference kernel, so
    they are compared with the default kernels on normal numbers only."""
    x = np.array([np.inf, -np.inf, np.nan, 3e38, -3e38, 1e-40, -1e-40, 0.0, -0.0, 88.5, -88.5,
                  -104.0, 1e10, -1e10, 0.49999997, -0.49999997, 16.62, -9.01], np.float32)
    if op in ("LOG", "SQRT", "RSQRT"):
        x = np.abs(x)
    if op in NOT_IN_BUILTIN_REF:
        x = x[(x == 0) | ~(np.abs(x) < 1e-37)]
    opts = FLOAT_OPS[op][1]
    check(op, unary_model(op, x.shape, np.float32, **opts), [x],
          reference=op not in NOT_IN_BUILTIN_REF)


@pytest.mark.parametrize("op", ["RELU", "LEAKY_RELU", "RELU6"])
def test_float_relu_large_with_special_values(op):
    """A tensor big enough (16K values) for RELU's same-shape-bound path
    (common.bound_like): the special values tiled through it, against LiteRT's
    reference kernels (RELU6 and LEAKY_RELU ride along as the other clamps)."""
    special = np.array([np.inf, -np.inf, np.nan, 3e38, -3e38, 1e-40, -1e-40, 0.0, -0.0,
                        2.5, -2.5, 7.0], np.float32)
    rng = np.random.default_rng(17)
    x = rng.normal(0, 3, (4, 64, 64)).astype(np.float32)
    x.reshape(-1)[::97][:special.size * 10] = np.tile(special, 10)[:x.reshape(-1)[::97].size]
    opts = FLOAT_OPS[op][1]
    check(op, unary_model(op, x.shape, np.float32, **opts), [x], reference=True)


def test_bound_like_shares_one_constant_and_matches_scalar_maximum():
    """bound_like: None for small, strided or integer arrays; else a read-only view of
    one shared constant buffer per (dtype, value), and maximum against it equals the
    scalar form value for value (NaN where NaN) on random and special values."""
    from edgelite.kernels.common import bound_like, maximum_inplace
    assert bound_like(np.zeros(100, np.float32), 0.0) is None
    assert bound_like(np.zeros((100, 100), np.float32)[:, ::2], 0.0) is None
    assert bound_like(np.zeros(10000, np.int32), 0) is None
    a = bound_like(np.zeros((50, 100), np.float32), 0.0)
    b = bound_like(np.zeros(8000, np.float32), 0.0)
    assert a.shape == (50, 100) and not a.flags.writeable and np.shares_memory(a, b)
    rng = np.random.default_rng(3)
    for dt in (np.float32, np.float64):
        x = rng.normal(0, 1, 10000).astype(dt)
        x[::7] = -0.0
        x[1::11] = np.nan
        x[2::13] = -np.inf
        want = np.maximum(x, dt(0.0))
        got = x.copy()
        maximum_inplace(got, 0.0)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        ok = ~np.isnan(want)
        np.testing.assert_array_equal(got[ok], want[ok])


def test_maximum_inplace_call_site_follows_its_array():
    """MaximumInplace (a fused RELU of an elementwise op) keeps the bound of the last
    array: right on that array again, on a new array of another size (a resize), and on
    a small one (no bound array)."""
    from edgelite.kernels.common import MaximumInplace
    relu = MaximumInplace(np.asarray(0.0).astype(np.float32))
    rng = np.random.default_rng(4)
    a = np.empty(8192, np.float32)
    for x in (a, a, np.empty((3, 4096), np.float32), np.empty(10, np.float32), a):
        x[...] = rng.normal(size=x.shape)
        want = np.maximum(x, np.float32(0))
        relu(x)
        np.testing.assert_array_equal(x, want)
        assert relu.x is x


def test_round_half_to_even():
    # round.cc rounds halves to even (banker's rounding), not away from zero.
    x = (np.arange(-40, 41, dtype=np.float32) / 2).astype(np.float32)
    check("ROUND", unary_model("ROUND", x.shape, np.float32), [x])
    got = run_edgelite(unary_model("ROUND", x.shape, np.float32), [x])[0]
    np.testing.assert_array_equal(got, np.rint(x))


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.2, 1.0, 1.5, -0.3])
@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 9)])
def test_leaky_relu_alpha(alpha, shape):
    rng = np.random.default_rng(seed_of(alpha, shape))
    x = values(rng, shape)
    for v in (1, 2):
        check("LEAKY_RELU", unary_model("LEAKY_RELU", shape, np.float32, version=v, alpha=alpha),
              [x])


def test_leaky_relu_without_options():
    # Options omitted from the file: alpha defaults to 0.
    b = ModelBuilder()
    x = b.add_input("x", (2, 5), np.float32)
    y = b.add_tensor("y", (2, 5), np.float32)
    b.add_op("LEAKY_RELU", [x], [y])
    b.add_output(y)
    m = b.build()
    m.subgraphs[0].operators[0].builtin_options = None
    from edgelite.format.writer import to_bytes
    xv = values(np.random.default_rng(1), (2, 5))
    check("LEAKY_RELU", to_bytes(m), [xv])


GELU_CASES = [(approx, shape) for approx in (False, True) for shape in SHAPES]


@pytest.mark.parametrize("approximate,shape", split(GELU_CASES, 8))
def test_gelu(approximate, shape):
    rng = np.random.default_rng(seed_of("gelu", approximate, shape))
    x = values(rng, shape, -12, 12)
    model = unary_model("GELU", shape, np.float32, approximate=approximate)
    check("GELU", model, [x])
    # The built-in kernel (no XNNPACK) uses Eigen's erfc / tanh.
    check("GELU", model, [x], reference=True)


@pytest.mark.parametrize("shape", [(3, 20001), (16384,), (16385,)])
def test_gelu_large(shape):
    """Exact GELU runs in cache-sized blocks: sizes around and across block edges."""
    x = values(np.random.default_rng(seed_of("gelubig", shape)), shape, -12, 12)
    check("GELU", unary_model("GELU", shape, np.float32, approximate=False), [x])


def test_erf_accuracy():
    """The float64 erf/erfc used by exact GELU, against math.erf/erfc (scalar)."""
    import math
    z = np.concatenate([np.linspace(-30, 30, 60001), [0.0, 1e-300, -1e-300, 27.0]])
    want_c = np.array([math.erfc(v) for v in z])
    want = np.array([math.erf(v) for v in z])
    rel_c = np.abs(erfc(z) - want_c) / np.maximum(want_c, 1e-300)
    assert rel_c.max() < 1e-11
    assert np.abs(erf(z) - want).max() < 1e-13
    assert erfc(np.array([np.inf]))[0] == 0.0 and erfc(np.array([-np.inf]))[0] == 2.0


# ---------------------------------------------------------------- float16 variants
FLOAT16_OPS = ["NEG", "SIN", "COS", "FLOOR", "ROUND", "LOGISTIC", "TANH", "GELU"]


@pytest.mark.parametrize("op", FLOAT16_OPS)
@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_float16_unary(op, shape):
    """float16 results are the same half values as LiteRT's reference kernels.

    LiteRT's default kernels (XNNPACK's native half arithmetic) differ from its own
    reference kernels by up to a few half ulps: measured 4.9e-4 (SIN, COS, LOGISTIC),
    9.8e-4 (TANH), 1.7e-3 (exact GELU), 3.1e-3 (approximate GELU), relative to
    max(1, |ref|); we allow 4e-3 against them."""
    rng = np.random.default_rng(seed_of(op, shape, "f16"))
    x = values(rng, shape, -8, 8, dtype=np.float16)
    opts_list = [{"approximate": False}, {"approximate": True}] if op == "GELU" else [{}]
    for opts in opts_list:
        model = unary_model(op, shape, np.float16, **opts)
        if op in NOT_IN_BUILTIN_REF:
            check(op, model, [x], tol=0.0)
        else:
            check(op, model, [x], tol=0.0, reference=True)
            check(op, model, [x], tol=4e-3)


# ---------------------------------------------------------------- integer variants
INT_OPS = {"ABS": (np.int32, np.int16), "NEG": (np.int32, np.int64, np.int8, np.int16),
           "SIGN": (np.int32,), "ZEROS_LIKE": (np.int32, np.int64)}
INT_CASES = [(op, dt, shape) for op, dts in INT_OPS.items() for dt in dts
             for shape in [(6,), (2, 3, 4), (1, 1, 1)]]


@pytest.mark.parametrize("op,dtype,shape", INT_CASES)
def test_integer_unary(op, dtype, shape):
    rng = np.random.default_rng(seed_of(op, dtype.__name__, shape))
    info = np.iinfo(dtype)
    x = rng.integers(max(info.min + 1, -10**6), min(info.max, 10**6), size=shape).astype(dtype)
    x.reshape(-1)[0] = 0
    check(op, unary_model(op, shape, dtype), [x])


def test_neg_int8_wraps():
    # NEG on int8 negates the stored integers (no quantization maths); -128 stays -128.
    x = np.array([-128, -127, -1, 0, 1, 127], np.int8)
    check("NEG", unary_model("NEG", x.shape, np.int8), [x])


def test_sign_float64():
    x = np.array([-2.5, -0.0, 0.0, 1e-300, np.nan, np.inf, -np.inf, 3.0], np.float64)
    check("SIGN", unary_model("SIGN", x.shape, np.float64), [x])


# ---------------------------------------------------------------- PRELU
PRELU_CASES = [
    ((2, 3), (3,)), ((2, 3), (2, 3)), ((2, 3), ()), ((1, 4, 4, 3), (3,)),
    ((1, 4, 4, 3), (1, 1, 3)), ((2, 4, 5, 3), (4, 5, 3)), ((2, 4, 5, 3), (1, 5, 1)),
    ((2, 4, 5, 3), (2, 4, 5, 3)), ((3, 1, 2), (1, 1, 2)), ((7,), (1,)), ((4, 6), (4, 1)),
    ((2, 2, 3, 4), (1, 1, 1, 4)),
]


@pytest.mark.parametrize("alpha_const", [True, False])
@pytest.mark.parametrize("xs,alpha_shape", PRELU_CASES)
def test_prelu(xs, alpha_shape, alpha_const):
    rng = np.random.default_rng(seed_of(xs, alpha_shape, alpha_const))
    x = values(rng, xs)
    alpha = rng.uniform(-1.5, 1.5, size=alpha_shape).astype(np.float32)
    b = ModelBuilder()
    xi = b.add_input("x", xs, np.float32)
    ai = b.add_constant("alpha", alpha) if alpha_const else b.add_input("alpha", alpha_shape,
                                                                        np.float32)
    y = b.add_tensor("y", xs, np.float32)
    b.add_op("PRELU", [xi, ai], [y])
    b.add_output(y)
    inputs = [x] if alpha_const else [x, alpha]
    for reference in (False, True):
        check("PRELU", b.to_bytes(), inputs, reference=reference)


# ---------------------------------------------------------------- CAST
CAST_DTYPES = [np.float32, np.float16, np.float64, np.int8, np.uint8, np.int16, np.uint16,
               np.int32, np.uint32, np.int64, np.bool_, np.complex64]


def cast_values(rng, dtype, shape=(40,)):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
        special = [0, 1, info.min, info.max, info.max - 1, 127, 128, 255, 256, 65535, 65536]
        flat = x.reshape(-1)
        for i, v in enumerate(special[:flat.size]):
            if info.min <= v <= info.max:
                flat[i] = v
        return x
    # float / complex: wide range, halves, non-finite, the integer types' limits.
    special = [0.0, -0.0, 0.5, -0.5, 2.7, -2.7, 127.5, 128.0, -128.5, 255.9, 256.0, 65535.5,
               -1.0, 32767.9, -32768.9, 2.0 ** 31, -(2.0 ** 31), 2.0 ** 31 - 64, 4.3e9, -4.3e9,
               2.0 ** 63, -(2.0 ** 63), 1e30, -1e30, np.inf, -np.inf, np.nan, 70000.0, 1e-3]
    if dtype == np.float16:
        special = [s for s in special if not np.isfinite(s) or abs(s) < 65504]
    mag = rng.choice([1.0, 300.0, 7e4, 5e9], size=shape)
    x = (rng.standard_normal(shape) * mag)
    flat = x.reshape(-1)
    n = min(flat.size, len(special))
    flat[:n] = special[:n]
    if dtype.kind == "c":
        return (x + 1j * rng.standard_normal(shape) * 100).astype(dtype)
    with np.errstate(over="ignore"):
        return x.astype(dtype)


CAST_CASES = [(a, b) for a in CAST_DTYPES for b in CAST_DTYPES]


@pytest.mark.parametrize("src,dst", split(CAST_CASES, 144),
                         ids=lambda d: np.dtype(d).name)
def test_cast(src, dst):
    rng = np.random.default_rng(seed_of(np.dtype(src).name, np.dtype(dst).name))
    x = cast_values(rng, src)
    model = unary_model("CAST", x.shape, src, dst)
    check("CAST", model, [x])
    if np.dtype(dst).kind == "c":
        # oracle.max_error compares complex values by their real parts only.
        np.testing.assert_array_equal(run_edgelite(model, [x])[0], run_litert(model, [x])[0])


@pytest.mark.parametrize("shape", [(), (1,), (2, 3, 4), (0, 3)])
def test_cast_shapes(shape):
    rng = np.random.default_rng(seed_of("castshape", shape))
    x = rng.standard_normal(shape).astype(np.float32) * 100
    check("CAST", unary_model("CAST", shape, np.float32, np.int32), [x])


def test_cast_float_to_int_saturates():
    # cast.cc: float -> integer saturates (NaN -> the type's max); no UB wrap-around.
    x = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 2.5, -2.5, 1e20], np.float32)
    got = run_edgelite(unary_model("CAST", x.shape, np.float32, np.int32), [x])[0]
    want = run_litert(unary_model("CAST", x.shape, np.float32, np.int32), [x])[0]
    np.testing.assert_array_equal(got, want)
    info = np.iinfo(np.int32)
    np.testing.assert_array_equal(got[:5], [info.max, info.max, info.min, info.max, info.min])


@pytest.mark.parametrize("version", range(1, 10))
def test_cast_versions(version):
    x = np.array([1.5, -2.5, 300.0], np.float32)
    check("CAST", unary_model("CAST", x.shape, np.float32, np.uint8, version=version), [x])


# ---------------------------------------------------------------- invalid use
def test_wrong_arity():
    b = ModelBuilder()
    x = b.add_input("x", (3,), np.float32)
    x2 = b.add_input("x2", (3,), np.float32)
    y = b.add_tensor("y", (3,), np.float32)
    b.add_op("TANH", [x, x2], [y])
    b.add_output(y)
    expect_op_error(b.to_bytes(), "TANH", "expects 1 inputs")


@pytest.mark.parametrize("op,dtype", [("SQUARE", np.int32), ("EXP", np.int32),
                                      ("CEIL", np.float16), ("SIGN", np.int64),
                                      ("ZEROS_LIKE", np.int8), ("RELU", np.int32),
                                      ("SIN", np.int32), ("LOGISTIC", np.bool_),
                                      ("GELU", np.float64), ("ABS", np.int64)])
def test_unsupported_dtype(op, dtype):
    expect_op_error(unary_model(op, (4,), dtype), op, "not supported")


def test_output_type_mismatch():
    expect_op_error(unary_model("ABS", (4,), np.float32, np.int32), "ABS", "expected the input")


def test_prelu_bad_alpha():
    for alpha_shape, match in [((4,), "does not broadcast"), ((2, 1, 3), "must keep")]:
        b = ModelBuilder()
        x = b.add_input("x", (2, 3), np.float32)
        a = b.add_constant("a", np.ones(alpha_shape, np.float32))
        y = b.add_tensor("y", (2, 3), np.float32)
        b.add_op("PRELU", [x, a], [y])
        b.add_output(y)
        expect_op_error(b.to_bytes(), "PRELU", match)


def test_cast_unsupported_type():
    expect_op_error(unary_model("CAST", (3,), np.float32, np.uint64), "CAST", "cannot cast to")


def test_default_vs_reference_agree_on_float_ops():
    """Sanity: LiteRT's default and reference kernels are both matched (GELU/LOGISTIC)."""
    x = values(np.random.default_rng(5), (4, 50), -10, 10)
    for op, opts in [("LOGISTIC", {}), ("TANH", {}), ("GELU", {"approximate": True})]:
        m = unary_model(op, x.shape, np.float32, **opts)
        ref = run_litert(m, [x], reference=True)[0]
        got = run_edgelite(m, [x], experimental_op_resolver_type=OpResolverType.BUILTIN_REF)[0]
        assert max_error(got, ref) <= 1e-5


@pytest.mark.parametrize("op", ["TANH", "GELU", "LOGISTIC", "HARD_SWISH", "CAST"])
def test_resized_input(op):
    """Buffers made in prepare follow the input shape after resize_tensor_input."""
    model = unary_model(op, (1, 4), np.float32, np.int32 if op == "CAST" else None)
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    for shape in [(3, 7), (2, 2, 5)]:
        x = values(np.random.default_rng(len(shape)), shape, -5, 5)
        it.resize_tensor_input(it.get_input_details()[0]["index"], list(shape))
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
        want = run_litert(model, [x])[0]
        assert got.shape == want.shape and max_error(got, want) <= 1e-5


@pytest.mark.parametrize("op,version", [("RELU", 4), ("ABS", 6), ("GELU", 4), ("CAST", 10),
                                        ("SQUARE", 2), ("PRELU", 2)])
def test_version_beyond_litert_rejected(op, version):
    model = unary_model(op, (3,), np.float32, version=version)
    with pytest.raises(edgelite.OpError, match=rf"{op} version {version} is not supported"):
        edgelite.Interpreter(model_content=model).allocate_tensors()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64,
                                   np.int16, np.int8])
def test_negative_is_right_on_every_stride(dtype):
    """common.negative negates strided views of every step 1..16, in place and into
    another strided array (numpy 2.4.6's np.negative returned wrong values at 16-byte
    strides of 32-bit types and 64-byte strides of 64-bit types on AVX-512), with the
    bits of -x: signed zeros, infinities, integer wrap-around."""
    from edgelite.kernels.common import negative
    info = np.finfo(dtype) if np.dtype(dtype).kind == "f" else np.iinfo(dtype)
    for n in (1, 2, 5, 17, 64):
        for step in range(1, 17):
            base = (np.arange(n * step) % 11 - 5).astype(dtype)
            base[::7] = info.min
            if np.dtype(dtype).kind == "f":
                base[1::5] = -0.0
                base[2::9] = np.inf
            want = np.negative(base[::step].copy())      # (contiguous: numpy is right)
            v = base[::step]
            other = np.zeros(n * step, dtype)[::step]
            negative(v, other)
            negative(v, v)
            for got in (v, other):
                assert got.tobytes() == want.tobytes(), (dtype, n, step)
