"""Conformance of the elementwise kernels (edgelite/kernels/elementwise.py) against LiteRT.

Every case runs the same one-op model in LiteRT and edgelite, with LiteRT's
default kernels (XNNPACK for float) and with its reference kernels
(BUILTIN_REF, edgelite's `experimental_op_resolver_type` set to match).
The exhaustive grid is marked slow; the default run takes a sample that
still covers every (op, dtype) pair.
"""
from __future__ import annotations

import itertools
import json
import os
import zlib

import numpy as np
import pytest
from ai_edge_litert.interpreter import OpResolverType
from oracle import FLOAT_TOL, max_error, run_edgelite, run_litert

import edgelite
from edgelite.format.builder import ModelBuilder

F32, F16, F64 = np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.float64)
I8, U8, I16, I32, I64 = (np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.int32, np.int64))
U32, C64, BOOL = np.dtype(np.uint32), np.dtype(np.complex64), np.dtype(np.bool_)

ACTIVATIONS = ["NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT"]
CMP_TYPES = (F32, I32, I64, I16, F16)
# op -> (dtypes LiteRT's kernel accepts unquantized, has a fused activation)
BINARY = {
    "ADD": ((F32, I32, I64, I16, F16), True),
    "SUB": ((F32, I32, I64), True),
    "MUL": ((F32, I32, I64, I16, F16, U32, C64), True),
    "DIV": ((F32, I32), True),
    "MAXIMUM": ((F32, I32, I64, I16, I8, U8, F16), False),
    "MINIMUM": ((F32, I32, I64, I16, I8, U8, F16), False),
    "POW": ((F32, I32), False),
    "SQUARED_DIFFERENCE": ((F32, I32), False),
    "FLOOR_DIV": ((F32, I32, I16, I8), False),
    "FLOOR_MOD": ((F32, I32, I64, I16, I8), False),
    "ATAN2": ((F32, F64, F16), False),
    "LESS": (CMP_TYPES, False),
    "LESS_EQUAL": (CMP_TYPES, False),
    "GREATER": (CMP_TYPES, False),
    "GREATER_EQUAL": (CMP_TYPES, False),
    "EQUAL": (CMP_TYPES + (BOOL,), False),
    # LiteRT's NOT_EQUAL leaves its output unwritten for unquantized int16 (a
    # missing else in comparisons.cc): checked against numpy in its own test.
    "NOT_EQUAL": ((F32, I32, I64, F16, BOOL), False),
    "LOGICAL_AND": ((BOOL,), False),
    "LOGICAL_OR": ((BOOL,), False),
}
COMPARISONS = {"LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL"}
DIVISIONS = {"DIV", "FLOOR_DIV", "FLOOR_MOD"}

# Broadcast patterns over ranks 0-6, incl. batch > 1, size-1 and empty dims.
SHAPES = [
    ((), ()), ((1,), ()), ((), (3,)), ((5,), (5,)), ((2, 3), (3,)), ((2, 1), (1, 3)),
    ((2, 3, 4), (3, 1)), ((1, 3, 1, 5), (2, 1, 4, 1)), ((2, 2, 3, 4), (2, 2, 3, 4)),
    ((4, 1, 1, 3), (1,)), ((2, 1, 3, 1, 2), (1, 4, 1, 2, 1)),
    ((2, 1, 2, 1, 3, 2), (1, 3, 1, 2, 1, 2)), ((0, 3), (1, 3)),
]
SAME_SHAPES = [s for s in SHAPES if s[0] == s[1]] + [((3, 4), (3, 4)), ((2, 1, 3), (2, 1, 3))]

WORST: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_worst_errors():
    yield
    path = os.environ.get("EDGELITE_WORST_ERRORS")
    if path:
        with open(path, "w") as f:
            json.dump(WORST, f, indent=1, sort_keys=True)


# ---------------------------------------------------------------- helpers
def one_op_model(op, inputs, out_shape, out_dtype, **options) -> bytes:
    """inputs: list of (shape, dtype) for model inputs or numpy arrays for constants."""
    b = ModelBuilder()
    idx = []
    for k, spec in enumerate(inputs):
        if isinstance(spec, np.ndarray):
            idx.append(b.add_constant(f"c{k}", spec))
        else:
            idx.append(b.add_input(f"x{k}", spec[0], spec[1]))
    y = b.add_tensor("y", out_shape, out_dtype)
    b.add_op(op, idx, [y], **options)
    b.add_output(y)
    return b.to_bytes()


def compare(model: bytes, inputs, reference: bool, key: str, tol: float = FLOAT_TOL) -> float:
    """Run LiteRT and edgelite (both default or both reference kernels); assert agreement."""
    want = run_litert(model, inputs, reference=reference)
    kind = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
    got = run_edgelite(model, inputs, experimental_op_resolver_type=kind)
    assert len(got) == len(want)
    worst = 0.0
    for g, w in zip(got, want):
        assert g.shape == w.shape, f"shape {g.shape}, LiteRT {w.shape}"
        assert g.dtype == w.dtype, f"dtype {g.dtype}, LiteRT {w.dtype}"
        if w.dtype.kind == "c":
            err = max(max_error(g.real, w.real), max_error(g.imag, w.imag))
        else:
            err = max_error(g, w)
        limit = tol if w.dtype.kind in "fc" else 0
        assert err <= limit, f"error {err} > {limit}\ngot  {g.ravel()[:8]}\nwant {w.ravel()[:8]}"
        worst = max(worst, err)
    WORST[key] = max(WORST.get(key, 0.0), worst)
    return worst


def random_input(op: str, dtype: np.dtype, shape, rng, position: int) -> np.ndarray:
    """Values that exercise the op: divisors away from zero, small ints for comparisons."""
    divisor = position == 1 and op in DIVISIONS
    if dtype == BOOL:
        return rng.integers(0, 2, shape).astype(bool)
    if dtype == C64:
        return (rng.uniform(-3, 3, shape) + 1j * rng.uniform(-3, 3, shape)).astype(C64)
    if dtype.kind == "f":
        if op in COMPARISONS:   # few distinct values, so equality happens
            return (rng.integers(-3, 4, shape) / 2).astype(dtype)
        if op == "POW":
            lo, hi = (0.1, 3.0) if position == 0 else (-3.0, 3.0)
            return rng.uniform(lo, hi, shape).astype(dtype)
        if divisor:
            return (rng.choice([-1, 1], shape) * rng.uniform(0.5, 3, shape)).astype(dtype)
        scale = 10 if op in ("FLOOR_DIV", "FLOOR_MOD") else 4
        return rng.uniform(-scale, scale, shape).astype(dtype)
    info = np.iinfo(dtype)
    if op in COMPARISONS:
        return rng.integers(-3, 4, shape).astype(dtype)
    if op == "POW":
        lo, hi = (-5, 6) if position == 0 else (0, 7)
        return rng.integers(lo, hi, shape).astype(dtype)
    if divisor:
        mag = rng.integers(1, min(info.max, 40) + 1, shape)
        sign = rng.choice([-1, 1], shape) if info.min < 0 else 1
        return (sign * mag).astype(dtype)
    # Full range (wraps for ADD/SUB/MUL, like C), but keep INT_MIN / -1 out of divisions.
    lo = info.min + 1 if op in DIVISIONS else info.min
    return rng.integers(lo, info.max, shape, dtype=dtype, endpoint=True)


def seed(*parts) -> int:
    return zlib.crc32(repr(parts).encode())


# ---------------------------------------------------------------- binary grid
def binary_cases():
    for op, (dtypes, has_act) in BINARY.items():
        shapes = SAME_SHAPES if op == "ATAN2" else SHAPES
        for dtype, s, ref in itertools.product(dtypes, shapes, (False, True)):
            acts = ACTIVATIONS if has_act and dtype.kind in "fiu" else [None]
            for act in acts:
                yield op, dtype, s, act, ref


ALL_BINARY = list(binary_cases())


def sampled(cases, keep_one_in: int):
    """A deterministic sample keeping every (op, dtype) pair."""
    out, seen = [], set()
    for c in cases:
        key = (c[0], str(c[1]))
        if key not in seen or seed(*c) % keep_one_in == 0:
            seen.add(key)
            out.append(c)
    return out


def case_id(c):
    op, dtype, (s1, s2), act, ref = c
    return (f"{op}-{dtype}-{'x'.join(map(str, s1)) or 's'}_{'x'.join(map(str, s2)) or 's'}"
            f"-{act}-{'ref' if ref else 'default'}")


def run_binary(op, dtype, shapes, act, ref):
    rng = np.random.default_rng(seed(op, str(dtype), shapes, act))
    s1, s2 = shapes
    xs = [random_input(op, dtype, s, rng, k) for k, s in enumerate(shapes)]
    out_dtype = BOOL if op in COMPARISONS else dtype
    opts = {} if act is None else {"fused_activation_function": act}
    model = one_op_model(op, [(s1, dtype), (s2, dtype)], np.broadcast_shapes(s1, s2),
                         out_dtype, **opts)
    with np.errstate(all="ignore"):
        compare(model, xs, ref, op)


@pytest.mark.parametrize("case", sampled(ALL_BINARY, 12), ids=case_id)
def test_binary(case):
    run_binary(*case)


@pytest.mark.slow
@pytest.mark.parametrize("case", ALL_BINARY, ids=case_id)
def test_binary_exhaustive(case):
    run_binary(*case)


# ---------------------------------------------------------------- constant operands
CONST_CASES = [(op, dtypes[0], pos) for op, (dtypes, _) in BINARY.items() for pos in (0, 1)]
CONST_CASES += [("DIV", I32, 1), ("POW", I32, 1), ("MAXIMUM", I32, 1), ("FLOOR_MOD", I32, 1)]


@pytest.mark.parametrize("op,dtype,position", CONST_CASES, ids=str)
@pytest.mark.parametrize("ref", [False, True], ids=["default", "ref"])
def test_constant_operand(op, dtype, position, ref):
    rng = np.random.default_rng(seed(op, str(dtype), position))
    shapes = [(2, 3), (2, 3)] if op == "ATAN2" else [(2, 3), (3,)]
    xs = [random_input(op, dtype, s, rng, k) for k, s in enumerate(shapes)]
    specs = [(s, dtype) for s in shapes]
    specs[position] = xs[position]
    feed = [x for k, x in enumerate(xs) if k != position]
    out_dtype = BOOL if op in COMPARISONS else dtype
    compare(one_op_model(op, specs, (2, 3), out_dtype), feed, ref, op)


# ---------------------------------------------------------------- edge values
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 3e38, -3e38, np.inf, -np.inf, np.nan, 1e-40, 7.5, -2.5],
                   np.float32)


SPECIAL_CASES = [(op, act) for op in ("ADD", "SUB", "MUL", "DIV") for act in ACTIVATIONS] + [
    (op, None) for op in ("MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "POW", "FLOOR_MOD", "ATAN2",
                          "LESS", "EQUAL", "NOT_EQUAL", "GREATER_EQUAL")]


@pytest.mark.parametrize("op,act", SPECIAL_CASES, ids=str)
@pytest.mark.parametrize("ref", [False, True], ids=["default", "ref"])
def test_float_special_values(op, act, ref):
    # Every pair of special values (inf, nan, huge, denormal, signed zeros).
    # LiteRT's built-in float ADD/SUB/MUL/DIV clamp +-inf to +-FLT_MAX even with
    # no activation (and with TANH / SIGN_BIT, which they ignore); XNNPACK, its
    # default for NONE/RELU, does not. edgelite follows each mode.
    # XNNPACK also flushes denormals to zero (inf * 1e-40 is NaN there); edgelite
    # keeps IEEE arithmetic, so denormals are only in the reference-kernel run.
    special = SPECIAL if ref else SPECIAL[SPECIAL != np.float32(1e-40)]
    a = np.repeat(special, special.size).reshape(special.size, special.size)
    b = np.tile(special, special.size).reshape(special.size, special.size)
    out_dtype = BOOL if op in COMPARISONS else F32
    opts = {} if act is None else {"fused_activation_function": act}
    model = one_op_model(op, [(a.shape, F32), (b.shape, F32)], a.shape, out_dtype, **opts)
    with np.errstate(all="ignore"):
        compare(model, [a, b], ref, op)


def test_maximum_minimum_nan_constant():
    # The constant-operand path (fmax without the NaN fix-up) and a NaN constant.
    for op in ("MAXIMUM", "MINIMUM"):
        for c in (np.array([0.0, 1.0, -1.0], F32), np.array([np.nan, 1.0, np.nan], F32)):
            for pos in (0, 1):
                x = np.array([[np.nan, 2.0, -3.0], [0.5, np.nan, np.inf]], F32)
                specs = [((2, 3), F32), ((2, 3), F32)]
                specs[pos] = c
                with np.errstate(invalid="ignore"):
                    compare(one_op_model(op, specs, (2, 3), F32), [x], False, op)


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("dtype", [I32, I64, I16])
def test_integer_wraparound(op, dtype):
    if op == "SUB" and dtype == I16:
        dtype = I64
    info = np.iinfo(dtype)
    a = np.array([info.max, info.min, info.max, info.min, 12345, -1], dtype)
    b = np.array([1, -1, info.max, info.min, 4321, info.min], dtype)
    model = one_op_model(op, [((6,), dtype), ((6,), dtype)], (6,), dtype)
    for ref in (False, True):
        compare(model, [a, b], ref, op)


@pytest.mark.parametrize("op,dtype", [("DIV", I32), ("FLOOR_DIV", I32), ("FLOOR_DIV", I16),
                                      ("FLOOR_DIV", I8), ("FLOOR_MOD", I32), ("FLOOR_MOD", I64),
                                      ("FLOOR_MOD", I16), ("FLOOR_MOD", I8)])
def test_integer_division_signs(op, dtype):
    # DIV truncates toward zero (C); FLOOR_DIV / FLOOR_MOD floor.
    info = np.iinfo(dtype)
    a = np.array([7, -7, 7, -7, 0, 1, -1, info.max, info.min, info.min + 1, 6, -6], dtype)
    b = np.array([2, 2, -2, -2, 3, 5, 5, 2, 3, -1, 3, -3], dtype)
    model = one_op_model(op, [((12,), dtype), ((12,), dtype)], (12,), dtype)
    for ref in (False, True):
        compare(model, [a, b], ref, op)


def test_float_floor_div_uses_double():
    # LiteRT computes floor(double(a) / double(b)): 1 / 0.1f floors to 9, not 10.
    a = np.array([1.0, -1.0, 3.0, 0.3, 7.0, -7.0, 1e30, 5.0], F32)
    b = np.array([0.1, 0.1, 0.3, 0.1, 0.7, 0.7, 3e-9, -0.5], F32)
    model = one_op_model("FLOOR_DIV", [((8,), F32), ((8,), F32)], (8,), F32)
    for ref in (False, True):
        compare(model, [a, b], ref, "FLOOR_DIV")


def test_int_pow_out_of_range():
    # int32 POW is std::pow in double cast to int32: overflow gives INT32_MIN (x86).
    a = np.array([3, 2, -3, 7, 0, -2, 46341, -1, 1], I32)
    b = np.array([25, 31, 3, 0, 0, 31, 2, 1000001, 1000], I32)
    model = one_op_model("POW", [((9,), I32), ((9,), I32)], (9,), I32)
    for ref in (False, True):
        compare(model, [a, b], ref, "POW")


@pytest.mark.parametrize("op,dtype", [("DIV", I32), ("FLOOR_DIV", I32), ("FLOOR_DIV", F32),
                                      ("FLOOR_DIV", I8), ("FLOOR_MOD", I32), ("FLOOR_MOD", I64)])
def test_division_by_zero_fails_at_invoke(op, dtype):
    a = np.ones((2, 3), dtype)
    b = np.array([1, 2, 0], dtype)
    model = one_op_model(op, [((2, 3), dtype), ((3,), dtype)], (2, 3), dtype)
    with pytest.raises(RuntimeError):
        run_litert(model, [a, b])
    with pytest.raises(edgelite.OpError, match=rf"operator 0 \({op}\).*division by zero"):
        run_edgelite(model, [a, b])
    # A constant zero divisor fails the same way, at invoke.
    model = one_op_model(op, [((2, 3), dtype), b], (2, 3), dtype)
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], a)
    with pytest.raises(edgelite.OpError, match=rf"operator 0 \({op}\)"):
        it.invoke()


def test_float_floor_mod_by_zero_is_nan():
    a = np.array([1.0, -2.0, 0.0], F32)
    b = np.zeros(3, F32)
    model = one_op_model("FLOOR_MOD", [((3,), F32), ((3,), F32)], (3,), F32)
    with np.errstate(all="ignore"):
        compare(model, [a, b], False, "FLOOR_MOD")


def test_int_pow_negative_exponent_fails():
    model = one_op_model("POW", [((3,), I32), ((3,), I32)], (3,), I32)
    a, b = np.array([1, 2, 3], I32), np.array([1, -1, 2], I32)
    with pytest.raises(RuntimeError):
        run_litert(model, [a, b])
    with pytest.raises(edgelite.OpError, match=r"operator 0 \(POW\).*negative"):
        run_edgelite(model, [a, b])


def test_resized_inputs_broadcast():
    # The model says (1, 3) and (3,); both runtimes are resized to (4, 2, 3) and (2, 1).
    model = one_op_model("MUL", [((1, 3), F32), ((3,), F32)], (1, 3), F32,
                         fused_activation_function="RELU")
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((4, 2, 3)).astype(F32), rng.standard_normal((2, 1)).astype(F32)]
    compare(model, xs, False, "MUL")


def test_chain_of_adds():
    # 100 tiny ADDs in a row (the per-node overhead benchmark shape), checked for values.
    b = ModelBuilder()
    x = b.add_input("x", (1, 4), F32)
    c = b.add_constant("c", np.array([[0.5, -0.25, 1.0, 2.0]], F32))
    t = x
    for k in range(100):
        y = b.add_tensor(f"t{k}", (1, 4), F32)
        b.add_op("ADD", [t, c], [y], fused_activation_function="RELU6" if k % 7 == 0 else "NONE")
        t = y
    b.add_output(t)
    compare(b.to_bytes(), [np.array([[1.0, -3.0, 0.0, 5.0]], F32)], False, "ADD")


def test_string_equality_constants():
    # String tensors as constants: see the report about string inputs set with set_tensor.
    s1 = np.array([b"a", b"bc", b"", b"xyz"], dtype=object)
    s2 = np.array([b"a", b"b", b"", b"xyz"], dtype=object)
    for op in ("EQUAL", "NOT_EQUAL"):
        b = ModelBuilder()
        c1, c2 = b.add_constant("s1", s1), b.add_constant("s2", s2)
        x = b.add_input("x", (4,), BOOL)
        eq = b.add_tensor("eq", (4,), BOOL)
        y = b.add_tensor("y", (4,), BOOL)
        b.add_op(op, [c1, c2], [eq])
        b.add_op("LOGICAL_OR", [eq, x], [y])   # a real input, so both runtimes take one
        b.add_output(y)
        compare(b.to_bytes(), [np.zeros(4, bool)], False, op)


def test_not_equal_int16():
    # LiteRT computes nothing here (see BINARY above); edgelite computes a != b.
    a = np.array([[1, -2, 3], [0, 5, -32768]], I16)
    b = np.array([1, 2, -32768], I16)
    model = one_op_model("NOT_EQUAL", [((2, 3), I16), ((3,), I16)], (2, 3), BOOL)
    np.testing.assert_array_equal(run_edgelite(model, [a, b])[0], a != b)


# ---------------------------------------------------------------- LOGICAL_NOT
@pytest.mark.parametrize("shape", [(), (1,), (5,), (2, 3), (2, 1, 3, 4), (1, 2, 1, 2, 1, 2), (0,)],
                         ids=str)
def test_logical_not(shape):
    x = np.random.default_rng(seed(shape)).integers(0, 2, shape).astype(bool)
    model = one_op_model("LOGICAL_NOT", [(shape, BOOL)], shape, BOOL)
    for ref in (False, True):
        compare(model, [x], ref, "LOGICAL_NOT")


# ---------------------------------------------------------------- SELECT / SELECT_V2
SELECT_TYPES = (F32, I32, I64, U8, I8, I16, BOOL, F16)
# (condition, x, y) shapes
SELECT_V1_SHAPES = [((), (), ()), ((2, 3), (2, 3), (2, 3)), ((), (2, 3), (2, 3)),
                    ((4,), (4, 2, 3), (4, 2, 3)), ((2,), (2,), (2,)), ((3,), (3, 1), (3, 1)),
                    ((1,), (), ()), ((1, 1), (1,), (1,)),
                    ((2, 1, 2, 1, 2, 2), (2, 1, 2, 1, 2, 2), (2, 1, 2, 1, 2, 2))]
SELECT_V2_SHAPES = SELECT_V1_SHAPES[:3] + [
    ((2, 1), (1, 3), (2, 3)), ((3,), (2, 3), ()), ((2, 1, 4), (3, 1), (1,)),
    ((1, 2, 1, 3, 1), (2, 1, 3, 1, 2), (2,)), ((), (4,), (2, 1)),
]


def select_cases():
    for op, shapes in (("SELECT", SELECT_V1_SHAPES), ("SELECT_V2", SELECT_V2_SHAPES)):
        for dtype, s, ref in itertools.product(SELECT_TYPES, shapes, (False, True)):
            yield op, dtype, s, ref


ALL_SELECT = list(select_cases())


def run_select(op, dtype, shapes, ref):
    rng = np.random.default_rng(seed(op, str(dtype), shapes))
    sc, sx, sy = shapes
    cond = rng.integers(0, 2, sc).astype(bool)
    x, y = (random_input("ADD", dtype, s, rng, 0) for s in (sx, sy))
    if op == "SELECT" and all(np.prod(s) == 1 for s in shapes):
        out_shape = sx     # LiteRT keeps the declared output shape when all hold one element
    else:
        out_shape = np.broadcast_shapes(sc, sx, sy) if op == "SELECT_V2" else sx
    model = one_op_model(op, [(sc, BOOL), (sx, dtype), (sy, dtype)], out_shape, dtype)
    compare(model, [cond, x, y], ref, op)


def select_id(c):
    op, dtype, shapes, ref = c
    return f"{op}-{dtype}-{'_'.join('x'.join(map(str, s)) or 's' for s in shapes)}-{ref}"


@pytest.mark.parametrize("case", sampled(ALL_SELECT, 6), ids=select_id)
def test_select(case):
    run_select(*case)


@pytest.mark.slow
@pytest.mark.parametrize("case", ALL_SELECT, ids=select_id)
def test_select_exhaustive(case):
    run_select(*case)


# ---------------------------------------------------------------- ADD_N
@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("dtype", [F32, I32])
@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4), (1, 2, 1, 3)], ids=str)
def test_add_n(n, dtype, shape):
    rng = np.random.default_rng(seed(n, str(dtype), shape))
    xs = [random_input("ADD", dtype, shape, rng, 0) for _ in range(n)]
    model = one_op_model("ADD_N", [(shape, dtype)] * n, shape, dtype)
    for ref in (False, True):
        compare(model, xs, ref, "ADD_N")


# ---------------------------------------------------------------- invalid use
def expect_prepare_error(model: bytes, op: str, match: str = ""):
    it = edgelite.Interpreter(model_content=model)
    with pytest.raises(edgelite.OpError, match=rf"subgraph 0, operator 0 \({op}\).*{match}"):
        it.allocate_tensors()


def raw_model(op, inputs, outputs, **options) -> bytes:
    """inputs / outputs: lists of (shape, dtype) or (shape, dtype, quant)."""
    b = ModelBuilder()
    ins = [b.add_input(f"x{k}", *spec) for k, spec in enumerate(inputs)]
    outs = [b.add_tensor(f"y{k}", *spec) for k, spec in enumerate(outputs)]
    b.add_op(op, ins, outs, **options)
    for o in outs:
        b.add_output(o)
    return b.to_bytes()


@pytest.mark.parametrize("op", [op for op in BINARY if op != "ATAN2"])
def test_shapes_that_do_not_broadcast(op):
    dtype = BINARY[op][0][0]
    out = BOOL if op in COMPARISONS else dtype
    expect_prepare_error(raw_model(op, [((2, 3), dtype), ((4,), dtype)], [((2, 3), out)]), op,
                         "do not broadcast")


@pytest.mark.parametrize("op", list(BINARY))
def test_wrong_input_count(op):
    dtype = BINARY[op][0][0]
    out = BOOL if op in COMPARISONS else dtype
    expect_prepare_error(raw_model(op, [((3,), dtype)], [((3,), out)]), op, "expects 2 inputs")


@pytest.mark.parametrize("op", list(BINARY))
def test_mixed_input_types(op):
    dtype = BINARY[op][0][0]
    other = I32 if dtype != I32 else F32
    out = BOOL if op in COMPARISONS else dtype
    expect_prepare_error(raw_model(op, [((3,), dtype), ((3,), other)], [((3,), out)]), op,
                         "types differ")


@pytest.mark.parametrize("op,dtype", [("DIV", I64), ("SUB", I16), ("POW", I64), ("ATAN2", I32),
                                      ("SQUARED_DIFFERENCE", I64), ("FLOOR_DIV", I64),
                                      ("ADD_N", I64), ("LOGICAL_AND", I32), ("LESS", BOOL),
                                      ("LOGICAL_NOT", F32), ("ADD", BOOL), ("MAXIMUM", BOOL)])
def test_unsupported_types(op, dtype):
    n = 1 if op == "LOGICAL_NOT" else 2
    out = BOOL if op in COMPARISONS else dtype
    # (Not run in LiteRT: some of these abort its process, e.g. unquantized int16
    # SUB takes the quantized path with scale 0.)
    expect_prepare_error(raw_model(op, [((3,), dtype)] * n, [((3,), out)]), op)


def test_output_type_mismatch():
    expect_prepare_error(raw_model("LESS", [((3,), F32), ((3,), F32)], [((3,), F32)]), "LESS",
                         "output has type float32")
    expect_prepare_error(raw_model("ADD", [((3,), F32), ((3,), F32)], [((3,), I32)]), "ADD",
                         "output has type int32")


def test_bad_fused_activation():
    model = raw_model("ADD", [((3,), F32), ((3,), F32)], [((3,), F32)],
                      fused_activation_function=17)
    expect_prepare_error(model, "ADD", "fused activation")


def test_complex_mul_with_activation():
    model = raw_model("MUL", [((3,), C64), ((3,), C64)], [((3,), C64)],
                      fused_activation_function="RELU")
    expect_prepare_error(model, "MUL", "complex64")


def test_atan2_needs_same_shapes():
    model = raw_model("ATAN2", [((2, 3), F32), ((2, 1), F32)], [((2, 3), F32)])
    expect_prepare_error(model, "ATAN2", "same shape")


@pytest.mark.parametrize("op,shapes,match", [
    ("SELECT", [(3,), (2, 3), (2, 3)], "condition"),
    ("SELECT", [(2, 3), (2, 3), (2, 1)], "same shape"),
    ("SELECT", [(2, 2), (2, 3), (2, 3)], "condition"),
    ("SELECT_V2", [(2, 2), (2, 3), (2, 3)], "do not broadcast"),
], ids=str)
def test_select_bad_shapes(op, shapes, match):
    model = raw_model(op, [(shapes[0], BOOL), (shapes[1], F32), (shapes[2], F32)],
                      [(shapes[1], F32)])
    expect_prepare_error(model, op, match)
    with pytest.raises(RuntimeError):
        run_litert(model, [np.zeros(shapes[0], bool), np.zeros(shapes[1], F32),
                           np.zeros(shapes[2], F32)])


def test_select_bad_types():
    model = raw_model("SELECT_V2", [((3,), F32), ((3,), F32), ((3,), F32)], [((3,), F32)])
    expect_prepare_error(model, "SELECT_V2", "condition")
    model = raw_model("SELECT", [((3,), BOOL), ((3,), F32), ((3,), I32)], [((3,), F32)])
    expect_prepare_error(model, "SELECT", "types differ")
    model = raw_model("SELECT", [((3,), BOOL), ((3,), F32)], [((3,), F32)])
    expect_prepare_error(model, "SELECT", "expects 3 inputs")


def test_add_n_bad_inputs():
    expect_prepare_error(raw_model("ADD_N", [((3,), F32)], [((3,), F32)]), "ADD_N",
                         "at least 2")
    expect_prepare_error(raw_model("ADD_N", [((3,), F32), ((1,), F32)], [((3,), F32)]), "ADD_N",
                         "shape")
    expect_prepare_error(raw_model("ADD_N", [((3,), F32), ((3,), I32)], [((3,), F32)]), "ADD_N",
                         "type")
