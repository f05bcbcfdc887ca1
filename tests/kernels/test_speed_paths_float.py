"""Speed paths of the float non-convolution kernels, each against its reference:
the float64 definition (dense grids, special values) or LiteRT via tests/oracle.py."""
from __future__ import annotations

import math
import types

import numpy as np
import pytest
from oracle import check_against_litert

from edgelite.format.builder import ModelBuilder
from edgelite.kernels import compiled
from edgelite.kernels.activations import gelu_float32

IMPLS = ["numpy"] + (["compiled"] if compiled.ENABLED else [])


def run_tier(model: bytes, inputs, impl: str, monkeypatch) -> np.ndarray:
    """Run a model with the kernels of one tier (chosen at prepare), every node size."""
    import edgelite
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)
    monkeypatch.setattr(compiled, "ENABLED", impl == "compiled")
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    monkeypatch.undo()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


def gelu_exact(x: np.ndarray) -> np.ndarray:
    """0.5 x erfc(-x / sqrt(2)) in float64 (scalar math.erfc)."""
    xd = x.astype(np.float64)
    return 0.5 * xd * np.array([math.erfc(-v / math.sqrt(2.0)) for v in xd.tolist()])


def run_gelu32(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, np.float32).reshape(-1)
    out, s, h = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    with np.errstate(all="ignore"):
        gelu_float32(x, out, s, h)
    return out


def test_gelu_float32_dense_grid():
    """Every 2^-12 step on [-12, 12] and a log grid out to 1e6: within 2.5e-7 of
    the float64 definition, relative to max(1, |ref|) (LiteRT's tolerance is 1e-5)."""
    lin = np.arange(-12 * 4096, 12 * 4096 + 1) / 4096.0
    mags = np.geomspace(1e-30, 1e6, 20001)
    x = np.concatenate([lin, mags, -mags]).astype(np.float32)
    want = gelu_exact(x)
    got = run_gelu32(x).astype(np.float64)
    err = np.abs(got - want) / np.maximum(1.0, np.abs(want))
    assert err.max() < 2.5e-7, (err.max(), x[err.argmax()])
    # The negative tail keeps its sign and decays to (-)0 instead of going NaN.
    assert np.all(got[x < 0] <= 0.0) and np.all(got[x > 0] > 0.0)


def test_gelu_float32_special_values():
    x = np.array([np.inf, -np.inf, np.nan, 3.4e38, -3.4e38, 1e-40, -1e-40, 0.0, -0.0,
                  1e10, -1e10, 1e19, -1e19], np.float32)
    got = run_gelu32(x)
    assert got[0] == np.inf
    assert np.isnan(got[1]) and np.isnan(got[2])      # -inf * erfc(inf) = -inf * 0
    assert got[3] == np.float32(3.4e38) and got[4] == 0.0
    assert abs(float(got[5]) - 0.5e-40) < 1e-44 and abs(float(got[6]) + 0.5e-40) < 1e-44
    assert got[7] == 0.0 and got[8] == 0.0
    assert got[9] == np.float32(1e10) and got[10] == 0.0
    assert got[11] == np.float32(1e19) and got[12] == 0.0


def gelu_model(shape) -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", shape, np.float32)
    y = b.add_tensor("y", shape, np.float32)
    b.add_op("GELU", [x], [y], version=1, approximate=False)
    b.add_output(y)
    return b.to_bytes()


def gelu_grid() -> np.ndarray:
    lin = np.arange(-30 * 1024, 30 * 1024 + 1) / 1024.0
    mags = np.geomspace(1e-40, 3.4e38, 20001)
    return np.concatenate([lin, mags, -mags, [np.inf, -np.inf, np.nan, 0.0, -0.0]]
                          ).astype(np.float32)


@pytest.mark.parametrize("impl", IMPLS)
def test_gelu_tiers(impl, monkeypatch):
    """Each tier's exact GELU through the interpreter: within 2.5e-7 of float64 on
    finite results; inf, NaN and signed zeros as the numpy formula gives them."""
    x = gelu_grid()
    got = run_tier(gelu_model(x.shape), [x], impl, monkeypatch)
    want = run_gelu32(x)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    assert np.array_equal(got[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)])
    assert np.array_equal(np.signbit(got[fin]), np.signbit(want[fin]))
    exact = gelu_exact(x[fin])
    err = np.abs(got[fin].astype(np.float64) - exact) / np.maximum(1.0, np.abs(exact))
    assert err.max() < 2.5e-7, (err.max(), x[fin][err.argmax()])
    if impl == "compiled":   # and the tiers agree (chunk edges: sizes around 4096)
        for n in (1, 4095, 4096, 4097, 12289):
            xs = x[:n]
            a = run_tier(gelu_model(xs.shape), [xs], "compiled", monkeypatch)
            b = run_tier(gelu_model(xs.shape), [xs], "numpy", monkeypatch)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(64, 512), (1, 5, 7)])
def test_gelu_float32_vs_litert(shape):
    x = np.random.default_rng(7).normal(0.0, 3.0, size=shape).astype(np.float32)
    for reference in (False, True):
        check_against_litert(gelu_model(shape), [x], reference=reference)


# ---------------------------------------------------------------- SOFTMAX
def softmax_model(shape, beta) -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", shape, np.float32)
    y = b.add_tensor("y", shape, np.float32)
    b.add_op("SOFTMAX", [x], [y], beta=beta)
    b.add_output(y)
    return b.to_bytes()


def softmax_exact(x: np.ndarray, beta: float) -> np.ndarray:
    z = x.astype(np.float64) * beta
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def run_softmax(x, beta, monkeypatch=None):
    """edgelite's SOFTMAX of x, and the path it took ("shared", "logsum", "rowmax")."""
    import edgelite
    from edgelite.kernels.normalization import Softmax
    taken = []
    shifted = Softmax._invoke_shifted

    def spy(self, *args):
        taken.append(shifted(self, *args) or "rowmax")
        return taken[-1] != "rowmax"
    if monkeypatch is not None:
        monkeypatch.setattr(Softmax, "_invoke_shifted", spy)
        monkeypatch.setattr(compiled, "ENABLED", False)     # the numpy tier's paths
    it = edgelite.Interpreter(model_content=softmax_model(x.shape, beta))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]), taken


# Row offsets (times beta) that take each path: rows at most ~12 below the global
# max (shared shift), up to 40 below (per-row log-sum shift), ~1e4 below (per-row max).
SOFTMAX_OFFSETS = {"shared": 6.0, "logsum": 40.0, "rowmax": 1e4}


@pytest.mark.parametrize("path", list(SOFTMAX_OFFSETS))
@pytest.mark.parametrize("beta", [1.0, 0.125, 3.0])
@pytest.mark.parametrize("shape", [(1, 4, 64, 64), (12, 1000), (40, 2)])
def test_softmax_paths(path, beta, shape, monkeypatch):
    rng = np.random.default_rng(11)
    x = rng.normal(0.0, 1.0 / beta, size=shape).astype(np.float32)
    rows = x.reshape(-1, shape[-1])
    spread = SOFTMAX_OFFSETS[path] / beta
    rows += rng.uniform(-spread, 0.0, size=(rows.shape[0], 1)).astype(np.float32)
    rows[0] -= spread                      # one row at the far end of the range
    got, taken = run_softmax(x, beta, monkeypatch)
    assert taken == [path]
    err = np.abs(got.astype(np.float64) - softmax_exact(x, beta)).max()
    assert err < 2e-6, err
    check_against_litert(softmax_model(shape, beta), [x])
    check_against_litert(softmax_model(shape, beta), [x], reference=True)


@pytest.mark.parametrize("shape", [(1, 10), (7, 30), (5,)])
def test_softmax_few_rows_use_row_max(shape, monkeypatch):
    x = np.random.default_rng(5).normal(0.0, 3.0, size=shape).astype(np.float32)
    got, taken = run_softmax(x, 1.0, monkeypatch)
    assert taken == []
    assert np.abs(got.astype(np.float64) - softmax_exact(x, 1.0)).max() < 1e-6
    check_against_litert(softmax_model(shape, 1.0), [x])


@pytest.mark.parametrize("beta", [1.0, 0.5, 7.0])
@pytest.mark.parametrize("shape", [(1, 10), (1, 1, 1000), (3,), (1, 1)])
def test_softmax_one_row(shape, beta):
    """One float32 row: the flat-view path equals the per-row max path bit for bit
    (special values included) and LiteRT within tolerance."""
    from edgelite.kernels.normalization import Softmax
    x = np.random.default_rng(shape[-1]).normal(0.0, 3.0, size=shape).astype(np.float32)
    got, _ = run_softmax(x, beta)
    k = Softmax.__new__(Softmax)
    k.beta, k.buf, k.rows = np.float32(beta), None, np.empty(shape[:-1] + (1,), np.float32)
    want = np.empty_like(x)
    k._invoke_rowmax(x, want)
    np.testing.assert_array_equal(got, want)
    check_against_litert(softmax_model(shape, beta), [x])
    if shape[-1] >= 3:
        for special in ([np.inf], [np.nan], [-np.inf], [np.inf, -np.inf]):
            y = x.copy().reshape(-1)
            y[:len(special)] = special
            y = y.reshape(shape)
            got, _ = run_softmax(y, beta)
            with np.errstate(all="ignore"):
                k._invoke_rowmax(y, want)
            np.testing.assert_array_equal(got, want)


def test_softmax_one_row_unbound_arrays():
    import edgelite
    x = np.random.default_rng(3).normal(size=(1, 6)).astype(np.float32)
    it = edgelite.Interpreter(model_content=softmax_model((1, 6), 1.0))
    it.allocate_tensors()
    (k,) = it._main.kernels
    assert k.one_row
    xs = np.zeros((1, 12), np.float32)[:, ::2]
    xs[...] = x
    out = np.zeros((1, 12), np.float32)[:, 1::2]
    assert not xs.flags.c_contiguous and not out.flags.c_contiguous
    k.invoke(types.SimpleNamespace(inputs=[xs], outputs=[out]))
    np.testing.assert_allclose(out, softmax_exact(x, 1.0), rtol=0, atol=1e-6)


@pytest.mark.skipif(not compiled.ENABLED, reason="numba not installed")
@pytest.mark.parametrize("offset", [0.0, 6.0, 40.0, 1e4])
@pytest.mark.parametrize("beta", [1.0, 0.125, 3.0])
@pytest.mark.parametrize("shape", [(1, 4, 64, 64), (12, 1000), (40, 2), (1, 7), (3, 1)])
def test_softmax_compiled(offset, beta, shape, monkeypatch):
    """The compiled kernel (compiled_ops.softmax_rows_f32): within 2e-7 of the float64
    definition and of the numpy tier, rows far apart included; LiteRT agrees."""
    rng = np.random.default_rng(int(offset) + shape[-1])
    x = rng.normal(0.0, 1.0 / beta, size=shape).astype(np.float32)
    rows = x.reshape(-1, shape[-1])
    rows += rng.uniform(-offset / beta, 0.0, size=(rows.shape[0], 1)).astype(np.float32)
    got = run_tier(softmax_model(shape, beta), [x], "compiled", monkeypatch)
    want = run_tier(softmax_model(shape, beta), [x], "numpy", monkeypatch)
    exact = softmax_exact(x, beta)
    assert np.abs(got.astype(np.float64) - exact).max() < 2e-7
    assert np.abs(got - want).max() < 2e-7
    check_against_litert(softmax_model(shape, beta), [x])


@pytest.mark.skipif(not compiled.ENABLED, reason="numba not installed")
def test_softmax_compiled_runs_and_falls_back(monkeypatch):
    """The compiled tier takes finite inputs itself and hands inf/NaN rows to the
    numpy tier, whose results it then equals exactly."""
    import edgelite
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)
    it = edgelite.Interpreter(model_content=softmax_model((16, 8), 1.0))
    it.allocate_tensors()
    (k,) = it._main.kernels
    assert k.compiled is not None
    seen = []
    real = k.compiled

    class Spy:
        @staticmethod
        def softmax_rows_f32(*a):
            seen.append(real.softmax_rows_f32(*a))
            return seen[-1]
    k.compiled = Spy
    x = np.random.default_rng(2).normal(size=(16, 8)).astype(np.float32)
    it.set_tensor(0, x)
    it.invoke()
    assert seen == [True]
    for special in (np.inf, -np.inf, np.nan):
        y = x.copy()
        y[9, 3] = special
        it.set_tensor(0, y)
        it.invoke()
        assert seen[-1] is False
        got = it.get_tensor(it.get_output_details()[0]["index"])
        with np.errstate(all="ignore"):
            want = run_tier(softmax_model((16, 8), 1.0), [y], "numpy", monkeypatch)
        np.testing.assert_array_equal(got, want)


@pytest.mark.skipif(not compiled.ENABLED, reason="numba not installed")
@pytest.mark.parametrize("shape", [(1, 12), (3, 10), (8, 5)])
def test_softmax_few_rows_compiled_once_numba_is_loaded(shape, monkeypatch):
    """A few rows of a small SOFTMAX (a classifier's output) take the compiled kernel,
    through its bound entry point, once numba is loaded anyway (conv.COMPILED_SMALL_NODES,
    which the conftest turns off), and the numpy tier otherwise; both agree with the
    float64 definition and with LiteRT. An inf row still goes to the numpy tier."""
    import edgelite
    from edgelite.kernels import conv
    x = np.random.default_rng(shape[0]).normal(0.0, 3.0, size=shape).astype(np.float32)
    model = softmax_model(shape, 1.0)
    results = {}
    for small in (False, True):
        monkeypatch.setattr(conv, "COMPILED_SMALL_NODES", small)
        it = edgelite.Interpreter(model_content=model)
        it.allocate_tensors()
        (k,) = it._main.kernels
        assert (k.compiled is not None) == small
        it.set_tensor(0, x)
        it.invoke()
        results[small] = it.get_tensor(it.get_output_details()[0]["index"]).copy()
        if small:
            assert k._cviews[5] is not k.compiled.softmax_rows_f32   # the bound entry
            y = x.copy()
            y[0, 1] = np.inf
            it.set_tensor(0, y)
            with np.errstate(all="ignore"):
                it.invoke()
                got_inf = it.get_tensor(it.get_output_details()[0]["index"])
                want_inf = run_tier(model, [y], "numpy", monkeypatch)
            np.testing.assert_array_equal(got_inf, want_inf)
    exact = softmax_exact(x, 1.0)
    for got in results.values():
        assert np.abs(got.astype(np.float64) - exact).max() < 2e-7
    check_against_litert(model, [x])


def test_softmax_special_rows():
    x = np.array([[0.0, 1.0, 2.0], [-np.inf, 0.0, 1.0], [3e38, -3e38, 0.0],
                  [np.nan, 0.0, 1.0]], np.float32)
    for rows in (x, x[:2], x[1:3]):
        rows = np.tile(rows, (4, 1))          # enough rows for the shifted paths
        got, _ = run_softmax(rows, 1.0)
        with np.errstate(all="ignore"):
            want = softmax_exact(rows, 1.0)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- SUM / MEAN by matmul
def reduce_model(op, shape, axes, keep_dims) -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", shape, np.float32)
    a = b.add_constant("axis", np.array(axes, np.int32).reshape(-1))
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op(op, [x, a], [y], keep_dims=keep_dims)
    b.add_output(y)
    return b.to_bytes()


REDUCE_GEMV_CASES = [((1, 64, 128), [-1]), ((2, 7, 7, 16), [1, 2]), ((3, 5), [0]),
                     ((4, 1, 6, 1), [2, 3]), ((2, 3, 4), [1]), ((5, 6, 1, 3), [1, 2]),
                     ((2, 3, 4), [0, 1, 2]), ((1, 1, 9), [2, 0])]


@pytest.mark.parametrize("shape,axes", REDUCE_GEMV_CASES)
@pytest.mark.parametrize("op", ["SUM", "MEAN"])
@pytest.mark.parametrize("keep_dims", [True, False])
def test_sum_mean_by_matmul(op, shape, axes, keep_dims):
    import edgelite
    from edgelite.kernels.reduce import gemv_sum_plan
    assert gemv_sum_plan(shape, tuple(a % len(shape) for a in axes)) is not None
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    m = reduce_model(op, shape, axes, keep_dims)
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    fn = np.sum if op == "SUM" else np.mean
    want = fn(x.astype(np.float64), axis=tuple(axes), keepdims=keep_dims)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * max(1.0, np.abs(want).max()))
    check_against_litert(m, [x])


def test_sum_plan_not_contiguous_axes():
    from edgelite.kernels.reduce import gemv_sum_plan
    assert gemv_sum_plan((2, 3, 4), (0, 2)) is None
    assert gemv_sum_plan((2, 1, 3), (1,)) is None


# ---------------------------------------------------------------- pools
def pool_model(op, shape, f, s, padding="VALID", activation="NONE") -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", shape, np.float32)
    y = b.add_tensor("y", (1,), np.float32)
    b.add_op(op, [x], [y], filter_height=f[0], filter_width=f[1], stride_h=s[0],
             stride_w=s[1], padding=padding, fused_activation_function=activation)
    b.add_output(y)
    return b.to_bytes()


POOL_CASES = [((1, 32, 32, 16), (2, 2)), ((2, 9, 12, 3), (3, 2)), ((1, 8, 6, 5), (1, 3)),
              ((1, 6, 8, 4), (2, 1)), ((1, 7, 9, 2), (2, 2)), ((1, 4, 4, 1), (4, 4))]


@pytest.mark.parametrize("shape,f", POOL_CASES)
@pytest.mark.parametrize("op", ["MAX_POOL_2D", "AVERAGE_POOL_2D"])
@pytest.mark.parametrize("impl", IMPLS)
def test_pool_non_overlapping(op, shape, f, impl, monkeypatch):
    """stride == filter, no padding: the blocked numpy path (and on the compiled
    tier, 2x2 windows: compiled_ops.pool2x2_f32) against a per-window float64
    reference and LiteRT."""
    x = np.random.default_rng(9).standard_normal(shape).astype(np.float32)
    m = pool_model(op, shape, f, f, activation="RELU6")
    got = run_tier(m, [x], impl, monkeypatch)
    n, h, w, c = shape
    oh, ow = h // f[0], w // f[1]
    win = x[:, :oh * f[0], :ow * f[1]].astype(np.float64).reshape(n, oh, f[0], ow, f[1], c)
    want = win.max(axis=(2, 4)) if op == "MAX_POOL_2D" else win.mean(axis=(2, 4))
    want = np.clip(want, 0.0, 6.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    check_against_litert(m, [x])




@pytest.mark.skipif(not compiled.ENABLED, reason="compares the compiled tier with numpy")
@pytest.mark.parametrize("op", ["MAX_POOL_2D", "AVERAGE_POOL_2D"])
@pytest.mark.parametrize("shape,act", [((2, 9, 13, 7), "RELU6"), ((1, 32, 32, 16), "NONE"),
                                       ((1, 2, 2, 1), "RELU_N1_TO_1"), ((3, 4, 6, 33), "RELU")])
def test_pool2x2_compiled_equals_numpy(op, shape, act, monkeypatch):
    """The compiled 2x2/2 pool equals the numpy tier bit for bit, NaN and inf included."""
    import edgelite
    from edgelite.kernels import conv, pool
    rng = np.random.default_rng(len(shape) + shape[1] + shape[3])
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, 3, replace=False)] = [np.nan, np.inf, -np.inf]
    m = pool_model(op, shape, (2, 2), (2, 2), activation=act)
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    (k,) = [k for k in it._main.kernels if isinstance(k, pool._Pool2D)]
    assert k.compiled is not None
    monkeypatch.undo()
    got = run_tier(m, [x], "compiled", monkeypatch)
    want = run_tier(m, [x], "numpy", monkeypatch)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(want).any() or act == "RELU_N1_TO_1" or shape[1] < 4


# ---------------------------------------------------------------- ADD/SUB/MUL, constant broadcast
@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("const_first", [False, True])
@pytest.mark.parametrize("shapes", [((1, 64, 128), (128,)), ((1, 64, 1), (128,)),
                                    ((2, 3, 4), (3, 1)), ((5, 6), (5, 1))])
def test_binary_constant_prebroadcast(op, const_first, shapes):
    """A constant operand stored at the output's shape at prepare gives the same
    values as numpy's broadcast (bit for bit) and LiteRT's within tolerance."""
    import edgelite
    x_shape, c_shape = shapes
    rng = np.random.default_rng(17)
    c = rng.standard_normal(c_shape).astype(np.float32)
    x = rng.standard_normal(x_shape).astype(np.float32)
    b = ModelBuilder()
    xi = b.add_input("x", x_shape, np.float32)
    ci = b.add_constant("c", c)
    out_shape = np.broadcast_shapes(x_shape, c_shape)
    y = b.add_tensor("y", out_shape, np.float32)
    b.add_op(op, [ci, xi] if const_first else [xi, ci], [y], fused_activation_function="RELU")
    b.add_output(y)
    m = b.to_bytes()
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    assert "invoke" in vars(it._main.kernels[0])          # the prebroadcast path is taken
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    fn = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply}[op]
    want = np.maximum(fn(c, x) if const_first else fn(x, c), np.float32(0))
    np.testing.assert_array_equal(got, want)
    check_against_litert(m, [x])


# ---------------------------------------------------------------- LOGISTIC without masked ufuncs
def test_logistic_selection_matches_reference_formula():
    """reference_ops::Logistic's three branches, computed elementwise in float32
    the obvious way, equal the kernel's putmask selection bit for bit."""
    import edgelite
    from edgelite.kernels.activations import Logistic
    up, lo = Logistic.UPPER, Logistic.LOWER
    x = np.concatenate([np.linspace(-120, 120, 20001, dtype=np.float32),
                        np.nextafter(np.array([up, up, lo, lo], np.float32),
                                     np.array([0, 99, 0, -99], np.float32)),
                        [up, lo, np.inf, -np.inf, np.nan]]).astype(np.float32)
    b = ModelBuilder()
    xi = b.add_input("x", x.shape, np.float32)
    y = b.add_tensor("y", x.shape, np.float32)
    b.add_op("LOGISTIC", [xi], [y])
    b.add_output(y)
    it = edgelite.Interpreter(model_content=b.to_bytes())
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    with np.errstate(all="ignore"):
        mid = np.float32(1) / (np.float32(1) + np.exp(-x))
        want = np.where(x > up, np.float32(1), np.where(x < lo, np.exp(x), mid))
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- GATHER with constant positions
@pytest.mark.parametrize("positions", [[4, 0, 5, 5, 1], [6], [-1]])
def test_gather_constant_positions(positions):
    """In-range constant positions are resolved at prepare; an out-of-range one
    still fails at invoke, naming the index."""
    import edgelite
    x = np.arange(48, dtype=np.float32).reshape(6, 8)
    b = ModelBuilder()
    xi = b.add_input("x", x.shape, np.float32)
    pi = b.add_constant("p", np.array(positions, np.int32))
    y = b.add_tensor("y", (len(positions), 8), np.float32)
    b.add_op("GATHER", [xi, pi], [y], axis=0)
    b.add_output(y)
    m = b.to_bytes()
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    if all(0 <= p < 6 for p in positions):
        assert it._main.kernels[0].const_rows is not None
        it.invoke()
        np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]),
                                      x[positions])
        check_against_litert(m, [x])
    else:
        with pytest.raises(edgelite.OpError, match="gather index"):
            it.invoke()


# ---------------------------------------------------------------- non-contiguous arrays
def _invoke_directly(model: bytes, inputs, out: np.ndarray, impl: str, monkeypatch) -> None:
    """Prepare `model` on a tier, then run node 0's kernel on the given (possibly
    non-contiguous) arrays, as a caller outside the runtime might."""
    import edgelite
    from edgelite.kernels import conv
    from edgelite.kernels.base import InvokeContext
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)
    monkeypatch.setattr(compiled, "ENABLED", impl == "compiled")
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    monkeypatch.undo()
    ex = it._executor(0)
    ictx = ex._make_ictx(0)
    with np.errstate(all="ignore"):
        ex.kernels[0].invoke(InvokeContext(inputs, [out], ictx.scratch, ictx.prepare_ctx, None))


@pytest.mark.parametrize("impl", IMPLS)
def test_fast_paths_on_transposed_arrays(impl, monkeypatch):
    rng = np.random.default_rng(21)
    # GELU
    x = rng.normal(0, 3, (64, 40)).astype(np.float32).T
    out = np.zeros((64, 40), np.float32).T
    _invoke_directly(gelu_model(x.shape), [x], out, impl, monkeypatch)
    np.testing.assert_allclose(out, run_gelu32(np.ascontiguousarray(x)).reshape(x.shape),
                               rtol=0, atol=1e-6)
    # SOFTMAX (shared-shift sized: 40 rows)
    out = np.zeros((64, 40), np.float32).T
    _invoke_directly(softmax_model(x.shape, 1.0), [x], out, impl, monkeypatch)
    np.testing.assert_allclose(out, softmax_exact(x, 1.0), rtol=0, atol=1e-6)
    # MEAN over the last axis, output (40, 1) given as a transposed view
    m = reduce_model("MEAN", x.shape, [1], True)
    out = np.zeros((1, 40), np.float32).T
    _invoke_directly(m, [x, np.array([1], np.int32)], out, impl, monkeypatch)
    np.testing.assert_allclose(out, x.astype(np.float64).mean(axis=1, keepdims=True),
                               rtol=0, atol=1e-6)


# ---------------------------------------------------------------- clamps looked up at bind
@pytest.mark.parametrize("bounds", [(None, None), (0.0, None), (0.0, 6.0), (-1.0, 1.0),
                                    (-3.5, None)])
@pytest.mark.parametrize("shape", [(7,), (64, 64), (2, 3, 700)])
def test_clamp_op_equals_clamp_inplace(bounds, shape):
    """conv.clamp_op (the operands found once, then ufunc(*args) per invoke) clamps as
    conv.clamp_inplace does, NaN, infinities and signed zeros included, on small arrays
    and on ones big enough for a ReLU's same-shape bound array."""
    from edgelite.kernels.conv import clamp_inplace, clamp_op
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    flat = x.reshape(-1)
    flat[:5] = [np.nan, np.inf, -np.inf, -0.0, 0.0]
    want = x.copy()
    clamp_inplace(want, bounds)
    op = clamp_op(x, bounds)
    assert (op is None) == (bounds[0] is None)
    for _ in range(2):                      # the same operands, invoke after invoke
        if op is not None:
            op[0](*op[1], out=op[2])
        assert _bits_equal(x, want)


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    nan = np.isnan(a)
    return bool(np.array_equal(nan, np.isnan(b))
                and np.array_equal(a.view(np.int32)[~nan], b.view(np.int32)[~nan]))


# ---------------------------------------------------------------- row-run im2col
@pytest.mark.parametrize("xs,ws,stride,pad,dil_w,act", [
    ((1, 49, 10, 1), (32, 10, 4, 1), (2, 2), "SAME", 1, "RELU"),    # kws's first conv
    ((1, 20, 9, 2), (8, 5, 3, 2), (1, 1), "VALID", 1, "NONE"),
    ((1, 31, 12, 3), (4, 6, 2, 3), (3, 2), "SAME", 2, "RELU6"),
    ((1, 16, 5, 1), (16, 4, 1, 1), (1, 2), "SAME", 1, "RELU_N1_TO_1")])
def test_row_run_im2col(xs, ws, stride, pad, dil_w, act, monkeypatch):
    """Tall windows over few channels, numpy tier: the two-copy row-run im2col, the GEMM
    over rows ordered (ox, oy) and the clamped copy into the output seen [OW, OH, O]
    agree with LiteRT; a kernel handed strided arrays directly takes the general path,
    with the same values, and the interpreter's next invoke is unchanged."""
    import edgelite
    rng = np.random.default_rng(sum(xs) + sum(ws))
    b = ModelBuilder()
    x = b.add_input("x", xs, np.float32)
    w = b.add_constant("w", (rng.standard_normal(ws) * 0.3).astype(np.float32))
    bias = b.add_constant("b", rng.standard_normal(ws[0]).astype(np.float32))
    oh = -(-xs[1] // stride[0]) if pad == "SAME" else (xs[1] - ws[1]) // stride[0] + 1
    ow_eff = (ws[2] - 1) * dil_w + 1
    ow = -(-xs[2] // stride[1]) if pad == "SAME" else (xs[2] - ow_eff) // stride[1] + 1
    y = b.add_tensor("y", (1, oh, ow, ws[0]), np.float32)
    b.add_op("CONV_2D", [x, w, bias], [y], padding=pad, stride_h=stride[0],
             stride_w=stride[1], dilation_w_factor=dil_w, fused_activation_function=act)
    b.add_output(y)
    model = b.to_bytes()
    monkeypatch.setattr(compiled, "ENABLED", False)
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    (k,) = it._main.kernels
    assert k.rowcol_bound
    xv = (rng.standard_normal(xs) * 2).astype(np.float32)
    check_against_litert(model, [xv])
    it.set_tensor(0, xv)
    it.invoke()
    want = it.get_tensor(it.get_output_details()[0]["index"]).copy()
    xsd = np.zeros(xs[:-1] + (2 * xs[-1],), np.float32)[..., ::2]
    xsd[...] = xv
    out = np.zeros(want.shape[:-1] + (2 * want.shape[-1],), np.float32)[..., 1::2]
    ictx = it._main._steps[0][1]
    k.invoke(types.SimpleNamespace(inputs=[xsd, *ictx.inputs[1:]], outputs=[out],
                                   scratch=ictx.scratch))
    assert not k.rowcol_bound
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)
    it.invoke()
    np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), want)
