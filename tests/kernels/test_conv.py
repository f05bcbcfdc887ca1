"""Conformance of CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED,
BATCH_MATMUL and CONV_3D (float32) against LiteRT, plus invalid use.

Each grid is split: a seeded sample runs by default, the rest is `slow`.
"""
from __future__ import annotations

import random
import zlib

import numpy as np
import pytest
from oracle import check_against_litert, max_error, run_edgelite, run_litert

import edgelite
from edgelite.format import ir
from edgelite.format.builder import ModelBuilder, make_options
from edgelite.kernels import registry
from edgelite.kernels.base import PrepareContext, TensorSpec

ACTS = ["NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH"]


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
    """A seed from a case's parameters, stable across processes (unlike hash())."""
    return zlib.crc32(repr(params).encode())


def rand(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def out_size(padding, n, k, s, d=1):
    eff = (k - 1) * d + 1
    return -(-n // s) if padding == "SAME" else max((n - eff + s) // s, 0)


def expect_op_error(model: bytes, op: str, invoke: bool = False, inputs=()):
    it = edgelite.Interpreter(model_content=model)
    with pytest.raises(edgelite.OpError, match=rf"operator 0 \({op}\)"):
        it.allocate_tensors()
        if invoke:
            for d, x in zip(it.get_input_details(), inputs):
                it.set_tensor(d["index"], x)
            it.invoke()


# ---------------------------------------------------------------- CONV_2D
def conv2d_model(rng, xs, ws, *, bias="const", x_const=False, w_input=False, **opts) -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", xs, np.float32)
    w = b.add_input("w", ws, np.float32) if w_input else b.add_constant("w", rand(rng, ws))
    ins = [x, w]
    if bias == "const":
        ins.append(b.add_constant("b", rand(rng, (ws[0],))))
    elif bias == "zeros":
        ins.append(b.add_constant("b", np.zeros(ws[0], np.float32)))
    elif bias == "omitted":
        ins.append(-1)
    y = b.add_tensor("y", (1, 1, 1, 1), np.float32)
    b.add_op("CONV_2D", ins, [y], **opts)
    b.add_output(y)
    return b.to_bytes()


CONV_CASES = [
    (xs, (k, kk), stride, dil, pad, act, groups)
    for xs in [(1, 5, 5, 2), (2, 7, 6, 4), (1, 1, 1, 4), (3, 9, 8, 6), (1, 12, 3, 2)]
    for k, kk in [(1, 1), (3, 3), (2, 3), (5, 4)]
    for stride in [(1, 1), (2, 2), (1, 3)]
    for dil in [(1, 1), (2, 1), (2, 2)]
    for pad in ["SAME", "VALID"]
    for act in ACTS
    for groups in [1, 2]
    if out_size(pad, xs[1], k, stride[0], dil[0]) > 0
    and out_size(pad, xs[2], kk, stride[1], dil[1]) > 0
    and (groups == 1 or xs[3] % groups == 0)
]


@pytest.mark.parametrize("xs,kernel,stride,dil,pad,act,groups", split(CONV_CASES, 120))
def test_conv2d(xs, kernel, stride, dil, pad, act, groups):
    rng = np.random.default_rng(seed_of((xs, kernel, stride, dil, pad, act, groups)))
    oc = 3 * groups
    ws = (oc, *kernel, xs[3] // groups)
    model = conv2d_model(rng, xs, ws, padding=pad, stride_h=stride[0], stride_w=stride[1],
                         dilation_h_factor=dil[0], dilation_w_factor=dil[1],
                         fused_activation_function=act)
    check_against_litert(model, [rand(rng, xs)])


@pytest.mark.parametrize("version", range(1, 9))
def test_conv2d_versions(version):
    rng = np.random.default_rng(version)
    model = conv2d_model(rng, (1, 6, 6, 3), (4, 3, 3, 3), padding="SAME", stride_h=1, stride_w=1,
                         version=version)
    check_against_litert(model, [rand(rng, (1, 6, 6, 3))])


def test_conv2d_weights_as_input():
    rng = np.random.default_rng(1)
    model = conv2d_model(rng, (2, 7, 7, 3), (5, 3, 3, 3), w_input=True, padding="SAME",
                         stride_h=2, stride_w=1)
    check_against_litert(model, [rand(rng, (2, 7, 7, 3)), rand(rng, (5, 3, 3, 3))])


def test_conv2d_1x1_direct_gemm_and_reinvoke():
    rng = np.random.default_rng(2)
    model = conv2d_model(rng, (2, 5, 6, 8), (7, 1, 1, 8), padding="VALID", stride_h=1,
                         stride_w=1, fused_activation_function="RELU")
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    for _ in range(3):   # re-invokes reuse the bound buffers
        x = rand(rng, (2, 5, 6, 8))
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
        want = run_litert(model, [x])[0]
        assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())


def test_conv2d_resize_input():
    rng = np.random.default_rng(3)
    model = conv2d_model(rng, (1, 6, 6, 3), (4, 3, 3, 3), padding="SAME", stride_h=2, stride_w=2)
    check_against_litert(model, [rand(rng, (3, 11, 9, 3))])


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D"])
def test_empty_output(op):
    # VALID with a filter larger than the input: an empty output. LiteRT's XNNPACK
    # delegate fails to prepare such a CONV_2D; its reference kernels agree with us.
    rng = np.random.default_rng(19)
    if op == "CONV_2D":
        model = conv2d_model(rng, (1, 2, 2, 3), (4, 3, 3, 3), padding="VALID", stride_h=1,
                             stride_w=1)
    else:
        model = depthwise_model(rng, (1, 2, 2, 3), (1, 3, 3, 3), padding="VALID", stride_h=1,
                                stride_w=1)
    check_against_litert(model, [rand(rng, (1, 2, 2, 3))], reference=True)


def test_conv2d_omitted_bias():
    # LiteRT requires CONV_2D's bias (conv.cc: "has_bias was not true"); edgelite
    # accepts an omitted (-1) bias and must equal LiteRT with an explicit zero bias.
    rng = np.random.default_rng(4)
    x = rand(rng, (2, 7, 7, 3))
    state = rng.bit_generator.state
    omitted = conv2d_model(rng, (2, 7, 7, 3), (4, 3, 3, 3), bias="omitted", padding="SAME",
                           stride_h=1, stride_w=1)
    rng.bit_generator.state = state
    zeros = conv2d_model(rng, (2, 7, 7, 3), (4, 3, 3, 3), bias="zeros", padding="SAME",
                         stride_h=1, stride_w=1)
    assert max_error(run_edgelite(omitted, [x])[0], run_litert(zeros, [x])[0]) <= 1e-5


@pytest.mark.parametrize("case", [
    "one_input", "rank3", "int32", "stride0", "dilation0", "bias_size",
    "bias_int32", "groups_mismatch", "filter_rank", "padding"])
def test_conv2d_invalid(case):
    rng = np.random.default_rng(5)
    b = ModelBuilder()
    xs, ws = (1, 6, 6, 4), (3, 3, 3, 4)
    xdt = np.int32 if case == "int32" else np.float32
    x = b.add_input("x", xs[1:] if case == "rank3" else xs, xdt)
    if case == "groups_mismatch":
        w = b.add_constant("w", rand(rng, (3, 3, 3, 3)))
    elif case == "filter_rank":
        w = b.add_constant("w", rand(rng, (3, 3, 12)))
    else:
        w = b.add_constant("w", rand(rng, ws))
    if case == "bias_size":
        bias = b.add_constant("b", rand(rng, (4,)))
    elif case == "bias_int32":
        bias = b.add_constant("b", np.zeros(3, np.int32))
    else:
        bias = b.add_constant("b", rand(rng, (3,)))
    ins = [x] if case == "one_input" else [x, w, bias]
    y = b.add_tensor("y", (1, 6, 6, 3), xdt)
    opts = {"padding": "SAME", "stride_h": 1, "stride_w": 1}
    if case == "stride0":
        opts["stride_w"] = 0
    if case == "dilation0":
        opts["dilation_h_factor"] = 0
    if case == "padding":
        opts["padding"] = 7
    b.add_op("CONV_2D", ins, [y], **opts)
    b.add_output(y)
    expect_op_error(b.to_bytes(), "CONV_2D")


def generic_prepare(op: str, inputs, options=None):
    """Prepare edgelite's generic (float) kernel of `op` directly, bypassing the
    registry's choice of a quantized/hybrid variant. inputs: (shape, dtype, const)."""
    registry.load_all()
    cls = registry.BUILTINS[op][0]
    specs = []
    for i, (shape, dtype, const) in enumerate(inputs):
        dt = np.dtype(dtype)
        data = np.zeros(shape, dt) if const else None
        specs.append(TensorSpec(index=i, name=f"t{i}", shape=tuple(shape), dtype=dt,
                                type=ir.tensor_type_of(dt), data=data))
    out = TensorSpec(index=len(specs), name="y", shape=(1,), dtype=specs[-1].dtype,
                     type=ir.tensor_type_of(specs[-1].dtype))
    opts = make_options(op, **(options or {}))[0]
    ctx = PrepareContext(model=None, subgraph_index=0, op_index=0, op_name=op, version=1,
                         options=opts, custom_options=None, inputs=specs, outputs=[out])
    cls().prepare(ctx)


I8, F = np.int8, np.float32
NOT_YET = [
    ("CONV_2D", [((1, 4, 4, 2), I8, 0), ((2, 1, 1, 2), I8, 1), ((2,), np.int32, 1)],
     "int8 CONV_2D is not supported yet"),
    ("CONV_2D", [((1, 4, 4, 2), F, 0), ((2, 1, 1, 2), I8, 1), ((2,), F, 1)],
     "hybrid CONV_2D .float32 input, int8 weights. is not supported yet"),
    ("CONV_2D", [((1, 4, 4, 2), np.int16, 0), ((2, 1, 1, 2), I8, 1), ((2,), np.int64, 1)],
     "int16 CONV_2D is not supported yet"),
    ("DEPTHWISE_CONV_2D", [((1, 4, 4, 2), np.uint8, 0), ((1, 3, 3, 2), np.uint8, 1)],
     "uint8 DEPTHWISE_CONV_2D is not supported yet"),
    ("DEPTHWISE_CONV_2D", [((1, 4, 4, 2), F, 0), ((1, 3, 3, 2), I8, 1)],
     "hybrid DEPTHWISE_CONV_2D"),
    ("FULLY_CONNECTED", [((2, 4), I8, 0), ((3, 4), I8, 1)], "int8 FULLY_CONNECTED is not"),
    ("FULLY_CONNECTED", [((2, 4), F, 0), ((3, 4), np.uint8, 1)], "hybrid FULLY_CONNECTED"),
    ("TRANSPOSE_CONV", [((4,), np.int32, 1), ((2, 3, 3, 2), I8, 1), ((1, 4, 4, 2), I8, 0)],
     "int8 TRANSPOSE_CONV is not supported yet"),
    ("BATCH_MATMUL", [((2, 3), I8, 0), ((3, 2), I8, 0)], "int8 BATCH_MATMUL is not"),
    ("BATCH_MATMUL", [((2, 3), F, 0), ((3, 2), I8, 1)], "hybrid BATCH_MATMUL"),
    ("CONV_3D", [((1, 2, 2, 2, 2), I8, 0), ((1, 1, 1, 2, 2), I8, 1)], "int8 CONV_3D is not"),
    ("CONV_2D", [((1, 4, 4, 2), np.float16, 0), ((2, 1, 1, 2), np.float16, 1)],
     "CONV_2D does not support type float16"),
]


@pytest.mark.parametrize("op,inputs,message", NOT_YET)
def test_generic_kernel_not_supported_yet(op, inputs, message):
    # The float kernels name the quantized/hybrid cases they leave to other variants.
    with pytest.raises(edgelite.OpError, match=rf"operator 0 \({op}\).*{message}"):
        generic_prepare(op, inputs)


# ---------------------------------------------------------------- DEPTHWISE_CONV_2D
def depthwise_model(rng, xs, ws, *, bias="const", w_input=False, **opts) -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", xs, np.float32)
    w = b.add_input("w", ws, np.float32) if w_input else b.add_constant("w", rand(rng, ws))
    ins = [x, w]
    if bias == "const":
        ins.append(b.add_constant("b", rand(rng, (ws[3],))))
    elif bias == "zeros":
        ins.append(b.add_constant("b", np.zeros(ws[3], np.float32)))
    elif bias == "omitted":
        ins.append(-1)
    y = b.add_tensor("y", (1, 1, 1, 1), np.float32)
    b.add_op("DEPTHWISE_CONV_2D", ins, [y], **opts)
    b.add_output(y)
    return b.to_bytes()


DW_CASES = [
    (xs, kernel, mult, stride, dil, pad, act)
    for xs in [(1, 5, 5, 1), (2, 7, 6, 3), (1, 1, 1, 4), (3, 9, 8, 5), (1, 12, 4, 16)]
    for kernel in [(1, 1), (3, 3), (2, 3), (5, 5)]
    for mult in [1, 2, 3]
    for stride in [(1, 1), (2, 2), (3, 1)]
    for dil in [(1, 1), (2, 2), (1, 3)]
    for pad in ["SAME", "VALID"]
    for act in ACTS
    if out_size(pad, xs[1], kernel[0], stride[0], dil[0]) > 0
    and out_size(pad, xs[2], kernel[1], stride[1], dil[1]) > 0
]


@pytest.mark.parametrize("xs,kernel,mult,stride,dil,pad,act", split(DW_CASES, 120, 1))
def test_depthwise(xs, kernel, mult, stride, dil, pad, act):
    rng = np.random.default_rng(seed_of((xs, kernel, mult, stride, dil, pad, act)))
    ws = (1, *kernel, xs[3] * mult)
    model = depthwise_model(rng, xs, ws, padding=pad, stride_h=stride[0], stride_w=stride[1],
                            dilation_h_factor=dil[0], dilation_w_factor=dil[1],
                            depth_multiplier=mult, fused_activation_function=act)
    check_against_litert(model, [rand(rng, xs)])


@pytest.mark.parametrize("version", range(1, 8))
def test_depthwise_versions(version):
    rng = np.random.default_rng(version)
    model = depthwise_model(rng, (1, 6, 6, 3), (1, 3, 3, 6), padding="SAME", stride_h=1,
                            stride_w=1, depth_multiplier=2, version=version)
    check_against_litert(model, [rand(rng, (1, 6, 6, 3))])


@pytest.mark.parametrize("w_input", [False, True])
def test_depthwise_two_inputs(w_input):
    # LiteRT 2.3.0's default kernels crash (segfault) on a DEPTHWISE_CONV_2D with
    # only two inputs (no bias); its reference kernel runs it, so compare with that.
    rng = np.random.default_rng(7)
    model = depthwise_model(rng, (2, 6, 5, 4), (1, 3, 3, 4), w_input=w_input, bias=None,
                            padding="SAME", stride_h=2, stride_w=1, depth_multiplier=1)
    inputs = [rand(rng, (2, 6, 5, 4))] + ([rand(rng, (1, 3, 3, 4))] if w_input else [])
    check_against_litert(model, inputs, reference=True)


def test_depthwise_omitted_bias():
    # LiteRT fails to prepare a -1 bias (GetInputSafe on an optional tensor);
    # edgelite treats it as no bias: compare with LiteRT given a zero bias.
    rng = np.random.default_rng(18)
    x = rand(rng, (1, 6, 5, 3))
    state = rng.bit_generator.state
    omitted = depthwise_model(rng, (1, 6, 5, 3), (1, 3, 3, 6), bias="omitted", padding="SAME",
                              stride_h=1, stride_w=1, depth_multiplier=2)
    rng.bit_generator.state = state
    zeros = depthwise_model(rng, (1, 6, 5, 3), (1, 3, 3, 6), bias="zeros", padding="SAME",
                            stride_h=1, stride_w=1, depth_multiplier=2)
    assert max_error(run_edgelite(omitted, [x])[0], run_litert(zeros, [x])[0]) <= 1e-5


def test_depthwise_option_multiplier_ignored():
    # LiteRT's float kernel derives the multiplier from the filter shape
    # (depthwise_conv.cc ComputeDepthMultiplier) and ignores the option; its
    # XNNPACK delegate instead fails to prepare such a node, so compare with
    # the reference kernels.
    rng = np.random.default_rng(8)
    model = depthwise_model(rng, (1, 5, 5, 2), (1, 3, 3, 6), padding="VALID", stride_h=1,
                            stride_w=1, depth_multiplier=1)
    check_against_litert(model, [rand(rng, (1, 5, 5, 2))], reference=True)


@pytest.mark.parametrize("case", ["rank3", "filter_dim0", "channels", "stride0", "bias_size",
                                  "three_outputs_missing"])
def test_depthwise_invalid(case):
    rng = np.random.default_rng(9)
    b = ModelBuilder()
    xs = (1, 6, 6, 4)
    x = b.add_input("x", xs[1:] if case == "rank3" else xs, np.float32)
    ws = {"filter_dim0": (2, 3, 3, 4), "channels": (1, 3, 3, 6)}.get(case, (1, 3, 3, 8))
    w = b.add_constant("w", rand(rng, ws))
    bias = b.add_constant("b", np.zeros(5 if case == "bias_size" else ws[3], np.float32))
    y = b.add_tensor("y", (1, 6, 6, 8), np.float32)
    ins = [x] if case == "three_outputs_missing" else [x, w, bias]
    b.add_op("DEPTHWISE_CONV_2D", ins, [y], padding="SAME", stride_h=1,
             stride_w=0 if case == "stride0" else 1, depth_multiplier=2)
    b.add_output(y)
    expect_op_error(b.to_bytes(), "DEPTHWISE_CONV_2D")


# ---------------------------------------------------------------- TRANSPOSE_CONV
def transpose_conv_model(rng, out_shape, ws, xs, *, bias="const", shape_input=False,
                         w_input=False, **opts) -> bytes:
    b = ModelBuilder()
    if shape_input:
        s = b.add_input("shape", (4,), np.int32)
    else:
        s = b.add_constant("shape", np.array(out_shape, np.int32))
    w = b.add_input("w", ws, np.float32) if w_input else b.add_constant("w", rand(rng, ws))
    x = b.add_input("x", xs, np.float32)
    ins = [s, w, x]
    if bias == "const":
        ins.append(b.add_constant("b", rand(rng, (ws[0],))))
    elif bias == "omitted":
        ins.append(-1)
    y = b.add_tensor("y", out_shape, np.float32)
    b.add_op("TRANSPOSE_CONV", ins, [y], **opts)
    b.add_output(y)
    return b.to_bytes()


def transpose_input_size(pad, out, k, s):
    return out_size(pad, out, k, s)


TCONV_CASES = [
    (n, out_hw, kernel, stride, pad, act, bias, (ic, oc))
    for n in [1, 2]
    for out_hw in [(1, 1), (6, 6), (7, 5), (12, 9)]
    for kernel in [(1, 1), (3, 3), (2, 4), (5, 3)]
    for stride in [(1, 1), (2, 2), (3, 2)]
    for pad in ["SAME", "VALID"]
    for act in ACTS
    for bias in ["const", "none"]
    for ic, oc in [(3, 2), (1, 4)]
    if transpose_input_size(pad, out_hw[0], kernel[0], stride[0]) > 0
    and transpose_input_size(pad, out_hw[1], kernel[1], stride[1]) > 0
]


@pytest.mark.parametrize("n,out_hw,kernel,stride,pad,act,bias,chans", split(TCONV_CASES, 100, 2))
def test_transpose_conv(n, out_hw, kernel, stride, pad, act, bias, chans):
    rng = np.random.default_rng(seed_of((n, out_hw, kernel, stride, pad, act, bias, chans)))
    ic, oc = chans
    ih = transpose_input_size(pad, out_hw[0], kernel[0], stride[0])
    iw = transpose_input_size(pad, out_hw[1], kernel[1], stride[1])
    xs = (n, ih, iw, ic)
    model = transpose_conv_model(rng, (n, *out_hw, oc), (oc, *kernel, ic), xs, bias=bias,
                                 padding=pad, stride_h=stride[0], stride_w=stride[1],
                                 fused_activation_function=act)
    check_against_litert(model, [rand(rng, xs)])


@pytest.mark.parametrize("version", range(1, 6))
def test_transpose_conv_versions(version):
    rng = np.random.default_rng(version)
    model = transpose_conv_model(rng, (1, 8, 8, 2), (2, 3, 3, 3), (1, 4, 4, 3), padding="SAME",
                                 stride_h=2, stride_w=2, version=version)
    check_against_litert(model, [rand(rng, (1, 4, 4, 3))])


def test_transpose_conv_dynamic_shape_and_weights():
    rng = np.random.default_rng(10)
    model = transpose_conv_model(rng, (2, 9, 7, 3), (3, 3, 3, 2), (2, 5, 4, 2), shape_input=True,
                                 w_input=True, padding="SAME", stride_h=2, stride_w=2,
                                 fused_activation_function="RELU")
    check_against_litert(model, [np.array([2, 9, 7, 3], np.int32), rand(rng, (3, 3, 3, 2)),
                                 rand(rng, (2, 5, 4, 2))])
    # a different (still consistent) output shape at the next invoke
    check_against_litert(model, [np.array([2, 10, 8, 3], np.int32), rand(rng, (3, 3, 3, 2)),
                                 rand(rng, (2, 5, 4, 2))])


def test_transpose_conv_bias_omitted():
    rng = np.random.default_rng(11)
    model = transpose_conv_model(rng, (1, 7, 7, 2), (2, 3, 3, 3), (1, 4, 4, 3), bias="omitted",
                                 padding="SAME", stride_h=2, stride_w=2)
    check_against_litert(model, [rand(rng, (1, 4, 4, 3))])


@pytest.mark.parametrize("case", ["inconsistent_shape", "batch", "channels", "shape_dtype",
                                  "stride0", "two_inputs"])
def test_transpose_conv_invalid(case):
    rng = np.random.default_rng(12)
    b = ModelBuilder()
    out = {"inconsistent_shape": (1, 20, 8, 2), "batch": (2, 8, 8, 2)}.get(case, (1, 8, 8, 2))
    s = b.add_constant("shape", np.array(out, np.int64 if case == "shape_dtype" else np.int32))
    ws = (2, 3, 3, 5) if case == "channels" else (2, 3, 3, 3)
    w = b.add_constant("w", rand(rng, ws))
    x = b.add_input("x", (1, 4, 4, 3), np.float32)
    y = b.add_tensor("y", out, np.float32)
    ins = [s, w] if case == "two_inputs" else [s, w, x]
    b.add_op("TRANSPOSE_CONV", ins, [y], padding="SAME", stride_h=2,
             stride_w=0 if case == "stride0" else 2)
    b.add_output(y)
    expect_op_error(b.to_bytes(), "TRANSPOSE_CONV")


def test_transpose_conv_invalid_runtime_shape():
    rng = np.random.default_rng(13)
    model = transpose_conv_model(rng, (1, 8, 8, 2), (2, 3, 3, 3), (1, 4, 4, 3), shape_input=True,
                                 padding="SAME", stride_h=2, stride_w=2)
    expect_op_error(model, "TRANSPOSE_CONV", invoke=True,
                    inputs=[np.array([1, 30, 8, 2], np.int32), rand(rng, (1, 4, 4, 3))])


# ---------------------------------------------------------------- FULLY_CONNECTED
def fc_model(rng, xs, ws, *, bias="const", w_input=False, **opts) -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", xs, np.float32)
    w = b.add_input("w", ws, np.float32) if w_input else b.add_constant("w", rand(rng, ws))
    ins = [x, w]
    if bias == "const":
        ins.append(b.add_constant("b", rand(rng, (ws[0],))))
    elif bias == "omitted":
        ins.append(-1)
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op("FULLY_CONNECTED", ins, [y], **opts)
    b.add_output(y)
    return b.to_bytes()


FC_CASES = [
    (xs, units, keep, bias, act, w_input)
    for xs in [(1, 8), (3, 8), (2, 3, 8), (2, 2, 2, 8), (4, 2, 1, 2, 8), (8,), (1, 1)]
    for units in [1, 5, 16]
    for keep in [False, True]
    for bias in ["const", "none", "omitted"]
    for act in ["NONE", "RELU", "RELU_N1_TO_1", "RELU6"]
    for w_input in [False, True]
]


@pytest.mark.parametrize("xs,units,keep,bias,act,w_input", split(FC_CASES, 100, 3))
def test_fully_connected(xs, units, keep, bias, act, w_input):
    rng = np.random.default_rng(seed_of((xs, units, keep, bias, act, w_input)))
    k = xs[-1]
    model = fc_model(rng, xs, (units, k), bias=bias, w_input=w_input, keep_num_dims=keep,
                     fused_activation_function=act)
    inputs = [rand(rng, xs)] + ([rand(rng, (units, k))] if w_input else [])
    check_against_litert(model, inputs)


@pytest.mark.parametrize("xs,k", [((2, 3, 4), 6), ((2, 12), 4), ((6, 2), 3), ((1, 2, 3, 4), 12),
                                  ((2, 5), 3), ((7,), 2)])
def test_fully_connected_flattens(xs, k):
    # Without keep_num_dims, any input is flattened to [size / K, K]; when K does
    # not divide the size, LiteRT's built-in kernels silently use the first
    # (size // K) * K values (its XNNPACK delegate refuses such a node, so those
    # cases compare with the reference kernels).
    rng = np.random.default_rng(14)
    divisible = int(np.prod(xs)) % k == 0
    check_against_litert(fc_model(rng, xs, (5, k)), [rand(rng, xs)], reference=not divisible)


@pytest.mark.parametrize("version", range(1, 15))
def test_fully_connected_versions(version):
    rng = np.random.default_rng(version)
    model = fc_model(rng, (2, 6), (3, 6), version=version)
    check_against_litert(model, [rand(rng, (2, 6))])


@pytest.mark.parametrize("case", ["rank3_weights", "keep_mismatch", "bias_size", "tanh",
                                  "one_input", "shuffled"])
def test_fully_connected_invalid(case):
    rng = np.random.default_rng(15)
    b = ModelBuilder()
    x = b.add_input("x", (2, 3, 4), np.float32)
    if case == "rank3_weights":
        w = b.add_constant("w", rand(rng, (5, 2, 2)))
    elif case == "keep_mismatch":
        w = b.add_constant("w", rand(rng, (5, 6)))
    else:
        w = b.add_constant("w", rand(rng, (5, 4)))
    bias = b.add_constant("b", np.zeros(3 if case == "bias_size" else 5, np.float32))
    y = b.add_tensor("y", (6, 5), np.float32)
    opts = {}
    if case == "keep_mismatch":
        opts["keep_num_dims"] = True
    if case == "tanh":
        opts["fused_activation_function"] = "TANH"
    if case == "shuffled":
        opts["weights_format"] = 1   # SHUFFLED4x16INT8
    b.add_op("FULLY_CONNECTED", [x] if case == "one_input" else [x, w, bias], [y], **opts)
    b.add_output(y)
    expect_op_error(b.to_bytes(), "FULLY_CONNECTED")


# ---------------------------------------------------------------- BATCH_MATMUL
def bmm_model(a_shape, b_shape, **opts) -> bytes:
    b = ModelBuilder()
    a = b.add_input("a", a_shape, np.float32)
    c = b.add_input("b", b_shape, np.float32)
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op("BATCH_MATMUL", [a, c], [y], **opts)
    b.add_output(y)
    return b.to_bytes()


def _bmm_shapes():
    out = []
    batches = [((), ()), ((3,), ()), ((), (2,)), ((2,), (2,)), ((1,), (4,)), ((4,), (1,)),
               ((2, 3), (3,)), ((2, 1), (1, 3)), ((1, 2, 1), (3, 1, 2)), ((2, 2, 3), (2, 2, 3)),
               ((1,), (1,)), ((1, 1, 1), ())]
    for ba, bb in batches:
        for m, k, n in [(1, 1, 1), (3, 4, 5), (1, 7, 2), (6, 1, 3)]:
            for adj_x in (False, True):
                for adj_y in (False, True):
                    a = (*ba, k, m) if adj_x else (*ba, m, k)
                    b = (*bb, n, k) if adj_y else (*bb, k, n)
                    out.append((a, b, adj_x, adj_y))
    return out


BMM_CASES = _bmm_shapes()


@pytest.mark.parametrize("a_shape,b_shape,adj_x,adj_y", split(BMM_CASES, 80, 4))
def test_batch_matmul(a_shape, b_shape, adj_x, adj_y):
    rng = np.random.default_rng(seed_of((a_shape, b_shape, adj_x, adj_y)))
    model = bmm_model(a_shape, b_shape, adj_x=adj_x, adj_y=adj_y)
    check_against_litert(model, [rand(rng, a_shape), rand(rng, b_shape)])


@pytest.mark.parametrize("version", range(1, 5))
def test_batch_matmul_versions(version):
    rng = np.random.default_rng(version)
    model = bmm_model((2, 3, 4), (4, 5), version=version)
    check_against_litert(model, [rand(rng, (2, 3, 4)), rand(rng, (4, 5))])


def test_batch_matmul_constant_rhs():
    rng = np.random.default_rng(16)
    b = ModelBuilder()
    a = b.add_input("a", (2, 3, 4), np.float32)
    c = b.add_constant("b", rand(rng, (5, 4)))
    y = b.add_tensor("y", (2, 3, 5), np.float32)
    b.add_op("BATCH_MATMUL", [a, c], [y], adj_y=True)
    b.add_output(y)
    check_against_litert(b.to_bytes(), [rand(rng, (2, 3, 4))])


@pytest.mark.parametrize("a_shape,b_shape,dt", [
    ((3,), (3, 2), np.float32), ((2, 3), (4, 2), np.float32), ((2, 2, 3), (3, 3, 2), np.float32),
    ((1, 1, 1, 1, 1, 2, 3), (3, 2), np.float32), ((2, 3), (3, 2), np.int32)])
def test_batch_matmul_invalid(a_shape, b_shape, dt):
    b = ModelBuilder()
    a = b.add_input("a", a_shape, dt)
    c = b.add_input("b", b_shape, dt)
    y = b.add_tensor("y", (1,), dt)
    b.add_op("BATCH_MATMUL", [a, c], [y])
    b.add_output(y)
    expect_op_error(b.to_bytes(), "BATCH_MATMUL")


# ---------------------------------------------------------------- CONV_3D
def conv3d_model(rng, xs, ws, *, bias=True, **opts) -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", xs, np.float32)
    w = b.add_constant("w", rand(rng, ws))
    ins = [x, w] + ([b.add_constant("b", rand(rng, (ws[4],)))] if bias else [])
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op("CONV_3D", ins, [y], **opts)
    b.add_output(y)
    return b.to_bytes()


CONV3D_CASES = [
    (xs, kernel, stride, dil, pad, act, bias)
    for xs in [(1, 4, 5, 5, 2), (2, 3, 6, 4, 3), (1, 1, 1, 1, 2)]
    for kernel in [(1, 1, 1), (2, 3, 3), (3, 1, 2)]
    for stride in [(1, 1, 1), (2, 2, 1), (1, 2, 3)]
    for dil in [(1, 1, 1), (2, 1, 2)]
    for pad in ["SAME", "VALID"]
    for act in ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
    for bias in [True, False]
    if all(out_size(pad, n, k, s, d) > 0 for n, k, s, d in zip(xs[1:4], kernel, stride, dil))
]


@pytest.mark.parametrize("xs,kernel,stride,dil,pad,act,bias", split(CONV3D_CASES, 50, 5))
def test_conv3d(xs, kernel, stride, dil, pad, act, bias):
    rng = np.random.default_rng(seed_of((xs, kernel, stride, dil, pad, act, bias)))
    ws = (*kernel, xs[4], 3)
    model = conv3d_model(rng, xs, ws, bias=bias, padding=pad, stride_d=stride[0],
                         stride_h=stride[1], stride_w=stride[2], dilation_d_factor=dil[0],
                         dilation_h_factor=dil[1], dilation_w_factor=dil[2],
                         fused_activation_function=act)
    check_against_litert(model, [rand(rng, xs)])


@pytest.mark.parametrize("case", ["rank4", "channels", "stride0", "bias_size"])
def test_conv3d_invalid(case):
    rng = np.random.default_rng(17)
    b = ModelBuilder()
    xs = (1, 4, 4, 4) if case == "rank4" else (1, 4, 4, 4, 2)
    x = b.add_input("x", xs, np.float32)
    ws = (2, 2, 2, 3 if case == "channels" else 2, 3)
    w = b.add_constant("w", rand(rng, ws))
    bias = b.add_constant("b", rand(rng, (2 if case == "bias_size" else 3,)))
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op("CONV_3D", [x, w, bias], [y], padding="SAME", stride_d=1, stride_h=1,
             stride_w=0 if case == "stride0" else 1)
    b.add_output(y)
    expect_op_error(b.to_bytes(), "CONV_3D")


def test_case_counts_are_large():
    # The grids above are not accidentally empty after filtering.
    assert len(CONV_CASES) > 1000 and len(DW_CASES) > 1000 and len(TCONV_CASES) > 300
    assert len(FC_CASES) > 500 and len(BMM_CASES) > 150 and len(CONV3D_CASES) > 300


def test_epilogue_helpers_match_their_plain_forms():
    """largest_divisor and tiled (the Epilogue's bias tiling at prepare) give what the
    plain search and np.tile give."""
    from edgelite.kernels.common import largest_divisor, tiled
    for n in [0, 1, 2, 7, 12, 49, 97 * 89, 3136, 12544, 65536]:
        for limit in [1, 2, 5, 8, 64, 512, 8192, 100000]:
            want = next(k for k in range(limit, 0, -1) if n % k == 0)
            assert largest_divisor(n, limit) == want, (n, limit)
    v = np.arange(6, dtype=np.float64).reshape(2, 3)
    for reps in [1, 4]:
        got = tiled(v, reps, np.float32)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, np.tile(v.reshape(-1), reps).astype(np.float32))
    np.testing.assert_array_equal(tiled(np.int8([1, -2]), 3), np.tile(np.int8([1, -2]), 3))


def test_as_strided_is_numpys():
    """kernels.common.as_strided (the ndarray constructor over a C-contiguous array's own
    bytes) makes the same views as numpy's as_strided: same values, shape, strides, memory
    and writeability; what it does not take (a strided or read-only source, a view past
    the source's end) goes to numpy's."""
    from numpy.lib.stride_tricks import as_strided as np_as_strided

    from edgelite.kernels.common import as_strided
    x = np.arange(2 * 7 * 5 * 3, dtype=np.float32).reshape(2, 7, 5, 3)
    frozen = x.copy()
    frozen.flags.writeable = False
    s = x.strides
    cases = [
        (x, (2, 5, 3, 3, 15), (s[0], s[1], s[1], s[2], s[3]), True),
        (x, (2, 5, 3, 3, 15), (s[0], s[1], s[1], s[2], s[3]), False),
        (x[:, 1:], (2, 3, 3, 9), (s[0], s[1], s[1], s[3]), True),
        (x[:, :, ::2], (2, 7, 3), (s[0], s[1], s[2] * 2), True),       # (strided source)
        (frozen, (4, 3), (12, 4), True),
        (x, (3, 5), (0, 4), True),                                      # (a zero stride)
        (x.reshape(-1)[:10], (6,), (8,), True),                         # (past the end)
    ]
    for src, shape, strides, writeable in cases:
        got = as_strided(src, shape=shape, strides=strides, writeable=writeable)
        want = np_as_strided(src, shape=shape, strides=strides, writeable=writeable)
        assert got.shape == want.shape and got.strides == want.strides
        assert got.ctypes.data == want.ctypes.data
        assert got.flags.writeable == want.flags.writeable
        np.testing.assert_array_equal(got, want)
    v = as_strided(x, shape=(7, 5), strides=(s[1], s[2]))
    v[2, 3] = -1.0
    assert x[0, 2, 3, 0] == -1.0
