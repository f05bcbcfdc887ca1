"""The VNNI integer GEMM (edgelite/kernels/compiled_igemm.py) is exact:

- its raw int32 accumulators equal numpy's int64 products on ragged shapes (K not a
  multiple of 4, N not a multiple of 16, rows not a multiple of 4, one row), with the
  extreme values -128 / 127 in activations and weights;
- int8 CONV_2D (1x1 direct, 1x1 through the column copy, im2col with stride, dilation,
  padding, several bands, left-shift multipliers taking the int64 requantization, K
  beyond the float32 path's exactness bound) and FULLY_CONNECTED give bit for bit the
  numpy tier's results, the compiled tier's float GEMM path's (VNNI switched off), and
  LiteRT's reference kernels'.
Skipped (with the reason) where numba or AVX-512 VNNI is missing: the float paths run
there and are tested by test_compiled.py / test_speed_paths_quant_conv.py.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from kernels.test_compiled import quant_conv_model, run
from kernels.test_quant_conv import check, conv_like

from edgelite.kernels import compiled

if compiled.ENABLED:
    from edgelite.kernels import compiled_igemm
    VNNI = compiled_igemm.ENABLED
else:
    compiled_igemm = None
    VNNI = False

pytestmark = pytest.mark.skipif(not VNNI, reason="needs numba and an AVX-512 VNNI host")


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


@pytest.fixture
def every_size_compiled(monkeypatch):
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)


@pytest.mark.parametrize("shape", [(1, 7, 5), (4, 4, 16), (5, 16, 24), (13, 33, 70),
                                   (9, 1, 1), (6, 300, 65), (3, 2048, 33)])
def test_raw_accumulators_exact(shape):
    """gemm_fc with scale 1, zero point 0 and wide bounds into int32 returns the
    accumulators themselves: sum (x + 128) * w + corr = x @ w with corr = -128 * sum(w)."""
    m, k, n = shape
    rng = _rng("acc", shape)
    x = rng.integers(-128, 128, (m, k)).astype(np.int8)
    w = rng.integers(-128, 128, (k, n))
    x.flat[0], w.flat[0], w.flat[-1] = -128, -128, 127
    if m > 1:
        x[1] = 127
    wpk, kq, npad = compiled_igemm.pack_weights(w)
    xb = np.zeros(m * k + 4, np.int8)
    xb[:m * k] = x.reshape(-1)
    acc = np.zeros((4, npad), np.int32)
    out = np.zeros((m, n), np.int32)
    corr = compiled_igemm.correction(np.zeros(n, np.int64), 0, w.sum(axis=0)).astype(np.float64)
    compiled_igemm.gemm_fc(xb, np.int64(k), m, kq, wpk, corr, np.ones(n), 0.0, -2.0 ** 40,
                           2.0 ** 40, out, acc)
    np.testing.assert_array_equal(out, x.astype(np.int64) @ w)


CONV_CASES = [
    # (x_shape, w_shape, stride, dilation, padding, act, per_channel, factor)
    ((1, 9, 7, 16), (24, 1, 1, 16), 1, 1, "SAME", "NONE", True, 1.0),       # 1x1 direct
    ((2, 5, 6, 7), (19, 1, 1, 7), 1, 1, "VALID", "RELU6", True, 1.0),       # K % 4 != 0
    ((1, 15, 17, 3), (32, 3, 3, 3), 2, 1, "SAME", "RELU6", True, 1.0),      # MobileNet's first
    ((1, 9, 8, 5), (40, 2, 3, 5), 1, 2, "VALID", "RELU", False, 1.0),       # dilation
    ((1, 40, 40, 8), (16, 3, 3, 8), 1, 1, "SAME", "NONE", True, 1.0),       # two bands
    ((1, 6, 6, 16), (24, 1, 1, 16), 2, 1, "SAME", "NONE", True, 1e-4),      # left shifts
    ((1, 4, 4, 1100), (70, 1, 1, 1100), 1, 1, "SAME", "NONE", True, 1.0),   # K > 518
    ((1, 49, 10, 1), (32, 10, 4, 1), 2, 1, "SAME", "RELU", True, 1.0),      # kws' first
    ((2, 7, 9, 6), (20, 3, 2, 6), (2, 1), 1, "SAME", "NONE", True, 1.0),    # strides 2, 1
    ((1, 8, 8, 5), (17, 3, 3, 5), 1, (2, 1), "VALID", "RELU6", True, 1.0),  # dilation_h 2
]


def _conv_model(case, zi_kind, bias):
    xs, ws, s, d, pad, act, pc, factor = case
    rng = _rng("conv", case, zi_kind, bias)
    zi = {"lo": -128, "mid": 3, "hi": 127}[zi_kind]
    (sh, sw), (dh, dw) = (s if isinstance(s, tuple) else (s, s),
                          d if isinstance(d, tuple) else (d, d))
    model = quant_conv_model("CONV_2D", np.int8, xs, ws, rng, per_channel=pc, zi=zi,
                             factor=factor, bias=bias, padding=pad, stride_h=sh, stride_w=sw,
                             dilation_h_factor=dh, dilation_w_factor=dw,
                             fused_activation_function=act)
    x = rng.integers(-128, 128, xs).astype(np.int8)
    return model, x


@pytest.mark.parametrize("zi_kind", ["lo", "mid", "hi"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CONV_CASES, ids=repr)
def test_conv_vnni_equals_numpy_and_float_gemm(case, bias, zi_kind, every_size_compiled,
                                                monkeypatch):
    model, x = _conv_model(case, zi_kind, bias)
    got = run(model, [x], "compiled")
    np.testing.assert_array_equal(got, run(model, [x], "numpy"))
    if case[-1] >= 0.01:
        assert len(np.unique(got)) > 1, "degenerate case: the output is constant"
    if case[1][3] <= 518:       # the float GEMM path's exactness bound
        monkeypatch.setattr(compiled_igemm, "ENABLED", False)
        np.testing.assert_array_equal(got, run(model, [x], "compiled"))


def test_conv_and_fc_take_the_vnni_kernels(every_size_compiled, monkeypatch):
    """The cases above really run the VNNI kernels: 1x1 direct, windows read in place,
    im2col (dilation_w 2), FC."""
    calls = []
    for name in ("gemm_rq", "conv_rq", "conv_direct", "gemm_fc"):
        real = getattr(compiled_igemm, name)
        monkeypatch.setattr(compiled_igemm, name,
                            lambda *a, _f=real, _n=name: calls.append(_n) or _f(*a))
    for case in (CONV_CASES[0], CONV_CASES[2], CONV_CASES[3]):
        model, x = _conv_model(case, "mid", True)
        run(model, [x], "compiled")
    model, x = _fc(91, *FC_CASES[1])
    run(model, x, "compiled")
    assert calls == (["gemm_rq"] * 2 + ["conv_direct"] * 2 + ["conv_rq"] * 2
                     + ["gemm_fc"] * 2)


@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (2, 3, 5, 6, 7, 8, 9)], ids=repr)
def test_conv_vnni_against_litert(case, every_size_compiled):
    model, x = _conv_model(case, "mid", True)
    check(model, [x])


FC_CASES = [((1, 1280), 1000, True, "NONE"), ((3, 70), 40, False, "RELU"),
            ((6, 64), 17, True, "RELU6"), ((1, 2050), 16, True, "NONE")]


def _fc(seed, shape, units, per_channel, act):
    k = shape[-1]
    return conv_like("FULLY_CONNECTED", np.int8, seed, x_shape=shape, w_shape=(units, k),
                     channels=units, axis=0, k=k, per_channel=per_channel, zp_kind="mid",
                     factor=1.0, bias_kind="i32", version=4, fused_activation_function=act)


@pytest.mark.parametrize("case", FC_CASES, ids=repr)
def test_fully_connected_vnni(case, every_size_compiled, monkeypatch):
    model, x = _fc(91, *case)
    got = run(model, x, "compiled")
    np.testing.assert_array_equal(got, run(model, x, "numpy"))
    monkeypatch.setattr(compiled_igemm, "ENABLED", False)
    np.testing.assert_array_equal(got, run(model, x, "compiled"))
    monkeypatch.undo()
    check(model, x)


DW_CASES = [
    # (x_shape, stride, dilation, padding, act, factor)
    ((1, 9, 9, 16), 1, 1, "SAME", "RELU6", 1.0),
    ((2, 12, 11, 32), 2, 1, "SAME", "NONE", 1.0),
    ((1, 3, 3, 16), 1, 1, "SAME", "NONE", 0.3),          # every pixel on the border
    ((1, 2, 2, 48), 1, 1, "SAME", "NONE", 1.0),          # smaller than the filter
    ((1, 10, 8, 16), 2, 1, "VALID", "RELU", 1.0),
    ((1, 11, 13, 32), 1, 2, "SAME", "RELU6", 1.0),       # dilation
    ((1, 9, 10, 16), 2, 2, "VALID", "NONE", 1.0),
    ((1, 16, 16, 64), 1, 1, "SAME", "NONE", 1e-3),
]


def _dw_model(case, zi_kind):
    xs, s, d, pad, act, factor = case
    rng = _rng("dw", case, zi_kind)
    zi = {"lo": -128, "mid": 3, "hi": 127}[zi_kind]
    c = xs[3]
    model = quant_conv_model("DEPTHWISE_CONV_2D", np.int8, xs, (1, 3, 3, c), rng,
                             per_channel=True, zi=zi, factor=factor, bias=True, padding=pad,
                             stride_h=s, stride_w=s, dilation_h_factor=d, dilation_w_factor=d,
                             depth_multiplier=1, fused_activation_function=act)
    x = rng.integers(-128, 128, xs).astype(np.int8)
    x.flat[:3] = (-128, 127, -128)
    return model, x


@pytest.mark.parametrize("zi_kind", ["lo", "mid", "hi"])
@pytest.mark.parametrize("case", DW_CASES, ids=repr)
def test_depthwise_vnni_equals_numpy_and_float(case, zi_kind, every_size_compiled, monkeypatch):
    model, x = _dw_model(case, zi_kind)
    got = run(model, [x], "compiled")
    np.testing.assert_array_equal(got, run(model, [x], "numpy"))
    if case[-1] >= 0.01:
        assert len(np.unique(got)) > 1, "degenerate case: the output is constant"
    monkeypatch.setattr(compiled_igemm, "ENABLED", False)
    np.testing.assert_array_equal(got, run(model, [x], "compiled"))


@pytest.mark.parametrize("case", DW_CASES[:2] + DW_CASES[5:7], ids=repr)
def test_depthwise_vnni_against_litert(case, every_size_compiled):
    check(*_dw_model(case, "mid")[:1], [_dw_model(case, "mid")[1]])


def test_depthwise_takes_the_vnni_kernel(every_size_compiled, monkeypatch):
    calls = []
    real = compiled_igemm.depthwise3
    monkeypatch.setattr(compiled_igemm, "depthwise3",
                        lambda *a: calls.append(1) or real(*a))
    model, x = _dw_model(DW_CASES[0], "mid")
    run(model, [x], "compiled")
    assert len(calls) == 2


@pytest.mark.parametrize("seed", range(6))
def test_both_epilogues_match_the_integer_reference(seed):
    """gemm_rq with the integer epilogue and with the float64 one (forced) against
    arith.multiply_by_quantized_multiplier + zero point + clamp, for random multipliers
    with right shifts 0..12, zero points, clamp bounds below and above the zero point
    (the negative-side step on and off), accumulators spread over the clamp range."""
    from edgelite.kernels.quant import arith
    from edgelite.kernels.quant.conv import _plan_matrix
    from edgelite.kernels.quant.qutil import Requantizer
    rng = _rng("epilogues", seed)
    m_rows, k, n = 23, 36, 37
    x = rng.integers(-128, 128, (m_rows, k)).astype(np.int8)
    w = rng.integers(-128, 128, (k, n))
    mult = rng.integers(1 << 30, (1 << 31) - 1, n)
    shift = -rng.integers(0, 13, n)
    shift[:3] = 0
    zp = int(rng.integers(-20, 20))
    lo, hi = (-128, 127) if seed % 2 else (zp, min(127, zp + 90))
    rq = Requantizer(mult, shift, zp, lo, hi)
    bias = rng.integers(-(1 << 16), 1 << 16, n)
    # scale the accumulators into the multipliers' range: acc * 2^-shift ~ +-100
    x_lo = x.astype(np.int64) @ w
    corr = bias - 128 * w.sum(axis=0)
    bound = 128 * np.abs(w).sum(axis=0) + np.abs(bias)
    plan = _plan_matrix(rq, n, corr, acc_bound=bound)
    assert plan is not None
    wpk, kq, npad = compiled_igemm.pack_weights(w)
    xb = np.zeros(m_rows * k + 4, np.int8)
    xb[:m_rows * k] = x.reshape(-1)
    ep_i = compiled_igemm.epilogue(rq, plan, corr, n, npad, bound)
    assert ep_i[-1], "the integer epilogue should apply"
    pv, lo_f, hi_f, zp32, need = compiled_igemm.padded_plan(plan, n, npad)
    ep_f = (pv, ep_i[1], lo_f, hi_f, ep_i[4], ep_i[5], zp32, need, False)
    want = np.clip(arith.multiply_by_quantized_multiplier(x_lo + bias, mult, shift) + zp, lo, hi)
    assert len(np.unique(want)) > 20
    for ep in (ep_i, ep_f):
        out = np.zeros((m_rows, n), np.int8)
        compiled_igemm.gemm_rq(xb, np.int64(k), m_rows, kq, wpk, ep,
                               out, np.zeros((4, npad), np.int32), np.zeros(256, np.int8))
        np.testing.assert_array_equal(out, want)


def test_integer_epilogue_without_a_float_plan():
    """epilogue() tries the integer form first and makes the float64 plan (a function
    here) only when that form does not apply. A requantization whose float64 plan does
    not exist (every output below the clamp: a constant node) still gets the integer
    epilogue, and gemm_rq gives the integer reference."""
    from edgelite.kernels.quant import arith
    from edgelite.kernels.quant.conv import _plan_matrix
    from edgelite.kernels.quant.qutil import Requantizer
    rng = _rng("constant", 0)
    m_rows, k, n = 9, 20, 17
    x = rng.integers(-128, 128, (m_rows, k)).astype(np.int8)
    w = rng.integers(-128, 128, (k, n))
    mult = np.full(n, 1 << 30)
    shift = np.full(n, -30)                     # |result| <= 1 for any int32 accumulator
    rq = Requantizer(mult, shift, -128, -120, 127)
    corr = -128 * w.sum(axis=0)
    bound = 128 * np.abs(w).sum(axis=0)
    assert _plan_matrix(rq, n, corr, acc_bound=bound) is None
    made = []
    wpk, kq, npad = compiled_igemm.pack_weights(w)
    ep = compiled_igemm.epilogue(rq, lambda: made.append(1), corr, n, npad, bound)
    assert ep is not None and ep[-1] and made == []
    xb = np.zeros(m_rows * k + 4, np.int8)
    xb[:m_rows * k] = x.reshape(-1)
    out = np.zeros((m_rows, n), np.int8)
    compiled_igemm.gemm_rq(xb, np.int64(k), m_rows, kq, wpk, ep, out,
                           np.zeros((4, npad), np.int32), np.zeros(256, np.int8))
    want = np.clip(arith.multiply_by_quantized_multiplier(x.astype(np.int64) @ w, mult, shift)
                   - 128, -120, 127)
    np.testing.assert_array_equal(out, want)
    # with the integer form declined, the plan function is called (and None is passed on)
    assert compiled_igemm.epilogue(rq, lambda: made.append(1), corr, n, npad,
                                   np.full(n, 2.0 ** 31)) is None and made == [1]


@pytest.mark.parametrize("kind", ["conv", "dw"])
@pytest.mark.parametrize("idx", [0, 1, 2, 5])
def test_float_epilogue_path(kind, idx, every_size_compiled, monkeypatch):
    """With the integer epilogue declined (int_plan -> None, as for accumulators beyond
    int32), the float64 epilogue (and, for depthwise, the unfused interior runs) give the
    numpy tier's results too."""
    monkeypatch.setattr(compiled_igemm, "int_plan", lambda *a, **k: None)
    if kind == "conv":
        model, x = _conv_model(CONV_CASES[idx], "mid", True)
    else:
        model, x = _dw_model(DW_CASES[idx], "lo")
    np.testing.assert_array_equal(run(model, [x], "compiled"), run(model, [x], "numpy"))
