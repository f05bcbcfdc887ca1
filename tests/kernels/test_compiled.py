"""The kernel tiers agree: numpy (always) and compiled (numba, when installed).

Every case runs each available implementation in this process and checks it
against a float64 reference written here (so the numpy path is tested even
where numba is absent: these tests are never skipped) and, when both tiers
exist, against each other within the float tolerance (1e-5 relative).
The requantization kernel is checked bit for bit against quant.arith.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest

import edgelite
from edgelite.format.builder import ModelBuilder
from edgelite.kernels import compiled
from edgelite.kernels.quant import arith

IMPLS = ["numpy"] + (["compiled"] if compiled.ENABLED else [])
RTOL = 1e-5
BOUNDS = {"NONE": (-np.inf, np.inf), "RELU": (0.0, np.inf), "RELU6": (0.0, 6.0),
          "RELU_N1_TO_1": (-1.0, 1.0)}


@pytest.fixture(autouse=True)
def compiled_for_every_size(monkeypatch):
    """The compiled tier normally skips small nodes; these tests use small shapes."""
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)


def test_numpy_is_always_an_implementation():
    assert IMPLS[0] == "numpy"
    assert compiled.ENABLED == ("compiled" in IMPLS)


def seed_of(*params) -> int:
    return zlib.crc32(repr(params).encode())


def run(model: bytes, inputs, impl: str) -> np.ndarray:
    """Prepare the model with the given tier (kernels choose their tier at prepare)."""
    saved = compiled.ENABLED
    compiled.ENABLED = impl == "compiled"
    try:
        it = edgelite.Interpreter(model_content=model)
        it.allocate_tensors()
    finally:
        compiled.ENABLED = saved
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    it.invoke()          # twice: a kernel must not depend on its output's old contents
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


def assert_close(got, want):
    assert got.shape == want.shape
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    err = float(np.abs(got.astype(np.float64) - want).max(initial=0.0)) / scale
    assert err <= RTOL, f"max relative error {err:.2e}"


def out_size(padding, n, k, s, d=1):
    eff = (k - 1) * d + 1
    return -(-n // s) if padding == "SAME" else max((n - eff + s) // s, 0)


def pads(padding, n, k, s, d, o):
    eff = (k - 1) * d + 1
    return max((o - 1) * s + eff - n, 0) // 2 if padding == "SAME" else 0


def ref_conv(x, w, bias, stride, dil, padding, act, depthwise):
    """float64 direct convolution. w: [O, KH, KW, I] (conv) or [1, KH, KW, C*M] (depthwise)."""
    n, h, wd, c = x.shape
    kh, kw = w.shape[1:3]
    oh, ow = (out_size(padding, h, kh, stride[0], dil[0]),
              out_size(padding, wd, kw, stride[1], dil[1]))
    pt, pl = pads(padding, h, kh, stride[0], dil[0], oh), pads(padding, wd, kw, stride[1],
                                                                dil[1], ow)
    oc = w.shape[3] if depthwise else w.shape[0]
    y = np.zeros((n, oh, ow, oc))
    xd, wd64 = x.astype(np.float64), w.astype(np.float64)
    for ky in range(kh):
        for kx in range(kw):
            iy = np.arange(oh) * stride[0] - pt + ky * dil[0]
            ix = np.arange(ow) * stride[1] - pl + kx * dil[1]
            vy, vx = (iy >= 0) & (iy < h), (ix >= 0) & (ix < wd)
            patch = np.zeros((n, oh, ow, c))
            patch[:, vy[:, None] & vx[None, :]] = xd[:, iy[vy]][:, :, ix[vx]].reshape(n, -1, c)
            if depthwise:
                y += np.repeat(patch, oc // c, axis=-1) * wd64[0, ky, kx]
            else:
                y += patch @ wd64[:, ky, kx, :].T
    if bias is not None:
        y += bias
    lo, hi = BOUNDS[act]
    return np.clip(y, lo, hi)


def conv_model(op, x, w, bias, **opts) -> bytes:
    b = ModelBuilder()
    xi = b.add_input("x", x.shape, np.float32)
    ins = [xi, b.add_constant("w", w)]
    if bias is not None:
        ins.append(b.add_constant("b", bias))
    y = b.add_tensor("y", (1, 1, 1, 1), np.float32)
    b.add_op(op, ins, [y], **opts)
    b.add_output(y)
    return b.to_bytes()


DW_CASES = [
    (xs, k, mult, s, d, pad, act, has_bias)
    for xs, k, mult, s, d, pad, act, has_bias in [
        ((1, 9, 9, 8), (3, 3), 1, (1, 1), (1, 1), "SAME", "RELU6", True),
        ((1, 10, 11, 16), (3, 3), 1, (2, 2), (1, 1), "SAME", "RELU6", True),
        ((2, 8, 7, 5), (3, 3), 1, (1, 2), (2, 1), "VALID", "NONE", False),
        ((1, 6, 6, 3), (3, 3), 2, (1, 1), (1, 1), "SAME", "RELU", True),
        ((1, 12, 5, 4), (5, 5), 1, (2, 1), (1, 2), "SAME", "RELU_N1_TO_1", True),
        ((1, 7, 7, 2), (2, 3), 3, (3, 2), (1, 1), "VALID", "RELU6", True),
        ((3, 5, 4, 1), (1, 1), 4, (1, 1), (1, 1), "SAME", "NONE", True),
        ((1, 4, 4, 6), (3, 3), 1, (1, 1), (3, 3), "SAME", "RELU", False),
        ((1, 2, 2, 5), (3, 3), 1, (1, 1), (1, 1), "SAME", "NONE", True),   # all border
        ((1, 14, 14, 40), (3, 3), 1, (2, 2), (1, 1), "VALID", "RELU6", True),
    ]
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("xs,k,mult,s,d,pad,act,has_bias", DW_CASES)
def test_depthwise_tiers(impl, xs, k, mult, s, d, pad, act, has_bias):
    rng = np.random.default_rng(seed_of(xs, k, mult, s, d, pad, act, has_bias))
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal((1, *k, xs[3] * mult)).astype(np.float32)
    bias = rng.standard_normal(xs[3] * mult).astype(np.float32) if has_bias else None
    model = conv_model("DEPTHWISE_CONV_2D", x, w, bias, padding=pad, stride_h=s[0],
                       stride_w=s[1], dilation_h_factor=d[0], dilation_w_factor=d[1],
                       depth_multiplier=mult, fused_activation_function=act)
    got = run(model, [x], impl)
    assert_close(got, ref_conv(x, w, bias, s, d, pad, act, depthwise=True))
    if impl != "numpy":
        assert_close(got, run(model, [x], "numpy").astype(np.float64))


CONV_CASES = [
    ((1, 15, 15, 3), (8, 3, 3, 3), (2, 2), (1, 1), "SAME", "RELU6", True),    # MobileNet stem
    ((2, 9, 8, 3), (5, 3, 3, 3), (1, 1), (1, 1), "VALID", "NONE", True),
    ((1, 7, 9, 4), (6, 2, 3, 4), (1, 2), (2, 1), "SAME", "RELU", False),
    ((1, 6, 6, 16), (24, 1, 1, 16), (1, 1), (1, 1), "SAME", "RELU6", True),   # direct GEMM
    ((1, 6, 6, 16), (24, 1, 1, 16), (2, 2), (1, 1), "SAME", "NONE", True),
    ((1, 5, 5, 2), (4, 5, 5, 2), (1, 1), (1, 1), "SAME", "RELU_N1_TO_1", True),
    ((1, 3, 3, 1), (2, 5, 5, 1), (3, 3), (1, 1), "SAME", "NONE", False),
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("xs,ws,s,d,pad,act,has_bias", CONV_CASES)
def test_conv2d_tiers(impl, xs, ws, s, d, pad, act, has_bias):
    rng = np.random.default_rng(seed_of(xs, ws, s, d, pad, act, has_bias))
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    bias = rng.standard_normal(ws[0]).astype(np.float32) if has_bias else None
    model = conv_model("CONV_2D", x, w, bias, padding=pad, stride_h=s[0], stride_w=s[1],
                       dilation_h_factor=d[0], dilation_w_factor=d[1],
                       fused_activation_function=act)
    got = run(model, [x], impl)
    assert_close(got, ref_conv(x, w, bias, s, d, pad, act, depthwise=False))
    if impl != "numpy":
        assert_close(got, run(model, [x], "numpy").astype(np.float64))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("xs,ws,s,d,pad,act,has_bias", CONV_CASES[:5])
def test_conv2d_row_blocks(impl, xs, ws, s, d, pad, act, has_bias, monkeypatch):
    """Large GEMMs run in blocks of output rows; force 7-row blocks on small shapes."""
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "_BLOCK_OUTPUT_BYTES", 0)
    monkeypatch.setattr(conv, "_BLOCK_MIN_ROWS", 7)
    monkeypatch.setattr(conv, "_BLOCK_TARGET_BYTES", 0)
    assert conv.gemm_row_block(100, 8) == 7
    test_conv2d_tiers(impl, xs, ws, s, d, pad, act, has_bias)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("act", ["NONE", "RELU", "RELU6"])
@pytest.mark.parametrize("has_bias", [True, False])
def test_fully_connected_tiers(impl, act, has_bias):
    rng = np.random.default_rng(seed_of(act, has_bias))
    x = rng.standard_normal((3, 40)).astype(np.float32)
    w = rng.standard_normal((17, 40)).astype(np.float32)
    bias = rng.standard_normal(17).astype(np.float32) if has_bias else None
    b = ModelBuilder()
    xi = b.add_input("x", x.shape, np.float32)
    ins = [xi, b.add_constant("w", w)] + ([b.add_constant("b", bias)] if has_bias else [])
    y = b.add_tensor("y", (3, 17), np.float32)
    b.add_op("FULLY_CONNECTED", ins, [y], fused_activation_function=act)
    b.add_output(y)
    want = x.astype(np.float64) @ w.T.astype(np.float64) + (bias if has_bias else 0.0)
    assert_close(run(b.to_bytes(), [x], impl), np.clip(want, *BOUNDS[act]))


# ---------------------------------------------------------------- requantization
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def requant_cases(rng, rows: int, channels: int):
    acc = rng.integers(INT32_MIN, INT32_MAX, (rows, channels), dtype=np.int64, endpoint=True)
    acc.flat[:8] = [INT32_MIN, INT32_MAX, 0, -1, 1, INT32_MIN + 1, INT32_MAX - 1, -(1 << 30)]
    small = rng.integers(-300_000, 300_000, (rows // 2, channels))
    acc[rows // 2:] = small
    mult = rng.integers(1 << 30, INT32_MAX, channels, endpoint=True)
    mult[0] = INT32_MAX
    mult[-1] = 1 << 30
    shift = rng.integers(-31, 8, channels)
    shift[0], shift[-1] = 0, -31
    return acc, mult, shift


@pytest.fixture(params=IMPLS)
def requant_impl(request, monkeypatch):
    monkeypatch.setattr(compiled, "ENABLED", request.param == "compiled")
    return request.param


@pytest.mark.parametrize("acc_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("out_dtype,zp", [(np.int8, -3), (np.uint8, 128), (np.int16, 0),
                                          (np.int32, 7)])
def test_requantize_bit_exact(requant_impl, acc_dtype, out_dtype, zp):
    rng = np.random.default_rng(seed_of(np.dtype(acc_dtype).name, np.dtype(out_dtype).name))
    acc, mult, shift = requant_cases(rng, 64, 13)
    acc = acc.astype(acc_dtype)
    info = np.iinfo(out_dtype)
    qmin, qmax = int(info.min), int(info.max)
    out = np.empty(acc.shape, out_dtype)
    compiled.requantize_per_channel(acc, mult, shift, zp, qmin, qmax, out)
    want = np.clip(arith.multiply_by_quantized_multiplier(acc, mult, shift) + zp, qmin, qmax)
    np.testing.assert_array_equal(out, want.astype(out_dtype))


def test_requantize_overflow_and_per_tensor(requant_impl):
    # SaturatingRoundingDoublingHighMul's one overflow case: INT32_MIN * INT32_MIN
    acc = np.array([[INT32_MIN, INT32_MAX, -5, 5]], np.int32)
    mult = np.array([INT32_MIN])
    shift = np.array([0])
    out = np.empty(acc.shape, np.int32)
    compiled.requantize_per_channel(acc, mult, shift, 0, INT32_MIN, INT32_MAX, out)
    want = arith.multiply_by_quantized_multiplier(acc, mult, shift)
    np.testing.assert_array_equal(out, want)
    assert out[0, 0] == INT32_MAX
    # left shifts wrap as int32 before the multiply
    acc = np.array([[1 << 29, -(1 << 29), 12345, -98765]], np.int64)
    mult = np.array([1 << 30, 1518500250, INT32_MAX, 1 << 30])
    shift = np.array([3, 2, 10, -1])
    out = np.empty(acc.shape, np.int64)
    compiled.requantize_per_channel(acc, mult, shift, 0, -(1 << 40), 1 << 40, out)
    np.testing.assert_array_equal(out, arith.multiply_by_quantized_multiplier(acc, mult, shift))


@pytest.mark.skipif(not compiled.ENABLED, reason="only the compiled tier has a kernel to compare")
def test_requantize_compiled_equals_numpy_fallback(monkeypatch):
    rng = np.random.default_rng(3)
    acc, mult, shift = requant_cases(rng, 200, 32)
    acc = acc.astype(np.int32)
    a = np.empty(acc.shape, np.int8)
    compiled.requantize_per_channel(acc, mult, shift, 5, -128, 127, a)
    monkeypatch.setattr(compiled, "ENABLED", False)
    b = np.empty(acc.shape, np.int8)
    compiled.requantize_per_channel(acc, mult, shift, 5, -128, 127, b)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- quantized convolutions
def quant_conv_model(op, dtype, x_shape, w_shape, rng, *, per_channel, zi, factor, bias,
                     **opts) -> bytes:
    """An int8 / uint8 CONV_2D or DEPTHWISE_CONV_2D; `factor` scales the output scale
    (factor < 1 gives multipliers with left shifts)."""
    info = np.iinfo(dtype)
    b = ModelBuilder()
    x = b.add_input("x", x_shape, dtype, quant={"scale": [0.03], "zero_point": [zi]})
    axis = 3 if op == "DEPTHWISE_CONV_2D" else 0
    oc = w_shape[axis]
    n_scales = oc if per_channel else 1
    scales = list(10.0 ** rng.uniform(-3, -1.5, n_scales))
    w_zp = 0 if dtype == np.int8 else int(rng.integers(100, 156))
    w = rng.integers(info.min + (dtype == np.int8), info.max + 1, w_shape).astype(dtype)
    wq = {"scale": scales, "zero_point": [w_zp] * n_scales, "quantized_dimension": axis}
    ins = [x, b.add_constant("w", w, quant=wq)]
    if bias:
        ins.append(b.add_constant("b", rng.integers(-5000, 5000, oc).astype(np.int32)))
    k = int(np.prod(w_shape[1:3])) * (1 if axis == 3 else w_shape[3])
    out_scale = 0.03 * float(np.mean(scales)) * np.sqrt(k) * 40 * factor
    zo = int(rng.integers(info.min, info.max + 1))
    y = b.add_tensor("y", (1, 1, 1, 1), dtype, quant={"scale": [out_scale], "zero_point": [zo]})
    b.add_op(op, ins, [y], version=3 if dtype == np.int8 else 1, **opts)
    b.add_output(y)
    return b.to_bytes()


QCONV_CASES = [
    # (op, dtype, x_shape, w_shape, stride, dilation, padding, act, per_channel, factor)
    ("CONV_2D", np.int8, (1, 15, 15, 3), (8, 3, 3, 3), 2, 1, "SAME", "RELU6", True, 1.0),
    ("CONV_2D", np.int8, (2, 6, 6, 16), (24, 1, 1, 16), 1, 1, "SAME", "NONE", True, 1.0),
    ("CONV_2D", np.int8, (1, 9, 7, 4), (5, 2, 3, 4), 1, 2, "VALID", "RELU", False, 0.01),
    ("CONV_2D", np.uint8, (1, 8, 8, 5), (6, 3, 3, 5), 1, 1, "SAME", "RELU6", False, 1.0),
    ("CONV_2D", np.int8, (1, 6, 6, 16), (24, 1, 1, 16), 2, 1, "SAME", "NONE", True, 1e-4),
    ("DEPTHWISE_CONV_2D", np.int8, (1, 9, 9, 8), (1, 3, 3, 8), 1, 1, "SAME", "RELU6", True,
     1.0),
    ("DEPTHWISE_CONV_2D", np.int8, (2, 10, 11, 16), (1, 3, 3, 16), 2, 1, "SAME", "NONE",
     True, 0.01),
    ("DEPTHWISE_CONV_2D", np.int8, (1, 8, 7, 5), (1, 3, 3, 10), 1, 2, "VALID", "RELU", False,
     1.0),
    ("DEPTHWISE_CONV_2D", np.uint8, (1, 12, 5, 4), (1, 5, 5, 4), 2, 1, "SAME", "RELU6",
     False, 1.0),
    ("DEPTHWISE_CONV_2D", np.int8, (1, 2, 2, 5), (1, 3, 3, 15), 1, 1, "SAME", "NONE", True,
     1e-4),
    ("DEPTHWISE_CONV_2D", np.uint8, (1, 7, 7, 3), (1, 2, 3, 6), 3, 1, "VALID", "NONE", False,
     0.01),
]


@pytest.mark.skipif(not compiled.ENABLED, reason="only the compiled tier has a kernel to compare")
@pytest.mark.parametrize("zi_kind", ["lo", "mid", "hi"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", QCONV_CASES, ids=repr)
def test_quantized_conv_tiers_bit_identical(case, bias, zi_kind):
    op, dtype, xs, ws, s, d, pad, act, pc, factor = case
    rng = np.random.default_rng(seed_of(case, bias, zi_kind))
    info = np.iinfo(dtype)
    zi = {"lo": int(info.min), "mid": int(info.min + info.max) // 2 + 3, "hi": int(info.max)}
    opts = {"padding": pad, "stride_h": s, "stride_w": s, "dilation_h_factor": d,
            "dilation_w_factor": d, "fused_activation_function": act}
    if op == "DEPTHWISE_CONV_2D":
        opts["depth_multiplier"] = ws[3] // xs[3]
    model = quant_conv_model(op, dtype, xs, ws, rng, per_channel=pc, zi=zi[zi_kind],
                             factor=factor, bias=bias, **opts)
    x = rng.integers(info.min, info.max + 1, xs).astype(dtype)
    got = run(model, [x], "compiled")
    want = run(model, [x], "numpy")
    np.testing.assert_array_equal(got, want)
    if factor >= 0.01:     # (smaller factors: multipliers > 1, left shifts, saturation)
        assert len(np.unique(want)) > 1, "degenerate case: the output is constant"


@pytest.mark.skipif(not compiled.ENABLED, reason="needs the compiled tier (numba)")
def test_cached_typeof_equals_numba_typeof():
    """compiled_igemm._typeof (cached by dtype, rank, layout, flags; scalars by type)
    gives numba.typeof's type for arrays of every layout, read-only views, scalars."""
    from numba import typeof

    from edgelite.kernels.compiled_igemm import _typeof
    base = np.zeros((3, 4), np.float32)
    values = [np.zeros(3, np.int8), base, base.T, base[:, ::2], base[:, 0], base[0],
              np.zeros(1), np.zeros(()), np.frombuffer(b"abcd", np.int8), np.zeros((4, 1))[:, 0],
              np.int64(3), np.float32(1), 3, -5, 2.5, True, 1 << 63, (1, 2), (base, 1.5, (2, base.T)),
              (np.int64(1), np.int64(2))]
    for _ in range(2):                      # the second round from the cache
        for v in values:
            assert _typeof(v) == typeof(v), v


@pytest.mark.skipif(not compiled.ENABLED, reason="numba not installed")
def test_half_to_float_bits_every_pattern():
    """compiled_ops.half_to_float_bits gives numpy's float16 -> float32 bits for all
    65,536 half patterns: zeros, subnormals, normals, infinities, NaN payloads."""
    from edgelite.kernels import compiled_ops
    h = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    out = np.empty(h.size, np.uint32)
    compiled_ops.half_to_float_bits(h, out)
    np.testing.assert_array_equal(out, h.view(np.float16).astype(np.float32).view(np.uint32))


@pytest.mark.skipif(not compiled.ENABLED, reason="numba not installed")
def test_float16_weights_dequantized_in_compiled_code(monkeypatch):
    """A float16 model's DEQUANTIZE of constant weights runs the compiled widening
    (on the weights big enough for the compiled tier) and gives the numpy tier's
    constants, bit for bit."""
    import pathlib

    from edgelite.kernels import compiled_ops
    calls = []
    real = compiled_ops.half_to_float_bits
    monkeypatch.setattr(compiled_ops, "half_to_float_bits",
                        lambda *a: calls.append(1) or real(*a))
    path = pathlib.Path(__file__).parents[1] / "fixtures" / "models" / "cnn_float16.tflite"
    consts = []
    for on in (True, False):
        monkeypatch.setattr(compiled, "ENABLED", on)
        # (prepared here, not read back from an EDGELITE_CACHE_DIR the suite may run with)
        it = edgelite.Interpreter(model_path=str(path), cache_dir=False)
        it.allocate_tensors()
        consts.append([k.constant for k in it._main.kernels
                       if type(k).__name__ == "Dequantize"])
    assert calls and len(consts[0]) == len(consts[1]) > 0
    for a, b in zip(*consts):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.skipif(not compiled.ENABLED, reason="numba not installed")
def test_entry_points_are_looked_up_by_what_types_the_arguments():
    """compiled_igemm.entry finds a dispatcher's compiled entry by the arguments' type
    keys: the same types give the same entry, and a layout, dtype, writeability or scalar
    type that numba types differently gives that signature's entry, not a cached one."""
    import numba

    from edgelite.kernels.compiled_igemm import entry

    @numba.njit
    def total(a, k):
        s = 0.0
        for v in a.ravel():
            s += v
        return s * k

    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    frozen = base.copy()
    frozen.flags.writeable = False
    cases = [(base, 2.0), (base.copy(), 3.0), (base[:, ::2], 2.0), (base.T, 2.0),
             (base.astype(np.float64), 2.0), (frozen, 2.0), (base, 2), (base, np.float32(2))]
    found = [entry(total, args) for args in cases]
    assert found[0] is found[1]
    for f, args in zip(found, cases):
        assert f is total.overloads[tuple(numba.typeof(a) for a in args)].entry_point
        assert f(*args) == pytest.approx(float(np.sum(args[0])) * args[1])
    assert len({id(f) for f in found}) == len(cases) - 1
