"""The fast paths of the integer non-convolution kernels agree bit for bit with the
formulations they replaced (kept here as plain references: gemmlowp's arithmetic written
out with the general helpers) over dense grids of inputs and parameters, and with
LiteRT's reference kernels on shapes that take the fast paths."""
from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from kernels.test_quant_elementwise import compare, q
from oracle import run_edgelite

import edgelite
from edgelite.format.builder import ModelBuilder
from edgelite.kernels import compiled as _compiled
from edgelite.kernels.quant import arith
from edgelite.kernels.quant import fixedpoint as fp

I8, U8, I16 = np.int8, np.uint8, np.int16


def unary_model(op, dtype, shape, qi, qo, version, out_dtype=None, **opts):
    b = ModelBuilder()
    x = b.add_input("x", shape, dtype, quant=qi)
    o = b.add_tensor("y", shape, out_dtype or dtype, quant=qo)
    b.add_op(op, [x], [o], version=version, **opts)
    b.add_output(o)
    return b.to_bytes()


def _seed(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


# ---------------------------------------------------------------- reciprocal
def test_reciprocal_positive_matches_get_reciprocal():
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.integers(1, 1 << 31, 300_000), np.arange(1, 70_000),
                        1 << np.arange(31), (1 << np.arange(1, 32)) - 1,
                        (1 << np.arange(31)) + 1, rng.integers(1 << 19, 1 << 28, 100_000)])
    for digits in (12, 0, 31):
        want = fp.get_reciprocal(x, digits)
        got = fp.get_reciprocal_positive(x, digits)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_reciprocal_scalar_matches_get_reciprocal():
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.integers(1, 1 << 31, 20_000), np.arange(1, 3000),
                        1 << np.arange(31), (1 << np.arange(1, 32)) - 1])
    want = fp.get_reciprocal(x, 12)
    got = np.array([fp.get_reciprocal_scalar(int(v), 12) for v in x.tolist()])
    np.testing.assert_array_equal(got[:, 0], want[0])
    np.testing.assert_array_equal(got[:, 1], want[1])


@pytest.mark.slow
def test_reciprocal_positive_never_saturates_or_wraps():
    """The proof behind get_reciprocal_positive's closed form (~2.5 min): over every
    input of one_over_one_plus_x_for_x_in_0_1 (a in [0, 2^31)), the Newton correction
    stays within (-2^29, 2^29) (so Rescale<2> never saturates), x within (0, 2^31) (no
    int32 wrap, never INT32_MIN) and one(2) - half_denominator * x within int32; then
    every SRDHM is (a * b + 2^30) >> 31 and the unsaturated, unwrapped formulas are
    gemmlowp's. A sample is compared directly in the default suite."""
    step = 1 << 24
    for start in range(0, 1 << 31, step):
        a = np.arange(start, start + step, dtype=np.int64)
        hd = (a + (1 << 31)) >> 1
        x = ((hd * -1010580540 + (1 << 30)) >> 31) + 1515870810
        assert x.min() > 0 and x.max() < (1 << 31)
        for _ in range(3):
            one_minus = (1 << 29) - ((hd * x + (1 << 30)) >> 31)
            assert one_minus.min() >= -(1 << 31) and one_minus.max() < (1 << 31)
            u = (x * one_minus + (1 << 30)) >> 31
            assert u.min() > -(1 << 29) and u.max() < (1 << 29)
            x = x + (u << 2)
            assert x.min() > 0 and x.max() < (1 << 31)


# ---------------------------------------------------------------- SOFTMAX (8-bit)
def softmax8_reference(x, si, beta, out_dtype):
    """reference_ops::Softmax as the kernel computed it before its fast path: gemmlowp
    exp per diff, int32 row sum (wrapped), GetReciprocal, SRDHM, RoundingDivideByPOT."""
    real = min(beta * si * float(1 << 26), float((1 << 31) - 1))
    m, shift = arith.quantize_multiplier(real)
    radius = math.floor(31.0 * (1 << 26) / (1 << shift))
    d = -np.arange(256, dtype=np.int64)
    rescaled = arith.saturating_rounding_doubling_high_mul(fp.wrap32(d << shift), m)
    e0 = fp.exp_on_negative_values(rescaled, 5)
    valid = d >= -radius
    e0_table = np.where(valid, e0, 0)
    acc_table = np.where(valid, fp.rescale(e0, 0, 12), 0)
    out_min, out_max = arith.dtype_range(out_dtype)
    out_bits = 8 * np.dtype(out_dtype).itemsize
    xi = x.astype(np.int64)
    idx = xi.max(axis=-1, keepdims=True) - xi
    total = fp.wrap32(acc_table[idx].sum(axis=-1, keepdims=True))
    scale, num_bits = fp.get_reciprocal(total, 12)
    exponent = num_bits + 31 - out_bits
    prod = arith.saturating_rounding_doubling_high_mul(scale, e0_table[idx])
    r = arith.rounding_divide_by_pot(prod, exponent) + out_min
    r = np.where(valid[idx], np.clip(r, out_min, out_max), out_min)
    return r.astype(out_dtype)


def _softmax8_model(shape, dtype, si, zi, out_dtype, beta):
    qo = (1 / 256, -128 if out_dtype == I8 else 0) if out_dtype != I16 else (1 / 32768, 0)
    version = 1 if dtype == U8 else 2
    return unary_model("SOFTMAX", dtype, shape, q(si, zi), q(*qo), version,
                       out_dtype=out_dtype, beta=beta)


# (rows, n): many rows take the vectorized path (one add/shift below 512 columns, two
# above), up to 8 rows the per-sum tables; 4096+ columns the general code.
SOFTMAX_SHAPES = [(1, 4, 64, 64), (9, 1), (9, 3), (40, 10), (12, 511), (10, 512), (9, 700),
                  (9, 4095), (3, 4096), (2, 12), (1, 12), (8, 100), (3, 5000)]
SOFTMAX_PARAMS = [(si, beta) for si in (0.0039, 0.02, 0.1, 0.5, 3.0, 1e-4)
                  for beta in (1.0, 0.3, 2.7)]


@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
@pytest.mark.parametrize("dtype,out_dtype", [(I8, I8), (I8, I16), (U8, U8)])
def test_softmax8_matches_reference_formulation(shape, dtype, out_dtype):
    info = np.iinfo(dtype)
    for si, beta in SOFTMAX_PARAMS:
        rng = _seed(shape, dtype, out_dtype, si, beta)
        x = rng.integers(info.min, int(info.max) + 1, size=shape)
        # rows of near-constant values (sums near the next power of two) and spikes
        x.reshape(-1, shape[-1])[::3] = info.max - rng.integers(0, 3, shape[-1])
        x.reshape(-1, shape[-1])[1::4, 1:] = info.min
        x = x.astype(dtype)
        m = _softmax8_model(shape, dtype, si, 0 if dtype == I8 else 128, out_dtype, beta)
        got = run_edgelite(m, [x])[0]
        np.testing.assert_array_equal(got, softmax8_reference(x, float(np.float32(si)),
                                                              float(np.float32(beta)),
                                                              out_dtype))


@pytest.mark.parametrize("shape,si,beta", [((1, 4, 64, 64), 0.1, 1.0), ((300, 7), 0.02, 2.7),
                                           ((20, 600), 0.5, 1.0), ((33, 64), 0.004, 1.0)])
@pytest.mark.parametrize("out_dtype", [I8, I16])
def test_softmax8_many_rows_litert(shape, si, beta, out_dtype):
    rng = _seed(shape, si, beta, out_dtype)
    x = rng.integers(-128, 128, size=shape).astype(I8)
    compare(_softmax8_model(shape, I8, si, 3, out_dtype, beta), [x], "SOFTMAX-rows")


def test_softmax8_repeated_invokes_reuse_scratch():
    m = _softmax8_model((16, 64), I8, 0.1, 0, I8, 1.0)
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.integers(-128, 128, size=(16, 64)).astype(I8)
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
        np.testing.assert_array_equal(got, softmax8_reference(x, float(np.float32(0.1)),
                                                              1.0, I8))



# ---------------------------------------------------------------- MEAN / SUM (8-bit tables)
def every_sum_rows(n: int, dtype, k=None) -> np.ndarray:
    """Rows of n values whose sums are every integer from n * min to n * max (or
    n * min + k for the given k)."""
    info = np.iinfo(dtype)
    span = int(info.max) - int(info.min)
    k = np.arange(n * span + 1) if k is None else np.asarray(k)
    fill = np.clip(k[:, None] - span * np.arange(n)[None, :], 0, span)   # greedy
    return (fill + int(info.min)).astype(dtype)


REDUCE_PARAMS = [((0.05, -128), (0.02, 5)), ((0.1, 3), (0.1, 3)), ((0.003, 127), (0.01, -20)),
                 ((0.5, 0), (0.001, 0)), ((1e-4, -7), (0.3, 100)), ((0.02, 0), (0.0201, 1))]


@pytest.mark.parametrize("op", ["MEAN", "SUM"])
@pytest.mark.parametrize("dtype", [I8, U8])
@pytest.mark.parametrize("n", [1, 3, 7, 64, 128, 258, 1000,
                               pytest.param(257, marks=pytest.mark.slow)])
def test_reduce8_table_every_sum(op, dtype, n):
    """The table path (constant axis) against the sum-then-formula path (the same model
    with the axis as an input) on every possible sum (n <= 257: 16-bit sums indexing a
    2^16 table; 257 is the largest), or on sampled sums with the extremes (n > 257:
    int32 sums, a cyclic table), over a grid of parameters."""
    from kernels.test_quant_reduce import reduce_model
    if n > 257:
        top = n * (int(np.iinfo(dtype).max) - int(np.iinfo(dtype).min))
        pick = np.random.default_rng(n).integers(0, top + 1, 3000)
        x = every_sum_rows(n, dtype, np.concatenate([[0, 1, top - 1, top], pick]))
    else:
        x = every_sum_rows(n, dtype)
    x = x.reshape(1, x.shape[0], n)
    version = 2 if dtype == I8 else 1
    for qi, qo in REDUCE_PARAMS:
        if dtype == U8:
            qi, qo = (qi[0], qi[1] + 128), (qo[0], qo[1] + 128)
        for keep in (False, True):
            const = reduce_model(op, dtype, x.shape, [-1], keep, q(*qi), q(*qo), version)
            dyn = reduce_model(op, dtype, x.shape, [-1], keep, q(*qi), q(*qo), version,
                               const_axis=False)
            got = run_edgelite(const, [x])[0]
            want = run_edgelite(dyn, [x, np.array([-1], np.int32)])[0]
            np.testing.assert_array_equal(got.reshape(want.shape), want)


@pytest.mark.parametrize("op", ["MEAN", "SUM"])
def test_reduce8_table_multi_axis_litert(op):
    from kernels.test_quant_reduce import reduce_model
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=(2, 6, 5, 3)).astype(I8)
    x[0, :, :, 0] = 127
    x[1, :, :, 1] = -128
    for axes, keep in (([1, 2], True), ([2, 1], False), ([0, 3], False), ([-1], True)):
        compare(reduce_model(op, I8, x.shape, axes, keep, q(0.05, -3), q(0.02, 7), 2), [x],
                f"{op}-table")
    x = every_sum_rows(16, I8).reshape(1, -1, 16)
    compare(reduce_model(op, I8, x.shape, [-1], False, q(0.07, 9), q(0.03, -2), 2), [x],
            f"{op}-every-sum")


# ---------------------------------------------------------------- pools
def pool_reference(x, op, f, s, padding, lo, hi):
    """reference_ops pooling written out per output element (valid elements only; C's
    rounded, truncating division for averages)."""
    n, h, w, c = x.shape
    if padding == "SAME":
        oh, ow = -(-h // s[0]), -(-w // s[1])
        pt = max(0, ((oh - 1) * s[0] + f[0] - h) // 2)
        pl = max(0, ((ow - 1) * s[1] + f[1] - w) // 2)
    else:
        oh, ow = (h - f[0]) // s[0] + 1, (w - f[1]) // s[1] + 1
        pt = pl = 0
    out = np.empty((n, oh, ow, c), np.int64)
    xi = x.astype(np.int64)
    for y in range(oh):
        for xx in range(ow):
            y0, x0 = y * s[0] - pt, xx * s[1] - pl
            win = xi[:, max(y0, 0):min(y0 + f[0], h), max(x0, 0):min(x0 + f[1], w)]
            if op == "MAX_POOL_2D":
                out[:, y, xx] = win.max(axis=(1, 2))
            else:
                acc = win.sum(axis=(1, 2))
                k = win.shape[1] * win.shape[2]
                r = (np.abs(acc) + k // 2) // k
                out[:, y, xx] = np.where(acc < 0, -r, r)
    return np.clip(out, lo, hi).astype(x.dtype)


POOL_GEOMS = [((2, 2), (2, 2), "VALID"), ((3, 3), (2, 2), "SAME"), ((3, 3), (1, 1), "SAME"),
              ((1, 3), (1, 2), "SAME"), ((4, 1), (3, 1), "VALID"), ((1, 1), (2, 3), "VALID"),
              ((7, 5), (1, 1), "VALID"), ((6, 6), (2, 2), "SAME"), ((2, 5), (2, 1), "SAME")]


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("dtype", [I8, U8, I16])
@pytest.mark.parametrize("geom", POOL_GEOMS + [((20, 20), (1, 1), "VALID", (2, 20, 20, 2)),
                                               ((16, 17), (3, 2), "VALID", (1, 20, 20, 2)),
                                               ((16, 17), (9, 9), "SAME", (1, 20, 20, 2))])
def test_pool_separable_and_table(op, dtype, geom):
    """(Windows of more than 257 elements: int32 sums and a cyclic table.)"""
    f, s, padding = geom[:3]
    info = np.iinfo(dtype)
    shape = geom[3] if len(geom) > 3 else (2, 7, 5, 3)
    rng = _seed(op, dtype, geom)
    x = rng.integers(info.min, int(info.max) + 1, size=shape)
    x[0, :4] = info.max                  # the largest and smallest possible sums
    x[-1, 3:] = info.min
    x = x.astype(dtype)
    zp = 0 if dtype == I16 else int(rng.integers(info.min, int(info.max) + 1))
    for act, bounds in (("NONE", (int(info.min), int(info.max))), ("RELU6", None)):
        b = ModelBuilder()
        qi = {"scale": [0.05], "zero_point": [zp]}
        xt = b.add_input("x", shape, dtype, quant=qi)
        yt = b.add_tensor("y", (1,), dtype, quant=qi)
        b.add_op(op, [xt], [yt], version={I8: 2, U8: 1, I16: 3}[dtype], padding=padding,
                 stride_h=s[0], stride_w=s[1], filter_height=f[0], filter_width=f[1],
                 fused_activation_function=act)
        b.add_output(yt)
        if bounds is None:
            bounds = arith.quantized_activation_range(3, float(np.float32(0.05)), zp, dtype)
        got = run_edgelite(b.to_bytes(), [x])[0]
        np.testing.assert_array_equal(got, pool_reference(x, op, f, s, padding, *bounds))


# ---------------------------------------------------------------- compiled tier
TIERS = ["numpy"] + (["compiled"] if _compiled.ENABLED else [])


def prepared_on(model: bytes, tier: str, monkeypatch) -> edgelite.Interpreter:
    """An interpreter of `model` prepared on the given tier (the compiled one for every
    node size)."""
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)
    saved = _compiled.ENABLED
    _compiled.ENABLED = tier == "compiled"
    try:
        it = edgelite.Interpreter(model_content=model)
        it.allocate_tensors()
    finally:
        _compiled.ENABLED = saved
    return it


def run_tier(model: bytes, inputs, tier: str, monkeypatch) -> np.ndarray:
    """Prepare with the given tier (the compiled one for every node size), invoke twice."""
    it = prepared_on(model, tier, monkeypatch)
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


@pytest.mark.parametrize("tier", TIERS)
# (a few rows, a classifier's output, take the compiled kernel too once numba is loaded)
@pytest.mark.parametrize("shape", [s for s in SOFTMAX_SHAPES if np.prod(s[:-1]) > 8]
                         + [(1, 10), (1, 12), (3, 7), (8, 100)])
@pytest.mark.parametrize("dtype,out_dtype", [(I8, I8), (I8, I16), (U8, U8)])
def test_softmax8_tiers(tier, shape, dtype, out_dtype, monkeypatch):
    info = np.iinfo(dtype)
    for si, beta in SOFTMAX_PARAMS[::2]:
        rng = _seed("tiers", shape, dtype, out_dtype, si, beta)
        x = rng.integers(info.min, int(info.max) + 1, size=shape)
        x.reshape(-1, shape[-1])[::3] = info.max - rng.integers(0, 3, shape[-1])
        x.reshape(-1, shape[-1])[1::4, 1:] = info.min
        x = x.astype(dtype)
        m = _softmax8_model(shape, dtype, si, 0 if dtype == I8 else 128, out_dtype, beta)
        got = run_tier(m, [x], tier, monkeypatch)
        np.testing.assert_array_equal(got, softmax8_reference(x, float(np.float32(si)),
                                                              float(np.float32(beta)),
                                                              out_dtype))


BCAST = [((2, 3, 4), (2, 3, 4)), ((1, 64, 1), (128,)), ((1, 64, 128), (1, 64, 1)),
         ((1, 5, 1, 3), (2, 1, 4, 3)), ((4,), ()), ((), (3, 2)), ((2, 1, 3), (3,)),
         ((1,), (1,)), ((3, 1, 5), (1, 4, 1)), ((2, 3, 1, 5, 1), (1, 3, 4, 1, 6))]


def test_collapse_broadcast_matches_numpy():
    from edgelite.kernels.quant.elementwise import collapse_broadcast
    rng = np.random.default_rng(11)
    cases = list(BCAST)
    for _ in range(300):
        nd = int(rng.integers(0, 6))
        out = rng.integers(1, 4, nd)
        a = tuple(int(d) if rng.random() < 0.6 else 1 for d in out)[int(rng.integers(0, nd + 1)):]
        b = tuple(int(d) if rng.random() < 0.6 else 1 for d in out)[int(rng.integers(0, nd + 1)):]
        cases.append((a, b))
    for a_shape, b_shape in cases:
        shape = np.broadcast_shapes(a_shape, b_shape)
        geom = collapse_broadcast(shape, a_shape, b_shape)
        if geom is None:
            continue
        dims, sa, sb = geom
        i, j, k = np.meshgrid(*[np.arange(d) for d in dims], indexing="ij")
        for src, st in ((a_shape, sa), (b_shape, sb)):
            flat = np.arange(int(np.prod(src)), dtype=np.int64).reshape(src)
            want = np.broadcast_to(flat, shape).reshape(-1)
            got = (i * st[0] + j * st[1] + k * st[2]).reshape(-1)
            np.testing.assert_array_equal(got, want, err_msg=f"{a_shape} {b_shape}")


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("op,dtype", [(op, dt) for op in ("ADD", "SUB", "MUL",
                                                         "SQUARED_DIFFERENCE", "LESS")
                                      for dt in (I8, U8)
                                      if not (op == "SQUARED_DIFFERENCE" and dt == U8)])
def test_binary8_tiers(tier, op, dtype, monkeypatch):
    # (SQUARED_DIFFERENCE has no uint8 kernel in LiteRT: that pair is not generated)
    from kernels.test_quant_elementwise import rand_q
    for a_shape, b_shape in BCAST:
        shape = np.broadcast_shapes(a_shape, b_shape)
        rng = _seed("binary", op, dtype, a_shape, b_shape)
        zp = 0 if dtype == I8 else 128
        b = ModelBuilder()
        at = b.add_input("a", a_shape, dtype, quant=q(0.05, zp + 3))
        bt = b.add_input("b", b_shape, dtype, quant=q(0.02, zp - 5))
        out_dtype = np.bool_ if op == "LESS" else dtype
        yt = b.add_tensor("y", shape, out_dtype, quant=None if op == "LESS" else q(0.07, zp))
        b.add_op(op, [at, bt], [yt], version=2 if dtype == I8 else 1)
        b.add_output(yt)
        m = b.to_bytes()
        xa, xb = rand_q(rng, a_shape, dtype), rand_q(rng, b_shape, dtype)
        got = run_tier(m, [xa, xb], tier, monkeypatch)
        want = run_tier(m, [xa, xb], "numpy", monkeypatch)
        np.testing.assert_array_equal(got, want)
        assert got.shape == shape


@pytest.mark.skipif(not _compiled.ENABLED, reason="numba is not installed: no compiled tier")
def test_compiled_reciprocal_matches_get_reciprocal():
    from edgelite.kernels import compiled_qops
    numba = compiled_qops.numba

    @numba.njit
    def every(xs):
        s, nb = np.empty(xs.size, np.int64), np.empty(xs.size, np.int64)
        for i in range(xs.size):
            s[i], nb[i] = compiled_qops._reciprocal(xs[i])
        return s, nb
    rng = np.random.default_rng(2)
    xs = np.concatenate([rng.integers(1, 1 << 31, 200_000), np.arange(1, 70_000),
                         1 << np.arange(31), (1 << np.arange(1, 32)) - 1])
    got, want = every(xs), fp.get_reciprocal(xs, 12)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


UNARY_TIER_CASES = [("GELU", I8, 2, (0.05, -3), (0.02, -100), {}),
                    ("LOGISTIC", I8, 2, (0.05, 3), (1 / 256, -128), {}),
                    ("TANH", U8, 1, (0.03, 128), (1 / 128, 128), {}),
                    ("TANH", I16, 3, (1e-3, 0), (1 / 32768, 0), {}),
                    ("RSQRT", I8, 2, (0.05, -128), (0.02, 0), {}),
                    ("RELU6", I8, 2, (0.05, 3), (0.05, 3), {}),
                    ("LEAKY_RELU", I16, 2, (1e-3, 0), (2e-3, 0), {"alpha": 0.2})]


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("op,dtype,version,qi,qo,opts", UNARY_TIER_CASES)
def test_unary_tiers_every_value(tier, op, dtype, version, qi, qo, opts, monkeypatch):
    info = np.iinfo(dtype)
    x = np.arange(int(info.min), int(info.max) + 1).astype(dtype)
    x = np.concatenate([x, x[::-1], x[::7]]).reshape(1, -1)
    m = unary_model(op, dtype, x.shape, q(*qi), q(*qo), version, **opts)
    got = run_tier(m, [x], tier, monkeypatch)
    np.testing.assert_array_equal(got, run_tier(m, [x], "numpy", monkeypatch))
    if dtype != I16:
        compare(m, [x], f"{op}-{tier}")    # (the compiled tier when numba is installed)


@pytest.mark.parametrize("tier", TIERS)
def test_rsqrt_negative_input_still_fails(tier, monkeypatch):
    m = unary_model("RSQRT", I8, (1, 4), q(0.05, 0), q(0.02, 0), 2)
    with pytest.raises(edgelite.OpError, match="RSQRT"):
        run_tier(m, [np.array([[1, 2, -1, 3]], I8)], tier, monkeypatch)


@pytest.mark.parametrize("tier", TIERS)
def test_binary8_non_contiguous_arrays(tier, monkeypatch):
    """Arrays that are not plain C-contiguous arena views (a kernel driven directly) go
    through copies and give the same result."""
    from edgelite.kernels.base import InvokeContext
    b = ModelBuilder()
    at = b.add_input("a", (3, 4), I8, quant=q(0.05, 3))
    bt = b.add_input("b", (4,), I8, quant=q(0.02, -5))
    yt = b.add_tensor("y", (3, 4), I8, quant=q(0.07, 1))
    b.add_op("MUL", [at, bt], [yt], version=2)
    b.add_output(yt)
    m = b.to_bytes()
    rng = np.random.default_rng(1)
    xa = rng.integers(-128, 128, (4, 3)).astype(I8).T          # transposed: F-order
    xb = rng.integers(-128, 128, 8).astype(I8)[::2]             # strided
    want = run_tier(m, [np.ascontiguousarray(xa), np.ascontiguousarray(xb)], "numpy",
                    monkeypatch)
    it = prepared_on(m, tier, monkeypatch)
    ex = it._executor(0)
    ictx = ex._make_ictx(0)
    out = np.zeros((4, 3), I8).T
    ictx = InvokeContext([xa, xb], [out], ictx.scratch, ictx.prepare_ctx, None)
    ex.kernels[0].invoke(ictx)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("op", ["MEAN", "SUM"])
@pytest.mark.parametrize("dtype", [I8, U8])
def test_reduce8_tiers(tier, op, dtype, monkeypatch):
    """Both tiers against the formula path (axis as an input) on sums up to the extremes:
    a block of reduced axes (the compiled kernel: last, middle, first, all) and a split
    one (numpy in both tiers); 16-bit-indexed and cyclic tables."""
    from kernels.test_quant_reduce import reduce_model
    info = np.iinfo(dtype)
    rng = _seed("reduce-tiers", op, dtype)
    zp = 0 if dtype == I8 else 128
    for shape, axes in (((2, 6, 40), [-1]), ((2, 7, 7, 5), [1, 2]), ((9, 3, 4), [0]),
                        ((3, 5, 4), [0, 1, 2]), ((3, 4, 5), [0, 2]), ((2, 300, 3), [1])):
        x = rng.integers(info.min, int(info.max) + 1, size=shape)
        x[0] = info.max
        x[-1] = info.min
        x = x.astype(dtype)
        for keep in (False, True):
            args = (op, dtype, shape, axes, keep, q(0.05, zp - 3), q(0.02, zp + 7),
                    2 if dtype == I8 else 1)
            got = run_tier(reduce_model(*args), [x], tier, monkeypatch)
            want = run_tier(reduce_model(*args, const_axis=False),
                            [x, np.array(axes, np.int32)], "numpy", monkeypatch)
            np.testing.assert_array_equal(got.reshape(want.shape), want)


def _invoke_directly(model: bytes, inputs, out: np.ndarray, tier: str) -> None:
    """Prepare `model` with the tier, then run node 0's kernel on the given (possibly
    non-contiguous) arrays."""
    from edgelite.kernels.base import InvokeContext
    saved = _compiled.ENABLED
    _compiled.ENABLED = tier == "compiled"
    try:
        it = edgelite.Interpreter(model_content=model)
        it.allocate_tensors()
    finally:
        _compiled.ENABLED = saved
    ex = it._executor(0)
    ictx = ex._make_ictx(0)
    ex.kernels[0].invoke(InvokeContext(inputs, [out], ictx.scratch, ictx.prepare_ctx, None))


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("rows", [3, 20])
def test_softmax8_non_contiguous_arrays(tier, rows, monkeypatch):
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)
    m = _softmax8_model((rows, 6), I8, 0.1, 0, I8, 1.0)
    x = np.random.default_rng(rows).integers(-128, 128, (6, rows)).astype(I8).T
    out = np.zeros((6, rows), I8).T
    _invoke_directly(m, [x], out, tier)
    np.testing.assert_array_equal(out, softmax8_reference(x, float(np.float32(0.1)), 1.0, I8))


@pytest.mark.parametrize("tier", TIERS)
def test_mean8_non_contiguous_arrays(tier, monkeypatch):
    from kernels.test_quant_reduce import reduce_model

    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)
    m = reduce_model("MEAN", I8, (4, 5, 6), [1], True, q(0.05, -3), q(0.02, 7), 2)
    x = np.random.default_rng(0).integers(-128, 128, (6, 5, 4)).astype(I8).T
    want = run_edgelite(m, [np.ascontiguousarray(x)])[0]
    out = np.zeros((6, 1, 4), I8).T
    _invoke_directly(m, [x, np.array([1], np.int32)], out, tier)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("op,dtype,version,qi,qo,opts",
                         [c for c in UNARY_TIER_CASES if c[1] != I16])
def test_unary8_pair_table_every_pair(op, dtype, version, qi, qo, opts, monkeypatch):
    """The numpy tier's byte-pair lookups (even sizes >= 512) on every pair of input
    values, against the op's table one value at a time and against LiteRT."""
    from edgelite.kernels.quant.activations import pair_table
    info = np.iinfo(dtype)
    values = np.arange(int(info.min), int(info.max) + 1).astype(dtype)
    x = np.stack(np.meshgrid(values, values, indexing="ij"), axis=-1).reshape(1, -1)
    m = unary_model(op, dtype, x.shape, q(*qi), q(*qo), version, **opts)
    got = run_tier(m, [x], "numpy", monkeypatch)
    single = run_edgelite(unary_model(op, dtype, (1, 255), q(*qi), q(*qo), version, **opts),
                          [values[:255].reshape(1, -1)])[0]
    table = np.empty(256, single.dtype)
    table[values[:255].view(np.uint8)] = single.reshape(-1)
    last = run_edgelite(unary_model(op, dtype, (1,), q(*qi), q(*qo), version, **opts),
                        [values[255:]])[0]
    table[values[255:].view(np.uint8)] = last
    np.testing.assert_array_equal(got.reshape(-1), table[x.reshape(-1).view(np.uint8)])
    pt = pair_table(table)
    np.testing.assert_array_equal(pt.take(x.reshape(-1).view(np.uint16)).view(table.dtype),
                                  got.reshape(-1))
    compare(m, [x], f"{op}-pairs")


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("op,dtype", [(op, dt) for op in ("ADD", "SUB", "MUL",
                                                         "SQUARED_DIFFERENCE", "LESS", "DIV")
                                      for dt in (I8, U8)
                                      if not (op == "SQUARED_DIFFERENCE" and dt == U8)])
def test_binary8_constant_scalar(tier, op, dtype, monkeypatch):
    """A constant scalar operand (either side) makes the op a 256-entry table of the
    other input: against the same model with the scalar as an input (the pair table),
    for every input value, at sizes taking each lookup path. (SQUARED_DIFFERENCE has
    no uint8 kernel in LiteRT: that pair is not generated.)"""
    info = np.iinfo(dtype)
    zp = 0 if dtype == I8 else 128
    rng = _seed("const-scalar", op, dtype)
    for shape, const_shape, const_first in (((1, 64, 1), (), False), ((3, 7), (1,), True),
                                            ((2, 512), (1, 1), False), ((4, 2, 640), (), True)):
        x = rng.integers(info.min, int(info.max) + 1, size=shape)
        x.reshape(-1)[:256] = np.arange(int(info.min), int(info.max) + 1)[:x.size]
        x = x.astype(dtype)
        c = np.array(int(rng.integers(info.min, int(info.max) + 1)), dtype).reshape(const_shape)
        if op == "DIV" and not const_first:
            c = np.array(zp + 9, dtype).reshape(const_shape)      # never the zero point
        out_shape = np.broadcast_shapes(shape, const_shape)
        models = []
        for const in (True, False):
            b = ModelBuilder()
            xt = b.add_input("x", shape, dtype, quant=q(0.05, zp + 3))
            ct = b.add_constant("c", c, quant=q(0.03, zp - 2)) if const else \
                b.add_input("c", const_shape, dtype, quant=q(0.03, zp - 2))
            out_dtype = np.bool_ if op == "LESS" else dtype
            yt = b.add_tensor("y", out_shape, out_dtype,
                              quant=None if op == "LESS" else q(0.07, zp + 1))
            b.add_op(op, [ct, xt] if const_first else [xt, ct], [yt],
                     version=2 if dtype == I8 else 1)
            b.add_output(yt)
            models.append(b.to_bytes())
        if op == "DIV" and const_first:
            x[x == zp + 3] = zp + 4                                 # no division by zero
        got = run_tier(models[0], [x], tier, monkeypatch)
        want = run_tier(models[1], [x, c], "numpy", monkeypatch)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape,out_dtype", [((1, 12), I8), ((2, 700), I16), ((3, 5000), I8),
                                             ((1, 1001), I8)])
def test_softmax8_few_rows_many_sums(shape, out_dtype):
    """Few rows: per-sum output tables, built on a miss (Python-int reciprocal) and
    reused on a hit; many invocations with distinct sums, and repeats."""
    m = _softmax8_model(shape, I8, 0.07, -5, out_dtype, 1.3)
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    rng = np.random.default_rng(sum(shape))
    xs = [rng.integers(-128, 128, size=shape).astype(I8) for _ in range(150)]
    xs[3][:] = 127
    xs[4][..., 1:] = -128
    for x in xs + xs[:20]:
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
        np.testing.assert_array_equal(got, softmax8_reference(
            x, float(np.float32(0.07)), float(np.float32(1.3)), out_dtype))


def _pool_model(op, dtype, shape, f, s, padding, act, zp):
    b = ModelBuilder()
    qi = {"scale": [0.05], "zero_point": [zp]}
    xt = b.add_input("x", shape, dtype, quant=qi)
    yt = b.add_tensor("y", (1,), dtype, quant=qi)
    b.add_op(op, [xt], [yt], version={I8: 2, U8: 1}[dtype], padding=padding,
             stride_h=s[0], stride_w=s[1], filter_height=f[0], filter_width=f[1],
             fused_activation_function=act)
    b.add_output(yt)
    return b.to_bytes()


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("dtype", [I8, U8])
@pytest.mark.parametrize("shape,f,s", [((2, 8, 6, 5), (2, 2), (2, 2)),
                                       ((1, 7, 9, 16), (2, 2), (2, 2)),    # odd: edge dropped
                                       ((1, 6, 4, 3), (6, 4), (1, 1)),     # global average
                                       ((3, 5, 5, 17), (5, 5), (2, 2))])
def test_pool_tiers(tier, op, dtype, shape, f, s, monkeypatch):
    """The compiled 8-bit pools (2x2 / 2 windows, compiled_qops.pool2x2_q8; the global
    average, sum_lookup) equal the reference, the sums' extremes and clamps included."""
    info = np.iinfo(dtype)
    rng = _seed("pool-tiers", op, dtype, shape)
    x = rng.integers(info.min, int(info.max) + 1, size=shape)
    x[0, :2] = info.max
    x[-1, -2:] = info.min
    x = x.astype(dtype)
    zp = int(rng.integers(info.min, int(info.max) + 1))
    for act in ("NONE", "RELU6", "RELU_N1_TO_1"):
        m = _pool_model(op, dtype, shape, f, s, "VALID", act, zp)
        bounds = (int(info.min), int(info.max)) if act == "NONE" else \
            arith.quantized_activation_range({"RELU6": 3, "RELU_N1_TO_1": 2}[act],
                                             float(np.float32(0.05)), zp, dtype)
        got = run_tier(m, [x], tier, monkeypatch)
        np.testing.assert_array_equal(got, pool_reference(x, op, f, s, "VALID", *bounds))
    it = prepared_on(m, tier, monkeypatch)
    k = it._main.kernels[0]
    compiled_now = k.compiled is not None or getattr(k, "g_kernel", None) is not None
    expected = tier == "compiled" and (f == (2, 2) or (f == shape[1:3] and op[0] == "A"))
    assert compiled_now == expected


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("f", [(2, 2), (6, 4)])
def test_pool_tiers_on_strided_arrays(tier, op, f, monkeypatch):
    """Pools handed non-contiguous arrays (as a caller outside the runtime might) take
    the numpy path and still equal the reference, invoke after invoke (a reshape of a
    strided input is a copy: nothing of it may be kept across calls)."""
    from edgelite.kernels.base import InvokeContext
    shape = (1, 6, 4, 10)
    m = _pool_model(op, I8, shape, f, f if f == (2, 2) else (1, 1), "VALID", "NONE", 3)
    it = prepared_on(m, tier, monkeypatch)
    ex = it._executor(0)
    base = ex._make_ictx(0)
    k = ex.kernels[0]
    oshape = (1, 3, 2, 10) if f == (2, 2) else (1, 1, 1, 10)
    big = np.zeros((1, 4, 6, 10), I8)
    x = big.transpose(0, 2, 1, 3)        # [1, 6, 4, 10], H and W not mergeable: strided
    out = np.zeros(oshape[:3] + (20,), I8)[..., ::2]       # strided output
    for seed in range(3):                # the same arrays, new contents
        big[...] = _seed("strided-pool", op, f, seed).integers(-128, 128, big.shape)
        k.invoke(InvokeContext([x], [out], base.scratch, base.prepare_ctx, None))
        want = pool_reference(np.ascontiguousarray(x), op, f, f if f == (2, 2) else (1, 1),
                              "VALID", -128, 127)
        np.testing.assert_array_equal(out, want)
