"""Conformance of AVERAGE_POOL_2D, MAX_POOL_2D and L2_POOL_2D (float32) against
LiteRT, plus invalid use. A seeded sample of each grid runs by default, the
rest is `slow`."""
from __future__ import annotations

import random
import types
import zlib

import numpy as np
import pytest
from oracle import check_against_litert, run_litert

import edgelite
from edgelite.format import ir
from edgelite.format.builder import ModelBuilder, make_options
from edgelite.kernels import registry
from edgelite.kernels.base import PrepareContext, TensorSpec

POOLS = ["AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"]
ACTS = ["NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH"]


def split(cases: list, k: int, seed: int = 0):
    rng = random.Random(seed)
    idx = set(rng.sample(range(len(cases)), min(k, len(cases))))
    return [c if i in idx else pytest.param(*c, marks=pytest.mark.slow)
            for i, c in enumerate(cases)]


def out_size(padding, n, k, s):
    return -(-n // s) if padding == "SAME" else max((n - k + s) // s, 0)


def pool_model(op, xs, *, version=1, dtype=np.float32, quant=None, **opts) -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", xs, dtype, quant=quant)
    y = b.add_tensor("y", (1, 1, 1, 1), dtype, quant=quant)
    b.add_op(op, [x], [y], version=version, **opts)
    b.add_output(y)
    return b.to_bytes()


POOL_CASES = [
    (op, xs, f, s, pad, act)
    for op in POOLS
    for xs in [(1, 5, 5, 1), (2, 7, 6, 3), (1, 1, 1, 4), (3, 9, 8, 5), (1, 4, 13, 2)]
    for f in [(1, 1), (2, 2), (3, 3), (2, 3), (4, 1), (5, 5)]
    for s in [(1, 1), (2, 2), (1, 3), (3, 2)]
    for pad in ["SAME", "VALID"]
    for act in ACTS
    if out_size(pad, xs[1], f[0], s[0]) > 0 and out_size(pad, xs[2], f[1], s[1]) > 0
]


@pytest.mark.parametrize("op,xs,f,s,pad,act", split(POOL_CASES, 200))
def test_pool(op, xs, f, s, pad, act):
    rng = np.random.default_rng(zlib.crc32(repr((op, xs, f, s, pad, act)).encode()))
    model = pool_model(op, xs, padding=pad, filter_height=f[0], filter_width=f[1],
                       stride_h=s[0], stride_w=s[1], fused_activation_function=act)
    check_against_litert(model, [rng.standard_normal(xs).astype(np.float32)])


@pytest.mark.parametrize("op", POOLS)
@pytest.mark.parametrize("xs,f", [((1, 7, 7, 16), (7, 7)), ((2, 12, 10, 3), (12, 10)),
                                  ((1, 10, 10, 2), (9, 9))])
def test_pool_large_windows(op, xs, f):
    # Global pools (the window-view reduction path, > 64 taps) and big SAME windows.
    rng = np.random.default_rng(zlib.crc32(repr((op, xs, f)).encode()))
    for pad in ("VALID", "SAME"):
        model = pool_model(op, xs, padding=pad, filter_height=f[0], filter_width=f[1],
                           stride_h=1, stride_w=2)
        check_against_litert(model, [rng.standard_normal(xs).astype(np.float32)])


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("xs,f,s,pad,act", [
    ((1, 25, 5, 32), (25, 5), (25, 5), "VALID", "NONE"),      # kws's classifier pool
    ((2, 7, 7, 16), (7, 7), (2, 2), "VALID", "RELU6"),
    ((1, 3, 4, 5), (5, 5), (5, 5), "SAME", "RELU"),           # padding: never counted
    ((3, 2, 3, 4), (2, 3), (1, 1), "VALID", "NONE")])
def test_global_pool(op, xs, f, s, pad, act):
    """One output position whose window covers the whole input: the global path (an
    average as a GEMV of ones and a division, a max as one reduction), with LiteRT's
    values; the same result when the kernel is handed strided arrays directly."""
    rng = np.random.default_rng(zlib.crc32(repr((op, xs, f)).encode()))
    x = rng.standard_normal(xs).astype(np.float32)
    model = pool_model(op, xs, padding=pad, filter_height=f[0], filter_width=f[1],
                       stride_h=s[0], stride_w=s[1], fused_activation_function=act)
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    (k,) = it._main.kernels
    assert k.global_ and not k.blocked and not k.copy
    check_against_litert(model, [x])
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    want = it.get_tensor(it.get_output_details()[0]["index"])
    xs_strided = np.zeros(xs[:-1] + (2 * xs[-1],), np.float32)[..., ::2]
    xs_strided[...] = x
    out = np.zeros(want.shape[:-1] + (2 * want.shape[-1],), np.float32)[..., 1::2]
    k.invoke(types.SimpleNamespace(inputs=[xs_strided], outputs=[out]))
    if op == "MAX_POOL_2D":
        np.testing.assert_array_equal(out, want)
    else:       # (BLAS may round a sum differently in differently aligned memory)
        np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("op", POOLS)
def test_pool_window_larger_than_input(op):
    # VALID with a window larger than the input: LiteRT's reference kernels give an
    # empty output (as TFLite's ComputeOutSize says), but its default XNNPACK path
    # returns a 1x1 output (an average over the full window size, padding counted).
    # We match the reference kernels.
    rng = np.random.default_rng(3)
    model = pool_model(op, (1, 2, 2, 3), padding="VALID", filter_height=3, filter_width=3,
                       stride_h=1, stride_w=1)
    check_against_litert(model, [rng.standard_normal((1, 2, 2, 3)).astype(np.float32)],
                         reference=True)


@pytest.mark.parametrize("op,versions", [("AVERAGE_POOL_2D", 3), ("MAX_POOL_2D", 3),
                                         ("L2_POOL_2D", 1)])
def test_pool_versions(op, versions):
    rng = np.random.default_rng(1)
    for v in range(1, versions + 1):
        model = pool_model(op, (1, 6, 6, 2), version=v, padding="SAME", filter_height=3,
                           filter_width=3, stride_h=2, stride_w=2)
        check_against_litert(model, [rng.standard_normal((1, 6, 6, 2)).astype(np.float32)])


@pytest.mark.parametrize("op", POOLS)
def test_pool_all_negative_inputs_and_reinvoke(op):
    # Max pool borders must never win; the bound buffers are reused across invokes.
    rng = np.random.default_rng(2)
    model = pool_model(op, (2, 5, 5, 3), padding="SAME", filter_height=3, filter_width=3,
                       stride_h=1, stride_w=1)
    for _ in range(2):
        x = -np.abs(rng.standard_normal((2, 5, 5, 3))).astype(np.float32) - 1.0
        check_against_litert(model, [x])


@pytest.mark.parametrize("tier", ["numpy", "compiled"])
def test_max_pool_propagates_nan_where_litert_disagrees_with_itself(tier, monkeypatch):
    """A NaN in a float MAX_POOL_2D window gives NaN, in both tiers and every window
    position, the blocked 2x2 path and the general one alike: a NaN upstream is shown,
    not hidden. LiteRT has no one answer to follow: its reference kernels drop the NaN
    (std::max from the lowest float: [NaN, 1, 2, 3] -> 3), and its XNNPACK kernels gave
    -inf when the NaN comes first and 3 otherwise (ai-edge-litert 2.x, measured)."""
    from edgelite.kernels import compiled
    if tier == "compiled" and not compiled.ENABLED:
        pytest.skip("numba is not installed (the compiled tier is off)")
    monkeypatch.setattr(compiled, "ENABLED", tier == "compiled")
    cases = [((1, 2, 2, 1), (2, 2), (2, 2), "VALID"),       # blocked 2x2 (compiled: one pass)
             ((1, 4, 4, 1), (2, 2), (2, 2), "VALID"),
             ((1, 3, 3, 1), (3, 3), (1, 1), "SAME")]        # the general tap loop
    for xs, f, st, pad in cases:
        model = pool_model("MAX_POOL_2D", xs, padding=pad, filter_height=f[0],
                           filter_width=f[1], stride_h=st[0], stride_w=st[1])
        for pos in range(int(np.prod(xs))):
            x = np.arange(np.prod(xs), dtype=np.float32).reshape(xs)
            x.reshape(-1)[pos] = np.nan
            it = edgelite.Interpreter(model_content=model)
            it.allocate_tensors()
            it.set_tensor(it.get_input_details()[0]["index"], x)
            it.invoke()
            got = it.get_tensor(it.get_output_details()[0]["index"])
            # the windows holding the NaN: windows whose range covers (row, col)
            r, c = divmod(pos, xs[2])
            oh, ow = got.shape[1:3]
            for oy in range(oh):
                for ox in range(ow):
                    y0 = oy * st[0] - (f[0] // 2 if pad == "SAME" else 0)
                    x0 = ox * st[1] - (f[1] // 2 if pad == "SAME" else 0)
                    inside = y0 <= r < y0 + f[0] and x0 <= c < x0 + f[1]
                    assert np.isnan(got[0, oy, ox, 0]) == inside, (xs, pos, oy, ox, got)
    # LiteRT's reference kernels drop the NaN (what this test departs from, on purpose)
    model = pool_model("MAX_POOL_2D", (1, 2, 2, 1), padding="VALID", filter_height=2,
                       filter_width=2, stride_h=2, stride_w=2)
    x = np.array([np.nan, 1, 2, 3], np.float32).reshape(1, 2, 2, 1)
    assert run_litert(model, [x], reference=True)[0].reshape(-1)[0] == 3.0


@pytest.mark.parametrize("op", POOLS)
@pytest.mark.parametrize("case", ["rank3", "int32", "stride0", "filter0", "padding",
                                  "two_inputs"])
def test_pool_invalid(op, case):
    b = ModelBuilder()
    dt = np.int32 if case == "int32" else np.float32
    x = b.add_input("x", (4, 4, 2) if case == "rank3" else (1, 4, 4, 2), dt)
    ins = [x, x] if case == "two_inputs" else [x]
    y = b.add_tensor("y", (1, 4, 4, 2), dt)
    b.add_op(op, ins, [y], padding=7 if case == "padding" else "SAME",
             filter_height=0 if case == "filter0" else 2, filter_width=2,
             stride_h=0 if case == "stride0" else 1, stride_w=1)
    b.add_output(y)
    it = edgelite.Interpreter(model_content=b.to_bytes())
    with pytest.raises(edgelite.OpError, match=rf"operator 0 \({op}\)"):
        it.allocate_tensors()


@pytest.mark.parametrize("op", POOLS)
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16])
def test_generic_pool_quantized_not_supported_yet(op, dtype):
    # The float kernel itself (bypassing the registry's quantized variant, if any)
    # names the quantized case it leaves to another kernel.
    dt = np.dtype(dtype)
    x = TensorSpec(index=0, name="x", shape=(1, 4, 4, 2), dtype=dt, type=ir.tensor_type_of(dt))
    y = TensorSpec(index=1, name="y", shape=(1,), dtype=dt, type=ir.tensor_type_of(dt))
    opts = make_options(op, padding="SAME", filter_height=2, filter_width=2, stride_h=1,
                        stride_w=1)[0]
    ctx = PrepareContext(model=None, subgraph_index=0, op_index=0, op_name=op, version=1,
                         options=opts, custom_options=None, inputs=[x], outputs=[y])
    with pytest.raises(edgelite.OpError, match=rf"operator 0 \({op}\).*{dt} {op} is not "
                                               r"supported yet"):
        registry.BUILTINS[op][0]().prepare(ctx)


def test_pool_grid_is_large():
    assert len(POOL_CASES) > 1500
