"""Conformance of SOFTMAX, LOG_SOFTMAX, L2_NORMALIZATION and
LOCAL_RESPONSE_NORMALIZATION (float) against LiteRT, plus invalid use.

Each grid is split: a seeded sample runs by default, the rest is `slow`.
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


def model(op, shape, dtype=np.float32, *, version=1, quant=None, **opts) -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", shape, dtype, quant=quant)
    y = b.add_tensor("y", shape, dtype, quant=quant)
    b.add_op(op, [x], [y], version=version, **opts)
    b.add_output(y)
    return b.to_bytes()


def check(op, m, inputs, *, tol=1e-5, reference=False) -> float:
    assert edgelite.Interpreter(model_content=m).get_output_details(), "model has no output"
    err = check_against_litert(m, inputs, tol=tol, reference=reference)
    if REPORT:
        print(f"\nERR {op} {err!r}")
    return err


def check_reference(op, m, inputs, tol=1e-5) -> float:
    """LiteRT's BUILTIN_REF kernels against edgelite asked for reference semantics."""
    want = run_litert(m, inputs, reference=True)
    got = run_edgelite(m, inputs, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    assert len(got) == len(want) >= 1
    err = max(max_error(g, w) for g, w in zip(got, want))
    assert err <= tol, f"{op}: error {err} against the reference kernel"
    if REPORT:
        print(f"\nERR {op}-ref {err!r}")
    return err


def expect_op_error(m: bytes, op: str, match: str = ""):
    it = edgelite.Interpreter(model_content=m)
    with pytest.raises(edgelite.OpError, match=rf"operator 0 \({op}\).*{match}"):
        it.allocate_tensors()


SHAPES = [(1,), (9,), (1, 1), (2, 10), (3, 1), (1, 4, 7), (2, 3, 4, 5), (1, 2, 2, 64),
          (2, 1, 3, 1, 6), (8, 1000)]


def inputs_for(rng, shape, scale=4.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---------------------------------------------------------------- SOFTMAX
SOFTMAX_CASES = [(shape, beta, scale) for shape in SHAPES
                 for beta in (1.0, 0.5, 2.0, 0.0, 1e-3, 30.0, -1.0)
                 for scale in (1.0, 30.0)]


@pytest.mark.parametrize("shape,beta,scale", split(SOFTMAX_CASES, 50))
def test_softmax(shape, beta, scale):
    rng = np.random.default_rng(seed_of("softmax", shape, beta, scale))
    x = inputs_for(rng, shape, scale)
    m = model("SOFTMAX", shape, beta=beta)
    check("SOFTMAX", m, [x])
    check_reference("SOFTMAX", m, [x])


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_softmax_versions(version):
    x = inputs_for(np.random.default_rng(version), (2, 5))
    check("SOFTMAX", model("SOFTMAX", (2, 5), version=version, beta=1.0), [x])


def test_softmax_extremes():
    x = np.array([[0.0, 0.0, 0.0, 0.0], [1e30, 0.0, -1e30, 5.0], [-np.inf, 0.0, 1.0, 2.0],
                  [-3e38, -3e38, -3e38, -3e38], [88.0, 89.0, 90.0, -90.0]], np.float32)
    check("SOFTMAX", model("SOFTMAX", x.shape, beta=1.0), [x])


def test_softmax_float16():
    # reference_ops::Softmax<half>: exps are stored as half before the division.
    x = inputs_for(np.random.default_rng(3), (3, 17), 3.0).astype(np.float16)
    m = model("SOFTMAX", x.shape, np.float16, beta=0.8)
    check_reference("SOFTMAX", m, [x], tol=0.0)
    check("SOFTMAX", m, [x], tol=0.0)


# ---------------------------------------------------------------- LOG_SOFTMAX
LOG_SOFTMAX_CASES = [(shape, scale) for shape in SHAPES for scale in (1.0, 10.0, 100.0)]


@pytest.mark.parametrize("shape,scale", split(LOG_SOFTMAX_CASES, 20))
def test_log_softmax(shape, scale):
    rng = np.random.default_rng(seed_of("logsoftmax", shape, scale))
    x = inputs_for(rng, shape, scale)
    m = model("LOG_SOFTMAX", shape)
    check("LOG_SOFTMAX", m, [x])
    check_reference("LOG_SOFTMAX", m, [x])


@pytest.mark.parametrize("version", [1, 2])
def test_log_softmax_versions(version):
    x = inputs_for(np.random.default_rng(version), (3, 4))
    check("LOG_SOFTMAX", model("LOG_SOFTMAX", (3, 4), version=version), [x])


# ---------------------------------------------------------------- L2_NORMALIZATION
L2_CASES = [(shape, scale) for shape in SHAPES for scale in (1.0, 1e-7, 1e3)]


@pytest.mark.parametrize("shape,scale", split(L2_CASES, 20))
def test_l2_normalization(shape, scale):
    rng = np.random.default_rng(seed_of("l2", shape, scale))
    x = inputs_for(rng, shape, scale)
    m = model("L2_NORMALIZATION", shape)
    check("L2_NORMALIZATION", m, [x])
    check_reference("L2_NORMALIZATION", m, [x])


def test_l2_normalization_epsilon():
    # Rows with norm below 1e-6 are divided by 1e-6, not by their norm (l2norm.cc).
    x = np.array([[0.0, 0.0, 0.0], [1e-7, -2e-7, 0.0], [3e-7, 4e-7, 0.0], [1.0, 2.0, 2.0]],
                 np.float32)
    for v in (1, 2):
        check("L2_NORMALIZATION", model("L2_NORMALIZATION", x.shape, version=v), [x])
    got = run_edgelite(model("L2_NORMALIZATION", x.shape), [x])[0]
    np.testing.assert_allclose(got[1], x[1] / np.float32(1e-6), rtol=1e-6)


# ---------------------------------------------------------------- LRN
LRN_SHAPES = [(1, 1, 1, 1), (1, 2, 3, 8), (2, 3, 1, 5), (1, 4, 4, 16), (2, 2, 2, 3)]
LRN_CASES = [(shape, radius, bias, alpha, beta) for shape in LRN_SHAPES
             for radius in (0, 1, 2, 5, 100)
             for bias, alpha, beta in [(1.0, 1.0, 0.5), (1.0, 1e-4, 0.75), (2.0, 0.3, 1.0),
                                       (0.5, 0.1, 0.0), (1.0, 0.2, 1.7)]]


@pytest.mark.parametrize("shape,radius,bias,alpha,beta", split(LRN_CASES, 40))
def test_local_response_normalization(shape, radius, bias, alpha, beta):
    """LiteRT's default kernel uses the window [c - r, c + r]; its reference kernel
    [c - r, c + r): we match each, following the resolver type we are given."""
    rng = np.random.default_rng(seed_of("lrn", shape, radius, bias, alpha, beta))
    x = inputs_for(rng, shape, 2.0)
    m = model("LOCAL_RESPONSE_NORMALIZATION", shape, radius=radius, bias=bias, alpha=alpha,
              beta=beta)
    check("LOCAL_RESPONSE_NORMALIZATION", m, [x])
    check_reference("LOCAL_RESPONSE_NORMALIZATION", m, [x])


def test_lrn_default_and_reference_windows_differ():
    x = inputs_for(np.random.default_rng(0), (1, 1, 1, 6))
    m = model("LOCAL_RESPONSE_NORMALIZATION", x.shape, radius=1, bias=1.0, alpha=1.0, beta=1.0)
    assert max_error(run_litert(m, [x])[0], run_litert(m, [x], reference=True)[0]) > 1e-3
    default = run_edgelite(m, [x])[0]
    reference = run_edgelite(m, [x], experimental_op_resolver_type=OpResolverType.BUILTIN_REF)[0]
    assert max_error(default, reference) > 1e-3


# ---------------------------------------------------------------- invalid use
@pytest.mark.parametrize("op", ["SOFTMAX", "LOG_SOFTMAX", "L2_NORMALIZATION"])
def test_rank_zero_rejected(op):
    expect_op_error(model(op, ()), op, "rank >= 1")


@pytest.mark.parametrize("op,dtype", [("SOFTMAX", np.int32), ("LOG_SOFTMAX", np.float16),
                                      ("L2_NORMALIZATION", np.float64),
                                      ("LOCAL_RESPONSE_NORMALIZATION", np.int32)])
def test_unsupported_dtype(op, dtype):
    shape = (1, 2, 2, 3)
    expect_op_error(model(op, shape, dtype), op, "not supported")


def test_l2_normalization_activation_rejected():
    expect_op_error(model("L2_NORMALIZATION", (2, 3), fused_activation_function="RELU"),
                    "L2_NORMALIZATION", "fused activation")


def test_lrn_rank_and_radius():
    expect_op_error(model("LOCAL_RESPONSE_NORMALIZATION", (2, 3, 4), radius=1),
                    "LOCAL_RESPONSE_NORMALIZATION", "rank 4")
    expect_op_error(model("LOCAL_RESPONSE_NORMALIZATION", (1, 2, 3, 4), radius=-1),
                    "LOCAL_RESPONSE_NORMALIZATION", "radius")


def test_wrong_output_count():
    b = ModelBuilder()
    x = b.add_input("x", (2, 3), np.float32)
    y = b.add_tensor("y", (2, 3), np.float32)
    z = b.add_tensor("z", (2, 3), np.float32)
    b.add_op("SOFTMAX", [x], [y, z], beta=1.0)
    b.add_output(y)
    expect_op_error(b.to_bytes(), "SOFTMAX", "outputs")


@pytest.mark.parametrize("op,version", [("SOFTMAX", 5), ("LOG_SOFTMAX", 3),
                                        ("L2_NORMALIZATION", 3),
                                        ("LOCAL_RESPONSE_NORMALIZATION", 2)])
def test_version_beyond_litert_rejected(op, version):
    m = model(op, (1, 2, 2, 3), version=version)
    with pytest.raises(edgelite.OpError, match=rf"{op} version {version} is not supported"):
        edgelite.Interpreter(model_content=m).allocate_tensors()
