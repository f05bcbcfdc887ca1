"""BIDIRECTIONAL_SEQUENCE_RNN against LiteRT: both layouts, merged or separate
outputs, every fused activation, no aux input / aux input with its own weights
(cross links) / aux input read by the backward cell (no cross links), several
invokes on one interpreter (the hidden states persist)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from kernels.test_quant_rnn import TOL_EXACT, TOL_TANH, qweight
from kernels.test_quant_rnn import run_steps as run_hybrid_steps
from kernels.test_rnn import bidi_steps, case_seed, expect_op_error, run_steps, sample

import edgelite
from edgelite.format.builder import ModelBuilder

ACTS = ["TANH", "RELU", "RELU6", "RELU_N1_TO_1", "NONE", "SIGN_BIT"]
# Unbounded activations let states grow step by step; summation-order differences
# (LiteRT: bias, input, aux, recurrent products one after another) grow with them.
TOL = {"NONE": 1e-4, "RELU": 1e-4}


def bidi_rnn_model(B, T, I, Uf, Ub, *, act="TANH", merge=False, time_major=False,
                   aux="none", n_aux=3, seed=0, hybrid=False, asym=False):
    """hybrid: int8 weight matrices (per-tensor scale), float bias and states."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder("bidirectional rnn")
    lead = (T, B) if time_major else (B, T)
    x = b.add_input("x", lead + (I,), np.float32)
    A = n_aux if aux == "cross" else I

    def w(name, shape, scale=0.5):
        if hybrid and len(shape) == 2:
            return qweight(b, rng, name, shape, scale=scale / 60)
        return b.add_constant(name, rng.normal(0, scale, shape).astype(np.float32))
    ins = [x]
    for p, U in (("fw_", Uf), ("bw_", Ub)):
        ins += [w(p + "w", (U, I)), w(p + "r", (U, U), 0.3), w(p + "b", (U,)),
                b.add_tensor(p + "h", (B, U), np.float32, is_variable=True)]
    if aux == "none":
        ins += [-1, -1, -1]
    else:
        ins.append(b.add_input("aux", lead + (A,), np.float32))
        if aux == "cross":
            ins += [w("fw_aw", (Uf, A)), w("bw_aw", (Ub, A))]
        else:
            ins += [-1, -1]
    if merge:
        outs = [b.add_tensor("y", lead + (Uf + Ub,), np.float32)]
    else:
        outs = [b.add_tensor("fw_y", lead + (Uf,), np.float32),
                b.add_tensor("bw_y", lead + (Ub,), np.float32)]
    b.add_op("BIDIRECTIONAL_SEQUENCE_RNN", ins, outs, fused_activation_function=act,
             merge_outputs=merge, time_major=time_major,
             **({"asymmetric_quantize_inputs": asym} if hybrid else {}))
    for o in outs:
        b.add_output(o)
    shapes = [lead + (I,)] + ([] if aux == "none" else [lead + (A,)])
    return b.to_bytes(), shapes


GRID = [
    {"shape": s, "act": act, "merge": merge, "time_major": tm, "aux": aux}
    for s, act, merge, tm, aux in itertools.product(
        ((1, 1, 1, 1, 1), (2, 3, 4, 5, 3), (3, 4, 2, 2, 4)), ACTS, (False, True),
        (False, True), ("none", "cross", "bw_input"))
    # Two LiteRT 2.3.0 bugs (bidirectional_sequence_rnn.cc, EvalFloat), checked against
    # a numpy reference below instead: the time-major branch steps the aux input with
    # the input's row width (aux_input + s * input_size * batch_size), wrong rows when
    # the aux input is narrower; the batch-major branch's backward cell reads `input`
    # where the op (and its time-major branch) reads the aux input when there are no
    # aux weights ("fw will use input, bw will use aux_input").
    if not (tm and aux == "cross") and not (not tm and aux == "bw_input")
]
# Hybrid cases against LiteRT are batch-major only: LiteRT 2.3.0's hybrid time-major
# branch (EvalHybrid) wraps the whole sequence in a second `for t < max_time` loop, so
# the states advance max_time times too far (and with merged outputs and batch > 1 it
# crashed the process here). The time-major hybrid kernel is checked against the
# batch-major one instead (test_hybrid_time_major_equals_batch_major).
_HYBRID_BASE = [
    {"shape": s, "act": act, "merge": merge, "time_major": False, "aux": aux}
    for s, act, merge, aux in itertools.product(
        ((1, 1, 1, 1, 1), (2, 3, 4, 5, 3), (3, 4, 2, 2, 4)), ACTS, (False, True),
        ("none", "cross"))
]


def _case(case):
    B, T, I, Uf, Ub = case["shape"]
    return bidi_rnn_model(B, T, I, Uf, Ub, act=case["act"], merge=case["merge"],
                          time_major=case["time_major"], aux=case["aux"],
                          seed=case_seed(case))


@pytest.mark.parametrize("case", sample(GRID, 48, seed=4), ids=str)
def test_bidirectional_sequence_rnn(case):
    model, shapes = _case(case)
    run_steps(model, bidi_steps(shapes, 3, seed=5), tol=TOL.get(case["act"], 1e-5))


@pytest.mark.slow
@pytest.mark.parametrize("case", GRID, ids=str)
def test_bidirectional_sequence_rnn_full_grid(case):
    model, shapes = _case(case)
    run_steps(model, bidi_steps(shapes, 3, seed=5), tol=TOL.get(case["act"], 1e-5))


def _reference(model: bytes, xs, merge, time_major, aux_mode):
    """float64 numpy forward of the op (TANH), from the model's own constants."""
    m = edgelite.load_model(model)
    tensors = m.subgraphs[0].tensors
    consts = {t.name: m.constant(t) for t in tensors if m.constant(t) is not None}
    x = xs[0].astype(np.float64)
    aux = xs[1].astype(np.float64)
    if not time_major:
        x, aux = x.transpose(1, 0, 2), aux.transpose(1, 0, 2)
    T, B = x.shape[:2]
    outs = []
    for p, order in (("fw_", range(T)), ("bw_", range(T - 1, -1, -1))):
        W, R, b = consts[p + "w"], consts[p + "r"], consts[p + "b"]
        src = aux if p == "bw_" and aux_mode == "bw_input" else x
        h = np.zeros((B, W.shape[0]))
        y = np.zeros((T, B, W.shape[0]))
        for t in order:
            z = src[t] @ W.T + h @ R.T + b
            if aux_mode == "cross":
                z += aux[t] @ consts[p + "aw"].T
            h = np.tanh(z)
            y[t] = h
        outs.append(y)
    y = np.concatenate(outs, -1) if merge else outs
    if not time_major:
        y = y.transpose(1, 0, 2) if merge else [o.transpose(1, 0, 2) for o in y]
    return [y] if merge else y


@pytest.mark.parametrize("merge", [False, True])
@pytest.mark.parametrize("time_major,aux", [(True, "cross"), (False, "bw_input"),
                                            (False, "cross"), (True, "bw_input")])
def test_against_numpy_where_litert_errs(merge, time_major, aux):
    # Where LiteRT's bugs apply (see GRID), edgelite follows the op's definition:
    # checked against a float64 numpy forward pass (and the cases LiteRT gets right,
    # too, so the reference is checked as well).
    model, shapes = bidi_rnn_model(2, 4, 5, 3, 2, merge=merge, time_major=time_major,
                                   aux=aux, n_aux=3, seed=1)
    xs = bidi_steps(shapes, 1, seed=2)[0]
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    for d, v in zip(it.get_input_details(), xs):
        it.set_tensor(d["index"], v)
    it.invoke()
    got = [it.get_tensor(d["index"]) for d in it.get_output_details()]
    for g, w in zip(got, _reference(model, xs, merge, time_major, aux)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_aux_weights_without_aux_input_is_an_error():
    rng = np.random.default_rng(0)
    b = ModelBuilder()
    x = b.add_input("x", (1, 2, 3), np.float32)
    ins = [x]
    for p in ("fw_", "bw_"):
        ins += [b.add_constant(p + "w", rng.normal(size=(2, 3)).astype(np.float32)),
                b.add_constant(p + "r", rng.normal(size=(2, 2)).astype(np.float32)),
                b.add_constant(p + "b", rng.normal(size=2).astype(np.float32)),
                b.add_tensor(p + "h", (1, 2), np.float32, is_variable=True)]
    ins += [-1, b.add_constant("fw_aw", np.ones((2, 3), np.float32)),
            b.add_constant("bw_aw", np.ones((2, 3), np.float32))]
    y = b.add_tensor("y", (1, 2, 4), np.float32)
    b.add_op("BIDIRECTIONAL_SEQUENCE_RNN", ins, [y], merge_outputs=True)
    b.add_output(y)
    expect_op_error(b.to_bytes(), "BIDIRECTIONAL_SEQUENCE_RNN")


# ----------------------------------------------------------------- hybrid (int8 weights)
# LiteRT's hybrid path steps the aux input with the input's width (EvalHybrid), so
# cross-linked cases use an aux input as wide as the input; its batch-major backward
# cell reads the input, not the aux input, as the float path's does (see GRID).
HYBRID_GRID = [dict(c, asym=asym) for c in _HYBRID_BASE for asym in (False, True)
               if c["act"] in ("TANH", "RELU", "NONE")]


def _hybrid_case(case):
    B, T, I, Uf, Ub = case["shape"]
    return bidi_rnn_model(B, T, I, Uf, Ub, act=case["act"], merge=case["merge"],
                          time_major=case["time_major"], aux=case["aux"], n_aux=I,
                          seed=case_seed(case), hybrid=True, asym=case["asym"])


@pytest.mark.parametrize("case", sample(HYBRID_GRID, 24, seed=8), ids=str)
def test_hybrid_bidirectional_sequence_rnn(case):
    model, shapes = _hybrid_case(case)
    run_hybrid_steps(model, bidi_steps(shapes, 3, seed=5),
                     tol=TOL_TANH if case["act"] == "TANH" else TOL_EXACT)


@pytest.mark.slow
@pytest.mark.parametrize("case", HYBRID_GRID, ids=str)
def test_hybrid_bidirectional_sequence_rnn_full_grid(case):
    model, shapes = _hybrid_case(case)
    run_hybrid_steps(model, bidi_steps(shapes, 3, seed=5),
                     tol=TOL_TANH if case["act"] == "TANH" else TOL_EXACT)


@pytest.mark.parametrize("merge", [False, True])
@pytest.mark.parametrize("aux", ["none", "cross", "bw_input"])
@pytest.mark.parametrize("asym", [False, True])
def test_hybrid_time_major_equals_batch_major(merge, aux, asym):
    B, T, I = 3, 4, 5
    outs = {}
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(B, T, I)).astype(np.float32) for _ in range(2)]
    for tm in (False, True):
        model, _ = bidi_rnn_model(B, T, I, 4, 3, act="TANH", merge=merge, time_major=tm,
                                  aux=aux, n_aux=I, seed=11, hybrid=True, asym=asym)
        it = edgelite.Interpreter(model_content=model)
        it.allocate_tensors()
        feed = [x.transpose(1, 0, 2).copy() if tm else x for x in xs]
        for d, v in zip(it.get_input_details(), feed):
            it.set_tensor(d["index"], v)
        it.invoke()
        got = [it.get_tensor(d["index"]) for d in it.get_output_details()]
        outs[tm] = [g.transpose(1, 0, 2) if tm else g for g in got]
    for a, b in zip(outs[False], outs[True]):
        np.testing.assert_array_equal(a, b)
