"""The compiled tier's register-tiled GEMM (edgelite.kernels.compiled_gemm).

Unit level: every tile shape on odd products (M, K, N not multiples of the tile,
N below the tile's width, K = 1), against a float64 reference and against the
numpy tier's arithmetic (np.matmul, bias add, clamp) within the float tolerance,
and nothing written outside the output. Model level: CONV_2D nodes that take the
GEMM (1x1 direct, implicit GEMM over the input, im2col pack, channel-major
columns, CONV_3D) give the numpy tier's result within the float tolerance.
"""
from __future__ import annotations

import numpy as np
import pytest

from edgelite.kernels import compiled
from tests.kernels.test_compiled import BOUNDS, assert_close, conv_model, ref_conv, run, seed_of

needs_numba = pytest.mark.skipif(not compiled.ENABLED, reason=compiled.REASON)


@pytest.fixture(autouse=True)
def compiled_for_every_size(monkeypatch):
    """The compiled tier normally skips small nodes; these tests use small shapes."""
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)


def _gemm_for(w, bias, m, bounds, tile):
    from edgelite.kernels import compiled_gemm as cg
    g = cg.Gemm(w, bias, m, bounds)
    mr, nv = tile
    g.mr, g.nv, g.mr_t, g.nv_t = mr, nv, (0,) * mr, (0,) * nv
    g.panels, g.bias = cg.pack_panels(w, nv), cg.pad_bias(bias, w.shape[1], nv)
    return g


SHAPES = [(1, 1, 1), (13, 1, 5), (5, 3, 16), (37, 7, 17), (25, 33, 65), (12, 16, 16),
          (7, 3, 100), (49, 40, 24), (100, 19, 48), (6, 2, 64)]


@needs_numba
@pytest.mark.parametrize("shape", SHAPES, ids=repr)
@pytest.mark.parametrize("act", ["NONE", "RELU6", "RELU_N1_TO_1"])
def test_gemm_every_tile(shape, act):
    from edgelite.kernels import compiled_gemm as cg
    m, k, n = shape
    rng = np.random.default_rng(seed_of(shape, act))
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    lo, hi = BOUNDS[act]
    want = np.clip(a.astype(np.float64) @ w + bias, lo, hi)
    numpy_tier = np.clip(np.matmul(a, w) + bias, lo, hi).astype(np.float64)
    bounds = (None if lo == -np.inf else lo, None if hi == np.inf else hi)
    for tile in cg.TILES:
        g = _gemm_for(w, bias, m, bounds, tile)
        # guard rows and columns around the output: nothing may be written there
        buf = np.full((m + 2, n + 5), 7.5, np.float32)
        g.run(a, buf[1:m + 1, 2:n + 2])
        got = buf[1:m + 1, 2:n + 2]
        assert_close(got, want)
        assert_close(got, numpy_tier)
        guard = buf.copy()
        guard[1:m + 1, 2:n + 2] = 7.5
        assert (guard == 7.5).all(), f"tile {tile} wrote outside the output"


@needs_numba
def test_gemm_no_bias_nan_and_strided_input():
    from edgelite.kernels import compiled_gemm as cg
    rng = np.random.default_rng(5)
    big = rng.standard_normal((40, 30)).astype(np.float32)
    a = big[::2, 3:14]                           # [20, 11], strided rows
    a[4, 2] = np.nan
    w = rng.standard_normal((11, 21)).astype(np.float32)
    want = np.clip(a.astype(np.float64) @ w, 0.0, 6.0)      # NaN rows stay NaN (no clamp)
    for tile in cg.TILES:
        g = _gemm_for(w, None, 20, (0.0, 6.0), tile)
        out = np.empty((20, 21), np.float32)
        g.run(a, out)
        assert np.isnan(out[4]).all()
        keep = ~np.isnan(want)
        np.testing.assert_array_equal(np.isnan(out), ~keep)
        assert_close(np.where(keep, out, 0.0), np.where(keep, want, 0.0))


@needs_numba
def test_choose_tile_is_a_compiled_tile():
    from edgelite.kernels import compiled_gemm as cg
    for m, k, n in [(12544, 32, 16), (3136, 24, 144), (196, 384, 64), (49, 960, 160), (1, 9, 1),
                    (7, 7, 7)]:
        assert cg.choose_tile(m, k, n) in cg.TILES
    assert cg.choose_tile(12544, 32, 16) == (12, 1)       # N = 16: one vector, no padding


# (x shape, filter shape, strides, dilations, padding, activation, bias, compiled path)
GEMM_CONV_CASES = [
    ((1, 7, 9, 5), (17, 1, 1, 5), (1, 1), (1, 1), "SAME", "RELU6", True, "direct"),
    ((2, 5, 3, 1), (3, 1, 1, 1), (1, 1), (1, 1), "VALID", "NONE", True, "direct"),   # K = 1
    ((1, 8, 8, 24), (70, 1, 1, 24), (1, 1), (1, 1), "SAME", "RELU", False, "direct"),
    ((1, 9, 7, 6), (33, 3, 3, 6), (2, 1), (1, 1), "SAME", "RELU_N1_TO_1", True, "implicit"),
    ((2, 11, 10, 16), (48, 3, 3, 16), (1, 1), (2, 1), "VALID", "NONE", True, "implicit"),
    ((1, 23, 34, 3), (20, 3, 3, 3), (2, 2), (1, 1), "SAME", "RELU6", True, "implicit"),
    ((1, 6, 6, 16), (24, 1, 1, 16), (2, 2), (1, 1), "SAME", "NONE", True, "implicit"),
    ((1, 7, 7, 1), (2, 5, 5, 1), (3, 3), (1, 1), "SAME", "NONE", False, "implicit"),
    ((1, 9, 8, 6), (13, 3, 3, 6), (1, 1), (1, 2), "SAME", "RELU6", True, "pack"),
    ((1, 20, 40, 3), (20, 3, 3, 3), (1, 1), (1, 2), "SAME", "RELU6", True, "transposed"),
    ((1, 20, 38, 2), (5, 3, 2, 2), (1, 1), (2, 2), "VALID", "NONE", False, "transposed"),
]


def _path(k) -> str:
    if k.direct:
        return "direct"
    if k.implicit:
        return "implicit"
    return "pack" if k.pack_c else "transposed" if k.transposed else "columns"


@pytest.mark.parametrize("xs,ws,s,d,pad,act,has_bias,path", GEMM_CONV_CASES)
def test_conv2d_gemm_equals_numpy_tier(xs, ws, s, d, pad, act, has_bias, path, monkeypatch):
    from edgelite.kernels import conv
    rng = np.random.default_rng(seed_of(xs, ws, s, d, pad, act, has_bias))
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    bias = rng.standard_normal(ws[0]).astype(np.float32) if has_bias else None
    model = conv_model("CONV_2D", x, w, bias, padding=pad, stride_h=s[0], stride_w=s[1],
                       dilation_h_factor=d[0], dilation_w_factor=d[1],
                       fused_activation_function=act)
    want = ref_conv(x, w, bias, s, d, pad, act, depthwise=False)
    numpy_tier = run(model, [x], "numpy")
    assert_close(numpy_tier, want)
    if compiled.ENABLED:
        used = []
        real = conv._ImageToColumnsConv._invoke_gemm_c

        def spy(self, ictx):
            used.append(_path(self))
            real(self, ictx)
        monkeypatch.setattr(conv._ImageToColumnsConv, "_invoke_gemm_c", spy)
        got = run(model, [x], "compiled")
        assert used and set(used) == {path}
        assert_close(got, want)
        assert_close(got, numpy_tier.astype(np.float64))


@pytest.mark.parametrize("pad,act", [("SAME", "RELU6"), ("VALID", "NONE")])
def test_conv3d_gemm_equals_numpy_tier(pad, act, monkeypatch):
    """CONV_3D's numpy im2col columns feed the compiled GEMM."""
    from edgelite.format.builder import ModelBuilder
    from edgelite.kernels import conv
    rng = np.random.default_rng(seed_of("conv3d", pad, act))
    x = rng.standard_normal((2, 3, 6, 5, 3)).astype(np.float32)
    w = rng.standard_normal((2, 3, 2, 3, 19)).astype(np.float32)
    bias = rng.standard_normal(19).astype(np.float32)
    b = ModelBuilder()
    xi = b.add_input("x", x.shape, np.float32)
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op("CONV_3D", [xi, b.add_constant("w", w), b.add_constant("b", bias)], [y],
             padding=pad, stride_d=1, stride_h=2, stride_w=1, dilation_d_factor=1,
             dilation_h_factor=1, dilation_w_factor=1, fused_activation_function=act)
    b.add_output(y)
    model = b.to_bytes()
    numpy_tier = run(model, [x], "numpy")
    if compiled.ENABLED:
        used = []
        real = conv._ImageToColumnsConv._invoke_gemm_c

        def spy(self, ictx):
            used.append(self)
            real(self, ictx)
        monkeypatch.setattr(conv._ImageToColumnsConv, "_invoke_gemm_c", spy)
        got = run(model, [x], "compiled")
        assert used
        assert_close(got, numpy_tier.astype(np.float64))


@needs_numba
@pytest.mark.parametrize("xs,kernel,stride,dh,o", [((2, 9, 11, 3), (3, 3), (2, 1), 1, 20),
                                                  ((1, 7, 30, 5), (2, 4), (1, 3), 2, 37),
                                                  ((1, 5, 5, 1), (1, 1), (1, 1), 1, 1)])
def test_conv_rows_every_tile(xs, kernel, stride, dh, o):
    """The implicit GEMM over a strided [N, OH, KH, OW, KW*C] view, every tile."""
    from numpy.lib.stride_tricks import as_strided

    from edgelite.kernels import compiled_gemm as cg
    rng = np.random.default_rng(seed_of("rows", xs, kernel, stride, dh, o))
    x = rng.standard_normal(xs).astype(np.float32)
    n, h, wd, c = xs
    kh, kw = kernel
    oh, ow = (h - (kh - 1) * dh - 1) // stride[0] + 1, (wd - kw) // stride[1] + 1
    w = rng.standard_normal((kh * kw * c, o)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    s0, s1, s2, s3 = x.strides
    a5 = as_strided(x, (n, oh, kh, ow, kw * c), (s0, stride[0] * s1, dh * s1, stride[1] * s2, s3))
    cols = np.concatenate([a5[:, :, ky] for ky in range(kh)], -1).astype(np.float64)
    want = np.clip(cols @ w + bias, 0.0, 6.0)
    for mr, nv in cg.TILES:
        out = np.full((n, oh, ow, o), np.nan, np.float32)
        cg.conv_rows(a5, cg.pack_panels(w, nv), cg.pad_bias(bias, o, nv), out, np.float32(0.0),
                     np.float32(6.0), (0,) * mr, (0,) * nv)
        assert_close(out, want)


DW_SHAPES = [(1, 16, 16, 16, 1, 1, 1, 1), (2, 9, 7, 5, 1, 1, 1, 1), (1, 13, 11, 19, 2, 1, 0, 0),
             (1, 8, 9, 33, 1, 2, 2, 2), (1, 3, 2, 16, 2, 1, 1, 1), (1, 6, 10, 1, 1, 1, 1, 0),
             (2, 7, 7, 48, 2, 2, 1, 2), (1, 1, 1, 7, 1, 1, 1, 1)]


@needs_numba
@pytest.mark.parametrize("n,h,w,c,s,d,pt,pl", DW_SHAPES)
@pytest.mark.parametrize("has_bias", [True, False])
def test_vector_depthwise_equals_compiled_kernel(n, h, w, c, s, d, pt, pl, has_bias):
    """compiled_gemm.depthwise_conv2d_3x3 gives compiled.depthwise_conv2d_3x3's values
    (each the numpy per-tap loop up to the sign of zero), borders, strides, dilation,
    masked channel tails and NaN included."""
    from edgelite.kernels import compiled_gemm as cg
    rng = np.random.default_rng(seed_of("dwv", n, h, w, c, s, d, pt, pl, has_bias))
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    x.reshape(-1)[::17] = np.nan
    oh = max((h + 2 * pt - 2 * d - 1) // s + 1, 1)
    ow = max((w + 2 * pl - 2 * d - 1) // s + 1, 1)
    w3 = rng.standard_normal((3, 3 * c)).astype(np.float32)
    bias = rng.standard_normal(c).astype(np.float32)
    geom = np.array([h, c, s, s, d, d, pt, pl], np.int64)
    for lo, hi in [(0.0, 6.0), (-np.inf, np.inf)]:
        want = np.full((n * oh, ow * c), 9.0, np.float32)
        got = np.full((n * oh, ow * c + 5), 9.0, np.float32)
        args = (x.reshape(n * h, w * c), w3, bias, has_bias)
        compiled.depthwise_conv2d_3x3(*args, want, geom, np.float32(lo), np.float32(hi))
        cg.depthwise_conv2d_3x3(*args, got[:, :ow * c], geom, np.float32(lo), np.float32(hi))
        np.testing.assert_array_equal(got[:, :ow * c], want)
        assert (got[:, ow * c:] == 9.0).all()


def test_small_nodes_use_the_tier_only_once_numba_is_loaded(monkeypatch):
    """COMPILED_SMALL_OUTPUT: below COMPILED_MIN_OUTPUT a kernel asking `small_ok`
    gets the compiled module only when it is already imported (and enabled)."""
    import sys

    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 3072)
    monkeypatch.setattr(conv, "COMPILED_SMALL_NODES", True)     # (conftest turns it off)
    size = conv.COMPILED_SMALL_OUTPUT + 1
    assert conv.compiled_tier(size) is None
    assert conv.compiled_tier(conv.COMPILED_SMALL_OUTPUT - 1, small_ok=True) is None
    if compiled.ENABLED:
        assert "edgelite.kernels.compiled" in sys.modules
        assert conv.compiled_tier(size, small_ok=True) is compiled
        assert conv.compiled_tier_if_loaded(1) is compiled
    monkeypatch.delitem(sys.modules, "edgelite.kernels.compiled")
    assert conv.compiled_tier(size, small_ok=True) is None
    assert conv.compiled_tier_if_loaded(1) is None


def test_model_of_small_nodes_does_not_load_numba():
    """A small conv + 2x2 pool model (nodes under COMPILED_MIN_OUTPUT) never imports
    numba in a fresh process."""
    import subprocess
    import sys
    code = '''
import sys, numpy as np, edgelite
from edgelite.format.builder import ModelBuilder
b = ModelBuilder()
x = b.add_input("x", (1, 8, 8, 4), np.float32)
y = b.add_tensor("y", (1,), np.float32)
z = b.add_tensor("z", (1,), np.float32)
w = np.ones((8, 3, 3, 4), np.float32)
b.add_op("CONV_2D", [x, b.add_constant("w", w)], [y], padding="SAME", stride_h=1, stride_w=1)
b.add_op("AVERAGE_POOL_2D", [y], [z], padding="VALID", stride_h=2, stride_w=2,
         filter_height=2, filter_width=2)
b.add_output(z)
it = edgelite.Interpreter(model_content=b.to_bytes())
it.allocate_tensors()
it.set_tensor(it.get_input_details()[0]["index"], np.ones((1, 8, 8, 4), np.float32))
it.invoke()
print("numba" in sys.modules)
'''
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_small_nodes_after_numba_loaded_equal_numpy_tier(monkeypatch):
    """With the default thresholds and numba loaded: an 8x8x32 conv (implicit GEMM)
    and a 2x2 average pool of 512 outputs take the compiled tier; within the float
    tolerance of the numpy tier."""
    from edgelite.format.builder import ModelBuilder
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_SMALL_NODES", True)     # (conftest turns it off)
    assert conv.COMPILED_MIN_OUTPUT == 0    # the autouse fixture; restore the default
    rng = np.random.default_rng(3)
    b = ModelBuilder()
    x = b.add_input("x", (1, 8, 8, 16), np.float32)
    y = b.add_tensor("y", (1,), np.float32)
    z = b.add_tensor("z", (1,), np.float32)
    w = rng.standard_normal((32, 3, 3, 16)).astype(np.float32)
    bias = rng.standard_normal(32).astype(np.float32)
    b.add_op("CONV_2D", [x, b.add_constant("w", w), b.add_constant("b", bias)], [y],
             padding="SAME", stride_h=1, stride_w=1, fused_activation_function="RELU6")
    b.add_op("AVERAGE_POOL_2D", [y], [z], padding="VALID", stride_h=2, stride_w=2,
             filter_height=2, filter_width=2)
    b.add_output(z)
    model = b.to_bytes()
    xv = rng.standard_normal((1, 8, 8, 16)).astype(np.float32)
    import edgelite
    saved = conv.COMPILED_MIN_OUTPUT
    conv.COMPILED_MIN_OUTPUT = 3072
    try:
        want = run(model, [xv], "numpy")
        got = run(model, [xv], "compiled" if compiled.ENABLED else "numpy")
        if compiled.ENABLED:
            it = edgelite.Interpreter(model_content=model)
            it.allocate_tensors()
            kernels = it._main.kernels
            assert kernels[0].implicit and kernels[1].compiled is not None
    finally:
        conv.COMPILED_MIN_OUTPUT = saved
    assert_close(got, want.astype(np.float64))


# ---------------------------------------------------------------- numpy tier buffers
PLANAR_CASES = [
    ((1, 20, 18, 3), (8, 3, 3, 3), (1, 1), "SAME", "RELU6", True),
    ((2, 9, 17, 2), (5, 3, 3, 2), (1, 1), "SAME", "RELU", False),
    ((1, 12, 36, 2), (7, 3, 3, 2), (2, 2), "SAME", "NONE", True),
    ((1, 11, 40, 1), (4, 5, 5, 1), (1, 1), "VALID", "RELU_N1_TO_1", True),
    ((1, 6, 70, 4), (3, 1, 3, 4), (1, 1), "SAME", "NONE", False),
]


@pytest.mark.parametrize("xs,ws,d,pad,act,has_bias", PLANAR_CASES)
def test_planar_columns_numpy_tier(xs, ws, d, pad, act, has_bias, monkeypatch):
    """Numpy tier, channel-major columns, stride 1: the planar input and wide GEMM
    rows (conv._ImageToColumnsConv._invoke_planar); vs float64, LiteRT (with a bias)
    and the strided-copy path, over two different inputs (the private buffer's borders stay
    zero)."""
    import edgelite
    from edgelite.kernels import conv
    from tests.oracle import FLOAT_TOL, max_error, run_litert
    rng = np.random.default_rng(seed_of("planar", xs, ws, d, pad, act, has_bias))
    w = rng.standard_normal(ws).astype(np.float32)
    bias = rng.standard_normal(ws[0]).astype(np.float32) if has_bias else None
    model = conv_model("CONV_2D", np.zeros(xs, np.float32), w, bias, padding=pad,
                       stride_h=1, stride_w=1, dilation_h_factor=d[0], dilation_w_factor=d[1],
                       fused_activation_function=act)
    saved = compiled.ENABLED
    compiled.ENABLED = False
    try:
        it = edgelite.Interpreter(model_content=model)
        it.allocate_tensors()
        monkeypatch.setattr(conv, "_PRIVATE_PLANAR_BYTES", 0)
        it_ref = edgelite.Interpreter(model_content=model)
        it_ref.allocate_tensors()
    finally:
        compiled.ENABLED = saved
    assert [k.planar is not None for k in it._main.kernels] == [True]
    assert [k.planar is None and k.transposed for k in it_ref._main.kernels] == [True]
    for _ in range(2):
        x = rng.standard_normal(xs).astype(np.float32)
        outs = _outputs((it, it_ref), x)
        assert_close(outs[0], ref_conv(x, w, bias, (1, 1), d, pad, act, depthwise=False))
        assert_close(outs[0], outs[1].astype(np.float64))
        if has_bias:        # LiteRT's float CONV_2D requires a bias
            assert max_error(outs[0], run_litert(model, [x])[0]) <= FLOAT_TOL


def _numpy_interpreters(model, monkeypatch, attr: str, values) -> list:
    """One numpy-tier interpreter of the model per value of conv.<attr>."""
    import edgelite
    from edgelite.kernels import conv
    its = []
    saved = compiled.ENABLED
    compiled.ENABLED = False
    try:
        for v in values:
            monkeypatch.setattr(conv, attr, v)
            it = edgelite.Interpreter(model_content=model)
            it.allocate_tensors()
            its.append(it)
    finally:
        compiled.ENABLED = saved
    return its


def _outputs(its, x) -> list:
    """Each interpreter's output for input x (copies)."""
    outs = []
    for it in its:
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    return outs


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D"])
def test_private_padded_input_equals_scratch(op, monkeypatch):
    """Small padded inputs live in a private buffer (borders written once): the same
    values as the shared-scratch path, over two different inputs."""
    from edgelite.kernels import conv
    rng = np.random.default_rng(seed_of("private", op))
    xs = (1, 9, 10, 16)
    w = rng.standard_normal((24, 3, 3, 16) if op == "CONV_2D" else (1, 3, 3, 16))
    w = w.astype(np.float32)
    bias = rng.standard_normal(w.shape[0] if op == "CONV_2D" else 16).astype(np.float32)
    model = conv_model(op, np.zeros(xs, np.float32), w, bias, padding="SAME", stride_h=1,
                       stride_w=1, fused_activation_function="RELU6",
                       **({"depth_multiplier": 1} if op != "CONV_2D" else {}))
    its = _numpy_interpreters(model, monkeypatch, "_PRIVATE_PAD_BYTES",
                              (conv._PRIVATE_PAD_BYTES, 0))
    assert its[0]._main.kernels[0].pad_own is not None
    assert its[1]._main.kernels[0].pad_own is None
    for _ in range(2):
        x = rng.standard_normal(xs).astype(np.float32)
        outs = _outputs(its, x)
        np.testing.assert_array_equal(outs[0], outs[1])
        assert_close(outs[0], ref_conv(x, w, bias, (1, 1), (1, 1), "SAME", "RELU6",
                                       depthwise=op != "CONV_2D"))


@pytest.mark.parametrize("xs,ws,s,pad,act", [((1, 8, 8, 16), (32, 3, 3, 16), (2, 2), "SAME", "RELU"),
                                             ((2, 7, 9, 6), (5, 2, 3, 6), (1, 2), "VALID",
                                              "RELU6")])
def test_private_row_major_columns_fold_bias(xs, ws, s, pad, act, monkeypatch):
    """Numpy tier, small row-major columns: a private [rows, K + 1] buffer with a ones
    column (the bias folded into the GEMM); vs float64, LiteRT and the epilogue bias."""
    from tests.oracle import FLOAT_TOL, max_error, run_litert
    rng = np.random.default_rng(seed_of("foldrows", xs, ws, s, pad, act))
    w = rng.standard_normal(ws).astype(np.float32)
    bias = rng.standard_normal(ws[0]).astype(np.float32)
    model = conv_model("CONV_2D", np.zeros(xs, np.float32), w, bias, padding=pad,
                       stride_h=s[0], stride_w=s[1], fused_activation_function=act)
    its = _numpy_interpreters(model, monkeypatch, "_FOLD_BIAS", (True, False))
    assert its[0]._main.kernels[0].col_own is not None and its[0]._main.kernels[0].fold_bias
    assert its[1]._main.kernels[0].col_own is None
    for _ in range(2):
        x = rng.standard_normal(xs).astype(np.float32)
        outs = _outputs(its, x)
        assert_close(outs[0], ref_conv(x, w, bias, s, (1, 1), pad, act, depthwise=False))
        assert_close(outs[0], outs[1].astype(np.float64))
        assert max_error(outs[0], run_litert(model, [x])[0]) <= FLOAT_TOL


def test_depthwise_inf_weight_border_like_numpy_tier():
    """An infinite weight: border taps are zeros times the weight (NaN) in both tiers
    (the vector kernel reads taps outside the input as zeros, as the numpy tier's
    zero-bordered copy does)."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 6, 7, 40)).astype(np.float32)
    w = rng.standard_normal((1, 3, 3, 40)).astype(np.float32)
    w[0, 0, 0, 3] = np.inf
    bias = rng.standard_normal(40).astype(np.float32)
    model = conv_model("DEPTHWISE_CONV_2D", x, w, bias, padding="SAME", stride_h=1,
                       stride_w=1, depth_multiplier=1, fused_activation_function="NONE")
    want = run(model, [x], "numpy")
    got = run(model, [x], "compiled" if compiled.ENABLED else "numpy")
    assert np.isnan(want[0, 0, :, 3]).all() and np.isnan(want[0, :, 0, 3]).all()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    assert_close(np.where(finite, got, 0.0), np.where(finite, want, 0.0).astype(np.float64))


@pytest.mark.parametrize("batch,k,units,act,has_bias,keep", [
    (64, 128, 70, "RELU6", True, True), (5, 33, 17, "NONE", False, False),
    (2, 1, 40, "RELU", True, False), (13, 64, 16, "RELU_N1_TO_1", True, True)])
def test_fully_connected_gemm_equals_numpy_tier(batch, k, units, act, has_bias, keep):
    """FULLY_CONNECTED with constant weights and a batch of rows takes the compiled
    GEMM; within the float tolerance of the numpy tier and float64."""
    import edgelite
    from edgelite.format.builder import ModelBuilder
    rng = np.random.default_rng(seed_of("fc", batch, k, units, act, has_bias, keep))
    x = rng.standard_normal((1, batch, k)).astype(np.float32)
    w = rng.standard_normal((units, k)).astype(np.float32)
    bias = rng.standard_normal(units).astype(np.float32) if has_bias else None
    b = ModelBuilder()
    xi = b.add_input("x", x.shape, np.float32)
    ins = [xi, b.add_constant("w", w)] + ([b.add_constant("b", bias)] if has_bias else [])
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op("FULLY_CONNECTED", ins, [y], fused_activation_function=act, keep_num_dims=keep)
    b.add_output(y)
    model = b.to_bytes()
    want = np.clip(x.reshape(batch, k).astype(np.float64) @ w.T + (bias if has_bias else 0.0),
                   *BOUNDS[act])
    numpy_tier = run(model, [x], "numpy")
    assert_close(numpy_tier.reshape(batch, units), want)
    if compiled.ENABLED:
        saved = compiled.ENABLED
        it = edgelite.Interpreter(model_content=model)
        it.allocate_tensors()
        compiled.ENABLED = saved
        assert it._main.kernels[0].gemm_c is not None
        got = run(model, [x], "compiled")
        assert got.shape == numpy_tier.shape
        assert_close(got.reshape(batch, units), want)
        assert_close(got, numpy_tier.astype(np.float64))


@needs_numba
@pytest.mark.parametrize("layout", ["view of [N, K] rows", "C-contiguous [K, N]"])
def test_pack_panels_layout(layout):
    """Panels hold w's columns 16 * nv at a time, [K, 16 nv] each, the last zero padded,
    whether w is a convolution filter's transposed view or a contiguous matrix."""
    from edgelite.kernels import compiled_gemm as cg
    rng = np.random.default_rng(3)
    for k, n in [(1, 1), (3, 16), (27, 32), (5, 100), (64, 17), (10, 48), (7, 0)]:
        rows = rng.standard_normal((n, k)).astype(np.float32)
        w = rows.T if layout.startswith("view") else np.ascontiguousarray(rows.T)
        for nv in (1, 2, 3, 4):
            nr = 16 * nv
            panels = cg.pack_panels(w, nv)
            assert panels.shape == (-(-n // nr), k, nr) and panels.flags.c_contiguous
            for p in range(panels.shape[0]):
                width = min(nr, n - p * nr)
                np.testing.assert_array_equal(panels[p, :, :width], w[:, p * nr:p * nr + width])
                assert not panels[p, :, width:].any()


def test_transposed_copy():
    from edgelite.kernels.common import transposed_copy
    rng = np.random.default_rng(4)
    for shape in [(1, 1), (63, 5), (64, 9), (65, 3), (200, 130), (0, 4), (4, 0)]:
        w = rng.integers(-128, 128, shape).astype(np.int8)
        for dtype in (None, np.float32):
            t = transposed_copy(w, dtype)
            assert t.flags.c_contiguous and t.dtype == (w.dtype if dtype is None else dtype)
            np.testing.assert_array_equal(t, w.T.astype(t.dtype))
