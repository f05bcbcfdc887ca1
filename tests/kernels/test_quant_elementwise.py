"""Quantized binary ops (ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE, comparisons) against
LiteRT's reference kernels (BUILTIN_REF), bit for bit, over grids of shapes (with
broadcasting), quantization parameters (zero points at the extremes, scales over
orders of magnitude) and fused activations. Each case also runs LiteRT's default
kernels and records the largest difference in steps (EDGELITE_REPORT_ERRORS=1
prints them); the default kernels are not the spec.

Cases LiteRT leaves undefined are not in the grid: double-rounding
MultiplyByQuantizedMultiplierSmallerThanOneExp with a positive shift (SUB/comparison
multipliers >= 1, i.e. tiny output scales or input scales >= 1 for comparisons).
"""
from __future__ import annotations

import itertools
import os
import random
import zlib

import numpy as np
import pytest
from oracle import run_edgelite, run_litert

import edgelite
from edgelite.format.builder import ModelBuilder

REPORT = os.environ.get("EDGELITE_REPORT_ERRORS")
I8, U8, I16 = np.int8, np.uint8, np.int16


def split(cases: list, k: int, seed: int = 0):
    rng = random.Random(seed)
    idx = set(rng.sample(range(len(cases)), min(k, len(cases))))
    return [c if i in idx else pytest.param(*c, marks=pytest.mark.slow)
            for i, c in enumerate(cases)]


def rand_q(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, size=shape).astype(dtype)


def compare(model: bytes, inputs, tag: str = "") -> int:
    """Bit-exact vs BUILTIN_REF; returns the largest difference vs default kernels."""
    want = run_litert(model, inputs, reference=True)
    got = run_edgelite(model, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        bad = np.flatnonzero(g.ravel() != w.ravel())
        assert bad.size == 0, (f"{bad.size} of {g.size} differ; first at {bad[:5]}: got "
                               f"{g.ravel()[bad[:5]]} want {w.ravel()[bad[:5]]}")
    dflt = run_litert(model, inputs)
    diff = max((int(np.abs(d.astype(np.int64) - w.astype(np.int64)).max(initial=0))
                for d, w in zip(dflt, want)), default=0)
    if REPORT:
        print(f"\nDEFAULT-DIFF {tag} {diff}")
    return diff


def binary_model(op, dtype, shape_a, shape_b, qa, qb, qo, version, out_dtype=None, **opts):
    b = ModelBuilder()
    x = b.add_input("a", shape_a, dtype, quant=qa)
    y = b.add_input("b", shape_b, dtype, quant=qb)
    from edgelite.kernels.common import broadcast_shape
    shape = broadcast_shape(tuple(shape_a), tuple(shape_b))
    od = np.bool_ if op in CMP_OPS else (out_dtype or dtype)
    o = b.add_tensor("out", shape, od, quant=None if op in CMP_OPS else qo)
    b.add_op(op, [x, y], [o], version=version, **opts)
    b.add_output(o)
    return b.to_bytes()


def q(scale, zp):
    return {"scale": [scale], "zero_point": [zp]}


SHAPES = [((2, 3, 4), (2, 3, 4)), ((1, 5, 1, 3), (2, 1, 4, 3)), ((4,), ()), ((), (3, 2)),
          ((2, 1, 3), (3,)), ((1,), (1,))]
ZP8 = {I8: [-128, 0, 127], U8: [0, 128, 255]}
SCALES = [(0.02, 0.05, 0.1), (0.5, 0.003, 0.04), (1e-3, 1e-3, 2e-3), (0.1, 0.1, 0.05)]
ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
CMP_OPS = {"LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL"}
VERSION = {("ADD", I8): 2, ("ADD", U8): 1, ("ADD", I16): 3, ("SUB", I8): 2, ("SUB", U8): 1,
           ("SUB", I16): 5, ("MUL", I8): 2, ("MUL", U8): 1, ("MUL", I16): 4,
           ("DIV", I8): 1, ("DIV", U8): 1, ("DIV", I16): 1, ("SQUARED_DIFFERENCE", I8): 2}


def _arith_cases():
    cases = []
    for op in ("ADD", "SUB", "MUL"):
        for dtype in (I8, U8):
            for (sa, sb), (s1, s2, so), act in itertools.product(SHAPES, SCALES, ACTS):
                for zps in ((ZP8[dtype][0], ZP8[dtype][2], ZP8[dtype][1]),
                            (ZP8[dtype][2], ZP8[dtype][1], ZP8[dtype][0])):
                    cases.append((op, dtype, sa, sb, (s1, zps[0]), (s2, zps[1]), (so, zps[2]),
                                  act))
        for (sa, sb), act in itertools.product(SHAPES, ACTS):
            for s1, s2, so in ((0.001, 0.002, 0.003), (3e-5, 3e-5, 6e-5), (0.01, 1e-4, 0.02)):
                cases.append((op, I16, sa, sb, (s1, 0), (s2, 0), (so, 0), act))
    return cases


@pytest.mark.parametrize("op,dtype,sa,sb,qa,qb,qo,act", split(_arith_cases(), 60))
def test_add_sub_mul(op, dtype, sa, sb, qa, qb, qo, act):
    rng = np.random.default_rng(zlib.crc32(repr((op, sa, sb, qa, qb, qo, act)).encode()))
    opts = {"fused_activation_function": act}
    if op in ("ADD", "SUB") and dtype == I16:
        opts["pot_scale_int16"] = False
    if op == "MUL" and qa[0] * qb[0] / qo[0] >= 1.0 and dtype != I16:
        version = 3
    else:
        version = VERSION[(op, dtype)]
    m = binary_model(op, dtype, sa, sb, q(*qa), q(*qb), q(*qo), version, **opts)
    compare(m, [rand_q(rng, sa, dtype), rand_q(rng, sb, dtype)], f"{op}-{np.dtype(dtype)}")


POT_CASES = [(op, sh, act, s1, s2, so) for op in ("ADD", "SUB")
             for sh in [((2, 3), (2, 3)), ((5,), (5,))] for act in ACTS
             for s1, s2, so in ((2 ** -10, 2 ** -12, 2 ** -10), (2 ** -8, 2 ** -8, 2 ** -8),
                                (2 ** -14, 2 ** -12, 2 ** -12))]


@pytest.mark.parametrize("op,shapes,act,s1,s2,so", split(POT_CASES, 8))
def test_int16_pot_scale(op, shapes, act, s1, s2, so):
    """int16 ADD/SUB with pot_scale_int16 (LSTM-style power-of-two scales)."""
    rng = np.random.default_rng(zlib.crc32(repr((op, shapes, act, s1)).encode()))
    sa, sb = shapes
    m = binary_model(op, I16, sa, sb, q(s1, 0), q(s2, 0), q(so, 0), 1,
                     fused_activation_function=act, pot_scale_int16=True)
    compare(m, [rand_q(rng, sa, I16), rand_q(rng, sb, I16)], f"{op}-int16-pot")


ALL_PAIRS = [("ADD", I8, "RELU"), ("ADD", U8, "NONE"), ("SUB", I8, "NONE"), ("MUL", I8, "RELU6"),
             ("MUL", U8, "NONE"), ("SQUARED_DIFFERENCE", I8, None), ("DIV", U8, "NONE"), ("DIV", I8, "RELU"),
             ("LESS", I8, None), ("EQUAL", U8, None)]


PAIR_QUANT = [((0.05, 0), (0.02, 1), (0.1, 2)),           # (scale, zero point index)
              ((0.003, 2), (0.7, 0), (0.04, 1))]


@pytest.mark.parametrize("quant", range(len(PAIR_QUANT)))
@pytest.mark.parametrize("op,dtype,act", ALL_PAIRS)
def test_every_pair_of_8bit_values(op, dtype, act, quant):
    """All 65,536 (a, b) pairs at once: the 8-bit ops' prepared table (one entry per pair
    of codes) against the reference kernels, entry by entry."""
    codes = np.arange(1 << 16)
    a = (codes >> 8).astype(np.uint8).view(dtype)
    b = (codes & 0xFF).astype(np.uint8).view(dtype)
    (sa, ia), (sb, ib), (so, io) = PAIR_QUANT[quant]
    za, zb, zo = ZP8[dtype][ia], ZP8[dtype][ib], ZP8[dtype][io]
    if op == "DIV":
        keep = b != zb                     # no division by (real) zero
        a, b = a[keep], b[keep]
    opts = {} if act is None else {"fused_activation_function": act}
    m = binary_model(op, dtype, a.shape, b.shape, q(sa, za), q(sb, zb), q(so, zo),
                     VERSION.get((op, dtype), 1), **opts)
    compare(m, [a, b], f"{op}-all-pairs")


def _other_cases():
    cases = []
    for dtype in (I8, U8):
        for (sa, sb), (s1, s2, so) in itertools.product(SHAPES[:4], SCALES[:3]):
            for zp in ZP8[dtype]:
                cases.append(("DIV", dtype, sa, sb, (s1, zp), (s2, ZP8[dtype][1]), (so, zp),
                              "NONE"))
    for (sa, sb), (s1, s2, so) in itertools.product(SHAPES, SCALES):
        for zps in ((-128, 127, 0), (5, -3, -128)):
            cases.append(("SQUARED_DIFFERENCE", I8, sa, sb, (s1, zps[0]), (s2, zps[1]),
                          (so, zps[2]), "NONE"))
    return cases


@pytest.mark.parametrize("op,dtype,sa,sb,qa,qb,qo,act", split(_other_cases(), 16))
def test_div_squared_difference(op, dtype, sa, sb, qa, qb, qo, act):
    rng = np.random.default_rng(zlib.crc32(repr((op, sa, sb, qa, qb, qo)).encode()))
    opts = {"fused_activation_function": act} if op == "DIV" else {}
    m = binary_model(op, dtype, sa, sb, q(*qa), q(*qb), q(*qo), VERSION[(op, dtype)], **opts)
    a = rand_q(rng, sa, dtype)
    bv = rand_q(rng, sb, dtype)
    if op == "DIV":
        bv = np.where(bv == qb[1], bv + 1, bv).astype(dtype)
    compare(m, [a, bv], op)


def _cmp_cases():
    cases = []
    for op in sorted(CMP_OPS):
        for dtype, version in ((I8, 2), (U8, 1), (I16, 3 if op in ("LESS", "GREATER_EQUAL")
                                                   else 5 if op == "EQUAL" else 4)):
            if op in ("GREATER", "LESS_EQUAL") and dtype == I16:
                version = 2
            if op == "NOT_EQUAL" and dtype == I16:
                version = 4
            zp = 0 if dtype == I16 else ZP8[dtype][0]
            for (sa, sb), (s1, s2) in itertools.product(SHAPES[:4], ((0.1, 0.1), (0.05, 0.2))):
                cases.append((op, dtype, version, sa, sb, (s1, zp), (s2, 0 if dtype != U8
                                                                     else 128)))
    return cases


@pytest.mark.parametrize("op,dtype,version,sa,sb,qa,qb", split(_cmp_cases(), 20))
def test_comparisons(op, dtype, version, sa, sb, qa, qb):
    rng = np.random.default_rng(zlib.crc32(repr((op, dtype, sa, sb, qa, qb)).encode()))
    m = binary_model(op, dtype, sa, sb, q(*qa), q(*qb), None, version)
    a = rand_q(rng, sa, dtype)
    bv = rand_q(rng, sb, dtype)
    if qa == qb and a.size and bv.size:     # make some equal pairs
        bv = np.array(a.reshape(-1)[0], dtype) if bv.ndim == 0 else bv
    compare(m, [a, bv], op)


def test_transformer_shapes():
    """The LayerNorm pattern of transformer_int8: [1, 16, 64] with a [1, 16, 1] mean."""
    rng = np.random.default_rng(7)
    for op in ("SUB", "SQUARED_DIFFERENCE", "ADD", "MUL"):
        m = binary_model(op, I8, (1, 16, 64), (1, 16, 1), q(0.031, -5), q(0.004, 11),
                         q(0.05, 3), VERSION[(op, I8)])
        compare(m, [rand_q(rng, (1, 16, 64), I8), rand_q(rng, (1, 16, 1), I8)], op)


# ---------------------------------------------------------------- invalid use
def _raises(model, inputs=None, match="operator 0"):
    with pytest.raises(edgelite.OpError, match=match):
        it = edgelite.Interpreter(model_content=model)
        it.allocate_tensors()
        if inputs is not None:
            for d, x in zip(it.get_input_details(), inputs):
                it.set_tensor(d["index"], x)
            it.invoke()


def test_errors():
    # mismatched input types
    b = ModelBuilder()
    x = b.add_input("a", (2,), I8, quant=q(0.1, 0))
    y = b.add_input("b", (2,), U8, quant=q(0.1, 0))
    o = b.add_tensor("o", (2,), I8, quant=q(0.1, 0))
    b.add_op("ADD", [x, y], [o], version=2)
    b.add_output(o)
    _raises(b.to_bytes(), match=r"operator 0 \(ADD\).*types differ")
    # shapes that do not broadcast
    b = ModelBuilder()
    x = b.add_input("a", (2, 3), I8, quant=q(0.1, 0))
    y = b.add_input("b", (4,), I8, quant=q(0.1, 0))
    o = b.add_tensor("o", (2, 3), I8, quant=q(0.1, 0))
    b.add_op("MUL", [x, y], [o], version=2)
    b.add_output(o)
    _raises(b.to_bytes(), match=r"\(MUL\).*broadcast")
    # int16 with a non-zero zero point
    _raises(binary_model("ADD", I16, (2,), (2,), q(0.1, 3), q(0.1, 0), q(0.1, 0), 3,
                         pot_scale_int16=False), match=r"\(ADD\).*zero point")
    # SQUARED_DIFFERENCE has no uint8 kernel
    _raises(binary_model("SQUARED_DIFFERENCE", U8, (2,), (2,), q(0.1, 0), q(0.1, 0),
                         q(0.1, 0), 1), match=r"\(SQUARED_DIFFERENCE\)")
    # a quantized DIV by a value equal to the divisor's zero point
    m = binary_model("DIV", I8, (3,), (3,), q(0.1, 0), q(0.1, 2), q(0.1, 0), 1)
    _raises(m, [np.ones(3, I8), np.array([1, 2, 3], I8)], match=r"\(DIV\).*division by zero")
    # unquantized output
    b = ModelBuilder()
    x = b.add_input("a", (2,), I8, quant=q(0.1, 0))
    y = b.add_input("b", (2,), I8, quant=q(0.1, 0))
    o = b.add_tensor("o", (2,), I8)
    b.add_op("SUB", [x, y], [o], version=2)
    b.add_output(o)
    _raises(b.to_bytes(), match=r"\(SUB\).*quantized")


# ---------------------------------------------------------------- PRELU
def prelu_model(dtype, x_shape, alpha, qi, qa, qo, const=True, alpha_dtype=None):
    b = ModelBuilder()
    x = b.add_input("x", x_shape, dtype, quant=qi)
    if const:
        a = b.add_constant("alpha", alpha, quant=qa)
    else:
        a = b.add_input("alpha", alpha.shape, alpha_dtype or alpha.dtype, quant=qa)
    o = b.add_tensor("y", x_shape, dtype, quant=qo)
    b.add_op("PRELU", [x, a], [o], version=1)
    b.add_output(o)
    return b.to_bytes()


PRELU_SHAPES = [((2, 3, 4), (4,)), ((1, 5, 5, 3), (1, 1, 3)), ((2, 3), (2, 3)), ((4,), ()),
                ((2, 1, 3, 2, 2), (2, 2)), ((3, 1, 2), (1, 2))]
PRELU_Q = [((0.05, 3), (0.01, -5), (0.03, -2)), ((0.5, 0), (0.2, 0), (0.01, 0)),
           ((0.002, -128), (0.1, 127), (0.5, 127)), ((0.02, 127), (0.004, -128), (0.02, -128))]


def _prelu_cases():
    cases = []
    for dtype, (xs, as_), qs, const in itertools.product((I8, U8, I16), PRELU_SHAPES, PRELU_Q,
                                                         (True, False)):
        qi, qa, qo = qs
        if dtype == U8:
            qi, qa, qo = [(s, z + 128) for s, z in qs]
        if dtype == I16:                    # int16 data with int8 alpha
            qi, qo = (qi[0], 0), (qo[0], 0)
        cases.append((dtype, xs, as_, qi, qa, qo, const))
    return cases


@pytest.mark.parametrize("dtype,x_shape,alpha_shape,qi,qa,qo,const", split(_prelu_cases(), 16))
def test_prelu(dtype, x_shape, alpha_shape, qi, qa, qo, const):
    rng = np.random.default_rng(zlib.crc32(repr((dtype, x_shape, alpha_shape, qi)).encode()))
    alpha = rand_q(rng, alpha_shape, I8 if dtype == I16 else dtype)
    x = rand_q(rng, x_shape, dtype)
    m = prelu_model(dtype, x_shape, alpha, q(*qi), q(*qa), q(*qo), const)
    compare(m, [x] if const else [x, alpha], f"PRELU-{np.dtype(dtype)}")


def test_prelu_errors():
    a8 = np.array([1, 2, 3], I8)
    # alpha broadcasting the input to a larger shape
    _raises(prelu_model(I8, (2, 1), a8, q(0.1, 0), q(0.1, 0), q(0.1, 0)),
            match=r"\(PRELU\).*keep the input's shape")
    # alpha that does not broadcast
    _raises(prelu_model(I8, (2, 4), a8, q(0.1, 0), q(0.1, 0), q(0.1, 0)),
            match=r"\(PRELU\).*does not broadcast")
    # alpha of another type than the 8-bit input
    _raises(prelu_model(U8, (2, 3), a8, q(0.1, 0), q(0.1, 0), q(0.1, 0)),
            match=r"\(PRELU\).*alpha has type")
    # unquantized alpha
    _raises(prelu_model(I8, (2, 3), a8, q(0.1, 0), None, q(0.1, 0)),
            match=r"\(PRELU\).*alpha must be quantized")


@pytest.mark.parametrize("dtype", [I8, U8])
@pytest.mark.parametrize("qi,qa,qo", PRELU_Q[:2])
def test_prelu_every_pair_of_8bit_values(dtype, qi, qa, qo):
    """PRELU's (x, alpha) table, all 65,536 pairs, against the reference kernels."""
    codes = np.arange(1 << 16)
    x = (codes >> 8).astype(np.uint8).view(dtype)
    alpha = (codes & 0xFF).astype(np.uint8).view(dtype)
    shift = 0 if dtype == I8 else 128           # the zero points, moved into uint8's range
    qi, qa, qo = ((s, z + shift) for s, z in (qi, qa, qo))
    m = prelu_model(dtype, x.shape, alpha, q(*qi), q(*qa), q(*qo), const=False)
    compare(m, [x, alpha], "PRELU-all-pairs")


def tables_both_tiers(model: bytes, monkeypatch, table_grid) -> list:
    """The first node's lookup table built with the compiled tier (compiled_qops.table_grid
    replaced by `table_grid`, a counting wrapper) and without it."""
    from edgelite.kernels import compiled, compiled_qops
    tables = []
    for on in (True, False):
        monkeypatch.setattr(compiled, "ENABLED", on)
        monkeypatch.setattr(compiled_qops, "table_grid", table_grid)
        it = edgelite.Interpreter(model_content=model)
        it.allocate_tensors()
        tables.append(it._main.kernels[0].table)
    monkeypatch.undo()
    return tables


@pytest.mark.skipif(not __import__("edgelite.kernels.compiled", fromlist=["ENABLED"]).ENABLED,
                    reason="numba not installed: no compiled table builder")
@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL", "SQUARED_DIFFERENCE"])
def test_compiled_table_equals_numpy_table(op, monkeypatch):
    """compiled_qops.table_grid builds an 8-bit op's lookup table at prepare; all 65536
    entries equal the numpy tier's table (QuantBinary.table_values), over random scales
    across orders of magnitude, zero points at the extremes, both 8-bit types and the
    clamping activations: every input pair, not a sample."""
    from edgelite.kernels import compiled_qops
    grid = compiled_qops.table_grid
    calls = []

    def counted(*args):
        calls.append(1)
        return grid(*args)
    rng = np.random.default_rng(zlib.crc32(op.encode()))
    types = (I8,) if op == "SQUARED_DIFFERENCE" else (I8, U8)
    acts = ("NONE",) if op == "SQUARED_DIFFERENCE" else ("NONE", "RELU", "RELU6")
    version = {"ADD": 2, "SUB": 2, "MUL": 2, "SQUARED_DIFFERENCE": 1}[op]
    built = 0
    for i in range(24):
        dtype = types[i % len(types)]
        zps = ZP8[dtype]
        scales = 10.0 ** rng.uniform(-4, 0, 3)
        qs = [q(float(s), int(rng.choice(zps)) if rng.random() < 0.5 else
                int(rng.integers(np.iinfo(dtype).min, int(np.iinfo(dtype).max) + 1)))
              for s in scales]
        opts = {} if op == "SQUARED_DIFFERENCE" else {
            "fused_activation_function": acts[i % len(acts)]}
        model = binary_model(op, dtype, (2, 3), (2, 3), *qs, version, **opts)
        tables = tables_both_tiers(model, monkeypatch, counted)
        assert tables[0].dtype == tables[1].dtype
        assert np.array_equal(tables[0], tables[1]), (op, dtype, qs, opts)
        built += 1
    assert built == 24
    assert len(calls) >= 20       # the compiled builder took (nearly) every case


@pytest.mark.parametrize("which", [0, 1, 2])
def test_add_zero_point_out_of_range_names_the_tensor(which):
    """An int8 ADD whose input or output zero point lies outside int8 is refused at
    prepare, naming the tensor and the type."""
    zps = [3, -2, 1]
    zps[which] = 300
    m = binary_model("ADD", I8, (2, 3), (2, 3), q(0.1, zps[0]), q(0.1, zps[1]),
                     q(0.2, zps[2]), 2)
    it = edgelite.Interpreter(model_content=m)
    with pytest.raises(edgelite.OpError, match=r"zero point 300 is out of range for int8") as e:
        it.allocate_tensors()
    assert ["'a'", "'b'", "'out'"][which] in str(e.value)
