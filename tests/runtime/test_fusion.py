"""Runtime node fusion (runtime/fusion.py, kernels/fused.py): the LayerNormalization
chain TensorFlow's converter emits runs as one kernel, gives LiteRT's numbers on both
kernel tiers, and is left alone whenever it is not exactly that chain."""
from __future__ import annotations

import numpy as np
import pytest
from oracle import FLOAT_TOL, check_against_litert, run_litert

import edgelite
from edgelite.errors import InterpreterError
from edgelite.format.builder import ModelBuilder
from edgelite.kernels import compiled

TIERS = ["numpy"] + (["compiled"] if compiled.ENABLED else [])
C = 48


def layer_norm_model(shape=(1, 10, C), *, eps=1e-3, act_last=0, axis=-1, keep_tm=False,
                     const_gamma=True, swap=False) -> bytes:
    """TensorFlow's lowering of keras LayerNormalization (as in the transformer
    fixtures), after an ADD so the normalized tensor is computed; variations break it."""
    rng = np.random.default_rng(0)
    c = shape[-1]
    b = ModelBuilder()
    x0 = b.add_input("x0", shape, np.float32)
    x1 = b.add_constant("bias", rng.normal(size=(c,)).astype(np.float32))
    x = b.add_tensor("x", shape, np.float32)
    b.add_op("ADD", [x0, x1], [x])
    stat = tuple(shape[:-1]) + (1,) if axis == -1 else (1,) + tuple(shape[1:])
    axes = b.add_constant("axes", np.array([axis], np.int32))
    eps_t = b.add_constant("eps", np.array(eps, np.float32))
    gamma_value = rng.uniform(0.5, 1.5, size=(c,)).astype(np.float32)
    if const_gamma:
        gamma = b.add_constant("gamma", gamma_value)
    else:
        gamma = b.add_input("gamma", (c,), np.float32)
    beta = b.add_constant("beta", rng.normal(size=(c,)).astype(np.float32))
    t = {n: b.add_tensor(n, stat, np.float32) for n in ("mean", "var", "var_eps", "rstd")}
    d = b.add_tensor("sqdiff", shape, np.float32)
    g = b.add_tensor("g", shape if axis != -1 else (shape[:-1] + (c,)), np.float32)
    xg, mg, sub, y = (b.add_tensor(n, shape, np.float32) for n in ("xg", "mg", "centered", "y"))
    b.add_op("MEAN", [x, axes], [t["mean"]], keep_dims=True)
    b.add_op("SQUARED_DIFFERENCE", [t["mean"], x] if swap else [x, t["mean"]], [d])
    b.add_op("MEAN", [d, axes], [t["var"]], keep_dims=True)
    b.add_op("ADD", [t["var"], eps_t], [t["var_eps"]])
    b.add_op("RSQRT", [t["var_eps"]], [t["rstd"]])
    b.add_op("MUL", [gamma, t["rstd"]] if swap else [t["rstd"], gamma], [g])
    b.add_op("MUL", [x, g], [xg])
    b.add_op("MUL", [t["mean"], g], [mg])
    b.add_op("SUB", [beta, mg], [sub])
    b.add_op("ADD", [sub, xg] if swap else [xg, sub], [y], fused_activation_function=act_last)
    b.add_output(y)
    if keep_tm:
        b.add_output(t["mean"])
    return b.to_bytes()


def run(model: bytes, inputs, tier: str, monkeypatch, **kw):
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)
    monkeypatch.setattr(compiled, "ENABLED", tier == "compiled")
    it = edgelite.Interpreter(model_content=model, **kw)
    it.allocate_tensors()
    monkeypatch.undo()
    for det, x in zip(it.get_input_details(), inputs):
        it.set_tensor(det["index"], x)
    it.invoke()
    return it, [it.get_tensor(d["index"]) for d in it.get_output_details()]


def inputs_for(shape, offset=0.0):
    rng = np.random.default_rng(1)
    return [(rng.normal(size=shape) * 3 + offset).astype(np.float32)]


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("shape", [(1, 10, C), (2, 3, 5, 7), (1, 1), (4, 1000)])
@pytest.mark.parametrize("swap", [False, True])
def test_layer_norm_fused_matches_litert(tier, shape, swap, monkeypatch):
    model = layer_norm_model(shape, swap=swap)
    xs = inputs_for(shape)
    it, got = run(model, xs, tier, monkeypatch)
    assert [g.name for g in it._main._groups.values()] == ["LAYER_NORM"]
    want = run_litert(model, xs)
    err = np.abs(got[0] - want[0]) / np.maximum(1.0, np.abs(want[0]))
    assert err.max() <= FLOAT_TOL
    # and the unfused chain (experimental_preserve_all_tensors turns fusion off)
    it2, plain = run(model, xs, tier, monkeypatch, experimental_preserve_all_tensors=True)
    assert not it2._main._groups
    np.testing.assert_allclose(got[0], plain[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(4, 1000), (70, 1000)])
def test_layer_norm_numpy_layouts(shape, monkeypatch):
    """The numpy tier tiles gamma and beta to [rows, C] up to LayerNorm.TILED values and
    broadcasts them beyond: both within tolerance of LiteRT, both as the unfused chain."""
    from edgelite.kernels.fused import LayerNorm
    model = layer_norm_model(shape)
    xs = inputs_for(shape, offset=2.0)
    it, got = run(model, xs, "numpy", monkeypatch)
    (group,) = it._main._groups.values()
    kernel = group.kernel
    assert isinstance(kernel, LayerNorm)
    tiled = shape[0] * shape[1] <= LayerNorm.TILED
    assert kernel.gamma.shape == (shape if tiled else shape[-1:])
    want = run_litert(model, xs)
    err = np.abs(got[0] - want[0]) / np.maximum(1.0, np.abs(want[0]))
    assert err.max() <= FLOAT_TOL
    _, plain = run(model, xs, "numpy", monkeypatch, experimental_preserve_all_tensors=True)
    np.testing.assert_allclose(got[0], plain[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tier", TIERS)
def test_layer_norm_large_mean(tier, monkeypatch):
    """A mean far from zero (the unfused chain's x*g - mean*g cancels; the fused form
    does not): still within tolerance of LiteRT."""
    model = layer_norm_model((3, 64))
    xs = inputs_for((3, 64), offset=1000.0)
    _, got = run(model, xs, tier, monkeypatch)
    want = run_litert(model, xs)
    assert (np.abs(got[0] - want[0]) / np.maximum(1.0, np.abs(want[0]))).max() <= 1e-3


@pytest.mark.parametrize("variant", [{"act_last": 1}, {"axis": 0}, {"keep_tm": True},
                                     {"const_gamma": False}])
def test_not_the_pattern_is_not_fused(variant, monkeypatch):
    """A fused activation, another axis, an interior tensor that is also an output,
    a run-time gamma: no fusion, and the chain still gives LiteRT's numbers."""
    shape = (1, 10, C) if variant.get("axis", -1) == -1 else (4, 6)
    model = layer_norm_model(shape, **variant)
    xs = inputs_for(shape)
    if not variant.get("const_gamma", True):
        xs.append(np.random.default_rng(3).uniform(0.5, 1.5, size=shape[-1:]).astype(np.float32))
    it, _ = run(model, xs, "numpy", monkeypatch)
    assert not it._main._groups
    check_against_litert(model, xs)


def test_fused_intermediate_explains_itself(monkeypatch):
    model = layer_norm_model()
    xs = inputs_for((1, 10, C))
    it, _ = run(model, xs, "numpy", monkeypatch)
    mean = next(d["index"] for d in it.get_tensor_details() if d["name"] == "mean")
    with pytest.raises(InterpreterError, match="LAYER_NORM.*preserve_all_tensors"):
        it.get_tensor(mean)
    it2, _ = run(model, xs, "numpy", monkeypatch, experimental_preserve_all_tensors=True)
    want = xs[0] + it2.get_tensor(next(d["index"] for d in it2.get_tensor_details()
                                       if d["name"] == "bias"))
    np.testing.assert_allclose(it2.get_tensor(mean)[..., 0], want.mean(-1), rtol=1e-5, atol=1e-5)


def test_fusion_off_by_environment_and_reference(monkeypatch):
    model = layer_norm_model()
    monkeypatch.setenv("EDGELITE_FUSE", "0")
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    assert not it._main._groups
    monkeypatch.delenv("EDGELITE_FUSE")
    it = edgelite.Interpreter(model_content=model, experimental_op_resolver_type="BUILTIN_REF")
    it.allocate_tensors()
    assert not it._main._groups


def test_fused_arena_is_smaller_and_profile_names_it(monkeypatch):
    model = layer_norm_model((4, 1000))
    fused = edgelite.Interpreter(model_content=model)
    fused.allocate_tensors()
    plain = edgelite.Interpreter(model_content=model, experimental_preserve_all_tensors=True)
    plain.allocate_tensors()
    assert fused._main.memory["arena_bytes"] < plain._main.memory["arena_bytes"]
    assert fused._main.memory["arena_bytes"] == fused._main.memory["lower_bound_bytes"]
    prof = fused.enable_profiling()
    fused.set_tensor(0, inputs_for((4, 1000))[0])
    fused.invoke()
    names = {r["op"] for r in prof.per_node()}
    assert "LAYER_NORM (fused)" in names and "MEAN" not in names and "RSQRT" not in names


def test_transformer_fixture_fuses_its_layer_norms():
    """The TF-converted transformer fixture: both LayerNormalizations fused, outputs
    still LiteRT's."""
    from pathlib import Path
    path = Path(__file__).parents[1] / "fixtures" / "models" / "transformer_float32.tflite"
    it = edgelite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    assert [g.name for g in it._main._groups.values()] == ["LAYER_NORM"] * 2
    check_against_litert(path.read_bytes(), inputs_for(tuple(it.get_input_details()[0]["shape"])))


# ---------------------------------------------------------------- clamp motion
def conv_pool_model(c_in=3, act="RELU6", pool=(2, 2, 2, "VALID"), pool_act="NONE",
                    extra_reader=False, hw=12, batch=1, width=None):
    """x [batch, hw, width or hw, c_in] -> CONV_2D 3x3 SAME (8 channels, act) ->
    MAX_POOL_2D."""
    rng = np.random.default_rng(c_in)
    b = ModelBuilder()
    width = hw if width is None else width
    x = b.add_input("x", (batch, hw, width, c_in), np.float32)
    w = b.add_constant("w", rng.normal(size=(8, 3, 3, c_in)).astype(np.float32))
    bias = b.add_constant("b", rng.normal(size=8).astype(np.float32))
    y = b.add_tensor("y", (batch, hw, width, 8), np.float32)
    b.add_op("CONV_2D", [x, w, bias], [y], padding="SAME", stride_w=1, stride_h=1,
             fused_activation_function=act)
    fh, fw, s, pad = pool
    z = b.add_tensor("z", (1,), np.float32)
    b.add_op("MAX_POOL_2D", [y], [z], padding=pad, stride_w=s, stride_h=s, filter_width=fw,
             filter_height=fh, fused_activation_function=pool_act)
    b.add_output(z)
    if extra_reader:
        b.add_output(y)
    return b.to_bytes()


def assert_same_as_unfused(model, xs, steps, monkeypatch, again=False):
    """Numpy tier: the same outputs as with fusion off (preserve_all_tensors), on xs and
    on a copy with NaN / inf / -inf every steps[0] / [1] / [2] values (not compared with
    LiteRT there: its max pool drops a NaN, or gives -inf under XNNPACK when a window
    starts with one; edgelite's propagates it); again: a second invoke on the same
    buffers too."""
    special = [xs[0].copy()]
    for k, (step, value) in enumerate(zip(steps, (np.nan, np.inf, -np.inf))):
        special[0].reshape(-1)[3 * k::step] = value
    for x in (xs, special):
        it, got = run(model, x, "numpy", monkeypatch)
        _, want = run(model, x, "numpy", monkeypatch, experimental_preserve_all_tensors=True)
        np.testing.assert_array_equal(got[0], want[0])
        if again:
            it.invoke()
            np.testing.assert_array_equal(
                it.get_tensor(it.get_output_details()[0]["index"]), want[0])


@pytest.mark.parametrize("c_in", [3, 16])     # columns with a ones column, row-major ones
@pytest.mark.parametrize("act", ["RELU6", "RELU", "RELU_N1_TO_1"])
@pytest.mark.parametrize("pool", [(2, 2, 2, "VALID"), (3, 3, 2, "SAME"), (2, 2, 1, "SAME")])
def test_conv_clamp_moves_after_max_pool(c_in, act, pool, monkeypatch):
    """Numpy tier: the conv's clamp moves to the max pool that alone reads its output
    (fusion.clamp_moves): the same outputs as LiteRT, and as without the motion also
    with NaN and inf inputs (assert_same_as_unfused)."""
    model = conv_pool_model(c_in, act, pool)
    xs = inputs_for((1, 12, 12, c_in))
    it, _ = run(model, xs, "numpy", monkeypatch)
    conv, pool_k = it._main.kernels
    assert conv.bounds == (None, None) and pool_k.bounds != (None, None)
    # (12 columns: not the planar path, which alone stores its rows by parity)
    assert conv.planar is None and not conv.row_parity and not pool_k.row_parity
    check_against_litert(model, xs)
    assert_same_as_unfused(model, xs, (37, 41, 43), monkeypatch)


@pytest.mark.parametrize("shape", [(1, 12, 16), (2, 12, 17), (3, 8, 16), (1, 11, 16),
                                   (2, 9, 19), (1, 6, 33)])
@pytest.mark.parametrize("act,pool_act", [("RELU6", "NONE"), ("NONE", "NONE"),
                                          ("RELU", "RELU6")])
def test_conv_rows_by_parity_for_max_pool(shape, act, pool_act, monkeypatch):
    """Numpy tier: a planar conv (3 input channels) whose output only a 2x2 / 2 max pool
    reads stores its rows by parity, [2, N, H / 2, W, C], and the pool takes the max of
    the two halves (take_row_parity / accepts_row_parity): batches of 1-3, odd widths
    (16 columns and more: the planar path);
    not for an odd height, nor when the conv keeps a clamp (the pool has an activation
    of its own). The same outputs as LiteRT, and as without fusion also with NaN / inf."""
    n, h, w = shape
    model = conv_pool_model(3, act, (2, 2, 2, "VALID"), pool_act, hw=h, batch=n, width=w)
    xs = inputs_for((n, h, w, 3))
    it, _ = run(model, xs, "numpy", monkeypatch)
    conv, pool_k = it._main.kernels
    taken = h % 2 == 0 and pool_act == "NONE"
    assert conv.planar is not None
    assert conv.row_parity == pool_k.row_parity == taken, (conv.row_parity, pool_k.row_parity)
    check_against_litert(model, xs)
    assert_same_as_unfused(model, xs, (29, 31, 37), monkeypatch, again=True)


def test_rows_by_parity_after_a_resize(monkeypatch):
    """A resize re-prepares both nodes: the layout is chosen again for the new shape
    (odd height: not taken), and outputs follow LiteRT at each size."""
    model = conv_pool_model(3, "RELU6", hw=12, width=16)
    monkeypatch.setattr(compiled, "ENABLED", False)
    it = edgelite.Interpreter(model_content=model)
    for h, taken in ((12, True), (11, False), (16, True)):
        it.resize_tensor_input(0, [1, h, 16, 3])
        it.allocate_tensors()
        conv, pool_k = it._main.kernels
        assert conv.row_parity == pool_k.row_parity == taken
        x = inputs_for((1, h, 16, 3))
        it.set_tensor(it.get_input_details()[0]["index"], x[0])
        it.invoke()
        want = run_litert(model, x)[0]
        np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]), want,
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["extra_reader", "pool_act", "no_act"])
def test_clamp_stays_when_it_cannot_move(variant, monkeypatch):
    """No motion when another node (here: the graph output) reads the conv's output,
    when the pool has an activation of its own, or when there is no clamp."""
    model = conv_pool_model(act="NONE" if variant == "no_act" else "RELU6",
                            pool_act="RELU" if variant == "pool_act" else "NONE",
                            extra_reader=variant == "extra_reader")
    xs = inputs_for((1, 12, 12, 3))
    it, _ = run(model, xs, "numpy", monkeypatch)
    conv, pool_k = it._main.kernels
    assert conv.bounds == ((None, None) if variant == "no_act" else (0.0, 6.0))
    assert pool_k.bounds == ((0.0, None) if variant == "pool_act" else (None, None))
    check_against_litert(model, xs)


@pytest.mark.skipif(not compiled.ENABLED, reason="numba not installed")
@pytest.mark.parametrize("hw", [12, 64])
def test_clamp_motion_with_compiled_tier_at_its_own_sizes(hw, monkeypatch):
    """With the compiled tier on at its usual size thresholds (the compiled GEMM keeps
    its fused clamp: nothing moves), outputs are as without fusion; a compiled pool
    given a clamp (add_clamp) is covered by the direct test below."""
    model = conv_pool_model(3, "RELU6", hw=hw)
    xs = inputs_for((1, hw, hw, 3))
    outs = []
    for keep in (False, True):
        monkeypatch.setattr(compiled, "ENABLED", True)
        it = edgelite.Interpreter(model_content=model, experimental_preserve_all_tensors=keep)
        it.allocate_tensors()
        monkeypatch.undo()
        it.set_tensor(it.get_input_details()[0]["index"], xs[0])
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.skipif(not compiled.ENABLED, reason="numba not installed")
def test_compiled_max_pool_takes_a_moved_clamp(monkeypatch):
    """A numpy conv before a compiled 2x2 max pool: the pool's one-pass kernel applies
    the moved clamp (its lo / hi arguments)."""
    from edgelite.kernels import conv
    model = conv_pool_model(3, "RELU6", hw=64)
    xs = inputs_for((1, 64, 64, 3))
    monkeypatch.setattr(compiled, "ENABLED", True)
    monkeypatch.setattr(conv, "compiled_tier", lambda *a, **k: None)   # numpy conv
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    monkeypatch.undo()
    conv_k, pool_k = it._main.kernels
    assert pool_k.compiled is not None and conv_k.bounds == (None, None)
    assert (pool_k.lo, pool_k.hi) == (0.0, 6.0)
    it.set_tensor(it.get_input_details()[0]["index"], xs[0])
    it.invoke()
    _, want = run(model, xs, "numpy", monkeypatch, experimental_preserve_all_tensors=True)
    np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), want[0])
