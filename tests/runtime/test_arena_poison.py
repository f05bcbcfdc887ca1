"""No kernel reads arena memory that nothing wrote.

The arena is not zeroed as a whole (only the subgraph's inputs and outputs are, which a
user may read before anything writes them); memory a kernel reads before writing would
give outputs that depend on what the allocator handed out. A zeroed arena would hide
such a kernel (a zero border, a zero accumulator) until another node's data sat there. Here every fixture runs on both tiers with its arena filled with a poison
pattern first (0xFF bytes: NaN floats, -1 integers; 0x7F: huge finite floats), and
its outputs must equal those of a run on the zeroed arena, invoke by invoke (the
stateful fixtures carry state from one invoke to the next). The "shared" cases move
the small nodes' own padded and column buffers into the arena's scratch, as on large
models (a padded input whose border is not rewritten at every invoke fails there)."""
from __future__ import annotations

import numpy as np
import pytest
from fixture_util import NAMES, inputs

from edgelite.kernels import conv
from edgelite.runtime import arena
from tests.runtime.test_memory_flat import TIERS, _interpreter


@pytest.mark.parametrize("private", [True, False], ids=["private", "shared"])
@pytest.mark.parametrize("fill", [0xFF, 0x7F])
@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("name", NAMES)
def test_outputs_do_not_depend_on_the_arena_contents(name, tier, fill, private, monkeypatch):
    if not private:
        # small padded inputs and column buffers are a node's own (borders written
        # once); with these at 0 every node keeps them in the arena's scratch instead,
        # as MobileNetV2-sized nodes do
        for limit in ("_PRIVATE_PAD_BYTES", "_PRIVATE_PLANAR_BYTES", "_PRIVATE_COL_BYTES"):
            monkeypatch.setattr(conv, limit, 0)
    xs = inputs(name)
    clean = _interpreter(name, tier, monkeypatch)
    details = clean.get_input_details()
    if len(xs) != len(details):      # (a fixture whose references are per signature)
        rng = np.random.default_rng(0)
        xs = [rng.standard_normal(d["shape"]).astype(d["dtype"]) for d in details]
        clean = _interpreter(name, tier, monkeypatch, xs)
    want = []
    for _ in range(2):
        clean.invoke()
        want.append([clean.get_tensor(d["index"]).copy() for d in clean.get_output_details()])

    made_as = arena.Arena.__init__
    made = []

    def poisoned(self, size, zero=True):
        made_as(self, size, zero)
        self._raw.fill(fill)
        made.append(size)
    monkeypatch.setattr(arena.Arena, "__init__", poisoned)
    it = _interpreter(name, tier, monkeypatch, xs)
    assert made, "no arena was poisoned"
    for step in range(2):
        it.invoke()
        for d, w in zip(it.get_output_details(), want[step]):
            np.testing.assert_array_equal(it.get_tensor(d["index"]), w,
                                          err_msg=f"{name}/{tier}: invoke {step}, {d['name']}")


@pytest.mark.parametrize("name", ["cnn_int8", "transformer_float32", "multi_signature"])
def test_inputs_and_outputs_read_as_zeros_before_anything_writes_them(name, monkeypatch):
    """An input never set and an output before the first invoke read as zeros, however
    dirty the memory the arena got."""
    from fixture_util import model_path

    import edgelite
    made_as = arena.Arena.__init__

    def poisoned(self, size, zero=True):
        made_as(self, size, zero)
        self._raw.fill(0xFF)
    monkeypatch.setattr(arena.Arena, "__init__", poisoned)
    it = edgelite.Interpreter(model_path=str(model_path(name)))
    it.allocate_tensors()
    for d in it.get_input_details() + it.get_output_details():
        assert not it.get_tensor(d["index"]).any(), d["name"]
