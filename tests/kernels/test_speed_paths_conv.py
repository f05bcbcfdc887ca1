"""The compiled tier's fast paths for float convolutions agree with the numpy tier.

Shapes are chosen to walk every branch of the blocked kernels (pixel blocks and
their left-overs, borders, strides, dilations, channel counts below, at and
above a vector width). Depthwise and im2col packing promise the numpy tier's
results up to the sign of zero (same summation order, no FMA contraction), so
those are compared exactly; GEMM-based results within the float tolerance.
Without numba these tests check the numpy tier against the float64 reference
only (never skipped).
"""
from __future__ import annotations

import types

import numpy as np
import pytest
from kernels.test_compiled import IMPLS, assert_close, conv_model, ref_conv, run, seed_of

from edgelite.kernels import compiled


@pytest.fixture(autouse=True)
def compiled_for_every_size(monkeypatch):
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)


def tiers(model, inputs):
    """{impl: output} for every available tier."""
    return {impl: run(model, inputs, impl) for impl in IMPLS}


def assert_same_values(a, b):
    """Equal as numbers (-0.0 == 0.0), NaN where NaN."""
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)


# Widths 1..13 cover 0-3 blocks of four (stride 1) / two (stride 2) pixels and every
# left-over count; channel counts 1, 7, 8, 19 cover no vector, a partial one, one,
# and several with a remainder.
DW3_CASES = [
    (w, c, s, d, pad, act, has_bias)
    for w, c in [(1, 7), (4, 8), (5, 19), (6, 1), (9, 8), (12, 7), (13, 19)]
    for s, d, pad in [(1, 1, "SAME"), (2, 1, "SAME"), (1, 1, "VALID"), (2, 1, "VALID"),
                      (1, 2, "SAME")]
    for act, has_bias in [("RELU6", True), ("NONE", False)]
]


@pytest.mark.parametrize("w,c,s,d,pad,act,has_bias", DW3_CASES)
def test_depthwise_3x3_blocks_equal_numpy_tier(w, c, s, d, pad, act, has_bias):
    key = (w, c, s, d, pad, act, has_bias)
    rng = np.random.default_rng(seed_of("dw3", *key))
    x = rng.standard_normal((2, 7, w, c)).astype(np.float32)
    wt = rng.standard_normal((1, 3, 3, c)).astype(np.float32)
    bias = rng.standard_normal(c).astype(np.float32) if has_bias else None
    model = conv_model("DEPTHWISE_CONV_2D", x, wt, bias, padding=pad, stride_h=s, stride_w=s,
                       dilation_h_factor=d, dilation_w_factor=d, depth_multiplier=1,
                       fused_activation_function=act)
    outs = tiers(model, [x])
    want = ref_conv(x, wt, bias, (s, s), (d, d), pad, act, depthwise=True)
    for got in outs.values():
        assert_close(got, want)
    if compiled.ENABLED:
        if s == 1:      # the numpy tier's row-run einsum: its own summation order (FMA)
            assert_close(outs["compiled"], outs["numpy"].astype(np.float64))
        else:
            assert_same_values(outs["compiled"], outs["numpy"])


def test_depthwise_3x3_blocks_propagate_nan_and_inf():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 6, 11, 9)).astype(np.float32)
    x[0, 2, 5, 3] = np.nan
    x[0, 4, 8, 1] = np.inf
    wt = rng.standard_normal((1, 3, 3, 9)).astype(np.float32)
    bias = rng.standard_normal(9).astype(np.float32)
    for s in (1, 2):
        model = conv_model("DEPTHWISE_CONV_2D", x, wt, bias, padding="SAME", stride_h=s,
                           stride_w=s, depth_multiplier=1, fused_activation_function="NONE")
        outs = tiers(model, [x])
        assert np.isnan(outs["numpy"]).any()
        if compiled.ENABLED:
            a, b = outs["compiled"], outs["numpy"]
            np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            np.testing.assert_array_equal(a[np.isinf(a)], b[np.isinf(b)])
            fin = np.isfinite(a)
            assert_close(a[fin], b[fin].astype(np.float64))


def fc_model(x, w, bias, act):
    from edgelite.format.builder import ModelBuilder
    b = ModelBuilder()
    xi = b.add_input("x", x.shape, np.float32)
    ins = [xi, b.add_constant("w", w)]
    if bias is not None:
        ins.append(b.add_constant("b", bias))
    y = b.add_tensor("y", (1, 1), np.float32)
    b.add_op("FULLY_CONNECTED", ins, [y], fused_activation_function=act)
    b.add_output(y)
    return b.to_bytes()


# (rows, n): n below, at and above the tiled bias's length (2048 values); rows * n
# not a multiple of it, so the last chunk is partial.
EPILOGUE_CASES = [(rows, n, act, has_bias)
                  for rows, n in [(7, 3), (683, 3), (129, 16), (50, 2047), (3, 2049), (5, 4100)]
                  for act, has_bias in [("RELU6", True), ("RELU", False), ("NONE", True)]]


@pytest.mark.parametrize("rows,n,act,has_bias", EPILOGUE_CASES)
def test_flat_epilogue_equals_numpy_tier(rows, n, act, has_bias):
    """1x1 convolutions and FULLY_CONNECTED run the same GEMM in both tiers, so the
    fused bias + clamp must give identical values."""
    rng = np.random.default_rng(seed_of("epi", rows, n, act, has_bias))
    k = 5
    x = (rng.standard_normal((1, rows, 1, k)) * 3).astype(np.float32)
    w = rng.standard_normal((n, 1, 1, k)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32) if has_bias else None
    conv = conv_model("CONV_2D", x, w, bias, padding="VALID", stride_h=1, stride_w=1,
                      fused_activation_function=act)
    fc = fc_model(x.reshape(rows, k), w.reshape(n, k), bias, act)
    for model, inp in ((conv, x), (fc, x.reshape(rows, k))):
        outs = tiers(model, [inp])
        want = ref_conv(x, w, bias, (1, 1), (1, 1), "VALID", act, depthwise=False)
        for got in outs.values():
            assert_close(got.reshape(want.shape), want)
        if compiled.ENABLED:
            assert_same_values(outs["compiled"], outs["numpy"])


# The numpy tier's einsum path (multiplier 1, >= 64 channels, <= 28*28 output pixels):
# padding, strides, dilation, other kernel sizes, batches, bias or none, every clamp.
EINSUM_CASES = [
    ((1, 7, 7, 64), (3, 3), (1, 1), (1, 1), "SAME", "RELU6", True),
    ((2, 9, 8, 72), (3, 3), (2, 2), (1, 1), "SAME", "NONE", False),
    ((1, 10, 9, 64), (3, 3), (2, 1), (1, 1), "VALID", "RELU", True),
    ((1, 11, 11, 65), (5, 5), (1, 1), (2, 1), "SAME", "RELU_N1_TO_1", True),
    ((1, 6, 5, 96), (2, 3), (1, 2), (1, 2), "VALID", "NONE", True),
    ((1, 28, 28, 64), (3, 3), (1, 1), (1, 1), "SAME", "RELU6", True),
]


@pytest.mark.parametrize("xs,k,s,d,pad,act,has_bias", EINSUM_CASES)
def test_depthwise_einsum_path(xs, k, s, d, pad, act, has_bias):
    from edgelite.kernels import conv
    rng = np.random.default_rng(seed_of("dw-einsum", xs, k, s, d, pad, act, has_bias))
    x = rng.standard_normal(xs).astype(np.float32)
    wt = rng.standard_normal((1, *k, xs[3])).astype(np.float32)
    bias = rng.standard_normal(xs[3]).astype(np.float32) if has_bias else None
    model = conv_model("DEPTHWISE_CONV_2D", x, wt, bias, padding=pad, stride_h=s[0],
                       stride_w=s[1], dilation_h_factor=d[0], dilation_w_factor=d[1],
                       depth_multiplier=1, fused_activation_function=act)
    assert xs[3] >= conv._DW_EINSUM_MIN_CHANNELS
    outs = tiers(model, [x])
    want = ref_conv(x, wt, bias, s, d, pad, act, depthwise=True)
    for got in outs.values():
        assert_close(got, want)
    if compiled.ENABLED:
        assert_close(outs["compiled"], outs["numpy"].astype(np.float64))


# The numpy tier's row-run einsum path (multiplier 1, stride 1 along W, constant
# filter): padding, stride and dilation along H, dilation along W, even kernels,
# batches, bias or none, every clamp; vs LiteRT and vs the per-tap loop.
ROWFLAT_CASES = [
    ((1, 16, 16, 16), (3, 3), (1, 1), (1, 1), "SAME", "RELU6", True),
    ((2, 9, 8, 5), (3, 3), (2, 1), (1, 1), "SAME", "NONE", True),
    ((1, 10, 9, 7), (3, 3), (1, 1), (1, 2), "VALID", "RELU", False),
    ((1, 11, 12, 3), (5, 4), (3, 1), (2, 1), "SAME", "RELU_N1_TO_1", True),
    ((1, 6, 5, 48), (2, 3), (1, 1), (1, 2), "VALID", "NONE", True),
    ((1, 1, 1, 8), (3, 3), (1, 1), (1, 1), "SAME", "RELU6", True),
]


def _depthwise_kernels(it):
    return [k for k in it._main.kernels if hasattr(k, "rowflat")]


@pytest.mark.parametrize("xs,k,s,d,pad,act,has_bias", ROWFLAT_CASES)
def test_depthwise_rowflat_path(xs, k, s, d, pad, act, has_bias, monkeypatch):
    from oracle import check_against_litert

    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 1 << 40)   # the numpy tier only
    rng = np.random.default_rng(seed_of("dw-rowflat", xs, k, s, d, pad, act, has_bias))
    x = rng.standard_normal(xs).astype(np.float32)
    wt = rng.standard_normal((1, *k, xs[3])).astype(np.float32)
    bias = rng.standard_normal(xs[3]).astype(np.float32) if has_bias else None
    model = conv_model("DEPTHWISE_CONV_2D", x, wt, bias, padding=pad, stride_h=s[0],
                       stride_w=s[1], dilation_h_factor=d[0], dilation_w_factor=d[1],
                       depth_multiplier=1, fused_activation_function=act)
    assert [kk.rowflat for kk in _depthwise_kernels(_interpreter(model))] == [True]
    got = run(model, [x], "numpy")
    assert_close(got, ref_conv(x, wt, bias, s, d, pad, act, depthwise=True))
    if has_bias:        # LiteRT 2.x's XNNPACK delegate crashes on a two-input depthwise
        check_against_litert(model, [x])
    monkeypatch.setattr(conv, "_DW_ROWFLAT_MAX_OUTPUT", -1)         # the per-tap loop
    assert [kk.rowflat for kk in _depthwise_kernels(_interpreter(model))] == [False]
    assert_close(got, run(model, [x], "numpy").astype(np.float64))


def test_depthwise_rowflat_unbound_arrays(monkeypatch):
    """Invoked directly on a non-contiguous input and output (not the runtime's arrays)."""
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 1 << 40)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 6, 7, 4)).astype(np.float32)
    wt = rng.standard_normal((1, 3, 3, 4)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    model = conv_model("DEPTHWISE_CONV_2D", x, wt, bias, padding="VALID", stride_h=1,
                       stride_w=1, depth_multiplier=1, fused_activation_function="RELU")
    it = _interpreter(model)
    (kern,) = _depthwise_kernels(it)
    assert kern.rowflat
    want = ref_conv(x, wt, bias, (1, 1), (1, 1), "VALID", "RELU", depthwise=True)
    xt = np.ascontiguousarray(x.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    out = np.zeros((1, want.shape[2], want.shape[1], 4), np.float32).transpose(0, 2, 1, 3)
    assert not xt.flags.c_contiguous and not out.flags.c_contiguous
    scratch = {kern.pad_idx: np.full(kern.pad.shape, 7.0, np.float32)}
    ctx = types.SimpleNamespace(inputs=[xt], outputs=[out], scratch=scratch)
    kern.invoke(ctx)
    assert_close(out, want)


# im2col packing (compiled tier): 3x3 over 3 channels takes an unrolled copy; other
# channel counts the generic one; borders, strides, dilation and several blocks.
PACK_CASES = [(h, c, s, d, pad) for h, c in [(9, 3), (12, 3), (7, 2), (8, 5)]
              for s, d, pad in [(1, 1, "SAME"), (2, 1, "SAME"), (2, 1, "VALID"), (1, 2, "SAME")]]


@pytest.mark.parametrize("h,c,s,d,pad", PACK_CASES)
def test_conv_im2col_pack(h, c, s, d, pad):
    rng = np.random.default_rng(seed_of("pack", h, c, s, d, pad))
    x = rng.standard_normal((2, h, h + 1, c)).astype(np.float32)
    w = rng.standard_normal((6, 3, 3, c)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    model = conv_model("CONV_2D", x, w, bias, padding=pad, stride_h=s, stride_w=s,
                       dilation_h_factor=d, dilation_w_factor=d, fused_activation_function="RELU")
    outs = tiers(model, [x])
    want = ref_conv(x, w, bias, (s, s), (d, d), pad, "RELU", depthwise=False)
    for got in outs.values():
        assert_close(got, want)
    if compiled.ENABLED:
        assert_close(outs["compiled"], outs["numpy"].astype(np.float64))


@pytest.mark.skipif(not compiled.ENABLED, reason="the compiled tier's packing kernel itself")
@pytest.mark.parametrize("c,s,d", [(3, 1, 1), (3, 2, 1), (3, 1, 2), (4, 2, 1)])
def test_im2col_rows_equals_window_gather(c, s, d):
    """im2col_rows over arbitrary row ranges equals a gather from a zero-bordered copy."""
    rng = np.random.default_rng(seed_of("im2col", c, s, d))
    n, h, wd, kh, kw, pt, pl = 2, 9, 10, 3, 3, 1, 1
    oh, ow = (h + 2 * pt - (kh - 1) * d - 1) // s + 1, (wd + 2 * pl - (kw - 1) * d - 1) // s + 1
    x = rng.standard_normal((n, h, wd, c)).astype(np.float32)
    xp = np.zeros((n, h + 2 * pt + s * kh, wd + 2 * pl + s * kw, c), np.float32)
    xp[:, pt:pt + h, pl:pl + wd] = x
    want = np.stack([xp[:, oy * s + ky * d, ox * s + kx * d]
                     for oy in range(oh) for ox in range(ow)
                     for ky in range(kh) for kx in range(kw)], 1)
    want = want.reshape(n * oh * ow, kh * kw * c)
    geom = np.array([h, wd, c, oh, ow, kh, kw, s, s, d, d, pt, pl], np.int64)
    for r0, rows in [(0, n * oh * ow), (3, ow + 5), (ow * oh - 2, 4)]:
        col = np.full((rows, kh * kw * c), 7.0, np.float32)
        compiled.im2col_rows(x.reshape(-1), col.reshape(-1), geom, r0, rows)
        np.testing.assert_array_equal(col, want[r0:r0 + rows])


# Channel-major (transposed) im2col: window rows of < 16 values and output rows of
# >= 16 pixels; borders, strides, dilation, batches, both tiers.
TRANSPOSED_CASES = [((2, 9, 33, 3), (3, 3), 2, 1, "SAME"), ((1, 20, 18, 3), (3, 3), 1, 1, "SAME"),
                    ((1, 11, 40, 1), (5, 5), 2, 1, "VALID"), ((1, 12, 36, 2), (3, 3), 1, 2, "SAME"),
                    ((1, 6, 70, 4), (1, 3), 3, 1, "SAME")]


@pytest.mark.parametrize("xs,k,s,d,pad", TRANSPOSED_CASES)
def test_conv_transposed_columns(xs, k, s, d, pad, monkeypatch):
    from edgelite.kernels import conv
    rng = np.random.default_rng(seed_of("colT", xs, k, s, d, pad))
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal((8, *k, xs[3])).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float32)
    model = conv_model("CONV_2D", x, w, bias, padding=pad, stride_h=s, stride_w=s,
                       dilation_h_factor=d, dilation_w_factor=d,
                       fused_activation_function="RELU6")
    it = _interpreter(model)
    assert [(k.transposed, k.fold_bias) for k in _conv_kernels(it)] == [(True, True)]
    outs = tiers(model, [x])
    want = ref_conv(x, w, bias, (s, s), (d, d), pad, "RELU6", depthwise=False)
    for got in outs.values():
        assert_close(got, want)
    from oracle import check_against_litert
    check_against_litert(model, [x])
    monkeypatch.setattr(conv, "_FOLD_BIAS", False)      # the bias in the epilogue
    assert [k.fold_bias for k in _conv_kernels(_interpreter(model))] == [False]
    for impl, got in tiers(model, [x]).items():
        assert_close(outs[impl], got.astype(np.float64))
    monkeypatch.setattr(conv, "_FOLD_BIAS", True)
    monkeypatch.setattr(conv, "_SHORT_RUN", 0)          # the row-major copy
    for impl, got in tiers(model, [x]).items():
        assert_close(outs[impl], got.astype(np.float64))


def test_conv3d_transposed_columns(monkeypatch):
    from edgelite.format.builder import ModelBuilder
    from edgelite.kernels import conv
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 3, 5, 20, 2)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 2, 4)).astype(np.float32)
    b = ModelBuilder()
    xi = b.add_input("x", x.shape, np.float32)
    y = b.add_tensor("y", (1, 1, 1, 1, 1), np.float32)
    b.add_op("CONV_3D", [xi, b.add_constant("w", w)], [y], padding="SAME", stride_d=1,
             stride_h=1, stride_w=1, dilation_d_factor=1, dilation_h_factor=1,
             dilation_w_factor=1)
    b.add_output(y)
    model = b.to_bytes()
    assert [k.transposed for k in _conv_kernels(_interpreter(model))] == [True]
    got = tiers(model, [x])
    monkeypatch.setattr(conv, "_SHORT_RUN", 0)
    for impl, want in tiers(model, [x]).items():
        assert_close(got[impl], want.astype(np.float64))


def _interpreter(model):
    import edgelite
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    return it


def _conv_kernels(it):
    return [k for k in it._main.kernels if hasattr(k, "transposed")]


def test_padded_input_seam_borders():
    """PaddedInput's three-run borders (4-D, H/W padding): every border value
    rewritten over a dirty buffer, the interior copied; vs np.pad."""
    import itertools

    from edgelite.kernels.conv import PaddedInput
    rng = np.random.default_rng(0)
    for n, h, w, c, pt, pb, pl, pr in itertools.product([1, 2], [1, 2, 5], [1, 3], [1, 4],
                                                       [0, 1, 2], [0, 1], [0, 1, 3], [0, 2]):
        x = rng.random((n, h, w, c)).astype(np.float32)
        p = PaddedInput(x.shape, [(0, 0), (pt, pb), (pl, pr), (0, 0)], fill=-7.0)
        buf = np.full(p.shape, np.nan, np.float32)
        p.bind(buf)
        p.fill(x)
        want = np.pad(x, [(0, 0), (pt, pb), (pl, pr), (0, 0)], constant_values=-7.0)
        np.testing.assert_array_equal(buf, want)
