"""WHILE / IF / CALL against LiteRT on builder-made models: loop states that swap,
pass through, alias the arena, or never iterate."""
from __future__ import annotations

import numpy as np
import pytest
from oracle import check_against_litert, run_edgelite

from edgelite.format.builder import ModelBuilder


def _counter_loop(limit: int, body_fn) -> bytes:
    """WHILE over (i, a, b): cond i < limit; body_fn(body, i, a, b) -> its three outputs."""
    b = ModelBuilder("while")
    i0 = b.add_input("i", (), np.int32)
    a0 = b.add_input("a", (2, 3), np.float32)
    b0 = b.add_input("b", (2, 3), np.float32)
    outs = [b.add_tensor("i_out", (), np.int32), b.add_tensor("a_out", (2, 3), np.float32),
            b.add_tensor("b_out", (2, 3), np.float32)]
    cond = b.add_subgraph("cond")
    ci = cond.add_input("i", (), np.int32)
    cond.add_input("a", (2, 3), np.float32)
    cond.add_input("b", (2, 3), np.float32)
    flag = cond.add_tensor("flag", (), np.bool_)
    cond.add_op("LESS", [ci, cond.add_constant("limit", np.int32(limit))], [flag])
    cond.add_output(flag)
    body = b.add_subgraph("body")
    bi = body.add_input("i", (), np.int32)
    ba = body.add_input("a", (2, 3), np.float32)
    bb = body.add_input("b", (2, 3), np.float32)
    i1 = body.add_tensor("i1", (), np.int32)
    body.add_op("ADD", [bi, body.add_constant("one", np.int32(1))], [i1])
    for t in [i1, *body_fn(body, ba, bb)]:
        body.add_output(t)
    b.add_op("WHILE", [i0, a0, b0], outs, cond_subgraph_index=1, body_subgraph_index=2)
    for t in outs:
        b.add_output(t)
    return b.to_bytes()


def _swap(body, a, b):
    return [b, a]                        # outputs are the inputs, exchanged


def _pass_a_scale_b(body, a, b):
    y = body.add_tensor("b2", (2, 3), np.float32)
    body.add_op("MUL", [b, body.add_constant("k", np.float32(1.5))], [y])
    return [a, y]                        # a passes through unchanged


def _chain(body, a, b):
    # a's buffer is dead after the first op, so the planner may put later tensors on it
    t1 = body.add_tensor("t1", (2, 3), np.float32)
    body.add_op("ADD", [a, b], [t1])
    t2 = body.add_tensor("t2", (2, 3), np.float32)
    body.add_op("TANH", [t1], [t2])
    t3 = body.add_tensor("t3", (2, 3), np.float32)
    body.add_op("SUB", [t2, b], [t3])
    return [t3, t2]


def _inputs(seed):
    rng = np.random.default_rng(seed)
    return [np.int32(0), rng.normal(size=(2, 3)).astype(np.float32),
            rng.normal(size=(2, 3)).astype(np.float32)]


@pytest.mark.parametrize("body_fn", [_pass_a_scale_b, _chain], ids=lambda f: f.__name__)
@pytest.mark.parametrize("limit", [0, 1, 4, 7])
def test_while_loop_states(body_fn, limit):
    check_against_litert(_counter_loop(limit, body_fn), _inputs(limit))


@pytest.mark.parametrize("limit", [0, 1, 4, 7])
def test_while_body_that_swaps_its_inputs(limit):
    """The body returns its inputs exchanged: after n iterations a and b are swapped n
    times. (LiteRT 2.3.0 copies the body outputs into the inputs one by one, so its a
    and b both end up holding b: see tests/runtime/test_better_than_litert.py.)"""
    xs = _inputs(limit)
    i, a, b = run_edgelite(_counter_loop(limit, _swap), xs)
    assert int(i) == limit
    want_a, want_b = (xs[2], xs[1]) if limit % 2 else (xs[1], xs[2])
    np.testing.assert_array_equal(a, want_a)
    np.testing.assert_array_equal(b, want_b)
