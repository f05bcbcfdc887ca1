"""RESHAPE / SQUEEZE / EXPAND_DIMS outputs are views of their input's arena bytes
(no copy at invoke); the input lives as long as any view of it."""
from __future__ import annotations

import numpy as np
from oracle import check_against_litert

import edgelite
from edgelite.format.builder import ModelBuilder


def _chain_model() -> bytes:
    """a = x + 1 -> r = RESHAPE(a); meanwhile b = x * 2, c = b + b (both may reuse a's
    bytes if a's lifetime ended at the reshape); out = RESHAPE(c) + r."""
    b = ModelBuilder("alias")
    x = b.add_input("x", (2, 6), np.float32)
    one = b.add_constant("one", np.float32(1))
    two = b.add_constant("two", np.float32(2))
    a = b.add_tensor("a", (2, 6), np.float32)
    b.add_op("ADD", [x, one], [a])
    r = b.add_tensor("r", (3, 4), np.float32)
    b.add_op("RESHAPE", [a, b.add_constant("s34", np.array([3, 4], np.int32))], [r])
    t = b.add_tensor("t", (2, 6), np.float32)
    b.add_op("MUL", [x, two], [t])
    c = b.add_tensor("c", (2, 6), np.float32)
    b.add_op("ADD", [t, t], [c])
    e = b.add_tensor("e", (1, 2, 6), np.float32)
    b.add_op("EXPAND_DIMS", [c, b.add_constant("ax", np.array([0], np.int32))], [e])
    sq = b.add_tensor("sq", (2, 6), np.float32)
    b.add_op("SQUEEZE", [e], [sq], squeeze_dims=[0])
    r2 = b.add_tensor("r2", (3, 4), np.float32)
    b.add_op("RESHAPE", [sq, b.add_constant("s34b", np.array([3, 4], np.int32))], [r2])
    out = b.add_tensor("out", (3, 4), np.float32)
    b.add_op("ADD", [r2, r], [out])
    b.add_output(out)
    b.add_output(r)            # a view as a graph output too
    return b.to_bytes()


def test_views_match_litert_and_copy_nothing():
    data = _chain_model()
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    check_against_litert(data, [x])
    it = edgelite.Interpreter(model_content=data)
    it.allocate_tensors()
    ex = it._main
    assert len(ex._alias) == 4
    for t, root in ex._alias.items():
        assert np.shares_memory(ex.arrays[t], ex.arrays[root])
    for k in range(3):                      # new inputs flow through the views
        xs = x + k
        it.set_tensor(it.get_input_details()[0]["index"], xs)
        it.invoke()
        out, r = (it.get_tensor(d["index"]) for d in it.get_output_details())
        np.testing.assert_array_equal(r, (xs + 1).reshape(3, 4))
        np.testing.assert_array_equal(out, (4 * xs).reshape(3, 4) + (xs + 1).reshape(3, 4))


def test_views_with_preserved_intermediates():
    data = _chain_model()
    it = edgelite.Interpreter(model_content=data, experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(2, 6)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    by_name = {d["name"]: d["index"] for d in it.get_tensor_details()}
    np.testing.assert_array_equal(it.get_tensor(by_name["a"]), x + 1)
    np.testing.assert_array_equal(it.get_tensor(by_name["c"]), 4 * x)
    np.testing.assert_array_equal(it.get_tensor(by_name["sq"]), 4 * x)


def test_reshape_of_a_graph_input_to_a_graph_output():
    b = ModelBuilder()
    x = b.add_input("x", (4, 3), np.float32)
    y = b.add_tensor("y", (2, 6), np.float32)
    b.add_op("RESHAPE", [x], [y], new_shape=[2, 6])
    b.add_output(y)
    data = b.to_bytes()
    x0 = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    check_against_litert(data, [x0])
    it = edgelite.Interpreter(model_content=data)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x0)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    np.testing.assert_array_equal(got, x0.reshape(2, 6))
    got[...] = 0                             # get_tensor is a copy: the input is intact
    np.testing.assert_array_equal(it.get_tensor(it.get_input_details()[0]["index"]), x0)


def test_resize_replans_the_views():
    b = ModelBuilder()
    x = b.add_input("x", (2, 3), np.float32, shape_signature=(-1, 3))
    a = b.add_tensor("a", (2, 3), np.float32, shape_signature=(-1, 3))
    b.add_op("RELU", [x], [a])
    y = b.add_tensor("y", (6,), np.float32, shape_signature=(-1,))
    b.add_op("RESHAPE", [a, b.add_constant("s", np.array([-1], np.int32))], [y])
    b.add_output(y)
    it = edgelite.Interpreter(model_content=b.to_bytes())
    for n in (2, 5, 1):
        it.resize_tensor_input(0, [n, 3])
        it.allocate_tensors()
        x0 = np.arange(3 * n, dtype=np.float32).reshape(n, 3) - 4
        it.set_tensor(0, x0)
        it.invoke()
        np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]),
                                      np.maximum(x0, 0).reshape(-1))
