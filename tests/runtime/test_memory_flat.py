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


def _interpreter(name: str, tier: str, monkeypatch) -> edgelite.Interpreter:
    from edgelite.kernels import conv
    if tier == "compiled":
        monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)   # every node that can
    saved = compiled.ENABLED
    compiled.ENABLED = saved and tier == "compiled"
    try:
        it = edgelite.Interpreter(model_path=str(model_path(name)))
        it.allocate_tensors()
    finally:
        compiled.ENABLED = saved
    for d, x in zip(it.get_input_details(), inputs(name)):
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
