"""Every TF-converted fixture runs end to end and matches LiteRT.

Quantized outputs are compared with LiteRT's reference kernels (BUILTIN_REF)
bit for bit, and with its default kernels within the difference FACTS.md
measured between LiteRT's own two kernel sets. Float outputs within
1e-4 * max(1, |ref|) (FACTS.md: the safe float bar for converted models).
"""
import numpy as np
import pytest
from fixture_util import BY_NAME, NAMES, inputs, model_bytes, model_path, reference
from oracle import max_error

import edgelite

FLOAT_TOL = 1e-4
QUANTIZED = {"int8", "uint8"}


def _run(it, xs):
    for d, x in zip(it.get_input_details(), xs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def _check(got, want, kind, where):
    assert got.shape == want.shape and got.dtype == want.dtype, where
    err = max_error(got, want)
    if want.dtype.kind in "fc":
        assert err <= FLOAT_TOL, f"{where}: float error {err}"
    else:
        assert err == 0, f"{where}: {err} quantized steps off LiteRT's reference kernels"
    return err


SIMPLE = [n for n in NAMES if n not in ("multi_signature", "stateful_var")]


@pytest.mark.parametrize("name", SIMPLE)
def test_fixture_matches_litert_reference(name):
    kind = BY_NAME[name]["kind"]
    ref = reference(name)
    it = edgelite.Interpreter(model_path=str(model_path(name)))
    it.allocate_tensors()
    outs = _run(it, inputs(name))
    for i, got in enumerate(outs):
        _check(got, ref[f"ref_output_{i}"], kind, f"{name} output {i}")
    # Running again on the same interpreter gives the same answer (no stale state;
    # variable tensors such as LSTM states persist across invokes as in TFLite, so
    # reset them first).
    it.reset_all_variables()
    again = _run(it, inputs(name))
    for a, b in zip(outs, again):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("name", [n for n in SIMPLE if BY_NAME[n]["kind"] in QUANTIZED])
def test_fixture_with_small_nodes_compiled(name, monkeypatch):
    """As users get it with numba installed: once numba is loaded, the 8-bit models'
    small nodes (pools, few-row SOFTMAX, FULLY_CONNECTED, convs from 256 outputs) take the
    compiled tier too (the suite's default keeps them on the numpy tier); still equal to
    LiteRT's reference kernels bit for bit."""
    from edgelite.kernels import compiled, conv
    if not compiled.ENABLED:
        pytest.skip("numba is not installed (the test extra installs it)")
    monkeypatch.setattr(conv, "COMPILED_SMALL_NODES", True)
    it = edgelite.Interpreter(model_path=str(model_path(name)))
    it.allocate_tensors()
    ref = reference(name)
    for i, got in enumerate(_run(it, inputs(name))):
        _check(got, ref[f"ref_output_{i}"], BY_NAME[name]["kind"], f"{name} output {i}")
    ex = it._executor(0)
    small_compiled = [
        type(k).__name__ for oi, k in enumerate(ex.kernels) if k is not None
        and ex._make_ictx(oi).outputs[0].size < conv.COMPILED_MIN_OUTPUT
        and any(getattr(k, a, None) is not None for a in ("fast", "compiled", "g_kernel"))]
    assert small_compiled, f"{name}: no small node took the compiled tier"


def test_multi_signature_runners():
    ref = reference("multi_signature")
    it = edgelite.Interpreter(model_path=str(model_path("multi_signature")))
    for key, sig in it.get_signature_list().items():
        run = it.get_signature_runner(key)
        out = run(**{n: ref[f"sig_{key}_in_{n}"] for n in sig["inputs"]})
        assert sorted(out) == sorted(sig["outputs"])
        for n in sig["outputs"]:
            _check(out[n], ref[f"sig_{key}_refout_{n}"], "float32", f"signature {key} output {n}")


def test_stateful_model_keeps_state_and_resets():
    ref = reference("stateful_var")
    it = edgelite.Interpreter(model_path=str(model_path("stateful_var")))
    it.allocate_tensors()
    x = ref["input_0"]
    for step in range(3):
        (out,) = _run(it, [x])
        _check(out, ref[f"ref_output_0_step{step}"], "float32", f"step {step}")
    # LiteRT's reset_all_variables leaves resource variables alone (measured with
    # ai-edge-litert 2.3.0: the 4th invoke continues from step 2). edgelite resets
    # them, so a streaming model can be restarted: the next invoke is step 0 again.
    it.reset_all_variables()
    (out,) = _run(it, [x])
    _check(out, ref["ref_output_0_step0"], "float32", "after reset")


@pytest.mark.parametrize("name", SIMPLE)
def test_preserve_all_tensors_keeps_intermediates(name):
    it = edgelite.Interpreter(model_path=str(model_path(name)),
                              experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    _run(it, inputs(name))
    it.reset_all_variables()
    _run(it, inputs(name))
    sg = it.model.subgraphs[0]
    seen = {}
    for op in sg.operators:
        for t in op.outputs:
            if t >= 0:
                seen[t] = it.get_tensor(t).copy()
    # Run once more: every intermediate is recomputed to the same value, i.e. no
    # other tensor shared (and clobbered) its memory.
    it.reset_all_variables()
    _run(it, inputs(name))
    for t, v in seen.items():
        assert np.array_equal(it.get_tensor(t), v, equal_nan=v.dtype.kind == "f")


@pytest.mark.parametrize("name", NAMES)
def test_arena_within_five_percent_of_lower_bound(name):
    it = edgelite.Interpreter(model_path=str(model_path(name)))
    it.allocate_tensors()
    r = it.memory_report()
    assert r["arena_bytes"] <= 1.05 * r["lower_bound_bytes"] + 64, r
    assert r["arena_bytes"] <= r["naive_bytes"], r


@pytest.mark.parametrize("name", ["cnn_float32"])
def test_batch_resize_matches_litert(name):
    from oracle import run_litert
    xs = inputs(name)
    batched = [np.concatenate([x, x[::-1] * 0.5 if x.dtype.kind == "f" else x]) for x in xs]
    want = run_litert(model_bytes(name), batched, reference=True)
    it = edgelite.Interpreter(model_path=str(model_path(name)))
    for d, x in zip(it.get_input_details(), batched):
        it.resize_tensor_input(d["index"], x.shape)
    it.allocate_tensors()
    got = _run(it, batched)
    for i, (g, w) in enumerate(zip(got, want)):
        _check(g, w, "float32", f"{name} batch-2 output {i}")


def test_resize_pinned_by_constant_names_the_tensor():
    # LiteRT fails here with "reshape_utils.h num_input_elements !=
    # num_output_elements (1024 != 512) Node number 1 (RESHAPE) failed to prepare";
    # edgelite says which constant pins the shape.
    it = edgelite.Interpreter(model_path=str(model_path("transformer_float32")))
    x = inputs("transformer_float32")[0]
    it.resize_tensor_input(0, (2,) + x.shape[1:])
    with pytest.raises(edgelite.OpError, match=r"operator 1 \(RESHAPE\).*constant shape tensor"):
        it.allocate_tensors()
