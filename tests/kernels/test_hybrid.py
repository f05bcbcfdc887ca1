"""Hybrid (dynamic-range) FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D and
BATCH_MATMUL: float32 activations, int8 weights (per-tensor or per-channel),
against LiteRT's reference kernels (BUILTIN_REF).

The integer part is exact and the float epilogue follows LiteRT's order of
float32 operations, so outputs are normally bit-identical; the tolerance is the
project's float bar (1e-5 relative to max(1, |ref|)) because fused TANH goes
through a different tanh implementation.

LiteRT behaviour matched here:
- CONV_2D quantizes its input symmetrically when the weight scales are one
  (or all equal) and asymmetrically when they differ per channel, whatever the
  options say; DEPTHWISE_CONV_2D always asymmetrically; FULLY_CONNECTED and
  BATCH_MATMUL follow asymmetric_quantize_inputs.
- Asymmetric input quantization in LiteRT's shipped x86 build differs from its
  source (double scale, round(offset + x/scale)): the scale and zero point are
  float32 and the offset is added after rounding. The source's formulas miss
  ~2/3 of random rows by an ulp and rounding ties ("ties" inputs) by a step.
- BATCH_MATMUL's reference indexes per-row scaling factors at (b0+b1+b2)*rows
  (see edgelite/kernels/quant/hybrid.py), wrong for batches with more than one
  non-1 dimension; LiteRT's default kernels differ from BUILTIN_REF there by
  whole units, and we match BUILTIN_REF (test_batch_matmul_multi_batch_quirk).
"""
from __future__ import annotations

import json
import pathlib
import random

import numpy as np
import pytest
from oracle import check_against_litert, run_edgelite, run_litert

import edgelite
from edgelite.format.builder import ModelBuilder
from edgelite.kernels import compiled
from edgelite.kernels.quant.dynamic import OneRow

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


def _weights(rng, shape, axis, per_channel, equal=False):
    n = shape[axis] if per_channel else 1
    scales = list(10.0 ** rng.uniform(-3, -1, n))
    if equal:
        scales = [scales[0]] * n
    q = {"scale": scales, "zero_point": [0] * n, "quantized_dimension": axis if per_channel else 0}
    return rng.integers(-127, 128, shape).astype(np.int8), q


def _input(rng, shape, kind):
    x = rng.normal(size=shape).astype(np.float32) * 3
    if kind == "positive":
        x = np.abs(x)
    elif kind == "zero_rows":
        x = x.reshape(shape[0], -1)
        x[0] = 0
        x = x.reshape(shape)
    elif kind == "zeros":
        x[:] = 0
    elif kind == "ties":            # values on a coarse grid: rounding ties
        x = (np.round(x * 4) / 4).astype(np.float32)
    return x


def check(model, inputs):
    return check_against_litert(model, inputs, reference=True)


# ---------------------------------------------------------------- FULLY_CONNECTED
FC_GRID = [
    {"shape": sh, "units": u, "pc": pc, "asym": asym, "act": a, "bias": bias, "keep": keep,
     "x": xk}
    for sh in ((1, 16), (3, 20), (2, 3, 8), (1, 1), (4, 1100))
    for u in (1, 7)
    for pc in (False, True)
    for asym in (False, True)
    for a in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1", "TANH")
    for bias in (True, False)
    for keep in (False, True)
    for xk in ("normal", "positive", "zero_rows", "zeros", "ties")
]


def fc_model(case, seed):
    rng = np.random.default_rng(seed)
    k = case["shape"][-1]
    w, q = _weights(rng, (case["units"], k), 0, case["pc"])
    b = ModelBuilder()
    ins = [b.add_input("x", case["shape"], np.float32), b.add_constant("w", w, quant=q)]
    if case["bias"]:
        ins.append(b.add_constant("b", rng.normal(size=case["units"]).astype(np.float32)))
    y = b.add_tensor("y", (1,), np.float32)
    version = 12 if case["pc"] else (9 if case["asym"] else 3)
    b.add_op("FULLY_CONNECTED", ins, [y], version=version, keep_num_dims=case["keep"],
             asymmetric_quantize_inputs=case["asym"], fused_activation_function=case["act"])
    b.add_output(y)
    return b.to_bytes(), [_input(rng, case["shape"], case["x"])]


FC_DEFAULT = random.Random(1).sample(FC_GRID, 70)


@pytest.mark.parametrize("case", FC_DEFAULT, ids=repr)
def test_fully_connected(case):
    check(*fc_model(case, 11))


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in FC_GRID if c not in FC_DEFAULT], ids=repr)
def test_fully_connected_all(case):
    check(*fc_model(case, 12))


# ---------------------------------------------------------------- CONV_2D
CONV_GRID = [
    {"n": n, "hw": hw, "c": c, "oc": oc, "k": k, "stride": s, "dil": d, "pad": p, "act": a,
     "scales": sc, "groups": g, "x": xk}
    for n, hw, c, oc in ((1, (7, 6), 3, 4), (2, (5, 5), 4, 6), (1, (1, 1), 8, 2),
                         (2, (6, 6), 40, 3))
    for k in ((1, 1), (3, 3), (2, 3))
    for s in (1, 2)
    for d in (1, 2)
    for p in ("SAME", "VALID")
    for a in ("NONE", "RELU6", "RELU_N1_TO_1")
    for sc in ("tensor", "channel", "channel_equal")
    for g in (1, 2)
    for xk in ("normal", "ties")
    if not (g == 2 and (c % 2 or oc % 2 or sc == "tensor"))
    if p == "SAME" or ((k[0] - 1) * d < hw[0] and (k[1] - 1) * d < hw[1])
]


def conv_model(case, seed):
    rng = np.random.default_rng(seed)
    n, (h, w), c, oc, (kh, kw), g = (case["n"], case["hw"], case["c"], case["oc"], case["k"],
                                     case["groups"])
    wv, q = _weights(rng, (oc, kh, kw, c // g), 0, case["scales"] != "tensor",
                     equal=case["scales"] == "channel_equal")
    b = ModelBuilder()
    x = b.add_input("x", (n, h, w, c), np.float32)
    bias = b.add_constant("b", rng.normal(size=oc).astype(np.float32))
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op("CONV_2D", [x, b.add_constant("w", wv, quant=q), bias], [y],
             version=5 if case["scales"] != "tensor" else 2, padding=case["pad"],
             stride_w=case["stride"], stride_h=case["stride"], dilation_w_factor=case["dil"],
             dilation_h_factor=case["dil"], fused_activation_function=case["act"])
    b.add_output(y)
    return b.to_bytes(), [_input(rng, (n, h, w, c), case["x"])]


CONV_DEFAULT = random.Random(2).sample(CONV_GRID, 60)


@pytest.mark.parametrize("case", CONV_DEFAULT, ids=repr)
def test_conv2d(case):
    check(*conv_model(case, 21))


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CONV_GRID if c not in CONV_DEFAULT], ids=repr)
def test_conv2d_all(case):
    check(*conv_model(case, 22))


# ---------------------------------------------------------------- DEPTHWISE_CONV_2D
DW_GRID = [
    {"n": n, "hw": hw, "c": c, "mult": m, "k": k, "stride": s, "dil": d, "pad": p, "act": a,
     "x": xk}
    for n, hw, c in ((1, (7, 6), 3), (2, (5, 5), 4), (1, (1, 1), 8))
    for m in (1, 2)
    for k in ((1, 1), (3, 3), (2, 3))
    for s in (1, 2)
    for d in (1, 2)
    for p in ("SAME", "VALID")
    for a in ("NONE", "RELU", "RELU6")
    for xk in ("normal", "positive", "ties")
    if p == "SAME" or ((k[0] - 1) * d < hw[0] and (k[1] - 1) * d < hw[1])
]


def dw_model(case, seed):
    rng = np.random.default_rng(seed)
    n, (h, w), c, m, (kh, kw) = case["n"], case["hw"], case["c"], case["mult"], case["k"]
    # LiteRT reads one weight scale per output channel: per-channel weights only.
    wv, q = _weights(rng, (1, kh, kw, c * m), 3, True)
    b = ModelBuilder()
    x = b.add_input("x", (n, h, w, c), np.float32)
    bias = b.add_constant("b", rng.normal(size=c * m).astype(np.float32))
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op("DEPTHWISE_CONV_2D", [x, b.add_constant("w", wv, quant=q), bias], [y], version=6,
             padding=case["pad"], stride_w=case["stride"], stride_h=case["stride"],
             dilation_w_factor=case["dil"], dilation_h_factor=case["dil"], depth_multiplier=m,
             fused_activation_function=case["act"])
    b.add_output(y)
    return b.to_bytes(), [_input(rng, (n, h, w, c), case["x"])]


DW_DEFAULT = random.Random(3).sample(DW_GRID, 50)


@pytest.mark.parametrize("case", DW_DEFAULT, ids=repr)
def test_depthwise(case):
    check(*dw_model(case, 31))


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in DW_GRID if c not in DW_DEFAULT], ids=repr)
def test_depthwise_all(case):
    check(*dw_model(case, 32))


# ---------------------------------------------------------------- BATCH_MATMUL
BMM_GRID = [
    {"sa": sa, "sb": sb, "adj_x": ax, "adj_y": ay, "pc": pc, "asym": asym, "x": xk}
    for sa, sb in (((3, 5), (5, 4)), ((2, 3, 5), (5, 4)), ((2, 3, 5), (2, 5, 4)),
                   ((1, 3, 5), (2, 5, 4)), ((3, 5), (2, 5, 4)), ((1, 1), (1, 1)),
                   ((2, 3, 3, 5), (5, 4)), ((2, 3, 3, 5), (3, 5, 4)), ((4, 1200), (1200, 3)))
    for ax in (False, True)
    for ay in (False, True)
    for pc in (False, True)
    for asym in (False, True)
    for xk in ("normal", "zero_rows", "ties")
]


def bmm_model(case, seed):
    rng = np.random.default_rng(seed)
    sa, sb = list(case["sa"]), list(case["sb"])
    if case["adj_x"]:
        sa[-1], sa[-2] = sa[-2], sa[-1]
    if case["adj_y"]:
        sb[-1], sb[-2] = sb[-2], sb[-1]
    col_axis = len(sb) - (2 if case["adj_y"] else 1)
    wv, q = _weights(rng, tuple(sb), col_axis, case["pc"])
    b = ModelBuilder()
    x = b.add_input("x", tuple(sa), np.float32)
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op("BATCH_MATMUL", [x, b.add_constant("w", wv, quant=q)], [y],
             version=4 if case["asym"] else 1, adj_x=case["adj_x"], adj_y=case["adj_y"],
             asymmetric_quantize_inputs=case["asym"])
    b.add_output(y)
    xv = _input(rng, tuple(sa), "ties" if case["x"] == "ties" else "normal")
    if case["x"] == "zero_rows":
        xv.reshape(-1, xv.shape[-1])[0] = 0
    return b.to_bytes(), [xv]


BMM_DEFAULT = random.Random(4).sample(BMM_GRID, 50)


@pytest.mark.parametrize("case", BMM_DEFAULT, ids=repr)
def test_batch_matmul(case):
    check(*bmm_model(case, 41))


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in BMM_GRID if c not in BMM_DEFAULT], ids=repr)
def test_batch_matmul_all(case):
    check(*bmm_model(case, 42))


def test_batch_matmul_multi_batch_quirk():
    # Two non-1 batch dimensions: BUILTIN_REF's scale indexing differs from the
    # default kernels by far more than rounding; we follow BUILTIN_REF.
    case = {"sa": (2, 3, 3, 5), "sb": (5, 4), "adj_x": False, "adj_y": False, "pc": False,
            "asym": True, "x": "normal"}
    model, xs = bmm_model(case, 43)
    check(model, xs)
    ref = run_litert(model, xs, reference=True)[0]
    default = run_litert(model, xs)[0]
    assert np.abs(ref - default).max() > 1e-3


# ---------------------------------------------------------------- numpy tier, one row
ONE_ROW_CASES = (
    [("fc", c) for c in random.Random(5).sample(
        [c for c in FC_GRID if c["shape"] in ((1, 16), (1, 1))], 30)]
    + [("conv", c) for c in random.Random(6).sample([c for c in CONV_GRID if c["n"] == 1], 30)])


@pytest.mark.parametrize("op,case", ONE_ROW_CASES, ids=repr)
def test_numpy_tier_one_row_quantizer(op, case, monkeypatch):
    """The numpy tier's batch-1 path (dynamic.OneRow: the quantized row written straight
    into the GEMM's input or the padded image, 0-d scale operands, the bias added as the
    sum's first operand), in its bound-closure form (fast_run, OneRow.runner) and called
    step by step, gives the general path's bits and agrees with LiteRT's reference
    kernels."""
    monkeypatch.setattr(compiled, "ENABLED", False)
    model, xs = (fc_model if op == "fc" else conv_model)(case, 31)
    outs = []
    for mode in ("closure", "call", "general"):
        with monkeypatch.context() as mp:
            if mode == "call":          # OneRow called step by step: no bound closures
                mp.setattr(OneRow, "runner", lambda self, *args: None)
            it = edgelite.Interpreter(model_content=model)
            it.allocate_tensors()
        kernels = [k for k in it._main.kernels if hasattr(k, "one")]
        assert kernels and all(k.one is not None for k in kernels)
        if mode == "closure":
            # the FC's closure always; the conv's with its own padded buffer and a
            # float32 GEMM straight into the output (one group)
            assert all(k.fast_run is not None for k in kernels
                       if not hasattr(k, "own_pad")
                       or (k.own_pad is not None and k.direct is not None))
        elif mode == "call":
            assert all(k.fast_run is None for k in kernels)
        if mode == "general":
            for k in kernels:
                k.one = None
            it._main._bind()            # (the steps bind the kernels again, without OneRow)
        it.set_tensor(it.get_input_details()[0]["index"], xs[0])
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    for got in outs[1:]:
        assert np.array_equal(outs[0].view(np.int32), got.view(np.int32))
    check(model, xs)


# ---------------------------------------------------------------- dynamic-range fixture
def test_cnn_dynamic_range_fixture():
    name = "cnn_dynamic_range"
    model = (FIXTURES / "models" / f"{name}.tflite").read_bytes()
    ref = np.load(FIXTURES / "reference" / f"{name}.npz")
    inputs = [ref[k] for k in sorted(f for f in ref.files if f.startswith("input_"))]
    got = run_edgelite(model, inputs)
    manifest = {m["name"]: m for m in json.loads((FIXTURES / "manifest.json").read_text())}
    assert "CONV_2D" in manifest[name]["ops"]
    for i, g in enumerate(got):
        want = ref[f"ref_output_{i}"]
        assert g.shape == want.shape
        err = np.abs(g - want) / np.maximum(1.0, np.abs(want))
        assert err.max() <= 1e-6, err.max()


# ---------------------------------------------------------------- invalid use
def _bad_fc(w_dtype=np.int8, scales=(0.1,), qdim=0, bias_dtype=np.float32, out=np.float32):
    b = ModelBuilder()
    x = b.add_input("x", (2, 4), np.float32)
    w = b.add_constant("w", np.ones((3, 4), w_dtype),
                       quant={"scale": list(scales), "zero_point": [0] * len(scales),
                              "quantized_dimension": qdim})
    bias = b.add_constant("b", np.zeros(3, bias_dtype))
    y = b.add_tensor("y", (1,), out)
    b.add_op("FULLY_CONNECTED", [x, w, bias], [y], version=3)
    b.add_output(y)
    return b.to_bytes()


@pytest.mark.parametrize("kw,msg", [
    ({"w_dtype": np.uint8}, "int8 weights"),
    ({"scales": (0.1, 0.2, 0.3, 0.4), "qdim": 1}, "units"),
    ({"bias_dtype": np.int32}, "bias"),
])
def test_invalid_fc(kw, msg):
    with pytest.raises(edgelite.OpError, match=rf"operator 0 \(FULLY_CONNECTED\).*{msg}"):
        edgelite.Interpreter(model_content=_bad_fc(**kw)).allocate_tensors()


def test_invalid_depthwise_multiplier_option():
    b = ModelBuilder()
    x = b.add_input("x", (1, 4, 4, 2), np.float32)
    w = b.add_constant("w", np.ones((1, 3, 3, 4), np.int8),
                       quant={"scale": [0.1] * 4, "zero_point": [0] * 4,
                              "quantized_dimension": 3})
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op("DEPTHWISE_CONV_2D", [x, w], [y], version=6, padding="SAME", stride_w=1,
             stride_h=1, depth_multiplier=1)
    b.add_output(y)
    with pytest.raises(edgelite.OpError,
                       match=r"operator 0 \(DEPTHWISE_CONV_2D\).*depth_multiplier"):
        edgelite.Interpreter(model_content=b.to_bytes()).allocate_tensors()


def test_invalid_batch_matmul_per_channel_axis():
    b = ModelBuilder()
    x = b.add_input("x", (2, 5), np.float32)
    w = b.add_constant("w", np.ones((5, 4), np.int8),
                       quant={"scale": [0.1] * 5, "zero_point": [0] * 5,
                              "quantized_dimension": 0})
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op("BATCH_MATMUL", [x, w], [y], version=1)
    b.add_output(y)
    with pytest.raises(edgelite.OpError, match=r"operator 0 \(BATCH_MATMUL\).*per-channel"):
        edgelite.Interpreter(model_content=b.to_bytes()).allocate_tensors()


def test_float32_gemm_when_the_weights_keep_it_exact():
    """The hybrid GEMM runs in float32 when max|q| * sum|w| over every unit is below 2^24
    (exact in any order), else in float64; both against the reference kernels, at
    K = 1100 with random weights (float32) and with all weights at +-127 (float64)."""
    from edgelite.kernels.quant.qutil import F32, F64, gemm_float_dtype_for
    assert gemm_float_dtype_for(127, np.full((3, 1040), 127), 1) == F32    # 16,774,160
    assert gemm_float_dtype_for(127, np.full((3, 1041), 127), 1) == F64    # 16,790,289
    assert gemm_float_dtype_for(128, np.full((1041, 2), -1), 0) == F32
    for extreme in (False, True):
        rng = np.random.default_rng(5)
        w, q = _weights(rng, (9, 1100), 0, False)
        if extreme:
            w = np.where(rng.random(w.shape) < 0.5, -127, 127).astype(np.int8)
        for asym in (False, True):
            b = ModelBuilder()
            ins = [b.add_input("x", (3, 1100), np.float32), b.add_constant("w", w, quant=q)]
            y = b.add_tensor("y", (1,), np.float32)
            b.add_op("FULLY_CONNECTED", ins, [y], version=9 if asym else 3,
                     asymmetric_quantize_inputs=asym)
            b.add_output(y)
            model = b.to_bytes()
            it = edgelite.Interpreter(model_content=model)
            it.allocate_tensors()
            kernel = it._main.kernels[0]
            assert kernel.ft == (F64 if extreme else F32)
            for kind in ("normal", "ties"):
                check(model, [_input(rng, (3, 1100), kind)])


@pytest.mark.skipif(not compiled.ENABLED, reason="needs the compiled tier (numba)")
@pytest.mark.parametrize("act", ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])
@pytest.mark.parametrize("pc", [False, True])
@pytest.mark.parametrize("asym", [False, True])
def test_fused_compiled_fully_connected(act, pc, asym):
    """The compiled tier's one-call hybrid FULLY_CONNECTED (compiled_qops.hybrid_fc)
    against the reference kernels: symmetric / asymmetric inputs, per-tensor /
    per-channel weights, every clamping activation, with and without bias, on normal,
    positive, tied, partly and wholly zero inputs."""
    for bias in (True, False):
        for kind in ("normal", "positive", "ties", "zero_rows", "zeros"):
            case = {"shape": (4, 1100), "units": 7, "pc": pc, "asym": asym, "act": act,
                    "bias": bias, "keep": False, "x": kind}
            model, inputs = fc_model(case, 21)
            it = edgelite.Interpreter(model_content=model)
            it.allocate_tensors()
            it.set_tensor(it.get_input_details()[0]["index"], inputs[0])
            it.invoke()
            assert it._main.kernels[0].fused_call is not None
            check(model, inputs)


@pytest.mark.skipif(not compiled.ENABLED, reason="needs the compiled tier (numba)")
@pytest.mark.parametrize("act", ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])
@pytest.mark.parametrize("scales", ["tensor", "channel"])
def test_compiled_conv2d_epilogue(act, scales, monkeypatch):
    """The compiled tier's hybrid CONV_2D: the bound quantizer call and the one-pass
    scaling / bias / clamp (compiled_qops.hybrid_conv_epilogue) run, and agree with the
    reference kernels for every clamping activation, per-tensor and per-channel
    weights, on normal and tied inputs, one image and two."""
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_SMALL_NODES", True)     # (conftest turns it off)
    for n in (1, 2):
        for kind in ("normal", "ties"):
            case = {"n": n, "hw": (9, 8), "c": 4, "oc": 6, "k": (3, 3), "stride": 1,
                    "dil": 1, "pad": "SAME", "act": act, "scales": scales, "groups": 1,
                    "x": kind}
            model, inputs = conv_model(case, 23)
            it = edgelite.Interpreter(model_content=model)
            it.allocate_tensors()
            it.set_tensor(it.get_input_details()[0]["index"], inputs[0])
            it.invoke()
            k = it._main.kernels[0]
            assert k.q_call is not None and k.epi_call is not None
            check(model, inputs)
