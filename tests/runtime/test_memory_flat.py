"""Memory stays flat over many invokes, for every fixture and both kernel tiers.

Kernels keep caches (bound views, tables, scratch); a cache keyed by something that
changes per invoke would grow without bound. Python-level allocations are traced
(tracemalloc) after a warm-up; the process's resident size is checked too, which
also sees numpy and numba allocations."""
from __future__ import annotations

import resource
import tracemalloc

import numpy as np
import pytest
from fixture_util import NAMES, inputs, model_path

import edgelite
from edgelite.kernels import compiled

TIERS = ["numpy"] + (["compiled"] if compiled.ENABLED else [])


def allocated_on(path, tier: str, monkeypatch, **kw) -> edgelite.Interpreter:
    """An Interpreter of the model file at path (keyword arguments its own), allocated
    on this tier (compiled: on every node that can take it)."""
    from edgelite.kernels import conv
    if tier == "compiled":
        monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)   # every node that can
    saved = compiled.ENABLED
    compiled.ENABLED = saved and tier == "compiled"
    try:
        it = edgelite.Interpreter(model_path=str(path), **kw)
        it.allocate_tensors()
    finally:
        compiled.ENABLED = saved
    return it


def _interpreter(name: str, tier: str, monkeypatch, xs=None) -> edgelite.Interpreter:
    it = allocated_on(model_path(name), tier, monkeypatch)
    for d, x in zip(it.get_input_details(), inputs(name) if xs is None else xs):
        it.set_tensor(d["index"], x)
    return it


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("name", NAMES)
def test_memory_flat_over_invokes(name, tier, monkeypatch):
    it = _interpreter(name, tier, monkeypatch)
    for _ in range(50):
        it.invoke()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(1000):
        it.invoke()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert growth < 16384, f"{name}/{tier}: Python allocations grew {growth} B in 1000 invokes"
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    assert grown_kb < 4096, f"{name}/{tier}: peak resident size grew {grown_kb} KB"
    out = it.get_tensor(it.get_output_details()[0]["index"])
    assert np.all(np.isfinite(out)) if out.dtype.kind == "f" else out.size


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("name", NAMES)
def test_invokes_raise_no_warnings(name, tier, monkeypatch):
    """No kernel warns on invoke (a per-call warning, such as numpy's deprecation of a
    positional out= for maximum, costs time on every invoke, and under pytest's
    warning capture it also grew memory by ~0.7 KB an invoke)."""
    import warnings
    it = _interpreter(name, tier, monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            it.invoke()


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("name", NAMES)
def test_dropped_interpreter_freed_at_once(name, tier, monkeypatch):
    """Dropping the last reference to an allocated, invoked interpreter frees it and its
    arrays right away, as LiteRT's destructor does: nothing of it is left for the cycle
    collector (which runs only now and then, and would hold the weights' prepared copies
    and the arena, tens of MB for MobileNetV2, for that long). A kernel's invoke bound to
    itself, closures over it and contexts naming the executor are cycles; the
    interpreter's finalizer breaks them."""
    import gc
    import weakref
    xs = inputs(name)       # (its literal_eval leaves cycles of its own: made before)
    _interpreter(name, tier, monkeypatch, xs).invoke()   # (first-use caches of numba)
    gc.collect()
    gc.disable()
    try:
        it = _interpreter(name, tier, monkeypatch, xs)
        it.invoke()
        ex = it._main
        arena = weakref.ref(ex.arena)
        kernels = [weakref.ref(k) for k in ex.kernels if k is not None]
        gone = weakref.ref(it)
        del it, ex
        assert gone() is None, f"{name}/{tier}: the interpreter outlived its last reference"
        assert arena() is None, f"{name}/{tier}: the arena outlived the interpreter"
        assert all(k() is None for k in kernels), f"{name}/{tier}: a kernel outlived it"
        gc.set_debug(gc.DEBUG_SAVEALL)
        found = gc.collect()
        left = sorted({type(o).__qualname__ for o in gc.garbage})
        assert found == 0, f"{name}/{tier}: {found} objects left for the cycle collector: {left}"
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_dropped_interpreter_frees_custom_op_data_at_once():
    """A custom op's free() runs when its interpreter is dropped, without a gc.collect()."""
    from edgelite.format.builder import ModelBuilder
    from edgelite.kernels.registry import custom_op
    freed = []
    op = custom_op("Twice", init=lambda opts: {"n": 2},
                   prepare=lambda ctx, data: ctx.set_output(0, ctx.input(0).shape),
                   invoke=lambda ictx, data: np.multiply(ictx.inputs[0], data["n"],
                                                         out=ictx.outputs[0]),
                   free=freed.append)
    b = ModelBuilder()
    x = b.add_input("x", (3,), np.float32)
    y = b.add_tensor("y", (3,), np.float32)
    b.add_custom_op("Twice", [x], [y])
    b.add_output(y)
    import gc
    gc.disable()
    try:
        it = edgelite.Interpreter(model_content=b.to_bytes(), custom_ops={"Twice": op})
        it.allocate_tensors()
        it.set_tensor(0, np.array([1, 2, 3], np.float32))
        it.invoke()
        assert it.get_tensor(1).tolist() == [2, 4, 6]
        del it
        assert freed == [{"n": 2}]
    finally:
        gc.enable()
