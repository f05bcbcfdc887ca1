"""Quantized CONCATENATION / PACK against LiteRT's reference kernels (BUILTIN_REF), bit
for bit: uint8 CONCATENATION with inputs on other scales / zero points than the output
(ConcatenationWithScaling, every uint8 value through each input), and the pass-through
cases (equal quantization; int8, uint8, int16) that the generic kernels handle.

int8 CONCATENATION and PACK with differing quantization fail in LiteRT's prepare; the
tests check that edgelite refuses them too (and that LiteRT does).
"""
from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
from kernels.test_quant_elementwise import _raises, compare, q, rand_q, split
from oracle import run_litert

from edgelite.format.builder import ModelBuilder

I8, U8, I16 = np.int8, np.uint8, np.int16


def concat_model(dtype, shapes, quants, q_out, axis, const_values=None, op="CONCATENATION",
                 version=1):
    """const_values: {input index: array} for inputs that are constants."""
    const_values = const_values or {}
    b = ModelBuilder()
    ts = []
    for i, (shape, qi) in enumerate(zip(shapes, quants)):
        if i in const_values:
            ts.append(b.add_constant(f"c{i}", const_values[i], quant=qi))
        else:
            ts.append(b.add_input(f"x{i}", shape, dtype, quant=qi))
    if op == "PACK":
        a = axis + len(shapes[0]) + 1 if axis < 0 else axis
        out_shape = list(shapes[0][:a]) + [len(shapes)] + list(shapes[0][a:])
        opts = {"values_count": len(shapes)}
    else:
        out_shape = list(shapes[0])
        if -len(out_shape) <= axis < len(out_shape):       # else: an invalid-axis test
            out_shape[axis] = sum(s[axis] for s in shapes)
        opts = {}
    o = b.add_tensor("y", out_shape, dtype, quant=q_out)
    b.add_op(op, ts, [o], version=version, axis=axis, **opts)
    b.add_output(o)
    return b.to_bytes()


# Shapes whose inputs hold >= 256 elements, so that each input sees every uint8 value.
SHAPES = [([(2, 128), (2, 160)], 1), ([(1, 8, 8, 4), (1, 8, 8, 5), (1, 8, 8, 6)], 3),
          ([(256, 2), (300, 2)], 0), ([(2, 128, 3), (2, 130, 3), (2, 129, 3)], -2)]
U8_QUANTS = [([(0.1, 128), (0.05, 3)], (0.08, 100)), ([(0.5, 0), (0.002, 255)], (0.01, 255)),
             ([(0.01, 0), (1.3, 17)], (0.2, 0)), ([(1 / 3, 7), (0.1, 128)], (1 / 3, 7)),
             ([(0.1, 128), (0.1, 128)], (0.1, 128)), ([(1e-3, 255), (30.0, 0)], (0.7, 128))]


def _requant_cases():
    return [(shapes, axis, qs, qo, const)
            for (shapes, axis), (qs, qo), const in itertools.product(SHAPES, U8_QUANTS,
                                                                    (False, True))]


@pytest.mark.parametrize("shapes,axis,qs,qo,const", split(_requant_cases(), 12))
def test_concatenation_uint8_requantize(shapes, axis, qs, qo, const):
    rng = np.random.default_rng(zlib.crc32(repr((shapes, qs, qo, const)).encode()))
    quants = [q(*qs[i % len(qs)]) for i in range(len(shapes))]
    values = []
    for s in shapes:
        v = np.resize(np.arange(256, dtype=U8), int(np.prod(s)))
        values.append(rng.permutation(v).reshape(s))
    consts = {1: values[1]} if const else {}
    m = concat_model(U8, shapes, quants, q(*qo), axis, consts)
    compare(m, [v for i, v in enumerate(values) if i not in consts], "CONCATENATION-uint8")


def _same_quant_cases():
    cases = []
    for dtype, op in itertools.product((I8, U8, I16), ("CONCATENATION", "PACK")):
        zp = {I8: -128, U8: 255, I16: 0}[dtype]
        version = {("CONCATENATION", I8): 2, ("CONCATENATION", U8): 1,
                   ("CONCATENATION", I16): 3, ("PACK", I8): 2, ("PACK", U8): 1,
                   ("PACK", I16): 3}[(op, dtype)]
        if op == "PACK":
            grid = itertools.product([[(2, 3), (2, 3), (2, 3)], [(1, 4, 2), (1, 4, 2)]], (0, -1))
        else:
            grid = [([(2, 3), (2, 5)], -1), ([(1, 4, 2), (1, 4, 1), (1, 4, 3)], 2),
                    ([(2, 3), (4, 3)], 0), ([(1, 4, 2), (1, 1, 2)], 1)]
        for s, axis in grid:
            cases.append((op, dtype, s, axis, (0.05, zp), version))
    return cases


@pytest.mark.parametrize("op,dtype,shapes,axis,qq,version", split(_same_quant_cases(), 8))
def test_same_quantization(op, dtype, shapes, axis, qq, version):
    rng = np.random.default_rng(zlib.crc32(repr((op, dtype, shapes, axis)).encode()))
    m = concat_model(dtype, shapes, [q(*qq)] * len(shapes), q(*qq), axis, op=op,
                     version=version)
    compare(m, [rand_q(rng, s, dtype) for s in shapes], f"{op}-{np.dtype(dtype)}")


def test_errors():
    rng = np.random.default_rng(0)
    # int8 CONCATENATION does not requantize in LiteRT (prepare fails there too)
    m = concat_model(I8, [(2, 3), (2, 3)], [q(0.1, 0), q(0.2, 0)], q(0.1, 0), 1, version=2)
    with pytest.raises(Exception):                  # noqa: B017 (LiteRT's own error type)
        run_litert(m, [rand_q(rng, (2, 3), I8)] * 2, reference=True)
    _raises(m, match=r"\(CONCATENATION\).*requantizing int8 CONCATENATION is not supported")
    # PACK never requantizes
    for dtype, version in ((U8, 1), (I8, 2)):
        m = concat_model(dtype, [(2, 3), (2, 3)], [q(0.1, 0), q(0.1, 1)], q(0.1, 0), 0,
                         op="PACK", version=version)
        with pytest.raises(Exception):              # noqa: B017
            run_litert(m, [rand_q(rng, (2, 3), dtype)] * 2, reference=True)
        _raises(m, match=r"\(PACK\).*requantize")
    # requantizing uint8 CONCATENATION: shapes that differ off the axis, bad axis,
    # fused activation
    _raises(concat_model(U8, [(2, 3), (3, 3)], [q(0.1, 0), q(0.2, 0)], q(0.1, 0), 1),
            match=r"\(CONCATENATION\).*dimension 0")
    _raises(concat_model(U8, [(2, 3), (2, 3)], [q(0.1, 0), q(0.2, 0)], q(0.1, 0), 2),
            match=r"\(CONCATENATION\).*axis 2 is out of range")
    b = ModelBuilder()
    x = b.add_input("x", (2, 3), U8, quant=q(0.1, 0))
    y = b.add_input("y", (2, 3), U8, quant=q(0.2, 0))
    o = b.add_tensor("o", (2, 6), U8, quant=q(0.1, 0))
    b.add_op("CONCATENATION", [x, y], [o], version=1, axis=1,
             fused_activation_function="RELU")
    b.add_output(o)
    _raises(b.to_bytes(), match=r"\(CONCATENATION\).*activation")
