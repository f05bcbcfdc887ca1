"""The compiled LSTM time loop (edgelite/kernels/compiled_rnn.py) against LiteRT.

The conformance grids of test_rnn.py use cells far below the compiled tier's
size threshold, so here the threshold is 0 and the TANH cases (the ones the
compiled loop covers: full or CIFG gates, peephole, projection, clipping, both
layouts, both directions, aux inputs) run again against LiteRT; each case also
checks that the compiled loop really ran, and that it agrees with the numpy
loop. Without numba the tier is absent and these cases run the numpy loop
(still checked against LiteRT).
"""
from __future__ import annotations

import numpy as np
import pytest
from kernels.test_rnn import (
    BIDI_GRID,
    LSTM_GRID,
    TOL,
    UNI_GRID,
    _bidi_case,
    _lstm_case,
    _uni_case,
    bidi_steps,
    rand_steps,
    run_steps,
    sample,
)

import edgelite
from edgelite.kernels import compiled

TANH_UNI = [c for c in UNI_GRID if c["act"] == "TANH" and not c["ln"]]
TANH_LSTM = [c for c in LSTM_GRID if c["act"] == "TANH" and not c["ln"]]
TANH_BIDI = [c for c in BIDI_GRID if c["act"] == "TANH"]


@pytest.fixture(autouse=True)
def compiled_for_every_size(monkeypatch):
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)


def _fast_used(model: bytes) -> bool:
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    kernel = it._executors[0].kernels[0]
    kernel = getattr(kernel, "impl", kernel)     # LSTM delegates to its full/basic kernel
    cells = [getattr(kernel, n) for n in ("cell", "fw", "bw") if hasattr(kernel, n)]
    assert cells, "no LSTM cell found on the kernel"
    return all(c.fast is not None for c in cells)


def _tiers_agree(model: bytes, steps) -> None:
    outs = {}
    for tier in (True, False):
        saved = compiled.ENABLED
        compiled.ENABLED = saved and tier
        try:
            it = edgelite.Interpreter(model_content=model)
            it.allocate_tensors()
        finally:
            compiled.ENABLED = saved
        got = []
        for inputs in steps:
            for d, x in zip(it.get_input_details(), inputs):
                it.set_tensor(d["index"], x)
            it.invoke()
            got += [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]
        outs[tier] = got
    for a, b in zip(outs[True], outs[False]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _check(model, steps):
    assert _fast_used(model) == compiled.ENABLED
    run_steps(model, steps, tol=TOL)
    _tiers_agree(model, steps)


@pytest.mark.parametrize("case", sample(TANH_UNI, 24, seed=5), ids=str)
def test_compiled_unidirectional_sequence_lstm(case):
    model, shape = _uni_case(case)
    _check(model, rand_steps(shape, 3, seed=7))


@pytest.mark.parametrize("case", sample(TANH_LSTM, 12, seed=6), ids=str)
def test_compiled_lstm_one_step(case):
    model, shape = _lstm_case(case)
    _check(model, rand_steps(shape, 4, seed=11))


@pytest.mark.parametrize("case", sample(TANH_BIDI, 16, seed=7), ids=str)
def test_compiled_bidirectional_sequence_lstm(case):
    model, shapes = _bidi_case(case)
    _check(model, bidi_steps(shapes, 2, seed=9))


@pytest.mark.slow
@pytest.mark.parametrize("case", TANH_UNI, ids=str)
def test_compiled_unidirectional_sequence_lstm_full_grid(case):
    model, shape = _uni_case(case)
    _check(model, rand_steps(shape, 3, seed=7))
