"""The runtime hands kernels C-contiguous arrays only, which the kernels' bind-time views
rely on (a kernel keeps `x.reshape(...)` views of its arrays from bind; for a strided
array that reshape would be a copy, stale at the next invoke). Checked on every fixture,
with and without every tensor preserved, including nested subgraphs (WHILE bodies)."""
import numpy as np
import pytest
from fixture_util import NAMES, inputs, model_path

import edgelite


def _executors(ex):
    yield ex
    for child in getattr(ex, "children", {}).values():
        yield from _executors(child)


def _arrays(ex):
    for fn, ictx in ex._steps or ():
        if ictx is None:
            continue
        for kind, arrs in (("input", ictx.inputs), ("output", ictx.outputs),
                           ("scratch", ictx.scratch)):
            for k, a in enumerate(arrs):
                if isinstance(a, np.ndarray):
                    yield f"{kind} {k} of {getattr(fn, '__qualname__', fn)}", a


@pytest.mark.parametrize("preserve", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_runtime_binds_contiguous_arrays(name, preserve):
    it = edgelite.Interpreter(model_path=str(model_path(name)),
                              experimental_preserve_all_tensors=preserve)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs(name)):
        it.set_tensor(d["index"], x)
    it.invoke()
    seen = 0
    for top in list(it._executors.values()):
        for ex in _executors(top):
            for what, a in _arrays(ex):
                assert a.flags.c_contiguous, f"{name}: {what} is strided {a.strides}"
                seen += 1
    assert seen > 0


def _check_bound_invokes(it, xs) -> int:
    """Each node called directly on fresh contiguous copies of its arrays (scratch too)
    writes what it wrote in the interpreter's invoke; the interpreter's own steps then
    give their outputs again. Returns how many kernels had a closure as invoke."""
    for d, x in zip(it.get_input_details(), xs):
        it.set_tensor(d["index"], x)
    ex = it._main
    it.invoke()
    want = it.get_tensor(it.get_output_details()[0]["index"]).copy()
    closures = 0
    for i, (_fn, ictx) in enumerate(ex._steps):
        kernel = ex.kernels[i]
        closures += "invoke" in vars(kernel)
        it.invoke()     # (every step's inputs as in a full invoke, up to step i)
        for f, c in ex._steps[:i + 1]:
            f(c)
        expect = [o.copy() for o in ictx.outputs if o is not None]
        fresh = type(ictx)([None if a is None else a.copy() for a in ictx.inputs],
                           [None if a is None else np.zeros_like(a) for a in ictx.outputs],
                           [a.copy() for a in ictx.scratch], ictx.prepare_ctx, ictx._resize)
        kernel.invoke(fresh)
        for g, e in zip([o for o in fresh.outputs if o is not None], expect):
            if g.dtype.kind == "f":
                np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6, err_msg=f"step {i}")
            else:
                np.testing.assert_array_equal(g, e, err_msg=f"step {i}")
        # the interpreter's steps again, the kernel now bound to the fresh arrays
        it.invoke()
        np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]), want,
                                   rtol=1e-6, atol=1e-6, err_msg=f"after step {i}")
    return closures


@pytest.mark.parametrize("name", ["cnn_float32", "cnn_dynamic_range", "kws_int8",
                                  "cnn_int8"])
def test_bound_invokes_follow_new_arrays(name):
    """Kernels that put a closure over their binding in place of invoke (float convs
    and pools, batch-1 hybrid nodes) still compute on other arrays handed to them, and
    the interpreter's steps still compute on the arena's afterwards."""
    it = edgelite.Interpreter(model_path=str(model_path(name)))
    it.allocate_tensors()
    closures = _check_bound_invokes(it, inputs(name))
    if name.startswith("cnn_"):
        assert closures > 0


def test_bound_invokes_with_padded_copies_in_scratch(monkeypatch):
    """As above, on numpy-tier nodes whose padded input copy lives in shared scratch
    (too big for a buffer of their own): a convolution and a row-run depthwise
    convolution whose closures must keep their binding's padded copy, not the one a
    later bind made."""
    from edgelite.format.builder import ModelBuilder
    from edgelite.kernels import compiled
    monkeypatch.setattr(compiled, "ENABLED", False)
    rng = np.random.default_rng(4)
    b = ModelBuilder()
    x = b.add_input("x", (1, 64, 64, 16), np.float32)
    w = b.add_constant("w", rng.standard_normal((16, 3, 3, 16)).astype(np.float32) * 0.2)
    bias = b.add_constant("b", rng.standard_normal(16).astype(np.float32))
    y = b.add_tensor("y", (1, 64, 64, 16), np.float32)
    b.add_op("CONV_2D", [x, w, bias], [y], padding="SAME", stride_h=1, stride_w=1,
             fused_activation_function="RELU6")
    wd = b.add_constant("wd", rng.standard_normal((1, 3, 3, 16)).astype(np.float32))
    bd = b.add_constant("bd", rng.standard_normal(16).astype(np.float32))
    z = b.add_tensor("z", (1, 64, 64, 16), np.float32)
    b.add_op("DEPTHWISE_CONV_2D", [y, wd, bd], [z], padding="SAME", stride_h=1,
             stride_w=1, depth_multiplier=1, fused_activation_function="RELU")
    b.add_output(z)
    it = edgelite.Interpreter(model_content=b.to_bytes())
    it.allocate_tensors()
    conv, dw = it._main.kernels
    assert conv.pad_own is None and conv.pad.needed and dw.rowflat and dw.pad_own is None
    assert _check_bound_invokes(it, [rng.standard_normal((1, 64, 64, 16)).astype(np.float32)]) == 2
