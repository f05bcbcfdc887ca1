"""Quantized activations / unary maths / SOFTMAX against LiteRT's reference kernels
(BUILTIN_REF), bit for bit. Unary ops are checked on every representable input value
(all 256 for 8-bit, a 4096-value sweep plus the extremes for int16), over grids of
quantization parameters; SOFTMAX over shapes, betas and parameters. The largest
difference against LiteRT's default kernels is recorded (EDGELITE_REPORT_ERRORS=1).

int16 LOGISTIC/TANH are checked on all 65,536 inputs: their 256-entry sigmoid table is
generated from a formula (fixedpoint.sigmoid_table_uint16), so these tests are what
proves the formula reproduces LiteRT's table.
"""
from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
from kernels.test_quant_elementwise import _raises, compare, q, split
from oracle import run_edgelite, run_litert

from edgelite.format.builder import ModelBuilder

I8, U8, I16 = np.int8, np.uint8, np.int16


def unary_model(op, dtype, shape, qi, qo, version, out_dtype=None, **opts):
    b = ModelBuilder()
    x = b.add_input("x", shape, dtype, quant=qi)
    o = b.add_tensor("y", shape, out_dtype or dtype, quant=qo)
    b.add_op(op, [x], [o], version=version, **opts)
    b.add_output(o)
    return b.to_bytes()


def every_value(dtype, rng):
    if np.dtype(dtype).itemsize == 1:
        info = np.iinfo(dtype)
        v = np.arange(info.min, int(info.max) + 1).astype(dtype)
    else:
        v = np.concatenate([np.arange(-32768, 32768, 16), [-32768, -1, 0, 1, 32767],
                            rng.integers(-32768, 32768, 1000)]).astype(dtype)
    return v.reshape(2, -1) if v.size % 2 == 0 else v


VERSIONS = {("GELU", I8): 2, ("GELU", U8): 2, ("LOGISTIC", I8): 2, ("LOGISTIC", U8): 1,
            ("TANH", I8): 2, ("TANH", U8): 1, ("LOG", I8): 2, ("LOG", I16): 2,
            ("EXP", I8): 2, ("EXP", I16): 2, ("ELU", I8): 1, ("RELU", I8): 2, ("RELU", U8): 2,
            ("RELU", I16): 3, ("RELU6", I8): 2, ("RELU6", U8): 1, ("RELU6", I16): 3,
            ("RELU_N1_TO_1", I8): 1, ("RELU_N1_TO_1", U8): 1, ("RELU_0_TO_1", I8): 1,
            ("RELU_0_TO_1", U8): 1, ("LEAKY_RELU", I8): 1, ("LEAKY_RELU", U8): 1,
            ("LEAKY_RELU", I16): 2, ("ABS", I8): 2, ("ABS", I16): 3, ("SQRT", I8): 2,
            ("SQRT", I16): 2, ("RSQRT", I8): 2, ("RSQRT", I16): 3}
PARAMS8 = {I8: [((0.05, -128), (0.02, 5)), ((0.1, 0), (0.1, 0)), ((0.003, 127), (0.5, -128)),
                ((0.2, 10), (0.01, 127))],
           U8: [((0.05, 0), (0.02, 128)), ((0.1, 128), (0.1, 128)), ((0.5, 255), (0.003, 0))]}
PARAMS16 = [((1e-3, 0), (2e-3, 0)), ((3e-4, 0), (3e-4, 0)), ((0.05, 0), (1e-4, 0))]


def _unary_cases():
    cases = []
    for (op, dtype), version in VERSIONS.items():
        params = PARAMS16 if dtype == I16 else PARAMS8[dtype]
        for qi, qo in params:
            if op == "LOGISTIC":
                qo = (1 / 256, -128 if dtype == I8 else 0)
            if op == "RSQRT" and dtype == I8:
                qi = (qi[0], -128)
            if op in ("SQRT", "RSQRT", "LOG") and dtype == I16:
                qi = (qi[0], 0)
            opts = {}
            if op == "GELU":
                for approx in (False, True):
                    cases.append((op, dtype, version, qi, qo, {"approximate": approx}))
                continue
            if op == "LEAKY_RELU":
                for alpha in (0.2, -0.5, 1.7):
                    cases.append((op, dtype, version, qi, qo, {"alpha": alpha}))
                continue
            cases.append((op, dtype, version, qi, qo, opts))
    return cases


@pytest.mark.parametrize("op,dtype,version,qi,qo,opts", split(_unary_cases(), 40))
def test_unary_all_values(op, dtype, version, qi, qo, opts):
    rng = np.random.default_rng(zlib.crc32(repr((op, dtype, qi, qo)).encode()))
    x = every_value(dtype, rng)
    if op in ("SQRT", "RSQRT"):            # LiteRT fails on negative inputs (tested below)
        x = np.maximum(x, qi[1]).astype(dtype)
    m = unary_model(op, dtype, x.shape, q(*qi), q(*qo), version, **opts)
    if op == "ELU":
        # BUILTIN_REF has no ELU kernel; the default one builds the same LUT with
        # std::expm1 in float, which can differ from a correctly rounded expm1 by an ulp
        # and so by one step (measured: 1 step, on one of 256 values).
        got, want = run_edgelite(m, [x])[0], run_litert(m, [x])[0]
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
        return
    compare(m, [x], f"{op}-{np.dtype(dtype)}")


@pytest.mark.parametrize("op", ["LOG", "EXP"])
def test_int16_lut_overflowing_the_output_scale(op):
    """int16 LUT ops whose function leaves the output range (input scale 0.05, output
    scale 1e-4: log and exp of large inputs): LiteRT's lookup interpolates in int16, so
    the slope across the jump wraps, and a table entry that is inf - inf (NaN) becomes
    0; every input value, bit for bit (these two were wrong until session 7)."""
    version = {"LOG": 2, "EXP": 2}[op]
    x = np.arange(-32768, 32768).astype(I16).reshape(2, 128, 256)
    m = unary_model(op, I16, x.shape, q(0.05, 0), q(1e-4, 0), version)
    compare(m, [x], f"{op}-int16-overflow")


# Power-of-two input scales take LiteRT's "3 << shift" path (2^-12 for both, 2^-11 for
# TANH); the others the generic multiplier, including scales so small or large that the
# doubling loop runs 31 times or not at all.
SCALES16 = [2.0 ** -12, 2.0 ** -11, 2.0 ** -10, 1e-3, 3e-4, 7e-4, 0.05, 0.3, 2.0 ** -15, 2e-5,
            1e-9]


@pytest.mark.parametrize("op,si", split(list(itertools.product(("LOGISTIC", "TANH"),
                                                                SCALES16)), 6))
def test_int16_logistic_tanh_every_value(op, si):
    x = np.arange(-32768, 32768).astype(I16).reshape(2, 128, 256)
    m = unary_model(op, I16, x.shape, q(si, 0), q(1 / 32768, 0), 3)
    compare(m, [x], f"{op}-int16")


def _softmax_cases():
    cases = []
    shapes = [(1, 10), (2, 3, 7), (4, 1), (3, 64), (1, 2, 2, 300)]
    for shape, beta in itertools.product(shapes, (1.0, 0.5, 2.7)):
        for si, zi in ((0.1, 3), (0.02, -128), (0.5, 127)):
            cases.append((shape, beta, I8, (si, zi), I8, (1 / 256, -128)))
            cases.append((shape, beta, I8, (si, zi), I16, (1 / 32768, 0)))
        cases.append((shape, beta, U8, (0.1, 128), U8, (1 / 256, 0)))
        cases.append((shape, beta, U8, (0.03, 0), U8, (1 / 256, 0)))
        for si in (1e-3, 3e-4):
            cases.append((shape, beta, I16, (si, 0), I16, (1 / 32768, 0)))
    return cases


@pytest.mark.parametrize("shape,beta,dtype,qi,out_dtype,qo", split(_softmax_cases(), 20))
def test_softmax(shape, beta, dtype, qi, out_dtype, qo):
    rng = np.random.default_rng(zlib.crc32(repr((shape, beta, qi, out_dtype)).encode()))
    info = np.iinfo(dtype)
    x = rng.integers(info.min, int(info.max) + 1, size=shape).astype(dtype)
    version = {I8: 2, U8: 1, I16: 3}[np.dtype(dtype).type]
    m = unary_model("SOFTMAX", dtype, shape, q(*qi), q(*qo), version, out_dtype=out_dtype,
                    beta=beta)
    compare(m, [x], f"SOFTMAX-{np.dtype(dtype)}-{np.dtype(out_dtype)}")


# HARD_SWISH: every input value over scale pairs that exercise the reluish multiplier's
# left-shift and right-shift paths and output exponents down to -23 (where gemmlowp's
# int16 RoundingDivideByPOT narrows its mask).
HS_SCALES = [(0.05, 0.02), (0.1, 0.1), (0.003, 0.5), (0.2, 0.01), (1.0, 0.02), (0.02, 3e-4),
             (3.0, 3.0), (1e-3, 100.0), (1e-5, 1e-3)]


def _hard_swish_cases():
    cases = []
    for dtype, zps in ((I8, (-128, 0, 127)), (U8, (0, 128, 255))):
        for (si, so), (zi, zo) in itertools.product(HS_SCALES, zip(zps, zps[::-1])):
            cases.append((dtype, (si, zi), (so, zo)))
    return cases


@pytest.mark.parametrize("dtype,qi,qo", split(_hard_swish_cases(), 12))
def test_hard_swish_every_value(dtype, qi, qo):
    info = np.iinfo(dtype)
    x = np.arange(info.min, int(info.max) + 1).astype(dtype).reshape(4, 64)
    compare(unary_model("HARD_SWISH", dtype, x.shape, q(*qi), q(*qo), 1), [x],
            f"HARD_SWISH-{np.dtype(dtype)}")


def _row_op_cases():
    cases = []
    shapes = [(1, 10), (2, 3, 7), (4, 1), (3, 64), (2, 300), (5,), (2, 2, 2, 17)]
    for op, shape in itertools.product(("LOG_SOFTMAX", "L2_NORMALIZATION"), shapes):
        for dtype in (I8, U8):
            zps = (-128, 0, 127) if dtype == I8 else (0, 128, 255)
            scales = (0.1, 0.02, 0.5, 1.0, 0.004, 8.0) if op == "LOG_SOFTMAX" else (0.1, 0.5)
            for si, zi in zip(scales, itertools.cycle(zps)):
                cases.append((op, dtype, shape, (si, zi)))
    return cases


ROW_OUT = {("LOG_SOFTMAX", I8): ((16 / 256, 127), 2), ("LOG_SOFTMAX", U8): ((16 / 256, 255), 1),
           ("L2_NORMALIZATION", I8): ((1 / 128, 0), 2),
           ("L2_NORMALIZATION", U8): ((1 / 128, 128), 1)}


@pytest.mark.parametrize("op,dtype,shape,qi", split(_row_op_cases(), 16))
def test_log_softmax_l2_normalization(op, dtype, shape, qi):
    rng = np.random.default_rng(zlib.crc32(repr((op, dtype, shape, qi)).encode()))
    info = np.iinfo(dtype)
    qo, version = ROW_OUT[(op, dtype)]
    m = unary_model(op, dtype, shape, q(*qi), q(*qo), version)
    x = rng.integers(info.min, int(info.max) + 1, size=shape).astype(dtype)
    compare(m, [x], f"{op}-{np.dtype(dtype)}")
    # Rows at the zero point (L2: a zero norm) but one element; rows of equal values.
    x = np.full(shape, qi[1], dtype)
    x.reshape(-1, shape[-1])[:, 0] = info.max
    compare(m, [x], f"{op}-{np.dtype(dtype)}-flat")


def test_errors():
    # LOGISTIC int8 needs output scale 1/256
    _raises(unary_model("LOGISTIC", I8, (4,), q(0.1, 0), q(0.1, 0), 2),
            match=r"\(LOGISTIC\).*1/256")
    # int16 LOGISTIC/TANH: output scale 1/32768 and zero points 0
    _raises(unary_model("LOGISTIC", I16, (4,), q(1 / 4096, 0), q(1 / 256, 0), 3),
            match=r"\(LOGISTIC\).*1/32768")
    _raises(unary_model("TANH", I16, (4,), q(1 / 4096, 0), q(1 / 16384, 0), 3),
            match=r"\(TANH\).*1/32768")
    _raises(unary_model("TANH", I16, (4,), q(1 / 4096, 3), q(1 / 32768, 0), 3),
            match=r"\(TANH\).*zero point")
    # SOFTMAX int8 output must have zero point -128
    _raises(unary_model("SOFTMAX", I8, (2, 4), q(0.1, 0), q(1 / 256, 0), 2, beta=1.0),
            match=r"\(SOFTMAX\).*-128")
    # RSQRT of a value below the zero point fails at invoke, like LiteRT
    m = unary_model("RSQRT", I8, (3,), q(0.1, 0), q(0.1, 0), 2)
    _raises(m, [np.array([1, -1, 2], I8)], match=r"\(RSQRT\).*positive")
    m = unary_model("SQRT", I8, (3,), q(0.1, 5), q(0.1, 0), 2)
    _raises(m, [np.array([1, 6, 2], I8)], match=r"\(SQRT\).*non-negative")
    # HARD_SWISH needs input scale / 128 below the output scale (LiteRT's exponent <= 0)
    _raises(unary_model("HARD_SWISH", I8, (4,), q(50.0, 0), q(0.1, 0), 1),
            match=r"\(HARD_SWISH\).*exponent")
    # LOG_SOFTMAX: output scale 16/256 and zero point 127 (int8) / 255 (uint8)
    _raises(unary_model("LOG_SOFTMAX", I8, (2, 4), q(0.1, 0), q(1 / 256, 127), 2),
            match=r"\(LOG_SOFTMAX\).*16/256")
    _raises(unary_model("LOG_SOFTMAX", U8, (2, 4), q(0.1, 0), q(16 / 256, 127), 1),
            match=r"\(LOG_SOFTMAX\).*255")
    _raises(unary_model("LOG_SOFTMAX", I16, (2, 4), q(0.1, 0), q(16 / 256, 0), 2),
            match=r"\(LOG_SOFTMAX\).*int16")
    # L2_NORMALIZATION: output scale 1/128, zero point 0 (int8) / 128 (uint8), no activation
    _raises(unary_model("L2_NORMALIZATION", I8, (2, 4), q(0.1, 0), q(1 / 256, 0), 2),
            match=r"\(L2_NORMALIZATION\).*1/128")
    _raises(unary_model("L2_NORMALIZATION", U8, (2, 4), q(0.1, 0), q(1 / 128, 0), 1),
            match=r"\(L2_NORMALIZATION\).*128")
    _raises(unary_model("L2_NORMALIZATION", I8, (2, 4), q(0.1, 0), q(1 / 128, 0), 2,
                        fused_activation_function="RELU"),
            match=r"\(L2_NORMALIZATION\).*activation")
    # int16 RELU with a non-zero zero point
    _raises(unary_model("RELU", I16, (3,), q(0.1, 2), q(0.1, 0), 3), match=r"\(RELU\)")
